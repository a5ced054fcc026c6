/**
 * WITH (max_state, max_output_rate) against a real `sluice serve`: a GROUP BY over a growing key set is
 * stopped past its state limit, saying which limit, while another view of the same stream counts every
 * event; a view reading the stopped one stops too and says why; a trigger that fires too fast is stopped
 * and ALTER TRIGGER ... SET runs it again; bad values are 22023 with their position; a stop survives a
 * restart.
 */
import { afterEach, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const STREAM = 'CREATE STREAM events (k BIGINT NOT NULL, v INT NOT NULL)'
const BY_KEY = "CREATE MATERIALIZED VIEW by_key WITH (max_state = '1MB') AS SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k"
const COUNTED = 'CREATE MATERIALIZED VIEW counted AS SELECT v, count(*) AS n FROM events GROUP BY v'
/** Reads the limited view's rows: it stops when that one does. */
const RAW = "CREATE MATERIALIZED VIEW raw WITH (max_state = '1MB') AS SELECT k, v FROM events"
const RAW_COUNT = 'CREATE MATERIALIZED VIEW raw_count AS SELECT count(*) AS n FROM raw'

interface QueryRow {
  name: string
  status: string
  last_error: string | null
  state_bytes: string
  events_in: string
}

let sluice: SluiceProcess | null = null
const dirs: string[] = []

afterEach(async () => {
  await sluice?.stop()
  sluice = null
  for (const d of dirs.splice(0)) await removeDir(d)
})

async function queries(c: pg.Client): Promise<Map<string, QueryRow>> {
  const r = await c.query<QueryRow>('SELECT name, status, last_error, state_bytes, events_in FROM sluice_queries')
  return new Map(r.rows.map((row) => [row.name, row]))
}

/** Inserts keys [from, from + n), value key % 10. */
async function insertKeys(c: pg.Client, from: number, n: number): Promise<void> {
  const values: string[] = []
  for (let k = from; k < from + n; k++) values.push(`(${k}, ${k % 10})`)
  await c.query(`INSERT INTO events VALUES ${values.join(',')}`)
}

async function countedTotal(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: string | null }>('SELECT sum(n) AS n FROM counted')
  return Number(r.rows[0]?.n ?? 0)
}

