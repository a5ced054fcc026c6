import { describe, expect, test } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import { Types, arrayOf, type SqlType, type Value } from '../common/types.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { parseNumeric } from '../common/numeric.ts'
import { AGG_ELEMENT_LIMIT, resolveAggregate, type BoundAggregate } from './aggregates.ts'
import type { BoundExpr } from './bound.ts'
import { compileAggregates } from './compile-aggregates.ts'
import { resolveOperator } from '../planner/functions.ts'

const ctx = { now: 1_700_000_000_000_000, user: 'u', database: 'd' }
const col = (index: number, type: SqlType = Types.int4): BoundExpr => ({ kind: 'column', index, name: `c${index}`, type })
const lit = (value: Value, type: SqlType = Types.int4): BoundExpr => ({ kind: 'const', value, type })
const param = (index: number, type: SqlType = Types.float8): BoundExpr => ({ kind: 'param', index, type })
const op = (o: string, a: BoundExpr, b: BoundExpr): BoundExpr => {
  const r = resolveOperator(o, a.type, b.type)
  if (!r) throw new Error(`no operator ${o}`)
  return { kind: 'call', fn: o, impl: r.impl, args: [a, b], type: r.type }
}

function agg(name: string, args: BoundExpr[], options: { filter?: BoundExpr; distinct?: boolean; star?: boolean } = {}): BoundAggregate {
  const spec = resolveAggregate(name, args.map((a) => a.type), options.star ?? false)
  if (spec === undefined) throw new Error(`no aggregate ${name}`)
  return { spec, args, filter: options.filter ?? null, distinct: options.distinct ?? false, display: name }
}

/** Folds the rows into one group and returns the aggregate values. */
function run(aggs: BoundAggregate[], rows: readonly Value[][], params: Value[] = []): Value[] {
  const c = compileAggregates(aggs)
  const acc = c.init()
  for (const r of rows) c.update(acc, r, params, ctx)
  return c.finalize(acc)
}

const rowsOf = (...values: Value[]): Value[][] => values.map((v) => [v])

function thrown(f: () => unknown): SluiceError {
  try {
    f()
  } catch (err) {
    if (err instanceof SluiceError) return err
    throw err
  }
  throw new Error('expected an error')
}

describe('resolving', () => {
  test('types of the new aggregates', () => {
    expect(resolveAggregate('approx_count_distinct', [Types.text], false)?.type).toEqual(Types.int8)
    expect(resolveAggregate('approx_percentile', [Types.int4, Types.numeric], false)?.type).toEqual(Types.float8)
    expect(resolveAggregate('string_agg', [Types.text, Types.text], false)?.type).toEqual(Types.text)
    expect(resolveAggregate('array_agg', [Types.int8], false)?.type).toEqual(arrayOf(Types.int8))
    expect(resolveAggregate('array_agg', [Types.timestamptz], false)?.type).toEqual(arrayOf(Types.timestamptz))
  })

  test('argument types PostgreSQL refuses are refused', () => {
    expect(resolveAggregate('string_agg', [Types.int4, Types.text], false)).toBeUndefined()
    expect(resolveAggregate('string_agg', [Types.text], false)).toBeUndefined()
    expect(resolveAggregate('approx_percentile', [Types.text, Types.float8], false)).toBeUndefined()
    expect(resolveAggregate('approx_percentile', [Types.float8], false)).toBeUndefined()
    expect(resolveAggregate('approx_count_distinct', [], true)).toBeUndefined()
    expect(resolveAggregate('bool_or', [arrayOf(Types.bool)], false)).toBeUndefined()
    expect(resolveAggregate('bool_and', [Types.int4], false)).toBeUndefined()
    // Arrays of arrays have no type here; bytea does not survive the state codec inside an array.
    expect(resolveAggregate('array_agg', [arrayOf(Types.int4)], false)).toBeUndefined()
    expect(resolveAggregate('array_agg', [Types.bytea], false)).toBeUndefined()
  })
})

