/**
 * Stateful workloads of the event-time core, end to end in one process each (ingest into the embedded
 * log, decode, operator, RocksDB state, checkpoint), with the peak RSS of that process:
 *   profile   the player profile of queries/player_profile.sql (GROUP BY player_id, updated per event)
 *   revenue   queries/revenue_per_level.sql: the level view plus 30-minute revenue joined to it per event
 *   sessions  sessions per player with a 10-minute gap (SESSION window, merging)
 *   losing_streak   queries/losing_streak.sql: MATCH_RECOGNIZE, three lost fights in a row within an hour
 *   pattern5  MATCH_RECOGNIZE with five variables, alternation and a reluctant quantifier
 * Each workload runs in a child process of its own so that its peak RSS is its own.
 *
 *   npm run bench:stateful                                   # the default set below (about 25 minutes)
 *   npm run bench:stateful -- --workload profile --players 1000000 --events 5000000 [--cache 2000000]
 *   npm run bench:stateful -- --workload profile --players 10000000 --events 10000000 --cache 2000000 --vs-flink [--timeout S] [--flink-heap 6g]
 *
 * `--vs-flink` runs the profile side by side with Apache Flink on RocksDB state, on the same input file:
 * these events in the Sluice-vs-Flink contract's format (bench/compare/README.md), through the drivers of
 * `npm run bench:compare` (queries/player_profile.sql in both, the Sluice driver's cache set by --cache),
 * one after the other; it ends with a RESULT line with both rates, their ratio, both peak RSS and whether
 * the answers (every player's final row) are the same.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'
import { compareAnswers, ensureFlinkJar, flinkCommand, num, runDriver, sluiceCommand, type Outcome } from './compare/drivers.ts'
import { BASE_TS, DATA_ROOT, DAY_MS, GAME_FILE, ensureFiles, scrambler } from './compare/generate.ts'

type Workload = 'profile' | 'revenue' | 'sessions' | 'losing_streak' | 'pattern5'

const STREAM = `CREATE STREAM game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, result TEXT, level INT, amount NUMERIC,
  ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4)`

const VIEWS: Record<Workload, { sql: string; last: string }> = {
  profile: {
    sql: `CREATE MATERIALIZED VIEW player_profile AS
      SELECT player_id, count(*) FILTER (WHERE type = 'login') AS logins,
        count(*) FILTER (WHERE type = 'fight' AND result = 'loss') AS fights_lost,
        coalesce(bool_or(type = 'transaction'), false) AS payer,
        last_value(level) FILTER (WHERE type = 'game_start') AS current_level, max(ts) AS last_seen
      FROM game_events GROUP BY player_id`,
    last: 'player_profile',
  },
  revenue: {
    sql: `CREATE MATERIALIZED VIEW player_level AS
        SELECT player_id, last_value(level) FILTER (WHERE type = 'game_start') AS level FROM game_events GROUP BY player_id;
      CREATE MATERIALIZED VIEW revenue_per_level AS
        SELECT window_start, window_end, p.level, sum(e.amount) AS revenue, count(*) AS transactions
        FROM TUMBLE(game_events, ts, INTERVAL '30 minutes') e JOIN player_level p USING (player_id)
        WHERE e.type = 'transaction' GROUP BY window_start, window_end, p.level`,
    last: 'revenue_per_level',
  },
  losing_streak: {
    sql: `CREATE MATERIALIZED VIEW losing_streak AS
      SELECT player_id, first_loss, third_loss, losses FROM game_events MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts
        MEASURES FIRST(L.ts) AS first_loss, LAST(L.ts) AS third_loss, count(L.*) AS losses
        ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
        PATTERN (L OTHER*? L OTHER*? L) WITHIN INTERVAL '1 hour'
        DEFINE L AS type = 'fight' AND result = 'loss', OTHER AS type <> 'fight') AS streaks`,
    last: 'losing_streak',
  },
  pattern5: {
    sql: `CREATE MATERIALIZED VIEW pattern5 AS
      SELECT * FROM game_events MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts
        MEASURES FIRST(A.ts) AS started, count(*) AS events, LAST(E.amount) AS spent
        ONE ROW PER MATCH
        PATTERN (A (B | C)+? D E?) WITHIN INTERVAL '30 minutes'
        DEFINE A AS type = 'login', B AS type = 'fight' AND result = 'loss', C AS type = 'fight' AND result = 'win',
               D AS type = 'game_start', E AS type = 'transaction') AS m`,
    last: 'pattern5',
  },
  sessions: {
    sql: `CREATE MATERIALIZED VIEW sessions AS
      SELECT player_id, window_start, window_end, count(*) AS events
      FROM SESSION(game_events, ts, INTERVAL '10 minutes', player_id) GROUP BY player_id, window_start, window_end`,
    last: 'sessions',
  },
}

const TYPES = ['login', 'game_start', 'fight', 'fight', 'game_end', 'transaction']

/** Event i's fields but the player and the time: the mix of types, results, levels and amounts. */
function eventFields(i: number): { type: string; result: string | null; level: number | null; amount: number | null } {
  const type = TYPES[(i * 31) % TYPES.length]!
  const result = type === 'fight' ? (i % 3 === 0 ? 'loss' : 'win') : null
  const level = type === 'game_start' ? (i % 150) + 1 : null
  const amount = type === 'transaction' ? (i % 1000) / 100 : null
  return { type, result, level, amount }
}

