/**
 * Aggregating subqueries and CTEs in a continuous view, planned as hidden views the view owns:
 *
 *   CREATE MATERIALIZED VIEW level_spread AS
 *     WITH per_player AS (SELECT player_id, max(level) AS lvl FROM game_events GROUP BY player_id)
 *     SELECT lvl, count(*) FROM per_player GROUP BY lvl
 *
 * The rows of `per_player` change as events arrive (a player's max moves up), so the subquery cannot be
 * merged into the outer query per event (derived-tables.ts merges only subqueries that map an event to at
 * most one row). It becomes a view of its own, `level_spread$1`, and the outer query reads that view's
 * changelog as any view over a view does: a changed row comes as the old row withdrawn and the new one added.
 *
 * A hidden view is a full view with its own state. It is created, persisted (in the owner's catalog record)
 * and replayed with its owner, dropped with it, and refused to DROP and ALTER on its own. Nested aggregating
 * subqueries become one hidden view each, inner ones first (`$1` is read by `$2`). One in a JOIN is refused:
 * a lookup sees the rows as of each event, which is not what the same query means in PostgreSQL.
 * A view that groups or aggregates the rows of MATCH_RECOGNIZE gets the pattern as a hidden view the same way.
 */
import type * as ast from '../parser/ast.ts'
import { SluiceError, SqlState, planError, unsupported } from '../common/errors.ts'
import { isAggregateName } from '../expr/aggregates.ts'
import type { Catalog, ViewDef } from './catalog.ts'
import { planView } from './view-plan.ts'

/** A hidden view's name and catalog id (its state namespace). */
export interface HiddenSlot {
  readonly name: string
  readonly id: number
}

export interface HiddenView {
  readonly name: string
  readonly stmt: ast.CreateView
  /** Put before the text of `stmt.span` in the hidden view's SQL (a MATCH_RECOGNIZE is a FROM item, not a query). */
  readonly prefix?: string
}

/**
 * `stmt` with every aggregating subquery in FROM (at any depth) replaced by a reference to a hidden view,
 * and those views' statements, each after the hidden views it reads. `nextName` names them in that order.
 */
export function extractHiddenViews(stmt: ast.CreateView, nextName: () => string): { outer: ast.CreateView; hidden: HiddenView[] } {
  const hidden: HiddenView[] = []
  const rewriteQuery = (q: ast.Query): ast.Query => {
    if (q.kind !== 'select') return q
    const only = q.from.length === 1 ? q.from[0]! : null
    if (only?.kind === 'match_recognize' && aggregates(q, false)) return { ...q, from: [patternAsHidden(only)] }
    const from = q.from.map((f) => rewriteItem(f))
    return from.every((f, i) => f === q.from[i]) ? q : { ...q, from }
  }
  const rewriteItem = (item: ast.FromItem, joined = false): ast.FromItem => {
    switch (item.kind) {
      case 'subquery_ref': {
        if (item.lateral === true || item.query.kind !== 'select') return item
        const query = rewriteQuery(item.query) as ast.Select
        if (!aggregates(query)) return query === item.query ? item : { ...item, query }
        if (joined) {
          throw unsupported(
            'an aggregating subquery cannot be joined in a continuous view: each event would meet its rows as they were at that event, not the final rows the same query joins in PostgreSQL',
            item.span,
            'Create the subquery as a materialized view of its own and JOIN that view (each event then looks up its row as of the event), or aggregate in the outer query.',
          )
        }
        const name = nextName()
        const body = distinctAsGroups(withColumnAliases(query, item.columnAliases))
        hidden.push({ name, stmt: { kind: 'create_view', name: { parts: [name], span: item.span }, ifNotExists: false, query: body, queryText: '', options: [], span: item.query.span } })
        // Unaliased, the outer query names the columns unqualified, as it did the subquery's.
        return { kind: 'table_ref', name: { parts: [name], span: item.span }, ...(item.alias === undefined ? {} : { alias: item.alias }), span: item.span }
      }
      case 'window_tvf': {
        const input = rewriteItem(item.input)
        return input === item.input ? item : { ...item, input }
      }
      case 'join': {
        const left = rewriteItem(item.left, true)
        const right = rewriteItem(item.right, true)
        return left === item.left && right === item.right ? item : { ...item, left, right }
      }
      default:
        return item
    }
  }
  /**
   * Grouping or aggregating the rows of MATCH_RECOGNIZE: the pattern is a hidden view of
   * its own, `SELECT * FROM s MATCH_RECOGNIZE (...)`, whose rows are final as they appear; the query reads
   * them as a view over a view, under the name the pattern's columns had (its alias, else the stream's).
   */
  const patternAsHidden = (item: ast.MatchRecognizeRef): ast.TableRef => {
    const name = nextName()
    const star: ast.SelectItem = { expr: { kind: 'star', table: [], span: item.span }, span: item.span }
    const query: ast.Select = { kind: 'select', distinct: false, targets: [star], from: [item], groupBy: [], orderBy: [], span: item.span }
    hidden.push({ name, stmt: { kind: 'create_view', name: { parts: [name], span: item.span }, ifNotExists: false, query, queryText: '', options: [], span: item.span }, prefix: 'SELECT * FROM ' })
    const alias = item.alias ?? item.input.alias ?? item.input.name.parts[item.input.name.parts.length - 1]!
    return { kind: 'table_ref', name: { parts: [name], span: item.span }, alias, span: item.span }
  }
  const query = rewriteQuery(stmt.query)
  return { outer: query === stmt.query ? stmt : { ...stmt, query }, hidden }
}

