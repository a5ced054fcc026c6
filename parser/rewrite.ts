/**
 * Position-preserving rewrites of statement text before libpg-query sees it, for the few places where
 * Sluice's dialect differs from what PostgreSQL 18's grammar accepts. Every rewrite replaces ASCII text
 * with ASCII text of the same length, so libpg-query's locations stay valid for the original input.
 *
 * - `INTERVAL '30' MINUTES`: PostgreSQL reads the plural unit as a column alias (or a syntax error);
 *   it becomes `INTERVAL '30' MINUTE ` (singular, padded), which means the same.
 * - `last_value(x) IGNORE NULLS OVER (...)` and `last_value(x IGNORE NULLS)`: PostgreSQL 18 has no null
 *   treatment clause. The words are blanked and the call is remembered by where its name starts, so the
 *   translation can set `ignoreNulls`. `RESPECT NULLS` (the default) is blanked and forgotten.
 * - A trailing `EMIT ON WINDOW CLOSE` / `EMIT ON UPDATE` (allowed after a materialized view's query) is
 *   blanked and returned; so is one that ends a subquery or CTE of the view (before its closing parenthesis),
 *   keyed by where that subquery's SELECT starts.
 * - `TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), ...))` (Flink's table-valued form of the window functions): `TABLE`
 *   and the outer parentheses are blanked, leaving the direct form `TUMBLE(s, DESCRIPTOR(ts), ...)`.
 * - `stream MATCH_RECOGNIZE (...) [AS] alias`: PostgreSQL has no row pattern recognition. The clause and
 *   its alias are parsed by parser/match-recognize/parse.ts, blanked, and returned keyed by where the table name
 *   before them ends, so that the translation of that table reference can take them back.
 */
import type { Span } from '../common/errors.ts'
import { isPunct, isWord, tokenSpan, type Token } from './lexer.ts'
import type { MatchRecognize } from './match-recognize/ast.ts'
import { parseMatchRecognize } from './match-recognize/parse.ts'
import { TokenCursor } from './token-cursor.ts'

export interface Rewritten {
  /** The text with the rewrites applied; same length as the original. */
  readonly text: string
  /** Function-name start offsets (into the whole input) -> the span of the `IGNORE NULLS` that followed. */
  readonly ignoreNulls: Map<number, Span>
  readonly emit?: 'on_update' | 'on_window_close'
  /** EMIT clauses ending subqueries of a view, keyed by the input offset of each subquery's SELECT. */
  readonly innerEmits?: ReadonlyMap<number, 'on_update' | 'on_window_close'>
  /** MATCH_RECOGNIZE clauses, keyed by the input offset where the table name before each one ends. */
  readonly matchRecognize: Map<number, MatchRecognize>
}

interface Edit {
  readonly start: number
  readonly end: number
  readonly text: string
}

const SINGULAR_UNITS: Record<string, string> = {
  years: 'year',
  months: 'month',
  days: 'day',
  hours: 'hour',
  minutes: 'minute',
  seconds: 'second',
}

/**
 * Rewrites `sql.slice(start, end)`, whose tokens are `tokens` (offsets into `sql`). With `allowEmit`, a
 * trailing EMIT clause is taken out and reported.
 */
export function rewriteForPostgres(sql: string, tokens: readonly Token[], start: number, end: number, allowEmit = false): Rewritten {
  const edits: Edit[] = []
  const ignoreNulls = new Map<number, Span>()
  pluralIntervalUnits(tokens, edits)
  nullTreatments(tokens, edits, ignoreNulls)
  const emit = allowEmit ? trailingEmit(tokens, edits) : undefined
  const innerEmits = allowEmit ? subqueryEmits(tokens, edits) : new Map<number, 'on_update' | 'on_window_close'>()
  windowTableForms(tokens, edits)
  const matchRecognize = matchRecognizeClauses(sql, tokens, edits)
  let text = sql.slice(start, end)
  for (const e of edits.sort((a, b) => b.start - a.start)) {
    text = text.slice(0, e.start - start) + e.text + text.slice(e.end - start)
  }
  const inner = innerEmits.size === 0 ? {} : { innerEmits }
  return emit === undefined ? { text, ignoreNulls, matchRecognize, ...inner } : { text, ignoreNulls, emit, matchRecognize, ...inner }
}

