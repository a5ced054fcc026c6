import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Value } from '../../common/types.ts'
import { CacheBudget } from '../state/budget.ts'
import { rowCodec } from '../state/codec.ts'
import { tableKeyString } from '../state/layout.ts'
import { StateDb, type Mutation } from '../state/rocks.ts'
import { StateTable } from '../state/table.ts'
import { StreamKeyState } from './trigger-key-state.ts'

const NS = 0x20000000 + 5
const key = (v: Value) => tableKeyString(NS, [v])

describe("the stream's shared per-key trigger state on real RocksDB", () => {
  let dir: string
  let db: StateDb
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-trigger-keys-'))
    db = await StateDb.open(dir)
  })
  afterEach(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })

  const open = (fresh: boolean) => {
    const table = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1000), fresh)
    return { table, states: new StreamKeyState(() => ({ table, encodeKey: (values) => tableKeyString(NS, values) })) }
  }

  it('keeps each trigger its own part of a key, reads only its own tag, and drops parts of triggers gone when the entry grows', async () => {
    const { table, states } = open(true)
    for (const id of [30, 10, 20]) states.register(id)
    await states.load([key(7)])
    // Written out of id order: parts stay sorted, found by binary search.
    states.record(key(7), 30, 333, 1, 1000)
    states.record(key(7), 10, 111, 2, 2000)
    states.record(key(7), 20, 222, 3, 3000)
    states.record(key(7), 10, 111, 4, 4000)
    expect(table.get(key(7))).toEqual([10, 111, 4, 4000, 20, 222, 3, 3000, 30, 333, 1, 1000])
    const out: Mutation[] = []
    table.collectDirty(out)
    await db.commit(out)

    // After a restart: parts read back; a trigger with the same id but another tag (a later trigger that
    // got a dropped one's id, or another keeping period) starts from nothing.
    const again = open(false)
    const read = (k: string, id: number, tag: number) => {
      again.states.read(k, id, tag)
      return [again.states.firings, again.states.lastFire]
    }
    for (const id of [10, 30, 40]) again.states.register(id) // 20 was dropped
    await again.states.load([key(7)])
    expect(read(key(7), 10, 111)).toEqual([4, 4000])
    expect(read(key(7), 30, 999)).toEqual([0, null])
    expect(read(key(7), 20, 222)).toEqual([3, 3000]) // still there until the entry grows
    again.states.record(key(7), 40, 444, 1, 5000)
    expect(again.table.get(key(7))).toEqual([10, 111, 4, 4000, 30, 333, 1, 1000, 40, 444, 1, 5000])
    expect(read(key(8), 10, 111)).toEqual([0, null])
  })
})
