/**
 * Differential test of the query shapes of issue 20 in pull queries: GROUP BY ROLLUP / CUBE / GROUPING SETS
 * with GROUPING(), LATERAL (subqueries and functions in FROM reading earlier items), the WINDOW clause,
 * ROWS / RANGE / GROUPS frames with EXCLUDE, and window functions over aggregates. Each query runs on Sluice
 * (over a stream's rows) and on the real PostgreSQL of this machine (a table of the same rows, NULLs and
 * ties included; an empty stream and table for empty inputs). Queries with ORDER BY compare rows in order;
 * grouping-set queries without ORDER BY compare as sets (PostgreSQL leaves their order unspecified). Error
 * cases compare the SQLSTATE and that a position is given. Last, a CUBE and a LATERAL explosion end with
 * 53200 or 57014 while another session answers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const ROWS: readonly string[] = [
  `(1, 'a', 'p', 10, '2024-01-01 00:00')`,
  `(2, 'a', 'q', 20, '2024-01-01 00:30')`,
  `(3, 'b', 'p', NULL, '2024-01-01 01:00')`,
  `(4, NULL, 'q', 5, '2024-01-01 03:00')`,
  `(5, 'b', NULL, 7, '2024-01-01 03:10')`,
  `(6, 'a', 'p', 10, '2024-01-01 03:10')`,
  `(7, 'c', 'q', 20, '2024-01-02 00:00')`,
  `(8, NULL, NULL, NULL, NULL)`,
]
const COLUMNS = `id INT NOT NULL, g TEXT, h TEXT, x INT, ts TIMESTAMP`

const ORDERED: readonly string[] = [
  // ROLLUP / CUBE / GROUPING SETS with GROUPING(); NULL keys beside the NULLs of rolled-up sets.
  `SELECT g, h, sum(x) FROM t GROUP BY ROLLUP (g, h) ORDER BY 1, 2, 3`,
  `SELECT g, h, count(*), grouping(g, h) FROM t GROUP BY CUBE (g, h) ORDER BY 4, 1, 2`,
  `SELECT g, h, count(x) AS n, grouping(g) AS gg, grouping(h) AS gh FROM t GROUP BY GROUPING SETS ((g), (h), ()) ORDER BY gg, gh, g, h`,
  `SELECT g, h, sum(x) FROM t GROUP BY g, ROLLUP (h) ORDER BY 1, 2, 3`,
  `SELECT g, h, sum(x) FROM t GROUP BY ROLLUP ((g, h)) ORDER BY 1, 2, 3`,
  `SELECT g, h, count(*) FROM t GROUP BY CUBE (g, h) HAVING count(*) > 1 ORDER BY 1, 2, 3`,
  `SELECT coalesce(g, 'all') AS grp, sum(x) AS total FROM t GROUP BY ROLLUP (g) ORDER BY grouping(g), g`,
  `SELECT g, count(*) FROM t WHERE x > 100 GROUP BY ROLLUP (g) ORDER BY 1`,
  `SELECT count(*), grouping(g) FROM e GROUP BY GROUPING SETS ((), (), (g)) ORDER BY 1`,
  `SELECT g, count(*) FROM e GROUP BY CUBE (g) ORDER BY 1`,
  `SELECT grouping(g), g FROM t GROUP BY g ORDER BY 2`,
  `SELECT g, h, max(ts), string_agg(id::text, ',' ORDER BY id) AS ids, grouping(g, h) FROM t GROUP BY GROUPING SETS (g, h, (g, h)) ORDER BY 1, 2, 5`,
  `SELECT g, h, count(*) FROM t GROUP BY GROUPING SETS (ROLLUP (g), CUBE (h)) ORDER BY 1, 2, 3`,
  `SELECT g, count(*) FROM t GROUP BY g, GROUPING SETS ((), (g)) ORDER BY 1, 2`,
  `SELECT g, sum(x) FROM t GROUP BY ROLLUP (g) ORDER BY 1 LIMIT 2`,
  `SELECT DISTINCT g FROM t GROUP BY ROLLUP (g, h) ORDER BY 1`,
  `SELECT upper(g) AS u, count(*) FROM t GROUP BY ROLLUP (upper(g)) ORDER BY 1`,
  `SELECT g, h, count(*) FROM t GROUP BY (g, h) ORDER BY 1, 2`,
  `SELECT g, h, count(*) FROM t GROUP BY (g, h), () ORDER BY 1, 2`,
  // LATERAL: subqueries and functions in FROM reading earlier items.
  `SELECT t.id, u.v FROM t CROSS JOIN LATERAL (SELECT t.x * 2 AS v) u ORDER BY 1`,
  `SELECT t.id, u.v FROM t LEFT JOIN LATERAL (SELECT t.x AS v WHERE t.x > 5) u ON true ORDER BY 1`,
  `SELECT t.id, u.v FROM t JOIN LATERAL (SELECT t.x AS v WHERE t.x > 5) u ON u.v < 20 ORDER BY 1`,
  `SELECT t.id, s FROM t, LATERAL generate_series(1, t.id) s ORDER BY 1, 2`,
  `SELECT t.id, s FROM t, generate_series(1, t.id % 3) s WHERE s > 1 ORDER BY 1, 2`,
  `SELECT t.id, nxt.id AS other FROM t, LATERAL (SELECT u.id FROM t u WHERE u.g = t.g AND u.id > t.id ORDER BY u.id LIMIT 1) nxt ORDER BY 1`,
  `SELECT d.g, m.mx, m.n FROM (SELECT DISTINCT g FROM t) d LEFT JOIN LATERAL (SELECT max(x) AS mx, count(*) AS n FROM t u WHERE u.g = d.g) m ON true ORDER BY 1`,
  `SELECT a.id, b.n FROM t a, LATERAL (SELECT count(*) AS n FROM t b WHERE b.id < a.id) b ORDER BY 1`,
  `SELECT t.id, u.* FROM t LEFT JOIN LATERAL (SELECT t.x AS v, t.g AS w WHERE false) u ON true ORDER BY 1`,
  `SELECT count(*) FROM t a, LATERAL (SELECT * FROM t b WHERE b.id <= a.id) c, LATERAL generate_series(1, c.id) s`,
  `SELECT t.id, el FROM t LEFT JOIN LATERAL unnest(ARRAY[t.x, t.id]) el ON true ORDER BY 1, 2`,
  `SELECT e.id, u.v FROM e, LATERAL (SELECT e.x AS v) u ORDER BY 1`,
  `SELECT t.g, top.id FROM (SELECT DISTINCT g FROM t WHERE g IS NOT NULL) t, LATERAL (SELECT id FROM t u WHERE u.g = t.g ORDER BY x DESC NULLS LAST, id LIMIT 2) top ORDER BY 1, 2`,
  // The WINDOW clause.
  `SELECT id, sum(x) OVER w FROM t WINDOW w AS (ORDER BY id) ORDER BY id`,
  `SELECT id, sum(x) OVER (w ORDER BY id), count(*) OVER w FROM t WINDOW w AS (PARTITION BY g) ORDER BY id`,
  `SELECT id, sum(x) OVER w2 FROM t WINDOW w AS (PARTITION BY g), w2 AS (w ORDER BY id DESC) ORDER BY id`,
  `SELECT id, sum(x) OVER (w ROWS 1 PRECEDING) FROM t WINDOW w AS (ORDER BY id) ORDER BY id`,
  `SELECT id, row_number() OVER w, rank() OVER w FROM t WINDOW w AS (ORDER BY x NULLS FIRST, id), unused AS (ORDER BY g) ORDER BY id`,
  // ROWS / RANGE / GROUPS frames and EXCLUDE.
  `SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 3 PRECEDING AND 2 PRECEDING) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) FROM t ORDER BY id`,
  `SELECT id, count(*) OVER (PARTITION BY g ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1 hour' PRECEDING AND CURRENT ROW) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY ts DESC RANGE BETWEEN INTERVAL '1 hour' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, count(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1 day' PRECEDING AND INTERVAL '1 month' FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, x, sum(id) OVER (ORDER BY x RANGE BETWEEN 5 PRECEDING AND 5 FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, x, sum(id) OVER (ORDER BY x DESC NULLS LAST RANGE BETWEEN 5 PRECEDING AND 2 FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, count(x) OVER (ORDER BY x RANGE BETWEEN UNBOUNDED PRECEDING AND 3 FOLLOWING) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY g GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t ORDER BY id`,
  `SELECT id, g, sum(x) OVER (ORDER BY g GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING EXCLUDE TIES) FROM t ORDER BY id`,
  `SELECT id, count(*) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE GROUP) FROM t ORDER BY id`,
  `SELECT id, x, min(x) OVER (ORDER BY x RANGE BETWEEN CURRENT ROW AND CURRENT ROW EXCLUDE TIES) FROM t ORDER BY id`,
  `SELECT id, first_value(id) OVER f, last_value(id) OVER f, nth_value(id, 2) OVER f FROM t WINDOW f AS (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) ORDER BY id`,
  `SELECT id, last_value(id) OVER (ORDER BY x, id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE CURRENT ROW) FROM t ORDER BY id`,
  `SELECT id, rank() OVER (ORDER BY x ROWS 1 PRECEDING), lag(id) OVER (ORDER BY id ROWS 1 PRECEDING) FROM t ORDER BY id`,
  `SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM e ORDER BY id`,
  // Window functions over aggregates.
  `SELECT g, sum(x), rank() OVER (ORDER BY sum(x)) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, sum(x) AS s, rank() OVER (ORDER BY sum(x) DESC NULLS LAST), sum(sum(x)) OVER () AS total FROM t GROUP BY g ORDER BY s DESC NULLS LAST, g`,
  `SELECT h, count(*), row_number() OVER (PARTITION BY count(*) ORDER BY h) FROM t GROUP BY h ORDER BY h`,
  `SELECT g, sum(x), lag(sum(x)) OVER (ORDER BY g) FROM t GROUP BY g HAVING count(*) > 1 ORDER BY g`,
  `SELECT rank() OVER (ORDER BY sum(x)), count(*) FROM t`,
  `SELECT g, h, sum(x), dense_rank() OVER (PARTITION BY g ORDER BY sum(x)) FROM t GROUP BY ROLLUP (g, h) ORDER BY 1, 2, 3, 4`,
  `SELECT g, sum(x) FROM t GROUP BY g ORDER BY rank() OVER (ORDER BY sum(x) DESC), g`,
  `SELECT g, count(*), sum(count(*)) OVER (ORDER BY g ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t GROUP BY g ORDER BY g`,
  // Set-returning functions after grouping; ordered and filtered aggregates.
  `SELECT g, unnest(array_agg(x)) AS v FROM t GROUP BY g ORDER BY 1, 2`,
  `SELECT g, unnest(array_agg(x ORDER BY id)) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, count(*), generate_series(1, count(*)::int) AS n FROM t GROUP BY g ORDER BY 1, 3`,
  `SELECT unnest(ARRAY[min(x), max(x)]) AS m FROM t ORDER BY 1`,
  `SELECT g, unnest(array_agg(x)) FROM t GROUP BY g HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 3`,
  `SELECT DISTINCT unnest(array_agg(g)) AS gg FROM t GROUP BY h ORDER BY 1`,
  `SELECT g, unnest(array_agg(x)), unnest(array_agg(id)) FROM t GROUP BY g ORDER BY 1, 3`,
  `SELECT unnest(array_agg(id)) FROM e GROUP BY g ORDER BY 1`,
  `SELECT g, array_agg(x ORDER BY x DESC NULLS LAST, id) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, string_agg(h, ',' ORDER BY h), string_agg(h, ';' ORDER BY h) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, count(*) FILTER (WHERE x > 5), array_agg(id ORDER BY id) FILTER (WHERE x IS NOT NULL) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, array_agg(x ORDER BY x DESC NULLS LAST, id), string_agg(h, ',' ORDER BY h) FROM t GROUP BY g ORDER BY g`,
  `SELECT g, array_agg(x ORDER BY x), array_agg(x ORDER BY x DESC), array_agg(id ORDER BY ts DESC NULLS LAST, id) FROM t GROUP BY g ORDER BY g`,
  `SELECT string_agg(h, ',' ORDER BY h NULLS FIRST), string_agg(g, '-' ORDER BY id DESC), count(*) FROM t`,
  `SELECT g, string_agg(DISTINCT h, ',' ORDER BY h), array_agg(x ORDER BY id) FILTER (WHERE x > 5) FROM t GROUP BY g ORDER BY g`,
  `SELECT array_agg(x ORDER BY x), array_agg(x ORDER BY id) FROM e`,
  `SELECT g, h, string_agg(id::text, ',' ORDER BY id DESC), array_agg(x ORDER BY x), grouping(g, h) FROM t GROUP BY ROLLUP (g, h) ORDER BY 1, 2, 5`,
]

/** Grouping-set output whose order PostgreSQL leaves open: compared as sets. */
const UNORDERED: readonly string[] = [
  `SELECT g, h, sum(x) FROM t GROUP BY ROLLUP (g, h)`,
  `SELECT g, h, count(*), grouping(g, h) FROM t GROUP BY CUBE (g, h)`,
  `SELECT h, count(*) FROM t GROUP BY GROUPING SETS (h, ())`,
]

