/**
 * End-to-end benchmark: ingest JSON events into the embedded log and run a tumbling count per key over
 * them, in one process; printed next to the ceiling of JSON.parse over the same events, measured in the
 * same run. Usage:
 *   npm run bench                               # 1M events over 100k keys, then 5M events over 5M keys
 *   npm run bench -- --events 1000000 --keys 100000 [--cache 2000000]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'

interface Config {
  readonly events: number
  readonly keys: number
  readonly cache: number
}

/**
 * `n` events for `keys` players: player i * 7919 mod keys, so every player appears n / keys times (for
 * 5M events over 5M keys: each exactly once); event times spread evenly over 50 minutes of one hour, so
 * the hourly tumbling count keeps exactly `keys` groups of state.
 */
function makeEvents(n: number, keys: number): string[] {
  const out = new Array<string>(n)
  const start = Date.UTC(2026, 10, 23, 0, 0, 0)
  const step = (50 * 60_000) / n
  const types = ['game_start', 'game_end', 'fight', 'login', 'transaction']
  for (let i = 0; i < n; i++) {
    const ts = new Date(start + Math.floor(i * step)).toISOString()
    out[i] = JSON.stringify({ player_id: (i * 7919) % keys, game: 'chess', type: types[i % 5], level: i % 100, ts })
  }
  return out
}

function jsonParseCeiling(events: readonly string[]): number {
  let sink = 0
  const t0 = performance.now()
  for (const e of events) sink += (JSON.parse(e) as { level: number }).level
  const secs = (performance.now() - t0) / 1000
  if (sink < 0) console.log(sink)
  return events.length / secs
}

async function runOne(cfg: Config): Promise<void> {
  const events = makeEvents(cfg.events, cfg.keys)
  const ceiling = jsonParseCeiling(events)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  const engine = await Engine.open({ dataDir: dir, cacheEntries: cfg.cache, checkpointIntervalMs: 1000, batchSize: 4096 })
  try {
    const ddl = `CREATE STREAM events (player_id BIGINT NOT NULL, game TEXT, type TEXT, level INT, ts TIMESTAMPTZ NOT NULL,
        WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4);
      CREATE MATERIALIZED VIEW per_key AS SELECT window_start, window_end, player_id, count(*) AS n
        FROM TUMBLE(events, ts, INTERVAL '1 hour') GROUP BY window_start, window_end, player_id`
    for (const p of parseStatements(ddl)) {
      const s = p.statement
      if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
    }
    const t0 = performance.now()
    const BATCH = 10_000
    for (let i = 0; i < events.length; i += BATCH) await engine.insertJson('events', events.slice(i, i + BATCH))
    const ingested = performance.now()
    await engine.waitCaughtUp('per_key', 600_000)
    await engine.checkpoint()
    const done = performance.now()
    const q = engine.query('per_key')!
    if (q.status !== 'running') throw new Error(`query failed: ${q.lastError?.message}`)
    if (q.eventsIn !== events.length) throw new Error(`processed ${q.eventsIn} of ${events.length} events`)
    const secs = (done - t0) / 1000
    const eps = events.length / secs
    const rss = process.resourceUsage().maxRSS / 1024
    console.log(
      `tumble count: ${cfg.events.toLocaleString('en-US')} events over ${cfg.keys.toLocaleString('en-US')} keys (cache ${cfg.cache.toLocaleString('en-US')} entries)\n` +
        `  ingest          ${fmt(events.length / ((ingested - t0) / 1000))} events/s\n` +
        `  end to end      ${fmt(eps)} events/s (ingest + decode + window + keyed count + checkpoint)\n` +
        `  JSON.parse      ${fmt(ceiling)} events/s (same events, same run)\n` +
        `  ratio           ${(eps / ceiling).toFixed(2)} of the JSON.parse ceiling\n` +
        `  peak RSS        ${rss.toFixed(0)} MiB`,
    )
    console.log(`RESULT tumble_count events=${cfg.events} keys=${cfg.keys} eps=${Math.round(eps)} json_parse_eps=${Math.round(ceiling)} ratio=${(eps / ceiling).toFixed(3)} peak_rss_mib=${rss.toFixed(0)}`)
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12)

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, keys: { type: 'string' }, cache: { type: 'string' } } })
  await initParser()
  if (values.events !== undefined) {
    await runOne({ events: Number(values.events), keys: Number(values.keys ?? 100_000), cache: Number(values.cache ?? 2_000_000) })
    return
  }
  await runOne({ events: 1_000_000, keys: 100_000, cache: 2_000_000 })
  // State larger than the cache: 5M distinct keys against a 1M-entry cache.
  await runOne({ events: 5_000_000, keys: 5_000_000, cache: 1_000_000 })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
