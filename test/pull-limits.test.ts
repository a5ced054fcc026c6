/**
 * Pull queries under limits, against a real server: the catalog joins BI clients send (pgjdbc's
 * getImportedKeys shape: a 9-way comma join with generate_series) are hash joins that take milliseconds;
 * a cross join of two 100,000-row views ends with 53200 or 57014 while other sessions keep answering and a
 * continuous view keeps consuming; statement_timeout (SET, PGOPTIONS), CancelRequest, pg_cancel_backend,
 * pg_terminate_backend and EXPLAIN ANALYZE. PostgreSQL at 127.0.0.1:5432 is the oracle for the catalog join.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { type SluiceProcess, eventually, removeDir, spawnSync, startSluice } from './helpers/sluice-process.ts'
import { RawPg, errorFields } from './helpers/raw-pg.ts'

const ROWS = 100_000
const INSERT_BATCH = 5_000

/** The shape of pgjdbc's getImportedKeys: nine relations, equalities in WHERE, a key position from generate_series. */
const keysQuery = (contype: string, table: string): string => `
SELECT NULL::text AS pktable_cat, pkn.nspname AS pktable_schem, pkc.relname AS pktable_name, pka.attname AS pkcolumn_name,
  NULL::text AS fktable_cat, fkn.nspname AS fktable_schem, fkc.relname AS fktable_name, fka.attname AS fkcolumn_name,
  pos.n AS key_seq,
  CASE con.confdeltype WHEN 'c' THEN 0 WHEN 'n' THEN 2 WHEN 'd' THEN 4 WHEN 'r' THEN 1 WHEN 'a' THEN 3 ELSE NULL END AS delete_rule,
  con.conname AS fk_name, pkic.relname AS pk_name,
  CASE WHEN con.condeferrable AND con.condeferred THEN 5 WHEN con.condeferrable THEN 6 ELSE 7 END AS deferrability
FROM pg_catalog.pg_namespace pkn, pg_catalog.pg_class pkc, pg_catalog.pg_attribute pka,
  pg_catalog.pg_namespace fkn, pg_catalog.pg_class fkc, pg_catalog.pg_attribute fka,
  pg_catalog.pg_constraint con, pg_catalog.generate_series(1, 32) pos(n), pg_catalog.pg_class pkic
WHERE pkn.oid = pkc.relnamespace AND pkc.oid = pka.attrelid AND pka.attnum = con.${contype === 'f' ? 'confkey' : 'conkey'}[pos.n]
  AND con.${contype === 'f' ? 'confrelid' : 'conrelid'} = pkc.oid
  AND fkn.oid = fkc.relnamespace AND fkc.oid = fka.attrelid AND fka.attnum = con.conkey[pos.n] AND con.conrelid = fkc.oid
  AND con.contype = '${contype}' AND (pkic.relkind = 'i' OR pkic.relkind = 'I') AND pkic.oid = con.conindid
  AND fkn.nspname = 'public' AND fkc.relname = '${table}'
ORDER BY pkn.nspname, pkc.relname, con.conname, pos.n`

let sluice: SluiceProcess
const clients: pg.Client[] = []

async function client(options: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'analyst', database: 'sluice', ...options })
  c.on('error', () => {})
  await c.connect()
  clients.push(c)
  return c
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

beforeAll(async () => {
  sluice = await startSluice()
  const c = await client()
  await c.query('CREATE STREAM big (id int, g int, t text) WITH (partitions = 1)')
  for (let start = 0; start < ROWS; start += INSERT_BATCH) {
    const values: string[] = []
    for (let i = start; i < start + INSERT_BATCH; i++) values.push(`(${i}, ${i % 100}, 'name${i}')`)
    await c.query(`INSERT INTO big VALUES ${values.join(', ')}`)
  }
  await c.query('CREATE MATERIALIZED VIEW big_a AS SELECT id, g, t FROM big')
  await c.query('CREATE MATERIALIZED VIEW big_b AS SELECT id, g FROM big')
  await c.query('CREATE STREAM ticks (n int) WITH (partitions = 1)')
  await c.query('CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks')
  await c.query('CREATE MATERIALIZED VIEW by_g AS SELECT g, count(*) AS n FROM big GROUP BY g')
  await eventually(async () => Number((await c.query('SELECT count(*) AS n FROM big_a')).rows[0].n), (n) => n === ROWS, 60_000)
}, 180_000)

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => {})
  await sluice?.stop()
  if (sluice) await removeDir(sluice.dataDir)
})

