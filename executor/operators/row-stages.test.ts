/**
 * The row stages in front of a view's operator (lateness, window assignment, WHERE), built from views
 * planned from SQL, run on batches: which rows go on, with which window columns, and which are late.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../../parser/ast.ts'
import { initParser, parseStatement } from '../../parser/index.ts'
import { Catalog } from '../../planner/catalog.ts'
import { planStream } from '../../planner/stream-plan.ts'
import { planView, type ViewPlan } from '../../planner/view-plan.ts'
import { viewPlanTree } from '../../planner/view-plan-tree.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { Row } from '../../common/types.ts'
import { buildRowStages } from './build.ts'
import { Lateness, WINDOW_CLOSED } from './lateness.ts'
import { WindowAssign } from './window-assign.ts'
import type { RowBatch } from './operator.ts'

const ctx: EvalContext = { now: 0, user: 'test', database: 'test' }
const MIN = 60_000_000
let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, amount INT, ts TIMESTAMPTZ, WATERMARK FOR ts AS ts) WITH (key = 'player_id', allowed_lateness = INTERVAL '1 minute')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

const plan = (select: string): ViewPlan => planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)
const stagesOf = (select: string) => {
  const p = plan(select)
  return buildRowStages(viewPlanTree('v', p), { plan: p, ctx })
}
const batchOf = (rows: Row[]): RowBatch => ({ partition: 1, rows, offsets: rows.map((_, i) => 100 + i), signs: undefined, windowStarts: undefined, extras: undefined })

/** Runs the stages over `rows` at `watermark`; returns the batch after them and the late events as [offset, reason]. */
function run(select: string, rows: Row[], watermark: number): { batch: RowBatch; late: [number, string][]; names: string[] } {
  const { stages } = stagesOf(select)
  const batch = batchOf(rows)
  const late: [number, string][] = []
  for (const s of stages) s.apply(batch, watermark, (_p, offset, _t, reason) => late.push([offset, reason]))
  return { batch, late, names: stages.map((s) => s.describe()) }
}

describe('row stages built from the plan tree', () => {
  it('an unwindowed view: WHERE alone keeps the rows it holds for, with their offsets', () => {
    const { batch, late, names } = run('SELECT player_id FROM ev WHERE amount > 5', [[1, 3, 0], [2, 9, 0], [3, null, 0], [4, 6, 0]], 0)
    expect(names).toEqual(['Filter'])
    expect(batch.rows).toEqual([[2, 9, 0], [4, 6, 0]])
    expect(batch.offsets).toEqual([101, 103])
    expect(late).toEqual([])
  })

  it('TUMBLE: lateness drops events without a time or whose window closed, assignment adds the window columns', () => {
    // Watermark at minute 10, a minute of lateness: the window [8, 9) closed at 10, [9, 10) is open.
    const rows: Row[] = [[1, 1, 8.5 * MIN], [2, 1, 9.5 * MIN], [3, 1, null], [4, 1, 12 * MIN]]
    const { batch, late, names } = run("SELECT window_start, player_id FROM TUMBLE(ev, ts, INTERVAL '1 minute')", rows, 10 * MIN)
    expect(names).toEqual(['Lateness fixed', 'WindowAssign tumble'])
    expect(late).toEqual([
      [100, WINDOW_CLOSED],
      [102, 'event time is NULL'],
    ])
    expect(batch.rows).toEqual([[2, 1, 9.5 * MIN, 9 * MIN, 10 * MIN], [4, 1, 12 * MIN, 12 * MIN, 13 * MIN]])
    expect(batch.offsets).toEqual([101, 103])
    // Not an aggregation: rows are not shared, no window starts.
    expect(batch.windowStarts).toBeUndefined()
  })

  it('HOP aggregation: an event in its open windows only, one shared row, and WHERE sees each window', () => {
    // Windows of 3 minutes every minute; at watermark 10 (lateness 1) those ending at or before 9 are closed.
    const select = "SELECT window_end, count(*) FROM HOP(ev, ts, INTERVAL '1 minute', INTERVAL '3 minutes') WHERE window_start >= TIMESTAMPTZ '1970-01-01 00:07:00+00' GROUP BY window_start, window_end"
    const { batch, late, names } = run(select, [[1, 1, 8.5 * MIN]], 10 * MIN)
    expect(names).toEqual(['Lateness fixed', 'WindowAssign hop', 'Filter'])
    expect(late).toEqual([])
    // Windows covering 8.5: starting 8, 7, 6; the one starting 6 ended at 9 (closed); WHERE keeps 8 and 7.
    expect(batch.windowStarts).toEqual([8 * MIN, 7 * MIN])
    expect(batch.offsets).toEqual([100, 100])
    expect(batch.rows[0]).toBe(batch.rows[1])
  })

  it('SESSION: only a time is required; WHERE is left to the session operator', () => {
    const { batch, late, names } = run("SELECT player_id, count(*) FROM SESSION(ev, ts, INTERVAL '5 minutes', player_id) WHERE amount > 5 GROUP BY player_id, window_start, window_end", [[1, 1, 0], [2, 9, null]], 10 * MIN)
    expect(names).toEqual(['Lateness time_required'])
    expect(late).toEqual([[101, 'event time is NULL']])
    expect(batch.rows).toEqual([[1, 1, 0]])
  })
})

describe('lateness and window assignment on their own', () => {
  const hop = { kind: 'hop' as const, timeIndex: 0, size: 2 * MIN, slide: 3 * MIN, offset: 0 }

  it('a HOP whose size is below its slide has gaps: an event in a gap falls in no window and is late', () => {
    const lateness = new Lateness(0, { kind: 'fixed', window: hop, lateness: 0 })
    const batch = batchOf([[2.5 * MIN], [3.5 * MIN]])
    const late: number[] = []
    lateness.apply(batch, 0, (_p, offset) => late.push(offset))
    expect(late).toEqual([100])
    expect(batch.rows).toEqual([[3.5 * MIN]])
  })

  it('sliced HOP: each event once, in its slice, with the slice start; a joined view\'s columns after the window', () => {
    const w = { kind: 'hop' as const, timeIndex: 0, size: 4 * MIN, slide: 2 * MIN, offset: 0 }
    const assign = new WindowAssign(w, 1, 0, 2 * MIN, true)
    const batch = { ...batchOf([[5 * MIN]]), extras: [['joined']] }
    assign.apply(batch, 0)
    expect(batch.extras).toBeUndefined()
    expect(batch.rows).toEqual([[5 * MIN, 4 * MIN, 6 * MIN, 'joined']])
    expect(batch.windowStarts).toEqual([4 * MIN])
  })
})
