/**
 * `pg_dump -Fd -j 2` of a Sluice database (two streams, views, a view over a view), restored with
 * pg_restore into the real PostgreSQL on 127.0.0.1:5432: the same rows. Its workers import the leader's
 * snapshot (pg_export_snapshot, SET TRANSACTION SNAPSHOT; server/transaction-snapshot.ts), which is also
 * checked on its own here: two sessions read the same rows while events keep arriving, and the errors are
 * PostgreSQL's.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const RESTORED = `sluice_dump_j_${process.pid}`
const SETUP = [
  `CREATE STREAM clicks (user_id BIGINT NOT NULL, page TEXT, ms INT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'user_id', partitions = 4)`,
  'CREATE STREAM signups (user_id BIGINT NOT NULL, plan TEXT, ts TIMESTAMPTZ NOT NULL)',
  'CREATE MATERIALIZED VIEW per_page AS SELECT page, count(*) AS n, sum(ms) AS ms FROM clicks GROUP BY page',
  'CREATE MATERIALIZED VIEW slow AS SELECT user_id, page, ms FROM clicks WHERE ms > 900',
  'CREATE MATERIALIZED VIEW a_slow_pages AS SELECT page, count(*) AS n FROM slow GROUP BY page',
  'CREATE MATERIALIZED VIEW per_plan AS SELECT plan, count(*) AS n FROM signups GROUP BY plan',
]
const CLICKS = 3000
const clicks = (from: number, n: number): string =>
  `INSERT INTO clicks SELECT i, 'page-' || (i % 17), (i * 37) % 1000, TIMESTAMPTZ '2026-12-07 10:00:00+00' + i * INTERVAL '1 second' FROM generate_series(${from}, ${from + n - 1}) AS i`
const COMPARE = [
  'SELECT * FROM clicks ORDER BY user_id',
  'SELECT * FROM signups ORDER BY user_id',
  'SELECT * FROM per_page ORDER BY page',
  'SELECT * FROM slow ORDER BY user_id',
  'SELECT * FROM a_slow_pages ORDER BY page',
  'SELECT * FROM per_plan ORDER BY plan',
]

let sluice: SluiceProcess
let client: pg.Client

beforeAll(async () => {
  sluice = await startSluice()
  client = await sluice.client()
  for (const sql of SETUP) await client.query(sql)
  await client.query(clicks(0, CLICKS))
  await client.query("INSERT INTO signups SELECT i, CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END, TIMESTAMPTZ '2026-12-07 09:00:00+00' + i * INTERVAL '1 minute' FROM generate_series(1, 40) AS i")
  await eventually(async () => Number((await client.query('SELECT sum(n) AS n FROM per_page')).rows[0].n), (n) => n === CLICKS, 60_000)
  await eventually(async () => Number((await client.query('SELECT sum(n) AS n FROM per_plan')).rows[0].n), (n) => n === 40, 60_000)
}, 120_000)

afterAll(async () => {
  await client?.end()
  spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', RESTORED])
  const dir = sluice?.dataDir
  await sluice?.stop()
  if (dir) await removeDir(dir)
})

const psqlAt = (port: number, db: string, sql: string) =>
  spawnSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 60_000 })

describe('pg_dump -Fd -j 2', () => {
  test('dumps every stream in parallel from one snapshot; pg_restore into PostgreSQL gives the same rows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-dump-j-'))
    try {
      const out = join(dir, 'dump')
      // It failed with "function pg_export_snapshot() does not exist" before its workers started.
      const dump = spawnSync('pg_dump', ['-Fd', '-j', '2', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'postgres', '-f', out, 'sluice'], { encoding: 'utf8', timeout: 120_000 })
      expect(dump.stderr).toBe('')
      expect(dump.status).toBe(0)
      // The streams' rows as table data; the views recreated by REFRESH.
      const listed = spawnSync('pg_restore', ['-l', out], { encoding: 'utf8' }).stdout
      expect(listed.match(/ TABLE DATA public \w+/g)?.sort()).toEqual([' TABLE DATA public clicks', ' TABLE DATA public signups'])
      expect(listed).toMatch(/ MATERIALIZED VIEW DATA public a_slow_pages/)

      spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', RESTORED])
      expect(spawnSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', RESTORED], { encoding: 'utf8' }).status).toBe(0)
      const restore = spawnSync('pg_restore', ['-j', '2', '-h', '127.0.0.1', '-U', 'postgres', '-d', RESTORED, '--exit-on-error', out], { encoding: 'utf8', timeout: 120_000 })
      expect(restore.stderr).toBe('')
      expect(restore.status).toBe(0)
      for (const sql of COMPARE) {
        const theirs = psqlAt(5432, RESTORED, sql)
        expect(theirs.status, `${sql}: ${theirs.stderr}`).toBe(0)
        expect(theirs.stdout, sql).toEqual(psqlAt(sluice.port, 'sluice', sql).stdout)
      }
      expect(psqlAt(5432, RESTORED, 'SELECT count(*) FROM clicks').stdout.trim()).toBe(String(CLICKS))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 240_000)
})

describe('pg_export_snapshot and SET TRANSACTION SNAPSHOT', () => {
  const counts = async (c: pg.Client) => (await c.query('SELECT (SELECT count(*) FROM clicks) AS clicks, (SELECT count(*) FROM signups) AS signups')).rows[0]

  test('a session that imports a snapshot reads the rows of the exporter, not those appended since', async () => {
    const leader = await sluice.client()
    const worker = await sluice.client()
    const writer = await sluice.client()
    try {
      await leader.query('BEGIN')
      await leader.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      const id = String((await leader.query('SELECT pg_catalog.pg_export_snapshot() AS id')).rows[0].id)
      expect(id).toMatch(/^[0-9A-F]{8}-[0-9A-F]{8}-1$/)
      const before = await counts(writer)
      // Events keep arriving after the export, into both streams and every partition.
      await writer.query(clicks(100_000, 500))
      await writer.query("INSERT INTO signups VALUES (1000, 'pro', '2026-12-07 12:00:00+00')")
      expect(Number((await counts(writer)).clicks)).toBe(Number(before.clicks) + 500)

      await worker.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      await worker.query('SET TRANSACTION SNAPSHOT $$' + id + '$$')
      expect(await counts(worker)).toEqual(before)
      expect(await counts(leader)).toEqual(before)
      // The same rows, not only as many: a COPY of the stream, as pg_dump's workers run it.
      const copied = (await worker.query('SELECT user_id FROM clicks ORDER BY user_id')).rows.map((r) => Number(r.user_id))
      expect(copied.at(-1)).toBeLessThan(100_000)
      await worker.query('COMMIT')
      // After its transaction, the worker reads what is there now.
      expect(Number((await counts(worker)).clicks)).toBe(Number(before.clicks) + 500)

      // Once the exporting transaction ends, the snapshot cannot be imported any more.
      await leader.query('COMMIT')
      await worker.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      await expect(worker.query(`SET TRANSACTION SNAPSHOT '${id}'`)).rejects.toMatchObject({ code: '22023', message: `invalid snapshot identifier: "${id}"` })
      await worker.query('ROLLBACK')
    } finally {
      await Promise.all([leader.end(), worker.end(), writer.end()])
    }
  })

  test('a REPEATABLE READ transaction reads every stream as of its first query', async () => {
    const reader = await sluice.client()
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      const first = await counts(reader)
      await client.query(clicks(200_000, 10))
      expect(await counts(reader)).toEqual(first)
      await reader.query('COMMIT')
      expect(Number((await counts(reader)).clicks)).toBe(Number(first.clicks) + 10)
    } finally {
      await reader.end()
    }
  })

  test('refused as PostgreSQL refuses it: SQLSTATE and message', async () => {
    const oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    const ours = await sluice.client()
    try {
      const cases: [string[], string][] = [
        [['BEGIN'], "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"],
        [['BEGIN ISOLATION LEVEL REPEATABLE READ', 'SELECT 1'], "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"],
        [['BEGIN ISOLATION LEVEL REPEATABLE READ'], "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"],
        [['BEGIN ISOLATION LEVEL SERIALIZABLE'], "SET TRANSACTION SNAPSHOT 'not-a-snapshot'"],
      ]
      for (const [before, failing] of cases) {
        const outcome = async (c: pg.Client) => {
          for (const sql of before) await c.query(sql)
          try {
            await c.query(failing)
            return 'no error'
          } catch (err) {
            const e = err as { code: string; message: string }
            return `${e.code}: ${e.message}`
          } finally {
            await c.query('ROLLBACK')
          }
        }
        const theirs = await outcome(oracle)
        expect(theirs).not.toBe('no error')
        expect(await outcome(ours), `${before.join('; ')}; ${failing}`).toBe(theirs)
      }
    } finally {
      await Promise.all([oracle.end(), ours.end()])
    }
  })
})
