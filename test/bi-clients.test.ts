/**
 * BI and admin clients against a real `sluice serve` holding a stream and two views, each compared with
 * the same client against the real PostgreSQL on 127.0.0.1:5432 holding the equivalent table and
 * materialized views: SQLAlchemy's inspector and MetaData.reflect (what Superset runs on connect) and
 * pandas.read_sql_table (test/clients/sqlalchemy_check.py), pg_dump --schema-only and pg_dump with data
 * (whose output must load into a fresh PostgreSQL database, with the same rows), pgcli's startup queries and special commands through its own code
 * (test/clients/pgcli_check.py), and psql's \sv, \dconfig, \dd, \gdesc and \drds.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const CLIENTS = resolve(import.meta.dirname, 'clients')
/** The Debian packages python3-sqlalchemy, python3-pandas and pgcli install for the system Python. */
const PYTHON = '/usr/bin/python3'
const ORACLE_DB = `sluice_bi_oracle_${process.pid}`
const ORACLE = { host: '127.0.0.1', port: 5432, user: 'postgres' }

const STREAM = `CREATE STREAM game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, ts TIMESTAMPTZ NOT NULL, score DOUBLE PRECISION,
  WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')`
const TABLE = 'CREATE TABLE game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, ts TIMESTAMPTZ NOT NULL, score DOUBLE PRECISION)'
const ENDS = 'CREATE MATERIALIZED VIEW ends AS SELECT game, count(*) AS ends, max(ts) AS last_ts FROM game_events GROUP BY game'
const RECENT = 'CREATE MATERIALIZED VIEW recent AS SELECT player_id, game, score FROM game_events WHERE score > 1'
/** A view over a view, named to sort before what it reads: a dump must still create it after `recent`. */
const A_GAMES = 'CREATE MATERIALIZED VIEW a_games AS SELECT game, count(*) AS n FROM recent GROUP BY game'
const ROWS = `INSERT INTO game_events VALUES (1, 'chess', 'end', '2026-11-23 10:00:00+00', 10.5), (2, 'go', 'end', '2026-11-23 10:00:01+00', 3),
  (3, 'chess', 'end', '2026-11-23 10:00:02+00', 0.5)`

type Checks = Map<string, Record<string, unknown>>

/** Runs a client program; its JSON lines by check name, or an error carrying its output. */
function runClient(command: string, args: readonly string[]): Checks {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 })
  const out: Checks = new Map()
  for (const line of (r.stdout ?? '').split('\n')) if (line.startsWith('{')) out.set(String((JSON.parse(line) as { check: string }).check), JSON.parse(line))
  if (!out.has('done')) throw new Error(`${command} ${args.join(' ')} did not finish (status ${r.status}):\n${r.stdout}\n${r.stderr}`)
  return out
}

/** A check's value, failing with the client's error (message and SQLSTATE) when it reported one. */
function value(checks: Checks, name: string): unknown {
  const c = checks.get(name)
  if (c === undefined) throw new Error(`no result for check ${name}`)
  if ('error' in c) throw new Error(`${name} failed in the client: ${String(c['error'])} (SQLSTATE ${String(c['sqlstate'])}, ${String(c['exception'])})`)
  return c['value']
}