describe('continuous-query limits', () => {
  test('a view past max_state stops with the reason, its reader stops, the others count on, and it stays stopped after a restart', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    sluice = await startSluice({ dataDir })
    const c = await sluice.client()
    try {
      for (const sql of [STREAM, BY_KEY, COUNTED, RAW, RAW_COUNT]) await c.query(sql)
      // Keys keep coming until the limited views stop (1 MB of groups is some tens of thousands of keys).
      let inserted = 0
      const deadline = Date.now() + 60_000
      for (;;) {
        await insertKeys(c, inserted, 2000)
        inserted += 2000
        const q = await queries(c)
        if (q.get('by_key')!.status !== 'running' && q.get('raw')!.status !== 'running') break
        if (Date.now() > deadline || inserted > 400_000) throw new Error(`not stopped after ${inserted} keys: ${JSON.stringify([...q.values()])}`)
      }
      const q = await queries(c)
      const byKey = q.get('by_key')!
      expect(byKey.status).toBe('failed')
      expect(byKey.last_error).toMatch(/^53400: materialized view "by_key" stopped: its state of .* exceeds max_state = '1MB'/)
      expect(Number(byKey.state_bytes)).toBeGreaterThan(1024 * 1024)
      expect(q.get('raw')!.last_error).toMatch(/exceeds max_state = '1MB'/)
      // The view reading the stopped one stops too, and says why.
      expect(q.get('raw_count')!.status).toBe('failed')
      expect(q.get('raw_count')!.last_error).toMatch(/materialized view "raw", which it reads, was stopped: .*max_state/)
      expect(q.get('counted')!.status).toBe('running')
      // The reader got every row the stopped view wrote before it stopped.
      const readerRows = await c.query<{ n: string }>('SELECT n FROM raw_count')
      expect(Number(readerRows.rows[0]!.n)).toBe(Number(q.get('raw')!.events_in))

      // The other view counts every event, before and after the stop.
      await insertKeys(c, inserted, 2000)
      inserted += 2000
      await eventually(() => countedTotal(c), (n) => n === inserted)
      const stoppedAt = Number(q.get('by_key')!.events_in)
      expect(Number((await queries(c)).get('by_key')!.events_in)).toBe(stoppedAt)
      // Its rows so far stay readable.
      const rows = await c.query<{ n: string }>('SELECT count(*) AS n FROM by_key')
      expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0)
      expect(Number(rows.rows[0]!.n)).toBeLessThan(inserted)
    } finally {
      await c.end()
    }

    // After a restart it is still stopped, with the same reason; the other view goes on counting.
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    const d = await sluice.client()
    try {
      const q = await queries(d)
      expect(q.get('by_key')!.status).toBe('failed')
      expect(q.get('by_key')!.last_error).toMatch(/exceeds max_state = '1MB'/)
      expect(q.get('raw_count')!.status).toBe('failed')
      const before = Number(q.get('by_key')!.events_in)
      const total = await countedTotal(d)
      await insertKeys(d, 1_000_000, 500)
      await eventually(() => countedTotal(d), (n) => n === total + 500)
      expect(Number((await queries(d)).get('by_key')!.events_in)).toBe(before)

      // ALTER ... SET changes the limits only, and not below the state the view holds.
      const refused: [string, string, RegExp][] = [
        ["ALTER MATERIALIZED VIEW by_key SET (max_state = '2kB')", 'max_state', /is below the state the view holds/],
        ["ALTER MATERIALIZED VIEW by_key SET (max_state = '64MB', retention = '1 day')", 'retention', /cannot change option "retention"/],
        ["ALTER MATERIALIZED VIEW by_key SET (max_output_rate = 'fast')", 'max_output_rate', /invalid value for option "max_output_rate"/],
      ]
      for (const [sql, option, message] of refused) {
        const err = (await d.query(sql).then(() => null, (e: unknown) => e)) as (Error & { code?: string; position?: string }) | null
        expect(err?.code, sql).toBe('22023')
        expect(err!.message, sql).toMatch(message)
        expect(Number(err!.position), sql).toBe(sql.indexOf(option) + 1)
      }
      expect((await queries(d)).get('by_key')!.status).toBe('failed')

      // Raising the limit runs the views again where they stopped; the view reading one runs again with it.
      await d.query("ALTER MATERIALIZED VIEW by_key SET (max_state = '64MB')")
      await d.query("ALTER MATERIALIZED VIEW raw SET (max_state = '64MB')")
      const resumed = await queries(d)
      for (const v of ['by_key', 'raw', 'raw_count']) {
        expect(resumed.get(v)!.status, v).toBe('running')
        expect(resumed.get(v)!.last_error, v).toBeNull()
      }
      const rawCount = async () => Number((await d.query<{ n: string }>('SELECT n FROM raw_count')).rows[0]?.n ?? 0)
      // Each takes in what it missed while stopped, then what comes: every event once.
      await insertKeys(d, 2_000_000, 300)
      await eventually(() => countedTotal(d), (n) => n === total + 800)
      await eventually(rawCount, (n) => n === total + 800)
      await eventually(async () => Number((await queries(d)).get('by_key')!.events_in), (n) => n === total + 800)
      const keys = await d.query<{ n: string; total: string }>('SELECT count(*) AS n, sum(n) AS total FROM by_key')
      expect(Number(keys.rows[0]!.total)).toBe(total + 800)
    } finally {
      await d.end()
    }

    // The raised limits are kept across a restart, and the views run on.
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    const e = await sluice.client()
    try {
      const r = await e.query<{ name: string; status: string; limits: string | null }>("SELECT name, status, limits FROM sluice_queries WHERE name IN ('by_key', 'raw', 'raw_count', 'counted') ORDER BY name")
      expect(r.rows).toEqual([
        { name: 'by_key', status: 'running', limits: 'max_state 64MB' },
        { name: 'counted', status: 'running', limits: null },
        { name: 'raw', status: 'running', limits: 'max_state 64MB' },
        { name: 'raw_count', status: 'running', limits: null },
      ])
    } finally {
      await e.end()
    }
  }, 120_000)

  test('a trigger past max_output_rate stops, and ALTER TRIGGER ... SET runs it again', async () => {
    sluice = await startSluice()
    const c = await sluice.client()
    const listener = await sluice.client()
    try {
      await c.query(STREAM)
      await c.query(COUNTED)
      await c.query('CREATE TRIGGER loud AFTER INSERT ON events FOR EACH ROW WHEN (v >= 0) EXECUTE NOTIFY loud_ch, k::text WITH (max_output_rate = 50)')
      const got: string[] = []
      listener.on('notification', (n) => got.push(n.payload ?? ''))
      await listener.query('LISTEN loud_ch')
      // 20 rows stay under 50 a second.
      await insertKeys(c, 0, 20)
      await eventually(async () => got.length, (n) => n === 20)
      expect((await queries(c)).get('loud')!.status).toBe('running')
      // 1000 at once do not.
      await insertKeys(c, 100, 1000)
      const stopped = await eventually(() => c.query<{ status: string; last_error: string | null }>("SELECT status, last_error FROM sluice_triggers WHERE name = 'loud'"), (r) => r.rows[0]?.status === 'failed')
      expect(stopped.rows[0]!.last_error).toMatch(/^53400: trigger "loud" stopped: it put out \d+ rows per second, more than max_output_rate = 50/)
      await eventually(() => countedTotal(c), (n) => n === 1020)
      const afterStop = got.length
      await insertKeys(c, 5000, 10)
      await eventually(() => countedTotal(c), (n) => n === 1030)
      expect(got.length).toBe(afterStop)

      // Raising the limit runs it again from where it stopped.
      await c.query('ALTER TRIGGER loud SET (max_output_rate = 1000000)')
      expect((await queries(c)).get('loud')!.status).toBe('running')
      await insertKeys(c, 9000, 5)
      const fresh = new Set(['9000', '9001', '9002', '9003', '9004'])
      await eventually(async () => got.filter((p) => fresh.has(p)).length, (n) => n === 5)
      // A limit not reached yet, to be reached after a restart.
      await c.query('CREATE TRIGGER later AFTER INSERT ON events FOR EACH ROW EXECUTE NOTIFY later_ch WITH (max_output_rate = 50)')
    } finally {
      await listener.end()
      await c.end()
    }

    // Across a restart the limits hold: the raised one lets a burst through, the other stops it.
    const dataDir = sluice.dataDir
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    dirs.push(dataDir)
    const d = await sluice.client()
    try {
      const before = await d.query<{ name: string; status: string; limits: string }>("SELECT name, status, limits FROM sluice_queries WHERE name IN ('loud', 'later') ORDER BY name")
      expect(before.rows).toEqual([
        { name: 'later', status: 'running', limits: 'max_output_rate 50' },
        { name: 'loud', status: 'running', limits: 'max_output_rate 1000000' },
      ])
      await insertKeys(d, 20_000, 1000)
      await eventually(() => countedTotal(d), (n) => n === 2035)
      const after = await eventually(() => queries(d), (m) => m.get('later')!.status === 'failed')
      expect(after.get('later')!.last_error).toMatch(/more than max_output_rate = 50/)
      expect(after.get('loud')!.status).toBe('running')
    } finally {
      await d.end()
    }
  }, 90_000)

  test('state that retention deletes is no longer counted: the same windows without retention are stopped', async () => {
    sluice = await startSluice()
    const c = await sluice.client()
    try {
      await c.query("CREATE STREAM ticks (k BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)")
      const body = "AS SELECT k, count(*) AS n, window_start FROM TUMBLE(ticks, ts, INTERVAL '1 second') GROUP BY k, window_start, window_end"
      await c.query(`CREATE MATERIALIZED VIEW kept WITH (retention = INTERVAL '2 seconds', max_state = '256kB') ${body}`)
      await c.query(`CREATE MATERIALIZED VIEW hoarded WITH (max_state = '256kB') ${body}`)
      const t0 = Date.UTC(2026, 0, 1)
      // 150 seconds of event time, 200 keys a second: each window holds some kB of groups.
      for (let second = 0; second < 150; second++) {
        const values: string[] = []
        for (let k = 0; k < 200; k++) values.push(`(${k}, '${new Date(t0 + second * 1000 + k).toISOString()}')`)
        await c.query(`INSERT INTO ticks VALUES ${values.join(',')}`)
      }
      const q = await eventually(() => queries(c), (m) => Number(m.get('kept')!.events_in) === 30_000 && m.get('hoarded')!.status === 'failed')
      expect(q.get('hoarded')!.last_error).toMatch(/exceeds max_state = '256kB'/)
      expect(q.get('kept')!.status).toBe('running')
      expect(Number(q.get('kept')!.state_bytes)).toBeLessThan(256 * 1024)
      expect(Number(q.get('kept')!.state_bytes)).toBeGreaterThan(0)
    } finally {
      await c.end()
    }
  }, 90_000)

  test('invalid limits are 22023 with the position of the option', async () => {
    sluice = await startSluice()
    const c = await sluice.client()
    try {
      await c.query(STREAM)
      const cases: [string, string, RegExp][] = [
        ["CREATE MATERIALIZED VIEW bad WITH (max_state = 'lots') AS SELECT k, count(*) FROM events GROUP BY k", 'max_state', /invalid value for option "max_state"/],
        ["CREATE MATERIALIZED VIEW bad WITH (max_state = '12 parsecs') AS SELECT k FROM events", 'max_state', /invalid value for option "max_state"/],
        ["CREATE MATERIALIZED VIEW bad WITH (max_state = '0MB') AS SELECT k FROM events", 'max_state', /max_state must be positive/],
        ["CREATE MATERIALIZED VIEW bad WITH (max_state = '1MB', max_output_rate = 0) AS SELECT k FROM events", 'max_output_rate', /invalid value for option "max_output_rate"/],
        ['CREATE TRIGGER bad AFTER INSERT ON events FOR EACH ROW EXECUTE NOTIFY ch WITH (max_output_rate = -5)', 'max_output_rate', /invalid value for option "max_output_rate"/],
        ["CREATE TRIGGER bad AFTER INSERT ON events FOR EACH ROW EXECUTE NOTIFY ch WITH (max_output_rate = 'fast')", 'max_output_rate', /invalid value for option "max_output_rate"/],
      ]
      for (const [sql, option, message] of cases) {
        const err = (await c.query(sql).then(
          () => null,
          (e: unknown) => e,
        )) as (Error & { code?: string; position?: string }) | null
        expect(err, sql).not.toBeNull()
        expect(err!.code, sql).toBe('22023')
        expect(err!.message, sql).toMatch(message)
        expect(Number(err!.position), sql).toBe(sql.indexOf(option) + 1)
      }
      // Valid spellings, as PostgreSQL writes sizes.
      await c.query("CREATE MATERIALIZED VIEW ok1 WITH (max_state = '64MB', max_output_rate = 10000) AS SELECT k, count(*) FROM events GROUP BY k")
      await c.query("CREATE MATERIALIZED VIEW ok2 WITH (max_state = '1 GB') AS SELECT k FROM events")
      for (const [sql, code] of [["ALTER MATERIALIZED VIEW events SET (max_state = '1MB')", '42809'], ["ALTER MATERIALIZED VIEW nope SET (max_state = '1MB')", '42P01']] as const) {
        const err = (await c.query(sql).then(() => null, (e: unknown) => e)) as (Error & { code?: string; position?: string }) | null
        expect(err?.code, sql).toBe(code)
        expect(Number(err!.position), sql).toBe(sql.indexOf(' SET') - (sql.includes('events') ? 'events'.length : 'nope'.length) + 1)
      }
      const plan = await c.query<{ 'QUERY PLAN': string }>("EXPLAIN CREATE MATERIALIZED VIEW ok3 WITH (max_state = '512kB', max_output_rate = 5) AS SELECT k FROM events")
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/max_state 512kB, max_output_rate 5/)
    } finally {
      await c.end()
    }
  }, 60_000)
})
