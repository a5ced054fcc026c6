/**
 * pgjdbc's whole DatabaseMetaData walk (test/clients/jdbc MetadataWalk.java: every method of the interface,
 * with null / "%" patterns and for every stream and view, every row and column read), as DBeaver's and
 * Metabase's schema sync make it, run against a real `sluice serve` and against the real PostgreSQL on
 * 127.0.0.1:5432 holding the same objects (a table per stream, a materialized view with a unique index per
 * view). Every call PostgreSQL answers must be answered by Sluice with the same columns; none may be an
 * internal error. While the walk runs, a second session keeps running `SELECT 1`: its latency shows that the
 * catalog queries (the nine-relation join of getImportedKeys among them) neither block the server nor
 * starve other users, and the server's peak RSS stays under 1 GiB.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const JDBC_DIR = resolve(import.meta.dirname, 'clients', 'jdbc')
const CLASSPATH = `${join(JDBC_DIR, 'target', 'jdbc-check.jar')}:${join(JDBC_DIR, 'target', 'lib', '*')}`
const ORACLE_DB = `sluice_jdbc_walk_${process.pid}`
const GIB = 1024 * 1024 * 1024
/** The second session's bound: generous for a busy 2-core machine, far below a server stalled by a query. */
const P99_BOUND_MS = 200

const EVENTS_COLUMNS = 'player_id BIGINT NOT NULL, game TEXT, score DOUBLE PRECISION, ts TIMESTAMPTZ NOT NULL'
const PROFILES_COLUMNS = 'player_id BIGINT NOT NULL, name TEXT, joined DATE, tags TEXT[], ts TIMESTAMPTZ NOT NULL'
const VIEWS: readonly (readonly [name: string, query: string, key: string])[] = [
  ['walk_players', 'SELECT player_id, count(*) AS games, max(score) AS best FROM walk_events GROUP BY player_id', 'player_id'],
  ['walk_games', 'SELECT game, count(*) AS n, sum(score) AS total FROM walk_events GROUP BY game', 'game'],
  ['walk_names', 'SELECT name, count(*) AS n FROM walk_profiles GROUP BY name', 'name'],
]
const TABLES = ['walk_events', 'walk_profiles', ...VIEWS.map(([v]) => v)]
const EVENTS = "(1, 'chess', 10.5, '2026-11-23 10:00:00+00'), (2, 'go', 3, '2026-11-23 10:00:01+00'), (2, 'chess', NULL, '2026-11-23 10:00:02+00')"
const PROFILES = "(1, 'ann', '2026-01-02', '{a,b}', '2026-11-23 10:00:00+00'), (2, 'bo', NULL, NULL, '2026-11-23 10:00:01+00')"

/** One line of MetadataWalk's output. */
interface Call {
  call: string
  method: string
  rows?: number
  columns?: string[]
  value?: unknown
  error?: string
  sqlstate?: string | null
  ms: number
}

interface Walk {
  calls: Map<string, Call>
  uncovered: string[]
}

function parseWalk(stdout: string, stderr: string): Walk {
  const calls = new Map<string, Call>()
  let uncovered: string[] | null = null
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const o = JSON.parse(line) as Record<string, unknown>
    if (o['check'] === 'call') calls.set(String(o['call']), o as unknown as Call)
    if (o['check'] === 'done') uncovered = o['uncovered'] as string[]
  }
  if (uncovered === null) throw new Error(`the metadata walk did not finish:\n${stdout.slice(-2000)}\n${stderr}`)
  return { calls, uncovered }
}

/** Runs the walk without blocking this process, so the second session's queries keep going meanwhile. */
function walk(port: number, user: string, db: string): Promise<Walk> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('java', ['-cp', CLASSPATH, 'dev.sluice.clients.MetadataWalk', '127.0.0.1', String(port), user, db, 'public', TABLES.join(',')])
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', () => {
      clearTimeout(timer)
      try {
        resolvePromise(parseWalk(out, err))
      } catch (e) {
        reject(e)
      }
    })
  })
}

function psqlOracle(sql: string, db = ORACLE_DB): void {
  const r = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`PostgreSQL: ${r.stderr}`)
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
function procBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(m[1]) * 1024
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

