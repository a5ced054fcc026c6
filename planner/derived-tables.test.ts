/** Subqueries and CTEs in FROM of a continuous view: merged into one plan over the stream (EXPLAIN shows it). */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { planStream } from './stream-plan.ts'
import { explainView, planView, type ViewPlan } from './view-plan.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM game_events (player_id BIGINT NOT NULL, type TEXT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
    WITH (key = 'player_id', allowed_lateness = INTERVAL '5 seconds')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  const levels = 'SELECT player_id, max(amount) AS level FROM game_events GROUP BY player_id'
  const p = plan(levels)
  catalog.add({ kind: 'view', id: catalog.allocateId(), name: 'levels', columns: p.columns, plan: p, sql: levels })
})

const plan = (select: string): ViewPlan => planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)
const explain = (select: string): string[] => explainView('v', plan(select)).slice(1)
const failure = (select: string): { sqlstate: string; message: string; at: string } => {
  const sql = `CREATE MATERIALIZED VIEW v AS ${select}`
  try {
    planView(parseStatement(sql) as ast.CreateView, catalog)
  } catch (e) {
    const err = e as { sqlstate: string; message: string; span?: { start: number; end: number } }
    return { sqlstate: err.sqlstate, message: err.message, at: err.span === undefined ? '' : sql.slice(err.span.start, err.span.end) }
  }
  throw new Error(`planned: ${select}`)
}

