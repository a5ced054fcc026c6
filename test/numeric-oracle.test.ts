/**
 * Exact numeric against the real PostgreSQL: a few hundred generated expressions over edge values (zero,
 * signs, scales, values past a double's digits, NaN and the infinities, NULL), arithmetic with PostgreSQL's
 * scales (division's select_div_scale), rounding, casts and typmods, each run on Sluice and on PostgreSQL and
 * compared as text: the value, its type OID, or the SQLSTATE of the error.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import type { SluiceProcess } from './helpers/sluice-process.ts'
import { AS_TEXT, closeOraclePair, openOraclePair } from './helpers/oracle.ts'

const VALUES = [
  '0', '1', '-1', '0.01', '1.50', '-2.345', '7', '3', '0.5', '-0.5', '2.5', '100', '0.001', '1.000',
  '12345678901234567.89', '-98765432109876543210.123456789', '0.0000000001', '99999.99', '123.456',
  "'NaN'", "'Infinity'", "'-Infinity'", 'NULL',
]
const num = (v: string): string => `${v}::numeric`

/** A small deterministic generator, so that a failure names the same expression on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function generated(): string[] {
  const out = new Set<string>()
  const r = rng(20)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const binary = ['+', '-', '*', '/', '%']
  // Every operator over every finite pair of a core set, then random pairs over all values.
  const core = ['0', '1', '-2.345', '1.50', '12345678901234567.89', '0.0000000001', "'NaN'", "'Infinity'"]
  for (const op of binary) for (const a of core) for (const b of core) out.add(`${num(a)} ${op} ${num(b)}`)
  while (out.size < 420) {
    const a = pick(VALUES)
    const b = pick(VALUES)
    switch (Math.floor(r() * 12)) {
      case 0:
        out.add(`${num(a)} ${pick(binary)} ${num(b)}`)
        break
      case 1:
        out.add(`${num(a)} ${pick(['=', '<', '>', '<>', '<=', '>='])} ${num(b)}`)
        break
      case 2:
        out.add(`round(${num(a)}, ${pick(['0', '1', '2', '5', '-1', '-2'])})`)
        break
      case 3:
        out.add(`trunc(${num(a)}, ${pick(['0', '1', '3', '-1'])})`)
        break
      case 4:
        out.add(`${pick(['ceil', 'floor', 'abs', 'sign', 'round', 'trunc'])}(${num(a)})`)
        break
      case 5:
        out.add(`${pick(['mod', 'div'])}(${num(a)}, ${num(b)})`)
        break
      case 6:
        out.add(`${num(a)}::${pick(['int4', 'int8', 'float8', 'text', 'numeric(10,2)', 'numeric(5,3)', 'numeric(20,0)'])}`)
        break
      case 7:
        out.add(`${num(a)} ${pick(binary)} ${pick(['2', '-3', '10'])}`)
        break
      case 8:
        out.add(`${pick(['2', '7', '-3'])} ${pick(binary)} ${num(a)}`)
        break
      case 9:
        out.add(`sqrt(abs(${num(a)}))`)
        break
      case 10:
        out.add(`${num(a)} * ${num(b)} / ${num(pick(['3', '7', '0.3', '11']))}`)
        break
      default:
        out.add(`${a.startsWith("'") ? num(a) : a}`)
    }
  }
  return [...out]
}

/** exp, ln, log, log10 and power over generated values: PostgreSQL's result scale, every digit. */
function transcendental(): string[] {
  const out = new Set<string>()
  const r = rng(7)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  // A positive numeric of a random magnitude and scale: 0.000123, 4.5, 98765.4321, 1.0001 ...
  const positive = (): string => {
    const digits = String(1 + Math.floor(r() * 999999)).slice(0, 1 + Math.floor(r() * 6))
    const point = Math.floor(r() * 12) - 4
    const near = r() < 0.15
    if (near) return `1.${'0'.repeat(Math.floor(r() * 8))}${digits}`
    if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`
    return point >= digits.length ? `${digits}${'0'.repeat(point - digits.length)}.${pick(['', '0', '50'])}`.replace(/\.$/, '.0') : `${digits.slice(0, point)}.${digits.slice(point)}`
  }
  const small = (): string => `${r() < 0.4 ? '-' : ''}${(r() * pick([1, 10, 100, 1000])).toFixed(Math.floor(r() * 5) + 1)}`
  while (out.size < 300) {
    switch (Math.floor(r() * 7)) {
      case 0:
        out.add(`ln(${positive()})`)
        break
      case 1:
        out.add(`log10(${positive()})`)
        break
      case 2:
        out.add(`log(${positive()})`)
        break
      case 3:
        out.add(`log(${positive()}, ${positive()})`)
        break
      case 4:
        out.add(`exp(${small()})`)
        break
      case 5:
        out.add(`power(${positive()}, ${small()})`)
        break
      default:
        out.add(`${pick(['-', ''])}${positive()} ^ ${pick(['0', '1', '2', '3', '7', '-1', '-2', '10', '25'])}`)
    }
  }
  return [...out]
}

/** stddev / variance / var_pop ... over generated integer and numeric columns (numeric results, every digit). */
function statistics(): string[] {
  const out = new Set<string>()
  const r = rng(11)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const fns = ['stddev', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop']
  const ints = ['0', '1', '-1', '10', '2147483647', '-2147483648', '7', 'NULL', '123456']
  const nums = ['1.50', '-2.345', '0.0000000001', '12345678901234567.89', '0', '3.14159', 'NULL', '100.1']
  while (out.size < 90) {
    const numeric = r() < 0.5
    const values = Array.from({ length: 1 + Math.floor(r() * 5) }, () => pick(numeric ? nums : ints))
    const cast = numeric ? '::numeric' : pick(['::int4', '::int8', '::int2']).replace('::int2', values.some((v) => v.length > 5) ? '::int8' : '::int2')
    out.add(`${pick(fns)}(x) FROM (VALUES ${values.map((v) => `(${v}${cast})`).join(', ')}) v(x)`)
  }
  return [...out]
}

const FIXED = [
  "extract(epoch FROM timestamptz '2024-01-01 00:00:00+00')",
  "extract(epoch FROM timestamp '2024-01-01 00:00:00.5')",
  "extract(second FROM timestamp '2024-01-01 00:00:07.25')",
  "extract(seconds FROM timestamptz '2024-01-01 00:00:07.000001+00')",
  "extract(milliseconds FROM timestamptz '2024-01-01 00:00:07.25+00')",
  "extract(microseconds FROM time '00:00:07.25')",
  "extract(epoch FROM date '2024-01-01')",
  "extract(epoch FROM interval '1 day 1.5 seconds')",
  "extract(second FROM interval '-1.5 seconds')",
  "extract(epoch FROM time '01:00:00.5')",
  "extract(year FROM date '2024-01-01')",
  "extract(epoch FROM timestamptz 'infinity')",
  "extract(epoch FROM timestamp '1900-06-30 12:34:56.789012')",
  "extract(dow FROM timestamp '2024-01-01 10:00')",
  "extract(epoch FROM timestamptz '2024-01-01 00:00:00+00') * 2",
  "date_part('epoch', timestamp '2024-01-01 00:00:00.5')",
  "stddev(x) FROM (VALUES (1.5), ('NaN'), (2)) v(x)",
  "variance(x) FROM (VALUES (1.5), ('Infinity'), (2)) v(x)",
  'var_pop(x) FROM (VALUES (5), (5), (5)) v(x)',
  'stddev(x) FROM (VALUES (1.0), (2.0)) v(x)',
  'stddev(x) FROM (VALUES (1.5::float8), (2.25::float8)) v(x)',
  'variance(x) FROM (VALUES (1.5::float4)) v(x)',
  'exp(5999.0)',
  'exp(6000.0)',
  'exp(-6000.0)',
  'exp(-5999.99)',
  'ln(1e16383)',
  'ln(0.0)',
  'ln(-1.0)',
  "ln('Infinity'::numeric)",
  'log(1.0, 2.0)',
  "log(2.0, 'Infinity'::numeric)",
  'log(1.00000000000000000001, 2.5)',
  '0.0 ^ 0',
  '0.0 ^ 2.5',
  '0.0 ^ (-1)',
  '(-2.0) ^ 0.5',
  '(-2.0) ^ 3',
  '1.0000001 ^ 1000000',
  '9.99 ^ 1000.5',
  '0.5 ^ 10000',
  "'NaN'::numeric ^ 0",
  "1.0 ^ 'NaN'::numeric",
  "'Infinity'::numeric ^ 2",
  "'-Infinity'::numeric ^ 3",
  "'-Infinity'::numeric ^ 2",
  "2.0 ^ '-Infinity'::numeric",
  "0.5 ^ 'Infinity'::numeric",
  '1.00000000000001 ^ 2147483647',
  '0.99999999999 ^ (-2147483647)',
  '(-1.0000001) ^ 99999',
  '1e1000 ^ 2.5',
  '1e16000 ^ 1',
  'ln(1e16000)',
  '1e16000 ^ 0.5',
  'round(12345678901234567.89, 2147483647)',
  'trunc(0.0, 2147483647)',
  'round(1.5, -2147483647)',
  'trunc(-123.45, 16384)',
  '12345678901234567.89',
  '12345678901234567.89::numeric',
  '0.1 + 0.2',
  '1.50',
  '1.50 * 2',
  '1 / 3::numeric',
  '10::numeric / 4',
  '2 / 3.0',
  '1.5 * 2.25',
  '0.1::float8::numeric',
  '(1.0 / 3)::float8',
  '1e-5::numeric',
  '1.5e3::numeric',
  "'  1.50  '::numeric",
  "'1e400'::numeric = 1",
  '123.456::numeric(5,2)',
  '999.995::numeric(5,2)',
  "'Infinity'::numeric(10,2)",
  "'NaN'::numeric(10,2)",
  '-0.0001::numeric(5,2)',
  '2.5::int4', '-2.5::int4', '3.5::int8',
  "'NaN'::numeric::int4",
  "'Infinity'::numeric::int8",
  "'-Infinity'::numeric::float8",
  '1.50::text',
  "'abc'::numeric",
  '1 / 0::numeric',
  '1.0 % 0',
  'scale(1.500)',
  'sqrt(2::numeric)',
  'sqrt(0.0002)',
  'sqrt(1e20::numeric)',
  'sqrt(-1::numeric)',
  'round(1.234, 5)',
  'round(1234.5, -2)',
  'round(-0.5)',
  'trunc(-1.99)',
  'ceil(-1.5)',
  'floor(-1.5)',
  'sign(-1.50)',
  'abs(-1.50)',
  'greatest(1.5, 2.25, 1)',
  'least(1.50, 1.5)',
  '1.5 = 1.50',
  '1.5 IN (1.50, 2)',
  "'NaN'::numeric > 'Infinity'::numeric",
  "'NaN'::numeric = 'NaN'::numeric",
  '1.5 + 1::float8',
  '1.5 < 2::float8',
  '2 * 0.5 = 1',
  '-1.50',
  '- -1.50',
  'div(7.5, 2)',
  'mod(-7.5, 2)',
  '5 % 3::numeric',
  '100000000000000000000.0 / 3',
  'div(7, 2)',
  'div(-7, 2)',
  'round(5, 1)',
  'round(1234, -2)',
  'trunc(7, -1)',
  'round(2.5::float8, 0)',
  'avg(x) FROM (VALUES (1), (2), (4)) v(x)',
  'sum(x) FROM (VALUES (1.50), (2.25), (NULL)) v(x)',
  'avg(x) FROM (VALUES (1.50), (2.25)) v(x)',
  'min(x) FROM (VALUES (10.5), (9.75), (100)) v(x)',
  'max(x) FROM (VALUES (10.5), (9.75), (100)) v(x)',
  'sum(x) FROM (VALUES (12345678901234567.89), (0.11)) v(x)',
  'sum(x::int8) FROM (VALUES (1), (2)) v(x)',
  "max(x) FROM (VALUES ('NaN'::numeric), (1)) v(x)",
  "string_agg(x::text, ',' ORDER BY x) FROM (VALUES (10.5), (9.75), (100), (-1.5), ('Infinity'), ('NaN')) v(x)",
  "string_agg(x::text, ',' ORDER BY x DESC) FROM (VALUES (12345678901234567.89), (12345678901234567.88), (0.1)) v(x)",
  "(SELECT count(*) FROM (SELECT DISTINCT x FROM (VALUES (1.5), (2.25), (2.25)) v(x)) d)",
  "(SELECT max(x) - min(x) FROM (VALUES (0.1), (0.7), (0.3)) v(x))",
  "(SELECT x FROM (VALUES (1.5), (2.25)) v(x) WHERE x > 2)",
  "(SELECT count(*) FROM (VALUES (1.5), (2.25)) v(x) WHERE x IN (2.250, 7))",
  "(SELECT sum(x) / count(*) FROM (VALUES (1.1), (2.2), (3.3)) v(x))",
  "(SELECT count(*) FROM (SELECT DISTINCT x FROM (VALUES (1.5), (1.50), (1.500), (2)) v(x)) d)",
  "(SELECT count(*) FROM (SELECT x FROM (VALUES (1.5), (1.50), (2)) v(x) GROUP BY x) d)",
  "(SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n FROM (VALUES (1.5), (1.50), (2.0)) v(x) GROUP BY x) d)",
  "(SELECT count(*) FROM (SELECT 1.5 UNION SELECT 1.50) u)",
  "coalesce(NULL::numeric, 1.50)",
  "CASE WHEN 1.5 > 1 THEN 2.50 ELSE 1 END",
  "greatest(1::numeric, 2.5::float8)",
  "greatest('-0'::float8, 12345678901234567.89)",
  "least(12345678901234567.89, 1e300::float8, 0.1)",
  "least(NULL::float8, 1.50)",
  "coalesce(NULL::float8, 12345678901234567.89)",
  "coalesce(12345678901234567.89, 1::float8)",
  "nullif(1.50, 2::float8)",
  "CASE WHEN true THEN 12345678901234567.89 ELSE 2::float8 END",
  '0.00000000000000000001 / 3',
  'to_jsonb(0.0)',
  'to_json(1.50)',
  'to_jsonb(12345678901234567.89)',
  "to_json('NaN'::numeric)",
  "to_jsonb('-Infinity'::numeric)",
  'to_json(ARRAY[1.50, NULL, 0.0])',
  'to_jsonb(ARRAY[1.50, -0.001])',
  "json_build_object('a', 1.50, 'b', 0.0, 'c', 2::float8)",
  "jsonb_build_object('b', 1.50, 'a', ARRAY[0.10])",
  "json_build_object('j', '{\"x\": 2.50, \"y\": [1.0]}'::jsonb)",
  "json_build_object('j', '{\"x\":  2.50}'::json)",
  "jsonb_build_object('j', '{\"x\": 2.50, \"a\": 1e2}'::jsonb)",
  "to_jsonb(ARRAY['{\"x\": 2.50}'::jsonb])",
  "to_json(ARRAY['[1.10]'::json])",
  "'[1e2, -0, -0.0, 1.5E-3, 2.50, -1]'::jsonb",
  "'{\"a\": 1.0e+1}'::jsonb",
  "'{\"__proto__\": 1.50, \"b\": {\"__proto__\": [2.50]}}'::jsonb",
  "('{\"__proto__\": 1.50}'::jsonb)->'__proto__'",
]

describe('numeric agrees with PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let oracle: pg.Client

  beforeAll(async () => {
    ;({ sluice, ours, oracle } = await openOraclePair('UTC'))
  })
  afterAll(() => closeOraclePair({ sluice, ours, oracle }))

  const run = async (client: pg.Client, sql: string): Promise<string> => {
    try {
      const res = await client.query({ text: sql, types: AS_TEXT })
      return `${String(res.rows[0].v)} :: ${res.fields[0]!.dataTypeID}`
    } catch (err) {
      return `ERROR ${(err as { code?: string }).code}`
    }
  }

  // An aggregate over rows is asked as a scalar subquery.
  const asExpression = (e: string): string => (/ FROM /.test(e) && !e.startsWith('(') ? `(SELECT ${e})` : e)

  test.each([...FIXED, ...generated(), ...transcendental(), ...statistics()].map(asExpression))('%s', async (expr) => {
    const sql = `SELECT ${expr} AS v`
    const expected = await run(oracle, sql)
    // A statement PostgreSQL cannot parse would compare nothing.
    expect(expected).not.toBe('ERROR 42601')
    expect(await run(ours, sql)).toBe(expected)
  })
})
