/** Which views a cluster splits into per-partition tasks and which run once, in the global task. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { hiddenNames, planViewWithHidden } from '../planner/hidden-views.ts'
import { globalStatements, placeCatalog, repartitionKeys, type Placement } from './placement.ts'
import { repartitionPlan, repartitionPlans } from './repartition.ts'
import { joinSideKeys } from './joins.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  for (const sql of [
    `CREATE STREAM plays (player TEXT NOT NULL, score INT, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (connector = 'kafka', topic = 'plays', key = 'player')`,
    `CREATE STREAM clicks (player TEXT NOT NULL, page TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'clicks', key = 'player')`,
    `CREATE STREAM unkeyed (player TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'unkeyed')`,
  ]) {
    catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  }
})

/** Creates the view in the test catalog (with its hidden views) and returns the placement of every view so far. */
function create(name: string, select: string): Map<string, Placement> {
  const sql = `CREATE MATERIALIZED VIEW ${name} AS ${select}`
  const def = planViewWithHidden(parseStatement(sql) as ast.CreateView, catalog, sql, { outer: () => catalog.allocateId(), hidden: hiddenNames(name, catalog, () => catalog.allocateId()) })
  for (const d of [...(def.plan.hidden ?? []), def]) catalog.add(d)
  return placeCatalog(catalog.views())
}

const placed = (name: string, select: string): Placement | undefined => create(name, select).get(name)

