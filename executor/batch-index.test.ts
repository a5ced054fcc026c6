import { describe, expect, test } from 'vitest'
import { BatchIndex, eventKeysHold, keysHold } from './batch-index.ts'

describe('BatchIndex', () => {
  const batch = {
    offsets: [10, 11, 12, 13, 14],
    rows: [['fight', 5], null, ['login', 9], ['fight', 7], ['fight', 2]],
  }
  const index = new BatchIndex(batch, (row) => row[1] ?? null)

  test('counts events and the largest watermark from any row on, skipping dead letters', () => {
    expect(index.events(0)).toBe(4)
    expect(index.events(index.firstAt(12))).toBe(3)
    expect(index.maxWatermark(0)).toBe(9)
    expect(index.maxWatermark(index.firstAt(13))).toBe(7)
    expect(index.events(index.firstAt(99))).toBe(0)
    expect(index.maxWatermark(index.firstAt(99))).toBe(Number.NEGATIVE_INFINITY)
  })

  test('gives the rows holding a value of a column, in order', () => {
    expect(index.rowsWith(0, 'fight')).toEqual([0, 3, 4])
    expect(index.rowsWith(0, 'login')).toEqual([2])
    expect(index.rowsWith(0, 'shop')).toEqual([])
  })
})

describe('BatchIndex with ranges and sets', () => {
  const lo = (value: number | string, inclusive = true) => ({ value, inclusive })
  const range = (column: number, lower: ReturnType<typeof lo> | null, upper: ReturnType<typeof lo> | null, domain: 'number' | 'string' = 'number') =>
    ({ kind: 'range', source: 'event', column, domain, lower, upper }) as const
  // Column 0 int-like, 1 float with NULLs and NaN, 2 text.
  const rows = [
    [5, 1.5, 'b'],
    [20, null, 'B'],
    null,
    [40, 2.25, 'a'],
    [20, Number.NaN, 'ab'],
    [41, -0, null],
    [19, 2, 'é'],
    [-3, 1e308, 'Z'],
  ]
  const index = new BatchIndex({ offsets: rows.map((_, i) => i), rows }, null)
  const naive = (column: number, test: (v: number | string) => boolean) =>
    rows.flatMap((r, i) => (r === null || r[column] === null || r[column] === undefined ? [] : test(r[column]) ? [i] : []))

  test('bounds inclusive and exclusive, one-sided and two-sided, rows in order', () => {
    expect(index.rowsFor(range(0, lo(20), lo(40)))).toEqual([1, 3, 4])
    expect(index.rowsFor(range(0, lo(20, false), lo(40)))).toEqual([3])
    expect(index.rowsFor(range(0, lo(20), lo(40, false)))).toEqual([1, 4])
    expect(index.rowsFor(range(0, lo(20, false), lo(40, false)))).toEqual([])
    expect(index.rowsFor(range(0, null, lo(5)))).toEqual([0, 7])
    expect(index.rowsFor(range(0, lo(40, false), null))).toEqual([5])
    expect(index.rowsFor(range(0, null, null))).toEqual([0, 1, 3, 4, 5, 6, 7])
    expect(index.count(range(0, lo(20), lo(40)))).toBe(3)
  })

  test('an empty or inverted range has no rows', () => {
    expect(index.rowsFor(range(0, lo(30), lo(10)))).toEqual([])
    expect(index.count(range(0, lo(30), lo(10)))).toBe(0)
    expect(index.rowsFor(range(0, lo(1000), null))).toEqual([])
  })

  test('integers against fractional bounds and floats against integral ones compare as numbers', () => {
    expect(index.rowsFor(range(0, lo(19.5), lo(40.5)))).toEqual([1, 3, 4])
    expect(index.rowsFor(range(1, lo(2), null))).toEqual(naive(1, (v) => (v as number) >= 2))
    expect(index.rowsFor(range(1, lo(2), null))).toEqual([3, 6, 7])
  })

  test('NULL and NaN are in no range; -0 equals 0', () => {
    expect(index.rowsFor(range(1, null, null))).toEqual([0, 3, 5, 6, 7])
    expect(index.rowsFor(range(1, lo(0), lo(0)))).toEqual([5])
    expect(index.rowsFor(range(2, null, null, 'string'))).toEqual([0, 1, 3, 4, 6, 7])
  })

  test('text compares by code units, as the engine compares text', () => {
    expect(index.rowsFor(range(2, lo('a'), lo('b'), 'string'))).toEqual(naive(2, (v) => v >= 'a' && v <= 'b'))
    expect(index.rowsFor(range(2, lo('a'), lo('b'), 'string'))).toEqual([0, 3, 4])
    expect(index.rowsFor(range(2, lo('Z', false), null, 'string'))).toEqual([0, 3, 4, 6])
  })

  test('a set is the union of its values, in row order', () => {
    expect(index.rowsFor({ kind: 'set', source: 'event', column: 0, values: [40, 20] })).toEqual([1, 3, 4])
    expect(index.rowsFor({ kind: 'set', source: 'event', column: 2, values: ['a'] })).toEqual([3])
    expect(index.rowsFor({ kind: 'set', source: 'event', column: 2, values: ['nowhere'] })).toEqual([])
    expect(index.count({ kind: 'set', source: 'event', column: 0, values: [40, 20, 7] })).toBe(3)
  })

  test('narrowest takes the key with the fewest rows, and nothing when one has none', async () => {
    const keys = [range(0, lo(0), null), { kind: 'eq', source: 'event', column: 2, value: 'a' } as const, { kind: 'set', source: 'event', column: 0, values: [40, 20] } as const]
    expect(await index.narrowest(keys)).toEqual([3])
    expect(await index.narrowest([range(0, lo(0), null), range(1, lo(5e308), null)])).toEqual([])
  })

  test('long runs come back in row order too (bitmap path)', () => {
    const many = Array.from({ length: 2000 }, (_, i) => [(i * 7919) % 1000])
    const big = new BatchIndex({ offsets: many.map((_, i) => i), rows: many }, null)
    const want = many.flatMap((r, i) => (r[0]! >= 100 && r[0]! < 900 ? [i] : []))
    expect(big.rowsFor(range(0, lo(100), lo(900, false)))).toEqual(want)
    const few = many.flatMap((r, i) => (r[0]! > 990 ? [i] : []))
    expect(big.rowsFor(range(0, lo(990, false), null))).toEqual(few)
  })

  test('an empty batch has no rows for any key', async () => {
    const empty = new BatchIndex({ offsets: [], rows: [] }, null)
    expect(empty.rowsFor(range(0, null, null))).toEqual([])
    expect(empty.rowsFor({ kind: 'set', source: 'event', column: 0, values: [1] })).toEqual([])
    expect(await empty.narrowest([range(0, lo(1), null)])).toEqual([])
  })
})

