/**
 * Triggers on one stream, in one process: events/s with 1, 100 and 1,000 triggers (each with its own
 * condition on the event, a tenth of them joined to the player profile), the same counts with a cooldown
 * on every trigger (so that each firing reads and writes per-key state), the same counts where all but
 * one wait for event types that never come, and the latency from INSERT to NOTIFY at a steady 20,000
 * events/s with one trigger. A short unreported run first warms the process up, so that the one-trigger
 * figure every ratio divides by is not the only one measured cold.
 *
 *   npm run bench:triggers
 *   npm run bench:triggers -- --events 200000 --counts 1,100,1000
 *   npm run bench:triggers -- --counts 1,1000 --kinds cooldown   (one set only, e.g. to profile it)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'

const STREAM = `CREATE STREAM game_events (player_id BIGINT NOT NULL, seq BIGINT, type TEXT, result TEXT, level INT, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4);
CREATE MATERIALIZED VIEW player_profile AS SELECT player_id, count(*) FILTER (WHERE result = 'loss') AS fights_lost,
  last_value(level) FILTER (WHERE type = 'game_start') AS current_level FROM game_events GROUP BY player_id`

const TYPES = ['login', 'game_start', 'fight', 'fight', 'game_end', 'transaction']

function event(i: number, players: number): string {
  const type = TYPES[i % TYPES.length]!
  return JSON.stringify({
    player_id: (i * 7919) % players,
    seq: i,
    type,
    result: type === 'fight' ? (i % 3 === 0 ? 'loss' : 'win') : null,
    level: i % 100,
    ts: new Date(Date.UTC(2026, 10, 23) + i * 10).toISOString(),
  })
}

/**
 * Campaigns that wait for event types this stream never carries (promotions not running yet): they can
 * never match, so with the event-condition index they should cost next to nothing per event.
 */
function idleTrigger(k: number): string {
  return `CREATE TRIGGER idle${k} AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'promo_${k}' AND NEW.level > 10) EXECUTE NOTIFY promo_${k}, NEW.player_id::text`
}

/** The three sets of triggers: see docs/benchmarks.md. */
type Kind = 'active' | 'cooldown' | 'idle'

/** Trigger k: its own level on fights; every tenth one also looks at the profile. */
function trigger(k: number, cooldown: boolean): string {
  const joined = k % 10 === 0
  return `CREATE TRIGGER t${k} AFTER INSERT ON game_events ${joined ? 'JOIN player_profile p USING (player_id)' : ''} FOR EACH ROW
    WHEN (NEW.type = 'fight' AND NEW.level = ${k % 100}${joined ? ' AND p.fights_lost >= 0' : ''}) EXECUTE NOTIFY offers_${k}, NEW.player_id::text
    ${cooldown ? "WITH (cooldown = INTERVAL '1 hour')" : ''}`
}

async function run(sql: string, engine: Engine): Promise<void> {
  for (const p of parseStatements(sql)) {
    const s = p.statement
    if (s.kind === 'create_stream') await engine.createStream(s, p.text)
    else if (s.kind === 'create_view') await engine.createView(s, p.text)
    else if (s.kind === 'create_trigger') await engine.createTrigger(s, p.text)
  }
}