describe('bool_or, bool_and, every', () => {
  const all = (rows: Value[][], filter?: BoundExpr) =>
    run(
      ['bool_or', 'bool_and', 'every'].map((n) => agg(n, [col(0, Types.bool)], filter === undefined ? {} : { filter })),
      rows,
    )

  test('PostgreSQL semantics: NULLs skipped, no non-null input gives NULL', () => {
    expect(all([])).toEqual([null, null, null])
    expect(all(rowsOf(null, null))).toEqual([null, null, null])
    expect(all(rowsOf(true, null))).toEqual([true, true, true])
    expect(all(rowsOf(false, null))).toEqual([false, false, false])
    expect(all(rowsOf(true, false, null))).toEqual([true, false, false])
    expect(all(rowsOf(null, false, true))).toEqual([true, false, false])
    expect(all(rowsOf(true, true))).toEqual([true, true, true])
    expect(all(rowsOf(false, false))).toEqual([false, false, false])
  })

  test('with FILTER', () => {
    const rows = [
      [true, 1],
      [false, 2],
      [null, 3],
    ]
    expect(all(rows, op('>', col(1), lit(1)))).toEqual([false, false, false])
    expect(all(rows, op('>', col(1), lit(2)))).toEqual([null, null, null])
    expect(all(rows, op('<', col(1), lit(2)))).toEqual([true, true, true])
  })
})

describe('first_value, last_value', () => {
  test('arrival order, NULL included', () => {
    const aggs = [agg('first_value', [col(0)]), agg('last_value', [col(0)])]
    expect(run(aggs, [])).toEqual([null, null])
    expect(run(aggs, rowsOf(null, 1, 2))).toEqual([null, 2])
    expect(run(aggs, rowsOf(1, 2, null))).toEqual([1, null])
    expect(run(aggs, rowsOf(3))).toEqual([3, 3])
  })
})

describe('approx_count_distinct', () => {
  test('exact for small groups; NULLs ignored; no rows gives 0', () => {
    const a = [agg('approx_count_distinct', [col(0, Types.text)])]
    expect(run(a, [])).toEqual([0])
    expect(run(a, rowsOf(null, null))).toEqual([0])
    expect(run(a, rowsOf('a', 'b', null, 'a', 'c', 'b'))).toEqual([3])
    const ints = [agg('approx_count_distinct', [col(0)])]
    expect(run(ints, Array.from({ length: 1000 }, (_, i) => [i % 250]))).toEqual([250])
  })

  test('values equal in SQL count once (intervals by length, -0 and 0)', () => {
    const a = [agg('approx_count_distinct', [col(0, Types.interval)])]
    expect(run(a, rowsOf({ months: 1, days: 0, micros: 0 }, { months: 0, days: 30, micros: 0 }, { months: 0, days: 1, micros: 0 }))).toEqual([2])
    expect(run([agg('approx_count_distinct', [col(0, Types.float8)])], rowsOf(0, -0, 1.5))).toEqual([2])
  })

  test('large groups: within 3 % of 50k distinct values', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => [`user-${i % 50_000}`])
    const [n] = run([agg('approx_count_distinct', [col(0, Types.text)])], rows)
    expect(Math.abs((n as number) / 50_000 - 1)).toBeLessThan(0.03)
  })

  test('FILTER, DISTINCT, and count(DISTINCT) agreeing on small groups', () => {
    const rows = Array.from({ length: 300 }, (_, i) => [i % 40, i])
    const even = op('=', op('%', col(1), lit(2)), lit(0))
    const out = run(
      [
        agg('approx_count_distinct', [col(0)], { filter: even }),
        agg('approx_count_distinct', [col(0)], { distinct: true }),
        agg('count', [col(0)], { distinct: true }),
      ],
      rows,
    )
    expect(out).toEqual([20, 40, 40])
  })
})

