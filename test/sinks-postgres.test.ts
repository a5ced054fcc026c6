/**
 * Sinks into the real PostgreSQL on 127.0.0.1:5432 (each test run in a database of its own): the table
 * created or checked at CREATE, upserts that follow a view (rows hidden by HAVING are deleted), appends of a
 * stream, exactly once across kill -9 of Sluice and across the sink's connections being terminated for
 * 10 s, refused rows filed as dead letters, passwords never shown.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, withSluice } from './helpers/sluice-process.ts'
import { canonical, copyInto, insertWithKills } from './helpers/sink-kills.ts'

const DB = `sluice_sinks_${process.pid}_${Date.now() % 100000}`
const URL = `postgresql://postgres@127.0.0.1:5432/${DB}`
let admin: pg.Client
let target: pg.Client

beforeAll(async () => {
  admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${DB}`)
  target = new pg.Client({ connectionString: URL })
  await target.connect()
})

afterAll(async () => {
  await target?.end()
  await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)
  await admin?.end()
})

const SETUP = [
  'CREATE STREAM events (id BIGINT NOT NULL, player TEXT NOT NULL, amount BIGINT, ts TIMESTAMPTZ NOT NULL)',
  'CREATE MATERIALIZED VIEW profile AS SELECT player, count(*) AS n, sum(amount) AS total, max(ts) AS last_seen FROM events GROUP BY player',
  // Groups flip in and out of view as counts grow: their rows are deleted and inserted again.
  'CREATE MATERIALIZED VIEW flip AS SELECT player, count(*) AS n FROM events GROUP BY player HAVING count(*) % 3 <> 0',
]

const BASE = Date.parse('2026-12-01T00:00:00Z')

/** COPY lines of events [from, to): id, player, amount, ts. */
function lines(from: number, to: number, players = 1000): string {
  let out = ''
  for (let i = from; i < to; i++) out += `${i}\tp${i % players}\t${i}\t${new Date(BASE + i).toISOString()}\n`
  return out
}

async function sinksInto(client: pg.Client, suffix: string): Promise<void> {
  await client.query(`CREATE SINK profile_pg FROM profile INTO POSTGRES TABLE 'public.profile_${suffix}' WITH (connection = '${URL}')`)
  await client.query(`CREATE SINK flip_pg FROM flip INTO POSTGRES TABLE 'flip_${suffix}' WITH (connection = '${URL}', mode = 'upsert', key = (player))`)
  await client.query(`CREATE SINK events_pg FROM events INTO POSTGRES TABLE 'events_${suffix}' WITH (connection = '${URL}', mode = 'append')`)
}

