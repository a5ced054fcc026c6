/**
 * Random-SQL fuzzing with sqlsmith (the Debian package) against a real `sluice serve` process.
 *
 * sqlsmith reads the catalog (pg_type, pg_proc, pg_operator, pg_aggregate, information_schema.tables,
 * pg_attribute ...), then generates statements from what it found and sends them one by one, with
 * `statement_timeout` 1s set by itself. It prints one character per statement with `--verbose` (`.` ok,
 * `e` error, `S` syntax error, `t` timeout, `C` broken connection) and a summary of error messages.
 *
 * A run here is a number of batches, each one sqlsmith process with its own seed, every other one with
 * `--exclude-catalog`. A watchdog connection
 * sends `SELECT 1` every second during a batch: an answer that takes longer than `HANG_MS` is a hang (a
 * statement that blocks the event loop cannot be cancelled by statement_timeout). Between batches the
 * server must still be running and answer. Internal errors (XX000) are read from the server's stderr,
 * where it logs each one with its statement.
 *
 * As a command: `npm run fuzz:sqlsmith -- --queries 10000 [--seed 1] [--batch 2000]`; it exits non-zero
 * on a crash, a hang or an internal error.
 */
import { spawn, spawnSync } from 'node:child_process'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './sluice-process.ts'

/** Longest a watchdog `SELECT 1` may take before the server counts as hung. */
export const HANG_MS = 10_000
/** The watchdog's probe interval. */
const PROBE_MS = 1_000

/** Whether the sqlsmith binary is on PATH. */
export const sqlsmithInstalled = (): boolean => spawnSync('sqlsmith', ['--version'], { encoding: 'utf8' }).status === 0

/** A stream with rows, a keyed materialized view and an aggregate view: what sqlsmith generates queries on. */
export const FUZZ_SCHEMA: readonly string[] = [
  `CREATE STREAM game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, ts TIMESTAMPTZ NOT NULL, score DOUBLE PRECISION,
    WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')`,
  'CREATE MATERIALIZED VIEW ends AS SELECT game, count(*) AS ends, max(ts) AS last_ts FROM game_events GROUP BY game',
  'CREATE MATERIALIZED VIEW scores AS SELECT player_id, sum(score) AS total, avg(score) AS mean, min(type) AS first_type FROM game_events GROUP BY player_id',
  `INSERT INTO game_events VALUES (1, 'chess', 'end', '2026-01-01 10:00:00+00', 12.5), (2, 'go', 'start', '2026-01-01 10:00:01+00', 3),
    (3, NULL, 'end', '2026-01-01 10:00:02+00', NULL), (1, 'chess', 'start', '2026-01-01 10:00:03+00', -7.25)`,
]

export async function createFuzzSchema(sluice: SluiceProcess): Promise<void> {
  const c = await sluice.client()
  try {
    for (const sql of FUZZ_SCHEMA) await c.query(sql)
  } finally {
    await c.end()
  }
}

export interface BatchResult {
  readonly seed: number
  readonly excludeCatalog: boolean
  /** sqlsmith's exit code (null if killed). */
  readonly exitCode: number | null
  /** Per-statement outcome characters counted: `.`, `e`, `S`, `t`, `C`. */
  readonly outcomes: Readonly<Record<string, number>>
  /** sqlsmith's last error summary: message (cut by sqlsmith) to count. */
  readonly errors: ReadonlyMap<string, number>
  /** sqlsmith's last "impedance report": per grammar production (funcall, comparison_op ...), statements that failed and ran. */
  readonly productions: ReadonlyMap<string, { readonly bad: number; readonly ok: number }>
  /** Slowest watchdog `SELECT 1`, ms; Infinity if one never came back within HANG_MS. */
  readonly slowestProbeMs: number
  readonly elapsedMs: number
  /** sqlsmith's stderr when it failed, for the report. */
  readonly failure: string | null
}

/**
 * Runs one sqlsmith process of `queries` statements with `seed`, probing the server meanwhile. With
 * `excludeCatalog` it leaves out pg_catalog and information_schema, so that its statements read the
 * streams and views (and Sluice's system tables) rather than mostly the many catalog tables.
 */