/** `MATCH_RECOGNIZE (` after a table name: parsed with its alias, then blanked. */
function matchRecognizeClauses(sql: string, tokens: readonly Token[], edits: Edit[]): Map<number, MatchRecognize> {
  const found = new Map<number, MatchRecognize>()
  for (let i = 1; i + 1 < tokens.length; i++) {
    if (!isWord(tokens[i], 'match_recognize') || !isPunct(tokens[i + 1], '(')) continue
    const clause = parseMatchRecognize(new TokenCursor(sql, tokens.slice(i)))
    // Edits must not overlap: earlier rewrites inside the clause (interval units) give way to this one.
    const from = tokens[i]!.start
    const to = clause.span.end
    for (let k = edits.length - 1; k >= 0; k--) if (edits[k]!.start < to && edits[k]!.end > from) edits.splice(k, 1)
    edits.push({ start: from, end: to, text: sql.slice(from, to).replace(/[^\n]/g, ' ') })
    found.set(tokens[i - 1]!.end, clause)
    while (i + 1 < tokens.length && tokens[i + 1]!.start < to) i++
  }
  return found
}

const blank = (t: Token): Edit => ({ start: t.start, end: t.end, text: ' '.repeat(t.end - t.start) })

const WINDOW_TVFS = new Set(['tumble', 'hop', 'session'])

/**
 * The table-valued form of the window functions, as Flink writes them: `TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts),
 * ...))`. The outer `TABLE(` and its `)` and the `TABLE` before the input's name are blanked, leaving the
 * direct form `TUMBLE(s, DESCRIPTOR(ts), ...)`.
 */
function windowTableForms(tokens: readonly Token[], edits: Edit[]): void {
  for (let i = 0; i + 1 < tokens.length; i++) {
    const name = tokens[i]!
    if (name.kind !== 'word' || !WINDOW_TVFS.has(name.value) || !isPunct(tokens[i + 1], '(')) continue
    if (isWord(tokens[i + 2], 'table') && (tokens[i + 3]?.kind === 'word' || tokens[i + 3]?.kind === 'quoted_ident')) edits.push(blank(tokens[i + 2]!))
    if (!isWord(tokens[i - 2], 'table') || !isPunct(tokens[i - 1], '(')) continue
    const open = i - 1
    const close = matchingClose(tokens, open)
    if (close === undefined) continue
    edits.push(blank(tokens[i - 2]!), blank(tokens[open]!), blank(tokens[close]!))
  }
}

/** Index of the `)` matching the `(` at `open`. */
function matchingClose(tokens: readonly Token[], open: number): number | undefined {
  let depth = 0
  for (let k = open; k < tokens.length; k++) {
    if (isPunct(tokens[k], '(')) depth++
    else if (isPunct(tokens[k], ')') && --depth === 0) return k
  }
  return undefined
}

/** `INTERVAL 'n' UNITS [TO UNITS]` -> singular units padded with a space. */
function pluralIntervalUnits(tokens: readonly Token[], edits: Edit[]): void {
  for (let i = 0; i + 2 < tokens.length; i++) {
    if (!isWord(tokens[i], 'interval') || tokens[i + 1]!.kind !== 'string') continue
    for (let k = i + 2; k < tokens.length; k += 2) {
      const unit = tokens[k]!
      const singular = unit.kind === 'word' ? SINGULAR_UNITS[unit.value] : undefined
      if (singular !== undefined) edits.push({ start: unit.start, end: unit.end, text: singular.padEnd(unit.end - unit.start) })
      if (!isWord(tokens[k + 1], 'to')) break
    }
  }
}

