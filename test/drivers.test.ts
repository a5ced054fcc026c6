/**
 * Driver conformance: the drivers analysts use, run the same way against Sluice and against the real
 * PostgreSQL on 127.0.0.1:5432 holding the same rows (a stream in Sluice, a table there), must see the same
 * values: psycopg 3 (text and binary results, binary integer parameters of the width it picks, `= ANY(%s)`,
 * copy.rows() over COPY TO STDOUT, nested transactions as savepoints, TimeZone), psycopg2, pgjdbc (a
 * prepared statement returning every type past its switch to binary results, setArray for `= ANY(?)`,
 * savepoints and autosave, TimeZone from the JVM), node-postgres (arrays as parameters and results), and
 * psql (savepoints). The client programs are test/clients/drivers_check.py and DriversCheck.java.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const CLIENTS = resolve(import.meta.dirname, 'clients')
const JDBC_DIR = join(CLIENTS, 'jdbc')
const PYTHON = '/usr/bin/python3'
const ORACLE_DB = 'sluice_drivers_oracle'

const ITEMS = "(1, 'a', '{x,NULL}', '{1,2}', '2026-01-01 00:00:00+00'), (2, 'b', '{}', '{}', '2026-06-01 12:00:00.5+00'), (3, 'c', NULL, NULL, NULL)"
const NUMS_COLUMNS = 'id int, b bigint, i int, s smallint, n numeric, f double precision'
const ITEMS_COLUMNS = 'id bigint, name text, tags text[], ids bigint[], ts timestamptz'

type Checks = Map<string, Record<string, unknown>>

function runChecks(command: string, args: readonly string[]): Checks {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 })
  const out: Checks = new Map()
  for (const line of (r.stdout ?? '').split('\n')) {
    if (!line.startsWith('{')) continue
    const o = JSON.parse(line) as Record<string, unknown>
    out.set(String(o['check']), o)
  }
  if (!out.has('done')) throw new Error(`${command} ${args.join(' ')} did not finish (status ${r.status}):\n${r.stdout}\n${r.stderr}`)
  return out
}

function psqlOracle(sql: string, db = ORACLE_DB): string {
  const r = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`PostgreSQL: ${r.stderr}`)
  return r.stdout
}

describe('drivers see the same values from Sluice as from PostgreSQL', () => {
  let sluice: SluiceProcess
  let pgClient: pg.Client
  let ours: pg.Client

  beforeAll(async () => {
    sluice = await startSluice()
    spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `CREATE DATABASE ${ORACLE_DB}`])
    psqlOracle(`DROP TABLE IF EXISTS drv_nums, drv_items; CREATE TABLE drv_nums (${NUMS_COLUMNS}); CREATE TABLE drv_items (${ITEMS_COLUMNS}); INSERT INTO drv_items VALUES ${ITEMS}`)
    sluice.psql(`CREATE STREAM drv_nums (${NUMS_COLUMNS}) WITH (partitions = 1)`)
    sluice.psql(`CREATE STREAM drv_items (${ITEMS_COLUMNS}) WITH (partitions = 1)`)
    sluice.psql(`INSERT INTO drv_items VALUES ${ITEMS}`)
    ours = await sluice.client()
    pgClient = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: ORACLE_DB })
    await pgClient.connect()
  })
  afterAll(async () => {
    await ours?.end()
    await pgClient?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  /** Sluice's and PostgreSQL's result of each check, with no error on either side. */
  function compare(theirs: Checks, mine: Checks, name: string): Record<string, unknown> {
    const a = mine.get(name)
    const b = theirs.get(name)
    expect(b, `PostgreSQL ran ${name}`).toBeDefined()
    expect(b!['error'], `PostgreSQL's ${name}`).toBeUndefined()
    expect(a, name).toEqual(b)
    return a!
  }

  // Debian's system Python carries python3-psycopg and python3-psycopg2 (.ci/run installs them); where
  // there is none, these clients cannot be run, and the describe's name says it was skipped.
  describe.skipIf(!existsSync(PYTHON))(`psycopg 3 and psycopg2${existsSync(PYTHON) ? '' : ` (skipped: no ${PYTHON})`}`, () => {
    let mine: Checks
    let theirs: Checks
    beforeAll(() => {
      const script = join(CLIENTS, 'drivers_check.py')
      theirs = runChecks(PYTHON, [script, '127.0.0.1', '5432', 'postgres', ORACLE_DB])
      mine = runChecks(PYTHON, [script, '127.0.0.1', String(sluice.port), 'analyst', 'sluice'])
    }, 240_000)

    test('every type in text and in binary results, and a prepared statement run six times', () => {
      for (const name of ['p3_every_type_text', 'p3_every_type_binary', 'p3_prepared_every_type']) compare(theirs, mine, name)
      expect(mine.get('p3_prepared_every_type')!['same']).toBe(true)
      const row = mine.get('p3_every_type_binary')!['row'] as unknown[]
      expect(row.at(-3)).toEqual([])
      expect(row.at(-1)).toBeNull()
    })

    test('binary integer parameters of every width into bigint, int, smallint, numeric and float columns', () => {
      const c = compare(theirs, mine, 'p3_binary_int_params')
      expect((c['rows'] as unknown[][]).map((r) => r[1])).toEqual([1, 300, 2 ** 40, -(2 ** 53) + 1])
      expect(compare(theirs, mine, 'p3_int_range_errors')).toMatchObject({
        smallint: { sqlstate: '22003', message: 'smallint out of range' },
        integer: { sqlstate: '22003', message: 'integer out of range' },
        bigint: { sqlstate: '22003', message: 'bigint out of range' },
      })
    })

    test('= ANY(%s) and <> ALL(%s) with a list, in text and binary', () => {
      const c = compare(theirs, mine, 'p3_any')
      expect(c['binary']).toMatchObject({ ids: [1, 3], names: ['a', 'c'], not_all: [3], empty: [] })
    })

    test('copy.rows() over COPY TO STDOUT in text, CSV and binary', () => {
      const c = compare(theirs, mine, 'p3_copy_rows')
      expect((c['text'] as unknown[]).length).toBe(3)
      expect(c['csv']).toEqual(['id,name,tags,ts\n', '1,a,"{x,NULL}",2026-01-01 00:00:00+00\n', '2,b,{},2026-06-01 12:00:00.5+00\n', '3,c,,\n'])
    })

    test('nested transaction blocks (savepoints) recover from a failure', () => {
      expect(compare(theirs, mine, 'p3_savepoints')).toMatchObject({ first: 1, after: 2, status: 'IDLE' })
    })

    test('SET TimeZone: ParameterStatus and tz-aware values in the zone', () => {
      const strip = (c: Record<string, unknown> | undefined) => ({ ...c, initial: undefined })
      expect(strip(mine.get('p3_timezone'))).toEqual(strip(theirs.get('p3_timezone')))
      expect(mine.get('p3_timezone')).toMatchObject({ initial: 'UTC', reported: 'Asia/Kolkata', utcoffset: '5:30:00' })
    })

    test('psycopg2: every type, = ANY with a list, arrays, copy_expert CSV with a header, savepoints', () => {
      compare(theirs, mine, 'p2')
    })
  })

  describe('pgjdbc', () => {
    let mine: Checks
    let theirs: Checks
    beforeAll(() => {
      if (!existsSync(join(JDBC_DIR, 'target', 'classes', 'dev', 'sluice', 'clients', 'DriversCheck.class'))) {
        // .ci/run builds it beforehand; offline here, so a test run never downloads.
        const b = spawnSync('mvn', ['-q', '-o', '-f', join(JDBC_DIR, 'pom.xml'), 'package'], { encoding: 'utf8', timeout: 180_000 })
        if (b.status !== 0) throw new Error(`cannot build the JDBC checks (run: mvn -q -f test/clients/jdbc/pom.xml package):\n${b.stdout}\n${b.stderr}`)
      }
      const classpath = `${join(JDBC_DIR, 'target', 'jdbc-check.jar')}:${join(JDBC_DIR, 'target', 'lib', '*')}`
      // The JVM's zone is what pgjdbc sends as TimeZone at startup.
      const java = (port: number, user: string, db: string) => runChecks('java', ['-Duser.timezone=Europe/Berlin', '-cp', classpath, 'dev.sluice.clients.DriversCheck', '127.0.0.1', String(port), user, db])
      theirs = java(5432, 'postgres', ORACLE_DB)
      mine = java(sluice.port, 'analyst', 'sluice')
    }, 240_000)

    test('a prepared statement returning every type, text[] and bigint[] included, executed 10 times (binary from the fifth)', () => {
      const c = compare(theirs, mine, 'every_type_prepared')
      expect(c['all_same']).toBe(true)
    })

    test('setArray(bigint[]) and setArray(text[]) for = ANY(?), and arrays echoed back', () => {
      const c = compare(theirs, mine, 'set_array')
      expect((c['ids'] as unknown[]).every((x) => JSON.stringify(x) === '[1,3]')).toBe(true)
    })

    test('savepoints through the JDBC API, and autosave=always', () => {
      expect(compare(theirs, mine, 'savepoints')).toMatchObject({ failure: '22012', after_rollback_to: 2 })
      expect(compare(theirs, mine, 'autosave')['counts']).toEqual([2, 2, 2, 2, 2, 2])
    })

    test('TimeZone from the JVM at startup: timestamptz in Europe/Berlin in text and binary results', () => {
      expect(compare(theirs, mine, 'timezone')).toMatchObject({ show: 'Europe/Berlin' })
    })
  })

  describe('node-postgres (text format)', () => {
    const QUERIES: [string, unknown[]][] = [
      ['SELECT id FROM drv_items WHERE id = ANY($1) ORDER BY id', [[1, 3, 99]]],
      ['SELECT id FROM drv_items WHERE id <> ALL($1) ORDER BY id', [[1]]],
      ['SELECT name FROM drv_items WHERE name = ANY($1) ORDER BY name', [['a', 'c']]],
      ['SELECT id FROM drv_items WHERE id = ANY($1) ORDER BY id', [[]]],
      ['SELECT id FROM drv_items WHERE id = ANY($1::bigint[]) ORDER BY id', [[2]]],
      ['SELECT $1::text[] AS t, $2::int8[] AS i, $3::float8[] AS f, $4::bool[] AS b, $5::numeric[] AS n', [['a', null, 'b c', '', 'q"x', 'back\\slash'], [1, null, 2], [0.5, null], [true, false, null], [12.5]]],
      ['SELECT $1::timestamptz[] AS ts, $2::date[] AS d', [[new Date('2026-01-02T03:04:05Z'), null], ['2026-01-02']]],
      ['SELECT tags, ids, ts FROM drv_items ORDER BY id', []],
      ["SELECT '{}'::int8[] AS e, NULL::text[] AS n, ARRAY[1, 2] AS a, ARRAY['x', NULL] AS b", []],
    ]

    test.each(QUERIES)('%s', async (sql, params) => {
      const theirs = await pgClient.query(sql, params)
      const mine = await ours.query(sql, params)
      expect(theirs.rows.length + (sql.includes('ANY($1)') && (params[0] as unknown[]).length === 0 ? 1 : 0)).toBeGreaterThan(0)
      expect(mine.rows).toEqual(theirs.rows)
      expect(mine.fields.map((f) => f.dataTypeID)).toEqual(theirs.fields.map((f) => f.dataTypeID))
    })

    test('a multi-dimensional array parameter is refused cleanly, and the session goes on', async () => {
      await expect(ours.query('SELECT $1::int4[] AS a', [[[1, 2], [3, 4]]])).rejects.toMatchObject({ code: '0A000' })
      expect((await ours.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    })
  })

  test('psql: SAVEPOINT, RELEASE, ROLLBACK TO with the errors and tags PostgreSQL gives', () => {
    const script = ['SAVEPOINT x;', 'BEGIN;', 'SAVEPOINT a;', 'SELECT 1;', 'SAVEPOINT b;', 'SELECT 1/0;', 'SELECT 2;', 'RELEASE SAVEPOINT b;', 'ROLLBACK TO SAVEPOINT b;', 'SELECT 3;', 'RELEASE a;', 'ROLLBACK TO a;', 'ROLLBACK TO nope;', 'SELECT 4;', 'ROLLBACK TO SAVEPOINT a;', 'COMMIT;'].join('\n')
    const run = (port: number, user: string, db: string) => {
      const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-v', 'VERBOSITY=terse'], { input: script, encoding: 'utf8' })
      return `${r.stdout}\n${r.stderr}`
    }
    const theirs = run(5432, 'postgres', ORACLE_DB)
    expect(theirs).toContain('savepoint "nope" does not exist')
    expect(run(sluice.port, 'analyst', 'sluice')).toBe(theirs)
  })
})