export async function runSqlsmithBatch(sluice: SluiceProcess, seed: number, queries: number, excludeCatalog = false): Promise<BatchResult> {
  const started = Date.now()
  const target = `host=127.0.0.1 port=${sluice.port} user=analyst dbname=sluice`
  const args = [`--target=${target}`, `--seed=${seed}`, `--max-queries=${queries}`, '--verbose', ...(excludeCatalog ? ['--exclude-catalog'] : [])]
  const child = spawn('sqlsmith', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)))

  const probe = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'analyst', database: 'sluice' })
  await probe.connect()
  let slowest = 0
  let done = false
  const probing = (async () => {
    while (!done) {
      const t0 = Date.now()
      const answered = await Promise.race([probe.query('SELECT 1').then(() => true), new Promise<false>((r) => setTimeout(() => r(false), HANG_MS))])
      if (!answered) {
        slowest = Infinity
        child.kill('SIGKILL')
        return
      }
      slowest = Math.max(slowest, Date.now() - t0)
      await new Promise((r) => setTimeout(r, PROBE_MS))
    }
  })()
  const exitCode = await exited
  done = true
  await probing
  await probe.end().catch(() => {})

  const outcomes: Record<string, number> = {}
  for (const line of out.split('\n')) {
    if (!/^[.eStC]+$/.test(line)) continue
    for (const ch of line) outcomes[ch] = (outcomes[ch] ?? 0) + 1
  }
  // The summary is printed every so often; the last one covers the whole run.
  const summaries = out.split(/^queries: \d+$/m)
  const errors = new Map<string, number>()
  for (const m of (summaries.at(-1) ?? '').matchAll(/^(\d+)\t(.*)$/gm)) errors.set(m[2]!, Number(m[1]))
  const productions = new Map<string, { bad: number; ok: number }>()
  for (const m of (summaries.at(-1) ?? '').matchAll(/^ {2}(\w+): (\d+)\/(\d+) \(bad\/ok\)/gm)) productions.set(m[1]!, { bad: Number(m[2]), ok: Number(m[3]) })
  const failure = exitCode === 0 ? null : out.split('\n').filter((l) => !/^[.eStC]*$/.test(l)).slice(-20).join('\n')
  return { seed, excludeCatalog, exitCode, outcomes, errors, productions, slowestProbeMs: slowest, elapsedMs: Date.now() - started, failure }
}

/** The server's logged internal errors (one `sluice: XX000 ...` line each). */
export const internalErrors = (sluice: SluiceProcess): string[] => sluice.output().split('\n').filter((l) => l.startsWith('sluice: XX000 '))

/** Whether the server process runs and answers `SELECT 1` within HANG_MS. */
export async function serverAnswers(sluice: SluiceProcess): Promise<boolean> {
  if (sluice.child.exitCode !== null || sluice.child.signalCode !== null) return false
  const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'analyst', database: 'sluice', connectionTimeoutMillis: HANG_MS, query_timeout: HANG_MS })
  try {
    await c.connect()
    const r = await c.query('SELECT 1 AS one')
    return r.rows[0]?.one === 1
  } catch {
    return false
  } finally {
    await c.end().catch(() => {})
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { queries: { type: 'string', default: '10000' }, seed: { type: 'string', default: '1' }, batch: { type: 'string', default: '2000' } } })
  const total = Number(values.queries)
  const batch = Number(values.batch)
  const seed = Number(values.seed)
  if (!sqlsmithInstalled()) {
    console.error('fuzz:sqlsmith: sqlsmith is not installed (apt-get install sqlsmith)')
    process.exit(2)
  }
  const sluice = await startSluice()
  let failed = false
  const outcomes: Record<string, number> = {}
  const errors = new Map<string, number>()
  const t0 = Date.now()
  try {
    await createFuzzSchema(sluice)
    for (let done = 0, i = 0; done < total; done += batch, i++) {
      const n = Math.min(batch, total - done)
      // Every other batch without the catalog tables, to reach the streams and views more often.
      const r = await runSqlsmithBatch(sluice, seed + i, n, i % 2 === 1)
      for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v
      for (const [k, v] of r.errors) errors.set(k, (errors.get(k) ?? 0) + v)
      const alive = await serverAnswers(sluice)
      console.log(`batch seed=${r.seed}${r.excludeCatalog ? ' --exclude-catalog' : ''} statements=${n} outcomes=${JSON.stringify(r.outcomes)} slowest SELECT 1=${r.slowestProbeMs} ms, ${r.elapsedMs} ms, server ${alive ? 'answers' : 'DOES NOT ANSWER'}`)
      if (r.exitCode !== 0) console.log(`sqlsmith exited ${r.exitCode}:\n${r.failure}`)
      if (!alive || r.exitCode !== 0 || r.slowestProbeMs >= HANG_MS) {
        failed = true
        break
      }
    }
  } finally {
    const internal = internalErrors(sluice)
    await sluice.stop()
    await removeDir(sluice.dataDir)
    const statements = Object.values(outcomes).reduce((a, b) => a + b, 0)
    console.log(`\n${statements} statements in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${outcomes['.'] ?? 0} ok, ${outcomes['e'] ?? 0} errors, ${outcomes['S'] ?? 0} syntax errors, ${outcomes['t'] ?? 0} timeouts, ${outcomes['C'] ?? 0} broken connections`)
    console.log(`internal errors (XX000): ${internal.length}`)
    for (const l of internal) console.log(`  ${l}`)
    console.log('errors by message (as sqlsmith cuts them):')
    for (const [m, n] of [...errors].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${m}`)
    if (internal.length > 0 || (outcomes['C'] ?? 0) > 0) failed = true
  }
  process.exit(failed ? 1 : 0)
}

if (process.argv[1] !== undefined && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])) await main()
