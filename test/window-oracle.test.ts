/**
 * Differential test of window semantics: random event sets, delivered out of order (within the allowed
 * lateness), go through Sluice's TUMBLE, HOP and SESSION views until the stream is closed; the final windows must
 * equal the same computation done as batch SQL by the real PostgreSQL on this machine (the oracle).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { asRows, shuffledEvents, valuesSql as values } from './helpers/shuffled-events.ts'

const SETS = Array.from({ length: 20 }, (_, i) => i + 1)

describe('windows against PostgreSQL', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    client = await sluice.client()
    oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    await oracle.query("SET TIME ZONE 'UTC'")
  })
  afterAll(async () => {
    await client?.end()
    await oracle?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(SETS)('event set %i: TUMBLE, HOP and SESSION finals equal batch GROUP BY', async (set) => {
    const es = shuffledEvents(set, 150 + set * 10, { players: 5, nullShare: 0.1 })
    const s = `ev${set}`
    await client.query(`CREATE STREAM ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
      WITH (allowed_lateness = INTERVAL '1 minute', partitions = 3, key = 'player_id')`)
    await client.query(`CREATE MATERIALIZED VIEW ${s}_tumble AS
      SELECT window_start, player_id, count(*) AS n, count(amount) AS priced, sum(amount) AS total, min(amount) AS lo, max(amount) AS hi
      FROM TUMBLE(${s}, ts, INTERVAL '1 minute') GROUP BY window_start, player_id EMIT ON WINDOW CLOSE`)
    await client.query(`CREATE MATERIALIZED VIEW ${s}_hop AS
      SELECT window_start, count(*) AS n, sum(amount) AS total, count(DISTINCT player_id) AS players, sum(DISTINCT amount) AS distinct_total
      FROM HOP(${s}, ts, INTERVAL '1 minute', INTERVAL '3 minutes') GROUP BY window_start EMIT ON WINDOW CLOSE`)
    // The same windows without DISTINCT: aggregated per slice of time (planner/hop-slices.ts) and put together
    // when they close, per player, with a window that slides by 1 minute over 3 and one by 40 s over 2 min.
    await client.query(`CREATE MATERIALIZED VIEW ${s}_sliced AS
      SELECT player_id, window_start, window_end, count(*) AS n, count(amount) AS priced, sum(amount) AS total, min(amount) AS lo,
        max(amount) AS hi, avg(amount) AS mean
      FROM HOP(${s}, ts, INTERVAL '1 minute', INTERVAL '3 minutes') WHERE amount IS DISTINCT FROM 13
      GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE`)
    await client.query(`CREATE MATERIALIZED VIEW ${s}_sliced40 AS SELECT window_end, count(*) AS n, max(amount) AS hi
      FROM HOP(${s}, ts, INTERVAL '40 seconds', INTERVAL '2 minutes') GROUP BY window_end EMIT ON WINDOW CLOSE`)
    // Sessions 40 s apart per player: the shuffle delivers events that bridge and merge sessions.
    await client.query(`CREATE MATERIALIZED VIEW ${s}_session AS
      SELECT player_id, window_start, window_end, count(*) AS n, sum(amount) AS total, count(DISTINCT amount) AS amounts
      FROM SESSION(${s}, ts, INTERVAL '40 seconds', player_id) GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE`)
    // A view over the sessions (views over views): each session comes once, when the watermark closes it.
    await client.query(`CREATE MATERIALIZED VIEW ${s}_sessions_per_player AS
      SELECT player_id, count(*) AS sessions, sum(n) AS events, max(n) AS longest, min(window_start) AS first_start
      FROM ${s}_session GROUP BY player_id`)
    // Several inserts, in the shuffled order.
    for (let i = 0; i < es.length; i += 40) await client.query(`INSERT INTO ${s} VALUES ${values(es.slice(i, i + 40))}`)
    await client.query(`ALTER STREAM ${s} CLOSE`)
    const late = await client.query(`SELECT count(*) AS n FROM sluice_late_events WHERE stream = '${s}'`)
    expect(Number(late.rows[0].n)).toBe(0)

    await oracle.query(`CREATE TEMP TABLE ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL)`)
    await oracle.query(`INSERT INTO ${s} VALUES ${values(es)}`)
    const bin = `date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')`
    const tumble = await oracle.query({
      text: `SELECT ${bin}, player_id, count(*), count(amount), sum(amount), min(amount), max(amount) FROM ${s} GROUP BY 1, 2`,
      rowMode: 'array',
    })
    const hop = await oracle.query({
      text: `SELECT w, count(*), sum(amount), count(DISTINCT player_id), sum(DISTINCT amount) FROM ${s}, generate_series(${bin} - INTERVAL '2 minutes', ${bin}, INTERVAL '1 minute') AS w GROUP BY 1`,
      rowMode: 'array',
    })
    // Gaps and islands: a new session wherever the previous event of the player is 40 s or more before.
    const session = await oracle.query({
      text: `WITH o AS (
          SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY player_id ORDER BY ts) < INTERVAL '40 seconds' THEN 0 ELSE 1 END AS brk FROM ${s}),
        g AS (SELECT *, sum(brk) OVER (PARTITION BY player_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM o)
        SELECT player_id, min(ts), max(ts) + INTERVAL '40 seconds', count(*), sum(amount), count(DISTINCT amount) FROM g GROUP BY player_id, sid`,
      rowMode: 'array',
    })
    const perPlayer = await oracle.query({
      text: `WITH o AS (
          SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY player_id ORDER BY ts) < INTERVAL '40 seconds' THEN 0 ELSE 1 END AS brk FROM ${s}),
        g AS (SELECT *, sum(brk) OVER (PARTITION BY player_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM o),
        sessions AS (SELECT player_id, sid, min(ts) AS start, count(*) AS n FROM g GROUP BY player_id, sid)
        SELECT player_id, count(*), sum(n), max(n), min(start) FROM sessions GROUP BY player_id`,
      rowMode: 'array',
    })
    const ourPerPlayer = await client.query({ text: `SELECT * FROM ${s}_sessions_per_player`, rowMode: 'array' })
    expect(asRows(ourPerPlayer.rows)).toEqual(asRows(perPlayer.rows))
    const ourSession = await client.query({ text: `SELECT * FROM ${s}_session`, rowMode: 'array' })
    expect(ourSession.rows.length).toBeGreaterThan(10)
    expect(asRows(ourSession.rows)).toEqual(asRows(session.rows))
    const ours = await client.query({ text: `SELECT * FROM ${s}_tumble`, rowMode: 'array' })
    const ourHop = await client.query({ text: `SELECT * FROM ${s}_hop`, rowMode: 'array' })
    expect(ours.rows.length).toBeGreaterThan(10)
    expect(ourHop.rows.length).toBeGreaterThan(10)
    expect(asRows(ours.rows)).toEqual(asRows(tumble.rows))
    expect(asRows(ourHop.rows)).toEqual(asRows(hop.rows))
    const sliced = await oracle.query({
      text: `SELECT player_id, w, w + INTERVAL '3 minutes', count(*), count(amount), sum(amount), min(amount), max(amount), round(avg(amount), 6)::float8
        FROM ${s}, generate_series(${bin} - INTERVAL '2 minutes', ${bin}, INTERVAL '1 minute') AS w WHERE amount IS DISTINCT FROM 13 GROUP BY 1, 2`,
      rowMode: 'array',
    })
    const ourSliced = await client.query({ text: `SELECT player_id, window_start, window_end, n, priced, total, lo, hi, round(mean, 6)::float8 FROM ${s}_sliced`, rowMode: 'array' })
    expect(ourSliced.rows.length).toBeGreaterThan(10)
    expect(asRows(ourSliced.rows)).toEqual(asRows(sliced.rows))
    // 40 s slides over 2 minutes: windows start every 40 s from the epoch.
    const bin40 = `date_bin(INTERVAL '40 seconds', ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')`
    const sliced40 = await oracle.query({
      text: `SELECT w + INTERVAL '2 minutes', count(*), max(amount) FROM ${s}, generate_series(${bin40} - INTERVAL '80 seconds', ${bin40}, INTERVAL '40 seconds') AS w GROUP BY 1`,
      rowMode: 'array',
    })
    const ourSliced40 = await client.query({ text: `SELECT * FROM ${s}_sliced40`, rowMode: 'array' })
    expect(asRows(ourSliced40.rows)).toEqual(asRows(sliced40.rows))
  })
})
