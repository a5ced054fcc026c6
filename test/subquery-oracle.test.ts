/**
 * Differential test of subqueries and CTEs in continuous views: random event sets, delivered out of order,
 * go through views that read CTEs, derived tables and TUMBLE / HOP / SESSION over a subquery; once the
 * stream is closed, each view must equal the same query run by the real PostgreSQL on this machine (the
 * oracle) over a table holding the same events. Views without a window are the very same SQL text on both
 * sides; a window is written for PostgreSQL with date_bin / generate_series / gaps and islands. Every other
 * set is killed with SIGKILL halfway through and restarted from its data directory (the views, planned again
 * from their SQL, must go on exactly). Aggregating subqueries and CTEs run as hidden views the outer view
 * reads, so across a kill -9 a chain of two or three views must go on exactly, each from its own checkpoint.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { closeOraclePair, openOraclePair } from './helpers/oracle.ts'
import { asRows, shuffledEvents, valuesSql as values } from './helpers/shuffled-events.ts'

const SETS = Array.from({ length: 8 }, (_, i) => i + 1)

/** The views, by suffix: the Sluice SQL, and the PostgreSQL SQL (same text when absent). `S` is the stream / table. */
const VIEWS: Record<string, { sluice: string; postgres?: string; /** The result has more rows than this (5 when absent). */ minRows?: number }> = {
  cte: {
    minRows: 2,
    sluice: `WITH buys AS (SELECT player_id, amount * 2 AS a, ts FROM S WHERE amount % 3 <> 0),
      big(pid, a2) AS (SELECT player_id, a FROM buys WHERE a > 20)
      SELECT pid, count(*) AS n, sum(a2) AS total, min(a2) AS lo, max(a2) AS hi FROM big GROUP BY pid`,
  },
  rows: {
    sluice: `SELECT s.pid, s.bucket, s.ts FROM (SELECT player_id AS pid, amount / 10 AS bucket, ts, amount FROM S WHERE amount IS NOT NULL) s
      WHERE s.amount % 2 = 0`,
  },
  tiers: {
    minRows: 2,
    sluice: `SELECT tier, count(*) AS n, count(amount) AS priced, sum(amount) AS total
      FROM (SELECT CASE WHEN amount >= 50 THEN 'high' WHEN amount IS NULL THEN 'none' ELSE 'low' END AS tier, amount FROM S) AS t(tier)
      GROUP BY tier`,
  },
  tumble: {
    sluice: `SELECT window_start, pid, count(*) AS n, sum(a) AS total FROM
      TUMBLE((SELECT player_id AS pid, amount + 1 AS a, ts FROM S WHERE amount > 30), DESCRIPTOR(ts), INTERVAL '1 minute')
      GROUP BY window_start, window_end, pid EMIT ON WINDOW CLOSE`,
    postgres: `SELECT date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), pid, count(*), sum(a)
      FROM (SELECT player_id AS pid, amount + 1 AS a, ts FROM S WHERE amount > 30) x GROUP BY 1, 2`,
  },
  hop: {
    sluice: `WITH priced AS (SELECT amount, ts FROM S WHERE amount IS NOT NULL)
      SELECT h.window_end, count(*) AS n, max(h.amount) AS hi FROM HOP(priced, ts, INTERVAL '1 minute', INTERVAL '3 minutes') h
      WHERE h.amount < 90 GROUP BY h.window_end EMIT ON WINDOW CLOSE`,
    postgres: `SELECT w + INTERVAL '3 minutes', count(*), max(amount)
      FROM (SELECT amount, ts FROM S WHERE amount IS NOT NULL) p,
        generate_series(date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') - INTERVAL '2 minutes',
          date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), INTERVAL '1 minute') AS w
      WHERE amount < 90 GROUP BY 1`,
  },
  // Sessions of the subquery's events only (big amounts, 40 s apart per player); the outer WHERE decides
  // which of them are counted, as a WHERE after the window does in batch SQL.
  session: {
    sluice: `SELECT player_id, window_start, window_end, count(*) AS n, sum(amount) AS total
      FROM SESSION((SELECT player_id, amount, ts FROM S WHERE amount >= 40), ts, INTERVAL '40 seconds', player_id)
      WHERE amount % 2 = 0 GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE`,
    postgres: `WITH sub AS (SELECT player_id, amount, ts FROM S WHERE amount >= 40),
        o AS (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY player_id ORDER BY ts) < INTERVAL '40 seconds' THEN 0 ELSE 1 END AS brk FROM sub),
        g AS (SELECT *, sum(brk) OVER (PARTITION BY player_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM o),
        b AS (SELECT *, min(ts) OVER (PARTITION BY player_id, sid) AS ws, max(ts) OVER (PARTITION BY player_id, sid) + INTERVAL '40 seconds' AS we FROM g)
      SELECT player_id, ws, we, count(*), sum(amount) FROM b WHERE amount % 2 = 0 GROUP BY player_id, ws, we`,
  },
  // Aggregating subqueries (hidden views): the outer query reads rows that change as events arrive.
  groups: {
    sluice: `WITH per AS (SELECT player_id, amount % 7 AS k, count(*) AS c, sum(amount) AS total FROM S GROUP BY player_id, amount % 7)
      SELECT c, count(*) AS groups, sum(total) AS total, max(k) AS top_k FROM per GROUP BY c`,
  },
  nested: {
    minRows: 1,
    sluice: `WITH per AS (SELECT player_id, amount / 10 AS b, count(*) AS c FROM S GROUP BY player_id, amount / 10),
      spread AS (SELECT b, count(*) AS players, sum(c) AS events FROM per GROUP BY b)
      SELECT players, count(*) AS buckets, sum(events) AS events FROM spread GROUP BY players`,
  },
  windows: {
    minRows: 2,
    sluice: `SELECT n, count(*) AS windows, sum(total) AS total FROM (SELECT player_id, window_start, count(*) AS n, sum(amount) AS total
      FROM TUMBLE(S, ts, INTERVAL '1 minute') GROUP BY player_id, window_start, window_end) w GROUP BY n`,
    postgres: `SELECT n, count(*), sum(total) FROM (SELECT player_id, date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*) AS n, sum(amount) AS total
      FROM S GROUP BY 1, 2) w GROUP BY n`,
  },
  // HAVING in a subquery: a group leaves the view when a smaller amount arrives, and the outer count follows.
  having: {
    minRows: 1,
    sluice: `WITH per AS (SELECT player_id, amount % 5 AS k, count(*) AS c FROM S GROUP BY player_id, amount % 5 HAVING count(*) > 3 AND min(amount) > 5)
      SELECT c, count(*) AS groups FROM per GROUP BY c`,
  },
  // DISTINCT in a subquery: how many players reached each bucket (NULL amounts are one bucket, as in PostgreSQL).
  distinct: {
    minRows: 2,
    sluice: `SELECT b, count(*) AS players FROM (SELECT DISTINCT player_id, amount / 20 AS b FROM S) d GROUP BY b`,
  },
  // A CTE that emits each player's minute once it closes, read by a coarser window and by a filter.
  fives: {
    minRows: 2,
    sluice: `WITH pm AS (SELECT player_id, window_start AS ws, count(*) AS n, sum(amount) AS total
        FROM TUMBLE(S, ts, INTERVAL '1 minute') GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE)
      SELECT window_start, sum(n) AS events, count(*) AS player_minutes, max(total) AS top
      FROM TUMBLE(pm, ws, INTERVAL '5 minutes') GROUP BY window_start, window_end EMIT ON WINDOW CLOSE`,
    postgres: `WITH pm AS (SELECT player_id, date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS ws, count(*) AS n, sum(amount) AS total
        FROM S GROUP BY 1, 2)
      SELECT date_bin(INTERVAL '5 minutes', ws, TIMESTAMPTZ '2000-01-01 00:00:00+00'), sum(n), count(*), max(total) FROM pm GROUP BY 1`,
  },
  busy: {
    minRows: 2,
    sluice: `SELECT pm.player_id, pm.ws, pm.n FROM (SELECT player_id, window_start AS ws, count(*) AS n
      FROM TUMBLE(S, ts, INTERVAL '1 minute') GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE) pm WHERE pm.n > 2`,
    postgres: `SELECT pm.player_id, pm.ws, pm.n FROM (SELECT player_id, date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS ws, count(*) AS n
      FROM S GROUP BY 1, 2) pm WHERE pm.n > 2`,
  },
}

