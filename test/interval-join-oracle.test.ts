/**
 * Differential test of interval joins: 20 random sets of offers and purchases (seeded), delivered out of
 * order within the watermark delay, go through a Sluice view joining the two streams within a time bound
 * (a view aggregating that view, and the same aggregate in one view); the rows must equal the same join done by the real PostgreSQL over
 * tables of the same events. The bounds vary by set: BETWEEN either way round, strict and non-strict
 * comparisons, negative and zero offsets, a residual condition; a LEFT, RIGHT or FULL outer join of the
 * same streams is compared once both streams are closed (its last unmatched rows come then). Then: the
 * waiting rows leave state once the watermark passes their bound (sluice_queries.buffered_rows and
 * state_bytes), a row behind the watermark is reported late, and SUBSCRIBE follows.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { asRows } from './helpers/shuffled-events.ts'
import { joinEvents, joinInserts } from './helpers/join-events.ts'

const SETS = Array.from({ length: 20 }, (_, i) => i + 1)
const ORACLE_DB = 'x_ijoin'

/** The join condition of each set (o: offers, p: purchases), the same text for both engines. */
function condition(set: number): string {
  const keys = 'p.player_id = o.player_id'
  switch (set % 5) {
    case 0:
      return `${keys} AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'`
    case 1:
      return `${keys} AND o.ts BETWEEN p.ts - INTERVAL '10 minutes' AND p.ts + INTERVAL '5 minutes'`
    case 2:
      return `o.player_id = p.player_id AND p.ts > o.ts - INTERVAL '3 minutes' AND p.ts < o.ts + INTERVAL '7 minutes'`
    case 3:
      return `${keys} AND o.ts + INTERVAL '1 minute' <= p.ts AND p.ts - INTERVAL '20 minutes' <= o.ts AND p.amount % 3 <> 0`
    default:
      return `${keys} AND p.ts BETWEEN o.ts - INTERVAL '15 minutes' AND o.ts - INTERVAL '2 minutes'`
  }
}

