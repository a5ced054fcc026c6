/** Name resolution: which input column a (possibly qualified) name refers to. */
import { SqlState, planError, type Span } from '../common/errors.ts'
import type { SqlType } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { BindContext } from './bind-expr.ts'

/**
 * Binding that only pull queries over the catalog offer (planner/pull-plan.ts supplies it): subqueries in
 * expressions and casts to `oid`/`regclass`/`regtype`/`regnamespace`. Continuous views have no hooks.
 */
export interface BindHooks {
  subquery(e: ast.SubqueryExpr, scope: Scope, params: SqlType[]): BoundExpr
  cast(inner: BoundExpr, target: string, span: Span): BoundExpr
  /** `fn(...) OVER (...)` evaluated over all the query's rows in memory (pull-window.ts). */
  window?(e: ast.FuncCall, ctx: BindContext): BoundExpr
  /** `(composite).field`, for the records catalog functions return (`_pg_expandarray`). */
  fieldSelect?(inner: BoundExpr, field: string, span: Span): BoundExpr
  /** Aggregates may sort their own input (`array_agg(x ORDER BY y)`, planner/ordered-aggregate.ts). */
  readonly orderedAggregates?: boolean
}

export interface ScopeColumn {
  /** The relation (or alias) the column belongs to, lower case; undefined for computed columns. */
  readonly table?: string
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
  /** Hidden columns (e.g. system metadata) resolve by name but are not expanded by `*`. */
  readonly hidden?: boolean
  /** Resolves only when qualified and is left out of an unqualified `*` (the second side of JOIN ... USING). */
  readonly qualifiedOnly?: boolean
}

export class Scope {
  constructor(
    readonly columns: readonly ScopeColumn[],
    readonly hooks?: BindHooks,
  ) {}

  static empty(): Scope {
    return new Scope([])
  }

  /** Index of the column `table.name` / `name`; throws 42703 (unknown) or 42702 (ambiguous) with the span. */
  resolve(table: readonly string[], name: string, span: Span): number {
    const qualifier = table.length > 0 ? table[table.length - 1] : undefined
    let found = -1
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!
      if (c.name !== name) continue
      if (qualifier !== undefined && c.table !== qualifier) continue
      if (qualifier === undefined && c.qualifiedOnly) continue
      if (found !== -1) throw planError(SqlState.ambiguousColumn, `column reference "${name}" is ambiguous`, span)
      found = i
    }
    if (found === -1) {
      const full = qualifier === undefined ? name : `${qualifier}.${name}`
      if (qualifier !== undefined && !this.columns.some((c) => c.table === qualifier)) {
        throw planError(SqlState.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`, span)
      }
      throw planError(SqlState.undefinedColumn, `column "${full}" does not exist`, span, this.suggest(name))
    }
    return found
  }

  /** Columns that `*` or `t.*` expands to. */
  expand(table: readonly string[], span: Span): number[] {
    const qualifier = table.length > 0 ? table[table.length - 1] : undefined
    const out: number[] = []
    this.columns.forEach((c, i) => {
      if (c.hidden) return
      if (qualifier === undefined ? !c.qualifiedOnly : c.table === qualifier) out.push(i)
    })
    if (qualifier !== undefined && out.length === 0) {
      throw planError(SqlState.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`, span)
    }
    return out
  }

  private suggest(name: string): string | undefined {
    const close = this.columns.find((c) => c.name.toLowerCase() === name.toLowerCase() || levenshtein(c.name, name) <= 2)
    return close ? `Perhaps you meant to reference the column "${close.table ? `${close.table}.` : ''}${close.name}".` : undefined
  }
}

function levenshtein(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let last = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, last + (a[i - 1] === b[j - 1] ? 0 : 1))
      last = tmp
    }
  }
  return prev[b.length]!
}