/** Event i of a run: players visited in a scrambled order, times spread evenly over six hours. */
function event(i: number, n: number, players: number): string {
  const { type, result, level, amount } = eventFields(i)
  const ts = new Date(Date.UTC(2026, 10, 23, 0, 0, 0) + Math.floor((i * 6 * 3_600_000) / n)).toISOString()
  return JSON.stringify({ player_id: (i * 7919) % players, game: 'chess', type, result, level, amount, ts })
}

/**
 * The same mix as the contract's game_events.jsonl: player ids from 1 (0 is the end marker's), every
 * player visited once per `players` events in a scrambled order (so `events >= players` gives every player
 * state), epoch-ms times 1 ms apart (strictly increasing), then the end marker a day later.
 */
function writeProfileInput(players: number, events: number, write: (line: string) => void): void {
  const m = scrambler(players)
  for (let i = 0; i < events; i++) {
    const { type, result, level, amount } = eventFields(i)
    write(JSON.stringify({ player_id: 1 + ((i * m) % players), game: 'chess', type, result, level, amount, ts: BASE_TS + i }))
  }
  write(JSON.stringify({ player_id: 0, game: 'eof', type: 'eof', result: null, level: null, amount: null, ts: BASE_TS + events - 1 + DAY_MS }))
}

/** The profile in Sluice (its cache `cache` entries) and then in Flink on RocksDB, on the same file; answers compared. */
function profileVsFlink(players: number, events: number, cache: number, timeoutS: number, flinkHeap: string): void {
  const jar = ensureFlinkJar()
  const dir = join(DATA_ROOT, `profile-players${players}-events${events}`)
  const seconds = ensureFiles(dir, [{ name: GAME_FILE, generate: (w) => writeProfileInput(players, events, w) }], { players, events })
  if (seconds !== null) console.log(`generated ${events + 1} events (${players} players) in ${seconds.toFixed(0)} s into ${dir}`)
  const outDir = join(dir, 'out')
  mkdirSync(outDir, { recursive: true })
  const workload = 'player_profile'
  const sluiceCmd = [...sluiceCommand(null), '--cache', String(cache)]
  const flinkCmd = flinkCommand(jar, 'rocksdb', flinkHeap)
  console.log(`data: ${dir}\nSluice: ${sluiceCmd.join(' ')}\nFlink:  ${flinkCmd.join(' ')}`)
  const sluice = runDriver('Sluice', sluiceCmd, workload, dir, join(outDir, `${workload}.sluice.jsonl`), timeoutS, events + 1)
  const flink = runDriver('Flink', flinkCmd, workload, dir, join(outDir, `${workload}.flink.jsonl`), timeoutS, events + 1)
  const same = sluice.kind === 'ok' && flink.kind === 'ok' ? compareAnswers(workload, sluice.out, flink.out) : 'n/a'
  const eps = (o: Outcome): string => (o.kind === 'ok' ? String(Math.round(o.eps)) : o.kind)
  const rss = (o: Outcome): string => (o.kind === 'ok' ? o.rssMib.toFixed(0) : 'n/a')
  const ratio = sluice.kind === 'ok' && flink.kind === 'ok' ? (sluice.eps / flink.eps).toFixed(2) : sluice.kind === 'ok' && flink.kind === 'timeout' ? `>${(sluice.eps / flink.maxEps).toFixed(2)}` : 'n/a'
  const cpuRatio = sluice.kind === 'ok' && flink.kind === 'ok' ? (flink.cpuSeconds / sluice.cpuSeconds).toFixed(2) : 'n/a'
  console.log(
    `profile vs Flink: ${num(players)} players, ${num(events)} events, Sluice cache ${num(cache)} entries\n` +
      `  Sluice ${eps(sluice)} events/s, peak RSS ${rss(sluice)} MiB; Flink (RocksDB) ${eps(flink)} events/s, peak RSS ${rss(flink)} MiB; ratio ${ratio}; same answer ${same}`,
  )
  console.log(
    `RESULT profile_vs_flink players=${players} events=${events} cache=${cache} sluice_eps=${eps(sluice)} flink_eps=${eps(flink)} ratio=${ratio} ` +
      `sluice_rss_mib=${rss(sluice)} flink_rss_mib=${rss(flink)} same_answer=${same} cpu_ratio=${cpuRatio}`,
  )
  if (sluice.kind !== 'ok' || flink.kind !== 'ok') process.exitCode = 1
}