describe('subqueries and CTEs in continuous views against PostgreSQL', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client
  beforeAll(async () => {
    const pair = await openOraclePair('UTC')
    ;({ sluice, ours: client, oracle } = pair)
  })
  afterAll(() => closeOraclePair({ sluice, ours: client, oracle }))

  /** Kills the server with SIGKILL and starts it again on the same data directory. */
  async function killAndRestart(): Promise<void> {
    await client.end()
    await sluice.kill('SIGKILL')
    sluice = await startSluice({ dataDir: sluice.dataDir })
    client = await sluice.client()
  }

  test.each(SETS)('event set %i: every view equals the query in PostgreSQL', async (set) => {
    const es = shuffledEvents(100 + set, 150 + set * 10, { players: 4, nullShare: 0.1 })
    const s = `sq${set}`
    await client.query(`CREATE STREAM ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
      WITH (allowed_lateness = INTERVAL '1 minute', partitions = 3, key = 'player_id')`)
    for (const [name, v] of Object.entries(VIEWS)) await client.query(`CREATE MATERIALIZED VIEW ${s}_${name} AS ${sqlFor(v.sluice, s)}`)
    const half = Math.floor(es.length / 2)
    for (let i = 0; i < es.length; i += 40) {
      if (set % 2 === 0 && i <= half && half < i + 40) await killAndRestart()
      await client.query(`INSERT INTO ${s} VALUES ${values(es.slice(i, i + 40))}`)
    }
    await client.query(`ALTER STREAM ${s} CLOSE`)
    const late = await client.query(`SELECT count(*) AS n FROM sluice_late_events WHERE stream = '${s}'`)
    expect(Number(late.rows[0].n)).toBe(0)

    await oracle.query(`CREATE TEMP TABLE ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL)`)
    await oracle.query(`INSERT INTO ${s} VALUES ${values(es)}`)
    for (const [name, v] of Object.entries(VIEWS)) {
      const expected = await oracle.query({ text: sqlFor(v.postgres ?? v.sluice, s), rowMode: 'array' })
      const ours = await client.query({ text: `SELECT * FROM ${s}_${name}`, rowMode: 'array' })
      expect(ours.rows.length, name).toBeGreaterThan(v.minRows ?? 5)
      expect(asRows(ours.rows), name).toEqual(asRows(expected.rows))
    }
  })
})

/** The query with the stream's name for the placeholder `S` (a word of its own). */
function sqlFor(sql: string, stream: string): string {
  return sql.replace(/\bS\b/g, stream)
}
