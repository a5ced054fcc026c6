import { beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseExpression } from '../parser/index.ts'
import { Types } from '../common/types.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import { conditionKeys } from './index-key.ts'

const scope = new Scope([
  { table: 'new', name: 'type', type: Types.text, nullable: true },
  { table: 'new', name: 'level', type: Types.int4, nullable: true },
  { table: 'new', name: 'amount', type: Types.float8, nullable: true },
  { table: 'new', name: 'ts', type: Types.timestamptz, nullable: true },
  { table: 'new', name: 'vip', type: Types.bool, nullable: true },
  { table: 'new', name: 'pause', type: Types.interval, nullable: true },
  { table: 'p', name: 'lost', type: Types.int8, nullable: true },
])
const keys = (sql: string) => conditionKeys(bindExpr(parseExpression(sql), { scope, params: [], clause: 'WHEN' }), 6)
const range = (column: number, domain: 'number' | 'string', lower: [number | string, boolean] | null, upper: [number | string, boolean] | null) => ({
  kind: 'range',
  source: 'event',
  column,
  domain,
  lower: lower === null ? null : { value: lower[0], inclusive: lower[1] },
  upper: upper === null ? null : { value: upper[0], inclusive: upper[1] },
})

describe('conditionKeys', () => {
  beforeAll(async () => {
    await initParser()
  })

  test('finds a column = constant conjunct on the event', () => {
    expect(keys("new.type = 'fight' AND p.lost >= 3")).toEqual([{ kind: 'eq', source: 'event', column: 0, value: 'fight' }])
    expect(keys('p.lost > 1 AND 3 = new.level')).toEqual([{ kind: 'eq', source: 'event', column: 1, value: 3 }])
    expect(keys('new.vip = true')).toEqual([{ kind: 'eq', source: 'event', column: 4, value: true }])
  })

  test('finds every such conjunct, however the ANDs nest', () => {
    expect(keys("new.type = 'fight' AND (new.level = 7 AND p.lost >= 3)")).toEqual([
      { kind: 'eq', source: 'event', column: 0, value: 'fight' },
      { kind: 'eq', source: 'event', column: 1, value: 7 },
    ])
  })

  test('BETWEEN is one range with both ends inside', () => {
    expect(keys('new.level BETWEEN 20 AND 40')).toEqual([range(1, 'number', [20, true], [40, true])])
  })

  test('comparisons either way round become bounds, exclusive or inclusive', () => {
    expect(keys('new.amount > 100')).toEqual([range(2, 'number', [100, false], null)])
    expect(keys('100 > new.amount')).toEqual([range(2, 'number', null, [100, false])])
    expect(keys('7 <= new.level')).toEqual([range(1, 'number', [7, true], null)])
    expect(keys("new.type < 'm'")).toEqual([range(0, 'string', null, ['m', false])])
  })

  test('several bounds on one column keep the tightest', () => {
    expect(keys('new.level > 5 AND new.level >= 10 AND new.level < 50 AND new.level <= 50')).toEqual([range(1, 'number', [10, true], [50, false])])
    expect(keys('new.level >= 10 AND new.level > 10')).toEqual([range(1, 'number', [10, false], null)])
    expect(keys("new.level BETWEEN 1 AND 9 AND new.type = 'x'")).toEqual([{ kind: 'eq', source: 'event', column: 0, value: 'x' }, range(1, 'number', [1, true], [9, true])])
  })

  test('an integer column against a fractional constant, and times, compare as numbers', () => {
    expect(keys('new.level > 10.5')).toEqual([range(1, 'number', [10.5, false], null)])
    expect(keys("new.ts >= '2026-01-01 00:00:00+00'")).toEqual([range(3, 'number', [Date.UTC(2026, 0, 1) * 1000, true], null)])
  })

  test('IN and an OR of equalities on one column are sets; NULL in the list adds nothing', () => {
    expect(keys("new.type IN ('DE', 'FR')")).toEqual([{ kind: 'set', source: 'event', column: 0, values: ['DE', 'FR'] }])
    expect(keys("new.type IN ('DE', NULL, 'DE')")).toEqual([{ kind: 'set', source: 'event', column: 0, values: ['DE'] }])
    expect(keys("new.type = 'DE' OR new.type = 'FR' OR new.type IN ('IT')")).toEqual([{ kind: 'set', source: 'event', column: 0, values: ['DE', 'FR', 'IT'] }])
    expect(keys('new.level IN (1, 2.5)')).toEqual([{ kind: 'set', source: 'event', column: 1, values: [1, 2.5] }])
  })

  test('ignores what it cannot use: OR across columns, NOT, <>, NaN, intervals, columns of the joined view', () => {
    expect(keys("new.type = 'fight' OR new.level = 3")).toEqual([])
    expect(keys("new.type = 'fight' OR new.level > 3")).toEqual([])
    expect(keys('new.level NOT BETWEEN 1 AND 3')).toEqual([])
    expect(keys("new.type NOT IN ('a')")).toEqual([])
    expect(keys('new.level <> 3')).toEqual([])
    expect(keys("new.amount > 'NaN'")).toEqual([])
    expect(keys("new.amount IN (1, 'NaN')")).toEqual([])
    expect(keys("new.pause > INTERVAL '1 hour'")).toEqual([])
    expect(keys('new.vip > false')).toEqual([])
    expect(keys('p.lost = 3')).toEqual([])
    expect(keys('p.lost > 3')).toEqual([])
    expect(keys('new.level + 1 > 3')).toEqual([])
  })
})

describe('conditionKeys over numeric', () => {
  beforeAll(async () => {
    await initParser()
  })

  test('an exact numeric column is not indexed: its values are not JavaScript numbers', () => {
    const numericScope = new Scope([{ table: 'new', name: 'price', type: Types.numeric, nullable: true }])
    for (const sql of ['new.price > 100', 'new.price = 1.50', 'new.price BETWEEN 1 AND 2.5', 'new.price IN (1, 2)']) {
      expect(conditionKeys(bindExpr(parseExpression(sql), { scope: numericScope, params: [], clause: 'WHEN' }), 1), sql).toEqual([])
    }
  })
})
