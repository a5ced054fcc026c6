/** Which HOP views are aggregated per slice of time, planned from SQL over a real catalog. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { sliceSpec } from './hop-slices.ts'
import { planStream } from './stream-plan.ts'
import { explainView, planView, type ViewPlan } from './view-plan.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

const plan = (select: string): ViewPlan => planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)
const hop = (rest: string, slide = "INTERVAL '2 minutes'", size = "INTERVAL '10 minutes'") => `FROM HOP(ev, ts, ${slide}, ${size}) ${rest}`
const MINUTE = 60_000_000

describe('sliced HOP windows', () => {
  it('slices by the greatest common divisor of size and slide, and finds the window keys', () => {
    const p = plan(`SELECT player_id, window_start, count(*), sum(amount), avg(amount), min(amount), max(amount) ${hop('GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE')}`)
    expect(sliceSpec(p)).toEqual({ length: 2 * MINUTE, startKeys: [1], endKeys: [2] })
    const odd = plan(`SELECT count(*) ${hop('GROUP BY window_end EMIT ON WINDOW CLOSE', "INTERVAL '4 minutes'", "INTERVAL '10 minutes'")}`)
    expect(sliceSpec(odd)).toEqual({ length: 2 * MINUTE, startKeys: [], endKeys: [0] })
    expect(explainView('v', p).join('\n')).toContain('aggregated per 00:02:00 slice')
  })


  it('aggregates per window where slices would not give the same answer, or are not needed', () => {
    const notSliced = [
      // Open windows are shown as they grow: each needs its own accumulator.
      `SELECT count(*) ${hop('GROUP BY window_start')}`,
      // Aggregates whose partial results do not combine.
      `SELECT count(DISTINCT player_id) ${hop('GROUP BY window_start EMIT ON WINDOW CLOSE')}`,
      `SELECT last_value(amount) ${hop('GROUP BY window_start EMIT ON WINDOW CLOSE')}`,
      // A WHERE, an aggregate or a key that reads the window would see the slice instead.
      `SELECT count(*) ${hop("WHERE ts > window_start + INTERVAL '1 minute' GROUP BY window_start EMIT ON WINDOW CLOSE")}`,
      `SELECT max(window_end) ${hop('GROUP BY window_start EMIT ON WINDOW CLOSE')}`,
      `SELECT count(*) ${hop("GROUP BY window_start, window_end - INTERVAL '1 minute' EMIT ON WINDOW CLOSE")}`,
      // TUMBLE has one window per event already.
      `SELECT count(*) FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY window_start EMIT ON WINDOW CLOSE`,
    ]
    for (const sql of notSliced) expect(sliceSpec(plan(sql)), sql).toBeNull()
  })
})
