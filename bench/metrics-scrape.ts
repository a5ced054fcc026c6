/**
 * What scraping /metrics costs the engine. A server (in this process, with its HTTP port) holds a stream and
 * 20 views over it; N events are appended and the time until every view has processed them all gives the
 * engine's events/s. Runs alternate without and with a scraper (curl in another process, as Prometheus
 * would be) fetching /metrics every second, so that both see the same machine; the medians and their ratio
 * are printed, with the ratio of the process's CPU time for the same work (less disturbed by other load
 * than wall-clock time), then the server-side time of one scrape with the 20 views, which bounds the cost
 * directly.
 *
 *   npm run bench:metrics
 *   npm run bench:metrics -- --events 400000 --pairs 3 --interval-ms 1000
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startServer } from '../server/server.ts'
import { MetricsRegistry } from '../server/metrics.ts'
import { SessionRegistry } from '../server/sessions.ts'
import { parseStatements } from '../parser/index.ts'
import type { Engine } from '../executor/engine.ts'

const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '400000' }, pairs: { type: 'string', default: '3' }, 'interval-ms': { type: 'string', default: '1000' }, views: { type: 'string', default: '20' } },
})
const EVENTS = Number(args.events)
const PAIRS = Number(args.pairs)
const INTERVAL_MS = Number(args['interval-ms'])
const VIEWS = Number(args.views)

/** Half the views count per type in tumbling windows of different lengths, half sum levels per key bucket. */
function ddl(): string {
  const out = [`CREATE STREAM events (player_id BIGINT NOT NULL, type TEXT, level INT, ts TIMESTAMPTZ NOT NULL,
    WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4)`]
  for (let i = 0; i < VIEWS; i++) {
    out.push(
      i % 2 === 0
        ? `CREATE MATERIALIZED VIEW v${i} AS SELECT window_start, window_end, type, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '${i + 1} minutes') GROUP BY window_start, window_end, type`
        : `CREATE MATERIALIZED VIEW v${i} AS SELECT player_id % ${(i + 1) * 50} AS bucket, sum(level) AS s, count(*) AS n FROM events GROUP BY bucket`,
    )
  }
  return out.join(';\n')
}

function makeEvents(n: number): string[] {
  const start = Date.UTC(2026, 11, 6, 10, 0, 0)
  const types = ['game_start', 'game_end', 'fight', 'login', 'transaction']
  return Array.from({ length: n }, (_, i) => JSON.stringify({ player_id: (i * 7919) % 100_000, type: types[i % 5], level: i % 100, ts: new Date(start + Math.floor(i * 3)).toISOString() }))
}

async function deploy(engine: Engine): Promise<void> {
  for (const p of parseStatements(ddl())) {
    const s = p.statement
    if (s.kind === 'create_stream') await engine.createStream(s, p.text)
    else if (s.kind === 'create_view') await engine.createView(s, p.text)
  }
}

/** Polls /metrics from another process every INTERVAL_MS, as a Prometheus server would. */
function startScraper(port: number): { stop: () => Promise<number> } {
  const countFile = join(tmpdir(), `sluice-scrapes-${process.pid}-${Date.now()}`)
  // One line per answered scrape in the file.
  const script = `while :; do curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:${port}/metrics >> "$0"; sleep ${INTERVAL_MS / 1000}; done`
  const child = spawn('sh', ['-c', script, countFile], { stdio: 'ignore' })
  return {
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      const { readFile } = await import('node:fs/promises')
      const n = (await readFile(countFile, 'utf8').catch(() => '')).split('\n').filter((l) => l === '200').length
      await rm(countFile, { force: true })
      return n
    },
  }
}