/** Statements both engines refuse with the same SQLSTATE. */
const ERRORS: readonly { sql: string; code: string }[] = [
  { sql: `SELECT grouping(x) FROM t GROUP BY g`, code: '42803' },
  { sql: `SELECT grouping(g) FROM t`, code: '42803' },
  { sql: `SELECT g, x FROM t GROUP BY ROLLUP (g)`, code: '42803' },
  { sql: `SELECT g, count(*) FROM e GROUP BY GROUPING SETS ((), ())`, code: '42803' },
  { sql: `SELECT 1 FROM t GROUP BY CUBE (id, g, h, x, ts, id, g, h, x, ts, id, g, h)`, code: '54011' },
  { sql: `SELECT 1 FROM t GROUP BY CUBE (id, g, h, x, ts, id, g, h, x, ts, id, g), ROLLUP (id)`, code: '54001' },
  { sql: `SELECT sum(x) OVER w, sum(x) OVER w FROM t WINDOW w AS (ORDER BY id), w AS (ORDER BY g)`, code: '42P20' },
  { sql: `SELECT sum(x) OVER nope FROM t`, code: '42704' },
  { sql: `SELECT sum(x) OVER (w ORDER BY id) FROM t WINDOW w AS (ORDER BY g)`, code: '42P20' },
  { sql: `SELECT sum(x) OVER (w PARTITION BY h) FROM t WINDOW w AS (PARTITION BY g)`, code: '42P20' },
  { sql: `SELECT sum(x) OVER (w ROWS 1 PRECEDING) FROM t WINDOW w AS (ORDER BY g ROWS 2 PRECEDING)`, code: '42P20' },
  { sql: `SELECT sum(x) OVER (ORDER BY id, g RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t`, code: '42P20' },
  { sql: `SELECT sum(x) OVER (GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t`, code: '42P20' },
  { sql: `SELECT g, rank() OVER (ORDER BY x) FROM t GROUP BY g`, code: '42803' },
  { sql: `SELECT t.id, u.v FROM t, (SELECT t.x AS v) u`, code: '42P01' },
  { sql: `SELECT t.id FROM t RIGHT JOIN LATERAL (SELECT t.x) u ON true`, code: '42P10' },
]

