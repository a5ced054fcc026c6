/**
 * Query governance for every statement kind, against a real server: COPY (query) TO STDOUT, COPY view TO
 * STDOUT, DECLARE CURSOR + FETCH, INSERT INTO stream SELECT, SUBSCRIBE, EXPLAIN ANALYZE and CREATE
 * MATERIALIZED VIEW over a long stream. Each one that runs long ends with 57014 under a small
 * statement_timeout and on a cancel (CancelRequest or pg_cancel_backend), those that materialize rows with
 * 53200 past sluice.query_memory; while each runs, a second session keeps answering `SELECT 1`.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { type SluiceProcess, eventually, removeDir, startSluice } from './helpers/sluice-process.ts'
import { type BackendMessage, RawPg, errorFields } from './helpers/raw-pg.ts'

const run = promisify(execFile)
const ROWS = 100_000
const INSERT_BATCH = 5_000
const CROSS = 'SELECT a.id, b.id AS bid, a.t FROM big_a a, big_b b'
/** A second session must answer within this while a statement runs (generous: the machine is shared). */
const PROBE_LIMIT_MS = 500

let sluice: SluiceProcess
/** The second session, connected before any statement under test starts. */
let probe: pg.Client
const clients: pg.Client[] = []
const raws: RawPg[] = []

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'analyst', database: 'sluice' })
  c.on('error', () => {})
  await c.connect()
  clients.push(c)
  return c
}

async function raw(): Promise<RawPg> {
  const r = await RawPg.open(sluice.port, 'analyst', 'sluice')
  raws.push(r)
  return r
}

/** Runs `sql` (simple protocol) to its ReadyForQuery; the messages in between. */
async function simple(r: RawPg, sql: string, ms = 60_000): Promise<BackendMessage[]> {
  r.send(serialize.query(sql))
  return r.until('Z', ms)
}

const errorOf = (ms: readonly BackendMessage[]): Record<string, string> | undefined => {
  const e = ms.find((m) => m.type === 'E')
  return e === undefined ? undefined : errorFields(e)
}

/** The SQLSTATE a promise rejects with. */
async function sqlstate(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
  throw new Error('expected the statement to fail')
}

/** Sends `SELECT 1` from another session every 20 ms until `running` settles; the latencies. */
async function probeWhile(running: Promise<unknown>): Promise<number[]> {
  let done = false
  void running.then(
    () => (done = true),
    () => (done = true),
  )
  const latencies: number[] = []
  while (!done) {
    const t0 = performance.now()
    await probe.query('SELECT 1')
    latencies.push(performance.now() - t0)
    await new Promise((r) => setTimeout(r, 20))
  }
  return latencies.sort((a, b) => a - b)
}

function expectResponsive(latencies: readonly number[], what: string): void {
  console.log(`${what}: SELECT 1 from another session, ${latencies.length} probes, max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`)
  expect(latencies.length).toBeGreaterThan(0)
  expect(latencies.at(-1)!).toBeLessThan(PROBE_LIMIT_MS)
}

beforeAll(async () => {
  sluice = await startSluice()
  const c = await client()
  probe = await client()
  await c.query('CREATE STREAM big (id int, g int, t text) WITH (partitions = 1)')
  for (let start = 0; start < ROWS; start += INSERT_BATCH) {
    const values: string[] = []
    for (let i = start; i < start + INSERT_BATCH; i++) values.push(`(${i}, ${i % 100}, 'name${i}')`)
    await c.query(`INSERT INTO big VALUES ${values.join(', ')}`)
  }
  await c.query('CREATE MATERIALIZED VIEW big_a AS SELECT id, g, t FROM big')
  await c.query('CREATE MATERIALIZED VIEW big_b AS SELECT id, g FROM big')
  await c.query('CREATE STREAM sink_s (a int, b int, t text) WITH (partitions = 1)')
  await c.query('CREATE MATERIALIZED VIEW by_g AS SELECT g, count(*) AS n FROM big GROUP BY g')
  await eventually(async () => Number((await c.query('SELECT sum(n) AS n FROM by_g')).rows[0].n), (n) => n === ROWS, 60_000)
  await eventually(async () => Number((await c.query('SELECT count(*) AS n FROM big_a')).rows[0].n), (n) => n === ROWS, 60_000)
  await eventually(async () => Number((await c.query('SELECT count(*) AS n FROM big_b')).rows[0].n), (n) => n === ROWS, 60_000)
}, 180_000)

afterAll(async () => {
  for (const r of raws) r.close()
  for (const c of clients) await c.end().catch(() => {})
  await sluice?.stop()
  if (sluice) await removeDir(sluice.dataDir)
})

