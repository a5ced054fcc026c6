/**
 * The generated differential suite: statements built from Sluice's function tables over edge values and
 * time zones (test/helpers/pg-differential-cases.ts) run as pull queries on a real Sluice server and on the
 * real PostgreSQL at 127.0.0.1:5432; the text of the value and its type OID must be equal, or both must fail
 * with the same SQLSTATE.
 *
 * The differences not fixed are listed here by case with their reason (and in docs/sql-reference.md under
 * "Differences from PostgreSQL"): a listed case must still differ (fixed ones are taken off the list), an
 * unlisted one must agree. Nothing is skipped.
 *
 * `PGDIFF_RECORD=file npx vitest run test/pg-differential.test.ts` writes every difference to the file.
 */
import { writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { AS_TEXT, closeOraclePair, openOraclePair, type OraclePair } from './helpers/oracle.ts'
import { NOT_COMPARED, SIGNATURES, caseName, generateCases, type DiffCase } from './helpers/pg-differential-cases.ts'
import { KNOWN_DIFFERENCES } from './helpers/pg-differential-known.ts'
import { FUNCTION_NAMES } from '../planner/functions.ts'
import { AGGREGATE_NAMES } from '../expr/aggregates.ts'
import { TABLE_FUNCTIONS } from '../planner/table-functions.ts'

const CASES = generateCases({ aggregates: new Set(AGGREGATE_NAMES), tableFunctions: TABLE_FUNCTIONS })

interface Answer {
  readonly v?: unknown
  readonly type?: number
  readonly code?: string
}

const names = (cs: readonly DiffCase[]): string[] => cs.map(caseName)

describe('generated differential suite against PostgreSQL', () => {
  let pair: OraclePair
  const zoneOf = new Map<pg.Client, string>()
  const differences: Record<string, { pg: Answer; sluice: Answer }> = {}

  beforeAll(async () => {
    pair = await openOraclePair()
    // A generated call that runs away (a huge series) fails on the oracle instead of holding the suite.
    await pair.oracle.query("SET statement_timeout = '20s'")
  }, 120_000)
  afterAll(async () => {
    if (process.env.PGDIFF_RECORD) writeFileSync(process.env.PGDIFF_RECORD, JSON.stringify(differences, null, 1))
    await closeOraclePair(pair ?? {})
  })

  const run = async (client: pg.Client, c: DiffCase): Promise<Answer> => {
    if (zoneOf.get(client) !== c.zone) {
      await client.query(`SET TimeZone = '${c.zone}'`)
      zoneOf.set(client, c.zone)
    }
    try {
      const r = await client.query({ text: c.sql, types: AS_TEXT })
      return { v: r.rows[0]?.v, type: r.fields[0]!.dataTypeID }
    } catch (err) {
      return { code: (err as { code?: string }).code ?? String(err) }
    }
  }

  test('every function of the tables is compared or has a reason not to be', () => {
    const all = [...FUNCTION_NAMES, ...AGGREGATE_NAMES, ...TABLE_FUNCTIONS]
    const unclassified = all.filter((f) => !(f in SIGNATURES) && !(f in NOT_COMPARED))
    expect(unclassified).toEqual([])
    const stale = Object.keys(SIGNATURES).filter((f) => !all.includes(f))
    expect(stale).toEqual([])
  })

  test('the suite is generated, deterministic and large', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500)
    expect(names(generateCases({ aggregates: new Set(AGGREGATE_NAMES), tableFunctions: TABLE_FUNCTIONS }))).toEqual(names(CASES))
    // Every listed exception is a case of the suite (a renamed case must not leave a dead entry behind).
    const all = new Set(names(CASES))
    expect(Object.keys(KNOWN_DIFFERENCES).filter((n) => !all.has(n))).toEqual([])
  })

  test.each(CASES.map((c) => [caseName(c), c] as const))('%s', async (name, c) => {
    const expected = await run(pair.oracle, c)
    const actual = await run(pair.ours, c)
    const same = JSON.stringify(actual) === JSON.stringify(expected)
    if (!same) differences[name] = { pg: expected, sluice: actual }
    const reason = KNOWN_DIFFERENCES[name]
    if (reason === undefined) expect(actual).toEqual(expected)
    else expect(same, `listed as a known difference (${reason}) but agrees now: take it off the list`).toBe(false)
  })

  test('the operators and time fixed here agree per event in a continuous view too', async () => {
    // (A jsonb number's trailing zeros, `2.50`, are lost on the way through the stream's log: docs/sql-reference.md.)
    await pair.ours.query('CREATE STREAM diff_events (k text, doc jsonb, raw bytea, at time, x double precision)')
    await pair.ours.query(
      "CREATE MATERIALIZED VIEW diff_view AS SELECT k, doc || '{\"seen\": true}' AS doc, raw || '\\xff'::bytea AS raw, at + INTERVAL '90 minutes' AS later, sqrt(x) AS r FROM diff_events",
    )
    await pair.ours.query("INSERT INTO diff_events VALUES ('a', '{\"n\": 2.5, \"seen\": false}', '\\x0102', '23:00', 'Infinity'), ('b', '[1]', '', '00:15', 0)")
    const want = (await pair.oracle.query({
      text: "SELECT k, doc || '{\"seen\": true}' AS doc, raw || '\\xff'::bytea AS raw, at + INTERVAL '90 minutes' AS later, sqrt(x) AS r FROM (VALUES ('a', '{\"n\": 2.5, \"seen\": false}'::jsonb, '\\x0102'::bytea, TIME '23:00', 'Infinity'::float8), ('b', '[1]', '', '00:15', 0)) t(k, doc, raw, at, x) ORDER BY k",
      types: AS_TEXT,
    })).rows
    let got: unknown[] = []
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline && got.length < 2) {
      got = (await pair.ours.query({ text: 'SELECT k, doc, raw, later, r FROM diff_view ORDER BY k', types: AS_TEXT })).rows
      if (got.length < 2) await new Promise((r) => setTimeout(r, 20))
    }
    expect(got).toEqual(want)
  })
})
