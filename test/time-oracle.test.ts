/**
 * Differential test of the date/time functions: each statement runs on Sluice and on the real PostgreSQL on
 * this machine (the oracle) under several session time zones, and every row's text and the result type must
 * be equal, or both must fail with the same SQLSTATE. Inputs sit on DST transitions (Europe/Berlin
 * 2024-03-31 and 2024-10-27, America/New_York 2024-03-10 and 2024-11-03), month ends, leap days and NULLs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import type { SluiceProcess } from './helpers/sluice-process.ts'
import { AS_TEXT, closeOraclePair, openOraclePair } from './helpers/oracle.ts'

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns']

/** Instants around the transitions, written with their offsets so that both servers read them alike. */
const INSTANTS = [
  "'2024-03-31 00:59:59+00'",
  "'2024-03-31 01:00:00+00'",
  "'2024-10-27 00:30:00+00'",
  "'2024-10-27 01:30:00+00'",
  "'2024-03-10 06:59:59.5+00'",
  "'2024-11-03 05:30:00+00'",
  "'2024-02-29 23:59:59.999999+00'",
  "'2023-12-31 23:00:00+00'",
]

/** Expressions over one timestamptz `t`, evaluated in every zone. */
const OVER_INSTANTS = [
  't::text',
  't',
  't::timestamp',
  't::date',
  "t AT TIME ZONE 'UTC'",
  "t AT TIME ZONE 'Europe/Berlin'",
  "t AT TIME ZONE 'America/New_York'",
  "t AT TIME ZONE '+02'",
  "t AT TIME ZONE 'PST'",
  "(t AT TIME ZONE 'Europe/Berlin') AT TIME ZONE 'Europe/Berlin'",
  "date_trunc('day', t)",
  "date_trunc('hour', t)",
  "date_trunc('month', t)",
  "date_trunc('week', t)",
  "date_trunc('day', t, 'Europe/Berlin')",
  "date_trunc('day', t, 'America/New_York')",
  "date_part('hour', t)",
  "date_part('day', t)",
  "date_part('dow', t)",
  "date_part('week', t)",
  "date_part('timezone', t)",
  "date_part('epoch', t)",
  "date_part('julian', t)",
  "t + interval '1 day'",
  "t + interval '24 hours'",
  "t - interval '1 month'",
  "t + interval '1 month 1 day 1 hour'",
  "to_char(t, 'YYYY-MM-DD HH24:MI:SS.US TZ OF')",
  "to_char(t, 'FMDay, FMDD FMMonth YYYY HH12:MI AM')",
  "to_char(t, 'Dy Mon DDD IW WW Q D ID J CC')",
  "to_char(t, 'IYYY-IW-ID TZH:TZM')",
  "date_bin('15 minutes', t, '2001-01-01 00:00:00+00')",
  "age(t, '2020-02-29 12:00:00+00')",
  "'x' || t",
]

