import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Value } from '../../common/types.ts'
import { CacheBudget } from './budget.ts'
import { jsonCodec, rowCodec, type Codec } from './codec.ts'
import { keyBytes, positionKey, tableKey } from './layout.ts'
import { StateDb, type Mutation } from './rocks.ts'
import { StateTable } from './table.ts'

describe('codecs', () => {
  it('round-trips every kind of value', () => {
    const row: Value[] = [null, true, false, 0, -0, 1.5, -7, 2 ** 40, NaN, Infinity, -Infinity, '', 'ünïcødé 🎮', { months: 1, days: -2, micros: 3.5 } as Value, [1, 'a', [null]] as Value, { n5: 1, 'sx\u0000y': 1 } as unknown as Value]
    const back = rowCodec.decode(rowCodec.encode(row))
    expect(back).toEqual(row)
    expect(Object.is(back[4], -0)).toBe(true)
    expect(jsonCodec.decode(jsonCodec.encode({ a: Infinity, b: [-Infinity, 1] }))).toEqual({ a: Infinity, b: [-Infinity, 1] })
  })

  it('round-trips bytea values as bytes, alone and in arrays', () => {
    const row: Value[] = [Buffer.from([0, 255, 16]), Buffer.alloc(0), [Buffer.from('ab'), null] as Value, 'after']
    const back = rowCodec.decode(rowCodec.encode(row))
    expect(back).toEqual(row)
    expect(Buffer.isBuffer(back[0])).toBe(true)
  })
})

describe('key layout', () => {
  it('orders numbers and strings by value and keeps namespaces apart', () => {
    const nums = [-1e300, -5, -0.5, 0, 0.25, 3, 1e12].map((n) => tableKey(7, [n]).key)
    expect([...nums].sort()).toEqual(nums)
    const strs = ['', 'a', 'a\u0000b', 'ab', 'b', 'é'].map((s) => tableKey(7, [s]).key)
    expect([...strs].sort()).toEqual(strs)
    const whole = tableKey(7, [])
    for (const k of [...nums, ...strs, positionKey(7, 3, 99)]) {
      const b = keyBytes(k)
      expect(Buffer.compare(b, whole.start) >= 0 && Buffer.compare(b, whole.end) < 0).toBe(true)
    }
    const other = keyBytes(tableKey(8, [0]).key)
    expect(Buffer.compare(other, whole.end) >= 0).toBe(true)
    // A prefix range covers exactly the keys that start with those values.
    const prefix = tableKey(7, [1])
    const inside = keyBytes(tableKey(7, [1, 'x']).key)
    const outside = keyBytes(tableKey(7, [2, 'x']).key)
    expect(Buffer.compare(inside, prefix.end) < 0 && Buffer.compare(inside, prefix.start) > 0).toBe(true)
    expect(Buffer.compare(outside, prefix.end) >= 0).toBe(true)
  })
})