function jsonParseCeiling(n: number, players: number): number {
  const sample = Array.from({ length: Math.min(n, 500_000) }, (_, i) => event(i, n, players))
  let sink = 0
  const t0 = performance.now()
  for (const e of sample) sink += (JSON.parse(e) as { player_id: number }).player_id
  const secs = (performance.now() - t0) / 1000
  if (sink < 0) console.log(sink)
  return sample.length / secs
}

async function runWorkload(workload: Workload, players: number, events: number, cache: number): Promise<void> {
  await initParser()
  const ceiling = jsonParseCeiling(events, players)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  const engine = await Engine.open({ dataDir: dir, cacheEntries: cache, checkpointIntervalMs: 1000, batchSize: 4096 })
  try {
    for (const p of parseStatements(`${STREAM};\n${VIEWS[workload].sql}`)) {
      const s = p.statement
      if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
    }
    // Generated before the clock starts: the generator costs as much as a good share of the engine.
    const BATCH = 10_000
    const chunks: string[][] = []
    for (let i = 0; i < events; i += BATCH) chunks.push(Array.from({ length: Math.min(BATCH, events - i) }, (_, j) => event(i + j, events, players)))
    const inputRss = process.memoryUsage().rss / 1024 / 1024
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    for (const chunk of chunks) await engine.insertJson('game_events', chunk)
    chunks.length = 0
    for (const name of engine.allQueries().map((q) => q.name)) await engine.waitCaughtUp(name, 3_600_000)
    await engine.checkpoint()
    const secs = (performance.now() - t0) / 1000
    // The process's CPU over the same span (RocksDB's threads included): on a loaded machine it says more than the clock.
    const cpu = process.cpuUsage(cpu0)
    const cpuSecs = (cpu.user + cpu.system) / 1e6
    for (const q of engine.allQueries()) {
      if (q.status !== 'running') throw new Error(`${q.name} failed: ${q.lastError?.message}`)
      if (q.eventsIn !== events) throw new Error(`${q.name} processed ${q.eventsIn} of ${events} events`)
    }
    const eps = events / secs
    const rss = process.resourceUsage().maxRSS / 1024
    const last = engine.query(VIEWS[workload].last)!
    const keys = engine.tableStats(last.view.id).entries
    const buffered = last.bufferedRows()
    console.log(
      `${workload}: ${events.toLocaleString('en-US')} events, ${players.toLocaleString('en-US')} players, cache ${cache.toLocaleString('en-US')} entries\n` +
        `  end to end      ${fmt(eps)} events/s (ingest + decode + operators + state + checkpoint)\n` +
        `  JSON.parse      ${fmt(ceiling)} events/s (same events, same run)\n` +
        `  CPU             ${cpuSecs.toFixed(1)} s, ${((cpuSecs * 1e6) / events).toFixed(2)} µs per event\n` +
        `  peak RSS        ${rss.toFixed(0)} MiB, of which ${inputRss.toFixed(0)} MiB before the run (the generated input, the engine open) ` +
        `(cached state entries of the last view: ${keys.toLocaleString('en-US')}${buffered > 0 ? `, rows it holds: ${buffered.toLocaleString('en-US')}` : ''})`,
    )
    console.log(`RESULT ${workload} players=${players} events=${events} eps=${Math.round(eps)} json_parse_eps=${Math.round(ceiling)} peak_rss_mib=${rss.toFixed(0)} cpu_seconds=${cpuSecs.toFixed(2)} cpu_us_per_event=${((cpuSecs * 1e6) / events).toFixed(2)} rss_before_run_mib=${inputRss.toFixed(0)} buffered_rows=${buffered}`)
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12)

const DEFAULT_SET: { workload: Workload; players: number; events: number; cache: number }[] = [
  { workload: 'profile', players: 1_000_000, events: 5_000_000, cache: 2_000_000 },
  { workload: 'revenue', players: 1_000_000, events: 5_000_000, cache: 2_000_000 },
  { workload: 'sessions', players: 1_000_000, events: 5_000_000, cache: 2_000_000 },
  // State larger than the cache: 10M players against a 2M-entry cache.
  { workload: 'profile', players: 10_000_000, events: 10_000_000, cache: 2_000_000 },
  { workload: 'losing_streak', players: 1_000_000, events: 10_000_000, cache: 2_000_000 },
  { workload: 'pattern5', players: 1_000_000, events: 10_000_000, cache: 2_000_000 },
]

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string' },
      players: { type: 'string' },
      events: { type: 'string' },
      cache: { type: 'string' },
      'vs-flink': { type: 'boolean' },
      timeout: { type: 'string' },
      'flink-heap': { type: 'string' },
    },
  })
  if (values['vs-flink'] === true) {
    if ((values.workload ?? 'profile') !== 'profile') throw new Error('--vs-flink runs the profile workload only')
    const players = Number(values.players ?? 10_000_000)
    profileVsFlink(players, Number(values.events ?? players), Number(values.cache ?? Math.ceil(players / 5)), Number(values.timeout ?? 3600), values['flink-heap'] ?? '6g')
    return
  }
  if (values.workload !== undefined) {
    if (!(values.workload in VIEWS)) throw new Error(`unknown workload ${values.workload}; one of ${Object.keys(VIEWS).join(', ')}`)
    await runWorkload(values.workload as Workload, Number(values.players ?? 1_000_000), Number(values.events ?? 5_000_000), Number(values.cache ?? 2_000_000))
    return
  }
  for (const w of DEFAULT_SET) {
    const args = ['--import', 'tsx', '--max-old-space-size=8192', import.meta.filename, '--workload', w.workload, '--players', String(w.players), '--events', String(w.events), '--cache', String(w.cache)]
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
    if (r.status !== 0) throw new Error(`${w.workload} exited with ${r.status}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
