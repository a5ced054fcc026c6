import { beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseExpression } from '../parser/index.ts'
import { Types } from '../common/types.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import { conditionKeys, keysCover } from './index-key.ts'
import { keysHold } from '../executor/batch-index.ts'
import { compilePredicate } from '../expr/compile.ts'

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

describe('keysCover and keysHold', () => {
  beforeAll(async () => {
    await initParser()
  })
  const bound = (sql: string) => bindExpr(parseExpression(sql), { scope, params: [], clause: 'WHEN' })
  const cover = (sql: string) => keysCover(bound(sql), 6, 1)

  test('the keys cover a condition only when every conjunct became one', () => {
    expect(cover("new.type = 'fight' AND new.level BETWEEN 20 AND 40")).toBe(true)
    expect(cover("new.type IN ('a', 'b') AND new.amount >= 98.5 AND p.lost < 3")).toBe(true)
    expect(cover("new.type = 'a' OR new.type = 'b'")).toBe(true)
    expect(cover('new.vip = true')).toBe(true)
    expect(cover("new.type = 'fight' AND (p.lost > 10 OR p.lost IS NULL)")).toBe(false)
    expect(cover('new.level <> 3')).toBe(false)
    expect(cover('new.vip > false')).toBe(false)
    expect(cover('new.level + 1 > 3')).toBe(false)
  })

  test('on a covered condition, the keys hold exactly where the compiled condition is true', () => {
    const types = [null, 'fight', 'login', 'b', 'B', 'é', '']
    const numbers = [null, -3, 0, -0, 19, 20, 20.5, 40, 41, 98.5, 98.6, Number.NaN, 1e308]
    const rows: (string | number | boolean | null)[][] = []
    for (let i = 0; i < 400; i++) {
      rows.push([types[i % types.length]!, numbers[i % numbers.length]!, numbers[(i * 7) % numbers.length]!, i, i % 3 === 0 ? null : i % 2 === 0, null, numbers[(i * 5) % numbers.length]!])
    }
    const conditions = [
      "new.type = 'fight' AND new.level BETWEEN 20 AND 40",
      "new.type IN ('b', 'é', NULL) AND new.amount > 0 AND new.amount <= 98.5",
      'new.level >= 20 AND new.level < 41 AND new.level > -0',
      "new.type >= 'B' AND new.type < 'fight'",
      'new.vip = false AND p.lost BETWEEN 0 AND 40',
      'new.level = 20 OR new.level = 41 OR new.level IN (0)',
    ]
    for (const sql of conditions) {
      const e = bound(sql)
      expect(keysCover(e, 6, 1), sql).toBe(true)
      const keys = conditionKeys(e, 6, 1)
      const predicate = compilePredicate(e)
      const ctx = { now: 0, user: 'u', database: 'd' }
      let held = 0
      for (const row of rows) {
        const holds = keysHold(keys, row, 6)
        expect(holds, `${sql} on ${JSON.stringify(row)}`).toBe(predicate(row, [], ctx))
        if (holds) held++
      }
      // Both answers occur: the comparison above is no comparison of two constants.
      expect(held > 0 && held < rows.length, sql).toBe(true)
    }
  })
})
