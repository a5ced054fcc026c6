/**
 * numeric leaves Sluice with every digit: JSON lines (bare numbers with the value's digits), CSV, Parquet
 * (DECIMAL(p, s) for numeric(p, s), read back by DuckDB; text for an unconstrained numeric) and a
 * PostgreSQL table written by the PostgreSQL sink, for values a double cannot hold. The rows go in as JSON
 * over HTTP ingest, with numbers and strings, so the ingest path is exact too.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { AS_TEXT } from './helpers/oracle.ts'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const DB = `sluice_numeric_${process.pid}_${Date.now() % 100000}`
const URL = `postgresql://postgres@127.0.0.1:5432/${DB}`

// id, amount numeric(20,4) as sent, as stored; exact numeric as sent, as stored.
const EVENTS: [number, string, string, string, string][] = [
  [1, '12345678901234.5678', '12345678901234.5678', '12345678901234567.89', '12345678901234567.89'],
  [2, '0.1', '0.1000', '0.10', '0.10'],
  [3, '"-0.00005"', '-0.0001', '"1e-20"', '0.00000000000000000001'],
  [4, '7', '7.0000', '"NaN"', 'NaN'],
]

async function files(dir: string, ext: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  return names.filter((n) => !n.startsWith('.') && n.endsWith(ext)).map((n) => join(dir, n))
}

describe('numeric into sinks, exactly', () => {
  let sluice: SluiceProcess
  let dataDir: string
  let filesDir: string
  let admin: pg.Client
  beforeAll(async () => {
    admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${DB}`)
    dataDir = await tempDataDir()
    filesDir = join(dataDir, 'exports')
    await mkdir(filesDir)
    sluice = await startSluice({ dataDir, http: true, args: ['--files', filesDir] })
  })
  afterAll(async () => {
    await sluice?.stop()
    if (dataDir) await removeDir(dataDir)
    await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)
    await admin?.end()
  })

  test('JSON lines, CSV, Parquet and PostgreSQL get the exact values', async () => {
    const c = await sluice.client()
    try {
      await c.query('CREATE STREAM pays (id BIGINT NOT NULL, amount NUMERIC(20,4), exact NUMERIC, ts TIMESTAMPTZ NOT NULL)')
      for (const [fmt, ext] of [['jsonl', 'jsonl'], ['csv', 'csv'], ['parquet', 'parquet']]) {
        await c.query(`CREATE SINK s_${ext} FROM pays INTO FILES '${ext}' WITH (format = '${fmt}', roll = INTERVAL '1 second')`)
      }
      await c.query(`CREATE SINK s_pg FROM pays INTO POSTGRES TABLE 'pays' WITH (connection = '${URL}', mode = 'append')`)
      const body = EVENTS.map(([id, a, , e]) => `{"id": ${id}, "amount": ${a}, "exact": ${e}, "ts": "2026-12-04T10:00:0${id}Z"}`).join('\n')
      const res = await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/pays`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })
      expect(res.status, await res.text()).toBeLessThan(300)

      // The stream itself, over the wire.
      const rows = await c.query({ text: 'SELECT id, amount, exact FROM pays ORDER BY id', types: AS_TEXT })
      expect(rows.rows.map((r) => [r.id, r.amount, r.exact])).toEqual(EVENTS.map(([id, , a, , e]) => [String(id), a, e]))

      // JSON lines: bare numbers with the stored digits; NaN as text.
      const jsonl = await eventually(async () => (await Promise.all((await files(join(filesDir, 'jsonl'), '.jsonl')).map((f) => readFile(f, 'utf8')))).join(''), (t) => t.split('\n').filter(Boolean).length === 4, 30_000)
      for (const [id, , a, , e] of EVENTS) {
        const line = jsonl.split('\n').find((l) => l.startsWith(`{"id":${id},`))!
        expect(line).toContain(`"amount":${a}`)
        expect(line).toContain(e === 'NaN' ? '"exact":"NaN"' : `"exact":${e}`)
      }

      const csv = await eventually(async () => (await Promise.all((await files(join(filesDir, 'csv'), '.csv')).map((f) => readFile(f, 'utf8')))).join(''), (t) => t.split('\n').filter((l) => /^\d/.test(l)).length === 4, 30_000)
      for (const [id, , a, , e] of EVENTS) expect(csv).toContain(`${id},${a},${e},`)

      await eventually(async () => (await files(join(filesDir, 'parquet'), '.parquet')).length, (n) => n > 0, 30_000)
      const db = await DuckDBInstance.create(':memory:')
      const dc = await db.connect()
      const pq = await dc.runAndReadAll(`SELECT id, CAST(amount AS VARCHAR), typeof(amount), exact FROM read_parquet('${join(filesDir, 'parquet', '*.parquet')}') ORDER BY id`)
      expect(pq.getRows().map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)))).toEqual(EVENTS.map(([id, , a, , e]) => [id, a, 'DECIMAL(20,4)', e]))
      dc.closeSync()

      const target = new pg.Client({ connectionString: URL })
      await target.connect()
      try {
        const got = await eventually(async () => (await target.query({ text: 'SELECT id, amount::text AS amount, exact::text AS exact FROM pays ORDER BY id', types: AS_TEXT })).rows, (r) => r.length === 4, 30_000)
        expect(got.map((r) => [r.id, r.amount, r.exact])).toEqual(EVENTS.map(([id, , a, , e]) => [String(id), a, e]))
      } finally {
        await target.end()
      }
    } finally {
      await c.end()
    }
  }, 180_000)

  test('numeric(p, s) columns round on INSERT and refuse what overflows, with PostgreSQL\'s error', async () => {
    const c = await sluice.client()
    try {
      await c.query('CREATE STREAM priced (id INT NOT NULL, price NUMERIC(5,2), ts TIMESTAMPTZ NOT NULL)')
      await c.query("INSERT INTO priced VALUES (1, 1.005, '2026-12-04 10:00:00+00'), (2, '-2.5', '2026-12-04 10:00:01+00'), (3, 999.994, '2026-12-04 10:00:02+00')")
      const err = await c.query("INSERT INTO priced VALUES (4, 999.995, '2026-12-04 10:00:03+00')").catch((e: unknown) => e as { code: string; message: string; detail: string })
      expect(err).toMatchObject({ code: '22003', message: 'numeric field overflow', detail: 'A field with precision 5, scale 2 must round to an absolute value less than 10^3.' })
      const rows = await c.query({ text: 'SELECT id, price, price * 2 AS twice FROM priced ORDER BY id', types: AS_TEXT })
      expect(rows.rows.map((r) => [r.id, r.price, r.twice])).toEqual([['1', '1.01', '2.02'], ['2', '-2.50', '-5.00'], ['3', '999.99', '1999.98']])
      // INSERT ... SELECT goes through the same checks.
      const fromSelect = await c.query('INSERT INTO priced SELECT 5, 12.345, ts FROM priced WHERE id = 1').catch((e: unknown) => e)
      expect(fromSelect).toMatchObject({ command: 'INSERT' })
      expect(await c.query("INSERT INTO priced SELECT 6, 1000, ts FROM priced WHERE id = 1").catch((e: unknown) => e)).toMatchObject({ code: '22003' })
      expect((await c.query({ text: 'SELECT price FROM priced WHERE id = 5', types: AS_TEXT })).rows).toEqual([{ price: '12.35' }])
      // psql's \d and information_schema show the typmod as PostgreSQL does.
      expect(sluice.psql('\\d priced').stdout).toMatch(/^\s*price\s+\|\s+numeric\(5,2\)\s+\|/m)
      const info = await c.query({ text: "SELECT numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name = 'priced' AND column_name = 'price'", types: AS_TEXT })
      expect(info.rows).toEqual([{ numeric_precision: '5', numeric_scale: '2' }])
      const cast = await c.query({ text: "SELECT 12345678901234567.89::numeric(20,1) AS a, '0.125'::numeric(4,2) AS b", types: AS_TEXT })
      expect(cast.rows[0]).toEqual({ a: '12345678901234567.9', b: '0.13' })
    } finally {
      await c.end()
    }
  }, 60_000)

  test('HOP windows and a view over a view sum numeric exactly (slices merged, rows taken back)', async () => {
    const c = await sluice.client()
    try {
      await c.query('CREATE STREAM ticks (sym TEXT NOT NULL, price NUMERIC(12,2) NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)')
      await c.query(`CREATE MATERIALIZED VIEW tick_hop AS SELECT sym, window_start, sum(price) AS total, avg(price) AS mean, count(*) AS n
        FROM HOP(ticks, ts, INTERVAL '1 second', INTERVAL '2 seconds') GROUP BY sym, window_start, window_end EMIT ON WINDOW CLOSE`)
      await c.query('CREATE MATERIALIZED VIEW tick_last AS SELECT sym, last_value(price) AS last FROM ticks GROUP BY sym')
      await c.query('CREATE MATERIALIZED VIEW tick_sum_of_last AS SELECT sum(last) AS total, max(last) AS top FROM tick_last')
      const values = ['0.10', '0.20', '0.70', '1234567890.12', '0.01', '-0.05']
      await c.query(`INSERT INTO ticks VALUES ${values.map((v, i) => `('${i % 2 === 0 ? 'a' : 'b'}', ${v}, '2026-12-04 10:00:0${i}.5+00')`).join(', ')}`)
      await c.query('ALTER STREAM ticks CLOSE')
      const hop = await eventually(async () => (await c.query({ text: "SELECT sym, to_char(window_start, 'SS') AS s, total, mean, n FROM tick_hop ORDER BY sym, window_start", types: AS_TEXT })).rows, (r) => r.length === 12, 30_000)
      expect(hop.map((r) => `${r.sym} ${r.s} ${r.total} ${r.mean} ${r.n}`)).toEqual([
        // avg at PostgreSQL's division scale (as PostgreSQL gives avg of one 1234567890.12: 1234567890.12000000).
        'a 59 0.10 0.10000000000000000000 1', 'a 00 0.10 0.10000000000000000000 1', 'a 01 0.70 0.70000000000000000000 1',
        'a 02 0.70 0.70000000000000000000 1', 'a 03 0.01 0.01000000000000000000 1', 'a 04 0.01 0.01000000000000000000 1',
        'b 00 0.20 0.20000000000000000000 1', 'b 01 0.20 0.20000000000000000000 1', 'b 02 1234567890.12 1234567890.12000000 1',
        'b 03 1234567890.12 1234567890.12000000 1', 'b 04 -0.05 -0.05000000000000000000 1', 'b 05 -0.05 -0.05000000000000000000 1',
      ])
      // The view over the view took back each earlier price of a symbol: its sum is that of the last prices.
      const lastSum = async () => (await c.query({ text: 'SELECT sum(last) AS total, max(last) AS top, count(*) AS n FROM tick_last', types: AS_TEXT })).rows[0]
      const view = async () => (await c.query({ text: 'SELECT total, top FROM tick_sum_of_last', types: AS_TEXT })).rows[0]
      const both = await eventually(async () => [await lastSum(), await view()] as const, ([l, v]) => l.n === '2' && v?.total === l.total && v?.top === l.top, 30_000)
      expect(both[1].total).toMatch(/^1234567890\.\d\d$/)
    } finally {
      await c.end()
    }
  }, 60_000)
})
