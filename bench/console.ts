/**
 * What watching costs: a server runs 20 windowed views over one stream; the same load is pushed through
 * it with no console client and with 5 live pages open (5 Server-Sent Event feeds of the console, each on
 * a view that changes with every engine step), interleaved A/B runs, and the engine's events/s compared.
 * Then, with the 5 feeds open and events stamped with the wall clock flowing at a steady rate, how long
 * after a window's close its row reaches a live page (an EMIT ON WINDOW CLOSE view of 1-second windows):
 * in a feed, and drawn in the table of the view's page in Chromium (the system's, when there is one).
 *
 *   npm run bench:console
 *   npm run bench:console -- --events 150000 --pairs 3 --rates 10000,50000 --seconds 10
 *
 * Throughput runs: `events` events are sent by HTTP ingest (batches of 5,000, two in flight) as fast as
 * the server takes them; a run ends when all 20 views have processed them all. Two figures per run: events
 * over the run's wall time, and the server process's CPU time per event (user + system, all its threads,
 * from /proc): on a shared, loaded machine the first swings with the neighbours, the second much less, and
 * its inverse is the events/s one core would give. The feeds are Node fetch readers in this process, not
 * browsers (a browser's rendering is on the client's machine, not the server's).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import pg from 'pg'
import type { Browser } from 'puppeteer-core'
import { removeDir, startSluice } from '../test/helpers/sluice-process.ts'
import { buildConsole } from '../console/build.ts'
import { chromiumPath, launchBrowser } from '../test/console/browser.ts'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '150000' },
    pairs: { type: 'string', default: '3' },
    rates: { type: 'string', default: '10000,50000' },
    seconds: { type: 'string', default: '10' },
    views: { type: 'string', default: '20' },
    clients: { type: 'string', default: '5' },
  },
})
const EVENTS = Number(args.events)
const PAIRS = Number(args.pairs)
const RATES = args.rates.split(',').map(Number)
const SECONDS = Number(args.seconds)
const VIEWS = Number(args.views)
const CLIENTS = Number(args.clients)
const BATCH = 5000
const KEYS = 50

// The server's default checkpoint interval (bin/sluice.ts --checkpoint-ms).
const sluice = await startSluice({ http: true, checkpointMs: 500 })
const base = `http://127.0.0.1:${sluice.httpPort}`
const db = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'bench', database: 'sluice' })
await db.connect()

/** Event time of the next event: advanced per event, so that windows close as the runs go on. */
let eventTime = Date.now() - 3_600_000
let sent = 0

function batch(n: number, stepUs: number, wallClock: boolean): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const ts = wallClock ? Date.now() : (eventTime += stepUs / 1000)
    lines.push(`{"k":${sent % KEYS},"g":${sent % 7},"v":${sent % 100},"ts":"${new Date(ts).toISOString()}"}`)
    sent++
  }
  return `${lines.join('\n')}\n`
}

async function post(body: string): Promise<void> {
  const res = await fetch(`${base}/streams/events`, { method: 'POST', body })
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
}

async function setUp(): Promise<void> {
  await db.query(`CREATE STREAM events (k int, g int, v int, ts timestamptz NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 4)`)
  for (let j = 0; j < VIEWS; j++) {
    const size = [1, 2, 5, 10][j % 4]
    await db.query(`CREATE MATERIALIZED VIEW v${j} AS SELECT window_start, k % ${2 + j} AS d, count(*) AS n, sum(v) AS total, max(g) AS top FROM TUMBLE(events, ts, INTERVAL '${size} seconds') GROUP BY window_start, k % ${2 + j}`)
  }
  await db.query(`CREATE MATERIALIZED VIEW closed_windows AS SELECT window_start, window_end, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '1 second') GROUP BY window_start, window_end EMIT ON WINDOW CLOSE`)
}

const processedByAll = async (): Promise<number> => Number((await db.query(`SELECT min(events_in) AS n FROM sluice_queries WHERE name LIKE 'v%'`)).rows[0]?.n ?? 0)