describe('interval joins against PostgreSQL', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    client = await sluice.client()
    const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await admin.connect()
    if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [ORACLE_DB])).rowCount === 0) await admin.query(`CREATE DATABASE ${ORACLE_DB}`)
    await admin.end()
    oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: ORACLE_DB })
    await oracle.connect()
    await oracle.query("SET TIME ZONE 'UTC'")
  })
  afterAll(async () => {
    await client?.end()
    await oracle?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(SETS)('event set %i: the joined rows, their aggregate (over the view and in one view) and the outer join equal the batch joins', async (set) => {
    const events = joinEvents(set, 60 + set * 3, 80 + set * 4)
    const o = `offers${set}`
    const p = `purchases${set}`
    await client.query(`CREATE STREAM ${o} (player_id INT, offer TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '2 minutes') WITH (partitions = 2, key = 'player_id')`)
    await client.query(`CREATE STREAM ${p} (player_id INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '2 minutes') WITH (partitions = 3)`)
    const select = (from: string) => `SELECT o.player_id, o.offer, o.ts AS offered, p.amount, p.ts FROM ${from} WHERE p.amount <> 13`
    await client.query(`CREATE MATERIALIZED VIEW attributed${set} AS ${select(`${o} o JOIN ${p} p ON ${condition(set)}`)}`)
    await client.query(`CREATE MATERIALIZED VIEW per_offer${set} AS SELECT offer, count(*) AS n, sum(amount) AS total FROM attributed${set} GROUP BY offer`)
    // The same aggregate in one view, over the join itself.
    const inOne = (from: string) => `SELECT o.offer, count(*) AS n, sum(p.amount) AS total FROM ${from} WHERE p.amount <> 13 GROUP BY o.offer`
    await client.query(`CREATE MATERIALIZED VIEW agg${set} AS ${inOne(`${o} o JOIN ${p} p ON ${condition(set)}`)}`)
    // An outer join of the same streams: unmatched rows of the kept side(s) come padded with NULLs once the
    // watermark passes their bound (here: when the streams are closed, for the last ones).
    const outer = ['LEFT', 'RIGHT', 'FULL'][set % 3]!
    const outerSelect = (from: string) => `SELECT o.player_id, o.offer, o.ts AS offered, p.player_id AS buyer, p.amount, p.ts FROM ${from} WHERE coalesce(p.amount, 0) <> 13`
    await client.query(`CREATE MATERIALIZED VIEW outer${set} AS ${outerSelect(`${o} o ${outer} JOIN ${p} p ON ${condition(set)}`)}`)
    for (const sql of joinInserts(events, o, p)) await client.query(sql)

    await oracle.query(`DROP TABLE IF EXISTS ${o}, ${p}`)
    await oracle.query(`CREATE TABLE ${o} (player_id INT, offer TEXT, ts TIMESTAMPTZ NOT NULL)`)
    await oracle.query(`CREATE TABLE ${p} (player_id INT, amount INT, ts TIMESTAMPTZ NOT NULL)`)
    for (const sql of joinInserts(events, o, p, 500)) await oracle.query(sql)
    const expected = asRows((await oracle.query({ text: select(`${o} o JOIN ${p} p ON ${condition(set)}`), rowMode: 'array' })).rows)
    const expectedAgg = asRows(
      (await oracle.query({ text: `SELECT offer, count(*) AS n, sum(amount) AS total FROM (${select(`${o} o JOIN ${p} p ON ${condition(set)}`)}) j GROUP BY offer`, rowMode: 'array' })).rows,
    )
    // Many-to-many: some offers matched several purchases and the other way round (and NULL keys are in the input).
    expect(expected.length).toBeGreaterThan(20)
    expect(events.some((e) => e.player === null)).toBe(true)

    const got = await eventually(async () => asRows((await client.query({ text: `SELECT * FROM attributed${set}`, rowMode: 'array' })).rows), (rows) => rows.length >= expected.length)
    expect(got).toEqual(expected)
    const gotAgg = await eventually(async () => asRows((await client.query({ text: `SELECT * FROM per_offer${set}`, rowMode: 'array' })).rows), (rows) => JSON.stringify(rows) === JSON.stringify(expectedAgg))
    expect(gotAgg).toEqual(expectedAgg)
    const gotInOne = await eventually(async () => asRows((await client.query({ text: `SELECT * FROM agg${set}`, rowMode: 'array' })).rows), (rows) => JSON.stringify(rows) === JSON.stringify(expectedAgg))
    expect(gotInOne).toEqual(expectedAgg)
    const late = await client.query(`SELECT count(*)::int AS n FROM sluice_late_events WHERE query IN ('attributed${set}', 'outer${set}')`)
    expect(late.rows[0].n).toBe(0)

    await client.query(`ALTER STREAM ${o} CLOSE`)
    await client.query(`ALTER STREAM ${p} CLOSE`)
    const expectedOuter = asRows((await oracle.query({ text: outerSelect(`${o} o ${outer} JOIN ${p} p ON ${condition(set)}`), rowMode: 'array' })).rows)
    expect(expectedOuter.filter((r) => r.includes('NULL|NULL|NULL')).length).toBeGreaterThan(0)
    const gotOuter = await eventually(async () => asRows((await client.query({ text: `SELECT * FROM outer${set}`, rowMode: 'array' })).rows), (rows) => rows.length >= expectedOuter.length)
    expect(gotOuter).toEqual(expectedOuter)
    // Closed: every waiting row has left.
    const waiting = await client.query(`SELECT sum(buffered_rows)::int AS n FROM sluice_queries WHERE name IN ('attributed${set}', 'outer${set}')`)
    expect(waiting.rows[0].n).toBe(0)
  })

  test('waiting rows leave state once the watermark passes their bound', async () => {
    await client.query(`CREATE STREAM so (player_id INT, offer TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 2)`)
    await client.query(`CREATE STREAM sp (player_id INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 2)`)
    await client.query(`CREATE MATERIALIZED VIEW sj AS SELECT o.offer, p.amount FROM so o JOIN sp p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'`)
    const at = (minute: number) => `'2026-12-01 10:${String(minute).padStart(2, '0')}:00+00'`
    const rows = (n: number, value: (i: number) => string) => Array.from({ length: n }, (_, i) => `(${i % 50}, ${value(i)}, ${at(i % 10)})`).join(', ')
    await client.query(`INSERT INTO so VALUES ${rows(300, (i) => `'o${i}'`)}`)
    await client.query(`INSERT INTO sp VALUES ${rows(300, (i) => String(i))}`)
    const state = async () => (await client.query('SELECT buffered_rows::int AS rows, state_bytes::int AS bytes FROM sluice_queries WHERE name = $1', ['sj'])).rows[0] as { rows: number; bytes: number }
    // Purchases before the last minute leave at once: an offer they could join would be at or before them,
    // behind the watermark (10:09). The offers wait for purchases up to 30 minutes after them.
    // Measured once a checkpoint holds all of it: the same bytes twice, 300 ms apart.
    let previous = -1
    const full = await eventually(
      async () => {
        const s = await state()
        await new Promise((r) => setTimeout(r, 300))
        return { ...s, stable: s.bytes === previous || ((previous = s.bytes), false) }
      },
      (s) => s.rows === 330 && s.bytes > 20_000 && s.stable,
    )
    // Two hours on, on both streams: every earlier row is past its bound (30 minutes) and goes.
    await client.query(`INSERT INTO so VALUES (1, 'late_offer', '2026-12-01 12:00:00+00')`)
    await client.query(`INSERT INTO sp VALUES (1, 1, '2026-12-01 12:00:00+00')`)
    // What leaves is the 328 waiting rows' entries (the joined rows stay).
    const after = await eventually(state, (s) => s.rows === 2 && s.bytes < full.bytes - 328 * 40)
    expect(after.rows).toBe(2)
    // The joined rows themselves stay.
    const joined = await client.query('SELECT count(*)::int AS n FROM sj')
    expect(joined.rows[0].n).toBe(oracleCount())
    // A purchase from 10:05 now is behind the watermark (12:00): the offers it could join are gone. Late.
    await client.query(`INSERT INTO sp VALUES (3, 99, '2026-12-01 10:05:00+00')`)
    const late = await eventually(
      async () => (await client.query("SELECT reason, stream FROM sluice_late_events WHERE query = 'sj'")).rows,
      (r) => r.length === 1,
    )
    expect(late[0].reason).toContain('behind the watermark by more than the allowed lateness')
    expect(late[0].stream).toBe('sp')
    expect((await client.query('SELECT count(*)::int AS n FROM sj')).rows[0].n).toBe(oracleCount())
  })

  test('SUBSCRIBE follows an interval join view as rows are joined', async () => {
    await client.query(`CREATE STREAM uo (player_id INT, offer TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)`)
    await client.query(`CREATE STREAM up (player_id INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)`)
    await client.query(`CREATE MATERIALIZED VIEW uj AS SELECT o.offer, p.amount FROM uo o JOIN up p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'`)
    const sub = await sluice.client()
    try {
      await sub.query('BEGIN')
      await sub.query('DECLARE c CURSOR FOR SUBSCRIBE uj')
      await client.query(`INSERT INTO uo VALUES (7, 'spring', '2026-12-01 10:00:00+00')`)
      await client.query(`INSERT INTO up VALUES (7, 42, '2026-12-01 10:05:00+00'), (8, 1, '2026-12-01 10:05:00+00')`)
      const seen: unknown[][] = []
      await eventually(async () => {
        for (const r of (await sub.query("FETCH ALL c WITH (timeout = '1s')")).rows) seen.push([r.sluice_diff, r.offer, r.amount])
        return seen.length
      }, (n) => n > 0)
      expect(seen).toEqual([['1', 'spring', 42]])
      await sub.query('COMMIT')
    } finally {
      await sub.end()
    }
  })
})

/** sj's rows: row i of either stream is player i % 50 at minute i % 10; a purchase matches each offer of its player at or before it, and the 12:00 pair. */
function oracleCount(): number {
  let n = 0
  for (let a = 0; a < 300; a++) for (let b = 0; b < 300; b++) if (a % 50 === b % 50 && b % 10 >= a % 10) n++
  return n + 1
}
