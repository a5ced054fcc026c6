/**
 * The equalities on event columns that a condition requires: `NEW.type = 'fight' AND NEW.level = 7 AND ...`
 * needs type = 'fight' and level = 7, so an event without either can be skipped without evaluating the
 * rest. Only plain `column = constant` conjuncts of the same type qualify, where JavaScript equality is SQL
 * equality. Which one narrows a batch most is known only from the batch, so all of them are returned.
 */
import type { Value } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'

export interface IndexKey {
  readonly column: number
  readonly value: Value
}

export function equalityKeys(filter: BoundExpr | null, width: number): IndexKey[] {
  const keys: IndexKey[] = []
  for (const c of conjunctsOf(filter)) {
    if (c.kind !== 'call' || c.fn !== '=' || c.args.length !== 2) continue
    const [a, b] = c.args as [BoundExpr, BoundExpr]
    const [col, k] = a.kind === 'column' ? [a, b] : [b, a]
    if (col.kind !== 'column' || k.kind !== 'const' || col.index >= width || col.type.name !== k.type.name) continue
    const v = k.value
    if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') keys.push({ column: col.index, value: v })
  }
  return keys
}

/** The operands of a chain of ANDs, however it nests; a condition that is no AND is its own only conjunct. */
export function conjunctsOf(e: BoundExpr | null): BoundExpr[] {
  if (e === null) return []
  if (e.kind === 'logic' && e.op === 'and') return e.args.flatMap(conjunctsOf)
  return [e]
}
