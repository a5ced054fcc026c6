import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Row, Value } from '../../common/types.ts'
import { CacheBudget } from '../state/budget.ts'
import { rowCodec } from '../state/codec.ts'
import { positionKey, tableKeyString } from '../state/layout.ts'
import { StateDb, type Mutation } from '../state/rocks.ts'
import { StateTable } from '../state/table.ts'
import { AUDIT_BATCH, AuditLog, Outcome, auditRows, firingsOf } from './trigger-audit.ts'
import { StreamKeyState, rebuildKeyState } from './trigger-key-state.ts'
import { holdoutShare } from './trigger-fire.ts'

const NS = 9
const encodePosition = (p: number, o: number) => positionKey(NS, p, o)
const SHARED_NS = 0x20000000 + 3
const sharedKey = (values: readonly Value[]) => tableKeyString(SHARED_NS, values)
/** An event: [player, level, time]; the trigger's key is the player (column 0). */
const ev = (player: number, time: number): Row => [player, 3, time]

describe('trigger audit and per-key state on real RocksDB', () => {
  let dir: string
  let db: StateDb
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-trigger-audit-'))
    db = await StateDb.open(dir)
  })
  afterEach(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function commit(table: StateTable<Value[]>): Promise<void> {
    const out: Mutation[] = []
    table.collectDirty(out)
    await db.commit(out)
  }

  it('keeps the firings of a checkpoint as one entry per partition, reads it back with entries of the earlier layouts, and rebuilds per-key state from all', async () => {
    const table = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1000), true)
    // The first layout: one entry per firing, [time, key values, outcome, payload], under its position.
    table.append(encodePosition(0, 3), [100, [7], 'delivered', 'old-a'])
    table.append(encodePosition(0, 4), [110, [8], 'suppressed_cap', 'old-b'])
    // The second: one batch of flat values, [AUDIT_BATCH, n, then per firing offset, time, keys, outcome, payload].
    table.append(encodePosition(0, 5), [AUDIT_BATCH, 1, 5, 150, 8, Outcome.Delivered, 'old-c'])
    // Now: two batches of partition 0 (sealed one after the other), one entry when flushed.
    const log = new AuditLog()
    log.add(0, 10, 200, ev(7, 200), [0], Outcome.Delivered, 'a')
    log.add(0, 11, 210, ev(9, 210), [0], Outcome.HeldOut, 'b')
    log.seal()
    log.add(0, 12, 220, ev(7, 220), [0], Outcome.SuppressedCooldown, 'c')
    log.flush(table, encodePosition)
    expect(log.size).toBe(0)
    expect(table.stats().dirty).toBe(4)
    await commit(table)

    // A new table over the same namespace: what a restart reads.
    const reopened = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1000))
    const rows: Row[] = []
    for await (const r of auditRows(reopened)) rows.push(r)
    expect(rows).toEqual([
      [100, [7], 'delivered', 'old-a'],
      [110, [8], 'suppressed_cap', 'old-b'],
      [150, [8], 'delivered', 'old-c'],
      [200, [7], 'delivered', 'a'],
      [210, [9], 'held_out', 'b'],
      [220, [7], 'suppressed_cooldown', 'c'],
    ])

    // Per key: the firings that went out or were held out, and the time of the last one, into the
    // stream's shared table under a new tag.
    const shared = new StreamKeyState(() => ({ table: new StateTable<Value[]>(db, SHARED_NS, rowCodec, new CacheBudget(1000), true), encodeKey: sharedKey }))
    const { tag, keys } = await rebuildKeyState(reopened, shared, 42)
    expect(keys).toBe(3)
    await shared.load([sharedKey([7]), sharedKey([8]), sharedKey([9])])
    const read = (player: number, t: number) => {
      shared.read(sharedKey([player]), 42, t)
      return [shared.firings, shared.lastFire]
    }
    expect(read(7, tag)).toEqual([2, 200])
    expect(read(8, tag)).toEqual([1, 150])
    expect(read(9, tag)).toEqual([1, 210])
    // Another period's tag reads nothing.
    expect(read(7, tag + 1)).toEqual([0, null])
  })

  it('keeps multi-column keys and the offset of each firing, an entry per partition under its first firing', () => {
    const log = new AuditLog()
    const table = { appended: new Map<string, Value[]>(), append(k: string, v: Value[]) { this.appended.set(k, v) } }
    log.add(2, 40, 5, ['x', null, 5], [0, 1], Outcome.Inactive, null)
    // Another partition within a batch (the priority arbiter decides across partitions).
    log.add(1, 7, 4, ['w', 'v', 4], [0, 1], Outcome.Delivered, 'q')
    log.add(2, 41, 6, ['y', 'z', 6], [0, 1], Outcome.SuppressedPriority, 'p')
    log.seal()
    log.add(2, 50, 8, ['y', 'z', 8], [0, 1], Outcome.Pending, '{"a":1}')
    // Nothing goes to the table before the flush.
    expect(table.appended.size).toBe(0)
    log.flush(table, encodePosition)
    expect([...table.appended.keys()].sort()).toEqual([encodePosition(1, 7), encodePosition(2, 40)].sort())
    expect([...firingsOf(table.appended.get(encodePosition(2, 40))!)]).toEqual([
      { offset: 40, time: 5, key: ['x', null], outcome: 'inactive', payload: null },
      { offset: 41, time: 6, key: ['y', 'z'], outcome: 'suppressed_priority', payload: 'p' },
      { offset: 50, time: 8, key: ['y', 'z'], outcome: 'pending', payload: '{"a":1}' },
    ])
    expect([...firingsOf(table.appended.get(encodePosition(1, 7))!)]).toEqual([{ offset: 7, time: 4, key: ['w', 'v'], outcome: 'delivered', payload: 'q' }])
    // A flush with nothing new appends nothing; the next firings start a new entry.
    table.appended.clear()
    log.flush(table, encodePosition)
    expect(table.appended.size).toBe(0)
    log.add(2, 60, 9, ['x', 'x', 9], [0, 1], Outcome.Delivered, 'r')
    log.flush(table, encodePosition)
    expect([...table.appended.keys()]).toEqual([encodePosition(2, 60)])
  })
})