describe('approx_percentile', () => {
  const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b)
  const cont = (xs: number[], f: number) => {
    const s = sorted(xs)
    const pos = f * (s.length - 1)
    const lo = Math.floor(pos)
    return lo === pos ? s[lo]! : s[lo]! + (s[lo + 1]! - s[lo]!) * (pos - lo)
  }

  test('exact (as percentile_cont) for small groups; NULL inputs ignored; no rows gives NULL', () => {
    const values = [5, 1, 4, 2, 3, 10, 7]
    const fractions = [0, 0.1, 0.25, 0.5, 0.9, 1]
    const aggs = fractions.map((f) => agg('approx_percentile', [col(0), lit(f, Types.numeric)]))
    expect(run(aggs, [...rowsOf(...values), [null]])).toEqual(fractions.map((f) => cont(values, f)))
    expect(run(aggs, [])).toEqual(fractions.map(() => null))
    expect(run(aggs, rowsOf(null))).toEqual(fractions.map(() => null))
    expect(run([agg('approx_percentile', [col(0, Types.float8), lit(0.5, Types.numeric)])], rowsOf(1.5, 2.5))).toEqual([2])
  })

  test('a NULL fraction gives NULL', () => {
    expect(run([agg('approx_percentile', [col(0), lit(null, Types.float8)])], rowsOf(1, 2, 3))).toEqual([null])
  })

  test('large groups: the median of 0..99999 within 1 %', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => [(i * 7919) % 100_000])
    const [p50, p99] = run([agg('approx_percentile', [col(0), lit(0.5, Types.numeric)]), agg('approx_percentile', [col(0), lit(0.99, Types.numeric)])], rows)
    expect(Math.abs((p50 as number) - 49_999.5)).toBeLessThan(1000)
    expect(Math.abs((p99 as number) - 98_999)).toBeLessThan(1000)
  })

  test('FILTER and DISTINCT', () => {
    const rows = [1, 1, 1, 1, 2, 3, 100].map((x, i) => [x, i])
    expect(run([agg('approx_percentile', [col(0), lit(0.5, Types.numeric)], { distinct: true })], rows)).toEqual([2.5])
    expect(run([agg('approx_percentile', [col(0), lit(0.5, Types.numeric)], { filter: op('>', col(1), lit(3)) })], rows)).toEqual([3])
  })

  test('a fraction out of range: 22023 when compiled', () => {
    for (const f of [1.5, -0.1]) {
      const err = thrown(() => compileAggregates([agg('approx_percentile', [col(0), lit(f, Types.numeric)])]))
      expect(err.sqlstate).toBe('22023')
      expect(err.message).toBe(`percentile value ${f} is not between 0 and 1`)
    }
    // Constants the generated code keeps in its constant table (infinities, numeric literals) are checked
    // at plan time, with the argument's position.
    const spec = resolveAggregate('approx_percentile', [Types.float8, Types.float8], false)!
    expect(thrown(() => spec.checkArgs!([col(0), lit(Number.POSITIVE_INFINITY, Types.float8)], [])).sqlstate).toBe('22023')
    expect(thrown(() => spec.checkArgs!([col(0), lit(parseNumeric('1.5'), Types.numeric)], [])).sqlstate).toBe('22023')
    expect(() => spec.checkArgs!([col(0), lit(parseNumeric('0.95'), Types.numeric)], [])).not.toThrow()
  })

  test('a fraction that is not a constant: 42P10 when compiled', () => {
    const err = thrown(() => compileAggregates([agg('approx_percentile', [col(0), col(1, Types.float8)])]))
    expect(err.sqlstate).toBe('42P10')
    expect(err.message).toBe('the fraction of approx_percentile must be a constant')
    expect(thrown(() => compileAggregates([agg('approx_percentile', [col(0), op('+', col(1, Types.float8), lit(0.1, Types.float8))])])).sqlstate).toBe('42P10')
  })

  test('a parameter fraction is checked when the group first sees it', () => {
    const a = [agg('approx_percentile', [col(0), param(0)])]
    expect(run(a, rowsOf(1, 2, 3, 4), [0.5])).toEqual([2.5])
    expect(thrown(() => run(a, rowsOf(1), [2])).sqlstate).toBe('22023')
    expect(run(a, rowsOf(1, 2), [null])).toEqual([null])
  })

  test('checkArgs: the plan-time check, with the position of the fraction', () => {
    const spec = resolveAggregate('approx_percentile', [Types.int4, Types.numeric], false)!
    const span = { start: 30, end: 33 }
    spec.checkArgs!([col(0), lit(0.95, Types.numeric)], [undefined, span])
    spec.checkArgs!([col(0), lit(null, Types.numeric)], [undefined, span])
    spec.checkArgs!([col(0), param(0)], [undefined, span])
    const range = thrown(() => spec.checkArgs!([col(0), lit(2, Types.numeric)], [undefined, span]))
    expect([range.sqlstate, range.message, range.span]).toEqual(['22023', 'percentile value 2 is not between 0 and 1', span])
    const constant = thrown(() => spec.checkArgs!([col(0), col(1, Types.float8)], [undefined, span]))
    expect([constant.sqlstate, constant.span]).toEqual(['42P10', span])
  })
})