/** The process's own CPU time (all its threads, not the scraper's), in milliseconds. */
const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function runOnce(events: readonly string[], scrape: boolean): Promise<{ eps: number; cpuMs: number; scrapes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-metrics-'))
  const server = await startServer({ dataDir: dir, port: 0, httpPort: 0, checkpointIntervalMs: 500 })
  try {
    await deploy(server.engine)
    const scraper = scrape ? startScraper(server.httpPort!) : null
    const t0 = performance.now()
    const cpu0 = cpuMs()
    const BATCH = 10_000
    for (let i = 0; i < events.length; i += BATCH) await server.engine.insertJson('events', events.slice(i, i + BATCH))
    for (let i = 0; i < VIEWS; i++) await server.engine.waitCaughtUp(`v${i}`, 600_000)
    const secs = (performance.now() - t0) / 1000
    const cpu = cpuMs() - cpu0
    const scrapes = scraper === null ? 0 : await scraper.stop()
    for (const q of server.engine.allQueries()) if (q.eventsIn !== events.length) throw new Error(`${q.name} processed ${q.eventsIn} of ${events.length} events`)
    return { eps: events.length / secs, cpuMs: cpu, scrapes }
  } finally {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Requests answered in a row by one curl process, for the server-side cost of a scrape. */
const SCRAPES = 500

/**
 * The server-side cost of one scrape with the views loaded: the median time of rendering the exposition,
 * and the process's CPU time (all its threads) per scrape while a curl process fetches /metrics SCRAPES
 * times in a row, less what the idle engine uses in the same time.
 */
async function scrapeCost(events: readonly string[]): Promise<{ renderMs: number; cpuMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-metrics-'))
  const server = await startServer({ dataDir: dir, port: 0, httpPort: 0, checkpointIntervalMs: 500 })
  const registry = new MetricsRegistry(server.engine, new SessionRegistry())
  try {
    await deploy(server.engine)
    await server.engine.insertJson('events', events.slice(0, 10_000))
    for (let i = 0; i < VIEWS; i++) await server.engine.waitCaughtUp(`v${i}`, 60_000)
    const times: number[] = []
    for (let i = 0; i < 200; i++) {
      const t = performance.now()
      await registry.render()
      times.push(performance.now() - t)
    }
    const cpu = cpuMs
    const idleFrom = cpu()
    const idleStart = performance.now()
    await new Promise((r) => setTimeout(r, 2000))
    const idlePerMs = (cpu() - idleFrom) / (performance.now() - idleStart)
    const from = cpu()
    const start = performance.now()
    const curl = spawn('curl', ['-s', '-f', `http://127.0.0.1:${server.httpPort}/metrics?n=[1-${SCRAPES}]`], { stdio: 'ignore' })
    const code = await new Promise<number | null>((r) => curl.once('exit', r))
    if (code !== 0) throw new Error(`curl exited with ${code}`)
    const busy = cpu() - from - idlePerMs * (performance.now() - start)
    return { renderMs: median(times), cpuMs: busy / SCRAPES }
  } finally {
    registry.close()
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(10)

const events = makeEvents(EVENTS)
const without: number[] = []
const withScrape: number[] = []
const ratios: number[] = []
const cpuRatios: number[] = []
let scrapes = 0
for (let pair = 0; pair < PAIRS; pair++) {
  // Alternating order, so neither side always runs first on a warming machine.
  const scrapedFirst = pair % 2 === 1
  const x = await runOnce(events, scrapedFirst)
  const y = await runOnce(events, !scrapedFirst)
  const on = scrapedFirst ? x : y
  const off = scrapedFirst ? y : x
  without.push(off.eps)
  withScrape.push(on.eps)
  ratios.push(on.eps / off.eps)
  cpuRatios.push(on.cpuMs / off.cpuMs)
  scrapes += on.scrapes
  console.log(
    `pair ${pair + 1}: without ${fmt(off.eps)} events/s, ${fmt(off.cpuMs)} ms CPU; scraped every ${INTERVAL_MS} ms ${fmt(on.eps)} events/s, ${fmt(on.cpuMs)} ms CPU (${on.scrapes} scrapes); ratios ${(on.eps / off.eps).toFixed(3)} events/s, ${(on.cpuMs / off.cpuMs).toFixed(3)} CPU`,
  )
}
const cost = await scrapeCost(events)
console.log(`${EVENTS.toLocaleString('en-US')} events into ${VIEWS} views, ${PAIRS} pairs`)
console.log(`  without scraping  ${fmt(median(without))} events/s (median)`)
console.log(`  scraped           ${fmt(median(withScrape))} events/s (median; ${scrapes} scrapes in all)`)
console.log(`  ratio             ${median(ratios).toFixed(3)} (median of the pairs' ratios)`)
console.log(`  CPU ratio         ${median(cpuRatios).toFixed(3)} (the server process's CPU time for the same work, scraped / without; median)`)
console.log(`  one scrape        ${cost.renderMs.toFixed(2)} ms to render; ${cost.cpuMs.toFixed(2)} ms of server CPU with HTTP (${SCRAPES} scrapes in a row)`)
console.log(`  scraping cost     ${((cost.cpuMs / INTERVAL_MS) * 100).toFixed(3)} % of one core at one scrape every ${INTERVAL_MS} ms`)
console.log(`RESULT metrics_scrape events=${EVENTS} views=${VIEWS} eps_without=${Math.round(median(without))} eps_scraped=${Math.round(median(withScrape))} ratio=${median(ratios).toFixed(3)} cpu_ratio=${median(cpuRatios).toFixed(3)} render_ms=${cost.renderMs.toFixed(3)} cpu_ms_per_scrape=${cost.cpuMs.toFixed(3)}`)