describe('BatchIndex with keys on a joined view', () => {
  // Events: [player, level]; the view's row per player: [player, spent]; player 9 has none.
  const events = [[1, 5], [2, 50], [9, 7], null, [1, 60], [3, 8]]
  const spent = new Map<number, number | null>([[1, 120], [2, 80], [3, null]])
  const joinedView = () => {
    const calls: number[] = []
    const lookup = {
      async rows(batch: { rows: readonly unknown[] }, keys: readonly (unknown[] | null)[]) {
        calls.push(keys.filter((k) => k !== null).length)
        return keys.map((k) => (k === null || !spent.has(k[0] as number) ? null : [k[0] as number, spent.get(k[0] as number)!]))
      },
    }
    return { calls, joined: { lookup, keyIndexes: [0] } }
  }
  const spentAbove = (v: number) => ({ kind: 'range', source: 'view', column: 1, domain: 'number', lower: { value: v, inclusive: false }, upper: null }) as const
  const levelBelow = (v: number) => ({ kind: 'range', source: 'event', column: 1, domain: 'number', lower: null, upper: { value: v, inclusive: false } }) as const

  test("a key on the view's column picks the events whose view row satisfies it; no row and NULL never do", async () => {
    const index = new BatchIndex({ offsets: events.map((_, i) => i), rows: events }, null)
    const { joined } = joinedView()
    expect(await index.narrowest([spentAbove(100)], joined)).toEqual([0, 4])
    expect(await index.narrowest([spentAbove(0)], joined)).toEqual([0, 1, 4])
    expect(await index.narrowest([{ kind: 'set', source: 'view', column: 1, values: [80, 81] }], joined)).toEqual([1])
  })

  test('the view rows are read once per batch for every trigger joining the view the same way', async () => {
    const index = new BatchIndex({ offsets: events.map((_, i) => i), rows: events }, null)
    const { calls, joined } = joinedView()
    await index.narrowest([spentAbove(100)], joined)
    await index.narrowest([spentAbove(10)], { ...joined })
    expect(calls).toEqual([5])
  })

  test("an event key that leaves few rows is used without reading the view; one that leaves many is not", async () => {
    const many = Array.from({ length: 40 }, (_, i) => [1 + (i % 3), i])
    const index = new BatchIndex({ offsets: many.map((_, i) => i), rows: many }, null)
    const { calls, joined } = joinedView()
    expect(await index.narrowest([levelBelow(3), spentAbove(100)], joined)).toEqual([0, 1, 2])
    expect(calls).toEqual([])
    // Level below 39 leaves nearly all rows: the view is read, and its key (player 1 only) kept with the event's.
    expect(await index.narrowest([levelBelow(39), spentAbove(100)], joined)).toEqual(many.flatMap((r, i) => (r[0] === 1 && r[1]! < 39 ? [i] : [])))
    expect(calls).toEqual([40])
  })

  test('without the join, keys on the view are not used', async () => {
    const index = new BatchIndex({ offsets: events.map((_, i) => i), rows: events }, null)
    expect(await index.narrowest([spentAbove(100)])).toEqual([0, 1, 2, 4, 5])
  })
})