describe('placement of views in a cluster', () => {
  it('a view keyed by the stream key, or keeping no state, runs per task', () => {
    expect(placed('per_player', 'SELECT player, count(*) AS n, sum(score) AS total FROM plays GROUP BY player')).toBe('partitioned')
    expect(placed('per_player_kind', 'SELECT kind, player, count(*) AS n FROM plays GROUP BY kind, player')).toBe('partitioned')
    expect(placed('big', 'SELECT player, score FROM plays WHERE score > 90')).toBe('partitioned')
    expect(placed('per_player_minute', `SELECT player, window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY player, window_start`)).toBe('partitioned')
    expect(placed('sessions', `SELECT player, window_start, count(*) AS n FROM SESSION(plays, ts, INTERVAL '5 minutes', player) GROUP BY player, window_start`)).toBe('partitioned')
    expect(placed('running', 'SELECT player, ts, sum(score) OVER (PARTITION BY player ORDER BY ts) AS run FROM plays')).toBe('partitioned')
    expect(
      placed(
        'streaks',
        `SELECT * FROM plays MATCH_RECOGNIZE (PARTITION BY player ORDER BY ts MEASURES FIRST(L.ts) AS first_loss, MATCH_NUMBER() AS n ONE ROW PER MATCH PATTERN (L L L) DEFINE L AS kind = 'loss') AS m`,
      ),
    ).toBe('partitioned')
  })

  it('a GROUP BY of other columns than the stream key, without window or join, is repartitioned by its key', () => {
    expect(placed('per_kind', 'SELECT kind, count(*) AS n FROM plays GROUP BY kind')).toBe('repartitioned')
    expect(placed('per_upper', 'SELECT upper(player) AS p, count(*) AS n FROM plays GROUP BY upper(player)')).toBe('repartitioned')
    expect(placed('big_per_kind', 'SELECT kind, score, count(*) AS n FROM plays WHERE score > 50 GROUP BY kind, score HAVING count(*) > 1')).toBe('repartitioned')
    // A stream without a key spreads its events round robin: every group is repartitioned.
    expect(placed('unkeyed_counts', 'SELECT player, count(*) AS n FROM unkeyed GROUP BY player')).toBe('repartitioned')
    expect(repartitionKeys((catalog.get('per_kind') as ViewDef))).toHaveLength(1)
    expect(repartitionKeys((catalog.get('per_player') as ViewDef))).not.toBeNull()
  })

  it('a view that adds up over every key, or keeps event-time state by another key, is global', () => {
    // (Unless its aggregates combine from partials: two-phase aggregation, partials.test.ts.)
    expect(placed('per_minute', `SELECT window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start`)).toBe('repartitioned')
    expect(placed('everything', 'SELECT count(*) AS n FROM plays')).toBe('repartitioned')
    expect(placed('minute_players', `SELECT window_start, count(DISTINCT player) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start`)).toBe('global')
    expect(placed('everyone', 'SELECT count(DISTINCT player) AS n FROM plays')).toBe('global')
    // OVER and patterns without PARTITION BY: one partition of every row.
    expect(placed('all_over', 'SELECT player, ts, sum(score) OVER (ORDER BY ts) AS run FROM plays')).toBe('global')
    expect(placed('all_streaks', `SELECT * FROM plays MATCH_RECOGNIZE (ORDER BY ts MEASURES MATCH_NUMBER() AS n ONE ROW PER MATCH PATTERN (L L) DEFINE L AS score < 10) AS m`)).toBe('global')
    // A SESSION over a subquery's WHERE, or a window grouped by its window columns alone.
    expect(placed('kind_sessions_sub', `SELECT kind, window_start, count(*) AS n FROM SESSION((SELECT * FROM plays WHERE score > 1), ts, INTERVAL '5 minutes', kind) GROUP BY kind, window_start`)).toBe('global')
    expect(placed('hop_minute', `SELECT window_start, window_end, count(*) AS n FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '2 minutes') GROUP BY window_start, window_end`)).toBe('repartitioned')
    expect(placed('hop_players', `SELECT window_start, window_end, count(DISTINCT player) AS n FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '2 minutes') GROUP BY window_start, window_end`)).toBe('global')
    expect(create('kind_ttl WITH (idle_ttl = INTERVAL \'1 hour\')', 'SELECT kind, max(ts) AS last_seen FROM plays GROUP BY kind').get('kind_ttl')).toBe('global')
    expect(placed('unkeyed_rows', 'SELECT player FROM unkeyed')).toBe('partitioned')
    // A view of a repartitioned view is global (it runs in the global task, which computes per_kind itself).
    expect(placed('kinds_by_n', 'SELECT n, count(*) AS kinds FROM per_kind GROUP BY n')).toBe('global')
    const all = placeCatalog(catalog.views())
    expect(globalStatements(catalog.views(), all).has('per_kind')).toBe(true)
    expect(globalStatements(catalog.views(), all).has('big_per_kind')).toBe(false)
  })

  it('OVER and MATCH_RECOGNIZE partitioned by other columns are repartitioned by their PARTITION BY, WHERE left to the view', () => {
    expect(placed('by_kind_over', 'SELECT player, ts, sum(score) OVER (PARTITION BY kind ORDER BY ts) AS run FROM plays WHERE score > 2')).toBe('repartitioned')
    expect(placed('kind_streaks', `SELECT * FROM plays MATCH_RECOGNIZE (PARTITION BY kind ORDER BY ts MEASURES MATCH_NUMBER() AS n ONE ROW PER MATCH PATTERN (L L) DEFINE L AS score < 10) AS m`)).toBe('repartitioned')
    expect(placed('band_over', 'SELECT player, ts, count(*) OVER (PARTITION BY score / 10 ORDER BY ts) AS n FROM plays')).toBe('repartitioned')
    expect(repartitionKeys(catalog.get('kind_streaks') as ViewDef)!.map((k) => (k.kind === 'column' ? k.name : k.kind))).toEqual(['kind'])
    expect(repartitionKeys(catalog.get('band_over') as ViewDef)!.map((k) => k.kind)).toEqual(['call'])
    // The task engines' SQL reads the internal stream and plans to the same columns.
    for (const name of ['by_kind_over', 'kind_streaks']) {
      const view = catalog.get(name) as ViewDef
      const plan = repartitionPlan('c1', view, catalog.stream('plays'))
      expect(plan.viewSql, name).toContain('"_sluice_repartition_')
      const task = new Catalog()
      task.add(planStream(parseStatement(plan.streamSql) as ast.CreateStream, task.allocateId(), plan.streamSql))
      const def = planViewWithHidden(parseStatement(plan.viewSql) as ast.CreateView, task, plan.viewSql, { outer: () => task.allocateId(), hidden: hiddenNames(name, task, () => task.allocateId()) })
      expect(def.plan.columns, name).toEqual(view.plan.columns)
    }
  })

  it('TUMBLE and HOP grouped by other columns, and SESSION keyed by other columns, are repartitioned by those', () => {
    expect(placed('kind_minute', `SELECT kind, window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY kind, window_start`)).toBe('repartitioned')
    expect(placed('kind_hop', `SELECT kind, window_start, window_end, max(score) AS top FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '5 minutes') WHERE score > 3 GROUP BY window_start, window_end, kind EMIT ON WINDOW CLOSE`)).toBe('repartitioned')
    expect(placed('kind_sessions', `SELECT kind, window_start, count(*) AS n FROM SESSION(plays, ts, INTERVAL '5 minutes', kind) GROUP BY kind, window_start`)).toBe('repartitioned')
    // The key leaves the window's columns out (every window of a kind in one task)...
    const keys = repartitionKeys(catalog.get('kind_hop') as ViewDef)!
    expect(keys.map((k) => (k.kind === 'column' ? k.name : k.kind))).toEqual(['kind'])
    // ...expressions of other columns stay in it; a SESSION's key is its key columns.
    expect(placed('score_minute', `SELECT score / 10 AS band, window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY score / 10, window_start`)).toBe('repartitioned')
    expect(repartitionKeys(catalog.get('score_minute') as ViewDef)!.map((k) => k.kind)).toEqual(['call'])
    expect(repartitionKeys(catalog.get('kind_sessions') as ViewDef)!.map((k) => (k.kind === 'column' ? k.index : -1))).toEqual([2])

    // Their SQL over the internal stream plans, to the same columns (the window keeps the stream's name).
    for (const [name, over] of [['kind_minute', 'TUMBLE("_sluice_repartition_kind_minute", ts, INTERVAL \'1 minute\') AS "plays"'], ['kind_sessions', 'SESSION("_sluice_repartition_kind_sessions", ts, INTERVAL \'5 minutes\', kind) AS "plays"']] as const) {
      const view = catalog.get(name) as ViewDef
      const plan = repartitionPlan('c1', view, catalog.stream('plays'))
      expect(plan.viewSql).toContain(over)
      const task = new Catalog()
      task.add(planStream(parseStatement(plan.streamSql) as ast.CreateStream, task.allocateId(), plan.streamSql))
      const def = planViewWithHidden(parseStatement(plan.viewSql) as ast.CreateView, task, plan.viewSql, { outer: () => task.allocateId(), hidden: hiddenNames(name, task, () => task.allocateId()) })
      expect(def.plan.columns).toEqual(view.plan.columns)
    }
    const aliased = create('aliased_hop', `SELECT w.kind, w.window_start, count(*) AS n FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '2 minutes') AS w WHERE w.score > 1 GROUP BY w.kind, w.window_start`)
    expect(aliased.get('aliased_hop')).toBe('repartitioned')
    expect(repartitionPlan('c1', catalog.get('aliased_hop') as ViewDef, catalog.stream('plays')).viewSql).toContain(`FROM HOP("_sluice_repartition_aliased_hop", ts, INTERVAL '1 minute', INTERVAL '2 minutes') AS w WHERE`)
  })

  it("a repartitioned view's task engines read an internal stream on its own topic", () => {
    const view = (catalog.get('big_per_kind') as ViewDef)
    const plan = repartitionPlan('c1', view, catalog.stream('plays'))
    expect(plan.topic).toMatch(/^_sluice_c1_big_per_kind_[0-9a-f]{8}_repartition$/)
    expect(plan.streamSql).toMatch(/^CREATE STREAM "_sluice_repartition_big_per_kind" \(player TEXT NOT NULL, .*\) WITH \(key = 'player', connector = 'kafka', topic = '_sluice_c1_big_per_kind_[0-9a-f]{8}_repartition', start = 'earliest'\)$/)
    expect(plan.viewSql).toBe(`CREATE MATERIALIZED VIEW big_per_kind AS SELECT kind, score, count(*) AS n FROM "_sluice_repartition_big_per_kind" AS "plays" WHERE score > 50 GROUP BY kind, score HAVING count(*) > 1`)
    // Both plan: the stream, then the view over it, with the same columns as the original.
    const task = new Catalog()
    task.add(planStream(parseStatement(plan.streamSql) as ast.CreateStream, task.allocateId(), plan.streamSql))
    const def = planViewWithHidden(parseStatement(plan.viewSql) as ast.CreateView, task, plan.viewSql, { outer: () => task.allocateId(), hidden: hiddenNames('big_per_kind', task, () => task.allocateId()) })
    expect(def.plan.columns.map((c) => c.name)).toEqual(view.plan.columns.map((c) => c.name))
    expect(def.plan.source.name).toBe('_sluice_repartition_big_per_kind')
    // An alias stays the alias; the topic changes with the view's SQL (a view created again differently).
    const aliased = create('aliased', 'SELECT p.kind, count(*) AS n FROM plays p GROUP BY p.kind').get('aliased')
    expect(aliased).toBe('repartitioned')
    const other = repartitionPlan('c1', (catalog.get('aliased') as ViewDef), catalog.stream('plays'))
    expect(other.viewSql).toContain('FROM "_sluice_repartition_aliased" p GROUP BY')
    expect(other.topic.slice(0, -20)).not.toBe(plan.topic.slice(0, -20))
  })

  it('views over views follow their inputs; the global task also runs the partitioned views a global one reads', () => {
    expect(placed('loud', 'SELECT player, count(*) AS streaks FROM streaks GROUP BY player')).toBe('partitioned')
    expect(placed('spread', 'SELECT n, count(*) AS players FROM per_player GROUP BY n')).toBe('global')
    expect(placed('after_global', 'SELECT n, count(*) AS minutes FROM per_minute GROUP BY n')).toBe('global')
    const all = placeCatalog(catalog.views())
    const global = globalStatements(catalog.views(), all)
    expect(global.has('spread') && global.has('per_player') && global.has('per_minute')).toBe(true)
    expect(global.has('streaks') || global.has('per_player_kind') || global.has('loud')).toBe(false)
  })

  it('a statement with an aggregating subquery is placed with its hidden views', () => {
    const sql = `WITH per AS (SELECT player, count(*) AS c FROM plays GROUP BY player) SELECT c, count(*) AS n FROM per GROUP BY c`
    expect(placed('hist', sql)).toBe('global')
    const local = `SELECT player, sum(c) AS c FROM (SELECT player, kind, count(*) AS c FROM plays GROUP BY player, kind) s GROUP BY player`
    expect(placed('busy_players', local)).toBe('partitioned')
  })

  it("a lookup of another stream's view keyed alike by the stream's key runs per task; by another column, globally", () => {
    expect(placed('clicks_per_player', 'SELECT player, count(*) AS clicks, max(page) AS last_page FROM clicks GROUP BY player')).toBe('partitioned')
    expect(placed('plays_with_clicks', 'SELECT p.player, p.score, c.clicks FROM plays p JOIN clicks_per_player c ON c.player = p.player')).toBe('partitioned')
    expect(placed('scores_by_clickers', 'SELECT p.player, sum(p.score) AS total, max(c.clicks) AS clicks FROM plays p LEFT JOIN clicks_per_player c ON c.player = p.player GROUP BY p.player')).toBe('partitioned')
    // By another column of the stream: the view's row for it lives in another task.
    expect(placed('plays_by_kind_clicks', 'SELECT p.player, c.clicks FROM plays p JOIN clicks_per_player c ON c.player = p.kind')).toBe('global')
    expect(placed('clicks_per_page', 'SELECT page, count(*) AS n FROM clicks GROUP BY page')).toBe('repartitioned')
    expect(placed('plays_by_page', 'SELECT p.player, c.n FROM plays p JOIN clicks_per_page c ON c.page = p.kind')).toBe('global')
    // A stream without a key spreads its events round robin.
    expect(placed('unkeyed_clicks', 'SELECT u.player, c.clicks FROM unkeyed u JOIN clicks_per_player c ON c.player = u.player')).toBe('global')
  })

  const WITHIN = `AND c.ts BETWEEN p.ts AND p.ts + INTERVAL '1 minute'`

  it('an interval join on both streams\' keys runs per task; a GROUP BY over it only by a preserved side\'s key', () => {
    expect(placed('joined', `SELECT p.player, c.page FROM plays p JOIN clicks c ON p.player = c.player ${WITHIN}`)).toBe('partitioned')
    expect(placed('joined_per_player', `SELECT p.player, count(*) AS n FROM plays p JOIN clicks c ON c.player = p.player ${WITHIN} GROUP BY p.player`)).toBe('partitioned')
    expect(placed('joined_per_click_player', `SELECT c.player, count(*) AS n FROM plays p JOIN clicks c ON c.player = p.player ${WITHIN} GROUP BY c.player`)).toBe('partitioned')
    // A LEFT join's unmatched rows have a NULL c.player: those groups would gather rows of every task.
    expect(placed('left_per_click_player', `SELECT c.player, count(*) AS n FROM plays p LEFT JOIN clicks c ON c.player = p.player ${WITHIN} GROUP BY c.player`)).toBe('global')
    expect(placed('left_per_player', `SELECT p.player, count(*) AS n FROM plays p LEFT JOIN clicks c ON c.player = p.player ${WITHIN} GROUP BY p.player`)).toBe('partitioned')
    expect(placed('joined_per_page', `SELECT c.page, count(*) AS n FROM plays p JOIN clicks c ON c.player = p.player ${WITHIN} GROUP BY c.page`)).toBe('global')
    // Joined on the key and something else: still one task per key.
    expect(placed('joined_more', `SELECT p.player FROM plays p JOIN clicks c ON c.player = p.player AND c.page = p.kind ${WITHIN}`)).toBe('partitioned')
  })

  it('an interval join on other columns is repartitioned: both streams by their side of the join key', () => {
    expect(placed('by_page', `SELECT p.player, c.page FROM plays p JOIN clicks c ON c.page = p.kind ${WITHIN}`)).toBe('repartitioned')
    expect(placed('by_page_counts', `SELECT c.page, count(*) AS n FROM plays p JOIN clicks c ON c.page = p.kind ${WITHIN} GROUP BY c.page`)).toBe('repartitioned')
    expect(placed('by_page_players', `SELECT c.player, count(*) AS n FROM plays p JOIN clicks c ON c.page = p.kind ${WITHIN} GROUP BY c.player`)).toBe('global')
    // One side's key is not enough: the other's rows of a key are in every partition.
    expect(placed('half_keyed', `SELECT p.player FROM plays p JOIN clicks c ON c.page = p.player ${WITHIN}`)).toBe('repartitioned')
    // A join whose equal keys are expressions, not columns, stays global.
    expect(placed('typed', `SELECT p.player FROM plays p JOIN clicks c ON c.page = p.score::text ${WITHIN}`)).toBe('global')

    // The task engines' SQL reads one internal stream per side, each keyed by its side's join key, and plans to the same columns.
    const view = catalog.get('by_page_counts') as ViewDef
    const plans = repartitionPlans('c1', view)
    expect(plans.map((p) => [p.source.name, p.stream])).toEqual([
      ['plays', '_sluice_repartition_by_page_counts'],
      ['clicks', '_sluice_repartition_by_page_counts/right'],
    ])
    expect(new Set(plans.map((p) => p.topic)).size).toBe(2)
    expect(plans[0]!.viewSql).toBe(plans[1]!.viewSql)
    expect(plans[0]!.viewSql).toContain(`FROM "_sluice_repartition_by_page_counts" p JOIN "_sluice_repartition_by_page_counts/right" c ON`)
    const task = new Catalog()
    for (const p of plans) task.add(planStream(parseStatement(p.streamSql) as ast.CreateStream, task.allocateId(), p.streamSql))
    const def = planViewWithHidden(parseStatement(plans[0]!.viewSql) as ast.CreateView, task, plans[0]!.viewSql, { outer: () => task.allocateId(), hidden: hiddenNames('by_page_counts', task, () => task.allocateId()) })
    expect(def.plan.columns).toEqual(view.plan.columns)
    expect(joinSideKeys(view, catalog.stream('plays'))!.map((k) => (k.kind === 'column' ? k.name : k.kind))).toEqual(['kind'])
    expect(joinSideKeys(view, catalog.stream('clicks'))!.map((k) => (k.kind === 'column' ? k.name : k.kind))).toEqual(['page'])
  })
})