describe('AuditLog encoding', () => {
  it('writes the bytes the codec writes for the same values: numbers, -0, NaN, large times, Unicode, NULL and other values', () => {
    const log = new AuditLog()
    const table = { appended: new Map<string, Value[]>(), append(k: string, v: Value[]) { this.appended.set(k, v) } }
    const long = 'x'.repeat(70) + 'é'
    const firings: [number, number, Row, Outcome, Value][] = [
      [1, 1_764_000_000_000_000, [7, 'a'], Outcome.Delivered, '7'],
      [2, -0, [-0, 'Ünï ✓'], Outcome.HeldOut, null],
      [3, 2 ** 31, [Number.NaN, null], Outcome.Pending, long],
      [4, 1.5, [2 ** 31 - 1, ''], Outcome.Inactive, '{"a":[1,2]}'],
      [5, 0, [true, [1, 'b']], Outcome.Failed, 3.25],
      [6, 6, [false, { months: 1, days: 2, micros: 3 }], Outcome.SuppressedCap, 'a'.repeat(64)],
    ]
    for (const [offset, time, row, outcome, payload] of firings) log.add(0, offset, time, row, [0, 1], outcome, payload)
    log.flush(table, encodePosition)
    const entry = table.appended.get(encodePosition(0, 1))!
    expect(entry.length).toBe(2)
    const flat: Value[] = [2]
    for (const [offset, time, row, outcome, payload] of firings) flat.push(offset, time, row[0]!, row[1]!, outcome, payload)
    expect((entry[1] as Buffer).equals(rowCodec.encode(flat))).toBe(true)
    expect([...firingsOf(entry)].map((f) => f.payload)).toEqual(firings.map((f) => f[4]))
    expect(Object.is([...firingsOf(entry)][1]!.key[0], -0)).toBe(true)
  })

  it('starts a new chunk when the count of key columns changes between batches', () => {
    const log = new AuditLog()
    const table = { appended: new Map<string, Value[]>(), append(k: string, v: Value[]) { this.appended.set(k, v) } }
    log.add(3, 10, 1, ['a', 'b'], [0], Outcome.Delivered, 'p')
    log.seal()
    log.add(3, 11, 2, ['a', 'b'], [0, 1], Outcome.Delivered, 'q')
    expect(log.size).toBeGreaterThan(0)
    log.flush(table, encodePosition)
    expect(log.size).toBe(0)
    const entry = table.appended.get(encodePosition(3, 10))!
    expect(entry.length).toBe(3)
    expect([...firingsOf(entry)].map((f) => f.key)).toEqual([['a'], ['a', 'b']])
  })
})

describe('holdout', () => {
  it('puts every key where the earlier releases put it', () => {
    // Values of the hash before it was split into a per-trigger seed and a per-key part.
    expect(holdoutShare('welcome_offer', tableKeyString(12, [100000]))).toBe(0.47471215622499585)
    expect(holdoutShare('welcome_offer', tableKeyString(12, [100001]))).toBe(0.5582926492206752)
    expect(holdoutShare('t7', tableKeyString(12, [42]))).toBe(0.4488507315982133)
    expect(holdoutShare('vip', tableKeyString(12, ['ab\u0000c']))).toBe(0.49232828663662076)
    expect(holdoutShare('ünï', tableKeyString(12, [7]))).toBe(0.5199533570557833)
  })
})
