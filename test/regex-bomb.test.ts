/**
 * Fault test: statements that used to stall or crash the whole server. A regular expression that makes a
 * backtracking engine run for minutes (`SELECT 'aaaa…!' ~ '^(a+)+$'`, 76 bytes) must answer promptly, from psql,
 * from node-postgres and inside a continuous view, while other sessions keep being served; deeply nested
 * statements must fail with 54001 and leave the server answering.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, spawnSync, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const BOMB_INPUT = 'a'.repeat(54) + '!'
const BOMB_SQL = `SELECT '${BOMB_INPUT}' ~ '^(a+)+$'`

let sluice: SluiceProcess
let db: pg.Client
let other: pg.Client

beforeAll(async () => {
  sluice = await startSluice()
  db = await sluice.client()
  other = await sluice.client()
}, 60_000)

afterAll(async () => {
  await db?.end()
  await other?.end()
  await sluice?.stop()
  if (sluice) await removeDir(sluice.dataDir)
})

/** psql -c with a deadline of its own, so that a stalled server fails the test instead of hanging it. */
function psql(sql: string): { stdout: string; stderr: string; status: number | null; ms: number } {
  const t = Date.now()
  const r = spawnSync('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-c', sql], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
  })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, ms: Date.now() - t }
}

async function sqlstateOf(client: pg.Client, sql: string, values?: unknown[]): Promise<string | undefined> {
  try {
    await client.query(sql, values)
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

describe('regular expression bombs', () => {
  test('from psql: the 76-byte statement answers false promptly', () => {
    const r = psql(BOMB_SQL)
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('f')
    expect(r.ms).toBeLessThan(5_000)
  })

  test('from node-postgres, with parameters, for every regex operator, SIMILAR TO and LIKE', async () => {
    const t = Date.now()
    const row = await db.query({
      text: `SELECT $1::text ~ '^(a+)+$', $1::text ~* '^(A+)+$', $1::text !~ '(a|aa)+$', $1::text !~* '^(a+){2,30}$',
                    $2::text ~ '(x+x+)+y', $1::text SIMILAR TO '(a+)+', $1::text LIKE '%a%a%a%a%a%a%a%a%a%a%b', $1::text ~ $3::text`,
      values: [BOMB_INPUT, 'x'.repeat(5_000), '^(\\w+\\s?)*$'],
      rowMode: 'array',
    })
    expect(row.rows[0]).toEqual([false, false, true, true, false, false, false, false])
    expect(Date.now() - t).toBeLessThan(5_000)
  })

  test('the regexp_* functions, which report where and what matched, answer promptly too', async () => {
    const t = Date.now()
    const long = 'a'.repeat(20_000) + '!'
    const row = await db.query({
      text: `SELECT regexp_match($1::text, '^((?:a+)+)$') AS m, regexp_replace($1::text, '(?:a|aa)+!', 'X') AS r,
                    regexp_count($2::text, '(?:x+x+)+y') AS c, length(regexp_replace($2::text, 'x*?', '-', 'g')) AS g,
                    array_length(regexp_split_to_array($1::text, '(?:a*)*!'), 1) AS s, regexp_instr($1::text, '(?:.*a){20}!') AS i,
                    regexp_substr($1::text, '(a*)+!', 1, 1, '', 1) IS NULL AS refused`,
      values: [long, 'x'.repeat(5_000)],
      rowMode: 'array',
    }).catch((e: { code?: string }) => e)
    // The last one reports a group repeated by a repetition that may match empty: refused, not answered differently.
    expect((row as { code?: string }).code).toBe('0A000')
    const ok = await db.query({
      text: `SELECT regexp_match($1::text, '^((?:a+)+)!$') IS NOT NULL AS m, regexp_replace($1::text, '(?:a|aa)+!', 'X') AS r,
                    regexp_count($2::text, '(?:x+x+)+y') AS c, length(regexp_replace($2::text, 'x*?', '-', 'g')) AS g,
                    array_length(regexp_split_to_array($1::text, '(?:a*)*!'), 1) AS s, regexp_instr($1::text, '(?:.*a){20}!') AS i`,
      values: [long, 'x'.repeat(5_000)],
      rowMode: 'array',
    })
    expect(ok.rows[0]).toEqual([true, 'X', 0, 10_001, 2, 1])
    expect(Date.now() - t).toBeLessThan(10_000)
    const count = await db.query({ text: "SELECT count(*) FROM regexp_matches($1::text, '(a+)(b?)', 'g')", values: ['a'.repeat(50_000)], rowMode: 'array' })
    expect(count.rows[0]).toEqual(['1'])
  })

  test('a second session answers SELECT 1 within 100 ms while bombs run', async () => {
    /** Latencies of `SELECT 1` from the second session, one after another, for `ms`. */
    const probe = async (ms: number): Promise<number[]> => {
      const latencies: number[] = []
      const until = Date.now() + ms
      while (Date.now() < until) {
        const t = performance.now()
        await other.query('SELECT 1')
        latencies.push(performance.now() - t)
      }
      return latencies
    }
    // The same probe without bombs: what this (shared, possibly loaded) machine gives anyway.
    const baseline = await probe(1_000)
    let running = true
    let bombs = 0
    const bomber = (async () => {
      while (running) {
        const r = await db.query({ text: "SELECT $1::text ~ '^(a+)+$', $2::text ~ '(.*a){20}'", values: [BOMB_INPUT, 'a'.repeat(60) + '!'], rowMode: 'array' })
        expect(r.rows[0]).toEqual([false, true])
        bombs++
      }
    })()
    const latencies = await probe(1_500)
    running = false
    await bomber
    expect(bombs).toBeGreaterThan(10)
    expect(latencies.length).toBeGreaterThan(10)
    const sorted = [...latencies].sort((x, y) => x - y)
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
    const base = [...baseline].sort((x, y) => x - y)
    const baseP95 = base[Math.min(base.length - 1, Math.floor(base.length * 0.95))]!
    const shown = `with bombs: median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${at(1).toFixed(1)} ms; alone: p95 ${baseP95.toFixed(1)} ms, max ${Math.max(...baseline).toFixed(1)} ms`
    // Nearly every answer within 100 ms, or within what this machine gives without bombs when it is busier
    // than that (another test file runs beside this one): a backtracking bomb held every session for minutes.
    // The figures that matter are measured by the attack benchmark, not here.
    expect(at(0.95), shown).toBeLessThan(Math.max(100, 3 * baseP95))
    expect(at(1), shown).toBeLessThan(Math.max(1_000, 2 * Math.max(...baseline)))
  })

  test('inside a continuous view, bombs neither stall the view nor the server', async () => {
    await db.query("CREATE STREAM names (id BIGINT NOT NULL, name TEXT) WITH (key = 'id', partitions = 1)")
    await db.query("CREATE MATERIALIZED VIEW only_as AS SELECT id, name FROM names WHERE name ~ '^(a+)+$' OR name LIKE '%x%x%x%x%x%x%y'")
    const values: string[] = []
    for (let i = 0; i < 200; i++) values.push(`(${i}, '${i % 2 === 0 ? BOMB_INPUT : 'a'.repeat(54)}')`)
    await db.query(`INSERT INTO names VALUES ${values.join(', ')}`)
    await db.query(`INSERT INTO names VALUES (1000, '${'x'.repeat(3_000)}'), (1001, 'xxxxxxy')`)
    const count = async (): Promise<number> => Number((await other.query('SELECT count(*) AS n FROM only_as')).rows[0].n)
    // The 100 plain runs of a's and the one LIKE match; the bombs are filtered out.
    await eventually(count, (n) => n === 101, 20_000)
    const t = performance.now()
    await other.query('SELECT 1')
    expect(performance.now() - t).toBeLessThan(100)
    // Events after the bombs still flow.
    await db.query("INSERT INTO names VALUES (2000, 'aaa')")
    await eventually(count, (n) => n === 102, 20_000)
  })

  test('patterns that cannot run in linear time are refused, malformed ones are 2201B', async () => {
    expect(await sqlstateOf(db, "SELECT 'aa' ~ '(a)\\1'")).toBe('0A000')
    expect(await sqlstateOf(db, "SELECT 'ab' ~ 'a(?=b)'")).toBe('0A000')
    expect(await sqlstateOf(db, "SELECT 'a' ~ 'a**'")).toBe('2201B')
    expect(await sqlstateOf(db, "SELECT 'a' ~ '(a'")).toBe('2201B')
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  })
})

describe('deep nesting', () => {
  const deep: [string, string, string][] = [
    ['5,000 nested NOT', `SELECT ${'NOT '.repeat(5_000)}true`, '54001'],
    ['20,000 chained +', `SELECT ${'1+'.repeat(20_000)}1`, '54001'],
    ['1,000 nested scalar subqueries', `SELECT ${'(SELECT '.repeat(1_000)}1${')'.repeat(1_000)}`, '54001'],
    ['1,000 nested FROM subqueries', `SELECT * FROM ${'(SELECT * FROM '.repeat(1_000)}(VALUES (1)) v${') t'.repeat(1_000)}`, '54001'],
    ['3,000 nested function calls', `SELECT ${'abs('.repeat(3_000)}1${')'.repeat(3_000)}`, '54001'],
    ['2,000 UNION ALL', `${'SELECT 1 UNION ALL '.repeat(2_000)}SELECT 1`, '54001'],
    // PostgreSQL's own grammar stops here first, with the same error as PostgreSQL gives.
    ['10,000 parentheses', `SELECT ${'('.repeat(10_000)}1${')'.repeat(10_000)}`, '42601'],
  ]
  test.each(deep)('%s fails cleanly and the server keeps answering', async (_, sql, code) => {
    expect(await sqlstateOf(db, sql)).toBe(code)
    expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  })

  test('a view nested too deeply is refused with 54001; one within the limit runs', async () => {
    await db.query("CREATE STREAM deep_in (id BIGINT NOT NULL, name TEXT) WITH (key = 'id', partitions = 1)")
    expect(await sqlstateOf(db, `CREATE MATERIALIZED VIEW too_deep AS SELECT id FROM deep_in WHERE ${'NOT '.repeat(5_000)}(name = 'a')`)).toBe('54001')
    await db.query(`CREATE MATERIALIZED VIEW deep_ok AS SELECT id, ${'1+'.repeat(500)}id AS x FROM deep_in WHERE ${'NOT '.repeat(500)}(name = 'a')`)
    await db.query("INSERT INTO deep_in VALUES (1, 'a'), (2, 'b')")
    const rows = await eventually(async () => (await other.query('SELECT id, x FROM deep_ok')).rows, (r) => r.length === 1, 20_000)
    expect(rows).toEqual([{ id: '1', x: '501' }])
  })

  test('psql sees 54001 with its message', () => {
    const r = psql(`SELECT ${'NOT '.repeat(5_000)}true`)
    expect(r.stderr).toContain('statement is nested too deeply')
    expect(psql('SELECT 1').stdout.trim()).toBe('1')
  })
})

describe('patterns checked when a view is created', () => {
  test('a view with a back-reference or a malformed pattern is refused by CREATE, with the pattern position', async () => {
    await db.query("CREATE STREAM checked (id BIGINT NOT NULL, name TEXT) WITH (key = 'id', partitions = 1)")
    const sql = "CREATE MATERIALIZED VIEW backref AS SELECT id FROM checked WHERE name ~ '(a)\\1'"
    const err = await db.query(sql).then(
      () => undefined,
      (e: { code?: string; position?: string }) => e,
    )
    expect(err?.code).toBe('0A000')
    expect(Number(err?.position)).toBe(sql.indexOf("'(a)") + 1)
    expect(await sqlstateOf(db, "CREATE MATERIALIZED VIEW bad AS SELECT id FROM checked WHERE name SIMILAR TO '(a'")).toBe('2201B')
    expect((await db.query('SHOW VIEWS')).rows.map((r: { name: string }) => r.name)).not.toContain('backref')
  })
})
