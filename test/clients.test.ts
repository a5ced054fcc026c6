/**
 * Acceptance tests with the drivers applications really use, each against a real `sluice serve` process
 * holding a stream and two views with known rows: pgjdbc (a small Java program in test/clients/jdbc, the
 * way DBeaver or a Spring service connects: DatabaseMetaData browsing, server-prepared statements with
 * binary transfer past prepareThreshold, setFetchSize streaming), psycopg2 and psycopg 3 (parameters,
 * named server-side cursors, LISTEN/NOTIFY), and node-postgres (parameters, pipelined queries, Pool,
 * notifications). The Java and Python programs print one JSON line per check; the assertions are here.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const CLIENTS = resolve(import.meta.dirname, 'clients')
const JDBC_DIR = join(CLIENTS, 'jdbc')
const JDBC_JAR = join(JDBC_DIR, 'target', 'jdbc-check.jar')
/** The Debian packages python3-psycopg2 and python3-psycopg install for the system Python, not pyenv's. */
const PYTHON = '/usr/bin/python3'

/** One JSON line per check, keyed by its `check` name. */
type Checks = Map<string, Record<string, unknown>>

function parseChecks(stdout: string): Checks {
  const out: Checks = new Map()
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const o = JSON.parse(line) as Record<string, unknown>
    out.set(String(o['check']), o)
  }
  return out
}

/** Runs a client program against the server; its checks, or a thrown error carrying its output. */
function runClient(command: string, args: readonly string[]): Checks {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 90_000 })
  const checks = parseChecks(r.stdout ?? '')
  if (!checks.has('done')) throw new Error(`${command} ${args.join(' ')} did not finish (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`)
  return checks
}

/** A check's result, failing with its error (message and SQLSTATE) when the client reported one. */
function check(checks: Checks, name: string): Record<string, unknown> {
  const c = checks.get(name)
  if (c === undefined) throw new Error(`no result for check ${name}`)
  if ('error' in c) {
    const at = 'iteration' in c ? ` at iteration ${String(c['iteration'])}` : ''
    throw new Error(`${name} failed in the client${at}: ${String(c['error'])} (SQLSTATE ${String(c['sqlstate'])}, ${String(c['exception'])})`)
  }
  return c
}

/** Why a Python driver cannot be used here, or null when it imports. */
function pythonMissing(module: string): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' })
  return r.status === 0 ? null : `${PYTHON} cannot import ${module} (install python3-psycopg2 / python3-psycopg): ${r.stderr.trim().split('\n').at(-1)}`
}

const EVENTS = [
  [1, 'chess', 10.5, '2026-11-23 10:00:00+00'],
  [1, 'chess', 12.0, '2026-11-23 10:00:01+00'],
  [2, 'go', 7.25, '2026-11-23 10:00:02+00'],
  [2, 'chess', 3.0, '2026-11-23 10:00:03+00'],
  [2, 'go', 9.0, '2026-11-23 10:00:04+00'],
  [3, 'poker', 1.5, '2026-11-23 10:00:05+00'],
  [4, 'go', null, '2026-11-23 10:00:06+00'],
  [5, 'chess', 4.0, '2026-11-23 10:00:07+00'],
  [6, 'chess', 5.0, '2026-11-23 10:00:08+00'],
  [7, 'go', 6.0, '2026-11-23 10:00:09+00'],
] as const

/** client_players as [player_id, games, best]. */
const PLAYERS: readonly (readonly [number, number, number | null])[] = [
  [1, 2, 12],
  [2, 3, 9],
  [3, 1, 1.5],
  [4, 1, null],
  [5, 1, 4],
  [6, 1, 5],
  [7, 1, 6],
]