function pythonMissing(modules: string): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`
  const r = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' })
  return r.status === 0 ? null : `${PYTHON} cannot import ${modules}: ${r.stderr.trim().split('\n').at(-1)}`
}

/** psql against one of the two servers, the script given on stdin (so that `\gdesc` ends a query). */
function psql(target: { port: number; user: string; db: string }, script: string): { stdout: string; stderr: string; status: number } {
  const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(target.port), '-U', target.user, '-d', target.db, '-v', 'ON_ERROR_STOP=1'], {
    input: script,
    encoding: 'utf8',
    env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
  })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 }
}

/** Loads a dump into a fresh database of the real PostgreSQL (it must load without a word), runs `check` on it, drops it. */
function restored(sql: string, db: string, check: (db: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dump-'))
  try {
    const file = join(dir, 'dump.sql')
    writeFileSync(file, sql)
    spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', db], { encoding: 'utf8' })
    expect(spawnSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', db], { encoding: 'utf8' }).status).toBe(0)
    const load = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-f', file], { encoding: 'utf8' })
    expect(load.stderr).toBe('')
    expect(load.status).toBe(0)
    check(db)
  } finally {
    spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', db], { encoding: 'utf8' })
    rmSync(dir, { recursive: true, force: true })
  }
}

let sluice: SluiceProcess
let admin: pg.Client
let ours: { port: number; user: string; db: string }
const theirs = { port: 5432, user: 'postgres', db: ORACLE_DB }

beforeAll(async () => {
  sluice = await startSluice()
  ours = { port: sluice.port, user: 'postgres', db: 'sluice' }
  const c = await sluice.client()
  try {
    for (const sql of [STREAM, ENDS, RECENT, A_GAMES, ROWS]) await c.query(sql)
    await eventually(async () => (await c.query('SELECT count(*) AS n FROM recent')).rows[0].n, (n) => Number(n) === 2)
    await eventually(async () => (await c.query('SELECT sum(ends) AS n FROM ends')).rows[0].n, (n) => Number(n) === 3)
  } finally {
    await c.end()
  }
  admin = new pg.Client({ ...ORACLE, database: 'postgres' })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${ORACLE_DB}`)
  await admin.query(`CREATE DATABASE ${ORACLE_DB}`)
  const o = new pg.Client({ ...ORACLE, database: ORACLE_DB })
  await o.connect()
  try {
    for (const sql of [TABLE, ROWS, ENDS, RECENT, A_GAMES]) await o.query(sql)
    // What PostgreSQL allows on a materialized view for the key Sluice gives a grouped view.
    await o.query('CREATE UNIQUE INDEX ends_pkey ON ends (game) NULLS NOT DISTINCT')
    await o.query('CREATE UNIQUE INDEX a_games_pkey ON a_games (game) NULLS NOT DISTINCT')
  } finally {
    await o.end()
  }
}, 120_000)

afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS ${ORACLE_DB}`)
  await admin?.end()
  const dir = sluice?.dataDir
  await sluice?.stop()
  if (dir) await removeDir(dir)
})

describe('SQLAlchemy and pandas', () => {
  let s: Checks
  let p: Checks
  beforeAll(() => {
    const missing = pythonMissing('sqlalchemy, pandas, psycopg2')
    if (missing !== null) throw new Error(`${missing} (install python3-sqlalchemy, python3-pandas, python3-psycopg2)`)
    const program = join(CLIENTS, 'sqlalchemy_check.py')
    s = runClient(PYTHON, [program, `postgresql://analyst@127.0.0.1:${sluice.port}/sluice`, 'game_events', 'ends', 'recent'])
    p = runClient(PYTHON, [program, `postgresql://postgres@127.0.0.1:5432/${ORACLE_DB}`, 'game_events', 'ends', 'recent'])
  }, 240_000)

  test('the inspector finds the stream as a table and the views as views', () => {
    expect(value(s, 'table_names')).toEqual(['game_events'])
    expect(value(s, 'view_names')).toEqual(['a_games', 'ends', 'recent'])
    expect(value(s, 'view_names')).toEqual(value(p, 'view_names'))
  })

  test('get_columns, get_foreign_keys, get_unique_constraints agree with PostgreSQL', () => {
    for (const rel of ['game_events', 'ends', 'recent']) {
      for (const check of ['columns', 'fks', 'uniques']) expect(value(s, `${check}:${rel}`), `${check}:${rel}`).toEqual(value(p, `${check}:${rel}`))
    }
    expect(value(s, 'columns:game_events')).toEqual([
      ['player_id', 'BIGINT', false, null],
      ['game', 'TEXT', true, null],
      ['type', 'TEXT', true, null],
      ['ts', 'TIMESTAMP', false, null],
      ['score', 'DOUBLE_PRECISION', true, null],
    ])
  })

  test("get_pk_constraint: a grouped view's key is its primary key; the stream and an ungrouped view have none", () => {
    expect(value(s, 'pk:ends')).toEqual({ constrained_columns: ['game'], name: 'ends_pkey' })
    for (const rel of ['game_events', 'recent']) expect(value(s, `pk:${rel}`)).toEqual(value(p, `pk:${rel}`))
    // A primary key's index is not among get_indexes (PostgreSQL's unique index on the view is).
    expect(value(s, 'indexes:ends')).toEqual([])
    expect(value(p, 'indexes:ends')).toEqual([['ends_pkey', ['game'], true]])
    for (const rel of ['game_events', 'recent']) expect(value(s, `indexes:${rel}`)).toEqual(value(p, `indexes:${rel}`))
  })

  test('MetaData.reflect(views=True) reflects every relation with its columns', () => {
    const withoutKeys = (v: unknown) => (v as [string, unknown, unknown][]).map(([name, columns]) => [name, columns])
    expect(withoutKeys(value(s, 'reflect'))).toEqual(withoutKeys(value(p, 'reflect')))
    expect((value(s, 'reflect') as [string, unknown, string[]][]).find(([n]) => n === 'ends')?.[2]).toEqual(['game'])
  })

  test('pandas.read_sql_table reads a view', () => {
    const byGame = (rows: unknown) => [...(rows as Record<string, unknown>[])].sort((a, b) => String(a['game']).localeCompare(String(b['game'])))
    const rows = byGame(value(s, 'read_sql_table:ends'))
    expect(rows).toEqual([
      { game: 'chess', ends: 2, last_ts: '2026-11-23T10:00:02.000Z' },
      { game: 'go', ends: 1, last_ts: '2026-11-23T10:00:01.000Z' },
    ])
    expect(rows).toEqual(byGame(value(p, 'read_sql_table:ends')))
    expect(byGame(value(s, 'read_sql_table:recent'))).toEqual(byGame(value(p, 'read_sql_table:recent')))
  })
})

