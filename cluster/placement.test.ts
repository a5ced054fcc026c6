/** Which views a cluster splits into per-partition tasks and which run once, in the global task. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { hiddenNames, planViewWithHidden } from '../planner/hidden-views.ts'
import { globalStatements, placeCatalog, type Placement } from './placement.ts'

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

  it('a view that adds up over keys, or whose key is not the stream key passed through, is global', () => {
    expect(placed('per_minute', `SELECT window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start`)).toBe('global')
    expect(placed('per_kind', 'SELECT kind, count(*) AS n FROM plays GROUP BY kind')).toBe('global')
    expect(placed('per_upper', 'SELECT upper(player) AS p, count(*) AS n FROM plays GROUP BY upper(player)')).toBe('global')
    expect(placed('everything', 'SELECT count(*) AS n FROM plays')).toBe('global')
    expect(placed('by_kind_over', 'SELECT player, ts, sum(score) OVER (PARTITION BY kind ORDER BY ts) AS run FROM plays')).toBe('global')
    expect(placed('unkeyed_counts', 'SELECT player, count(*) AS n FROM unkeyed GROUP BY player')).toBe('global')
    expect(placed('unkeyed_rows', 'SELECT player FROM unkeyed')).toBe('partitioned')
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

  it('an interval join of two streams is global (repartitioning is not built)', () => {
    expect(placed('joined', `SELECT p.player, c.page FROM plays p JOIN clicks c ON p.player = c.player AND c.ts BETWEEN p.ts AND p.ts + INTERVAL '1 minute'`)).toBe('global')
  })
})