describe('real clients', () => {
  let sluice: SluiceProcess

  beforeAll(async () => {
    sluice = await startSluice()
    const c = await sluice.client()
    try {
      await c.query(
        "CREATE STREAM client_events (player_id BIGINT NOT NULL, game TEXT, score DOUBLE PRECISION, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')",
      )
      await c.query('CREATE MATERIALIZED VIEW client_players AS SELECT player_id, count(*) AS games, max(score) AS best FROM client_events GROUP BY player_id')
      await c.query('CREATE MATERIALIZED VIEW client_games AS SELECT game, count(*) AS n FROM client_events GROUP BY game')
      const values = EVENTS.map(([p, g, s, t]) => `(${p}, '${g}', ${s === null ? 'NULL' : s}, '${t}')`).join(', ')
      await c.query(`INSERT INTO client_events VALUES ${values}`)
      await eventually(async () => (await c.query('SELECT count(*) AS n FROM client_players')).rows[0].n, (n) => Number(n) === PLAYERS.length)
    } finally {
      await c.end()
    }
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  describe('pgjdbc', () => {
    let checks: Checks
    beforeAll(() => {
      if (!existsSync(JDBC_JAR)) {
        // .ci/run builds it beforehand; offline here, so a test run never downloads.
        const b = spawnSync('mvn', ['-q', '-o', '-f', join(JDBC_DIR, 'pom.xml'), 'package'], { encoding: 'utf8', timeout: 180_000 })
        if (b.status !== 0) throw new Error(`cannot build ${JDBC_JAR} (run: mvn -q -f test/clients/jdbc/pom.xml package):\n${b.stdout}\n${b.stderr}`)
      }
      const classpath = `${JDBC_JAR}:${join(JDBC_DIR, 'target', 'lib', '*')}`
      checks = runClient('java', ['-cp', classpath, 'dev.sluice.clients.JdbcCheck', '127.0.0.1', String(sluice.port)])
    }, 240_000)

    test('connects and reads the server version', () => {
      const c = check(checks, 'connect')
      expect(c['product']).toBe('PostgreSQL')
      expect(String(c['version'])).toMatch(/^\d+/)
    })

    test('DatabaseMetaData.getSchemas lists public, pg_catalog and information_schema', () => {
      const schemas = check(checks, 'schemas')['schemas'] as string[]
      expect(schemas).toEqual(expect.arrayContaining(['public', 'pg_catalog', 'information_schema']))
    })

    test('getTables: the stream is a TABLE, the views MATERIALIZED VIEWs with their key index', () => {
      const tables = check(checks, 'tables')['tables'] as { name: string; type: string }[]
      // Without a type filter pgjdbc lists indexes too, as PostgreSQL does.
      expect([...tables].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'client_events', type: 'TABLE' },
        { name: 'client_games', type: 'MATERIALIZED VIEW' },
        { name: 'client_games_pkey', type: 'INDEX' },
        { name: 'client_players', type: 'MATERIALIZED VIEW' },
        { name: 'client_players_pkey', type: 'INDEX' },
      ])
    })

    test('getColumns: names, types and JDBC type codes of a view', () => {
      const columns = check(checks, 'columns')['columns'] as Record<string, unknown>[]
      expect(columns.map((c) => [c['name'], c['type_name'], c['data_type'], c['position']])).toEqual([
        ['player_id', 'int8', -5, 1],
        ['games', 'int8', -5, 2],
        ['best', 'float8', 8, 3],
      ])
    })

    test("getPrimaryKeys: a GROUP BY view's key is its primary key", () => {
      expect(check(checks, 'primary_keys')['keys']).toEqual([{ column: 'player_id', seq: 1, name: 'client_players_pkey' }])
    })

    test('getTypeInfo lists the types Sluice speaks', () => {
      const types = check(checks, 'type_info')['types'] as string[]
      expect(types).toEqual(expect.arrayContaining(['bool', 'int4', 'int8', 'float8', 'text', 'timestamptz', 'numeric']))
    })

    test('a PreparedStatement with int/bigint/text/double/boolean/timestamp parameters round-trips past prepareThreshold (server-prepared, binary)', () => {
      const c = check(checks, 'prepared_params')
      expect(c['mismatches']).toEqual([])
      const serverPrepared = c['server_prepared'] as boolean[]
      expect(serverPrepared).toHaveLength(8)
      // pgjdbc names the statement on the server from the fifth execution on.
      expect(serverPrepared.slice(5)).toEqual([true, true, true])
    })

    test('a prepared point query on a keyed view answers right before and after the switch to server-prepared', () => {
      const results = check(checks, 'prepared_view')['results'] as { player_id: number; rows: unknown[] }[]
      expect(results).toHaveLength(8)
      for (const r of results) {
        const [, games, best] = PLAYERS[r.player_id - 1]!
        expect(r.rows, `player ${r.player_id}`).toEqual([[r.player_id, games, best]])
      }
    })

    test('setFetchSize with autocommit off streams every row of a view in order', () => {
      expect(check(checks, 'fetch_size')['ids']).toEqual(PLAYERS.map((p) => p[0]))
    })

    test('ResultSetMetaData: a column read from the stream names its table and says whether it can be NULL', () => {
      // isNullable: 0 = columnNoNulls, 1 = columnNullable, 2 = columnNullableUnknown (a computed column).
      expect(check(checks, 'result_metadata')['columns']).toEqual([
        ['player_id', 'client_events', 0],
        ['game', 'client_events', 1],
        ['one', '', 2],
      ])
    })

    test("getSQLKeywords lists PostgreSQL's keywords that SQL:2003 lacks (from pg_get_keywords)", () => {
      const words = String(check(checks, 'sql_keywords')['keywords']).split(',')
      expect(words).toEqual(expect.arrayContaining(['analyze', 'ilike', 'limit', 'offset', 'returning']))
      expect(words).not.toContain('select')
      expect(words).toEqual([...words].sort())
    })

    test('the other DatabaseMetaData calls of browsing tools run', () => {
      const calls = check(checks, 'metadata_calls')['calls'] as Record<string, unknown>
      for (const [name, result] of Object.entries(calls)) expect(String(result), name).not.toMatch(/^error/)
      expect(calls['getTablePrivileges']).toBeGreaterThan(0)
      expect(calls['getBestRowIdentifier']).toBe(1)
    })

    test("getIndexInfo: a grouped view's key index", () => {
      expect(check(checks, 'index_info')['indexes']).toEqual([{ name: 'client_players_pkey', column: 'player_id', non_unique: false }])
    })

    test('setFetchSize streams a SUBSCRIBE: the snapshot, then a change made on another connection', () => {
      const c = check(checks, 'fetch_subscribe')
      expect(c['snapshot']).toEqual([[1, 'before', 1]])
      expect(c['change']).toEqual([1, 'after', 1])
    })
  })

  for (const [name, module, script] of [
    ['psycopg2', 'psycopg2', 'psycopg2_check.py'],
    ['psycopg 3', 'psycopg', 'psycopg3_check.py'],
  ] as const) {
    const missing = pythonMissing(module)
    describe.skipIf(missing !== null)(`${name}${missing !== null ? ` (skipped: ${missing})` : ''}`, () => {
      let checks: Checks
      beforeAll(() => {
        checks = runClient(PYTHON, [join(CLIENTS, script), '127.0.0.1', String(sluice.port)])
      }, 120_000)

      test('parameters of every common type, and a parameterized query on a view', () => {
        const c = check(checks, 'params')
        expect(c['row']).toEqual([7, 10_000_000_001, "it's é", 2.5, true, '2026-11-23T10:00:01.250000+00:00'])
        expect(c['ts_ok']).toBe(true)
        expect(c['view']).toEqual([[2, 3, 9.0]])
      })

      if (module === 'psycopg') {
        test('prepare=True: one named statement executed six times', () => {
          const results = check(checks, 'prepared')['results'] as unknown[]
          expect(results).toEqual([1, 2, 3, 1, 2, 3].map((p) => [[p, PLAYERS[p - 1]![1]]]))
        })
      }

      test('a named (server-side) cursor fetches a view in batches', () => {
        expect(check(checks, 'named_cursor')['ids']).toEqual(PLAYERS.map((p) => p[0]))
      })

      test('LISTEN, then a NOTIFY from another connection arrives with channel, payload and sender pid', () => {
        const c = check(checks, 'listen')
        expect(c['notifications']).toEqual([{ channel: 'client_channel', payload: `hello from ${name}`, pid: c['sender_pid'] }])
      })
    })
  }

  describe('node-postgres', () => {
    const expectedPlayer = (id: number): Record<string, unknown> => {
      const [, games, best] = PLAYERS[id - 1]!
      return { player_id: String(id), games: String(games), best }
    }

    test('parameterized queries: typed parameters and a point query on a view', async () => {
      const c = await sluice.client()
      try {
        const ts = new Date('2026-11-23T10:00:01.250Z')
        const r = await c.query('SELECT $1::int AS i, $2::bigint AS b, $3::text AS t, $4::float8 AS d, $5::boolean AS z, $6::timestamptz AS ts', [7, '10000000001', "it's é", 2.5, true, ts])
        expect(r.rows).toEqual([{ i: 7, b: '10000000001', t: "it's é", d: 2.5, z: true, ts }])
        for (const id of [1, 4, 7]) {
          const v = await c.query('SELECT player_id, games, best FROM client_players WHERE player_id = $1', [id])
          expect(v.rows).toEqual([expectedPlayer(id)])
        }
        const none = await c.query('SELECT player_id FROM client_players WHERE player_id = $1', [999])
        expect(none.rows).toEqual([])
      } finally {
        await c.end()
      }
    })

    test('pipelined: many queries sent without waiting, an error among them, answers in order', async () => {
      const c = await sluice.client()
      try {
        const pending: Promise<unknown>[] = []
        for (let i = 0; i < 30; i++) {
          if (i === 13) pending.push(c.query('SELECT * FROM no_such_view').then(() => 'no error', (e: { code?: string }) => `error ${e.code}`))
          else if (i % 3 === 0) pending.push(c.query('SELECT $1::int * 2 AS n', [i]).then((r) => r.rows))
          else pending.push(c.query('SELECT player_id, games, best FROM client_players WHERE player_id = $1', [(i % 7) + 1]).then((r) => r.rows))
        }
        pending.push(c.query('SELECT game, n FROM client_games ORDER BY game').then((r) => r.rows))
        const results = await Promise.all(pending)
        results.slice(0, 30).forEach((got, i) => {
          if (i === 13) expect(got).toBe('error 42P01')
          else if (i % 3 === 0) expect(got, `query ${i}`).toEqual([{ n: i * 2 }])
          else expect(got, `query ${i}`).toEqual([expectedPlayer((i % 7) + 1)])
        })
        expect(results[30]).toEqual([
          { game: 'chess', n: '5' },
          { game: 'go', n: '4' },
          { game: 'poker', n: '1' },
        ])
      } finally {
        await c.end()
      }
    })

    test('pg.Pool: 60 concurrent queries over 4 connections', async () => {
      const pool = new pg.Pool({ host: '127.0.0.1', port: sluice.port, user: 'analyst', database: 'sluice', max: 4 })
      try {
        const ids = Array.from({ length: 60 }, (_, i) => (i % 7) + 1)
        const results = await Promise.all(ids.map((id) => pool.query('SELECT player_id, games, best FROM client_players WHERE player_id = $1', [id])))
        results.forEach((r, i) => expect(r.rows).toEqual([expectedPlayer(ids[i]!)]))
        expect(pool.totalCount).toBeLessThanOrEqual(4)
      } finally {
        await pool.end()
      }
    })

    test('LISTEN: a notification from another connection arrives as a notification event', async () => {
      const listener = await sluice.client()
      const sender = await sluice.client()
      try {
        const got: pg.Notification[] = []
        listener.on('notification', (n) => got.push(n))
        await listener.query('LISTEN client_channel')
        const pid = Number((await sender.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
        await sender.query("NOTIFY client_channel, 'hello from node-postgres'")
        await sender.query('SELECT pg_notify($1, $2)', ['client_channel', 'second'])
        await eventually(async () => got.length, (n) => n === 2, 5_000)
        expect(got.map((n) => [n.channel, n.payload, n.processId])).toEqual([
          ['client_channel', 'hello from node-postgres', pid],
          ['client_channel', 'second', pid],
        ])
      } finally {
        await Promise.all([listener.end(), sender.end()])
      }
    })
  })
})