/**
 * The view `stmt` defines, planned with its hidden views (in `plan.hidden`, each with `owner` set). The
 * hidden views are in `catalog` only while the statements that read them are planned: a failure to plan any
 * of them leaves the catalog as it was. `ids.hidden` gives each hidden view its name and id, in order.
 */
export function planViewWithHidden(stmt: ast.CreateView, catalog: Catalog, sql: string, ids: { readonly outer: () => number; readonly hidden: () => HiddenSlot }): ViewDef {
  const name = stmt.name.parts[stmt.name.parts.length - 1]!
  const slots: HiddenSlot[] = []
  const { outer, hidden } = extractHiddenViews(stmt, () => {
    const slot = ids.hidden()
    slots.push(slot)
    return slot.name
  })
  const defs: ViewDef[] = []
  try {
    hidden.forEach((h, i) => {
      const plan = planView(h.stmt, catalog)
      const emit = h.stmt.query.kind === 'select' && h.stmt.query.emit === 'on_window_close' ? ' EMIT ON WINDOW CLOSE' : ''
      const text = `CREATE MATERIALIZED VIEW "${h.name}" AS ${h.prefix ?? ''}${sql.slice(h.stmt.span.start, h.stmt.span.end)}${emit}`
      const def: ViewDef = { kind: 'view', id: slots[i]!.id, name: h.name, columns: plan.columns, plan, sql: text, owner: name }
      catalog.add(def)
      defs.push(def)
    })
    const plan = planView(outer, catalog)
    return { kind: 'view', id: ids.outer(), name, columns: plan.columns, plan: defs.length === 0 ? plan : { ...plan, hidden: defs }, sql }
  } catch (err) {
    throw err instanceof SluiceError ? asSubqueryError(err, defs) : err
  } finally {
    for (const d of defs) catalog.remove(d.name)
  }
}

/** The names a new view's hidden views get: `name$1`, `name$2`, ... skipping names already taken. */
export function hiddenNames(name: string, catalog: Catalog, allocateId: () => number): () => HiddenSlot {
  let n = 0
  return () => {
    let candidate: string
    do candidate = `${name}$${++n}`
    while (catalog.has(candidate))
    return { name: candidate, id: allocateId() }
  }
}

/**
 * A subquery whose rows change as events arrive: it groups, aggregates, is DISTINCT or has window functions
 * (without `windows`, only grouping and aggregates count).
 */
function aggregates(q: ast.Select, windows = true): boolean {
  if (q.groupBy.length > 0 || q.having !== undefined) return true
  if (windows && (q.distinct || q.distinctOn !== undefined)) return true
  let found = false
  const visit = (x: unknown): void => {
    if (found || x === null || typeof x !== 'object') return
    if (Array.isArray(x)) return x.forEach(visit)
    const n = x as { kind?: unknown; name?: unknown; over?: unknown }
    if (n.kind === 'subquery') return
    if (n.kind === 'func_call' && ((windows && n.over !== undefined) || (n.over === undefined && typeof n.name === 'string' && isAggregateName(n.name)))) {
      found = true
      return
    }
    for (const [k, v] of Object.entries(x)) if (k !== 'span') visit(v)
  }
  visit(q.targets)
  return found
}

/**
 * `SELECT DISTINCT a, b FROM s` as `SELECT a, b FROM s GROUP BY a, b`: the same rows, as a view of groups
 * (a group appears with its first event and never changes). With aggregates, `*` or DISTINCT ON it stays
 * as written (and is refused when planned).
 */
function distinctAsGroups(q: ast.Select): ast.Select {
  if (!q.distinct || q.distinctOn !== undefined || q.groupBy.length > 0 || q.having !== undefined || aggregates({ ...q, distinct: false })) return q
  if (q.targets.some((t) => t.expr.kind === 'star')) return q
  return { ...q, distinct: false, groupBy: q.targets.map((t) => t.expr) }
}

/** `(SELECT a, b ...) AS s(x, y)`: the hidden view's columns are x and y. */
function withColumnAliases(q: ast.Select, aliases: readonly string[] | undefined): ast.Select {
  if (aliases === undefined || aliases.length === 0) return q
  if (aliases.length > q.targets.length && !q.targets.some((t) => t.expr.kind === 'star')) {
    throw planError(SqlState.invalidColumnReference, `subquery has ${q.targets.length} columns available but ${aliases.length} columns specified`, q.span)
  }
  const targets = q.targets.map((t, i) => {
    const alias = aliases[i]
    if (alias === undefined) return t
    if (t.expr.kind === 'star') throw unsupported('column names after an aggregating subquery or CTE that selects * are not supported', t.span, 'List the columns in the subquery.')
    return { ...t, alias }
  })
  return { ...q, targets }
}

/**
 * An error about a hidden view as the user wrote it: about the subquery (the views-over-views checks name
 * the view read, which here has a name the user never gave), its advice to query that view left out.
 */
function asSubqueryError(err: SluiceError, hidden: readonly ViewDef[]): SluiceError {
  const names = hidden.map((h) => h.name)
  if (!names.some((n) => err.message.includes(`"${n}"`) || err.hint?.includes(`"${n}"`))) return err
  const reword = (text: string) => {
    let out = text
    for (const n of names) {
      out = out.replace(new RegExp(`Query "${escape(n)}" [^.]*\\. ?`, 'g'), '')
      out = out.replaceAll(`materialized view "${n}"`, 'the aggregating subquery').replaceAll(`"${n}"`, 'the subquery')
    }
    return out.replace(/^Or give/, 'Give')
  }
  return new SluiceError(err.category, err.sqlstate, reword(err.message), { span: err.span, detail: err.detail, hint: err.hint === undefined ? undefined : reword(err.hint), cause: err })
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
