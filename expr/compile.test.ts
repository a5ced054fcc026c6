import { describe, expect, test } from 'vitest'
import { Types, formatValue, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'
import { compileExpr, compilePredicate } from './compile.ts'
import { compileAggregates } from './compile-aggregates.ts'
import { resolveOperator, resolveFunction } from '../planner/functions.ts'
import { resolveAggregate } from './aggregates.ts'

const ctx = { now: 1_700_000_000_000_000, user: 'u', database: 'd' }
const col = (index: number, type: SqlType = Types.int4): BoundExpr => ({ kind: 'column', index, name: `c${index}`, type })
const lit = (value: Value, type: SqlType = Types.int4): BoundExpr => ({ kind: 'const', value, type })
const op = (o: string, a: BoundExpr, b: BoundExpr): BoundExpr => {
  const r = resolveOperator(o, a.type, b.type)
  if (!r) throw new Error(`no operator ${o}`)
  return { kind: 'call', fn: o, impl: r.impl, args: [a, b], type: r.type }
}
const and = (...args: BoundExpr[]): BoundExpr => ({ kind: 'logic', op: 'and', args, type: Types.bool })
const or = (...args: BoundExpr[]): BoundExpr => ({ kind: 'logic', op: 'or', args, type: Types.bool })
const bool = (v: boolean | null) => lit(v, Types.bool)

describe('three-valued logic', () => {
  const cases: [boolean | null, boolean | null, boolean | null, boolean | null][] = [
    // a, b, a AND b, a OR b  (SQL truth tables)
    [true, true, true, true],
    [true, false, false, true],
    [true, null, null, true],
    [false, null, false, null],
    [null, null, null, null],
    [false, false, false, false],
  ]
  test.each(cases)('%s and/or %s', (a, b, andResult, orResult) => {
    const row = [a, b]
    expect(compileExpr(and(col(0, Types.bool), col(1, Types.bool)))(row, [], ctx)).toBe(andResult)
    expect(compileExpr(and(col(1, Types.bool), col(0, Types.bool)))(row, [], ctx)).toBe(andResult)
    expect(compileExpr(or(col(0, Types.bool), col(1, Types.bool)))(row, [], ctx)).toBe(orResult)
  })

  test('AND short-circuits: a false left side skips a failing right side', () => {
    const failing = op('/', lit(1), lit(0))
    const e = and(bool(false), op('=', failing, lit(1)))
    expect(compileExpr(e)([], [], ctx)).toBe(false)
    expect(() => compileExpr(and(bool(true), op('=', failing, lit(1))))([], [], ctx)).toThrow(/division by zero/)
  })

  test('a predicate accepts only TRUE', () => {
    const p = compilePredicate(op('>', col(0), lit(3)))
    expect(p([4], [], ctx)).toBe(true)
    expect(p([3], [], ctx)).toBe(false)
    expect(p([null], [], ctx)).toBe(false)
  })
})

describe('operators', () => {
  test('integer division truncates like Postgres, float division does not', () => {
    expect(compileExpr(op('/', col(0), lit(2)))([7], [], ctx)).toBe(3)
    expect(compileExpr(op('/', col(0), lit(-2)))([7], [], ctx)).toBe(-3)
    expect(compileExpr(op('/', col(0, Types.float8), lit(2)))([7], [], ctx)).toBe(3.5)
  })

  test('int4 overflow is an error, not a wrong number', () => {
    expect(() => compileExpr(op('*', col(0), lit(2)))([2_000_000_000], [], ctx)).toThrow(/integer out of range/)
  })

  test('null propagates through strict operators', () => {
    expect(compileExpr(op('+', col(0), lit(1)))([null], [], ctx)).toBe(null)
    expect(compileExpr(op('||', col(0, Types.text), lit('x', Types.text)))([null], [], ctx)).toBe(null)
  })

  test('timestamp minus interval', () => {
    const ts = Date.UTC(2026, 0, 1, 0, 0, 10) * 1000
    const e = op('-', col(0, Types.timestamptz), lit({ months: 0, days: 0, micros: 5_000_000 }, Types.interval))
    expect(compileExpr(e)([ts], [], ctx)).toBe(ts - 5_000_000)
  })

  test('IN list with a NULL element is NULL when nothing matches', () => {
    const e: BoundExpr = { kind: 'in_list', expr: col(0), list: [lit(1), lit(null)], negated: false, type: Types.bool }
    const f = compileExpr(e)
    expect(f([1], [], ctx)).toBe(true)
    expect(f([2], [], ctx)).toBe(null)
    expect(f([null], [], ctx)).toBe(null)
  })

  test('CASE picks the first true branch and treats NULL as not true', () => {
    const e: BoundExpr = {
      kind: 'case',
      whens: [
        { when: op('>', col(0), lit(10)), then: lit('big', Types.text) },
        { when: op('>', col(0), lit(5)), then: lit('mid', Types.text) },
      ],
      else: lit('small', Types.text),
      type: Types.text,
    }
    const f = compileExpr(e)
    expect([f([11], [], ctx), f([6], [], ctx), f([1], [], ctx), f([null], [], ctx)]).toEqual(['big', 'mid', 'small', 'small'])
  })

  test('coalesce and functions', () => {
    const r = resolveFunction('coalesce', [Types.int4, Types.int4])!
    const e: BoundExpr = { kind: 'call', fn: 'coalesce', impl: r.impl, args: [col(0), lit(9)], type: r.type }
    expect(compileExpr(e)([null], [], ctx)).toBe(9)
    expect(compileExpr(e)([3], [], ctx)).toBe(3)
    const lower = resolveFunction('lower', [Types.text])!
    expect(compileExpr({ kind: 'call', fn: 'lower', impl: lower.impl, args: [col(0, Types.text)], type: Types.text })(['AbC'], [], ctx)).toBe('abc')
  })
})

describe('aggregates', () => {
  test('count, sum, avg, min, max with FILTER and nulls, over one accumulator', () => {
    const specs = [
      { spec: resolveAggregate('count', [], true)!, args: [], filter: null },
      { spec: resolveAggregate('sum', [Types.int4], false)!, args: [col(0)], filter: null },
      { spec: resolveAggregate('avg', [Types.int4], false)!, args: [col(0)], filter: null },
      { spec: resolveAggregate('min', [Types.int4], false)!, args: [col(0)], filter: null },
      { spec: resolveAggregate('max', [Types.int4], false)!, args: [col(0)], filter: null },
      { spec: resolveAggregate('count', [Types.int4], false)!, args: [col(0)], filter: op('>', col(0), lit(2)) },
      { spec: resolveAggregate('last_value', [Types.int4], false)!, args: [col(0)], filter: null },
    ].map((a) => ({ ...a, distinct: false, display: '' }))
    const c = compileAggregates(specs, 1)
    const acc: Value[] = ['key', ...c.init()]
    for (const v of [5, null, 1, 3]) c.update(acc, [v], [], ctx)
    expect(acc[0]).toBe('key')
    // avg over integers is numeric, with PostgreSQL's division scale.
    expect(c.finalize(acc).map((v) => (typeof v === 'object' && v !== null ? String(v) : v))).toEqual([4, 9, '3.0000000000000000', 1, 5, 2, 3])
    const empty = ['k', ...c.init()]
    expect(c.finalize(empty)).toEqual([0, null, null, null, null, 0, null])
  })
})

describe('casts of integers to text', () => {
  test('give what formatValue gives, NULL as NULL', () => {
    for (const type of [Types.int2, Types.int4, Types.int8]) {
      const f = compileExpr({ kind: 'cast', expr: col(0, type), type: Types.text })
      for (const v of [0, -0, 7, -42, 2 ** 53 - 1, -(2 ** 31), null]) {
        expect(f([v], [], ctx)).toBe(formatValue(v, type))
      }
      expect(f([5], [], ctx)).toBe('5')
      expect(f([-0], [], ctx)).toBe('0')
    }
  })
})
