/**
 * The predicates on columns that a condition requires, as keys of the batch index
 * (executor/batch-index.ts): `NEW.type = 'fight' AND NEW.level BETWEEN 20 AND 40 AND ...` needs type =
 * 'fight' and 20 <= level <= 40, so an event failing either can be skipped without evaluating the rest.
 * The columns are the event's or those of the view a trigger joins (`p.spent > 100`). Which key narrows a
 * batch most is known only from the batch, so all of them are returned.
 *
 * A key must pick exactly the events on which the engine's own comparison is true, never one fewer. The
 * compiled comparisons of numbers, times and text are JavaScript's operators on the values (integers and
 * floats are doubles, times are microseconds, text compares by UTF-16 code units, as the
 * engine's `<` does), so a key is taken only where both sides have the same representation and the
 * index compares with the same operators. NULL never satisfies a comparison, nor does NaN (`NaN < x` and
 * `NaN = NaN` are false in the compiled code too), so neither is ever in a key's rows.
 */
import { isNumeric, isTemporal, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { Numeric, numCmp, numericFromNumber } from '../common/numeric.ts'

/**
 * Where a key's column is: the event's, or the view a trigger joins (`p.spent > 100`), whose row as of each
 * event the batch index reads through the join before it can index it.
 */
export type KeySource = 'event' | 'view'

/** `column = value`. */
export interface EqualityKey {
  readonly kind: 'eq'
  readonly source: KeySource
  /** The column's index in the event's row, or in the joined view's. */
  readonly column: number
  readonly value: Value
}

/** `column IN (values)` (or an OR of equalities on one column): the union of the values' rows. */
export interface SetKey {
  readonly kind: 'set'
  readonly source: KeySource
  readonly column: number
  readonly values: readonly (number | string | boolean)[]
}

/** One end of a range: the bound and whether a value equal to it is inside. */
export interface Bound {
  readonly value: number | string
  readonly inclusive: boolean
}

/**
 * `column > / >= / < / <= constant` and BETWEEN (its two halves): the tightest bounds of every such conjunct
 * on the column, null where unbounded. `domain` is how the column's values are held, the only values that
 * compare.
 */
export interface RangeKey {
  readonly kind: 'range'
  readonly source: KeySource
  readonly column: number
  readonly domain: 'number' | 'string'
  readonly lower: Bound | null
  readonly upper: Bound | null
}

export type IndexKey = EqualityKey | SetKey | RangeKey

type Domain = 'number' | 'string' | 'boolean'

/** How values of the type are held, where the compiled comparison is JavaScript's operator on them. */
function domainOf(t: SqlType): Domain | null {
  if (t.element !== undefined || t.pgOid !== undefined) return null
  // numeric values are exact decimals (common/numeric.ts), not JavaScript numbers: not indexed.
  if (t.name === 'numeric') return null
  if (isNumeric(t) || isTemporal(t)) return 'number'
  if (t.name === 'text') return 'string'
  if (t.name === 'bool') return 'boolean'
  return null
}

/** A constant of the domain that compares as SQL would: no NULL, no NaN or infinity. */
function usable(v: Value, domain: Domain): v is number | string | boolean {
  if (typeof v !== domain) return false
  return typeof v !== 'number' || Number.isFinite(v)
}

/**
 * A constant as the index compares it with a column of `domain`: a numeric constant (`10.5`) against an
 * integer or float column is its double when that is the same number (15 significant digits or fewer),
 * so that no column value falls between the two; otherwise, or of another domain, undefined.
 */
function keyConst(k: BoundExpr & { kind: 'const' }, domain: Domain): number | string | boolean | undefined {
  let v = k.value
  if (domain === 'number' && v instanceof Numeric) {
    const d = +v
    if (numCmp(v, numericFromNumber(d)) !== 0) return undefined
    v = d
  } else if (domainOf(k.type) !== domain) return undefined
  return usable(v, domain) ? v : undefined
}

const FLIPPED: Record<string, string> = { '=': '=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' }

/** A column of the event compared with a constant, column first, or null. */
interface Comparison {
  readonly column: number
  readonly domain: Domain
  readonly op: string
  readonly value: number | string | boolean
}

function comparisonOf(c: BoundExpr, width: number): Comparison | null {
  if (c.kind !== 'call' || !(c.fn in FLIPPED) || c.args.length !== 2) return null
  const [a, b] = c.args as [BoundExpr, BoundExpr]
  const flip = a.kind !== 'column'
  const [col, k] = flip ? [b, a] : [a, b]
  if (col.kind !== 'column' || k.kind !== 'const' || col.index >= width) return null
  const domain = domainOf(col.type)
  const value = domain === null ? undefined : keyConst(k, domain)
  if (domain === null || value === undefined) return null
  return { column: col.index, domain, op: flip ? FLIPPED[c.fn]! : c.fn, value }
}

/** `col IN (constants)` or `col = a OR col = b OR ...` on one event column: its values, or null. */
function setOf(c: BoundExpr, width: number): { column: number; values: (number | string | boolean)[] } | null {
  if (c.kind === 'in_list') {
    if (c.negated || c.expr.kind !== 'column' || c.expr.index >= width) return null
    const domain = domainOf(c.expr.type)
    if (domain === null) return null
    const values: (number | string | boolean)[] = []
    for (const item of c.list) {
      if (item.kind !== 'const') return null
      // A NULL in the list makes a miss NULL instead of false: it never adds a row.
      if (item.value === null) continue
      const value = keyConst(item, domain)
      if (value === undefined) return null
      values.push(value)
    }
    return { column: c.expr.index, values }
  }
  if (c.kind === 'logic' && c.op === 'or') {
    let column = -1
    const values: (number | string | boolean)[] = []
    for (const d of disjunctsOf(c)) {
      const one = d.kind === 'in_list' ? setOf(d, width) : comparisonOf(d, width)
      if (one === null || (column >= 0 && one.column !== column)) return null
      if ('op' in one && one.op !== '=') return null
      column = one.column
      if ('values' in one) values.push(...one.values)
      else values.push(one.value)
    }
    return column < 0 ? null : { column, values }
  }
  return null
}

/**
 * The index keys a condition requires (see the top of the file). Its row holds the event's `width`
 * columns, then the `joined` columns of the view a trigger joins (none without a join); anything after
 * them (a window's bounds) is not indexed.
 */
export function conditionKeys(filter: BoundExpr | null, width: number, joined = 0): IndexKey[] {
  const keys: IndexKey[] = []
  const ranges = new Map<number, { domain: 'number' | 'string'; lower: Bound | null; upper: Bound | null }>()
  const limit = width + joined
  const at = (column: number) => (column < width ? { source: 'event' as const, column } : { source: 'view' as const, column: column - width })
  for (const c of conjunctsOf(filter)) {
    const set = setOf(c, limit)
    if (set !== null) {
      keys.push({ kind: 'set', ...at(set.column), values: [...new Set(set.values)] })
      continue
    }
    const cmp = comparisonOf(c, limit)
    if (cmp === null) continue
    if (cmp.op === '=') {
      keys.push({ kind: 'eq', ...at(cmp.column), value: cmp.value })
      continue
    }
    if (cmp.domain === 'boolean' || typeof cmp.value === 'boolean') continue
    const r = ranges.get(cmp.column) ?? { domain: cmp.domain, lower: null, upper: null }
    const bound: Bound = { value: cmp.value, inclusive: cmp.op === '>=' || cmp.op === '<=' }
    if (cmp.op === '>' || cmp.op === '>=') r.lower = tighter(r.lower, bound, 1)
    else r.upper = tighter(r.upper, bound, -1)
    ranges.set(cmp.column, r)
  }
  for (const [column, r] of ranges) keys.push({ kind: 'range', ...at(column), domain: r.domain, lower: r.lower, upper: r.upper })
  return keys
}

/**
 * Whether the keys of the condition say all it says: every conjunct became a key (or part of a range). An
 * event that satisfies every key then satisfies the condition, and testing the keys on it (`keysHold` in
 * executor/batch-index.ts) takes the place of evaluating it.
 */
export function keysCover(filter: BoundExpr | null, width: number, joined = 0): boolean {
  const conjuncts = conjunctsOf(filter)
  if (conjuncts.length === 0) return false
  const limit = width + joined
  for (const c of conjuncts) {
    if (setOf(c, limit) !== null) continue
    const cmp = comparisonOf(c, limit)
    if (cmp === null) return false
    if (cmp.op !== '=' && (cmp.domain === 'boolean' || typeof cmp.value === 'boolean')) return false
  }
  return true
}

/** Of two lower bounds (sign 1) or upper bounds (sign -1), the one that lets fewer values in. */
function tighter(a: Bound | null, b: Bound, sign: 1 | -1): Bound {
  if (a === null) return b
  if (a.value === b.value) return a.inclusive ? b : a
  return (sign === 1 ? a.value > b.value : a.value < b.value) ? a : b
}

/** The operands of a chain of ANDs, however it nests; a condition that is no AND is its own only conjunct. */
export function conjunctsOf(e: BoundExpr | null): BoundExpr[] {
  if (e === null) return []
  if (e.kind === 'logic' && e.op === 'and') return e.args.flatMap(conjunctsOf)
  return [e]
}

function disjunctsOf(e: BoundExpr): BoundExpr[] {
  if (e.kind === 'logic' && e.op === 'or') return e.args.flatMap(disjunctsOf)
  return [e]
}