describe('pg_dump --schema-only', () => {
  test('dumps the stream as a table and the views as materialized views, in an order PostgreSQL can load', () => {
    const dump = spawnSync('pg_dump', ['--schema-only', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'postgres', 'sluice'], { encoding: 'utf8', timeout: 60_000 })
    expect(dump.stderr).toBe('')
    expect(dump.status).toBe(0)
    const sql = dump.stdout
    expect(sql).toContain('CREATE TABLE public.game_events (')
    expect(sql).toMatch(/CREATE MATERIALIZED VIEW public\.ends AS\s+SELECT game, count\(\*\) AS ends, max\(ts\) AS last_ts FROM public\.game_events GROUP BY game/)
    expect(sql).toContain('CREATE UNIQUE INDEX ends_pkey ON public.ends USING btree (game) NULLS NOT DISTINCT;')
    // Sluice's own system views are not the database's to recreate, as pg_catalog's are not.
    expect(sql).not.toContain('sluice_queries')
    expect(sql.indexOf('CREATE TABLE public.game_events')).toBeLessThan(sql.indexOf('CREATE MATERIALIZED VIEW public.ends'))
    expect(sql.indexOf('CREATE MATERIALIZED VIEW public.recent')).toBeLessThan(sql.indexOf('CREATE MATERIALIZED VIEW public.a_games'))
    expect(sql).toMatch(/CREATE MATERIALIZED VIEW public\.a_games AS\s+SELECT game, count\(\*\) AS n FROM public\.recent GROUP BY game/)

    restored(sql, `sluice_bi_restore_${process.pid}`, (db) => {
      const listed = psql({ port: 5432, user: 'postgres', db }, "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, a.attnum;")
      const original = psql(theirs, "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, a.attnum;")
      expect(listed.stdout).toMatch(/^ game_events\s+\| r\s+\| ts\s+\| timestamp with time zone \| t$/m)
      expect(listed.stdout).toMatch(/^ a_games\s+\| m\s+\| n\s+\| bigint/m)
      expect(listed.stdout).toEqual(original.stdout)
    })
  }, 120_000)
})

