/**
 * StateTable.storedBytes (what max_state is held to) against what RocksDB really holds: puts read first,
 * puts and deletes of keys never read (sized by a lookup), appends, and a table opened again.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { Value } from '../../common/types.ts'
import { CacheBudget } from './budget.ts'
import { rowCodec } from './codec.ts'
import { tableKey } from './layout.ts'
import { StateDb, type Mutation } from './rocks.ts'
import { StateTable } from './table.ts'

let dir: string
let db: StateDb
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-bytes-'))
  db = await StateDb.open(dir)
})
afterEach(async () => {
  await db.close()
  await rm(dir, { recursive: true, force: true })
})

const NS = 9
const key = (i: number) => tableKey(NS, [i]).key

/** Bytes of keys and values RocksDB holds in the table's namespace. */
async function actualBytes(): Promise<number> {
  const r = tableKey(NS, [])
  let n = 0
  for await (const [k, v] of db.scan({ gte: r.start, lt: r.end })) n += k.length + v.length
  return n
}

async function checkpoint(table: StateTable<Value[]>): Promise<void> {
  await table.sizesSettled()
  const muts: Mutation[] = []
  table.collectDirty(muts)
  await db.commit(muts)
}

it('follows what RocksDB holds through puts, overwrites, blind writes, deletes and appends', async () => {
  const budget = new CacheBudget(1_000_000)
  const table = new StateTable<Value[]>(db, NS, rowCodec, budget, true)
  const first = Array.from({ length: 100 }, (_, i) => key(i))
  await table.load(first)
  first.forEach((k, i) => table.set(k, [i, 'x'.repeat(i % 7)]))
  await checkpoint(table)
  expect(table.storedBytes).toBe(await actualBytes())
  // Overwrites of keys read first, and appends.
  await table.load(first.slice(0, 50))
  for (let i = 0; i < 50; i++) table.set(first[i]!, [i, 'y'.repeat(30)])
  for (let i = 200; i < 210; i++) table.append(key(i), [i, 'appended'])
  await checkpoint(table)
  expect(table.storedBytes).toBe(await actualBytes())

  // The same table opened again (a restart): the size comes back from the checkpoint, nothing is cached.
  const again = new StateTable<Value[]>(db, NS, rowCodec, new CacheBudget(1_000_000), false)
  again.storedBytes = table.storedBytes
  for (let i = 0; i < 20; i++) again.delete(first[i]!)
  for (let i = 60; i < 70; i++) again.set(first[i]!, [i, 'blind write'])
  for (let i = 200; i < 205; i++) again.delete(key(i))
  await checkpoint(again)
  expect(again.storedBytes).toBe(await actualBytes())
})