describe('string_agg', () => {
  const text = (i: number) => col(i, Types.text)

  test('arrival order, the delimiter of each row, NULL values skipped, NULL delimiter as empty', () => {
    const a = [agg('string_agg', [text(0), text(1)])]
    expect(run(a, [])).toEqual([null])
    expect(run(a, [[null, ',']])).toEqual([null])
    expect(run(a, [['a', ',']])).toEqual(['a'])
    expect(
      run(a, [
        ['a', ','],
        [null, ';'],
        ['b', '-'],
        ['c', null],
        ['', '+'],
      ]),
    ).toEqual(['a-bc+'])
    expect(run([agg('string_agg', [text(0), lit(', ', Types.text)])], rowsOf('x', 'y', 'z'))).toEqual(['x, y, z'])
  })

  test(`keeps the first ${AGG_ELEMENT_LIMIT} values of a group`, () => {
    const rows = Array.from({ length: AGG_ELEMENT_LIMIT + 500 }, (_, i) => [String(i)])
    const [s] = run([agg('string_agg', [text(0), lit(',', Types.text)])], rows)
    const parts = (s as string).split(',')
    expect(parts.length).toBe(AGG_ELEMENT_LIMIT)
    expect(parts[0]).toBe('0')
    expect(parts[AGG_ELEMENT_LIMIT - 1]).toBe(String(AGG_ELEMENT_LIMIT - 1))
    // NULL values do not count toward the bound.
    const withNulls = [...Array.from({ length: 2000 }, () => [null]), ...rows]
    expect(((run([agg('string_agg', [text(0), lit(',', Types.text)])], withNulls)[0] as string).split(',')).length).toBe(AGG_ELEMENT_LIMIT)
  })

  test('FILTER and DISTINCT', () => {
    const rows = [['a', 1], ['b', 2], ['a', 3], ['c', 4]]
    expect(run([agg('string_agg', [text(0), lit('|', Types.text)], { filter: op('>', col(1), lit(1)) })], rows)).toEqual(['b|a|c'])
    expect(run([agg('string_agg', [text(0), lit('|', Types.text)], { distinct: true })], rows)).toEqual(['a|b|c'])
  })
})

describe('array_agg', () => {
  test('arrival order with NULL elements; no rows gives NULL', () => {
    const a = [agg('array_agg', [col(0)])]
    expect(run(a, [])).toEqual([null])
    expect(run(a, rowsOf(null))).toEqual([[null]])
    expect(run(a, rowsOf(3, null, 1, 3))).toEqual([[3, null, 1, 3]])
    const intervals = run([agg('array_agg', [col(0, Types.interval)])], rowsOf({ months: 0, days: 1, micros: 0 }))
    expect(intervals).toEqual([[{ months: 0, days: 1, micros: 0 }]])
  })

  test(`keeps the first ${AGG_ELEMENT_LIMIT} elements of a group`, () => {
    const [arr] = run([agg('array_agg', [col(0)])], Array.from({ length: 3000 }, (_, i) => [i]))
    expect((arr as number[]).length).toBe(AGG_ELEMENT_LIMIT)
    expect((arr as number[])[AGG_ELEMENT_LIMIT - 1]).toBe(AGG_ELEMENT_LIMIT - 1)
  })

  test('FILTER and DISTINCT (one NULL kept, as in PostgreSQL)', () => {
    const rows = [[2, 1], [null, 2], [2, 3], [1, 4], [null, 5]]
    expect(run([agg('array_agg', [col(0)], { distinct: true })], rows)).toEqual([[2, null, 1]])
    expect(run([agg('array_agg', [col(0)], { filter: op('>', col(1), lit(2)) })], rows)).toEqual([[2, 1, null]])
  })

  test('a finalized array does not change when the group grows; groups do not share arrays', () => {
    const c = compileAggregates([agg('array_agg', [col(0)])])
    const g1 = c.init()
    const g2 = c.init()
    c.update(g1, [1], [], ctx)
    const shown = c.finalize(g1)[0] as number[]
    c.update(g1, [2], [], ctx)
    c.update(g2, [9], [], ctx)
    expect(shown).toEqual([1])
    expect(c.finalize(g1)).toEqual([[1, 2]])
    expect(c.finalize(g2)).toEqual([[9]])
  })
})

describe('accumulators in the state store', () => {
  test('every new aggregate resumes from its rowCodec round trip exactly', () => {
    const aggs = [
      agg('approx_count_distinct', [col(0)]),
      agg('approx_percentile', [col(0), lit(0.9, Types.numeric)]),
      agg('string_agg', [col(1, Types.text), lit(',', Types.text)]),
      agg('array_agg', [col(0)]),
      agg('bool_or', [col(2, Types.bool)]),
      agg('count', [col(0)], { distinct: true }),
    ]
    const c = compileAggregates(aggs, 1)
    const row = (i: number): Value[] => [(i * 37) % 1000, `v${i % 7}`, i % 3 === 0 ? null : i % 5 === 0]
    // A group goes to the store after each phase (dense HLL, compressed percentile sketch, bounded arrays).
    for (const split of [3, 450, 5000]) {
      let stored: Value[] = ['key', ...c.init()]
      const live: Value[] = ['key', ...c.init()]
      for (let i = 0; i < 6000; i++) {
        c.update(live, row(i), [], ctx)
        c.update(stored, row(i), [], ctx)
        if (i === split) stored = rowCodec.decode(rowCodec.encode(stored))
      }
      expect(stored).toEqual(live)
      expect(c.finalize(stored)).toEqual(c.finalize(live))
    }
  })
})