/** What PostgreSQL runs but Sluice refuses, with a position (see docs/sql-reference.md, Differences from PostgreSQL). */
const REFUSED: readonly string[] = [
  `SELECT g, 'x' || unnest(array_agg(h)) FROM t GROUP BY g`,
]

/** Errors PostgreSQL raises while running (no position): the same SQLSTATE. */
const RUN_ERRORS: readonly { sql: string; code: string }[] = [
  { sql: `SELECT sum(x) OVER (ORDER BY id ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) FROM t`, code: '22013' },
  { sql: `SELECT sum(x) OVER (ORDER BY id RANGE BETWEEN -1 PRECEDING AND CURRENT ROW) FROM t`, code: '22013' },
  { sql: `SELECT sum(x) OVER (ORDER BY id ROWS BETWEEN NULL PRECEDING AND CURRENT ROW) FROM t`, code: '22004' },
]

const sortedRows = (rows: unknown[][]): string[] => rows.map((r) => JSON.stringify(r)).sort()

describe('query shapes (grouping sets, LATERAL, WINDOW, frames) against PostgreSQL', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    client = await sluice.client()
    await client.query(`CREATE STREAM t (${COLUMNS})`)
    await client.query(`CREATE STREAM e (${COLUMNS})`)
    await client.query(`INSERT INTO t VALUES ${ROWS.join(', ')}`)
    oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    await oracle.query(`CREATE TEMP TABLE t (${COLUMNS})`)
    await oracle.query(`CREATE TEMP TABLE e (${COLUMNS})`)
    await oracle.query(`INSERT INTO t VALUES ${ROWS.join(', ')}`)
  }, 60_000)
  afterAll(async () => {
    await client?.end()
    await oracle?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(ORDERED)('same rows as PostgreSQL: %s', async (sql) => {
    const expected = await oracle.query({ text: sql, rowMode: 'array' })
    const actual = await client.query({ text: sql, rowMode: 'array' })
    expect(actual.fields.map((f) => f.name)).toEqual(expected.fields.map((f) => f.name))
    expect(actual.rows).toEqual(expected.rows)
  })

  test.each(UNORDERED)('same rows as PostgreSQL, as sets: %s', async (sql) => {
    const expected = await oracle.query({ text: sql, rowMode: 'array' })
    const actual = await client.query({ text: sql, rowMode: 'array' })
    expect(actual.fields.map((f) => f.name)).toEqual(expected.fields.map((f) => f.name))
    expect(sortedRows(actual.rows)).toEqual(sortedRows(expected.rows))
  })

  test.each(ERRORS)('same error as PostgreSQL: $sql', async ({ sql, code }) => {
    const fail = (c: pg.Client) => c.query(sql).then(() => null, (e: { code?: string; position?: string }) => e)
    const [mine, theirs] = [await fail(client), await fail(oracle)]
    expect(theirs?.code).toBe(code)
    expect(mine?.code).toBe(code)
    expect(Number(mine?.position)).toBeGreaterThan(0)
  })

  test.each(REFUSED)('refused by Sluice with a position: %s', async (sql) => {
    await oracle.query(sql)
    const mine = await client.query(sql).then(() => null, (e: { code?: string; position?: string }) => e)
    expect(mine?.code).toBe('0A000')
    expect(Number(mine?.position)).toBeGreaterThan(0)
  })

  test.each(RUN_ERRORS)('same error while running as PostgreSQL: $sql', async ({ sql, code }) => {
    const fail = (c: pg.Client) => c.query(sql).then(() => null, (e: { code?: string }) => e)
    expect((await fail(oracle))?.code).toBe(code)
    expect((await fail(client))?.code).toBe(code)
  })

  test('EXPLAIN shows the grouping sets and the lateral loop', async () => {
    const plan = async (sql: string): Promise<string> => (await client.query(`EXPLAIN ${sql}`)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')
    expect(await plan(`SELECT g, h, sum(x) FROM t GROUP BY CUBE (g, h)`)).toContain('grouping sets=[(g, h), (g), (h), ()]')
    expect(await plan(`SELECT t.id, s FROM t, LATERAL generate_series(1, t.id) s`)).toContain('Nested Loop (lateral)')
  })

  test('aggregates that sort their own values charge them to the memory budget', async () => {
    const c = await sluice.client()
    try {
      await c.query(`SET sluice.query_memory = '48MB'`)
      // The same rows fit when nothing keeps them...
      expect((await c.query(`SELECT count(*)::int AS n FROM generate_series(1, 300000) s`)).rows[0].n).toBe(300000)
      // ...and do not when three differently ordered aggregates keep a tuple per row each.
      const sql = `SELECT array_agg(s ORDER BY s DESC), array_agg(s ORDER BY s), string_agg(s::text, ',' ORDER BY s DESC) FROM generate_series(1, 300000) s`
      const err = await c.query(sql).then(() => null, (e: { code?: string }) => e)
      expect(err?.code).toBe('53200')
      expect((await c.query(`SELECT string_agg(x::text, ',' ORDER BY x DESC), string_agg(x::text, ',' ORDER BY x) AS up FROM t`)).rows[0].up).toBe('5,7,10,10,20,20')
    } finally {
      await c.end()
    }
  })

  test('a continuous view refuses ROLLUP and GROUPS frames with a position', async () => {
    for (const sql of [
      `CREATE MATERIALIZED VIEW r AS SELECT g, count(*) FROM t GROUP BY ROLLUP (g)`,
      `CREATE MATERIALIZED VIEW r AS SELECT id, sum(x) OVER (ORDER BY ts GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t`,
    ]) {
      const err = await client.query(sql).then(() => null, (e: { code?: string; position?: string }) => e)
      expect(err?.code).toBe('0A000')
      expect(Number(err?.position)).toBeGreaterThan(0)
    }
  })

  test.each([
    { what: 'a CUBE of 12 columns over distinct rows', sql: `SELECT count(*) FROM (SELECT a.id FROM t a, generate_series(1, 400) s GROUP BY CUBE (a.id, s, a.g, a.h, a.x, a.ts, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6)) c` },
    { what: 'a LATERAL explosion', sql: `SELECT count(*) FROM t a, LATERAL (SELECT a.id, s FROM generate_series(1, 100000000) s) b` },
  ])('$what ends with 53200 or 57014 while another session answers', async ({ sql }) => {
    const heavy = await sluice.client()
    const probe = await sluice.client()
    try {
      await heavy.query(`SET sluice.query_memory = '32MB'`)
      await heavy.query(`SET statement_timeout = '30s'`)
      let done = false
      const outcome = heavy.query(sql).then(
        () => 'finished',
        (e: { code?: string }) => e.code ?? String(e),
      ).finally(() => (done = true))
      let answered = 0
      while (!done) {
        expect((await probe.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
        if (!done) answered++
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(['53200', '57014']).toContain(await outcome)
      expect((await probe.query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(ROWS.length)
      expect((await heavy.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
      expect(answered).toBeGreaterThanOrEqual(0)
    } finally {
      await heavy.end()
      await probe.end()
    }
  }, 90_000)
})