describe('pgjdbc DatabaseMetaData walk against Sluice and PostgreSQL', () => {
  let sluice: SluiceProcess
  let theirs: Walk
  let mine: Walk
  let latencies: number[] = []
  let peakRss = 0
  let sampledRss = 0

  beforeAll(async () => {
    if (!existsSync(join(JDBC_DIR, 'target', 'classes', 'dev', 'sluice', 'clients', 'MetadataWalk.class'))) {
      // .ci/run builds it beforehand; offline here, so a test run never downloads.
      const b = spawnSync('mvn', ['-q', '-o', '-f', join(JDBC_DIR, 'pom.xml'), 'package'], { encoding: 'utf8', timeout: 180_000 })
      if (b.status !== 0) throw new Error(`cannot build the JDBC checks (run: mvn -q -f test/clients/jdbc/pom.xml package):\n${b.stdout}\n${b.stderr}`)
    }
    spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${ORACLE_DB}`])
    psqlOracle(`CREATE DATABASE ${ORACLE_DB}`, 'postgres')
    psqlOracle(`CREATE TABLE walk_events (${EVENTS_COLUMNS}); CREATE TABLE walk_profiles (${PROFILES_COLUMNS});
      INSERT INTO walk_events VALUES ${EVENTS}; INSERT INTO walk_profiles VALUES ${PROFILES};
      ${VIEWS.map(([v, q, k]) => `CREATE MATERIALIZED VIEW ${v} AS ${q}; CREATE UNIQUE INDEX ${v}_pkey ON ${v} (${k});`).join('\n')}`)

    sluice = await startSluice()
    const c = await sluice.client()
    try {
      await c.query(`CREATE STREAM walk_events (${EVENTS_COLUMNS}, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')`)
      await c.query(`CREATE STREAM walk_profiles (${PROFILES_COLUMNS}) WITH (key = 'player_id')`)
      for (const [v, q] of VIEWS) await c.query(`CREATE MATERIALIZED VIEW ${v} AS ${q}`)
      await c.query(`INSERT INTO walk_events VALUES ${EVENTS}`)
      await c.query(`INSERT INTO walk_profiles VALUES ${PROFILES}`)
      await eventually(async () => (await c.query('SELECT count(*) AS n FROM walk_names')).rows[0].n, (n) => Number(n) === 2)
    } finally {
      await c.end()
    }

    theirs = await walk(5432, 'postgres', ORACLE_DB)

    // The second session: SELECT 1 back to back for as long as the walk runs; the server's RSS sampled.
    const pid = sluice.child.pid!
    const probe = await sluice.client()
    let walking = true
    const loop = (async () => {
      while (walking) {
        const t0 = performance.now()
        await probe.query('SELECT 1')
        latencies.push(performance.now() - t0)
      }
    })()
    const sampler = setInterval(() => (sampledRss = Math.max(sampledRss, procBytes(pid, 'VmRSS'))), 20)
    try {
      mine = await walk(sluice.port, 'analyst', 'sluice')
    } finally {
      walking = false
      clearInterval(sampler)
      await loop
      await probe.end()
    }
    peakRss = procBytes(pid, 'VmHWM')
    latencies = [...latencies].sort((a, b) => a - b)
    const slowest = [...mine.calls.values()].sort((a, b) => b.ms - a.ms).slice(0, 5).map((x) => `${x.call} ${x.ms} ms`)
    console.log(
      `metadata walk: ${mine.calls.size} calls; second session: ${latencies.length} x SELECT 1, p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms; server VmHWM ${(peakRss / 2 ** 20).toFixed(0)} MiB ` +
        `(sampled VmRSS max ${(sampledRss / 2 ** 20).toFixed(0)} MiB); slowest calls: ${slowest.join(', ')}`,
    )
  }, 300_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${ORACLE_DB}`])
  })

  test('the walk calls every method of DatabaseMetaData, on both servers', () => {
    expect(theirs.uncovered).toEqual([])
    expect(mine.uncovered).toEqual([])
    expect([...mine.calls.keys()]).toEqual([...theirs.calls.keys()])
    // Keys, indexes and best row identifiers for each stream and view, and the database-wide key joins.
    for (const label of ['getImportedKeys(null,null,null)', 'getExportedKeys(null,null,null)', 'getCrossReference(null,null,null,null,null,null)'])
      expect(theirs.calls.get(label)).toHaveProperty('rows')
    expect(mine.calls.size).toBeGreaterThan(250)
  })

  test('no call is an internal error', () => {
    const internal = [...mine.calls.values()].filter((c) => c.sqlstate === 'XX000').map((c) => `${c.call}: ${c.error}`)
    expect(internal).toEqual([])
  })

  test('every call PostgreSQL answers, Sluice answers with the same columns', () => {
    const differences: string[] = []
    for (const [label, p] of theirs.calls) {
      const s = mine.calls.get(label)!
      if ('error' in p) {
        // What pgjdbc itself does not implement (getSuperTables, getRowIdLifetime, ...) fails the same way.
        if (s.sqlstate !== p.sqlstate) differences.push(`${label}: PostgreSQL fails with ${p.sqlstate}, Sluice ${s.sqlstate ?? 'answers'}`)
      } else if ('error' in s) {
        differences.push(`${label}: ${s.sqlstate} ${s.error}`)
      } else if (p.columns !== undefined && JSON.stringify(s.columns) !== JSON.stringify(p.columns)) {
        differences.push(`${label}: columns ${JSON.stringify(s.columns)}, PostgreSQL ${JSON.stringify(p.columns)}`)
      } else if (p.columns === undefined && s.columns !== undefined) {
        differences.push(`${label}: a result set where PostgreSQL gives a value`)
      }
    }
    expect(differences).toEqual([])
    // For the record: where the row counts differ (PostgreSQL's own functions, types, databases and tables).
    const counts = [...theirs.calls].filter(([label, p]) => p.rows !== undefined && mine.calls.get(label)!.rows !== p.rows)
    console.log(`row counts that differ (Sluice / PostgreSQL): ${counts.map(([label, p]) => `${label} ${mine.calls.get(label)!.rows}/${p.rows}`).join('; ')}`)
  })

  test('capabilities, limits and the keyword and function lists are what PostgreSQL answers', () => {
    // Which server and connection this is differs by nature; everything else a tool reads must not.
    const identity = new Set(['getDatabaseProductVersion', 'getDatabaseMinorVersion', 'getURL', 'getUserName'])
    const differences = [...theirs.calls]
      .filter(([label, p]) => p.columns === undefined && !('error' in p) && !identity.has(label))
      .filter(([label, p]) => JSON.stringify(mine.calls.get(label)!.value) !== JSON.stringify(p.value))
      .map(([label, p]) => `${label}: ${JSON.stringify(mine.calls.get(label)!.value)}, PostgreSQL ${JSON.stringify(p.value)}`)
    expect(differences).toEqual([])
    expect(String(mine.calls.get('getSQLKeywords')!.value)).toMatch(/^abort,access,/)
  })

  test('the streams and views are found: columns, tables and the views\' key indexes', () => {
    const rows = (label: string) => mine.calls.get(label)?.rows
    expect(rows('getColumns(null,public,walk_events,%)')).toBe(4)
    expect(rows('getColumns(null,public,walk_profiles,null)')).toBe(5)
    expect(rows('getColumns(null,public,walk_players,%)')).toBe(3)
    expect(rows('getTables(null,public,%,TABLE+VIEW+MATERIALIZED VIEW)')).toBe(TABLES.length)
    for (const [v] of VIEWS) {
      expect(rows(`getIndexInfo(null,public,${v},true,true)`)).toBe(theirs.calls.get(`getIndexInfo(null,public,${v},true,true)`)!.rows)
      expect(rows(`getColumns(null,public,${v},%)`)).toBe(theirs.calls.get(`getColumns(null,public,${v},%)`)!.rows)
    }
  })

  test(`a second session's SELECT 1 stays fast during the walk (p99 < ${P99_BOUND_MS} ms) and the server stays under 1 GiB`, () => {
    expect(latencies.length).toBeGreaterThan(10)
    expect(percentile(latencies, 99)).toBeLessThan(P99_BOUND_MS)
    expect(peakRss).toBeGreaterThan(0)
    expect(peakRss).toBeLessThan(GIB)
    expect(sampledRss).toBeLessThan(GIB)
  })
})
