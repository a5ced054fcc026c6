/**
 * MATCH_RECOGNIZE as a streaming operator: out-of-order delivery within the allowed lateness gives the
 * same matches as in-order delivery, WITHIN keeps the state of a pattern that never completes bounded, and
 * a kill -9 in the middle of the stream (rows waiting for the watermark and partial matches in flight)
 * changes no match.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'
import { gameEvents, insertSql, rng } from './helpers/game-events.ts'
import { expectedStreaks } from './helpers/losing-streak.ts'

interface Fight {
  readonly player: number
  readonly kind: string
  readonly ts: number
}

/** Fights, logins and shop visits of a few players, about 3 s apart, shuffled by up to 20 s when asked. */
function fights(seed: number, count: number, shuffle: boolean): Fight[] {
  const r = rng(seed)
  const kinds = ['loss', 'loss', 'win', 'login', 'shop', 'loss']
  const base = Date.UTC(2026, 10, 23, 9, 0, 0)
  const es = Array.from({ length: count }, (_, i) => ({ player: 1 + Math.floor(r() * 6), kind: kinds[Math.floor(r() * kinds.length)]!, ts: base + i * 3000 + Math.floor(r() * 1000) }))
  if (!shuffle) return es
  return es.map((e, i) => ({ e, k: i * 3000 + (r() - 0.5) * 40_000 })).sort((a, b) => a.k - b.k).map((x) => x.e)
}

const values = (es: readonly Fight[]) => es.map((e) => `(${e.player}, '${e.kind}', '${new Date(e.ts).toISOString()}')`).join(', ')

/** A losing streak, and a five-variable pattern with alternation and a reluctant quantifier. */
const VIEWS = (s: string) => [
  `CREATE MATERIALIZED VIEW ${s}_streak AS SELECT * FROM ${s} MATCH_RECOGNIZE (
     PARTITION BY player_id ORDER BY ts MEASURES FIRST(L.ts) AS first_loss, LAST(L.ts) AS last_loss, MATCH_NUMBER() AS n
     ONE ROW PER MATCH PATTERN (L O*? L O*? L) WITHIN INTERVAL '2 minutes'
     DEFINE L AS kind = 'loss', O AS kind IN ('login', 'shop')) AS m`,
  `CREATE MATERIALIZED VIEW ${s}_five AS SELECT * FROM ${s} MATCH_RECOGNIZE (
     PARTITION BY player_id ORDER BY ts MEASURES CLASSIFIER() AS cls, MATCH_NUMBER() AS n, RUNNING count(*) AS k
     ALL ROWS PER MATCH AFTER MATCH SKIP TO NEXT ROW
     PATTERN (A (B | C)+? D E?) WITHIN INTERVAL '3 minutes'
     DEFINE A AS kind = 'login', B AS kind = 'loss', C AS kind = 'win', D AS kind = 'shop', E AS kind = 'login') AS m`,
]

const rowsOf = async (client: pg.Client, view: string): Promise<string[]> =>
  (await client.query({ text: `SELECT * FROM ${view}`, rowMode: 'array' })).rows.map((r: unknown[]) => r.map((v) => (v instanceof Date ? v.toISOString() : String(v))).join('|')).sort()

