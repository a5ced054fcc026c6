/**
 * The equality on an event column that a condition requires, if any: `NEW.type = 'fight' AND ...` needs
 * type = 'fight', so an event with another type can be skipped without evaluating the rest. Only plain
 * `column = constant` conjuncts of the same type qualify, where JavaScript equality is SQL equality.
 */
import type { Value } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'

export interface IndexKey {
  readonly column: number
  readonly value: Value
}

export function equalityKey(filter: BoundExpr | null, width: number): IndexKey | null {
  if (filter === null) return null
  const conjuncts = filter.kind === 'logic' && filter.op === 'and' ? filter.args : [filter]
  for (const c of conjuncts) {
    if (c.kind !== 'call' || c.fn !== '=' || c.args.length !== 2) continue
    const [a, b] = c.args as [BoundExpr, BoundExpr]
    const [col, k] = a.kind === 'column' ? [a, b] : [b, a]
    if (col.kind !== 'column' || k.kind !== 'const' || col.index >= width || col.type.name !== k.type.name) continue
    const v = k.value
    if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return { column: col.index, value: v }
  }
  return null
}
