/** Views read by views: the stream a view becomes (time column, lag, changes, key) and how EXPLAIN shows it. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog, type ViewDef } from './catalog.ts'
import { planStream } from './stream-plan.ts'
import { explainView, planView, type ViewPlan } from './view-plan.ts'
import { viewAsStream } from './view-source.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)
    WITH (key = 'player_id', allowed_lateness = INTERVAL '5 seconds')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

const plan = (select: string): ViewPlan => planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)
function view(name: string, select: string): ViewDef {
  const p = plan(select)
  const def: ViewDef = { kind: 'view', id: catalog.allocateId(), name, columns: p.columns, plan: p, sql: select }
  catalog.add(def)
  return def
}
const SECOND = 1_000_000

describe('a view read as a stream', () => {
  it('closed windows: time from window_end, a lag of the lateness, final rows, the stream key kept', () => {
    const w = view('w_end', "SELECT window_end AS we, player_id, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE")
    const s = viewAsStream(w, undefined)
    expect(s.watermark?.columnIndex).toBe(0)
    expect(s.keyColumn).toBe(1)
    expect(s.allowedLateness).toBe(0)
    expect(s.source).toEqual({ kind: 'view', view: 'w_end', stream: 'ev', lag: 5 * SECOND, changes: false })
  })

  it('window_start alone: a lag of the lateness plus the window size', () => {
    const w = view('w_start', "SELECT window_start, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY window_start EMIT ON WINDOW CLOSE")
    expect(viewAsStream(w, undefined).source).toMatchObject({ lag: 65 * SECOND, changes: false })
  })

  it('rows without aggregation keep the event time and its lateness; a GROUP BY that changes is read as changes', () => {
    const p = viewAsStream(view('big', 'SELECT ts, amount FROM ev WHERE amount > 10'), undefined)
    expect(p.watermark?.columnIndex).toBe(0)
    expect(p.allowedLateness).toBe(5 * SECOND)
    expect(p.source).toMatchObject({ lag: 0, changes: false })
    const g = viewAsStream(view('spend', 'SELECT player_id, sum(amount) AS spent FROM ev GROUP BY player_id'), undefined)
    expect(g.watermark).toBeNull()
    expect(g.keyColumn).toBe(0)
    expect(g.source).toMatchObject({ changes: true })
  })

  it('SESSION windows with EMIT ON WINDOW CLOSE are read as closed sessions; growing sessions are refused', () => {
    const closed = view('sess', "SELECT player_id, window_start AS began, count(*) AS n FROM SESSION(ev, ts, INTERVAL '30 seconds', player_id) GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE")
    const s = viewAsStream(closed, undefined)
    expect(s.watermark?.columnIndex).toBe(1)
    // A session starts at least its gap before its end.
    expect(s.source).toMatchObject({ lag: 35 * SECOND, changes: false })
    const growing = view('sess_open', "SELECT player_id, count(*) AS n FROM SESSION(ev, ts, INTERVAL '30 seconds', player_id) GROUP BY player_id, window_start, window_end")
    expect(() => viewAsStream(growing, undefined)).toThrow(/needs EMIT ON WINDOW CLOSE/)
  })

  it('EXPLAIN names the view read and how', () => {
    const over = explainView('v', plan('SELECT player_id, max(n) FROM w_end GROUP BY player_id'))
    expect(over[over.length - 1]!.trim()).toBe('->  ViewRows w_end (each row once, as written; in step with it, time=we)')
    const changes = explainView('v', plan('SELECT count(*), sum(spent) FROM spend'))
    expect(changes[changes.length - 1]!.trim()).toBe('->  ViewRows spend (its changes: old rows withdrawn, new rows added; in step with it)')
  })
})
