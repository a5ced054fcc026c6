/** Plans INSERT INTO stream [(cols)] VALUES ... | SELECT ...: values coerced to the stream's column types. */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { SqlType } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { bindExpr, coerceTo } from './bind-expr.ts'
import { Scope } from './scope.ts'
import type { Catalog, StreamDef } from './catalog.ts'
import { planPull, type PullPlan } from './pull-plan.ts'
import { typeDisplayName } from '../common/types.ts'

export type InsertSource =
  | { readonly kind: 'values'; readonly rows: readonly (readonly BoundExpr[])[] }
  | { readonly kind: 'query'; readonly plan: PullPlan }

export interface InsertPlan {
  readonly stream: StreamDef
  /** For each stream column, the index of the value that fills it, or -1 for NULL. */
  readonly mapping: readonly number[]
  readonly source: InsertSource
  readonly paramTypes: readonly SqlType[]
}

export function planInsert(stmt: ast.Insert, catalog: Catalog, paramTypes: readonly SqlType[]): InsertPlan {
  const name = stmt.table.parts[stmt.table.parts.length - 1]!
  const entry = catalog.relation(name, stmt.table.span)
  if (entry.kind !== 'stream') throw planError(SqlState.wrongObjectType, `cannot insert into materialized view "${name}"`, stmt.table.span, 'Insert into the stream it reads.')
  const stream = entry
  const targets = stmt.columns ?? stream.columns.map((c) => c.name)
  const targetIdx = targets.map((t) => {
    const i = stream.columns.findIndex((c) => c.name === t)
    if (i === -1) throw planError(SqlState.undefinedColumn, `column "${t}" of relation "${name}" does not exist`, stmt.table.span)
    return i
  })
  const mapping = stream.columns.map((_, i) => targetIdx.indexOf(i))
  const params = [...paramTypes]
  const src = stmt.source
  if (src.kind === 'values') {
    const rows = src.rows.map((row) => {
      if (row.length > targets.length) throw planError(SqlState.syntaxError, 'INSERT has more expressions than target columns', row[targets.length]!.span)
      if (row.length < targets.length) throw planError(SqlState.syntaxError, 'INSERT has more target columns than expressions', row[row.length - 1]?.span ?? src.span)
      return row.map((e, i) => {
        const col = stream.columns[targetIdx[i]!]!
        const b = bindExpr(e, { scope: Scope.empty(), params, clause: 'VALUES' })
        const coerced = coerceTo(b, col.type, e.span, `column "${col.name}"`)
        if (coerced.type.name !== col.type.name && !(isNumericName(coerced.type.name) && isNumericName(col.type.name))) {
          throw planError(SqlState.datatypeMismatch, `column "${col.name}" is of type ${typeDisplayName(col.type)} but expression is of type ${typeDisplayName(coerced.type)}`, e.span, 'You will need to rewrite or cast the expression.')
        }
        if (b.kind === 'param') params[b.index] = col.type
        // numeric(p, s) columns round and check every value (a cast to the column's own type).
        return coerced.type.name === col.type.name && col.type.precision === undefined ? coerced : ({ kind: 'cast', expr: coerced, type: col.type } as BoundExpr)
      })
    })
    return { stream, mapping, source: { kind: 'values', rows }, paramTypes: params }
  }
  if (src.kind === 'select') {
    const plan = planPull(src, catalog, params)
    if (plan.select.outputColumns.length !== targets.length) {
      throw planError(SqlState.syntaxError, `INSERT has ${plan.select.outputColumns.length > targets.length ? 'more expressions than target columns' : 'more target columns than expressions'}`, src.span)
    }
    return { stream, mapping, source: { kind: 'query', plan }, paramTypes: plan.paramTypes }
  }
  throw unsupported('INSERT ... with set operations is not supported', src.span)
}

const isNumericName = (n: string): boolean => ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'].includes(n)