/** `IGNORE NULLS` / `RESPECT NULLS` after a call's closing parenthesis or before it. */
function nullTreatments(tokens: readonly Token[], edits: Edit[], ignoreNulls: Map<number, Span>): void {
  for (let i = 0; i + 1 < tokens.length; i++) {
    const word = tokens[i]!
    if (!(isWord(word, 'ignore') || isWord(word, 'respect')) || !isWord(tokens[i + 1], 'nulls')) continue
    const open = isPunct(tokens[i - 1], ')') ? matchingOpen(tokens, i - 1) : isPunct(tokens[i + 2], ')') ? enclosingOpen(tokens, i) : undefined
    const nameStart = open === undefined ? undefined : functionNameStart(tokens, open)
    if (nameStart === undefined) continue
    edits.push(blank(word), blank(tokens[i + 1]!))
    if (word.value === 'ignore') ignoreNulls.set(nameStart, { start: word.start, end: tokens[i + 1]!.end })
  }
}

/** Index of the `(` matching the `)` at `close`. */
function matchingOpen(tokens: readonly Token[], close: number): number | undefined {
  let depth = 0
  for (let k = close; k >= 0; k--) {
    if (isPunct(tokens[k], ')')) depth++
    else if (isPunct(tokens[k], '(') && --depth === 0) return k
  }
  return undefined
}

/** Index of the innermost `(` still open at `at`. */
function enclosingOpen(tokens: readonly Token[], at: number): number | undefined {
  let depth = 0
  for (let k = at - 1; k >= 0; k--) {
    if (isPunct(tokens[k], ')')) depth++
    else if (isPunct(tokens[k], '(') && depth-- === 0) return k
  }
  return undefined
}

/** Where the (possibly qualified) function name before the `(` at `open` starts. */
function functionNameStart(tokens: readonly Token[], open: number): number | undefined {
  const isName = (t: Token | undefined): boolean => t !== undefined && (t.kind === 'word' || t.kind === 'quoted_ident')
  let k = open - 1
  if (!isName(tokens[k])) return undefined
  while (isPunct(tokens[k - 1], '.') && isName(tokens[k - 2])) k -= 2
  return tokens[k]!.start
}

/** `EMIT ON WINDOW CLOSE` or `EMIT ON UPDATE` as the last tokens. */
function trailingEmit(tokens: readonly Token[], edits: Edit[]): Rewritten['emit'] {
  const n = tokens.length
  const words = (...ws: string[]): boolean => ws.every((w, k) => isWord(tokens[n - ws.length + k], w))
  const clause = words('emit', 'on', 'window', 'close') ? 4 : words('emit', 'on', 'update') ? 3 : 0
  if (clause === 0) return undefined
  const first = tokenSpan(tokens[n - clause]!)
  edits.push({ start: first.start, end: tokens[n - 1]!.end, text: ' '.repeat(tokens[n - 1]!.end - first.start) })
  return clause === 4 ? 'on_window_close' : 'on_update'
}

/** `(SELECT ... EMIT ON WINDOW CLOSE)`: each EMIT clause right before the `)` closing a parenthesized SELECT. */
function subqueryEmits(tokens: readonly Token[], edits: Edit[]): Map<number, 'on_update' | 'on_window_close'> {
  const out = new Map<number, 'on_update' | 'on_window_close'>()
  for (let i = 0; i < tokens.length; i++) {
    if (!isWord(tokens[i], 'emit') || !isWord(tokens[i + 1], 'on')) continue
    const clause = isWord(tokens[i + 2], 'window') && isWord(tokens[i + 3], 'close') ? 4 : isWord(tokens[i + 2], 'update') ? 3 : 0
    if (clause === 0 || !isPunct(tokens[i + clause], ')')) continue
    let open = i - 1
    for (let depth = 0; open >= 0; open--) {
      if (isPunct(tokens[open], ')')) depth++
      else if (isPunct(tokens[open], '(') && depth-- === 0) break
    }
    const select = tokens[open + 1]
    if (open < 0 || select === undefined || !isWord(select, 'select')) continue
    const first = tokenSpan(tokens[i]!)
    const last = tokens[i + clause - 1]!
    edits.push({ start: first.start, end: last.end, text: ' '.repeat(last.end - first.start) })
    out.set(tokenSpan(select).start, clause === 4 ? 'on_window_close' : 'on_update')
  }
  return out
}