describe('StateDb and StateTable on real RocksDB', () => {
  let dir: string
  let db: StateDb
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-state-'))
    db = await StateDb.open(dir)
  })
  afterEach(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('commits atomically, reads many, scans in order, deletes ranges, and survives a reopen', async () => {
    const muts: Mutation[] = []
    for (let i = 0; i < 1000; i++) muts.push({ kind: 'put', key: Buffer.from(`k${String(i).padStart(4, '0')}`), value: Buffer.from(`v${i}`) })
    await db.commit(muts)
    const got = await db.getMany([Buffer.from('k0007'), Buffer.from('nope'), Buffer.from('k0999')])
    expect(got.map((b) => b?.toString() ?? null)).toEqual(['v7', null, 'v999'])
    await db.commit([{ kind: 'deleteRange', start: Buffer.from('k0000'), end: Buffer.from('k0500') }, { kind: 'delete', key: Buffer.from('k0999') }])
    const keys: string[] = []
    for await (const [k] of db.scan({ gte: Buffer.from('k'), lt: Buffer.from('l') })) keys.push(k.toString())
    expect(keys).toHaveLength(499)
    expect(keys[0]).toBe('k0500')
    expect(keys).toEqual([...keys].sort())
    await db.close()
    db = await StateDb.open(dir)
    expect((await db.get(Buffer.from('k0500')))?.toString()).toBe('v500')
    expect(await db.get(Buffer.from('k0999'))).toBeNull()
  })

  it('caches, writes back on checkpoint, merges uncommitted writes into scans, and evicts clean entries', async () => {
    const budget = new CacheBudget(10)
    const table = new StateTable<Value[]>(db, 3, rowCodec, budget)
    const key = (n: number) => tableKey(3, [n]).key
    await table.load([key(1), key(2)])
    expect(table.get(key(1))).toBeUndefined()
    table.set(key(1), [1, 'one'])
    table.set(key(2), [2, 'two'])
    const first: Mutation[] = []
    table.collectDirty(first)
    expect(first).toHaveLength(2)
    await db.commit(first)
    table.set(key(3), [3, 'three'])
    table.delete(key(1))
    table.set(key(2), [2, 'TWO'])
    const seen: Value[][] = []
    for await (const [, v] of table.scan()) seen.push(v)
    expect(seen).toEqual([[2, 'TWO'], [3, 'three']])

    // A fresh table over the same namespace sees only what was committed.
    const other = new StateTable<Value[]>(db, 3, rowCodec, new CacheBudget(10))
    await other.load([key(1), key(2), key(3)])
    expect([other.get(key(1)), other.get(key(2)), other.get(key(3))]).toEqual([[1, 'one'], [2, 'two'], undefined])

    // Over budget, clean entries go (oldest first) and come back from RocksDB on the next load.
    const second: Mutation[] = []
    table.collectDirty(second)
    await db.commit(second)
    const many = Array.from({ length: 20 }, (_, i) => key(100 + i))
    await table.load(many)
    expect(table.stats().cached).toBeLessThanOrEqual(22)
    await table.load([key(2)])
    expect(table.get(key(2))).toEqual([2, 'TWO'])
  })

  it('scans correctly while a checkpoint batch is still being written', async () => {
    const budget = new CacheBudget(100)
    const table = new StateTable<Value[]>(db, 4, rowCodec, budget, true)
    const key = (n: number) => tableKey(4, [n]).key
    table.set(key(1), [1])
    table.set(key(2), [2])
    const first: Mutation[] = []
    table.collectDirty(first)
    await db.commit(first)
    // As the engine does: collect (entries become clean in memory) and keep working while RocksDB writes.
    table.delete(key(1))
    table.set(key(3), [3])
    const second: Mutation[] = []
    table.collectDirty(second)
    budget.commitsInFlight++
    const rows: Value[][] = []
    try {
      const scanned = (async () => {
        for await (const [, v] of table.scan()) rows.push(v)
      })()
      await Promise.all([scanned, db.commit(second)])
    } finally {
      budget.commitsInFlight--
    }
    expect(rows).toEqual([[2], [3]])
    // Deferring the scan until before the write lands is the worst case: RocksDB still has the old state.
    table.set(key(4), [4])
    table.delete(key(2))
    const third: Mutation[] = []
    table.collectDirty(third)
    budget.commitsInFlight++
    const early: Value[][] = []
    for await (const [, v] of table.scan()) early.push(v)
    await db.commit(third)
    budget.commitsInFlight--
    expect(early).toEqual([[3], [4]])
    const after: Value[][] = []
    for await (const [, v] of table.scan()) after.push(v)
    expect(after).toEqual([[3], [4]])
  })
  it('keeps appended entries out of the cache and still shows them to reads and scans, before and while they are written', async () => {
    const budget = new CacheBudget(100)
    const table = new StateTable<Value[]>(db, 5, rowCodec, budget, true)
    const key = (n: number) => tableKey(5, [n]).key
    table.set(key(2), [2])
    table.append(key(1), [1, 'audit'])
    table.append(key(3), [3, 'audit'])
    // Readable (a subscriber loads what a step wrote), but not cached.
    expect(table.get(key(1))).toEqual([1, 'audit'])
    expect(table.stats()).toMatchObject({ cached: 1, dirty: 3 })
    const before: Value[][] = []
    for await (const [, v] of table.scan()) before.push(v)
    expect(before).toEqual([[1, 'audit'], [2], [3, 'audit']])
    const batch: Mutation[] = []
    table.collectDirty(batch)
    expect(batch).toHaveLength(3)
    budget.commitsInFlight++
    const during: Value[][] = []
    for await (const [, v] of table.scan()) during.push(v)
    await db.commit(batch)
    budget.commitsInFlight--
    expect(during).toEqual(before)
    const after: Value[][] = []
    for await (const [, v] of table.scan()) after.push(v)
    expect(after).toEqual(before)
    expect(table.stats().cached).toBe(1)
  })
  it('counts an appended entry holding a batch of rows as its rows, so that the appended limit bounds rows, not batches', async () => {
    const budget = new CacheBudget(100, 1000)
    const table = new StateTable<Value[][]>(db, 9, jsonCodec as Codec<Value[][]>, budget, true)
    const key = (n: number) => tableKey(9, [n]).key
    const batch = (n: number): Value[][] => Array.from({ length: n }, (_, i) => [i])
    table.append(key(1), batch(400), 400)
    table.append(key(2), batch(400), 400)
    expect(budget.stats().appended).toBe(800)
    expect(budget.overBudgetDirty()).toBe(false)
    // Three batches of 400 rows are 1,200 rows: past the limit of 1,000, though only three entries.
    table.append(key(3), batch(400), 400)
    expect(budget.overBudgetDirty()).toBe(true)
    const written: Mutation[] = []
    table.collectDirty(written)
    expect(written).toHaveLength(3)
    expect(budget.stats().appended).toBe(0)
    // A checkpoint that fails puts the rows back under the limit's count.
    table.restoreUnflushed()
    expect(budget.stats().appended).toBe(1200)
  })
  it('appends to a key a lookup found absent, so reads see the row (a key never committed is not cached)', async () => {
    const budget = new CacheBudget(100)
    const table = new StateTable<Value[]>(db, 6, rowCodec, budget, true)
    const key = (n: number) => tableKey(6, [n]).key
    await table.load([key(1)])
    expect(table.get(key(1))).toBeUndefined()
    table.append(key(1), [1, 'closed window'])
    table.append(key(2), [2, 'closed window'])
    expect(table.get(key(1))).toEqual([1, 'closed window'])
    expect(table.stats()).toMatchObject({ cached: 0, dirty: 2 })
    const batch: Mutation[] = []
    table.collectDirty(batch)
    expect(batch.map((m) => m.kind)).toEqual(['put', 'put'])
  })
  it('drops an entry deleted before any checkpoint wrote it, and keeps a tombstone for one RocksDB has', async () => {
    const budget = new CacheBudget(100)
    const table = new StateTable<Value[]>(db, 8, rowCodec, budget, true)
    const key = (n: number) => tableKey(8, [n]).key
    table.set(key(1), [1])
    const first: Mutation[] = []
    table.collectDirty(first)
    await db.commit(first)
    table.set(key(2), [2])
    table.delete(key(2))
    table.delete(key(3))
    table.delete(key(1))
    expect(table.stats()).toMatchObject({ cached: 1, dirty: 1 })
    expect(table.get(key(2))).toBeUndefined()
    const batch: Mutation[] = []
    table.collectDirty(batch)
    expect(batch).toEqual([{ kind: 'delete', key: keyBytes(key(1)) }])
    await db.commit(batch)
    const rows: Value[][] = []
    for await (const [, v] of table.scan()) rows.push(v)
    expect(rows).toEqual([])
  })
  it('marks an entry written again and again between checkpoints dirty once, and collects its last value', async () => {
    const budget = new CacheBudget(100)
    const table = new StateTable<Value[]>(db, 7, rowCodec, budget, true)
    const key = tableKey(7, [1]).key
    for (let i = 0; i < 5; i++) table.set(key, [i])
    table.delete(key)
    table.set(key, [9])
    expect(table.stats()).toMatchObject({ cached: 1, dirty: 1 })
    const batch: Mutation[] = []
    table.collectDirty(batch)
    expect(batch).toHaveLength(1)
    expect(rowCodec.decode((batch[0] as { value: Buffer }).value)).toEqual([9])
    table.set(key, [10])
    expect(table.stats().dirty).toBe(1)
  })
  it('asks for an early checkpoint past the appended rows limit, and forgets its copies of them once the commit landed', async () => {
    const budget = new CacheBudget(1000, 3)
    const table = new StateTable<Value[]>(db, 7, rowCodec, budget, true)
    const pos = (o: number) => positionKey(7, 0, o)
    for (let o = 0; o < 3; o++) table.append(pos(o), [o])
    table.append(pos(2), [22])
    expect(budget.overBudgetDirty()).toBe(false)
    table.append(pos(3), [3])
    expect(budget.overBudgetDirty()).toBe(true)
    const batch: Mutation[] = []
    table.collectDirty(batch)
    expect(batch).toHaveLength(4)
    expect(budget.overBudgetDirty()).toBe(false)
    expect(budget.stats().appended).toBe(0)
    // While the commit is in flight the rows are still answered from memory.
    budget.commitsInFlight++
    const landing = db.commit(batch)
    expect(table.get(pos(2))).toEqual([22])
    table.commitLanded()
    expect(table.get(pos(2))).toEqual([22])
    await landing
    budget.commitsInFlight--
    table.commitLanded()
    // Landed: RocksDB answers them.
    expect(table.get(pos(2))).toBeUndefined()
    await table.load([pos(2)])
    expect(table.get(pos(2))).toEqual([22])
    const rows: Value[][] = []
    for await (const [, v] of table.scan()) rows.push(v)
    expect(rows).toEqual([[0], [1], [22], [3]])
  })
})