describe('COPY TO STDOUT', () => {
  test('COPY (cross join) TO STDOUT ends with 57014 at statement_timeout; the session and others go on', async () => {
    const r = await raw()
    await simple(r, "SET statement_timeout = '300ms'")
    const started = performance.now()
    const running = simple(r, `COPY (${CROSS}) TO STDOUT`)
    const latencies = await probeWhile(running)
    const ms = performance.now() - started
    expect(errorOf(await running)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' })
    expect(ms).toBeGreaterThanOrEqual(290)
    expectResponsive(latencies, 'COPY (cross join)')
    const after = await simple(r, 'SELECT 1')
    expect(errorOf(after)).toBeUndefined()
  }, 60_000)

  test('COPY (cross join) TO STDOUT ends with 53200 past sluice.query_memory', async () => {
    const r = await raw()
    await simple(r, "SET sluice.query_memory = '16MB'")
    expect(errorOf(await simple(r, `COPY (SELECT a.id FROM big_a a, big_b b ORDER BY a.t) TO STDOUT`))).toMatchObject({ C: '53200' })
  }, 60_000)

  test('COPY view TO STDOUT: a CancelRequest during the sending ends it with 57014, before all rows went out', async () => {
    const r = await raw()
    r.send(serialize.query('COPY big_a TO STDOUT'))
    // Wait for the first rows, then cancel while the rest are formatted and sent.
    await r.until('d')
    await r.cancel()
    const rest = await r.until('Z')
    expect(errorOf(rest)).toMatchObject({ C: '57014' })
    expect(rest.some((m) => m.type === 'c')).toBe(false)
    expect(rest.filter((m) => m.type === 'd').length).toBeLessThan(ROWS - 1)
    expect(errorOf(await simple(r, 'SELECT 1'))).toBeUndefined()
  }, 60_000)

  test('COPY view TO STDOUT: statement_timeout also covers the sending of its rows', async () => {
    const r = await raw()
    // Find how long the whole COPY takes, then time out at a fraction of it.
    const t0 = performance.now()
    const all = await simple(r, 'COPY big_a TO STDOUT')
    const whole = performance.now() - t0
    expect(all.filter((m) => m.type === 'd')).toHaveLength(ROWS)
    const limit = Math.max(5, Math.floor(whole / 4))
    await simple(r, `SET statement_timeout = '${limit}ms'`)
    const cut = await simple(r, 'COPY big_a TO STDOUT')
    expect(errorOf(cut)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' })
    expect(cut.filter((m) => m.type === 'd').length).toBeLessThan(ROWS)
    console.log(`COPY big_a TO STDOUT: ${whole.toFixed(0)} ms whole; cut at ${limit} ms after ${cut.filter((m) => m.type === 'd').length} rows`)
  }, 60_000)
})

describe('cursors', () => {
  test('DECLARE over a cross join ends with 57014 at statement_timeout and with 53200 past the budget', async () => {
    const c = await client()
    await c.query('BEGIN')
    await c.query("SET LOCAL statement_timeout = '300ms'")
    const running = c.query(`DECLARE big CURSOR FOR ${CROSS}`)
    const latencies = await probeWhile(running)
    expect(await sqlstate(running)).toBe('57014')
    expectResponsive(latencies, 'DECLARE (cross join)')
    await c.query('ROLLBACK')
    await c.query('BEGIN')
    await c.query("SET LOCAL sluice.query_memory = '16MB'")
    expect(await sqlstate(c.query(`DECLARE big CURSOR FOR ${CROSS}`))).toBe('53200')
    await c.query('ROLLBACK')
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  }, 60_000)

  test('pg_cancel_backend ends a DECLARE over a cross join with 57014', async () => {
    const c = await client()
    const admin = await client()
    const pid = Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
    await c.query('BEGIN')
    const running = sqlstate(c.query(`DECLARE big CURSOR FOR ${CROSS}`))
    await eventually(async () => (await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid])).rows[0].n, (n) => Number(n) === 1, 10_000)
    expect((await admin.query('SELECT pg_cancel_backend($1) AS ok', [pid])).rows).toEqual([{ ok: true }])
    expect(await running).toBe('57014')
    await c.query('ROLLBACK')
  }, 60_000)

  test('statement_timeout ends a FETCH that waits on a SUBSCRIBE cursor with 57014', async () => {
    const c = await client()
    await c.query('BEGIN')
    await c.query('DECLARE live CURSOR FOR SUBSCRIBE TO by_g')
    // The snapshot (100 groups) is there at once; then FETCH waits for changes that do not come.
    expect((await c.query('FETCH ALL FROM live')).rows).toHaveLength(100)
    await c.query("SET LOCAL statement_timeout = '300ms'")
    const started = performance.now()
    const err = await c.query('FETCH 10 FROM live').then(
      () => null,
      (e: { code?: string; message?: string }) => e,
    )
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    expect(err).toMatchObject({ code: '57014', message: 'canceling statement due to statement timeout' })
    await c.query('ROLLBACK')
  }, 60_000)

  test('FETCH ALL of a 100,000-row cursor is sent in slices: another session answers meanwhile', async () => {
    // psql reads the rows in its own process, so that the probe's latency is the server's alone.
    const sql = 'BEGIN; DECLARE whole CURSOR FOR SELECT id, g, t FROM big_a; FETCH ALL FROM whole; COMMIT'
    const running = run('psql', ['-X', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], { maxBuffer: 64 * 1024 * 1024 })
    const latencies = await probeWhile(running)
    const lines = (await running).stdout.trim().split('\n')
    // BEGIN, DECLARE CURSOR and COMMIT print nothing with -At; the rows are those of the view.
    expect(lines.filter((l) => /^\d+\|\d+\|name\d+$/.test(l))).toHaveLength(ROWS)
    expectResponsive(latencies, 'FETCH ALL')
  }, 60_000)
})