describe('catalog joins', () => {
  test("getImportedKeys' 9-way comma join runs as hash joins in well under a second, with PostgreSQL's rows", async () => {
    const c = await client()
    // Foreign keys: Sluice has none, so no rows; what matters is that it answers at once.
    let t0 = performance.now()
    const fk = await c.query(keysQuery('f', 'by_g'))
    expect(fk.rows).toEqual([])
    expect(performance.now() - t0).toBeLessThan(1000)
    // The same join over the primary key of a GROUP BY view finds its key column, as PostgreSQL does for
    // a table with that primary key.
    t0 = performance.now()
    const pk = await c.query(keysQuery('p', 'by_g'))
    const ms = performance.now() - t0
    expect(ms).toBeLessThan(1000)
    const oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    try {
      await oracle.query('BEGIN')
      await oracle.query('CREATE TEMP TABLE by_g (g int PRIMARY KEY, n bigint)')
      // A temporary table lives in pg_temp: ask for that schema, and compare the rest.
      const expected = await oracle.query(keysQuery('p', 'by_g').replace("fkn.nspname = 'public'", 'fkn.oid = pg_my_temp_schema()'))
      await oracle.query('ROLLBACK')
      const strip = (rows: Record<string, unknown>[]) => rows.map((r) => ({ ...r, pktable_schem: null, fktable_schem: null }))
      expect(strip(pk.rows)).toEqual(strip(expected.rows))
      expect(pk.rows).toHaveLength(1)
      expect(pk.rows[0]).toMatchObject({ pktable_name: 'by_g', pkcolumn_name: 'g', fkcolumn_name: 'g', key_seq: 1, pk_name: 'by_g_pkey', deferrability: 7 })
    } finally {
      await oracle.end()
    }
  })

  test('EXPLAIN ANALYZE runs the query and shows rows and times per node, with the join order chosen', async () => {
    const c = await client()
    const r = await c.query(`EXPLAIN ANALYZE ${keysQuery('p', 'by_g')}`)
    const text = r.rows.map((row) => row['QUERY PLAN']).join('\n')
    expect(text).toMatch(/Hash Join \(9 inputs/)
    expect(text).toMatch(/actual rows=\d+ loops=1 time=[\d.]+ ms/)
    expect(text).toMatch(/start with pg_catalog\.\S+: 1 rows/)
    expect(text).toMatch(/Execution Time: [\d.]+ ms/)
    // A single-view query too: the plan with its rows.
    const single = await c.query('EXPLAIN ANALYZE SELECT g FROM by_g WHERE n > 0 ORDER BY g')
    expect(single.rows[0]['QUERY PLAN']).toMatch(/^Sort \(actual rows=100 loops=1 time=/)
    // Not a query: refused, never a plain plan in its place.
    const code = await sqlstate(c.query('EXPLAIN ANALYZE CREATE STREAM nope (a int)'))
    expect(code).toBe('0A000')
  })

  test('outer joins and equi-joins of views give the rows PostgreSQL gives', async () => {
    const c = await client()
    const r = await c.query(`SELECT a.g, count(*) AS n, max(b.id) AS m
      FROM big_a a LEFT JOIN big_b b ON a.id = b.id + 99990 AND b.g < 50 WHERE a.id >= 99980 GROUP BY a.g ORDER BY a.g`)
    // Rows 99980..99999; b.id + 99990 = a.id for b.id 0..9 (g 0..9 < 50): a.id 99990..99999 match one row each.
    expect(r.rows).toHaveLength(20)
    expect(r.rows.filter((row) => row.m !== null).map((row) => Number(row.m))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const full = await c.query(`SELECT count(*) AS n FROM (SELECT id FROM big_a WHERE id < 5) x FULL JOIN (SELECT id FROM big_b WHERE id BETWEEN 3 AND 7) y ON x.id = y.id`)
    expect(Number(full.rows[0].n)).toBe(8)
  })
})

describe('joins stream into the query above them', () => {
  test('LIMIT over a cross join stops at once; an aggregate over a join holds no joined rows', async () => {
    const c = await client()
    await c.query("SET sluice.query_memory = '32MB'")
    const t0 = performance.now()
    expect((await c.query('SELECT a.id, b.id FROM big_a a, big_b b LIMIT 5')).rows).toHaveLength(5)
    expect(performance.now() - t0).toBeLessThan(3000)
    // The two views (~17 MB estimated) and the hash table fit in 32 MB; 100,000 joined rows would not.
    const r = await c.query('SELECT count(*) AS n, sum(b.g) AS s FROM big_a a JOIN big_b b ON a.id = b.id')
    expect(r.rows).toEqual([{ n: '100000', s: String(49.5 * ROWS) }])
  })
})

describe('limits', () => {
  test('a cross join of two 100,000-row views ends with 53200 or 57014 while other sessions answer and views consume', async () => {
    const heavy = await client()
    const probe = await client()
    const writer = await client()
    await heavy.query("SET statement_timeout = '60s'")
    const before = Number((await probe.query('SELECT n FROM tick_count')).rows[0]?.n ?? 0)
    let done = false
    const started = performance.now()
    const outcome = sqlstate(heavy.query('SELECT a.id, b.id, a.t FROM big_a a, big_b b')).finally(() => (done = true))
    // While it runs: SELECT 1 from another session, and events into a continuous view.
    const latencies: number[] = []
    let inserted = 0
    let consumedWhileRunning = false
    while (!done) {
      const t0 = performance.now()
      await probe.query('SELECT 1')
      latencies.push(performance.now() - t0)
      await writer.query('INSERT INTO ticks VALUES (1), (2), (3)')
      inserted += 3
      const n = Number((await probe.query('SELECT n FROM tick_count')).rows[0].n)
      if (!done && n === before + inserted) consumedWhileRunning = true
      await new Promise((r) => setTimeout(r, 20))
    }
    const code = await outcome
    const ms = performance.now() - started
    expect(['53200', '57014']).toContain(code)
    expect(latencies.length).toBeGreaterThan(3)
    latencies.sort((a, b) => a - b)
    console.log(`cross join ended with ${code} after ${ms.toFixed(0)} ms; SELECT 1 from another session: ${latencies.length} probes, median ${latencies[latencies.length >> 1]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`)
    expect(latencies.at(-1)!).toBeLessThan(500)
    expect(consumedWhileRunning).toBe(true)
    // The session that failed goes on.
    expect((await heavy.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  }, 120_000)

  test('SET sluice.query_memory lowers the budget; the error names it', async () => {
    const c = await client()
    await c.query("SET sluice.query_memory = '4MB'")
    const err = await c.query('SELECT id FROM big_a ORDER BY t').then(
      () => null,
      (e: { code: string; message: string }) => e,
    )
    expect(err?.code).toBe('53200')
    expect(err?.message).toContain('4MB')
    expect((await c.query('SHOW sluice.query_memory')).rows[0]['sluice.query_memory']).toBe('4MB')
    // LIMIT without ORDER BY stops reading the view once it has its rows: within the budget.
    expect((await c.query('SELECT id FROM big_a LIMIT 3')).rows).toHaveLength(3)
    expect(await sqlstate(c.query("SET sluice.query_memory = 'lots'"))).toBe('22023')
    await c.query('RESET sluice.query_memory')
    expect((await c.query('SELECT count(*) AS n FROM (SELECT DISTINCT t FROM big_a) x')).rows[0].n).toBe('100000')
  })

  test('statement_timeout out of range is refused as PostgreSQL refuses it, from SET and from set_config', async () => {
    const oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    const c = await client()
    try {
      const outcome = (p: Promise<unknown>): Promise<string> =>
        p.then(
          () => 'ok',
          (e: { code: string; message: string; hint?: string }) => `${e.code}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`,
        )
      for (const sql of [
        'SET statement_timeout = 99999999999999999',
        "SET statement_timeout = '3000000000'",
        'SET statement_timeout = -5',
        "SELECT set_config('statement_timeout', '-5', false)",
        "SELECT set_config('statement_timeout', '99999999999999999', false)",
        "SET statement_timeout = '2147483647'",
        'SET statement_timeout = 0',
      ]) {
        expect(await outcome(c.query(sql)), sql).toBe(await outcome(oracle.query(sql)))
      }
    } finally {
      await c.end()
      await oracle.end()
    }
  })

  test('statement_timeout from SET and from the startup options (PGOPTIONS) cancels with 57014', async () => {
    const slow = 'SELECT count(*) FROM big_a a, big_b b WHERE a.id + b.id < 0'
    const c = await client()
    await c.query("SET statement_timeout = '200ms'")
    let t0 = performance.now()
    const err = await c.query(slow).then(
      () => null,
      (e: { code: string; message: string }) => e,
    )
    expect(err?.code).toBe('57014')
    expect(err?.message).toBe('canceling statement due to statement timeout')
    expect(performance.now() - t0).toBeLessThan(5000)
    await c.query('SET statement_timeout = 0')
    const fromOptions = await client({ options: '-c statement_timeout=150' })
    expect((await fromOptions.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('150')
    t0 = performance.now()
    expect(await sqlstate(fromOptions.query(slow))).toBe('57014')
    expect(performance.now() - t0).toBeLessThan(5000)
    // psql, with PGOPTIONS in its environment.
    const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-c', slow], {
      encoding: 'utf8',
      env: { ...process.env, PGOPTIONS: '-c statement_timeout=100', PGCONNECT_TIMEOUT: '10' },
      timeout: 20_000,
    })
    expect(r.stderr).toContain('canceling statement due to statement timeout')
  })

  test('a CancelRequest stops a running pull query with 57014 and the session goes on', async () => {
    const raw = await RawPg.open(sluice.port, 'analyst', 'sluice')
    try {
      raw.send(serialize.query('SELECT count(*) FROM big_a a, big_b b WHERE a.id + b.id < 0'))
      // Once the query runs, cancel it from another connection as libpq does.
      const watcher = await sluice.client()
      try {
        await eventually(async () => (await watcher.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%big_a a, big_b b%' AND pid <> pg_backend_pid()`)).rows[0].n, (n) => n === '1')
      } finally {
        await watcher.end()
      }
      const t0 = performance.now()
      await raw.cancel()
      const messages = await raw.until('Z', 10_000)
      const error = messages.find((m) => m.type === 'E')
      expect(error).toBeDefined()
      expect(errorFields(error!)).toMatchObject({ C: '57014', M: 'canceling statement due to user request' })
      expect(performance.now() - t0).toBeLessThan(2000)
      raw.send(serialize.query('SELECT 1'))
      const after = await raw.until('Z')
      expect(after.some((m) => m.type === 'D')).toBe(true)
    } finally {
      raw.close()
    }
  })

  test('pg_cancel_backend and pg_terminate_backend reach other sessions, which pg_stat_activity shows', async () => {
    const victim = await client()
    const admin = await client()
    const pid = Number((await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
    const listed = await admin.query('SELECT pid, usename FROM pg_stat_activity WHERE pid = $1', [pid])
    expect(listed.rows).toEqual([{ pid, usename: 'analyst' }])
    const running = sqlstate(victim.query('SELECT count(*) FROM big_a a, big_b b WHERE a.id + b.id < 0'))
    await eventually(async () => (await admin.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid])).rows[0]?.state, (s) => s === 'active')
    expect((await admin.query('SELECT pg_cancel_backend($1) AS ok', [pid])).rows).toEqual([{ ok: true }])
    expect(await running).toBe('57014')
    expect((await victim.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }])
    expect((await admin.query('SELECT pg_cancel_backend(12345) AS ok')).rows).toEqual([{ ok: false }])
    // Terminate: the victim's connection ends with FATAL 57P01.
    const ended = new Promise<{ code?: string }>((resolve) => victim.once('error', (e) => resolve(e as { code?: string })))
    expect((await admin.query('SELECT pg_terminate_backend($1) AS ok', [pid])).rows).toEqual([{ ok: true }])
    expect((await ended).code).toBe('57P01')
    await eventually(async () => (await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n, (n) => n === '0')
  })
})

describe('server defaults', () => {
  test('--statement-timeout and --query-memory set what sessions start with; a bad startup value is FATAL', async () => {
    const other = await startSluice({ args: ['--statement-timeout', '150ms', '--query-memory', '8MB'] })
    try {
      const c = await other.client()
      try {
        expect((await c.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('150')
        expect((await c.query('SHOW sluice.query_memory')).rows[0]['sluice.query_memory']).toBe('8MB')
        await c.query('CREATE STREAM s (a int) WITH (partitions = 1)')
        await c.query(`INSERT INTO s VALUES ${Array.from({ length: 4000 }, (_, i) => `(${i})`).join(', ')}`)
        expect(await sqlstate(c.query('SELECT count(*) FROM s x, s y WHERE x.a + y.a < 0'))).toBe('57014')
        await c.query('SET statement_timeout = 0')
        expect(await sqlstate(c.query('SELECT x.a, y.a FROM s x, s y'))).toBe('53200')
      } finally {
        await c.end()
      }
      const bad = new pg.Client({ host: '127.0.0.1', port: other.port, user: 'analyst', database: 'sluice', options: '-c statement_timeout=soon' })
      bad.on('error', () => {})
      const err = await bad.connect().then(
        () => null,
        (e: { code?: string; message?: string }) => e,
      )
      expect(err?.code).toBe('22023')
      expect(err?.message).toContain('invalid value for parameter "statement_timeout"')
    } finally {
      await other.stop()
      await removeDir(other.dataDir)
    }
  }, 60_000)
})
