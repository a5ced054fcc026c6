/**
 * /metrics, /health and /ready on a real `sluice serve` with HTTP: after a workload through psql and HTTP
 * ingest, the exposition is read by the official Prometheus Python client's parser and its values are the
 * workload's (events in, trigger firings by outcome, a dead letter, a late event, pull-query counts). With
 * users configured, /metrics wants credentials of any role while the probes stay open.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type ParsedSample, parseExposition, sampleValue } from './helpers/prometheus.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const at = (minute: number, second = 0) => `2026-12-06 10:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}+00`

async function scrape(server: SluiceProcess, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`, { headers })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

async function probe(server: SluiceProcess, path: '/health' | '/ready'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('/metrics after a workload', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let samples: ParsedSample[]

  beforeAll(async () => {
    sluice = await startSluice({ http: true })
    client = await sluice.client()
    await client.query(`CREATE STREAM ev (k TEXT, n INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (key = 'k', partitions = 2)`)
    await client.query(`CREATE MATERIALIZED VIEW per_minute AS SELECT window_start, k, count(*) AS c FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY window_start, window_end, k`)
    // A view name that needs escaping in a label value: a double quote and a backslash.
    await client.query(`CREATE MATERIALIZED VIEW "odd""name\\x" AS SELECT k, count(*) AS c FROM ev GROUP BY k`)
    await client.query(`CREATE TRIGGER cool AFTER INSERT ON ev FOR EACH ROW EXECUTE NOTIFY cool_ch, NEW.k WITH (cooldown = INTERVAL '1 hour')`)
    await client.query(`CREATE TRIGGER capped AFTER INSERT ON ev FOR EACH ROW WHEN (NEW.n > 0) EXECUTE NOTIFY capped_ch, NEW.k WITH (max_fires = 1)`)
    // a fires, a again within the hour (cooldown; over the cap), b fires: 2 delivered and 1 suppressed each.
    await client.query(`INSERT INTO ev VALUES ('a', 1, '${at(0, 1)}'), ('b', 2, '${at(0, 2)}')`)
    await client.query(`INSERT INTO ev VALUES ('a', 3, '${at(0, 30)}')`)
    // Time moves on; then an event of a closed window is late for per_minute.
    await client.query(`INSERT INTO ev VALUES ('c', 4, '${at(5)}')`)
    await client.query(`INSERT INTO ev VALUES ('e', 5, '${at(0, 10)}')`)
    // One bad record over HTTP: a dead letter of ev.
    const res = await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/ev`, { method: 'POST', body: '{"k": "d", "n": "not a number", "ts": "2026-12-06T10:06:00Z"}\n' })
    expect(res.status).toBe(422)
    await eventually(
      async () => parseExposition((await scrape(sluice)).text),
      (s) => sampleValue(s, 'sluice_dead_letters_total', { stream: 'ev' }) === 1 && sampleValue(s, 'sluice_query_events_in_total', { query: 'per_minute' }) === 5 && sampleValue(s, 'sluice_trigger_firings_total', { query: 'capped', outcome: 'cap' }) === 1,
    )
    samples = parseExposition((await scrape(sluice)).text)
  }, 120_000)

  afterAll(async () => {
    await client?.end()
    await sluice?.stop()
    if (sluice !== undefined) await removeDir(sluice.dataDir)
  })

  test('is the Prometheus text format, with HELP and TYPE for every family', async () => {
    const { status, type, text } = await scrape(sluice)
    expect(status).toBe(200)
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8')
    for (const family of ['sluice_query_events_in_total', 'sluice_checkpoint_duration_seconds', 'sluice_trigger_firings_total', 'process_resident_memory_bytes']) {
      expect(text).toContain(`# HELP ${family} `)
      expect(text).toMatch(new RegExp(`^# TYPE ${family} (counter|gauge|histogram)$`, 'm'))
    }
    const types = new Map(samples.map((s) => [s.family, s.type]))
    expect(types.get('sluice_checkpoint_duration_seconds')).toBe('histogram')
    expect(types.get('sluice_pull_query_duration_seconds')).toBe('histogram')
    expect(types.get('sluice_query_events_in')).toBe('counter')
    expect(types.get('sluice_query_state_bytes')).toBe('gauge')
  })

  test('counts events in per stream and per query, the dead letter and the late event', () => {
    // Six records reached ev's log: five valid events and the bad one.
    expect(sampleValue(samples, 'sluice_stream_events_in_total', { stream: 'ev' })).toBe(6)
    expect(sampleValue(samples, 'sluice_dead_letters_total', { stream: 'ev' })).toBe(1)
    for (const query of ['per_minute', 'odd"name\\x', 'cool', 'capped']) {
      expect(sampleValue(samples, 'sluice_query_events_in_total', { query, stream: 'ev' }), query).toBe(5)
      expect(sampleValue(samples, 'sluice_query_running', { query }), query).toBe(1)
      for (const p of ['0', '1']) expect(sampleValue(samples, 'sluice_query_lag_events', { query, partition: p })).toBe(0)
    }
    expect(sampleValue(samples, 'sluice_query_late_events_total', { query: 'per_minute' })).toBe(1)
    expect(sampleValue(samples, 'sluice_query_late_events_total', { query: 'odd"name\\x' })).toBe(0)
    // Four groups (a, b, c, e) were written by the GROUP BY k view, five times in all.
    expect(sampleValue(samples, 'sluice_query_events_out_total', { query: 'odd"name\\x' })).toBe(5)
    expect(sampleValue(samples, 'sluice_query_state_keys', { query: 'odd"name\\x' })).toBe(4)
    // The watermark is 10:04:59 of 2026-12-06, long before now.
    const delay = sampleValue(samples, 'sluice_query_watermark_delay_seconds', { query: 'per_minute' })!
    const expected = (Date.now() - Date.parse('2026-12-06T10:04:59Z')) / 1000
    expect(Math.abs(delay - expected)).toBeLessThan(600)
  })

  test('counts trigger firings by outcome', () => {
    const firings = (query: string, outcome: string) => sampleValue(samples, 'sluice_trigger_firings_total', { query, stream: 'ev', outcome })
    // cool: a, b, c, e delivered; the second a, within the hour, is cooled down.
    expect([firings('cool', 'delivered'), firings('cool', 'cooldown'), firings('cool', 'cap')]).toEqual([4, 1, 0])
    // capped: a, b, c, e once each; the second a is over max_fires.
    expect([firings('capped', 'delivered'), firings('capped', 'cap'), firings('capped', 'cooldown')]).toEqual([4, 1, 0])
    expect(firings('cool', 'held_out')).toBe(0)
    expect(sampleValue(samples, 'sluice_trigger_pending_firings', { query: 'cool' })).toBe(0)
  })

  test('times checkpoints and pull queries in histograms whose counts grow', async () => {
    const bucket = (s: readonly ParsedSample[], name: string, le: string) => sampleValue(s, `${name}_bucket`, { le })
    const count = (s: readonly ParsedSample[], name: string) => sampleValue(s, `${name}_count`)!
    expect(count(samples, 'sluice_checkpoint_duration_seconds')).toBeGreaterThan(0)
    expect(bucket(samples, 'sluice_checkpoint_duration_seconds', '+Inf')).toBe(count(samples, 'sluice_checkpoint_duration_seconds'))
    const before = count(samples, 'sluice_pull_query_duration_seconds')
    for (let i = 0; i < 3; i++) await client.query('SELECT * FROM per_minute')
    await client.query('SELECT count(*) FROM sluice_queries')
    const after = parseExposition((await scrape(sluice)).text)
    expect(count(after, 'sluice_pull_query_duration_seconds')).toBe(before + 4)
    expect(sampleValue(after, 'sluice_pull_query_duration_seconds_sum')).toBeGreaterThan(sampleValue(samples, 'sluice_pull_query_duration_seconds_sum')!)
    // Buckets are cumulative: never fewer observations under a larger bound.
    const buckets = after.filter((s) => s.name === 'sluice_pull_query_duration_seconds_bucket').map((s) => s.value)
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b))
  })

  test('shows connections by user and the process', async () => {
    const other = await sluice.client()
    try {
      const s = parseExposition((await scrape(sluice)).text)
      expect(sampleValue(s, 'sluice_connections', { user: 'analyst' })).toBe(2)
      expect(sampleValue(s, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024)
      expect(sampleValue(s, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
      expect(sampleValue(s, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0)
      expect(sampleValue(s, 'sluice_engine_degraded')).toBe(0)
      expect(sampleValue(s, 'sluice_engine_loop_seconds_since_turn')).toBeLessThan(30)
    } finally {
      await other.end()
    }
  })

  test('decodes large batches on the second thread by default where there are two cores', async () => {
    await client.query(`CREATE STREAM bulk (k TEXT, n INT, ts TIMESTAMPTZ NOT NULL) WITH (partitions = 1)`)
    await client.query(`CREATE MATERIALIZED VIEW bulk_n AS SELECT k, count(*) AS c, sum(n) AS s FROM bulk GROUP BY k`)
    const body = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ k: `k${i % 3}`, n: i, ts: '2026-12-06T11:00:00Z' })).join('\n')
    expect((await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/bulk`, { method: 'POST', body })).status).toBe(200)
    const s = await eventually(
      async () => parseExposition((await scrape(sluice)).text),
      (x) => sampleValue(x, 'sluice_query_events_in_total', { query: 'bulk_n' }) === 3000,
    )
    const batches = sampleValue(s, 'sluice_decode_thread_batches_total')!
    if (availableParallelism() >= 2) expect(batches).toBeGreaterThan(0)
    else expect(batches).toBe(0)
    const { rows } = await client.query('SELECT k, c, s FROM bulk_n ORDER BY k')
    expect(rows).toEqual([0, 1, 2].map((r) => ({ k: `k${r}`, c: '1000', s: String(Array.from({ length: 1000 }, (_, j) => 3 * j + r).reduce((a, b) => a + b)) })))
  })

  test('/health is ok and /ready is ready with every query caught up', async () => {
    expect(await probe(sluice, '/health')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await probe(sluice, '/ready')).toEqual({ status: 200, body: { status: 'ready' } })
    const post = await fetch(`http://127.0.0.1:${sluice.httpPort}/metrics`, { method: 'POST' })
    expect(post.status).toBe(405)
  })
})

describe('/metrics with authentication on', () => {
  let dir: string
  let sluice: SluiceProcess

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-metrics-auth-'))
    const users = join(dir, 'users')
    writeFileSync(users, 'alice:admin:s3cret\nbob:readonly:hunter2\n')
    sluice = await startSluice({ http: true, args: ['--users', users] })
  }, 60_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice !== undefined) await removeDir(sluice.dataDir)
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

  test('wants a valid user of any role; /health and /ready stay open', async () => {
    const anonymous = await scrape(sluice)
    expect(anonymous.status).toBe(401)
    expect(anonymous.text).not.toContain('sluice_')
    expect((await scrape(sluice, basic('bob', 'wrong'))).status).toBe(401)
    const readonly = await scrape(sluice, basic('bob', 'hunter2'))
    expect(readonly.status).toBe(200)
    expect(parseExposition(readonly.text).some((s) => s.name === 'sluice_engine_degraded')).toBe(true)
    expect((await scrape(sluice, basic('alice', 's3cret'))).status).toBe(200)
    expect((await probe(sluice, '/health')).status).toBe(200)
    expect((await probe(sluice, '/ready')).status).toBe(200)
  })
})