describe('MATCH_RECOGNIZE on a stream', () => {
  let sluice: SluiceProcess
  let client: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    client = await sluice.client()
  })
  afterAll(async () => {
    await client?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each([1, 2, 3, 4, 5])('event set %i: shuffled within the lateness, the same matches as in order', async (seed) => {
    const ordered = fights(seed, 1500, false)
    const shuffled = fights(seed, 1500, true)
    for (const [name, events] of [
      [`mo${seed}`, ordered],
      [`ms${seed}`, shuffled],
    ] as const) {
      await client.query(`CREATE STREAM ${name} (player_id INT NOT NULL, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
        WITH (allowed_lateness = INTERVAL '1 minute', key = 'player_id')`)
      for (const v of VIEWS(name)) await client.query(v)
      for (let i = 0; i < events.length; i += 300) await client.query(`INSERT INTO ${name} VALUES ${values(events.slice(i, i + 300))}`)
      await client.query(`ALTER STREAM ${name} CLOSE`)
    }
    const late = await client.query(`SELECT count(*) AS n FROM sluice_late_events WHERE stream IN ('mo${seed}', 'ms${seed}')`)
    expect(Number(late.rows[0].n)).toBe(0)
    const streaks = await rowsOf(client, `mo${seed}_streak`)
    const five = await rowsOf(client, `mo${seed}_five`)
    expect(streaks.length).toBeGreaterThan(5)
    expect(five.length).toBeGreaterThan(20)
    expect(await rowsOf(client, `ms${seed}_streak`)).toEqual(streaks)
    expect(await rowsOf(client, `ms${seed}_five`)).toEqual(five)
  })

  test('WITHIN bounds the state of a pattern that never completes', async () => {
    await client.query(`CREATE STREAM longrun (player_id INT NOT NULL, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id')`)
    const never = (name: string, within: string) =>
      client.query(`CREATE MATERIALIZED VIEW ${name} AS SELECT * FROM longrun MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts MEASURES count(*) AS n PATTERN (A X* B) ${within}
        DEFINE A AS kind = 'start', B AS kind = 'never') AS m`)
    await never('bounded', "WITHIN INTERVAL '1 minute'")
    await never('unbounded', '')
    // Ten players, one event a second each, for 2,000 seconds: 20,000 rows that never complete a match.
    const base = Date.UTC(2026, 10, 23, 12, 0, 0)
    for (let second = 0; second < 2000; second += 100) {
      const rows: string[] = []
      for (let s = second; s < second + 100; s++) for (let p = 1; p <= 10; p++) rows.push(`(${p}, '${s % 7 === 0 ? 'start' : 'tick'}', '${new Date(base + s * 1000).toISOString()}')`)
      await client.query(`INSERT INTO longrun VALUES ${rows.join(', ')}`)
    }
    await rowsOf(client, 'bounded') // waits until both views have taken in every row
    await rowsOf(client, 'unbounded')
    const held = await client.query("SELECT name, buffered_rows FROM sluice_queries WHERE name IN ('bounded', 'unbounded') ORDER BY name")
    const [bounded, unbounded] = held.rows.map((r) => Number(r.buffered_rows))
    // A minute of rows per player, and then some for the start row that is about to time out.
    expect(bounded).toBeLessThanOrEqual(10 * 70)
    expect(unbounded).toBeGreaterThan(19_000)
  }, 120_000)

  test('the losing streak across kill -9s: rows waiting for the watermark and partial matches survive, no match is lost or doubled', async () => {
    const query = (name: string) => readFileSync(resolve(import.meta.dirname, '..', 'queries', name), 'utf8')
    const dataDir = await tempDataDir()
    let server: SluiceProcess = await startSluice({ dataDir, checkpointMs: 100 })
    try {
      server.psql(query('game_ends_per_minute.sql'))
      expect(server.psql(query('losing_streak.sql')).stdout).toContain('CREATE MATERIALIZED VIEW')
      const events = gameEvents(24_000, 34, Date.UTC(2026, 10, 23, 8, 0, 0), 40)
      const want = expectedStreaks(events)
      const thirds = [8_000, 16_000, events.length]
      let from = 0
      for (const to of thirds) {
        let c = await server.client()
        for (let i = from; i < to; i += 1000) await c.query(insertSql(events.slice(i, Math.min(i + 1000, to))))
        from = to
        if (to === events.length) {
          await c.query('ALTER STREAM game_events CLOSE')
          const got = (await c.query<{ player_id: string; first_loss: Date; third_loss: Date; losses: string }>('SELECT * FROM losing_streak')).rows
          await c.end()
          expect(want.length).toBeGreaterThan(50)
          expect(got.map((r) => `${r.player_id}|${r.first_loss.toISOString()}|${r.third_loss.toISOString()}|${r.losses}`).sort()).toEqual(want)
          break
        }
        // Some streaks out, and (the watermark four seconds behind the last event) rows still waiting.
        await eventually(() => c.query('SELECT count(*) AS n FROM losing_streak'), (r) => Number(r.rows[0].n) > 0, 30_000)
        c.on('error', () => undefined)
        await server.kill('SIGKILL')
        await c.end().catch(() => undefined)
        server = await startSluice({ dataDir, checkpointMs: 100 })
      }
    } finally {
      await server.stop()
      await removeDir(dataDir)
    }
  }, 180_000)

  test('aggregating the matches: in the same view and through a view over the pattern view, both exact', async () => {
    const query = (name: string) => readFileSync(resolve(import.meta.dirname, '..', 'queries', name), 'utf8')
    const dataDir = await tempDataDir()
    const server = await startSluice({ dataDir })
    const c = await server.client()
    try {
      server.psql(query('game_ends_per_minute.sql'))
      server.psql(query('losing_streak.sql'))
      const same = `CREATE MATERIALIZED VIEW streaks_same AS SELECT player_id, count(*) AS streaks FROM game_events MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts MEASURES LAST(L.ts) AS third_loss ONE ROW PER MATCH
        PATTERN (L OTHER*? L OTHER*? L) WITHIN INTERVAL '1 hour'
        DEFINE L AS type = 'fight' AND result = 'loss', OTHER AS type <> 'fight') AS m GROUP BY player_id`
      await c.query(same)
      await c.query('CREATE MATERIALIZED VIEW streaks_per_player AS SELECT player_id, count(*) AS streaks, max(third_loss) AS last_streak FROM losing_streak GROUP BY player_id')
      const events = gameEvents(6_000, 35, Date.UTC(2026, 10, 23, 8, 0, 0), 20)
      for (let i = 0; i < events.length; i += 1000) await c.query(insertSql(events.slice(i, i + 1000)))
      await c.query('ALTER STREAM game_events CLOSE')
      const want = new Map<string, number>()
      for (const line of expectedStreaks(events)) {
        const player = line.split('|')[0]!
        want.set(player, (want.get(player) ?? 0) + 1)
      }
      expect(want.size).toBeGreaterThan(5)
      const got = await eventually(
        async () => new Map((await c.query<{ player_id: string; streaks: string }>('SELECT player_id, streaks FROM streaks_per_player')).rows.map((r) => [String(r.player_id), Number(r.streaks)])),
        (m) => [...m.values()].reduce((a, b) => a + b, 0) === [...want.values()].reduce((a, b) => a + b, 0),
        30_000,
      )
      expect(new Map([...got].sort())).toEqual(new Map([...want].sort()))
      const inOne = await eventually(
        async () => new Map((await c.query<{ player_id: string; streaks: string }>('SELECT player_id, streaks FROM streaks_same')).rows.map((r) => [String(r.player_id), Number(r.streaks)])),
        (m) => [...m.values()].reduce((a, b) => a + b, 0) === [...want.values()].reduce((a, b) => a + b, 0),
        30_000,
      )
      expect(new Map([...inOne].sort())).toEqual(new Map([...want].sort()))
    } finally {
      await c.end()
      await server.stop()
      await removeDir(dataDir)
    }
  }, 120_000)
})
