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
import { AuditBatch, Outcome, auditRows, firingsOf } from './trigger-audit.ts'
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

  it('keeps a batch of firings as one entry, reads it back with entries of the earlier layout, and rebuilds per-key state from both', async () => {
    const table = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1000), true)
    // The earlier layout: one entry per firing, [time, key values, outcome, payload], under its position.
    table.append(encodePosition(0, 3), [100, [7], 'delivered', 'old-a'])
    table.append(encodePosition(0, 4), [110, [8], 'suppressed_cap', 'old-b'])
    // A batch in the new layout: three firings of partition 0, one entry.
    const batch = new AuditBatch()
    batch.add(0, 10, 200, ev(7, 200), [0], Outcome.Delivered, 'a')
    batch.add(0, 11, 210, ev(9, 210), [0], Outcome.HeldOut, 'b')
    batch.add(0, 12, 220, ev(7, 220), [0], Outcome.SuppressedCooldown, 'c')
    expect(batch.accepts(1)).toBe(false)
    batch.flush(table, encodePosition)
    expect(batch.size).toBe(0)
    expect(table.stats().dirty).toBe(3)
    await commit(table)

    // A new table over the same namespace: what a restart reads.
    const reopened = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1000))
    const rows: Row[] = []
    for await (const r of auditRows(reopened)) rows.push(r)
    expect(rows).toEqual([
      [100, [7], 'delivered', 'old-a'],
      [110, [8], 'suppressed_cap', 'old-b'],
      [200, [7], 'delivered', 'a'],
      [210, [9], 'held_out', 'b'],
      [220, [7], 'suppressed_cooldown', 'c'],
    ])

    // Per key: the firings that went out or were held out, and the time of the last one, into the
    // stream's shared table under a new tag.
    const shared = new StreamKeyState(() => ({ table: new StateTable<Value[]>(db, SHARED_NS, rowCodec, new CacheBudget(1000), true), encodeKey: sharedKey }))
    const { tag, keys } = await rebuildKeyState(reopened, shared, 42)
    expect(keys).toBe(2)
    await shared.load([sharedKey([7]), sharedKey([8]), sharedKey([9])])
    const read = (player: number, t: number) => {
      shared.read(sharedKey([player]), 42, t)
      return [shared.firings, shared.lastFire]
    }
    expect(read(7, tag)).toEqual([2, 200])
    expect(read(8, tag)).toEqual([0, null])
    expect(read(9, tag)).toEqual([1, 210])
    // Another period's tag reads nothing.
    expect(read(7, tag + 1)).toEqual([0, null])
  })

  it('keeps multi-column keys and the offset of each firing', () => {
    const batch = new AuditBatch()
    const table = { appended: new Map<string, Value[]>(), append(k: string, v: Value[]) { this.appended.set(k, v) } }
    batch.add(2, 40, 5, ['x', null, 5], [0, 1], Outcome.Inactive, null)
    batch.add(2, 41, 6, ['y', 'z', 6], [0, 1], Outcome.SuppressedPriority, 'p')
    batch.flush(table, encodePosition)
    const [key, value] = [...table.appended][0]!
    expect(key).toBe(encodePosition(2, 40))
    expect([...firingsOf(value)]).toEqual([
      { offset: 40, time: 5, key: ['x', null], outcome: 'inactive', payload: null },
      { offset: 41, time: 6, key: ['y', 'z'], outcome: 'suppressed_priority', payload: 'p' },
    ])
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