/** A live page's feed: reads and counts the changes until closed. */
interface Feed {
  changes: number
  readonly onRows: ((rows: (string | number | null)[][], at: number) => void)[]
  close(): void
}

function openFeed(view: string): Feed {
  const controller = new AbortController()
  const feed: Feed = { changes: 0, onRows: [], close: () => controller.abort() }
  void (async () => {
    const res = await fetch(`${base}/api/live/${view}`, { signal: controller.signal })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buffered = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffered += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const m = /^event: rows\ndata: (.*)$/s.exec(event)
        if (m === null) continue
        const rows = JSON.parse(m[1]!) as (string | number | null)[][]
        feed.changes += rows.length
        for (const f of feed.onRows) f(rows, Date.now())
      }
    }
  })().catch(() => {})
  return feed
}

/** CPU seconds the server process has used (user + system, every thread). */
function serverCpuSeconds(): number {
  const stat = readFileSync(`/proc/${sluice.child.pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Pushes EVENTS events as fast as the server takes them; the engine's events/s until all views have them. */
async function throughputRun(withClients: boolean): Promise<{ eps: number; cpuUsPerEvent: number; changes: number }> {
  const feeds = withClients ? Array.from({ length: CLIENTS }, (_, i) => openFeed(`v${i}`)) : []
  await new Promise((r) => setTimeout(r, 500))
  const target = (await processedByAll()) + EVENTS
  const cpu0 = serverCpuSeconds()
  const t0 = performance.now()
  let left = EVENTS
  const sender = async () => {
    while (left > 0) {
      const n = Math.min(BATCH, left)
      left -= n
      // 50,000 events/s of event time: 20 microseconds apart.
      await post(batch(n, 20, false))
    }
  }
  await Promise.all([sender(), sender()])
  while ((await processedByAll()) < target) await new Promise((r) => setTimeout(r, 50))
  const secs = (performance.now() - t0) / 1000
  const cpuUsPerEvent = ((serverCpuSeconds() - cpu0) * 1e6) / EVENTS
  const changes = feeds.reduce((a, f) => a + f.changes, 0)
  for (const f of feeds) f.close()
  return { eps: EVENTS / secs, cpuUsPerEvent, changes }
}

/** Opens the view's page in the browser; resolves to a function giving, per window end shown, when its row appeared (ms). */
async function watchPage(browser: Browser, view: string): Promise<() => Promise<[string, number][]>> {
  const page = await browser.newPage()
  await page.goto(`${base}/views/${view}`)
  await page.waitForSelector('table.live')
  // As text: tsx's compiled functions carry helpers the page does not have.
  await page.evaluate(`(() => {
    const seen = new Map()
    window.seen = seen
    const look = () => {
      const at = Date.now()
      for (const tr of document.querySelectorAll('table.live tbody tr')) {
        const end = tr.children[1]?.textContent ?? ''
        if (!seen.has(end)) seen.set(end, at)
      }
    }
    look()
    new MutationObserver(look).observe(document.querySelector('table.live'), { childList: true, subtree: true, characterData: true })
  })()`)
  return async () => {
    const out = (await page.evaluate('[...window.seen.entries()]')) as [string, number][]
    await page.close()
    return out
  }
}

const parseTs = (s: string): number => Date.parse(s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'))

/** Steady load stamped with the wall clock; how late each closed window reaches a live page (a feed, and a browser page if any). */
async function latencyRun(rate: number, browser: Browser | null): Promise<{ feed: number[]; page: number[] }> {
  const feeds = Array.from({ length: CLIENTS - 1 }, (_, i) => openFeed(`v${i}`))
  const pageSeen = browser === null ? null : await watchPage(browser, 'closed_windows')
  const watch = openFeed('closed_windows')
  const lateness: number[] = []
  let started = Infinity
  watch.onRows.push((rows, at) => {
    for (const r of rows) {
      const end = parseTs(String(r[2]))
      if (r[0] === 1 && end > started) lateness.push(at - end)
    }
  })
  await new Promise((r) => setTimeout(r, 500))
  started = Date.now() + 1000
  const tick = 100
  const perTick = Math.round((rate * tick) / 1000)
  const stopAt = Date.now() + SECONDS * 1000
  let behind = 0
  while (Date.now() < stopAt) {
    const t = Date.now()
    await post(batch(perTick, 0, true))
    const spent = Date.now() - t
    if (spent > tick) behind++
    else await new Promise((r) => setTimeout(r, tick - spent))
  }
  await new Promise((r) => setTimeout(r, 1500))
  for (const f of [...feeds, watch]) f.close()
  const shown = pageSeen === null ? [] : await pageSeen()
  const page = shown.map(([end, at]) => [parseTs(end), at] as const).filter(([end]) => end > started).map(([end, at]) => at - end)
  if (behind > SECONDS * 2) console.log(`  (the offered ${rate} events/s could not be sent in time in ${behind} of ${SECONDS * 10} ticks: the machine was saturated)`)
  return { feed: lateness.sort((a, b) => a - b), page: page.sort((a, b) => a - b) }
}

function describeLateness(what: string, xs: number[]): string {
  const p = (q: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN
  return `${what}: ${xs.length} windows, median ${fmt(p(0.5))} ms, p95 ${fmt(p(0.95))} ms, max ${fmt(xs.at(-1) ?? NaN)} ms`
}

async function maybeBrowser(): Promise<Browser | null> {
  try {
    chromiumPath()
  } catch {
    console.log('  (no Chromium: the page figures are left out)')
    return null
  }
  await buildConsole()
  return launchBrowser()
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

try {
  await setUp()
  console.log(`console cost: ${VIEWS} views over one 4-partition stream, ${fmt(EVENTS)} events per run, ${PAIRS} interleaved pairs, ${CLIENTS} live feeds`)
  await throughputRun(false) // warm-up, not counted
  const without: number[] = []
  const withFeeds: number[] = []
  const cpuWithout: number[] = []
  const cpuWith: number[] = []
  for (let p = 0; p < PAIRS; p++) {
    // Alternate which goes first, so that a drift of the machine's load falls on both alike.
    const order = p % 2 === 0 ? [false, true] : [true, false]
    for (const clients of order) {
      const r = await throughputRun(clients)
      ;(clients ? withFeeds : without).push(r.eps)
      ;(clients ? cpuWith : cpuWithout).push(r.cpuUsPerEvent)
      console.log(`  run ${p + 1} ${clients ? `with ${CLIENTS} feeds` : 'no feeds    '}: ${fmt(r.eps)} events/s, ${r.cpuUsPerEvent.toFixed(1)} µs CPU per event${clients ? ` (${fmt(r.changes)} changes sent)` : ''}`)
    }
  }
  const ratios = without.map((w, i) => withFeeds[i]! / w)
  const cpuRatios = cpuWithout.map((w, i) => cpuWith[i]! / w)
  console.log(`  wall events/s (median): ${fmt(median(without))} without, ${fmt(median(withFeeds))} with feeds; with/without ${median(ratios).toFixed(3)} (per pair: ${ratios.map((r) => r.toFixed(3)).join(', ')})`)
  console.log(`  server CPU per event (median): ${median(cpuWithout).toFixed(1)} µs without, ${median(cpuWith).toFixed(1)} µs with feeds; with/without ${median(cpuRatios).toFixed(3)} (per pair: ${cpuRatios.map((r) => r.toFixed(3)).join(', ')}), i.e. ${(100 * (1 - 1 / median(cpuRatios))).toFixed(1)} % of the events/s a core gives`)
  const browser = await maybeBrowser()
  try {
    for (const rate of RATES) {
      const { feed, page } = await latencyRun(rate, browser)
      console.log(`window close to live page, ${fmt(rate)} events/s offered for ${SECONDS} s, ${CLIENTS} pages open:`)
      console.log(`  ${describeLateness('in the feed', feed)}`)
      if (browser !== null) console.log(`  ${describeLateness("in the page's table (Chromium)", page)}`)
    }
  } finally {
    await browser?.close()
  }
} finally {
  await db.end()
  await sluice.stop()
  await removeDir(sluice.dataDir)
}
