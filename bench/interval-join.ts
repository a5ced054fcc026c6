/**
 * CPU per event of an interval join, end to end in this process (ingest into the embedded log, decode, the
 * join's probes and state, RocksDB, checkpoint), against the same events read by plain views (one view
 * without aggregation per stream) as the baseline: the difference is what the join costs.
 *
 *   node --import tsx bench/interval-join.ts --mode join|plain [--events 200000] [--players 10000]
 *
 * Offers and purchases alike, `events` of each, one event per stream every 10 ms of event time, so a
 * 30-minute bound keeps about 180,000 rows of each stream waiting; players spread them over keys.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'join' }, events: { type: 'string', default: '200000' }, players: { type: 'string', default: '10000' } } })
const mode = values.mode === 'plain' ? 'plain' : 'join'
const events = Number(values.events)
const players = Number(values.players)

const DDL = `CREATE STREAM offers (player_id BIGINT, offer TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4);
CREATE STREAM purchases (player_id BIGINT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4);
${
  mode === 'join'
    ? `CREATE MATERIALIZED VIEW attributed AS SELECT o.player_id, o.offer, p.amount, p.ts FROM offers o JOIN purchases p
        ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes';`
    : `CREATE MATERIALIZED VIEW all_offers AS SELECT player_id, offer, ts FROM offers;
       CREATE MATERIALIZED VIEW all_purchases AS SELECT player_id, amount, ts FROM purchases;`
}`

async function main(): Promise<void> {
  await initParser()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  const engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 1000, batchSize: 4096 })
  try {
    for (const p of parseStatements(DDL)) {
      const s = p.statement
      if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
    }
    const start = Date.UTC(2026, 11, 1)
    let seed = 7
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32)
    const BATCH = 10_000
    const chunks: [string, string[]][] = []
    for (let i = 0; i < events; i += BATCH) {
      const n = Math.min(BATCH, events - i)
      const at = (j: number) => new Date(start + (i + j) * 10).toISOString()
      chunks.push(['offers', Array.from({ length: n }, (_, j) => JSON.stringify({ player_id: Math.floor(rand() * players), offer: `o${(i + j) % 13}`, ts: at(j) }))])
      chunks.push(['purchases', Array.from({ length: n }, (_, j) => JSON.stringify({ player_id: Math.floor(rand() * players), amount: 1 + Math.floor(rand() * 100), ts: at(j) }))])
    }
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (const [stream, chunk] of chunks) await engine.insertJson(stream, chunk)
    for (const name of engine.allQueries().map((q) => q.name)) await engine.waitCaughtUp(name, 3_600_000)
    await engine.checkpoint()
    const cpu = process.cpuUsage(cpu0)
    const secs = (performance.now() - t0) / 1000
    const total = 2 * events
    let out = 0
    let waiting = 0
    for (const q of engine.allQueries()) {
      if (q.status !== 'running') throw new Error(`${q.name} failed: ${q.lastError?.message}`)
      for await (const _ of q.rows()) out++
      waiting += q.bufferedRows()
    }
    const usPerEvent = (cpu.user + cpu.system) / total
    console.log(`RESULT interval_join mode=${mode} events=${total} players=${players} cpu_us_per_event=${usPerEvent.toFixed(2)} wall_s=${secs.toFixed(1)} rows_out=${out} waiting=${waiting}`)
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
