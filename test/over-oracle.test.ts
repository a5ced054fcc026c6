/**
 * Differential test of window functions (stateful columns): random event sets, delivered out of order
 * within the allowed lateness, go through a Sluice view with running aggregates, ROWS and RANGE frames,
 * lag, first_value / last_value IGNORE NULLS, FILTER and row_number; once the stream is closed every row
 * must equal what the real PostgreSQL on this machine computes with the same window functions in batch.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { asRows, shuffledEvents, valuesSql as values } from './helpers/shuffled-events.ts'

/** The same select list in both engines; `lastNonNull` differs because PostgreSQL has no IGNORE NULLS. */
const selectList = (w: string, lastNonNull: string) => `player_id, ts, amount,
  count(*) OVER ${w} AS n,
  sum(amount) OVER ${w} AS running,
  count(*) FILTER (WHERE amount > 50) OVER ${w} AS big,
  max(amount) OVER (PARTITION BY player_id ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS max3,
  sum(amount) OVER (PARTITION BY player_id ORDER BY ts RANGE BETWEEN INTERVAL '1 minute' PRECEDING AND CURRENT ROW) AS last_minute,
  lag(amount) OVER ${w} AS prev,
  lag(amount, 2, -1) OVER ${w} AS prev2,
  first_value(amount) OVER ${w} AS first_amount,
  ${lastNonNull} AS last_known,
  row_number() OVER ${w} AS rn`

const W = '(PARTITION BY player_id ORDER BY ts)'

describe('window functions against PostgreSQL', () => {
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

  test.each(Array.from({ length: 20 }, (_, i) => i + 1))('event set %i: every row equals batch window functions', async (set) => {
    const es = shuffledEvents(set, 120 + set * 10, { players: 4, nullShare: 0.25 })
    const s = `ov${set}`
    await client.query(`CREATE STREAM ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
      WITH (allowed_lateness = INTERVAL '1 minute', partitions = 3, key = 'player_id')`)
    await client.query(`CREATE MATERIALIZED VIEW ${s}_over AS SELECT ${selectList(W, `last_value(amount) IGNORE NULLS OVER ${W}`)} FROM ${s}`)
    for (let i = 0; i < es.length; i += 40) await client.query(`INSERT INTO ${s} VALUES ${values(es.slice(i, i + 40))}`)
    await client.query(`ALTER STREAM ${s} CLOSE`)
    const late = await client.query(`SELECT count(*) AS n FROM sluice_late_events WHERE stream = '${s}'`)
    expect(Number(late.rows[0].n)).toBe(0)

    await oracle.query(`CREATE TEMP TABLE ${s} (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL)`)
    await oracle.query(`INSERT INTO ${s} VALUES ${values(es)}`)
    const lastNonNull = `(array_agg(amount) FILTER (WHERE amount IS NOT NULL) OVER ${W})[count(amount) OVER ${W}]`
    const expected = await oracle.query({ text: `SELECT ${selectList(W, lastNonNull)} FROM ${s}`, rowMode: 'array' })
    const actual = await client.query({ text: `SELECT * FROM ${s}_over`, rowMode: 'array' })
    expect(actual.rows.length).toBe(es.length)
    expect(asRows(actual.rows)).toEqual(asRows(expected.rows))
  })
})