async function withEngine<T>(fn: (engine: Engine) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  const engine = await Engine.open({ dataDir: dir, cacheEntries: 2_000_000, checkpointIntervalMs: 1000, batchSize: 4096 })
  try {
    return await fn(engine)
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function throughput(count: number, events: number, kind: Kind = 'active', quiet = false): Promise<number> {
  return withEngine(async (engine) => {
    await run(STREAM, engine)
    for (let k = 0; k < count; k++) await run(kind === 'idle' && k > 0 ? idleTrigger(k) : trigger(k, kind === 'cooldown'), engine)
    const chunks: string[][] = []
    for (let i = 0; i < events; i += 10_000) chunks.push(Array.from({ length: Math.min(10_000, events - i) }, (_, j) => event(i + j, 100_000)))
    const t0 = performance.now()
    for (const c of chunks) await engine.insertJson('game_events', c)
    for (const q of engine.allQueries()) await engine.waitCaughtUp(q.name, 3_600_000)
    const secs = (performance.now() - t0) / 1000
    const fires = (await engine.triggerStats()).reduce((n, t) => n + t.counters.fires, 0)
    const eps = events / secs
    const what = kind === 'idle' ? ` (${count - 1} never matching)` : kind === 'cooldown' ? ' with a cooldown' : ''
    if (!quiet) console.log(`${String(count).padStart(5)} triggers${what}: ${Math.round(eps).toLocaleString('en-US').padStart(9)} events/s (${fires.toLocaleString('en-US')} firings)`)
    return eps
  })
}

/** One trigger, events inserted at a steady rate; the time from each INSERT to its notification. */
async function latency(rate: number, seconds: number): Promise<{ p50: number; p99: number; n: number }> {
  return withEngine(async (engine) => {
    await run(STREAM, engine)
    await run(`CREATE TRIGGER every_loss AFTER INSERT ON game_events JOIN player_profile p USING (player_id) FOR EACH ROW
      WHEN (NEW.result = 'loss') EXECUTE NOTIFY losses, NEW.seq::text`, engine)
    const sentAt = new Map<string, number>()
    const delays: number[] = []
    engine.notifications.listen('losses', (m) => {
      const t = sentAt.get(m.payload)
      if (t !== undefined) delays.push(performance.now() - t)
    })
    const perTick = rate / 100
    const start = performance.now()
    let i = 0
    for (let tick = 0; tick < seconds * 100; tick++) {
      const due = start + tick * 10
      const wait = due - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const batch: string[] = []
      const now = performance.now()
      for (let j = 0; j < perTick; j++, i++) {
        const e = event(i, 100_000)
        batch.push(e)
        if (TYPES[i % TYPES.length] === 'fight' && i % 3 === 0) sentAt.set(String(i), now)
      }
      await engine.insertJson('game_events', batch)
    }
    for (const q of engine.allQueries()) await engine.waitCaughtUp(q.name, 60_000)
    await new Promise((r) => setTimeout(r, 200))
    delays.sort((a, b) => a - b)
    const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? Number.NaN
    return { p50: at(0.5), p99: at(0.99), n: delays.length }
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, counts: { type: 'string' }, kinds: { type: 'string' } } })
  const kinds = new Set((values.kinds ?? 'active,cooldown,idle,latency').split(','))
  await initParser()
  const events = Number(values.events ?? 200_000)
  const counts = (values.counts ?? '1,100,1000').split(',').map(Number)
  const sized = (c: number) => (c >= 1000 ? Math.min(events, 50_000) : events)
  await throughput(1, Math.min(events, 20_000), 'active', true)
  const results = new Map<number, number>()
  // The ratios divide by the first count's active figure, which is therefore always measured.
  for (const c of counts) if (kinds.has('active') || c === counts[0]) results.set(c, await throughput(c, sized(c)))
  const base = results.get(counts[0]!)!
  if (kinds.has('active')) for (const [c, eps] of results) console.log(`RESULT triggers count=${c} eps=${Math.round(eps)} ratio_to_${counts[0]}=${(eps / base).toFixed(3)}`)
  // The same counts with a cooldown on every trigger: each firing reads and writes its key's state.
  for (const c of counts.filter((n) => n > 1 && kinds.has('cooldown'))) {
    const eps = await throughput(c, sized(c), 'cooldown')
    console.log(`RESULT triggers_cooldown count=${c} eps=${Math.round(eps)} ratio_to_${counts[0]}=${(eps / base).toFixed(3)}`)
  }
  // The same counts where all but one trigger wait for events that never come: the cost of having them.
  for (const c of counts.filter((n) => n > 1 && kinds.has('idle'))) {
    const eps = await throughput(c, sized(c), 'idle')
    console.log(`RESULT triggers_idle count=${c} eps=${Math.round(eps)} ratio_to_${counts[0]}=${(eps / base).toFixed(3)}`)
  }
  if (!kinds.has('latency')) return
  const l = await latency(20_000, 10)
  console.log(`latency INSERT -> NOTIFY at 20,000 events/s: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms (${l.n.toLocaleString('en-US')} notifications)`)
  console.log(`RESULT trigger_latency rate=20000 p50_ms=${l.p50.toFixed(1)} p99_ms=${l.p99.toFixed(1)}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
