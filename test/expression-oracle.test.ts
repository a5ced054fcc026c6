/**
 * Differential test of expression semantics: each expression is evaluated by Sluice and by the real
 * PostgreSQL on this machine (the oracle), and the text each returns must be equal.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import type { SluiceProcess } from './helpers/sluice-process.ts'
import { AS_TEXT, closeOraclePair, openOraclePair } from './helpers/oracle.ts'

const EXPRESSIONS = [
  '1 + 2 * 3',
  '7 / 2',
  '-7 / 2',
  '7 % 3',
  '2 ^ 10',
  "'abc' || 'def'",
  "'abc' || NULL",
  'NULL::int + 1',
  'true AND NULL',
  'false AND NULL',
  'true OR NULL',
  'NOT NULL::boolean',
  '1 IN (1, 2, NULL)',
  '3 IN (1, 2, NULL)',
  '3 NOT IN (1, 2)',
  '5 BETWEEN 1 AND 10',
  "CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' ELSE 'c' END",
  "CASE 3 WHEN 1 THEN 'one' WHEN 3 THEN 'three' END",
  'coalesce(NULL, NULL, 3)',
  'nullif(3, 3)',
  'greatest(1, 5, 3)',
  'least(4, 2, NULL)',
  "lower('HeLLo')",
  "upper('abc')",
  "length('héllo')",
  "substr('streaming', 3, 4)",
  "replace('a-b-c', '-', '+')",
  "trim('  x  ')",
  "'abc' LIKE 'a%'",
  "'abc' LIKE 'a_c'",
  "'ABC' ILIKE 'a%'",
  "'abc' ~ '^a.c$'",
  "'x' IS NULL",
  'NULL IS NULL',
  '1 IS DISTINCT FROM NULL',
  'NULL IS NOT DISTINCT FROM NULL',
  'abs(-3)',
  'round(2.5)',
  'round(-2.5)',
  'round(3.14159, 2)',
  'floor(2.7)',
  'ceil(2.1)',
  "TIMESTAMPTZ '2026-11-23 10:00:00+00' + INTERVAL '90 minutes'",
  "TIMESTAMPTZ '2026-11-23 10:00:00+00' - INTERVAL '5 seconds'",
  "TIMESTAMPTZ '2026-11-23 10:00:00+00' - TIMESTAMPTZ '2026-11-22 08:30:00+00'",
  "INTERVAL '1 day 2 hours'",
  "INTERVAL '90 minutes'",
  "INTERVAL '30' MINUTE",
  "date_trunc('hour', TIMESTAMPTZ '2026-11-23 10:47:12+00')",
  "date_trunc('minute', TIMESTAMPTZ '2026-11-23 10:47:12.5+00')",
  "TIMESTAMPTZ '2026-11-23 10:00:00.123456+00'",
  "'2026-11-23 10:00:00+02'::timestamptz",
  "CAST('42' AS integer) + 1",
  '1::boolean',
  "json_build_object('player_id', 7, 'campaign', 'x')",
  '10 > 9 AND 9 > 8',
  "'b' > 'a'",
  '0.1 + 0.2',
  '1e20::float8',
  '3::float8 / 2',
]

describe('expressions agree with PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let oracle: pg.Client
  const asText = AS_TEXT

  beforeAll(async () => {
    ;({ sluice, ours, oracle } = await openOraclePair('UTC'))
  })
  afterAll(() => closeOraclePair({ sluice, ours, oracle }))

  test.each(EXPRESSIONS)('%s', async (expr) => {
    const sql = `SELECT ${expr} AS v`
    const expected = await oracle.query({ text: sql, types: asText })
    const actual = await ours.query({ text: sql, types: asText })
    expect(actual.rows[0].v).toBe(expected.rows[0].v)
    expect(actual.fields[0]!.dataTypeID).toBe(expected.fields[0]!.dataTypeID)
  })
})