describe('subqueries and CTEs in FROM of a continuous view', () => {
  it('merges a CTE into the view: its expressions into the aggregate, its WHERE into the filter', () => {
    expect(explain("WITH e AS (SELECT player_id, amount * 2 AS a, ts FROM game_events WHERE type = 'buy') SELECT player_id, sum(a) FROM e GROUP BY player_id")).toEqual([
      '->  Project player_id AS player_id, sum(*(amount, 2::int4)) AS sum',
      '  ->  KeyedAggregate keys=[player_id] aggregates=[sum(*(amount, 2::int4))] state=rocksdb(cache)',
      '    ->  Exchange hash(player_id) -> key groups',
      "      ->  Filter (type = 'buy')",
      '        ->  StreamScan game_events (shared, 4 partitions) watermark=ts',
    ])
  })

  it('plans exactly what the same query written without the subquery plans (no cost per event)', () => {
    const pairs = [
      ["WITH e AS (SELECT player_id, amount * 2 AS a FROM game_events WHERE type = 'buy') SELECT player_id, sum(a) AS s FROM e WHERE a > 4 GROUP BY player_id",
        "SELECT player_id, sum(amount * 2) AS s FROM game_events WHERE type = 'buy' AND amount * 2 > 4 GROUP BY player_id"],
      ["SELECT window_start, count(*) AS n FROM TUMBLE((SELECT ts FROM game_events WHERE amount > 0), ts, INTERVAL '1 minute') GROUP BY window_start EMIT ON WINDOW CLOSE",
        "SELECT window_start, count(*) AS n FROM TUMBLE(game_events, ts, INTERVAL '1 minute') WHERE amount > 0 GROUP BY window_start EMIT ON WINDOW CLOSE"],
    ]
    for (const [nested, flat] of pairs) expect(explain(nested!)).toEqual(explain(flat!))
  })

  it('reads several CTEs that read earlier ones, with column lists and both WHEREs', () => {
    const p = plan(`WITH buys(pid, a, t) AS (SELECT player_id, amount, ts FROM game_events WHERE type = 'buy'),
      big AS (SELECT pid, a * 10 AS cents FROM buys WHERE a > 5)
      SELECT pid, count(*) AS n, max(cents) FROM big b WHERE b.cents < 1000 GROUP BY pid`)
    expect(p.columns.map((c) => c.name)).toEqual(['pid', 'n', 'max'])
    expect(explainView('v', p)).toContain("      ->  Filter (((type = 'buy') AND (amount > 5)) AND ((amount * 10) < 1000))")
  })

  it('keeps output names as PostgreSQL gives them, renames by column aliases, expands *', () => {
    const p = plan("SELECT *, t::text AS tt, s.pid + 1 FROM (SELECT player_id AS p, upper(type) AS t FROM game_events WHERE amount > 0) AS s(pid) WHERE t <> 'X'")
    expect(p.columns.map((c) => c.name)).toEqual(['pid', 't', 'tt', '?column?'])
    expect(explain("SELECT * FROM (SELECT player_id AS p, upper(type) AS t FROM game_events WHERE amount > 0) AS s(pid) WHERE t <> 'X'")).toEqual([
      '->  Project player_id AS pid, upper(type) AS t (append)',
      "  ->  Filter ((amount > 0) AND (upper(type) <> 'X'))",
      '    ->  StreamScan game_events (shared, 4 partitions) watermark=ts',
    ])
  })

  it('merges nested subqueries and a subquery over a window', () => {
    const p = plan(`SELECT window_start, sum(x) AS s FROM (SELECT window_start, a + 1 AS x FROM
      (SELECT * FROM TUMBLE(game_events, ts, INTERVAL '1 minute') WHERE amount IS NOT NULL) w(pl, ty, a)) q GROUP BY window_start`)
    expect(p.window).toMatchObject({ kind: 'tumble' })
    expect(explainView('v', p)[2]).toContain('aggregates=[sum(+(amount, 1::int4))]')
  })

  it('windows a subquery with TUMBLE, HOP and SESSION; DESCRIPTOR(ts) names the time column', () => {
    const sub = "(SELECT player_id, amount * 2 AS a, ts FROM game_events WHERE type = 'buy')"
    expect(explain(`SELECT window_start, count(*) AS n, sum(a) FROM TUMBLE(${sub}, DESCRIPTOR(ts), INTERVAL '1 minute') GROUP BY window_start, window_end`).slice(3)).toEqual([
      "      ->  Filter (type = 'buy')",
      '        ->  TumbleWindow time=ts size=00:01:00',
      '          ->  StreamScan game_events (shared, 4 partitions) watermark=ts',
    ])
    const hop = plan(`SELECT t.window_end, sum(t.a) FROM HOP(${sub}, ts, INTERVAL '1 minute', INTERVAL '5 minutes') t GROUP BY t.window_end`)
    expect(hop.window).toMatchObject({ kind: 'hop', timeIndex: 3 })
    // SESSION: the subquery's WHERE decides which events exist (and shape sessions), the outer one what counts.
    expect(explain(`SELECT player_id, window_start, count(*) FROM SESSION((SELECT * FROM game_events g WHERE g.type = 'buy'), ts, INTERVAL '1 minute', player_id) s
      WHERE amount > 3 GROUP BY player_id, window_start, window_end`).slice(3)).toEqual([
      '      ->  Filter (amount > 3)',
      '        ->  SessionWindow time=ts gap=00:01:00 key=[player_id] (merging)',
      "          ->  Filter (subquery) (type = 'buy')",
      '            ->  StreamScan game_events (shared, 4 partitions) watermark=ts',
    ])
  })

  it('computes window functions over a subquery, ordered by its event time passed through', () => {
    const p = plan('SELECT pid, t, sum(a) OVER (PARTITION BY pid ORDER BY t) AS so_far FROM (SELECT player_id AS pid, amount * 2 AS a, ts AS t FROM game_events WHERE amount > 0) s')
    expect(p.body).toMatchObject({ kind: 'over', timeIndex: 3 })
    expect(p.filter).not.toBeNull()
  })

  it('windows by a renamed time column of the stream; refuses a second window and LATERAL', () => {
    const p = plan("SELECT window_end, count(*) FROM TUMBLE((SELECT ts AS t, type FROM game_events), t, INTERVAL '1 minute') GROUP BY window_end")
    expect(p.window).toMatchObject({ kind: 'tumble', timeIndex: 3 })
    const twice = failure("SELECT count(*) FROM TUMBLE((SELECT * FROM TUMBLE(game_events, ts, INTERVAL '1 minute')), ts, INTERVAL '5 minutes') GROUP BY window_start")
    expect(twice).toMatchObject({ sqlstate: '0A000', message: expect.stringContaining('already has a window') })
    expect(failure('SELECT * FROM LATERAL (SELECT player_id FROM game_events) l').sqlstate).toBe('0A000')
  })

  it("accepts Flink's table-valued form TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), ...)), over a subquery too", () => {
    const direct = plan("SELECT window_start, count(*) FROM TABLE(TUMBLE(TABLE game_events, DESCRIPTOR(ts), INTERVAL '1' MINUTES)) GROUP BY window_start")
    expect(direct.window).toMatchObject({ kind: 'tumble', size: 60_000_000 })
    const sub = plan("SELECT w.window_end, sum(w.a) FROM TABLE(HOP((SELECT amount AS a, ts FROM game_events WHERE type = 'buy'), DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE)) AS w GROUP BY w.window_end")
    expect(sub.window).toMatchObject({ kind: 'hop', slide: 60_000_000, size: 120_000_000 })
    expect(failure("SELECT count(*) FROM TABLE(TUMBLE(TABLE nowhere, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start")).toMatchObject({ sqlstate: '42P01', at: 'nowhere' })
  })

  it('windows a CTE by its name and joins a subquery to a keyed view', () => {
    const p = plan("WITH b AS (SELECT player_id AS pid, ts FROM game_events WHERE type = 'buy') SELECT window_start, count(*) FROM TUMBLE(b, ts, INTERVAL '1 hour') GROUP BY window_start")
    expect(p.window).toMatchObject({ kind: 'tumble', timeIndex: 3 })
    const j = plan('SELECT s.pid, l.level, s.a FROM (SELECT player_id AS pid, amount AS a FROM game_events) s JOIN levels l ON l.player_id = s.pid')
    expect(j.join).toMatchObject({ view: 'levels', keyIndexes: [0] })
    expect(j.columns.map((c) => c.name)).toEqual(['pid', 'level', 'a'])
  })

  it('refuses what it cannot merge with 0A000 at the place', () => {
    expect(failure('SELECT p, sum(n) FROM (SELECT player_id AS p, count(*) AS n FROM game_events GROUP BY player_id) s GROUP BY p')).toMatchObject({ sqlstate: '0A000', at: 'player_id', message: expect.stringContaining('cannot GROUP BY') })
    expect(failure('SELECT n FROM (SELECT count(*) AS n FROM game_events) s').sqlstate).toBe('0A000')
    expect(failure("SELECT count(*) FROM TUMBLE((SELECT ts + INTERVAL '1 hour' AS t FROM game_events), t, INTERVAL '1 minute') GROUP BY window_start")).toMatchObject({ sqlstate: '0A000', at: 't' })
    expect(failure('SELECT * FROM (SELECT player_id FROM game_events UNION ALL SELECT player_id FROM game_events) u').sqlstate).toBe('0A000')
    expect(failure('SELECT * FROM (SELECT DISTINCT type FROM game_events) d').sqlstate).toBe('0A000')
    expect(failure('SELECT * FROM (SELECT e.player_id FROM game_events e JOIN levels l USING (player_id)) j')).toMatchObject({ sqlstate: '0A000' })
    expect(failure('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r').sqlstate).toBe('0A000')
    expect(failure('SELECT r, r + 1 FROM (SELECT random() AS r FROM game_events) s').sqlstate).toBe('0A000')
  })

  it('refuses subqueries in expressions of a continuous view with 0A000 and a hint', () => {
    const scalar = failure('SELECT player_id, (SELECT max(level) FROM levels) FROM game_events')
    expect(scalar).toMatchObject({ sqlstate: '0A000', at: '(SELECT max(level) FROM levels)', message: expect.stringContaining('cannot evaluate a subquery') })
    expect(failure('SELECT player_id FROM game_events WHERE player_id IN (SELECT player_id FROM levels)')).toMatchObject({ sqlstate: '0A000', at: 'IN (SELECT player_id FROM levels)' })
  })

  it('names unknown and ambiguous columns of a subquery with their position', () => {
    expect(failure('SELECT s.nope FROM (SELECT player_id FROM game_events) s')).toMatchObject({ sqlstate: '42703', at: 's.nope' })
    expect(failure('SELECT x FROM (SELECT player_id AS x, amount AS x FROM game_events) s')).toMatchObject({ sqlstate: '42702', at: 'x' })
    // The stream's columns the subquery leaves out, and its FROM alias, are not in the outer query's scope.
    expect(failure('SELECT p FROM (SELECT player_id AS p FROM game_events) s WHERE amount > 1')).toMatchObject({ sqlstate: '42703', at: 'amount' })
    expect(failure('SELECT g.type FROM (SELECT player_id FROM game_events g) s')).toMatchObject({ sqlstate: '42P01', at: 'g.type' })
    // GROUP BY may name an output column; the joined view's columns stay its own.
    const p = plan('SELECT p * 2 AS dbl, count(*) FROM (SELECT player_id AS p FROM game_events) s GROUP BY dbl')
    expect(p.columns.map((c) => c.name)).toEqual(['dbl', 'count'])
    expect(plan('SELECT s.p, level FROM (SELECT player_id AS p FROM game_events) s JOIN levels l ON l.player_id = s.p').columns.map((c) => c.name)).toEqual(['p', 'level'])
  })
})
