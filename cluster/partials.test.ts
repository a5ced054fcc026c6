/** Two-phase aggregation: which views are split into partials, the SQL of both sides, the writer's fold. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { hiddenNames, planViewWithHidden } from '../planner/hidden-views.ts'
import { placeCatalog } from './placement.ts'
import { PartialFold, partialPlan } from './partials.ts'
import { repartitionPlans } from './repartition.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  for (const sql of [
    `CREATE STREAM plays (player TEXT NOT NULL, score INT, amount NUMERIC, ratio DOUBLE PRECISION, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (connector = 'kafka', topic = 'plays', key = 'player', allowed_lateness = '30 seconds')`,
    `CREATE STREAM local_plays (player TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)`,
  ]) {
    catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  }
})

function create(name: string, select: string): ViewDef {
  const sql = `CREATE MATERIALIZED VIEW ${name} AS ${select}`
  const def = planViewWithHidden(parseStatement(sql) as ast.CreateView, catalog, sql, { outer: () => catalog.allocateId(), hidden: hiddenNames(name, catalog, () => catalog.allocateId()) })
  for (const d of [...(def.plan.hidden ?? []), def]) catalog.add(d)
  return def
}

const MINUTE = `TUMBLE(plays, ts, INTERVAL '1 minute')`

/** The task engines' SQL planned on a catalog of the internal stream: the same columns as the view's. */
function plannedOnTask(view: ViewDef): ViewDef {
  const [plan] = repartitionPlans('c1', view)
  const task = new Catalog()
  task.add(planStream(parseStatement(plan!.streamSql) as ast.CreateStream, task.allocateId(), plan!.streamSql))
  return planViewWithHidden(parseStatement(plan!.viewSql) as ast.CreateView, task, plan!.viewSql, { outer: () => task.allocateId(), hidden: hiddenNames(view.name, task, () => task.allocateId()) })
}

