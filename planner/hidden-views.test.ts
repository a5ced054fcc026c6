/** Aggregating subqueries and CTEs cut out of a continuous view as hidden views, and planned with it. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { planStream } from './stream-plan.ts'
import { extractHiddenViews, hiddenNames, planViewWithHidden } from './hidden-views.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM game_events (player_id BIGINT NOT NULL, type TEXT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

const create = (select: string) => parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView
/** The hidden views' names with the relations their FROM reads, and what the outer query reads. */
function split(select: string): { hidden: string[]; outer: string[] } {
  let n = 0
  const { outer, hidden } = extractHiddenViews(create(select), () => `v$${++n}`)
  return { hidden: hidden.map((h) => `${h.name}: ${reads(h.stmt.query).join(', ')}`), outer: reads(outer.query) }
}

function reads(node: unknown): string[] {
  const out: string[] = []
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object') return
    if (Array.isArray(x)) return x.forEach(walk)
    const o = x as { kind?: string; name?: { parts?: string[] } }
    if (o.kind === 'table_ref') out.push(o.name!.parts!.join('.'))
    for (const [k, v] of Object.entries(x)) if (k !== 'span') walk(v)
  }
  walk(node)
  return out
}

describe('hidden views', () => {
  it('leaves a view without an aggregating subquery as it is', () => {
    const stmt = create('WITH b AS (SELECT player_id, amount FROM game_events) SELECT player_id, sum(amount) FROM b GROUP BY player_id')
    const { outer, hidden } = extractHiddenViews(stmt, () => 'x')
    expect(hidden).toEqual([])
    expect(outer).toBe(stmt)
  })

  it('cuts out nested aggregating CTEs inner first', () => {
    expect(split(`WITH per AS (SELECT player_id, count(*) AS c FROM game_events GROUP BY player_id),
      spread AS (SELECT c, count(*) AS n FROM per GROUP BY c) SELECT n, count(*) FROM spread GROUP BY n`)).toEqual({ hidden: ['v$1: game_events', 'v$2: v$1'], outer: ['v$2'] })
    expect(split(`WITH p AS (SELECT player_id, max(amount) AS m FROM game_events GROUP BY player_id)
      SELECT m, count(*) FROM (SELECT m FROM p UNION ALL SELECT m FROM p) u GROUP BY m`).hidden).toEqual([])
  })

  it('refuses to join an aggregating subquery: a lookup would see its rows as of each event, not as PostgreSQL joins them', () => {
    const sql = `SELECT e.player_id, p.m FROM game_events e JOIN (SELECT player_id, max(amount) AS m FROM game_events GROUP BY player_id) p USING (player_id)`
    expect(() => split(sql)).toThrow(/cannot be joined/)
    expect(split(`SELECT p.m, count(*) FROM game_events e JOIN (SELECT player_id, amount AS m FROM game_events) p USING (player_id) GROUP BY p.m`).hidden).toEqual([])
  })

  it('finds an aggregate inside a subquery that does not aggregate, under a window, and window functions and DISTINCT', () => {
    expect(split('SELECT x, count(*) FROM (SELECT m * 2 AS x FROM (SELECT player_id, max(amount) AS m FROM game_events GROUP BY player_id) a) b GROUP BY x')).toEqual({ hidden: ['v$1: game_events'], outer: ['v$1'] })
    expect(split("SELECT n, count(*) FROM (SELECT player_id, count(*) AS n FROM TUMBLE(game_events, ts, INTERVAL '1 minute') GROUP BY player_id, window_start) w GROUP BY n").hidden).toEqual(['v$1: game_events'])
    expect(split('SELECT r, count(*) FROM (SELECT row_number() OVER (PARTITION BY player_id ORDER BY ts) AS r FROM game_events) x GROUP BY r').hidden).toEqual(['v$1: game_events'])
    expect(split('SELECT t, count(*) FROM (SELECT DISTINCT type AS t, player_id FROM game_events) d GROUP BY t').hidden).toEqual(['v$1: game_events'])
  })

  it('plans DISTINCT in a subquery as a GROUP BY of its columns', () => {
    const { hidden } = extractHiddenViews(create('SELECT t, count(*) FROM (SELECT DISTINCT upper(type) AS t, player_id FROM game_events) d GROUP BY t'), () => 'v$1')
    const q = hidden[0]!.stmt.query as ast.Select
    expect([q.distinct, q.groupBy.map((g) => g.kind)]).toEqual([false, ['func_call', 'column_ref']])
  })

  it('takes EMIT ON WINDOW CLOSE at the end of a CTE or subquery for its hidden view, not for the view', () => {
    const { outer, hidden } = extractHiddenViews(
      create(`WITH pm AS (SELECT player_id, window_start AS ws, count(*) AS n FROM TUMBLE(game_events, ts, INTERVAL '1 minute')
        GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE) SELECT n, count(*) FROM pm GROUP BY n`),
      () => 'v$1',
    )
    expect(hidden.map((h) => (h.stmt.query as ast.Select).emit)).toEqual(['on_window_close'])
    expect((outer.query as ast.Select).emit).toBeUndefined()
    expect(() => parseStatement("SELECT * FROM (SELECT count(*) FROM game_events EMIT ON WINDOW CLOSE) s")).toThrow(/syntax error/)
  })

  it('gives the hidden view the column names of the CTE, and plans it with the view', () => {
    const def = planViewWithHidden(create('WITH p(pid, best) AS (SELECT player_id, max(amount) FROM game_events GROUP BY player_id) SELECT best, count(*) AS n FROM p GROUP BY best'), catalog, '', {
      outer: () => 10,
      hidden: () => ({ name: 'v$1', id: 9 }),
    })
    expect(def.plan.hidden?.map((h) => [h.name, h.id, h.owner, h.columns.map((c) => c.name)])).toEqual([['v$1', 9, 'v', ['pid', 'best']]])
    expect(def.plan.source.name).toBe('v$1')
    expect(def.columns.map((c) => c.name)).toEqual(['best', 'n'])
    // Only planned: the catalog is as it was.
    expect(catalog.has('v$1')).toBe(false)
  })

  it('leaves the catalog as it was when the view fails to plan, and names the subquery in errors about it', () => {
    const fail = (select: string) => {
      try {
        planViewWithHidden(create(select), catalog, '', { outer: () => 2, hidden: hiddenNames('v', catalog, () => 1) })
      } catch (e) {
        return e as { sqlstate: string; message: string }
      }
      throw new Error('planned')
    }
    expect(fail('WITH p AS (SELECT player_id, max(amount) AS m FROM game_events GROUP BY player_id) SELECT nope FROM p')).toMatchObject({ sqlstate: '42703' })
    expect(fail('SELECT player_id FROM (SELECT player_id, max(amount) AS m FROM game_events GROUP BY player_id) s WHERE m > 1')).toMatchObject({
      sqlstate: '0A000',
      message: expect.stringMatching(/^the aggregating subquery changes its rows/),
    })
    expect(catalog.views()).toEqual([])
  })
})
