/**
 * The `time` type (time without time zone) end to end: a stream column of it, a continuous view grouping by
 * its hour, casts from timestamps in the session's zone, and the wire type OID 1083 (the binary format is in
 * test/binary.test.ts); each answer compared with the real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { AS_TEXT, closeOraclePair, openOraclePair, type OraclePair } from './helpers/oracle.ts'
import { eventually } from './helpers/sluice-process.ts'

describe('time without time zone', () => {
  let pair: OraclePair
  beforeAll(async () => {
    pair = await openOraclePair()
  }, 120_000)
  afterAll(() => closeOraclePair(pair ?? {}))

  const both = async (sql: string): Promise<[unknown, unknown]> => {
    const a = await pair.ours.query({ text: sql, types: AS_TEXT })
    const b = await pair.oracle.query({ text: sql, types: AS_TEXT })
    return [{ rows: a.rows, types: a.fields.map((f) => f.dataTypeID) }, { rows: b.rows, types: b.fields.map((f) => f.dataTypeID) }]
  }

  test('literals, output, comparison and the wire type', async () => {
    const [ours, theirs] = await both(
      "SELECT TIME '13:05' AS a, '1:05:00.5 pm'::time AS b, TIME '24:00' AS c, TIME '13:05' < TIME '13:05:00.000001' AS d, TIME '00:00' + INTERVAL '-1 second' AS e, TIME '10:00' - TIME '12:30' AS f",
    )
    expect(ours).toEqual(theirs)
    expect((ours as { types: number[] }).types.slice(0, 3)).toEqual([1083, 1083, 1083])
  })

  test('casts from timestamptz read the session zone', async () => {
    for (const zone of ['Europe/Berlin', 'America/St_Johns']) {
      await pair.ours.query(`SET TimeZone = '${zone}'`)
      await pair.oracle.query(`SET TimeZone = '${zone}'`)
      const [ours, theirs] = await both("SELECT TIMESTAMPTZ '2024-03-31 00:59:59+00'::time AS a, TIMESTAMPTZ '2024-03-31 01:00:00+00'::time AS b, (DATE '2024-02-29' + TIME '23:30')::text AS c")
      expect(ours).toEqual(theirs)
    }
    await pair.ours.query("SET TimeZone = 'UTC'")
  })

  test('a stream column of time through a continuous view', async () => {
    await pair.ours.query('CREATE STREAM shifts (who text, starts time, ts timestamptz)')
    await pair.ours.query('CREATE MATERIALIZED VIEW shift_hours AS SELECT extract(hour FROM starts) AS h, count(*) AS n, max(starts) AS latest FROM shifts GROUP BY 1')
    await pair.ours.query("INSERT INTO shifts VALUES ('a', '08:15', now()), ('b', '08:59:59.5', now()), ('c', '22:00', now()), ('d', NULL, now())")
    const want = (await pair.oracle.query({
      text: "SELECT extract(hour FROM starts)::float8::text AS h, count(*)::text AS n, max(starts)::text AS latest FROM (VALUES (TIME '08:15'), ('08:59:59.5'), ('22:00'), (NULL)) t(starts) GROUP BY 1 ORDER BY 1",
      types: AS_TEXT,
    })).rows
    const got = await eventually(
      async () => (await pair.ours.query({ text: 'SELECT h::float8::text AS h, n::text AS n, latest::text AS latest FROM shift_hours ORDER BY 1', types: AS_TEXT })).rows,
      (rows) => rows.length === want.length && JSON.stringify(rows).includes('"n":"2"'),
    )
    expect(got).toEqual(want)
    // A pull query over the stream compares its time column with untyped literals, as PostgreSQL would.
    const rows = (await pair.ours.query({ text: "SELECT who, starts FROM shifts WHERE starts BETWEEN '08:00' AND '09:00' ORDER BY starts", types: AS_TEXT })).rows
    expect(rows).toEqual([{ who: 'a', starts: '08:15:00' }, { who: 'b', starts: '08:59:59.5' }])
  })
})
