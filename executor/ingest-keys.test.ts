import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { StateDb } from './state/rocks.ts'
import { IngestKeys, KEY_TTL_MS, MAX_KEYS, keyTag } from './ingest-keys.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function openDb(dir?: string): Promise<{ db: StateDb; dir: string }> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'ingest-keys-')))
  if (dir === undefined) dirs.push(d)
  return { db: await StateDb.open(d), dir: d }
}

describe('IngestKeys', () => {
  it('runs a batch once per key, replays its answer, and remembers it across a reopen', async () => {
    const { db, dir } = await openDb()
    let runs = 0
    const run = async () => {
      runs++
      return { status: 200, body: { inserted: runs }, appended: true }
    }
    const keys = await IngestKeys.open(db)
    const [a, b] = await Promise.all([keys.answer('s', 'k1', run), keys.answer('s', 'k1', run)])
    expect(runs).toBe(1)
    expect(a).toMatchObject({ status: 200, body: { inserted: 1 }, replayed: false })
    expect(b).toMatchObject({ body: { inserted: 1 }, replayed: true })
    expect(await keys.answer('other', 'k1', run)).toMatchObject({ body: { inserted: 2 }, replayed: false })
    await db.close()
    const again = await openDb(dir)
    const reopened = await IngestKeys.open(again.db)
    expect(await reopened.answer('s', 'k1', run)).toMatchObject({ body: { inserted: 1 }, replayed: true })
    expect(runs).toBe(2)
    await again.db.close()
  })

  it('does not keep answers of batches that were not appended', async () => {
    const { db } = await openDb()
    const keys = await IngestKeys.open(db)
    let runs = 0
    const run = async () => ({ status: 400, body: { n: ++runs } })
    await keys.answer('s', 'k', run)
    expect(await keys.answer('s', 'k', run)).toMatchObject({ body: { n: 2 }, replayed: false })
    await db.close()
  })

  it('forgets keys past the window and beyond the count, oldest first', async () => {
    const { db } = await openDb()
    let now = 1_000_000
    const keys = await IngestKeys.open(db, () => now)
    let runs = 0
    const run = async () => ({ status: 200, body: { n: ++runs }, appended: true })
    await keys.answer('s', 'old', run)
    now += KEY_TTL_MS
    expect(await keys.answer('s', 'old', run)).toMatchObject({ replayed: false, body: { n: 2 } })
    for (let i = 0; i < MAX_KEYS + 5; i++) await keys.answer('s', `k${i}`, run)
    expect(keys.size).toBe(MAX_KEYS)
    expect((await keys.answer('s', 'k0', run)).replayed).toBe(false)
    expect((await keys.answer('s', `k${MAX_KEYS + 4}`, run)).replayed).toBe(true)
    await db.close()
  })

  it('remembers keys committed with their batches in a log that the state store never got', async () => {
    const { db } = await openDb()
    let now = 5_000_000
    const keys = await IngestKeys.open(db, () => now)
    let runs = 0
    const run = async () => ({ status: 200, body: { n: ++runs }, appended: true })
    // What a crash between the append and the state store's write leaves: the key only in the log.
    const tags = [keyTag('a', { status: 200, body: { n: 'from log' } }, now - 10), Buffer.from('not a key tag'), keyTag('expired', { status: 200, body: {} }, now - KEY_TTL_MS - 1)]
    keys.recover('s', tags)
    expect(await keys.answer('s', 'a', run)).toEqual({ status: 200, body: { n: 'from log' }, replayed: true })
    expect(await keys.answer('other', 'a', run)).toMatchObject({ replayed: false })
    expect(await keys.answer('s', 'expired', run)).toMatchObject({ replayed: false })
    // The state store's newer answer for a key wins over the log's older one.
    now += 100
    keys.recover('other', [keyTag('a', { status: 200, body: { n: 'older' } }, now - 1000)])
    expect(await keys.answer('other', 'a', run)).toMatchObject({ body: { n: 1 }, replayed: true })
    await db.close()
  })
})
