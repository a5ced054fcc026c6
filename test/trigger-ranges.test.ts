/**
 * Triggers whose conditions are ranges and sets (BETWEEN, <, >=, IN, ORs of equalities; on the event and on
 * the joined profile as of the event) are answered from the batch's shared index: they must fire on exactly
 * the events on which PostgreSQL finds the same condition true. The events hold the awkward values: NULLs,
 * bounds hit exactly, integers against fractional constants, floats against integral ones, -0, huge and tiny,
 * text in upper and lower case and beyond ASCII, times on the bounds. They arrive in INSERTs of different
 * sizes, so that bounds fall in and between batches.
 */
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually } from './helpers/sluice-process.ts'
import { closeOraclePair, openOraclePair, type OraclePair } from './helpers/oracle.ts'

const COLUMNS = 'player_id, seq, level, score, amount, country, ts'
const COUNTRIES = ['DE', 'FR', 'de', 'Ä', 'AT', 'A', 'a', '', 'DEU', 'DZ', 'fr', 'Zürich']
// (No infinities: a stream's log keeps rows as JSON, where they do not survive.)
const SCORES = ['-0', '1e300', '-1e-300', '12.5', '12.499', '0', '-0.001']
const BASE = Date.UTC(2026, 10, 23, 10, 0, 0)
const EVENTS = 420

/** Event i as SQL values (the same text for both servers). */
function values(i: number): string {
  const level = i % 11 === 0 ? 'NULL' : String((i * 17) % 66 - 5)
  const score = i % 13 === 0 ? 'NULL' : i % 9 === 0 ? SCORES[(i / 9) % SCORES.length]! : String(((i * 37) % 1000) / 10 - 20)
  // Quarters only: sums of them are exact in doubles as in PostgreSQL's numeric.
  const amount = i % 7 === 0 ? 'NULL' : String(((i * 13) % 40) * 0.25)
  const country = i % 10 === 0 ? 'NULL' : `'${COUNTRIES[(i * 7) % COUNTRIES.length]!}'`
  const ts = new Date(BASE + i * 9_000).toISOString()
  return `(${i % 17}, ${i}, ${level}, ${score}, ${amount}, ${country}, '${ts}')`
}

/** Conditions on the event alone. */
const ON_EVENT: Record<string, string> = {
  band: 'NEW.level BETWEEN 20 AND 40',
  band_open: 'NEW.level > 20 AND NEW.level < 40',
  band_empty: 'NEW.level >= 50 AND NEW.level <= 40',
  float_ge: 'NEW.score >= 12.5',
  float_negative: 'NEW.score < 0',
  float_zero: 'NEW.score <= 0 AND NEW.score >= 0',
  int_vs_fraction: 'NEW.level > 10.5',
  below: '30 > NEW.level',
  countries: "NEW.country IN ('DE', 'FR', NULL)",
  country_or: "NEW.country = 'de' OR NEW.country = 'Zürich' OR NEW.country IN ('A')",
  upper_case: "NEW.country < 'a'",
  d_prefix: "NEW.country >= 'D' AND NEW.country <= 'DZ'",
  beyond_ascii: "NEW.country > 'z'",
  half_hour: "NEW.ts >= '2026-11-23 10:30:00+00' AND NEW.ts < '2026-11-23 10:45:00+00'",
  mixed: "NEW.amount BETWEEN 1 AND 5 AND NEW.score > 0 AND NEW.country IN ('DE', 'AT', 'fr')",
  levels_set: 'NEW.level IN (1, 2, 3, 30, 31, 6.5) AND NEW.amount > 2',
  not_indexed: 'NEW.level NOT BETWEEN 0 AND 50 OR NEW.score IS NULL',
}

/** Conditions on the profile as of the event (with or without a condition on the event). */
const ON_PROFILE: Record<string, { join: 'JOIN' | 'LEFT JOIN'; when: string }> = {
  spent: { join: 'JOIN', when: 'p.spent > 10' },
  events_band: { join: 'JOIN', when: "p.events BETWEEN 5 AND 8 AND NEW.country IN ('FR', 'de')" },
  top_level: { join: 'LEFT JOIN', when: 'p.top_level >= 45' },
  spent_set: { join: 'JOIN', when: 'p.spent IN (2.5, 7.5, 10) AND NEW.level >= 0' },
}

const PROFILE = 'SELECT player_id, count(*) AS events, sum(amount) AS spent, max(level) AS top_level FROM ev GROUP BY player_id'