/** Expressions without a session zone in them, and ones that must fail alike. */
const EXPRESSIONS = [
  "TIMESTAMP '2024-03-31 02:30:00' AT TIME ZONE 'Europe/Berlin'",
  "TIMESTAMP '2024-10-27 02:30:00' AT TIME ZONE 'Europe/Berlin'",
  "TIMESTAMP '2024-03-10 02:30:00' AT TIME ZONE 'America/New_York'",
  "TIMESTAMP '2024-11-03 01:30:00' AT TIME ZONE 'America/New_York'",
  "TIMESTAMP '2024-01-01 00:00:00' AT TIME ZONE 'Asia/Kolkata'",
  "TIMESTAMP '2024-01-01 00:00:00' AT TIME ZONE 'Nowhere/Land'",
  "TIMESTAMP '2024-01-01 00:00:00' AT TIME ZONE INTERVAL '-03:00'",
  "NULL::timestamp AT TIME ZONE 'UTC'",
  "date_trunc('quarter', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('decade', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('century', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('millennium', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('milliseconds', TIMESTAMP '2024-08-15 10:11:12.345678')",
  "date_trunc('hours', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('fortnight', TIMESTAMP '2024-08-15 10:11:12')",
  "date_trunc('year', INTERVAL '3 years 4 months 5 days')",
  "date_trunc('hour', INTERVAL '2 days 03:04:05')",
  "date_trunc('day', TIMESTAMP 'infinity')",
  "date_part('year', TIMESTAMP '0044-03-15 12:00:00 BC')",
  "date_part('century', TIMESTAMP '2000-12-31 00:00:00')",
  "date_part('millennium', TIMESTAMP '2001-01-01 00:00:00')",
  "date_part('isoyear', DATE '2021-01-01')",
  "date_part('week', DATE '2021-01-03')",
  "date_part('doy', DATE '2024-12-31')",
  "date_part('hour', DATE '2024-12-31')",
  "date_part('timezone', TIMESTAMP '2024-12-31')",
  "date_part('foo', TIMESTAMP '2024-12-31')",
  "date_part('year', TIMESTAMP 'infinity')",
  "date_part('month', TIMESTAMP 'infinity')",
  "date_part('epoch', INTERVAL '1 year 2 months 3 days 04:05:06.5')",
  "date_part('hour', INTERVAL '30 hours')",
  "date_part('minute', INTERVAL '-1 hour -30 minutes')",
  "date_part('month', INTERVAL '14 months')",
  "date_part('quarter', INTERVAL '7 months')",
  "date_part('dow', INTERVAL '1 day')",
  "date_part('seconds', INTERVAL '1 minute 2.25 seconds')",
  "date_part('millennium', INTERVAL '2500 years')",
  "date_bin('15 minutes', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01')",
  "date_bin('15 minutes', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01 00:02:30')",
  "date_bin('1 day', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2030-01-01')",
  "date_bin('1 hour', TIMESTAMP '2020-02-11 15:00:00', TIMESTAMP '2030-01-01')",
  "date_bin('1 month', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01')",
  "date_bin('0 seconds', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01')",
  "date_bin('-5 minutes', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01')",
  "age(TIMESTAMP '2001-04-10', TIMESTAMP '1957-06-13')",
  "age(TIMESTAMP '1957-06-13', TIMESTAMP '2001-04-10')",
  "age(TIMESTAMP '2024-03-01', TIMESTAMP '2024-01-31')",
  "age(TIMESTAMP '2024-03-31 10:00', TIMESTAMP '2024-02-29 11:30:00.5')",
  "age(TIMESTAMP '2023-03-01', TIMESTAMP '2023-02-28 23:59:59')",
  "age(TIMESTAMP '2020-01-01', TIMESTAMP '2020-01-01')",
  "age(DATE '2024-05-05', DATE '2023-06-06')",
  'make_date(2024, 2, 29)',
  'make_date(2023, 2, 29)',
  'make_date(-44, 3, 15)',
  'make_date(0, 1, 1)',
  'make_date(2024, 13, 1)',
  'make_timestamp(2024, 3, 31, 2, 30, 15.25)',
  'make_timestamp(2024, 3, 31, 25, 0, 0)',
  'make_timestamp(2024, 3, 31, 23, 59, 59.9999999)',
  "make_timestamptz(2024, 3, 31, 2, 30, 0, 'Europe/Berlin')",
  "make_timestamptz(2024, 10, 27, 2, 30, 0, 'Europe/Berlin')",
  "make_timestamptz(2024, 1, 1, 0, 0, 0, 'Asia/Kolkata')",
  'make_interval(1, 2, 3, 4, 5, 6, 7.5)',
  'make_interval(0, 0, 0, 0, 0, 0, 0)',
  'make_interval(years := 2)',
  'make_interval(hours := -3, secs := 1.5)',
  "make_interval(secs := 'infinity')",
  "justify_hours(INTERVAL '50 hours')",
  "justify_hours(INTERVAL '1 day -50 hours')",
  "justify_days(INTERVAL '65 days')",
  "justify_days(INTERVAL '1 month -65 days')",
  "justify_interval(INTERVAL '1 month -1 hour')",
  "justify_interval(INTERVAL '-1 month 50 days 30 hours')",
  "justify_interval(INTERVAL '40 days 30 hours')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09.012345', 'YYYY-MM-DD HH24:MI:SS.MS US')",
  "to_char(TIMESTAMP '2024-03-05 17:08:09', 'HH12:MI:SS PM a.m. hh')",
  "to_char(TIMESTAMP '2024-03-05 00:08:09', 'HH12 AM')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', 'Month|MONTH|month|Mon|MON|mon|FMMonth|')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', 'Day|DAY|day|Dy|DY|dy|FMDay|')",
  "to_char(TIMESTAMP '2024-03-01 07:08:09', 'DDth DDTH FMDDth Dth')",
  "to_char(TIMESTAMP '2024-03-22 07:08:09', 'FMDDth FMMMth')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', 'Y,YYY YYY YY Y CC J Q W WW IW RM rm FMRM')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', '\"Quarter\" Q \"of\" YYYY')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', 'SSSS SSSSS FF1 FF3 FF6')",
  "to_char(TIMESTAMP '0044-03-15 12:00:00 BC', 'YYYY BC A.D.')",
  "to_char(TIMESTAMP '2024-03-05 07:08:09', 'TZ OF')",
  "to_char(TIMESTAMP 'infinity', 'YYYY')",
  "to_char(DATE '2024-12-30', 'IYYY-IW')",
  "to_char(INTERVAL '1 year 2 months 3 days 04:05:06.789', 'YYYY MM DD HH24:MI:SS.MS')",
  "to_char(INTERVAL '30 hours 5 minutes', 'HH24:MI')",
  "to_char(NULL::timestamp, 'YYYY')",
  "to_char(12, '999')",
  "to_char(-12, '999')",
  "to_char(0.5, '9.99')",
  "to_char(0.5, '0.99')",
  "to_char(0, '9')",
  "to_char(0, '99.99')",
  "to_char(1234.567, '9,999.99')",
  "to_char(1234.567, '9G999D99')",
  "to_char(12, '9,999')",
  "to_char(-1234.567, 'S9999.9')",
  "to_char(1234.567, '9999.9S')",
  "to_char(-5, '999PR')",
  "to_char(5, '999PR')",
  "to_char(5, 'L999')",
  "to_char(123456, '999')",
  "to_char(123456, '999.99')",
  "to_char(1234.5, 'FM9,999.900')",
  "to_char(3, 'FM9.99')",
  "to_char(3, 'FM9th')",
  "to_char(12, '99TH')",
  "to_char(-0.2, '9.9')",
  "to_char(-5, '000')",
  "to_char(5, '00099')",
  "to_char(12, 'MI999')",
  "to_char(-12, '999MI')",
  "to_char(12, 'PL999')",
  "to_char(-12, 'SG999')",
  "to_char(485, 'RN')",
  "to_char(485, 'FMRN')",
  "to_char(12.5, '99V9')",
  "to_char(1234.5, '9.99EEEE')",
  "to_char(2.5, '9')",
  "to_char(-2.5, '9')",
  "to_char(NULL::int, '999')",
  "to_number('12,454.8-', '99G999D9S')",
  "to_number('1234.567', '9999.99')",
  "to_number('<123>', '999PR')",
  "to_number('$ 1,234', 'L9,999')",
  "to_number('  42', '9999')",
  "to_date('2024-03-05', 'YYYY-MM-DD')",
  "to_date('05 Mar 2024', 'DD Mon YYYY')",
  "to_date('March 5, 2024', 'Month DD, YYYY')",
  "to_date('20240305', 'YYYYMMDD')",
  "to_date('2024-13-05', 'YYYY-MM-DD')",
  "to_date('2024-02-30', 'YYYY-MM-DD')",
  "to_date('24-03-05', 'YY-MM-DD')",
  "to_date('2024 065', 'YYYY DDD')",
  "to_date('xx-03-05', 'YYYY-MM-DD')",
  "to_timestamp('2024-03-05 17:08:09', 'YYYY-MM-DD HH24:MI:SS')",
  "to_timestamp('2024-03-05 05:08:09 PM', 'YYYY-MM-DD HH12:MI:SS AM')",
  "to_timestamp('2024-03-05 12:08 AM', 'YYYY-MM-DD HH:MI AM')",
  "to_timestamp('2024-03-05 17:08:09.123', 'YYYY-MM-DD HH24:MI:SS.MS')",
  "to_timestamp('2024-03-05 17:08:09 +05:30', 'YYYY-MM-DD HH24:MI:SS TZH:TZM')",
  "to_timestamp('2024-03-05 17:08:09 -03', 'YYYY-MM-DD HH24:MI:SS TZH')",
  "to_timestamp('2024-03-05 13:08', 'YYYY-MM-DD HH12:MI')",
  "to_timestamp('2024-03-05', 'YYYY-MM-DD TZ')",
  'to_timestamp(1711846800)',
  'to_timestamp(1711846800.5)',
  "to_timestamp('infinity'::float8)",
  'to_timestamp(NULL::float8)',
  "isfinite(TIMESTAMP 'infinity')",
  "isfinite(DATE '2024-01-01')",
]

