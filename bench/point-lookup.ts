/**
 * Point lookups on a keyed view, Sluice against PostgreSQL in the same run: what a game backend does
 * when it reads one player's live profile per request. Sluice serves a GROUP BY player_id view built by
 * inserting events into a stream; PostgreSQL (127.0.0.1:5432, trust) serves a table with the same rows
 * and a primary key on player_id. M concurrent node-postgres clients send
 * `SELECT ... WHERE player_id = $1` with random keys for T seconds, one engine after the other, and the
 * run prints queries/s, p50 and p99 latency for each and the ratio Sluice/PostgreSQL (goal: >= 0.5).
 *
 *   npm run bench:lookup
 *   npm run bench:lookup -- --players 100000 --clients 8 --seconds 10
 */
import { parseArgs } from 'node:util'
import pg from 'pg'
import { removeDir, startSluice } from '../test/helpers/sluice-process.ts'

const { values: args } = parseArgs({
  options: {
    players: { type: 'string', default: '100000' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
})
const PLAYERS = Number(args.players)
const CLIENTS = Number(args.clients)
const SECONDS = Number(args.seconds)
const EVENTS_PER_PLAYER = 2
/** Events per INSERT statement while building the view. */
const INSERT_BATCH = 5_000
const PG_DATABASE = 'sluice_bench_lookup'
const LOOKUP = 'SELECT player_id, events, level, score FROM player_stats WHERE player_id = $1'

/** Event j (0 or 1) of player p; PostgreSQL's table is computed from the same formulas. */
const level = (p: number, j: number): number => (p * 7 + j * 13) % 50
const score = (p: number, j: number): number => ((p * 31 + j * 17) % 1000) / 4

interface Measured {
  readonly engine: string
  readonly queries: number
  readonly qps: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
}

/** M clients, each looping over random keys until T seconds are up; latencies in milliseconds. */
async function measure(engine: string, connect: () => Promise<pg.Client>): Promise<Measured> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, connect))
  try {
    // Warm-up: the same statement on every connection, so neither engine measures its first plan.
    await Promise.all(clients.map((c) => c.query(LOOKUP, [0])))
    const latencies: number[] = []
    let errors = 0
    const started = performance.now()
    const deadline = started + SECONDS * 1000
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < deadline) {
          const key = Math.floor(Math.random() * PLAYERS)
          const t0 = performance.now()
          const r = await c.query(LOOKUP, [key])
          latencies.push(performance.now() - t0)
          if (r.rows.length !== 1 || Number(r.rows[0].player_id) !== key) errors++
        }
      }),
    )
    const elapsed = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
    return { engine, queries: latencies.length, qps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors }
  } finally {
    await Promise.all(clients.map((c) => c.end()))
  }
}

async function buildSluice(c: pg.Client): Promise<void> {
  await c.query(
    "CREATE STREAM lookup_events (player_id BIGINT NOT NULL, level INT, score DOUBLE PRECISION, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 4)",
  )
  await c.query('CREATE MATERIALIZED VIEW player_stats AS SELECT player_id, count(*) AS events, max(level) AS level, sum(score) AS score FROM lookup_events GROUP BY player_id')
  const base = Date.parse('2026-11-23T10:00:00Z')
  let rows: string[] = []
  for (let j = 0; j < EVENTS_PER_PLAYER; j++) {
    for (let p = 0; p < PLAYERS; p++) {
      rows.push(`(${p}, ${level(p, j)}, ${score(p, j)}, '${new Date(base + j * 60_000 + (p % 1000)).toISOString()}')`)
      if (rows.length === INSERT_BATCH) {
        await c.query(`INSERT INTO lookup_events VALUES ${rows.join(',')}`)
        rows = []
      }
    }
  }
  if (rows.length > 0) await c.query(`INSERT INTO lookup_events VALUES ${rows.join(',')}`)
  // The view has caught up when it holds every player.
  const deadline = Date.now() + 600_000
  while (Number((await c.query('SELECT count(*) AS n FROM player_stats')).rows[0].n) !== PLAYERS) {
    if (Date.now() > deadline) throw new Error('player_stats did not reach every player within 10 minutes')
    await new Promise((r) => setTimeout(r, 500))
  }
}

async function buildPostgres(url: string): Promise<string> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${PG_DATABASE}`)
  await admin.query(`CREATE DATABASE ${PG_DATABASE}`)
  await admin.end()
  const dbUrl = new URL(url)
  dbUrl.pathname = `/${PG_DATABASE}`
  const c = new pg.Client({ connectionString: dbUrl.toString() })
  await c.connect()
  await c.query('CREATE TABLE player_stats (player_id BIGINT PRIMARY KEY, events BIGINT NOT NULL, level INT, score DOUBLE PRECISION)')
  // The same aggregates as the view: count, max(level), sum(score) over the two events of each player.
  await c.query(
    `INSERT INTO player_stats SELECT p, 2, greatest((p * 7) % 50, (p * 7 + 13) % 50), ((p * 31) % 1000) / 4.0 + ((p * 31 + 17) % 1000) / 4.0
     FROM generate_series(0, $1::bigint - 1) AS p`,
    [PLAYERS],
  )
  await c.query('VACUUM ANALYZE player_stats')
  await c.end()
  return dbUrl.toString()
}

/** Both engines must answer the same rows, or the comparison means nothing. */
async function checkSame(sluice: pg.Client, postgres: pg.Client): Promise<void> {
  for (const key of [0, 1, PLAYERS - 1, Math.floor(PLAYERS / 3)]) {
    const a = (await sluice.query(LOOKUP, [key])).rows
    const b = (await postgres.query(LOOKUP, [key])).rows
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`engines disagree for player ${key}: sluice ${JSON.stringify(a)}, postgres ${JSON.stringify(b)}`)
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

async function main(): Promise<void> {
  console.log(`point lookups: ${PLAYERS} players (${PLAYERS * EVENTS_PER_PLAYER} events), ${CLIENTS} clients, ${SECONDS} s per engine`)
  const sluice = await startSluice({ checkpointMs: 1000 })
  try {
    const setup = await sluice.client()
    const t0 = Date.now()
    await buildSluice(setup)
    console.log(`sluice: view built in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const pgUrl = await buildPostgres(args['pg-url']!)
    const pgCheck = new pg.Client({ connectionString: pgUrl })
    await pgCheck.connect()
    await checkSame(setup, pgCheck)
    await Promise.all([setup.end(), pgCheck.end()])

    const s = await measure('sluice', () => sluice.client())
    const p = await measure('postgres', async () => {
      const c = new pg.Client({ connectionString: pgUrl })
      await c.connect()
      return c
    })
    console.log('')
    console.log('| engine | queries | queries/s | p50 ms | p99 ms | wrong answers |')
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
    for (const m of [s, p]) console.log(`| ${m.engine} | ${fmt(m.queries)} | ${fmt(m.qps)} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} | ${m.errors} |`)
    const ratio = s.qps / p.qps
    console.log('')
    console.log(`RESULT point_lookup players=${PLAYERS} clients=${CLIENTS} seconds=${SECONDS} sluice_qps=${Math.round(s.qps)} pg_qps=${Math.round(p.qps)} ratio=${ratio.toFixed(4)} sluice_p50_ms=${s.p50.toFixed(2)} sluice_p99_ms=${s.p99.toFixed(2)} pg_p50_ms=${p.p50.toFixed(2)} pg_p99_ms=${p.p99.toFixed(2)}`)
    if (s.errors + p.errors > 0) process.exitCode = 1
  } finally {
    await sluice.stop()
    await removeDir(sluice.dataDir)
  }
}

await main()
