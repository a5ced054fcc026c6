/**
 * checkpoint() of the operator contract: an operator built from its plan tree writes its own tables' changes
 * (a sliced HOP view's slices too) into the checkpoint's batch, once, and what was written reads back.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type * as ast from '../../parser/ast.ts'
import { initParser, parseStatement } from '../../parser/index.ts'
import { Catalog } from '../../planner/catalog.ts'
import { planStream } from '../../planner/stream-plan.ts'
import { planView, type ViewPlan } from '../../planner/view-plan.ts'
import { viewPlanTree } from '../../planner/view-plan-tree.ts'
import { sliceSpec } from '../../planner/hop-slices.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { Row, Value } from '../../common/types.ts'
import { CacheBudget } from '../state/budget.ts'
import { rowCodec } from '../state/codec.ts'
import { positionKey, tableKey, tableKeyString } from '../state/layout.ts'
import { StateDb, type Mutation } from '../state/rocks.ts'
import { StateTable } from '../state/table.ts'
import { buildOperator } from './build.ts'
import type { StreamOperator } from './operator.ts'

const ctx: EvalContext = { now: 0, user: 'test', database: 'test' }
const ID = 7
const SLICES = 8
let catalog: Catalog
let dir: string
let db: StateDb
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-op-checkpoint-'))
  db = await StateDb.open(dir)
})
afterEach(async () => {
  await db.close()
  await rm(dir, { recursive: true, force: true })
})

const plan = (select: string): ViewPlan => planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)

function build(p: ViewPlan, fresh: boolean): { operator: StreamOperator; table: StateTable<Value[]>; slices: StateTable<Value[]> } {
  const budget = new CacheBudget(10_000)
  const table = new StateTable<Value[]>(db, ID, rowCodec, budget, fresh)
  const slices = new StateTable<Value[]>(db, SLICES, rowCodec, budget, fresh)
  const spec = sliceSpec(p)
  const operator = buildOperator(viewPlanTree('v', p), {
    plan: p,
    table,
    keyOf: (values) => tableKeyString(ID, values),
    positionOf: (part, o) => positionKey(ID, part, o),
    ctx,
    slices: () => (spec === null ? undefined : { table: slices, stored: slices, spec, encodeKey: (values) => tableKeyString(SLICES, values) }),
  })
  return { operator, table, slices }
}

const inNamespace = (m: Mutation, ns: number): boolean => {
  const r = tableKey(ns, [])
  return m.kind !== 'deleteRange' && Buffer.compare(m.key, r.start) >= 0 && Buffer.compare(m.key, r.end) < 0
}

describe('an operator checkpoints its own state', () => {
  it('the rows it wrote go into the batch once, and read back after it lands', async () => {
    const p = plan('SELECT player_id, amount FROM ev WHERE amount > 0')
    const { operator } = build(p, true)
    const rows: Row[] = [
      [1, 5, 0],
      [2, 7, 1],
    ]
    await operator.process({ partition: 0, offsets: [0, 1], rows, signs: undefined, windowStarts: undefined, watermark: 0, late: () => undefined })
    const out: Mutation[] = []
    operator.checkpoint(out)
    expect(out.length).toBeGreaterThan(0)
    expect(out.every((m) => inNamespace(m, ID))).toBe(true)
    const again: Mutation[] = []
    operator.checkpoint(again)
    expect(again).toEqual([])
    await db.commit(out)
    const reopened = build(p, false).operator
    const read: Row[] = []
    for await (const r of reopened.rows(0)) read.push(r)
    expect(read).toEqual([
      [1, 5],
      [2, 7],
    ])
  })

  it('a sliced HOP view hands over its slices table with its own', () => {
    const p = plan("SELECT player_id, count(*) AS n FROM HOP(ev, ts, INTERVAL '1 minute', INTERVAL '5 minutes') GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE")
    expect(sliceSpec(p)).not.toBeNull()
    const { operator, table, slices } = build(p, true)
    table.set(tableKeyString(ID, [1]), [1])
    slices.set(tableKeyString(SLICES, [2]), [2])
    const out: Mutation[] = []
    operator.checkpoint(out)
    expect(out.filter((m) => inNamespace(m, ID))).toHaveLength(1)
    expect(out.filter((m) => inNamespace(m, SLICES))).toHaveLength(1)
  })
})
