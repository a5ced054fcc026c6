/**
 * Sinks into the real MariaDB on 127.0.0.1:3306 (root, no password; a database of its own per run): the
 * table created or checked at CREATE, upserts with deletes, appends, exactly once across kill -9 of Sluice
 * and across the database being unreachable for 10 s (the sink reaches it through a TCP proxy the test stops).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import mysql from 'mysql2/promise'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, withSluice } from './helpers/sluice-process.ts'
import { FlakyProxy, canonical, copyInto, insertWithKills } from './helpers/sink-kills.ts'

const DB = `sluice_sinks_${process.pid}_${Date.now() % 100000}`
const URL = `mysql://root@127.0.0.1:3306/${DB}`
let my: mysql.Connection

beforeAll(async () => {
  my = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', supportBigNumbers: true, bigNumberStrings: true })
  await my.query(`CREATE DATABASE ${DB}`)
  await my.query(`USE ${DB}`)
})

afterAll(async () => {
  await my?.query(`DROP DATABASE IF EXISTS ${DB}`)
  await my?.end()
})

const SETUP = [
  'CREATE STREAM events (id BIGINT NOT NULL, player TEXT NOT NULL, amount BIGINT, ts TIMESTAMPTZ NOT NULL)',
  'CREATE MATERIALIZED VIEW profile AS SELECT player, count(*) AS n, sum(amount) AS total, max(ts) AS last_seen FROM events GROUP BY player',
  'CREATE MATERIALIZED VIEW flip AS SELECT player, count(*) AS n FROM events GROUP BY player HAVING count(*) % 3 <> 0',
]

const BASE = Date.parse('2026-12-01T00:00:00Z')

function lines(from: number, to: number): string {
  let out = ''
  for (let i = from; i < to; i++) out += `${i}\tp${i % 500}\t${i}\t${new Date(BASE + i).toISOString()}\n`
  return out
}

async function sinksInto(client: pg.Client, suffix: string, url: string): Promise<void> {
  await client.query(`CREATE SINK profile_my FROM profile INTO MYSQL TABLE 'profile_${suffix}' WITH (connection = '${url}')`)
  await client.query(`CREATE SINK flip_my FROM flip INTO MYSQL TABLE '${DB}.flip_${suffix}' WITH (connection = '${url}', mode = 'upsert', key = (player))`)
  await client.query(`CREATE SINK events_my FROM events INTO MYSQL TABLE 'events_${suffix}' WITH (connection = '${url}', mode = 'append')`)
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const [r] = await my.query<mysql.RowDataPacket[]>(sql)
  return r
}

async function expectExact(client: pg.Client, suffix: string, context: string): Promise<void> {
  const snapshot = async () => ({
    view: canonical((await client.query('SELECT player, n, total FROM profile')).rows, ['player', 'n', 'total']),
    table: canonical(await rows(`SELECT player, n, CAST(total AS CHAR) AS total FROM profile_${suffix}`), ['player', 'n', 'total']).map((r) => r.replace(/\.0+"/, '"')),
    flipView: canonical((await client.query('SELECT player, n FROM flip')).rows, ['player', 'n']),
    flipTable: canonical(await rows(`SELECT player, n FROM flip_${suffix}`), ['player', 'n']),
    appended: canonical(await rows(`SELECT player, count(*) AS n, CAST(sum(amount) AS CHAR) AS total FROM events_${suffix} GROUP BY player`), ['player', 'n', 'total']),
  })
  const same = (s: Awaited<ReturnType<typeof snapshot>>) => JSON.stringify(s.view) === JSON.stringify(s.table) && JSON.stringify(s.flipView) === JSON.stringify(s.flipTable) && JSON.stringify(s.appended) === JSON.stringify(s.view)
  const s = await eventually(snapshot, same, 120_000).catch(async () => snapshot())
  expect(s.table, context).toEqual(s.view)
  expect(s.flipTable, context).toEqual(s.flipView)
  expect(s.appended, context).toEqual(s.view)
  const [d] = await rows(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM events_${suffix}`)
  expect(Number(d!.n), context).toBe(Number(d!.d))
}

describe('MySQL/MariaDB sinks', () => {
  test('creates the table with mapped types and checks an existing one at CREATE', async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir })
    const client = await sluice.client()
    try {
      for (const s of SETUP) await client.query(s)
      await client.query(`CREATE SINK m1 FROM profile INTO MYSQL TABLE 'shape' WITH (connection = '${URL}')`)
      const cols = await rows(`SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, COLUMN_KEY AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'shape' ORDER BY ORDINAL_POSITION`)
      expect(cols.map((r) => `${String(r.c)} ${String(r.t)} ${String(r.k)}`)).toEqual(['player varchar(255) PRI', 'n bigint(20) ', 'total decimal(38,10) ', 'last_seen datetime(6) '])
      await my.query('CREATE TABLE wrong_type (player VARCHAR(255) PRIMARY KEY, n TEXT, total DECIMAL(38,10), last_seen DATETIME(6))')
      const err = await client.query(`CREATE SINK m2 FROM profile INTO MYSQL TABLE 'wrong_type' WITH (connection = '${URL}')`).catch((e: unknown) => e as { code: string; message: string })
      expect(err).toMatchObject({ code: '42804' })
      await client.query('INSERT INTO events VALUES (1, \'a\', 5, \'2026-12-01T10:00:00.5Z\')')
      await eventually(() => rows('SELECT player, n, CAST(last_seen AS CHAR) AS t FROM shape'), (r) => r.length === 1, 30_000)
      expect(await rows('SELECT player, n, CAST(last_seen AS CHAR) AS t FROM shape')).toEqual([{ player: 'a', n: '1', t: '2026-12-01 10:00:00.500000' }])
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test('a row the table refuses goes to dead letters; the rest of its batch and later ones are written', async () => {
    await withSluice({}, async (client) => {
      await client.query('CREATE STREAM orders (id BIGINT NOT NULL, amount INT)')
      await my.query('CREATE TABLE orders_checked (id BIGINT, amount INT, CHECK (amount >= 0)) ENGINE=InnoDB')
      await client.query(`CREATE SINK orders_my FROM orders INTO MYSQL TABLE 'orders_checked' WITH (connection = '${URL}', mode = 'append')`)
      await client.query('INSERT INTO orders VALUES (1, 10), (2, -5), (3, 30)')
      await client.query('INSERT INTO orders VALUES (4, 40)')
      const ids = async () => (await rows('SELECT id FROM orders_checked ORDER BY id')).map((r) => Number(r.id))
      await eventually(ids, (x) => x.length === 3, 30_000)
      expect(await ids()).toEqual([1, 3, 4])
      const dead = await rows("SELECT sink, `sqlstate` AS s, `row` AS r FROM sluice_sink_dead_letters WHERE sink = 'orders_my'")
      expect(dead).toHaveLength(1)
      expect(String(dead[0]!.s)).toMatch(/^23/)
      expect(JSON.parse(String(dead[0]!.r))).toEqual({ id: 2, amount: -5 })
      const k = await client.query("SELECT dead_letters, status FROM sluice_sinks WHERE name = 'orders_my'")
      expect(Number(k.rows[0].dead_letters)).toBe(1)
    })
  }, 120_000)

  test("DROP SINK removes its progress row from the target database; the delivered rows and the other sink's row stay", async () => {
    await withSluice({}, async (client) => {
      await client.query('CREATE STREAM drops (id BIGINT NOT NULL, amount INT)')
      await client.query(`CREATE SINK drops_a FROM drops INTO MYSQL TABLE 'drops_a' WITH (connection = '${URL}', mode = 'append')`)
      await client.query(`CREATE SINK drops_b FROM drops INTO MYSQL TABLE 'drops_b' WITH (connection = '${URL}', mode = 'append')`)
      await client.query('INSERT INTO drops VALUES (1, 10), (2, 20)')
      const count = async (t: string) => Number((await rows(`SELECT count(*) AS n FROM ${t}`))[0]!.n)
      await eventually(async () => (await count('drops_a')) + (await count('drops_b')), (n) => n === 4, 30_000)
      const before = await count('sluice_sink_progress')
      expect(before).toBeGreaterThanOrEqual(2)
      await client.query('DROP SINK drops_a')
      expect(await count('sluice_sink_progress')).toBe(before - 1)
      expect(await count('drops_a')).toBe(2)
      await client.query('INSERT INTO drops VALUES (3, 30)')
      await eventually(() => count('drops_b'), (n) => n === 3, 30_000)
      await client.query('DROP SINK drops_b')
      expect(await count('sluice_sink_progress')).toBe(before - 2)
      expect(await count('drops_b')).toBe(3)
    })
  }, 120_000)

  test('kill -9 at five random moments during 200,000 events: exactly once', async () => {
    const dataDir = await tempDataDir()
    const first = await startSluice({ dataDir, checkpointMs: 100 })
    const c = await first.client()
    for (const s of SETUP) await c.query(s)
    await sinksInto(c, 'k', URL)
    await c.end()
    const run = await insertWithKills(first, { dataDir, total: 200_000, kills: 5, stream: 'events', lines })
    try {
      expect(run.kills).toHaveLength(5)
      await expectExact(run.client, 'k', `kills at ${run.kills.join(', ')} ms`)
    } finally {
      await run.client.end()
      await run.sluice.stop()
      await removeDir(dataDir)
    }
  }, 300_000)

  test('the database unreachable for 10 s mid-run: retried, then exact', async () => {
    const proxy = new FlakyProxy(3306)
    await proxy.start()
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir, checkpointMs: 100 })
    const client = await sluice.client()
    try {
      for (const s of SETUP) await client.query(s)
      await sinksInto(client, 'o', `mysql://root@127.0.0.1:${proxy.port}/${DB}`)
      for (let i = 0; i < 10_000; i += 2000) await copyInto(client, 'events', lines(i, i + 2000))
      await proxy.stop()
      const downUntil = Date.now() + 10_000
      for (let i = 10_000; i < 30_000; i += 2000) await copyInto(client, 'events', lines(i, i + 2000))
      const during = await eventually(async () => (await client.query("SELECT status, last_error, batches_pending FROM sluice_sinks WHERE name = 'events_my'")).rows[0], (r) => r.status === 'retrying', 10_000)
      expect(String(during.last_error)).toMatch(/^08006|ECONNREFUSED|connect/)
      await new Promise((r) => setTimeout(r, Math.max(0, downUntil - Date.now())))
      await proxy.start()
      await expectExact(client, 'o', 'after 10 s down')
      const after = (await client.query("SELECT status, batches_pending FROM sluice_sinks WHERE name = 'events_my'")).rows[0]
      expect(after.status).toBe('running')
    } finally {
      await proxy.stop()
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 300_000)
})