describe('triggers on ranges and sets', () => {
  let pair: OraclePair
  let listener: pg.Client
  const hits = new Map<string, number[]>()
  let received = 0

  beforeAll(async () => {
    pair = await openOraclePair('UTC')
    const { ours, oracle } = pair
    await ours.query(`CREATE STREAM ev (player_id BIGINT NOT NULL, seq BIGINT, level INT, score DOUBLE PRECISION, amount NUMERIC, country TEXT,
      ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 3)`)
    await ours.query(`CREATE MATERIALIZED VIEW profile AS ${PROFILE}`)
    for (const [name, when] of Object.entries(ON_EVENT)) {
      await ours.query(`CREATE TRIGGER ${name} AFTER INSERT ON ev FOR EACH ROW WHEN (${when}) EXECUTE NOTIFY hits, '${name} ' || NEW.seq::text`)
    }
    for (const [name, { join, when }] of Object.entries(ON_PROFILE)) {
      await ours.query(`CREATE TRIGGER ${name} AFTER INSERT ON ev ${join} profile p USING (player_id) FOR EACH ROW WHEN (${when})
        EXECUTE NOTIFY hits, '${name} ' || NEW.seq::text`)
    }
    listener = await pair.sluice.client()
    listener.on('notification', (n) => {
      const [name, seq] = (n.payload ?? '').split(' ')
      hits.set(name!, [...(hits.get(name!) ?? []), Number(seq)])
      received++
    })
    await listener.query('LISTEN hits')
    // PostgreSQL compares text as Sluice does (by code point) under the C collation.
    await oracle.query(`CREATE TEMP TABLE ev (player_id BIGINT NOT NULL, seq BIGINT, level INT, score DOUBLE PRECISION, amount NUMERIC,
      country TEXT COLLATE "C", ts TIMESTAMPTZ NOT NULL)`)
    const all = Array.from({ length: EVENTS }, (_, i) => values(i))
    await oracle.query(`INSERT INTO ev (${COLUMNS}) VALUES ${all.join(', ')}`)
    let at = 0
    for (const size of [1, 7, 50, 2, 150, 60]) {
      await ours.query(`INSERT INTO ev (${COLUMNS}) VALUES ${all.slice(at, at + size).join(', ')}`)
      at += size
    }
    await ours.query(`INSERT INTO ev (${COLUMNS}) VALUES ${all.slice(at).join(', ')}`)
  })

  afterAll(async () => {
    await listener?.end()
    await closeOraclePair(pair ?? {})
  })

  /** The events PostgreSQL picks: the profile as of an event is the aggregate of its player's events up to it. */
  async function expected(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>()
    const seqs = async (sql: string) => (await pair.oracle.query<{ seq: string }>(sql)).rows.map((r) => Number(r.seq)).sort((a, b) => a - b)
    for (const [name, when] of Object.entries(ON_EVENT)) out.set(name, await seqs(`SELECT seq FROM ev AS new WHERE ${when}`))
    for (const [name, { when }] of Object.entries(ON_PROFILE)) {
      const asOf = `(SELECT count(*) AS events, sum(amount) AS spent, max(level) AS top_level FROM ev x WHERE x.player_id = new.player_id AND x.seq <= new.seq)`
      out.set(name, await seqs(`SELECT seq FROM ev AS new CROSS JOIN LATERAL ${asOf} AS p WHERE ${when}`))
    }
    return out
  }

  test('each trigger fires on exactly the events PostgreSQL selects with its condition', async () => {
    const want = await expected()
    const total = [...want.values()].reduce((n, s) => n + s.length, 0)
    // Every condition picks some events but not all (else the comparison would prove little), but one.
    for (const [name, s] of want) if (name !== 'band_empty') expect(s.length, name).toBeGreaterThan(0)
    expect(want.get('band_empty')).toEqual([])
    await eventually(async () => received, (n) => n >= total, 40_000).catch(() => undefined)
    // The profile has taken in every event (the triggers took each batch in the same pass), and a NOTIFY
    // sent after that comes back behind any firing still on its way.
    await eventually(async () => (await pair.ours.query('SELECT sum(events)::int AS n FROM profile')).rows[0]?.n, (n) => n === EVENTS, 30_000)
    await pair.ours.query("NOTIFY hits, 'sentinel 0'")
    await eventually(async () => hits.has('sentinel'), Boolean, 30_000)
    for (const [name, s] of want) expect([...(hits.get(name) ?? [])].sort((a, b) => a - b), name).toEqual(s)
    expect(received).toBe(total + 1)
  }, 120_000)
})
