/**
 * Differential test of the query shapes dashboards write in pull queries: WITH (CTEs), DISTINCT ON and
 * column aliases on VALUES / subqueries in FROM. Each query runs on Sluice and on the real PostgreSQL on
 * this machine over the same rows (a stream and a view in Sluice, tables of the same names and contents
 * in PostgreSQL); rows must be equal, in order (every query has an ORDER BY). Error cases compare the
 * SQLSTATE and that a position is given.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const ORDERS = [
  [1, 'ada', 10], [2, 'bob', 25], [3, 'ada', 7], [4, 'cy', 40], [5, 'bob', 5], [6, 'ada', 30], [7, 'dee', 12], [8, 'cy', 1],
]
const rowsSql = ORDERS.map(([id, who, amount]) => `(${id}, '${who}', ${amount})`).join(', ')

const QUERIES: readonly string[] = [
  // WITH: chained CTEs, a CTE read twice, column lists, a CTE hiding a view of the same name.
  `WITH big AS (SELECT id, customer, amount FROM orders WHERE amount >= 10), per AS (SELECT customer, count(*) AS n FROM big GROUP BY customer)
   SELECT b.id, b.customer, p.n FROM big b JOIN per p ON p.customer = b.customer ORDER BY b.id`,
  `WITH a AS (SELECT customer, amount FROM orders) SELECT x.customer, x.amount, y.amount AS other FROM a x JOIN a y ON x.customer = y.customer AND x.amount < y.amount ORDER BY 1, 2, 3`,
  `WITH t(who, total) AS (SELECT customer, sum(amount) FROM orders GROUP BY customer) SELECT who, total FROM t WHERE total > 20 ORDER BY total DESC`,
  // WITH RECURSIVE: a counter, and a running total over the orders in id order.
  `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r ORDER BY n`,
  `WITH RECURSIVE run(id, total) AS (SELECT min(id), min(id) * 0 FROM orders UNION ALL SELECT o.id, run.total + o.amount FROM run JOIN orders o ON o.id = run.id + 1) SELECT id, total FROM run ORDER BY id`,
  `WITH totals AS (SELECT 'shadow' AS customer, 1::bigint AS total) SELECT customer, total FROM totals ORDER BY customer`,
  `SELECT customer, total FROM totals ORDER BY customer`,
  `WITH a AS (SELECT 1 AS x) SELECT (WITH a AS (SELECT 2 AS x) SELECT x FROM a) AS inner_x, x FROM a ORDER BY x`,
  `WITH m AS (SELECT max(amount) AS top FROM orders) SELECT id FROM orders WHERE amount = (SELECT top FROM m) ORDER BY id`,
  `WITH a AS (SELECT customer FROM orders WHERE amount > 20) SELECT customer FROM a UNION SELECT customer FROM totals WHERE total < 20 ORDER BY customer`,
  // DISTINCT ON: first row per group in ORDER BY order; keys by position and output name; keys ORDER BY lacks.
  `SELECT DISTINCT ON (customer) customer, id, amount FROM orders ORDER BY customer, amount DESC`,
  `SELECT DISTINCT ON (customer) customer, id FROM orders ORDER BY customer, id DESC`,
  `SELECT DISTINCT ON (1) customer AS who, amount FROM orders ORDER BY 1, amount`,
  `SELECT DISTINCT ON (who) customer AS who, amount FROM orders ORDER BY who, amount`,
  `SELECT DISTINCT ON (amount > 10, customer) customer, amount FROM orders ORDER BY customer, amount > 10, id`,
  `SELECT DISTINCT ON (customer, amount % 2) customer, amount % 2 AS parity, id FROM orders ORDER BY customer, amount % 2, id`,
  `SELECT DISTINCT ON (amount % 3) id, amount FROM orders ORDER BY amount % 3, id DESC LIMIT 2`,
  `WITH t AS (SELECT customer, id FROM orders) SELECT DISTINCT ON (customer) customer, id FROM t ORDER BY customer, id`,
  `SELECT DISTINCT ON (n) n FROM (SELECT count(*) AS n FROM orders GROUP BY customer) s ORDER BY n`,
  // Column aliases on VALUES and subqueries in FROM (fewer names than columns keep the rest).
  `SELECT v.id, v.name FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name) ORDER BY v.id`,
  `SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(id) ORDER BY id`,
  `SELECT o.id, v.label FROM orders o JOIN (VALUES ('ada', 'first'), ('cy', 'third')) AS v(who, label) ON v.who = o.customer ORDER BY o.id`,
  `SELECT s.c, s.t FROM (SELECT customer, sum(amount) FROM orders GROUP BY customer) AS s(c, t) ORDER BY s.t DESC, s.c`,
  `WITH v(k, x) AS (VALUES (1, 10), (2, 20)) SELECT k, x FROM v ORDER BY k`,
  `SELECT x FROM (VALUES (1), (2.5), (NULL)) AS v(x) ORDER BY x`,
  `SELECT x, y FROM (VALUES (NULL, 1), ('b', NULL)) AS v(x, y) ORDER BY x`,
  // Column aliases on a stream, a view and a CTE (over the CTE's own column list).
  `SELECT o.i, o.c FROM orders AS o(i, c) WHERE o.amount > 20 ORDER BY o.i`,
  `SELECT t.who, t.total FROM totals t(who) ORDER BY t.who`,
  `WITH a(x, y) AS (SELECT customer, amount FROM orders) SELECT b.p, b.y FROM a AS b(p) ORDER BY b.p, b.y`,
]

/** Statements both engines refuse with the same SQLSTATE. */
const ERRORS: readonly { sql: string; code: string }[] = [
  { sql: `WITH a AS (SELECT 1 AS x), a AS (SELECT 2 AS x) SELECT x FROM a`, code: '42712' },
  { sql: `WITH a(x, y) AS (SELECT 1) SELECT x FROM a`, code: '42P10' },
  { sql: `WITH a AS (SELECT 1 AS x) SELECT nope FROM a`, code: '42703' },
  { sql: `WITH RECURSIVE r(n) AS (SELECT n FROM r UNION SELECT 1) SELECT n FROM r`, code: '42P19' },
  { sql: `WITH RECURSIVE r(n) AS (SELECT 1 INTERSECT SELECT n FROM r) SELECT n FROM r`, code: '42P19' },
  { sql: `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3 ORDER BY 1) SELECT n FROM r`, code: '0A000' },
  { sql: `SELECT DISTINCT ON (customer) customer, id FROM orders ORDER BY id`, code: '42P10' },
  { sql: `SELECT DISTINCT ON (customer, amount) customer FROM orders ORDER BY customer, id`, code: '42P10' },
  { sql: `SELECT DISTINCT ON (nope) customer FROM orders ORDER BY customer`, code: '42703' },
  { sql: `SELECT * FROM (VALUES (1, 'a')) AS v(a, b, c)`, code: '42P10' },
  { sql: `SELECT v.column1 FROM (VALUES (1, 'a')) AS v(a, b)`, code: '42703' },
  { sql: `SELECT * FROM (VALUES (1, 'a'), (2)) AS v(a, b)`, code: '42601' },
  { sql: `SELECT * FROM orders AS o(a, b, c, d)`, code: '42P10' },
  { sql: `SELECT o.customer FROM orders AS o(i, c)`, code: '42703' },
]