describe('max_by, min_by', () => {
  const rows: Value[][] = [
    ['a', 3],
    ['b', 7],
    [null, 9],
    ['c', null],
    ['d', 9],
    ['e', 1],
  ]
  test('x of the row with the largest / smallest y; NULL y skipped, NULL x kept, the first of equal y wins', () => {
    expect(run([agg('max_by', [col(0, Types.text), col(1)]), agg('min_by', [col(0, Types.text), col(1)])], rows)).toEqual([null, 'e'])
    expect(run([agg('max_by', [col(0, Types.text), col(1)])], rows.filter((r) => r[0] !== null))).toEqual(['d'])
    expect(run([agg('max_by', [col(0, Types.text), col(1)])], [['c', null]])).toEqual([null])
  })
  test('with FILTER, and ordering by text', () => {
    expect(run([agg('max_by', [col(1), col(0, Types.text)], { filter: op('<', col(1), lit(9)) })], rows)).toEqual([1])
    expect(resolveAggregate('max_by', [Types.text], false)).toBeUndefined()
  })
})

describe('retractable aggregates (a view over a view whose rows change)', () => {
  const aggs = () => [
    agg('count', [], { star: true }),
    agg('count', [col(0)]),
    agg('sum', [col(0)]),
    agg('avg', [col(0)]),
    agg('sum', [col(1)], { filter: op('>', col(0), lit(2)) }),
  ]
  const rows: Value[][] = [[1, 10], [null, 20], [3, 30], [5, null], [2, 40]]

  test('taking rows back gives what folding only the others gives, nulls and FILTER included', () => {
    const c = compileAggregates(aggs(), 0, true)
    const acc = c.init()
    for (const r of rows) c.update(acc, r, [], ctx)
    c.retract!(acc, rows[2]!, [], ctx)
    c.retract!(acc, rows[1]!, [], ctx)
    expect(c.finalize(acc)).toEqual(run(aggs(), [rows[0]!, rows[3]!, rows[4]!]))
  })

  test('a group with every row taken back finalizes as an empty one: counts 0, sums and averages NULL', () => {
    const c = compileAggregates(aggs(), 0, true)
    const acc = c.init()
    for (const r of rows) c.update(acc, r, [], ctx)
    for (const r of rows) c.retract!(acc, r, [], ctx)
    expect(c.finalize(acc)).toEqual([0, 0, null, null, null])
    expect(c.finalize(acc)).toEqual(run(aggs(), []))
  })

  test('min and max keep a count of each value: withdrawing the extreme finds the next one', () => {
    const mm = () => [agg('min', [col(0)]), agg('max', [col(0)]), agg('max', [col(1, Types.text)])]
    const c = compileAggregates(mm(), 0, true)
    const acc = c.init()
    const rows: Value[][] = [[5, 'b'], [9, 'z'], [9, 'a'], [1, null], [7, 'q']]
    for (const r of rows) c.update(acc, r, [], ctx)
    expect(c.finalize(acc)).toEqual([1, 9, 'z'])
    // One of two 9s goes: still 9; the other goes: 7. The only 1 goes: 5. 'z' goes: 'q'.
    c.retract!(acc, rows[1]!, [], ctx)
    expect(c.finalize(acc)).toEqual([1, 9, 'q'])
    c.retract!(acc, rows[2]!, [], ctx)
    c.retract!(acc, rows[3]!, [], ctx)
    expect(c.finalize(acc)).toEqual(run(mm(), [rows[0]!, rows[4]!]))
    expect(c.finalize(acc)).toEqual([5, 7, 'q'])
    // The state round-trips through the state store's codec.
    const back = rowCodec.decode(rowCodec.encode(acc))
    c.retract!(back, rows[4]!, [], ctx)
    expect(c.finalize(back)).toEqual([5, 5, 'b'])
    c.retract!(back, rows[0]!, [], ctx)
    expect(c.finalize(back)).toEqual([null, null, null])
  })

  test('aggregates that cannot take a row back are refused with 0A000', () => {
    for (const a of [agg('count', [col(0)], { distinct: true }), agg('last_value', [col(0)]), agg('first_value', [col(0)])]) {
      const err = thrown(() => compileAggregates([a], 0, true))
      expect(err.sqlstate).toBe('0A000')
      expect(err.hint).toContain('count, sum, avg, min or max')
    }
  })
})