describe('pg_dump with data', () => {
  test("dumps the stream's rows and refreshes the views in dependency order; PostgreSQL loads it with the same rows", () => {
    // pg_dump asks which materialized views depend on which (for the order of the REFRESHes) with a WITH
    // RECURSIVE query over pg_depend and pg_rewrite; it failed here with "WITH RECURSIVE is not supported".
    const dump = spawnSync('pg_dump', ['-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'postgres', 'sluice'], { encoding: 'utf8', timeout: 60_000 })
    expect(dump.stderr).toBe('')
    expect(dump.status).toBe(0)
    const sql = dump.stdout
    expect(sql).toMatch(/COPY public\.game_events \(player_id, game, type, ts, score\) FROM stdin;\n(.+\n){3}\\\.\n/)
    expect(sql).toMatch(/CREATE MATERIALIZED VIEW public\.a_games AS[^;]+WITH NO DATA;/)
    // a_games reads recent: PostgreSQL can only refresh it after recent.
    expect(sql.indexOf('REFRESH MATERIALIZED VIEW public.recent;')).toBeGreaterThan(sql.indexOf('COPY public.game_events'))
    expect(sql.indexOf('REFRESH MATERIALIZED VIEW public.a_games;')).toBeGreaterThan(sql.indexOf('REFRESH MATERIALIZED VIEW public.recent;'))

    restored(sql, `sluice_bi_data_${process.pid}`, (db) => {
      const rows = 'SELECT * FROM game_events ORDER BY player_id; SELECT * FROM ends ORDER BY game; SELECT * FROM recent ORDER BY player_id; SELECT * FROM a_games ORDER BY game;'
      const back = psql({ port: 5432, user: 'postgres', db }, rows)
      expect(back.stderr).toBe('')
      expect(back.stdout).toMatch(/^ chess \| +2 \| 2026-11-23 10:00:02\+00$/m)
      expect(back.stdout).toEqual(psql(ours, rows).stdout)
    })
  }, 120_000)
})

describe('pgcli', () => {
  let s: Checks
  let p: Checks
  beforeAll(() => {
    const missing = pythonMissing('pgcli.pgexecute, pgspecial')
    if (missing !== null) throw new Error(`${missing} (install pgcli)`)
    const program = join(CLIENTS, 'pgcli_check.py')
    s = runClient(PYTHON, [program, '127.0.0.1', String(sluice.port), 'postgres', 'sluice'])
    p = runClient(PYTHON, [program, '127.0.0.1', '5432', 'postgres', ORACLE_DB])
  }, 240_000)

  test('its startup queries (the completion refreshers) all run', () => {
    for (const name of ['schemata', 'tables', 'views', 'types', 'databases', 'casing', 'functions']) expect(value(s, `refresh:${name}`), name).toBe(true)
    expect(value(s, 'completions:tables')).toEqual(['game_events'])
    expect(value(s, 'completions:views')).toEqual(['a_games', 'ends', 'recent'])
  })

  test('\\dt, \\dm and \\d show what PostgreSQL shows', () => {
    expect(value(s, 'special:\\dt')).toEqual([{ title: null, headers: ['Schema', 'Name', 'Type', 'Owner'], rows: [['public', 'game_events', 'table', 'postgres']], status: 'SELECT 1' }])
    for (const command of ['\\dt', '\\dm', '\\d game_events']) expect(value(s, `special:${command}`), command).toEqual(value(p, `special:${command}`))
    const ends = value(s, 'special:\\d ends') as { rows: unknown[]; status: string }[]
    expect(ends[0]!.rows).toEqual((value(p, 'special:\\d ends') as { rows: unknown[] }[])[0]!.rows)
    expect(ends[0]!.status).toContain('"ends_pkey" PRIMARY KEY, btree (game)')
  })
})

describe('psql', () => {
  /** The same script against Sluice and PostgreSQL. */
  const both = (script: string) => ({ ours: psql(ours, script), theirs: psql(theirs, script) })

  test('\\gdesc describes a query of a view as PostgreSQL does', () => {
    const r = both('SELECT * FROM ends \\gdesc\n')
    expect(r.ours.status).toBe(0)
    expect(r.ours.stdout).toMatch(/^ game\s+\| text\s*$/m)
    expect(r.ours.stdout).toMatch(/^ last_ts\s+\| timestamp with time zone\s*$/m)
    expect(r.ours.stdout).toEqual(r.theirs.stdout)
  })

  test('\\sv prints a view; a materialized view is not a view, as in PostgreSQL', () => {
    const view = psql(ours, '\\sv sluice.sluice_queries\n')
    expect(view.status).toBe(0)
    expect(view.stdout).toMatch(/^CREATE OR REPLACE VIEW sluice\.sluice_queries AS/)
    const r = both('\\sv ends\n')
    expect(r.ours.stderr).toContain('"public.ends" is not a view')
    expect(r.ours.stderr).toEqual(r.theirs.stderr)
  })

  test('\\dconfig lists settings, and what this session changed', () => {
    const one = both('\\dconfig search_path\n')
    expect(one.ours.stdout).toMatch(/^ search_path \| "\$user", public$/m)
    expect(one.ours.stdout).toEqual(one.theirs.stdout)
    const changed = psql(ours, "SELECT set_config('search_path', 'public, sluice', false);\n\\dconfig\n")
    expect(changed.status).toBe(0)
    expect(changed.stdout).toMatch(/^ search_path\s+\| public, sluice$/m)
    expect(changed.stdout).toMatch(/^ application_name\s+\| psql$/m)
  })

  test('\\dd and \\drds answer as a database without comments or per-role settings', () => {
    const dd = both('\\dd\n')
    expect(dd.ours.status).toBe(0)
    expect(dd.ours.stdout).toContain('Object descriptions')
    expect(dd.ours.stdout).toEqual(dd.theirs.stdout)
    const drds = psql(ours, '\\drds\n')
    expect(drds.status).toBe(0)
    expect(drds.stdout + drds.stderr).toContain('Did not find any settings.')
  })
})