/** What PostgreSQL runs but Sluice refuses, with a position. */
const REFUSED: readonly { sql: string; code: string }[] = [
  { sql: `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SEARCH DEPTH FIRST BY n SET ord SELECT n FROM r ORDER BY n`, code: '0A000' },
]

describe('query shapes against PostgreSQL', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    client = await sluice.client()
    await client.query(`CREATE STREAM orders (id INT NOT NULL, customer TEXT NOT NULL, amount INT NOT NULL)`)
    await client.query(`CREATE MATERIALIZED VIEW totals AS SELECT customer, sum(amount) AS total FROM orders GROUP BY customer`)
    await client.query(`INSERT INTO orders VALUES ${rowsSql}`)
    const deadline = Date.now() + 20_000
    for (;;) {
      const r = await client.query(`SELECT sum(total)::int AS s FROM totals`)
      if (r.rows[0].s === ORDERS.reduce((a, o) => a + (o[2] as number), 0)) break
      if (Date.now() > deadline) throw new Error('view totals did not catch up')
      await new Promise((res) => setTimeout(res, 50))
    }
    oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    await oracle.query(`CREATE TEMP TABLE orders (id INT NOT NULL, customer TEXT NOT NULL, amount INT NOT NULL)`)
    await oracle.query(`INSERT INTO orders VALUES ${rowsSql}`)
    await oracle.query(`CREATE TEMP TABLE totals AS SELECT customer, sum(amount) AS total FROM orders GROUP BY customer`)
  }, 60_000)
  afterAll(async () => {
    await client?.end()
    await oracle?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(QUERIES)('same rows as PostgreSQL: %s', async (sql) => {
    const expected = await oracle.query({ text: sql, rowMode: 'array' })
    const actual = await client.query({ text: sql, rowMode: 'array' })
    expect(actual.fields.map((f) => f.name)).toEqual(expected.fields.map((f) => f.name))
    expect(actual.rows).toEqual(expected.rows)
  })

  test.each(ERRORS)('same error as PostgreSQL: $sql', async ({ sql, code }) => {
    const fail = (c: pg.Client) => c.query(sql).then(() => null, (e: { code?: string; position?: string }) => e)
    const [mine, theirs] = [await fail(client), await fail(oracle)]
    expect(theirs?.code).toBe(code)
    expect(mine?.code).toBe(code)
    expect(Number(mine?.position)).toBeGreaterThan(0)
  })

  test('a continuous view over WITH, and one over an aggregating CTE (a hidden view), have the rows of the same query in PostgreSQL', async () => {
    const query = `WITH big AS (SELECT id, customer, amount * 2 AS doubled FROM orders WHERE amount >= 10) SELECT customer, count(*) AS n, sum(doubled) AS s FROM big GROUP BY customer`
    await client.query(`CREATE MATERIALIZED VIEW big_orders AS ${query}`)
    const expected = await oracle.query({ text: `${query} ORDER BY customer`, rowMode: 'array' })
    const actual = await client.query({ text: `SELECT * FROM big_orders ORDER BY customer`, rowMode: 'array' })
    expect(expected.rows.length).toBeGreaterThan(0)
    expect(actual.rows).toEqual(expected.rows)
    const totals = `WITH t AS (SELECT customer, sum(amount) AS s FROM orders GROUP BY customer) SELECT s, count(*) FROM t GROUP BY s`
    await client.query(`CREATE MATERIALIZED VIEW per_total AS ${totals}`)
    const expectedTotals = await oracle.query({ text: `${totals} ORDER BY s`, rowMode: 'array' })
    const actualTotals = await client.query({ text: `SELECT * FROM per_total ORDER BY s`, rowMode: 'array' })
    expect(expectedTotals.rows.length).toBeGreaterThan(0)
    expect(actualTotals.rows).toEqual(expectedTotals.rows)
  })

  test.each(REFUSED)('refused by Sluice: $sql', async ({ sql, code }) => {
    await oracle.query(sql)
    const mine = await client.query(sql).then(() => null, (e: { code?: string; position?: string }) => e)
    expect(mine?.code).toBe(code)
    expect(Number(mine?.position)).toBeGreaterThan(0)
  })
})