describe('BatchIndex.narrowest over several keys', () => {
  test('every key is applied: the rows satisfy all of them, in order', async () => {
    const rows = Array.from({ length: 600 }, (_, i) => [['DE', 'FR', 'IT', 'ES', 'PL'][i % 5]!, i % 6 === 0 ? 'login' : 'fight', i % 100])
    const index = new BatchIndex({ offsets: rows.map((_, i) => i), rows }, null)
    const keys = [
      { kind: 'set', source: 'event', column: 0, values: ['DE'] },
      { kind: 'eq', source: 'event', column: 1, value: 'login' },
      { kind: 'range', source: 'event', column: 2, domain: 'number', lower: { value: 10, inclusive: true }, upper: null },
    ] as const
    const all = rows.flatMap((r, i) => (r[0] === 'DE' && r[1] === 'login' && (r[2] as number) >= 10 ? [i] : []))
    expect(all.length).toBeGreaterThan(0)
    expect(await index.narrowest(keys)).toEqual(all)
    // Kept for the batch: a second trigger with the same keys (objects of its own) gets the same rows.
    expect(await index.narrowest(keys.map((k) => ({ ...k })))).toBe(await index.narrowest(keys))
  })

  // Column 0 a float with NULL, NaN and -0; 1 text of mixed case; 2 an integer.
  const rows = [
    [0, 'a', 1],
    [-0, 'A', 1],
    [Number.NaN, 'a', 1],
    null,
    [null, 'a', 1],
    [2.5, 'b', 2],
    [0, 'a', 2],
    [-1, 'B', 1],
    [2.5, 'a', 1],
  ]
  const batch = { offsets: rows.map((_, i) => i), rows }
  const range = (column: number, lower: number | string | null, upper: number | string | null, domain: 'number' | 'string' = 'number') =>
    ({ kind: 'range', source: 'event', column, domain, lower: lower === null ? null : { value: lower, inclusive: true }, upper: upper === null ? null : { value: upper, inclusive: true } }) as const
  const eq = (column: number, value: number | string) => ({ kind: 'eq', source: 'event', column, value }) as const
  const set = (column: number, values: (number | string)[]) => ({ kind: 'set', source: 'event', column, values }) as const
  // What the index must give: the rows on which every key holds as the engine's comparisons say.
  const naive = (keys: readonly Parameters<typeof keysHold>[0][number][]) => rows.flatMap((r, i) => (r !== null && keysHold(keys, r, 3) ? [i] : []))

  test.each([
    ['-0 equals 0, NaN and NULL in no range', [range(0, 0, 0), eq(2, 1)], [0, 1]],
    ['a set with 0 holds -0 too', [set(0, [0, 2.5]), eq(1, 'a')], [0, 6, 8]],
    ['text by code units: a and A differ', [eq(1, 'a'), range(0, -1, 3)], [0, 6, 8]],
    ['a text range of mixed case', [range(1, 'A', 'Z', 'string'), range(0, null, 0)], [1, 7]],
    ['an empty set leaves nothing', [set(1, []), range(0, null, null)], []],
    ['a key no row holds leaves nothing', [eq(1, 'c'), range(0, null, null)], []],
    ['a range holds no NULL or NaN: with an equality that does', [range(0, null, null), eq(1, 'a')], [0, 6, 8]],
  ] as const)('%s', async (_what, keys, want) => {
    const index = new BatchIndex(batch, null)
    expect(await index.narrowest(keys)).toEqual(want)
    expect(naive(keys)).toEqual(want)
  })

  test('the order of the keys makes no difference', async () => {
    const keys = [range(0, -1, 3), eq(1, 'a'), set(2, [1])] as const
    const want = naive(keys)
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) expect(await new BatchIndex(batch, null).narrowest(order.map((k) => keys[k]!))).toEqual(want)
  })
})

describe('eventKeysHold', () => {
  // A trigger joined to a view: WHEN (NEW.type = 'fight' AND NEW.level BETWEEN 20 AND 40 AND p.spent > 100).
  const keys = [
    { kind: 'eq', source: 'event', column: 0, value: 'fight' },
    { kind: 'range', source: 'event', column: 1, domain: 'number', lower: { value: 20, inclusive: true }, upper: { value: 40, inclusive: true } },
    { kind: 'range', source: 'view', column: 0, domain: 'number', lower: { value: 100, inclusive: false }, upper: null },
  ] as const

  test('tests the keys on the event only, before the join: the view key is left to the joined row', () => {
    expect(eventKeysHold(keys, ['fight', 20])).toBe(true)
    expect(eventKeysHold(keys, ['fight', 41])).toBe(false)
    expect(eventKeysHold(keys, ['login', 30])).toBe(false)
    expect(eventKeysHold(keys, ['fight', null])).toBe(false)
    expect(eventKeysHold(keys, ['fight', '30'])).toBe(false)
    // Joined (the view's columns after the event's two): the view key decides.
    expect(keysHold(keys, ['fight', 30, 101], 2)).toBe(true)
    expect(keysHold(keys, ['fight', 30, 100], 2)).toBe(false)
    expect(keysHold(keys, ['fight', 30, null], 2)).toBe(false)
  })
})