describe('two-phase aggregation', () => {
  it('splits aggregations over no key but a TUMBLE window, or none, whose aggregates combine exactly', () => {
    const split = [
      ['per_minute', `SELECT window_start, window_end, count(*) AS n, sum(score) AS total, min(kind) AS first_kind, max(ts) AS last, avg(score) AS mean, sum(amount) AS spent FROM ${MINUTE} WHERE kind <> 'bot' GROUP BY window_start, window_end`],
      ['per_minute_closed', `SELECT window_start, count(*) FILTER (WHERE score > 50) AS high, count(kind) AS kinds FROM ${MINUTE} GROUP BY window_start HAVING count(*) > 1 EMIT ON WINDOW CLOSE`],
      ['all_time', `SELECT count(*) AS n, sum(score) * 2 AS double_total, avg(amount) AS mean FROM plays WHERE score > 3`],
      ['hop_counts', `SELECT window_start, window_end, count(*) AS n, max(score) AS top FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '5 minutes') GROUP BY window_start, window_end`],
    ]
    for (const [name, select] of split) {
      const view = create(name!, select!)
      expect(partialPlan(view), name).not.toBeNull()
      expect(placeCatalog(catalog.views()).get(name!), name).toBe('repartitioned')
      expect(plannedOnTask(view).plan.columns.map((c) => [c.name, c.type.name]), name).toEqual(view.plan.columns.map((c) => [c.name, c.type.name]))
    }
    const kept = [
      ['distinct_players', `SELECT window_start, count(DISTINCT player) AS n FROM ${MINUTE} GROUP BY window_start`],
      ['float_sum', `SELECT window_start, sum(ratio) AS r FROM ${MINUTE} GROUP BY window_start`],
      ['session_counts', `SELECT window_start, count(*) AS n FROM SESSION(plays, ts, INTERVAL '1 minute') GROUP BY window_start`],
      ['players_list', `SELECT window_start, string_agg(player, ',') AS who FROM ${MINUTE} GROUP BY window_start`],
      ['local_counts', `SELECT count(*) AS n FROM local_plays`],
    ]
    for (const [name, select] of kept) {
      const view = create(name!, select!)
      expect(partialPlan(view), name).toBeNull()
      expect(placeCatalog(catalog.views()).get(name!), name).toBe('global')
    }
  })

  it('rewrites every aggregate call to its merge, reads the partial stream over _ts and drops the WHERE', () => {
    const [plan] = repartitionPlans('c1', catalog.get('per_minute') as ViewDef)
    expect(plan!.partial).toBeDefined()
    expect(plan!.topic).toMatch(/^_sluice_c1_per_minute_[0-9a-f]{8}_partials_repartition$/)
    expect(plan!.streamSql).toContain(`"_ts" timestamp with time zone NOT NULL`)
    expect(plan!.streamSql).toContain(`allowed_lateness = '30 seconds'`)
    expect(plan!.viewSql).toBe(
      `CREATE MATERIALIZED VIEW per_minute AS SELECT window_start, window_end, sum("_p0")::bigint AS n, sum("_p1")::bigint AS total, min("_p2") AS first_kind, max("_p3") AS last, (sum("_p4")::numeric / sum("_p5")) AS mean, sum("_p6") AS spent FROM TUMBLE("_sluice_repartition_per_minute", "_ts", INTERVAL '1 minute') AS "plays" GROUP BY window_start, window_end`,
    )
    const [closed] = repartitionPlans('c1', catalog.get('per_minute_closed') as ViewDef)
    // The same aggregate in SELECT and HAVING is one partial column, rewritten in both places.
    expect(closed!.viewSql).toContain(`HAVING sum("_p2")::bigint > 1 EMIT ON WINDOW CLOSE`)
    const [all] = repartitionPlans('c1', catalog.get('all_time') as ViewDef)
    expect(all!.viewSql).toBe(`CREATE MATERIALIZED VIEW all_time AS SELECT sum("_p0")::bigint AS n, sum("_p1")::bigint * 2 AS double_total, (sum("_p2")::numeric / sum("_p3")) AS mean FROM "_sluice_repartition_all_time" AS "plays" `)
  })

  it("folds a transaction's events into one partial row per window, after the WHERE and FILTER", () => {
    const fold = new PartialFold(partialPlan(catalog.get('per_minute_closed') as ViewDef)!)
    const ctx = { now: 0, user: 'sluice', database: 'sluice' }
    const at = (s: number) => Date.UTC(2026, 0, 1, 0, 0, s) * 1000
    // (player, score, amount, ratio, kind, ts)
    for (const [score, s] of [[60, 1], [10, 59], [70, 30], [90, 61], [null, 62]] as const) fold.add(['p', score, null, null, score === null ? null : 'k', at(s)], ctx)
    const rows = fold.drain().map((r) => ({ key: r.key, value: JSON.parse(r.value) as Record<string, unknown> }))
    expect(rows).toEqual([
      { key: String(at(0)), value: { _ts: '2026-01-01T00:00:59.000Z', _p0: 2, _p1: 3, _p2: 3 } },
      { key: String(at(60)), value: { _ts: '2026-01-01T00:01:02.000Z', _p0: 1, _p1: 1, _p2: 2 } },
    ])
    expect(fold.drain()).toEqual([])
  })

  it('folds HOP windows per slice: the gcd of size and slide', () => {
    const plan = partialPlan(catalog.get('hop_counts') as ViewDef)!
    expect(plan.window).toEqual({ size: 60_000_000, offset: 0 })
    // Windows overlap: every partial row to one task, which merges every window.
    const fold = new PartialFold(plan)
    const ctx = { now: 0, user: 'sluice', database: 'sluice' }
    for (const s of [1, 70, 200]) fold.add(['p', 1, null, null, 'k', Date.UTC(2026, 0, 1, 0, 0, s) * 1000], ctx)
    expect(fold.drain().map((r) => r.key)).toEqual(['', '', ''])
    const hop = partialPlan(create('hop_odd', `SELECT window_start, count(*) AS n FROM HOP(plays, ts, INTERVAL '40 seconds', INTERVAL '1 minute') GROUP BY window_start`))!
    expect(hop.window).toEqual({ size: 20_000_000, offset: 0 })
    expect(repartitionPlans('c1', hop.view)[0]!.viewSql).toContain(`FROM HOP("_sluice_repartition_hop_odd", "_ts", INTERVAL '40 seconds', INTERVAL '1 minute') AS "plays"`)
  })
})