describe('INSERT INTO stream SELECT', () => {
  test('the SELECT part ends with 57014 at statement_timeout and appends nothing', async () => {
    const c = await client()
    await c.query("SET statement_timeout = '300ms'")
    const running = c.query(`INSERT INTO sink_s ${CROSS}`)
    const latencies = await probeWhile(running)
    expect(await sqlstate(running)).toBe('57014')
    expectResponsive(latencies, 'INSERT ... SELECT (cross join)')
    await c.query('RESET statement_timeout')
    expect((await c.query('SELECT count(*) AS n FROM sink_s')).rows).toEqual([{ n: '0' }])
  }, 60_000)

  test('... and with 53200 past the budget', async () => {
    const c = await client()
    await c.query("SET sluice.query_memory = '16MB'")
    expect(await sqlstate(c.query(`INSERT INTO sink_s ${CROSS}`))).toBe('53200')
  }, 60_000)
})

describe('EXPLAIN ANALYZE', () => {
  test('ends with 57014 at statement_timeout and on a CancelRequest', async () => {
    const r = await raw()
    await simple(r, "SET statement_timeout = '300ms'")
    const running = simple(r, `EXPLAIN ANALYZE ${CROSS}`)
    const latencies = await probeWhile(running)
    expect(errorOf(await running)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' })
    expectResponsive(latencies, 'EXPLAIN ANALYZE (cross join)')
    await simple(r, 'RESET statement_timeout')
    r.send(serialize.query(`EXPLAIN ANALYZE ${CROSS}`))
    const admin = await client()
    await eventually(async () => (await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'EXPLAIN ANALYZE%' AND state = 'active'")).rows[0].n, (n) => Number(n) === 1, 10_000)
    await r.cancel()
    expect(errorOf(await r.until('Z'))).toMatchObject({ C: '57014', M: 'canceling statement due to user request' })
  }, 60_000)
})

describe('SUBSCRIBE', () => {
  test('statement_timeout ends a SUBSCRIBE with 57014, even while it waits for changes', async () => {
    const r = await raw()
    await simple(r, "SET statement_timeout = '400ms'")
    const started = performance.now()
    const ms = await simple(r, 'SUBSCRIBE TO by_g', 10_000)
    expect(performance.now() - started).toBeGreaterThanOrEqual(390)
    expect(errorOf(ms)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' })
    // Its snapshot came first, whole (the 100 groups): then it waited for changes until the timeout.
    expect(ms.filter((m) => m.type === 'D').length).toBe(100)
    expect(errorOf(await simple(r, 'SELECT 1'))).toBeUndefined()
  }, 60_000)

  test('a CancelRequest ends a SUBSCRIBE with a snapshot; another session answers while its snapshot is read', async () => {
    const r = await raw()
    r.send(serialize.query('SUBSCRIBE TO big_a'))
    // Until the whole snapshot (100,000 rows) is out, another session answers.
    const whole = (async () => {
      let rows = 0
      while (rows < ROWS) rows += (await r.until('D')).filter((m) => m.type === 'D').length
    })()
    const latencies = await probeWhile(whole)
    await whole
    expectResponsive(latencies, 'SUBSCRIBE snapshot')
    await r.cancel()
    expect(errorOf(await r.until('Z'))).toMatchObject({ C: '57014' })
  }, 60_000)
})

describe('CREATE MATERIALIZED VIEW over a long stream', () => {
  test('the backfill of 100,000 events does not stop another session from answering', async () => {
    const c = await client()
    const admin = await client()
    const backfill = (async () => {
      await c.query('CREATE MATERIALIZED VIEW big_by_g AS SELECT g, count(*) AS n, max(t) AS m FROM big GROUP BY g')
      await eventually(async () => (await admin.query('SELECT sum(n) AS n FROM big_by_g')).rows[0].n, (n) => Number(n) === ROWS, 60_000)
    })()
    const latencies = await probeWhile(backfill)
    await backfill
    expectResponsive(latencies, 'CREATE MATERIALIZED VIEW backfill')
  }, 90_000)
})

describe('statements that are expensive to parse', () => {
  test('50,000 nested parentheses are refused before the parser runs, with PostgreSQL\'s 42601', async () => {
    const c = await client()
    const sql = `SELECT ${'('.repeat(50_000)}1${')'.repeat(50_000)}`
    const t0 = performance.now()
    for (let i = 0; i < 10; i++) {
      const err = await c.query(sql).then(
        () => null,
        (e: { code?: string; message?: string }) => e,
      )
      expect(err).toMatchObject({ code: '42601', message: 'memory exhausted at or near "("' })
    }
    const each = (performance.now() - t0) / 10
    console.log(`50,000 nested parentheses: refused in ${each.toFixed(1)} ms each`)
    expect((await probe.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  })
})
