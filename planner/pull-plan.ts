/**
 * Plans a pull query: a SELECT over a materialized view, a stream's retained events, a system table, or
 * no relation at all (`SELECT 1`, `SELECT version()`). The executor fetches the source rows and applies the
 * bound select (filter, aggregation, projection, order, limit).
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { Column, SqlType } from '../common/types.ts'
import { bindSelect, type BoundSelect } from './select.ts'
import { Scope } from './scope.ts'
import type { Catalog } from './catalog.ts'
import { SYSTEM_TABLES } from './system-tables.ts'

export type PullSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'view'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'stream'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'system'; readonly name: string; readonly columns: readonly Column[] }

export interface PullPlan {
  readonly source: PullSource
  readonly select: BoundSelect
  readonly paramTypes: readonly SqlType[]
}

export function planPull(query: ast.Query, catalog: Catalog, paramTypes: readonly SqlType[]): PullPlan {
  if (query.kind !== 'select') throw unsupported(query.kind === 'values' ? 'VALUES as a query is not supported yet' : 'UNION, INTERSECT and EXCEPT are not supported yet', query.span)
  const params = [...paramTypes]
  if (query.from.length > 1) throw unsupported('joins in pull queries are not supported yet', query.from[1]!.span)
  const from = query.from[0]
  let source: PullSource = { kind: 'none' }
  let scope = Scope.empty()
  if (from !== undefined) {
    if (from.kind !== 'table_ref') {
      const hint = from.kind === 'window_tvf' ? 'Window functions such as TUMBLE belong in CREATE MATERIALIZED VIEW.' : undefined
      throw unsupported('a pull query reads one view, stream or system table', from.span, hint)
    }
    const parts = from.name.parts
    const schema = parts.length > 1 ? parts[parts.length - 2] : undefined
    const name = parts[parts.length - 1]!
    if (schema !== undefined && schema !== 'public' && schema !== 'sluice') {
      throw planError(SqlState.undefinedTable, `relation "${parts.join('.')}" does not exist`, from.name.span)
    }
    const system = SYSTEM_TABLES[name]
    const entry = catalog.get(name)
    if (entry !== undefined) {
      source = entry.kind === 'view' ? { kind: 'view', name, columns: entry.columns } : { kind: 'stream', name, columns: entry.columns }
    } else if (system !== undefined) {
      source = { kind: 'system', name, columns: system }
    } else {
      throw planError(SqlState.undefinedTable, `relation "${parts.join('.')}" does not exist`, from.name.span)
    }
    const table = from.alias ?? name
    scope = new Scope(source.columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable })))
  }
  const select = bindSelect(query, scope, params)
  if (select.windows.length > 0) {
    throw unsupported('window functions in a query of a view are not supported yet', select.windows[0]!.span, 'Compute them in the continuous view itself.')
  }
  return { source, select, paramTypes: params }
}