/** Waits until the tables equal the views and the append table holds every event once. */
async function expectExact(client: pg.Client, suffix: string, context: string): Promise<void> {
  const snapshot = async () => {
    const view = canonical((await client.query('SELECT player, n, total FROM profile')).rows, ['player', 'n', 'total'])
    const table = canonical((await target.query(`SELECT player, n, total FROM profile_${suffix}`)).rows, ['player', 'n', 'total'])
    const flipView = canonical((await client.query('SELECT player, n FROM flip')).rows, ['player', 'n'])
    const flipTable = canonical((await target.query(`SELECT player, n FROM flip_${suffix}`)).rows, ['player', 'n'])
    const appended = canonical((await target.query(`SELECT player, count(*) AS n, sum(amount) AS total FROM events_${suffix} GROUP BY player`)).rows, ['player', 'n', 'total'])
    return { view, table, flipView, flipTable, appended }
  }
  const s = await eventually(snapshot, (s) => JSON.stringify(s.view) === JSON.stringify(s.table) && JSON.stringify(s.flipView) === JSON.stringify(s.flipTable) && JSON.stringify(s.appended) === JSON.stringify(s.view), 120_000).catch(
    async () => snapshot(),
  )
  expect(s.table, context).toEqual(s.view)
  expect(s.flipTable, context).toEqual(s.flipView)
  expect(s.appended, context).toEqual(s.view)
  const { rows } = await target.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM events_${suffix}`)
  expect(Number(rows[0].n), context).toBe(Number(rows[0].d))
}

describe('PostgreSQL sinks', () => {
  test('creates the table with mapped types, checks an existing one at CREATE, hides the password', async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir })
    const client = await sluice.client()
    try {
      for (const s of SETUP) await client.query(s)
      await client.query(`CREATE SINK p1 FROM profile INTO POSTGRES TABLE 'shape' WITH (connection = 'postgresql://postgres:hunter2@127.0.0.1:5432/${DB}')`)
      const { rows } = await target.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'shape' ORDER BY ordinal_position")
      expect(rows.map((r) => `${r.column_name} ${r.data_type}`)).toEqual(['player text', 'n bigint', 'total numeric', 'last_seen timestamp with time zone'])
      const pk = await target.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'shape'::regclass AND i.indisprimary")
      expect(pk.rows.map((r) => r.attname)).toEqual(['player'])
      const shown = await client.query("SELECT sql, target_kind FROM sluice_sinks WHERE name = 'p1'")
      expect(shown.rows[0].sql).toContain('postgresql://postgres:***@127.0.0.1')
      expect(shown.rows[0].sql).not.toContain('hunter2')
      expect(shown.rows[0].target_kind).toBe('postgres')

      await target.query('CREATE TABLE wrong_type (player text PRIMARY KEY, n text, total numeric, last_seen timestamptz)')
      const err = await client.query(`CREATE SINK p2 FROM profile INTO POSTGRES TABLE 'wrong_type' WITH (connection = '${URL}')`).catch((e: unknown) => e as { code: string; message: string })
      expect(err).toMatchObject({ code: '42804' })
      expect((err as { message: string }).message).toMatch(/column "n" of table wrong_type is text/)
      await target.query('CREATE TABLE no_key (player text, n bigint, total numeric, last_seen timestamptz)')
      const err2 = await client.query(`CREATE SINK p3 FROM profile INTO POSTGRES TABLE 'no_key' WITH (connection = '${URL}')`).catch((e: unknown) => e as { code: string })
      expect(err2).toMatchObject({ code: '42P10' })
      const err3 = await client.query(`CREATE SINK p4 FROM profile INTO POSTGRES TABLE 'missing_col' WITH (connection = '${URL}')`).then(async () => {
        await target.query('CREATE TABLE missing_col2 (player text PRIMARY KEY)')
        return client.query(`CREATE SINK p5 FROM profile INTO POSTGRES TABLE 'missing_col2' WITH (connection = '${URL}')`).catch((e: unknown) => e as { code: string })
      })
      expect(err3).toMatchObject({ code: '42703' })
      const bad = await client.query(`CREATE SINK p6 FROM profile INTO POSTGRES TABLE 'x' WITH (connection = 'postgresql://postgres:sekrit@127.0.0.1:1/${DB}')`).catch((e: unknown) => e as { code: string; message: string })
      expect(bad).toMatchObject({ code: '08006' })
      expect((bad as { message: string }).message).not.toContain('sekrit')
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test('values of every type arrive alike through the upsert path (staging table) and the append path (COPY into the table)', async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir })
    const client = await sluice.client()
    try {
      await client.query('CREATE STREAM typed (id INT NOT NULL, b BOOLEAN, j JSONB, tags TEXT[], d INTERVAL, raw BYTEA, at TIMESTAMPTZ, x DOUBLE PRECISION, n NUMERIC, t TEXT)')
      await client.query(`CREATE SINK typed_up FROM typed INTO POSTGRES TABLE 'typed_up' WITH (connection = '${URL}', mode = 'upsert', key = (id))`)
      await client.query(`CREATE SINK typed_app FROM typed INTO POSTGRES TABLE 'typed_app' WITH (connection = '${URL}', mode = 'append')`)
      await client.query(
        "INSERT INTO typed VALUES (1, true, '{\"a\": [1, \"x\\\\y\"]}', ARRAY['p q', 'r\"s', NULL], INTERVAL '1 day 02:03:04', '\\xdeadbeef', '2026-12-01T10:00:00.123456Z', 1.5, 1234.5, E'tab\\there\\nline \\\\ back'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
      )
      const read = (t: string) => target.query(`SELECT id, b, j::text AS j, tags::text AS tags, d::text AS d, encode(raw, 'hex') AS raw, at, x, n::text AS n, t FROM ${t} ORDER BY id`)
      await eventually(async () => [(await read('typed_up')).rows.length, (await read('typed_app')).rows.length], ([a, b]) => a === 2 && b === 2, 30_000)
      const up = (await read('typed_up')).rows
      expect(up[0]).toEqual({
        id: 1,
        b: true,
        j: '{"a": [1, "x\\\\y"]}',
        tags: '{"p q","r\\"s",NULL}',
        d: '1 day 02:03:04',
        raw: 'deadbeef',
        at: new Date('2026-12-01T10:00:00.123Z'),
        x: 1.5,
        n: '1234.5',
        t: 'tab\there\nline \\ back',
      })
      expect(up[1]).toEqual({ id: 2, b: null, j: null, tags: null, d: null, raw: null, at: null, x: null, n: null, t: null })
      expect((await read('typed_app')).rows).toEqual(up)
      const micros = await target.query("SELECT to_char(at, 'US') AS us FROM typed_up WHERE id = 1")
      expect(micros.rows[0].us).toBe('123456')
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test('upserts of new keys go straight in by COPY; a later one meeting existing keys falls back to staging', async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir })
    const client = await sluice.client()
    try {
      for (const s of SETUP) await client.query(s)
      await client.query(`CREATE SINK profile_pg FROM profile INTO POSTGRES TABLE 'profile_d' WITH (connection = '${URL}')`)
      const rows = async () => canonical((await target.query('SELECT player, n, total FROM profile_d')).rows, ['player', 'n', 'total'])
      const view = async () => canonical((await client.query('SELECT player, n, total FROM profile')).rows, ['player', 'n', 'total'])
      await copyInto(client, 'events', lines(0, 3000, 3000))
      await eventually(rows, (r) => r.length === 3000, 30_000)
      // Every key again, with one more event each: the direct COPY meets existing keys.
      await copyInto(client, 'events', lines(3000, 6000, 3000))
      const want = await eventually(view, (v) => v.every((r) => JSON.parse(r)[1] === '2'), 30_000)
      await eventually(rows, (r) => JSON.stringify(r) === JSON.stringify(want), 30_000)
      expect(await rows()).toEqual(want)
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test('a row the table refuses goes to dead letters; the rest of its batch and later ones are written', async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir })
    const client = await sluice.client()
    try {
      await client.query('CREATE STREAM orders (id BIGINT NOT NULL, amount INT)')
      await target.query('CREATE TABLE orders_checked (id bigint, amount int CHECK (amount >= 0))')
      await client.query(`CREATE SINK orders_pg FROM orders INTO POSTGRES TABLE 'orders_checked' WITH (connection = '${URL}')`)
      await client.query('INSERT INTO orders VALUES (1, 10), (2, -5), (3, 30)')
      await client.query('INSERT INTO orders VALUES (4, 40)')
      await eventually(async () => (await target.query('SELECT id FROM orders_checked ORDER BY id')).rows.map((r) => Number(r.id)), (ids) => ids.length === 3, 30_000)
      expect((await target.query('SELECT id FROM orders_checked ORDER BY id')).rows.map((r) => Number(r.id))).toEqual([1, 3, 4])
      const dead = await target.query("SELECT sink, sqlstate, reason, \"row\" FROM sluice_sink_dead_letters WHERE sink = 'orders_pg'")
      expect(dead.rows).toHaveLength(1)
      expect(dead.rows[0].sqlstate).toBe('23514')
      expect(JSON.parse(dead.rows[0].row)).toEqual({ id: 2, amount: -5 })
      const k = await client.query("SELECT dead_letters, status FROM sluice_sinks WHERE name = 'orders_pg'")
      expect(Number(k.rows[0].dead_letters)).toBe(1)
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test("DROP SINK removes its progress row from the target database; the delivered rows and the other sink's row stay", async () => {
    await withSluice({}, async (client) => {
      await client.query('CREATE STREAM drops (id BIGINT NOT NULL, amount INT)')
      await client.query(`CREATE SINK drops_a FROM drops INTO POSTGRES TABLE 'drops_a' WITH (connection = '${URL}')`)
      await client.query(`CREATE SINK drops_b FROM drops INTO POSTGRES TABLE 'drops_b' WITH (connection = '${URL}')`)
      await client.query('INSERT INTO drops VALUES (1, 10), (2, 20)')
      const count = async (t: string) => Number((await target.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n)
      await eventually(async () => (await count('drops_a')) + (await count('drops_b')), (n) => n === 4, 30_000)
      const progress = async () => Number((await target.query('SELECT count(*) AS n FROM sluice_sink_progress')).rows[0].n)
      const before = await progress()
      expect(before).toBeGreaterThanOrEqual(2)
      await client.query('DROP SINK drops_a')
      expect(await progress()).toBe(before - 1)
      expect(await count('drops_a')).toBe(2)
      // The other sink goes on from its own row.
      await client.query('INSERT INTO drops VALUES (3, 30)')
      await eventually(() => count('drops_b'), (n) => n === 3, 30_000)
      await client.query('DROP SINK drops_b')
      expect(await progress()).toBe(before - 2)
      expect(await count('drops_b')).toBe(3)
    })
  }, 120_000)

  test('kill -9 at five random moments during 200,000 events: upserts, deletes and appends land exactly once', async () => {
    const dataDir = await tempDataDir()
    const first = await startSluice({ dataDir, checkpointMs: 100 })
    const c = await first.client()
    for (const s of SETUP) await c.query(s)
    await sinksInto(c, 'k')
    await c.end()
    const run = await insertWithKills(first, { dataDir, total: 200_000, kills: 5, stream: 'events', lines })
    try {
      expect(run.kills).toHaveLength(5)
      await expectExact(run.client, 'k', `kills at ${run.kills.join(', ')} ms`)
      const n = (await run.client.query('SELECT sum(n) AS n FROM profile')).rows[0].n
      expect(Number(n)).toBeGreaterThan(150_000)
    } finally {
      await run.client.end()
      await run.sluice.stop()
      await removeDir(dataDir)
    }
  }, 300_000)

  test("the sink's connections terminated again and again for 10 s: exact once they are let through", async () => {
    const dataDir = await tempDataDir()
    const sluice = await startSluice({ dataDir, checkpointMs: 100 })
    const client = await sluice.client()
    try {
      for (const s of SETUP) await client.query(s)
      await sinksInto(client, 'o')
      let stop = false
      let terminated = 0
      const killer = (async () => {
        const until = Date.now() + 10_000
        while (!stop && Date.now() < until) {
          const r = await admin.query("SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name LIKE 'sluice sink %' AND datname = $1", [DB])
          terminated += r.rows.length
          await new Promise((res) => setTimeout(res, 50))
        }
      })()
      for (let i = 0; i < 30_000; i += 2000) {
        await copyInto(client, 'events', lines(i, i + 2000))
        await new Promise((res) => setTimeout(res, 200))
      }
      await killer
      stop = true
      expect(terminated).toBeGreaterThan(0)
      await expectExact(client, 'o', `${terminated} connections terminated`)
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 300_000)
})
