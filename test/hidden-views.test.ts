/**
 * Hidden views against a real `sluice serve`: a view over an aggregating CTE owns a hidden view (the CTE),
 * which must come back with it after a clean restart and after kill -9 with every event counted once, stay
 * out of \d while sluice_queries lists it, keep clear of a user's relation of the name it would take, and go
 * with its owner on DROP (for good: a restart does not bring it back).
 */
import { afterEach, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { rng } from './helpers/game-events.ts'

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0)

interface Event {
  player_id: number
  level: number
  ts: number
}

function events(from: number, count: number, seed: number): Event[] {
  const next = rng(seed)
  return Array.from({ length: count }, (_, i) => ({ player_id: Math.floor(next() * 40), level: Math.floor(next() * 30), ts: T0 + (from + i) * 1000 }))
}

const insertSql = (batch: readonly Event[]) => `INSERT INTO events VALUES ${batch.map((e) => `(${e.player_id}, ${e.level}, '${new Date(e.ts).toISOString()}')`).join(', ')}`

/** What `spread` holds after `all`: per level, the players whose highest level it is. */
function expectedSpread(all: readonly Event[]): string[][] {
  const best = new Map<number, number>()
  for (const e of all) best.set(e.player_id, Math.max(best.get(e.player_id) ?? -1, e.level))
  const counts = new Map<number, number>()
  for (const l of best.values()) counts.set(l, (counts.get(l) ?? 0) + 1)
  return [...counts].sort((a, b) => a[0] - b[0]).map(([l, n]) => [String(l), String(n)])
}

const SPREAD = `CREATE MATERIALIZED VIEW spread AS
  WITH per_player AS (SELECT player_id, max(level) AS lvl FROM events GROUP BY player_id)
  SELECT lvl, count(*) AS players FROM per_player GROUP BY lvl`

describe('hidden views across restarts', () => {
  let sluice: SluiceProcess | undefined
  let client: pg.Client | undefined
  afterEach(async () => {
    await client?.end().catch(() => undefined)
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  const rows = async (sql: string) => (await client!.query({ text: sql, rowMode: 'array' })).rows.map((r: unknown[]) => r.map(String))
  const restart = async (how: 'stop' | 'kill') => {
    await client!.end()
    if (how === 'kill') await sluice!.kill('SIGKILL')
    else await sluice!.stop()
    sluice = await startSluice({ dataDir: sluice!.dataDir })
    client = await sluice.client()
  }
  const settled = async (all: readonly Event[]) => {
    const want = expectedSpread(all)
    const got = await eventually(() => rows('SELECT lvl, players FROM spread ORDER BY lvl'), (r) => JSON.stringify(r) === JSON.stringify(want))
    expect(got).toEqual(want)
  }

  test('come back with their view after a restart and kill -9, exactly once, and go with it on DROP', async () => {
    sluice = await startSluice()
    client = await sluice.client()
    await client.query(`CREATE STREAM events (player_id INT NOT NULL, level INT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id', partitions = 3)`)
    // A user's view with the name the hidden view would take first: the hidden view takes the next.
    await client.query(`CREATE MATERIALIZED VIEW "spread$1" AS SELECT player_id, level FROM events WHERE level > 25`)
    await client.query(SPREAD)
    expect(await rows(`SELECT name, coalesce(hidden_in, '-') FROM sluice_queries ORDER BY name`)).toEqual([['spread', '-'], ['spread$1', '-'], ['spread$2', 'spread']])

    const a = events(0, 400, 1)
    for (let i = 0; i < a.length; i += 100) await client.query(insertSql(a.slice(i, i + 100)))
    await settled(a)

    await restart('stop')
    await settled(a)
    const listed = sluice.psql('\\d').stdout
    expect(listed).toContain('spread$1')
    expect(listed).not.toContain('spread$2')
    expect(await rows(`SELECT hidden_in FROM sluice_queries WHERE name = 'spread$2'`)).toEqual([['spread']])

    // kill -9 between batches, then more events: each one counted once, through both views.
    const b = events(400, 600, 2)
    for (let i = 0; i < b.length; i += 100) {
      if (i === 300) await restart('kill')
      await client.query(insertSql(b.slice(i, i + 100)))
    }
    await settled([...a, ...b])
    await restart('kill')
    await settled([...a, ...b])

    const refused = await client.query(`DROP MATERIALIZED VIEW "spread$2"`).then(() => null, (e: { code?: string }) => e)
    expect(refused?.code).toBe('2BP01')
    await client.query('DROP MATERIALIZED VIEW spread')
    expect(await rows(`SELECT name FROM sluice_queries ORDER BY name`)).toEqual([['spread$1']])
    await restart('stop')
    expect(await rows(`SELECT name FROM sluice_queries ORDER BY name`)).toEqual([['spread$1']])

    // Created again, it starts from the stream's beginning with a new hidden view (new state).
    await client.query(SPREAD)
    await settled([...a, ...b])
    expect(await rows(`SELECT name FROM sluice_queries WHERE hidden_in = 'spread'`)).toEqual([['spread$2']])
    // Four restarts: on a loaded machine each takes several seconds.
  }, 240_000)

  test('MATCH_RECOGNIZE aggregated in the same view: the pattern is a hidden view, exactly once across kill -9', async () => {
    sluice = await startSluice()
    client = await sluice.client()
    await client.query(`CREATE STREAM events (player_id INT NOT NULL, level INT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id', partitions = 3)`)
    await client.query(`CREATE MATERIALIZED VIEW highs AS
      SELECT m.player_id, count(*) AS streaks, sum(top) AS tops FROM events MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts MEASURES max(H.level) AS top
        ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (H{3}) DEFINE H AS level >= 15) AS m
      GROUP BY m.player_id`)
    // Per player: runs of three events at level 15 or more, taken from the start of the run, then again after it.
    const expected = (all: readonly Event[]) => {
      const runs = new Map<number, Event[]>()
      const out = new Map<number, [number, number]>()
      for (const e of [...all].sort((x, y) => x.ts - y.ts)) {
        const run = e.level >= 15 ? [...(runs.get(e.player_id) ?? []), e] : []
        if (run.length === 3) {
          const [n, t] = out.get(e.player_id) ?? [0, 0]
          out.set(e.player_id, [n + 1, t + Math.max(...run.map((r) => r.level))])
          runs.set(e.player_id, [])
        } else runs.set(e.player_id, run)
      }
      return [...out].sort((x, y) => x[0] - y[0]).map(([p, [n, t]]) => [String(p), String(n), String(t)])
    }
    const check = async (all: readonly Event[]) => {
      const want = expected(all)
      expect(want.length).toBeGreaterThan(10)
      const got = await eventually(() => rows('SELECT player_id, streaks, tops FROM highs ORDER BY player_id'), (r) => JSON.stringify(r) === JSON.stringify(want))
      expect(got).toEqual(want)
    }
    expect(await rows(`SELECT name, coalesce(hidden_in, '-') FROM sluice_queries ORDER BY name`)).toEqual([['highs', '-'], ['highs$1', 'highs']])
    const all = events(0, 1200, 7)
    for (let i = 0; i < all.length; i += 100) {
      if (i === 500) await restart('kill')
      await client.query(insertSql(all.slice(i, i + 100)))
    }
    await check(all)
    await restart('kill')
    await check(all)
  }, 240_000)
})
