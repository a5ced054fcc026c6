/**
 * IntervalJoin on batches, planned from SQL, over in-memory tables: pairs made once whichever side comes
 * first, the bound's ends, NULL keys, late rows, waiting rows leaving at the watermark, an outer join's
 * padded rows, and a new operator over the same tables (a restart) going on where the last one was.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../../parser/ast.ts'
import { initParser, parseStatement } from '../../parser/index.ts'
import { Catalog } from '../../planner/catalog.ts'
import { planStream } from '../../planner/stream-plan.ts'
import { planView, type ViewPlan } from '../../planner/view-plan.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { Row, Value } from '../../common/types.ts'
import type { KeyedTable, TableJournal } from './keyed-table.ts'
import { IntervalJoin, BEHIND_BOUND, type JoinedEntry, type WaitingEntry } from './interval-join.ts'

const ctx: EvalContext = { now: 0, user: 'test', database: 'test' }
const MIN = 60_000_000
let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  for (const sql of [
    `CREATE STREAM o (k INT, name TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 2)`,
    `CREATE STREAM p (k INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 1)`,
  ]) catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

class MemTable<V> implements KeyedTable<V> {
  readonly map = new Map<string, V>()
  async load(): Promise<void> {}
  get(key: string): V | undefined {
    return this.map.get(key)
  }
  set(key: string, value: V): void {
    this.map.set(key, value)
  }
  delete(key: string): void {
    this.map.delete(key)
  }
  append(key: string, value: V): void {
    this.map.set(key, value)
  }
  async *scan(): AsyncGenerator<readonly [string, V]> {
    for (const e of [...this.map].sort(([a], [b]) => (a < b ? -1 : 1))) yield e
  }
  journal(): TableJournal {
    return { drain: () => [], close: () => undefined }
  }
}

const plan = (join: string): ViewPlan =>
  planView(parseStatement(`CREATE MATERIALIZED VIEW v AS SELECT o.name, p.amount FROM o ${join} JOIN p ON p.k = o.k AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '10 minutes'`) as ast.CreateView, catalog)

function joiner(join = '', tables?: { output: MemTable<JoinedEntry>; waiting: MemTable<WaitingEntry> }) {
  const output = tables?.output ?? new MemTable<JoinedEntry>()
  const waiting = tables?.waiting ?? new MemTable<WaitingEntry>()
  const op = new IntervalJoin(plan(join), output, waiting, (v: readonly Value[]) => JSON.stringify(v), (p, o) => `${p}/${String(o).padStart(6, '0')}`, ctx)
  const late: [number, string][] = []
  let offset = 0
  /** Rows of `o` (partition 0) or `p` (partition 2), at `watermark`. */
  const feed = (side: 'o' | 'p', rows: Row[], watermark: number) =>
    op.process({ partition: side === 'o' ? 0 : 2, rows, offsets: rows.map(() => offset++), signs: undefined, windowStarts: undefined, watermark, late: (_p, o, _t, reason) => late.push([o, reason]) })
  const result = async () => {
    const out: string[] = []
    for await (const r of op.rows()) out.push(r.join(' '))
    return out.sort()
  }
  return { op, feed, result, late, output, waiting }
}

describe('IntervalJoin', () => {
  it('makes each pair once, when its later row comes, within the bound ends; NULL keys never match', async () => {
    const j = joiner()
    await j.feed('o', [[1, 'a', 0], [2, 'b', 0], [null, 'n', 0]], -Infinity)
    await j.feed('p', [[1, 10, 0], [1, 11, 10 * MIN], [1, 12, 10 * MIN + 1], [2, 20, -1], [null, 30, 0]], -Infinity)
    await j.feed('o', [[1, 'c', 5 * MIN]], -Infinity)
    expect(await j.result()).toEqual(['a 10', 'a 11', 'c 11', 'c 12'])
    expect(j.op.bufferedRows()).toBe(7)
  })

  it('drops waiting rows once the watermark passes their bound, and reports rows behind it as late', async () => {
    const j = joiner()
    await j.feed('o', [[1, 'a', 0]], -Infinity)
    await j.feed('p', [[1, 10, 3 * MIN]], -Infinity)
    // The purchase at 3 min can still meet an offer at exactly 3 min (not late at a watermark of 3 min)...
    await j.op.onWatermark(3 * MIN)
    expect(j.op.bufferedRows()).toBe(2)
    // ...and no more once the watermark is past it; the offer waits until it is past 10 minutes after it.
    await j.op.onWatermark(3 * MIN + 1)
    expect(j.op.bufferedRows()).toBe(1)
    await j.op.onWatermark(10 * MIN)
    expect(j.op.bufferedRows()).toBe(1)
    await j.op.onWatermark(10 * MIN + 1)
    expect(j.op.bufferedRows()).toBe(0)
    await j.feed('p', [[1, 11, 9 * MIN]], 10 * MIN + 1)
    expect(j.late).toEqual([[2, BEHIND_BOUND]])
    expect(j.waiting.map.size).toBe(0)
    expect(await j.result()).toEqual(['a 10'])
  })

  it('LEFT JOIN: an unmatched offer comes padded when it leaves; a restart keeps whether one matched', async () => {
    const j = joiner('LEFT')
    await j.feed('o', [[1, 'matched', 0], [2, 'alone', 0], [null, 'nokey', 0]], -Infinity)
    await j.feed('p', [[1, 10, MIN]], -Infinity)
    expect(await j.result()).toEqual(['matched 10', 'nokey '])
    // A restart: a new operator over the same tables reads the waiting rows back.
    const again = joiner('LEFT', { output: j.output, waiting: j.waiting })
    await again.op.onWatermark(Number.POSITIVE_INFINITY)
    expect(await again.result()).toEqual(['alone ', 'matched 10', 'nokey '])
    expect(again.op.bufferedRows()).toBe(0)
    expect(j.waiting.map.size).toBe(0)
  })
})