/** Statements whose every row is compared. */
const SERIES = [
  "SELECT g::text AS v FROM generate_series(TIMESTAMP '2024-01-31', TIMESTAMP '2024-06-30', INTERVAL '1 month') g",
  "SELECT g AS v FROM generate_series(TIMESTAMPTZ '2024-03-30 12:00:00+00', TIMESTAMPTZ '2024-04-02 00:00:00+00', INTERVAL '1 day') g",
  "SELECT g AS v FROM generate_series(TIMESTAMPTZ '2024-10-26 22:00:00+00', TIMESTAMPTZ '2024-10-27 03:00:00+00', INTERVAL '30 minutes') g",
  "SELECT g AS v FROM generate_series(TIMESTAMPTZ '2024-11-05 00:00:00+00', TIMESTAMPTZ '2024-11-01 00:00:00+00', INTERVAL '-1 day') g",
  "SELECT g AS v FROM generate_series(DATE '2024-02-27', DATE '2024-03-02', INTERVAL '1 day') g",
  "SELECT generate_series(TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01 03:00', INTERVAL '1 hour') AS v",
  "SELECT g AS v FROM generate_series(TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02', INTERVAL '0 hours') g",
]

type Answer = { rows?: unknown[]; type?: number; code?: string }

describe('date and time functions agree with PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let oracle: pg.Client

  beforeAll(async () => {
    ;({ sluice, ours, oracle } = await openOraclePair())
  })
  afterAll(() => closeOraclePair({ sluice, ours, oracle }))

  const run = async (client: pg.Client, sql: string): Promise<Answer> => {
    try {
      const r = await client.query({ text: sql, types: AS_TEXT })
      return { rows: r.rows.map((row: { v: unknown }) => row.v), type: r.fields[0]!.dataTypeID }
    } catch (err) {
      return { code: (err as { code?: string }).code ?? String(err) }
    }
  }
  const setZone = async (zone: string): Promise<void> => {
    await ours.query(`SET TimeZone = '${zone}'`)
    await oracle.query(`SET TimeZone = '${zone}'`)
  }
  const compare = async (sql: string): Promise<void> => {
    const expected = await run(oracle, sql)
    const actual = await run(ours, sql)
    expect(actual, sql).toEqual(expected)
  }

  test.each(ZONES)('in TimeZone %s, over instants around DST changes', async (zone) => {
    await setZone(zone)
    for (const t of INSTANTS) {
      for (const e of OVER_INSTANTS) await compare(`SELECT ${e.replace(/\bt\b/g, `${t}::timestamptz`)} AS v`)
    }
  })

  test.each(EXPRESSIONS)('%s', async (expr) => {
    await setZone('UTC')
    await compare(`SELECT ${expr} AS v`)
  })

  test.each(ZONES.flatMap((z) => SERIES.map((s) => [z, s] as const)))('in TimeZone %s: %s', async (zone, sql) => {
    await setZone(zone)
    await compare(sql)
  })

  test('per event in a continuous view: days of a zone, AT TIME ZONE, to_char and date_bin', async () => {
    await setZone('UTC')
    await ours.query('CREATE STREAM tz_events (ts timestamptz, v int)')
    const select = `SELECT date_trunc('day', ts, 'Europe/Berlin') AS day, to_char(ts AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24') AS local_hour,
      date_bin('15 minutes', ts, TIMESTAMPTZ '2001-01-01 00:00:00+00') AS bin, sum(v) AS total`
    await ours.query(`CREATE MATERIALIZED VIEW tz_view AS ${select} FROM tz_events GROUP BY 1, 2, 3`)
    const rows = "('2024-03-30 22:59:00+00', 1), ('2024-03-30 23:01:00+00', 2), ('2024-03-31 00:59:59+00', 3), ('2024-03-31 01:00:00+00', 4), ('2024-10-26 22:30:00+00', 5)"
    await ours.query(`INSERT INTO tz_events VALUES ${rows}`)
    const want = (await oracle.query({ text: `${select} FROM (VALUES ${rows}) AS t(ts, v) GROUP BY 1, 2, 3 ORDER BY 3`.replace("(VALUES ('2024", "(VALUES (TIMESTAMPTZ '2024"), types: AS_TEXT })).rows
    const deadline = Date.now() + 10_000
    let got: unknown[] = []
    while (Date.now() < deadline) {
      got = (await ours.query({ text: 'SELECT day, local_hour, bin, total FROM tz_view ORDER BY bin', types: AS_TEXT })).rows
      if (got.length === want.length) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(got).toEqual(want)
    expect(want.length).toBe(5)
  })

  test.each(['UTC', 'Europe/Berlin', 'America/New_York'])('zone-dependent expressions in TimeZone %s', async (zone) => {
    await setZone(zone)
    for (const e of [
      "make_timestamptz(2024, 3, 31, 2, 30, 0)",
      "make_timestamptz(2024, 10, 27, 2, 30, 0)",
      "to_timestamp('2024-03-31 02:30', 'YYYY-MM-DD HH24:MI')",
      "to_timestamp('2024-11-03 01:30', 'YYYY-MM-DD HH24:MI')",
      "TIMESTAMP '2024-03-31 02:30:00'::timestamptz",
      "DATE '2024-03-31'::timestamptz",
      "age(TIMESTAMPTZ '2024-04-01 00:00:00+00', TIMESTAMPTZ '2024-03-01 00:00:00+00')",
      "date_trunc('day', TIMESTAMPTZ '2024-10-27 12:00:00+00')",
      "date_trunc('day', TIMESTAMPTZ '2024-10-27 12:00:00+00', 'Asia/Kolkata')",
      "ARRAY[TIMESTAMPTZ '2024-10-27 12:00:00+00']::text",
      // Literals that name no zone are read on the session's wall clock.
      "'2024-03-31 02:30'::timestamptz",
      "TIMESTAMPTZ '2024-10-27 02:30:00'",
      "'2024-03-31'::timestamptz",
      "'2024-03-31T12:00:00.25'::timestamptz",
      "'2024-03-31 12:00:00Z'::timestamptz",
      "TIMESTAMPTZ '2024-03-31 12:00:00+00' > '2024-03-31 13:30'",
      "'2024-03-31 12:00'::text::timestamptz",
      "(SELECT count(*) FROM generate_series('2024-03-30'::timestamptz, '2024-04-01', '1 hour'))",
      "'2024-02-30 12:00'::timestamptz",
    ]) {
      await compare(`SELECT ${e} AS v`)
    }
  })
})
