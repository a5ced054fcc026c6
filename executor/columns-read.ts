/**
 * Which of a stream's columns its readers use, so that decoding can leave the others unmade (json-scan.ts):
 * a Nexmark record has 21 members where a view reads 3 to 5, and making the text of the rest (URLs, names)
 * is most of what decoding it costs. An unread column's cell is null in the rows the loop hands out; its
 * value is still checked, so what is a dead letter does not change.
 *
 * A reader gets a column set only where every read of its input rows goes through its plan's expressions
 * and time columns: a view with no join and no MATCH_RECOGNIZE (GROUP BY, projections, window functions,
 * over any window). Its set is every column an expression anywhere in the plan names (but a GROUP BY's
 * select list and HAVING, which are over the aggregated row), every `...Index(es)` field of the plan
 * (window, session and watermark time columns, session keys), the stream's watermark and key columns.
 * That may name more than the view needs (a window function's output is over its own row); never less. Triggers (their actions read NEW), joins, patterns and sinks (every
 * column goes out) read every column.
 */
import type { StreamDef } from '../planner/catalog.ts'
import type { ViewPlan } from '../planner/view-plan.ts'

/** A set of column indexes, or null for every column. */
export type ColumnsRead = ReadonlySet<number> | null

/** The columns a view with this plan reads of its stream's rows; null for every column (see above). */
export function planColumnsRead(plan: ViewPlan, role: 'view' | 'trigger'): ColumnsRead {
  if (role !== 'view' || plan.join !== null || plan.intervalJoin !== undefined || plan.body.kind === 'pattern') return null
  if (plan.source.source.kind === 'view') return null
  const out = new Set<number>()
  // A GROUP BY's select list and HAVING are over the aggregated row (planner/select.ts): their indexes are not the stream's.
  const body = plan.body.kind === 'aggregate' ? { ...plan.body, output: [], aggregation: { ...plan.body.aggregation, having: null } } : plan.body
  collect({ ...plan, body }, out, new Set())
  addStreamColumns(plan.source, out)
  const width = plan.source.columns.length
  for (const i of out) if (!(i >= 0 && i < width)) out.delete(i)
  return out.size >= width ? null : out
}

/** What the stream itself reads of a row: its watermark's column (and expression) and its partition key. */
function addStreamColumns(def: StreamDef, out: Set<number>): void {
  if (def.watermark !== null) out.add(def.watermark.columnIndex)
  if (def.keyColumn !== null) out.add(def.keyColumn)
  for (const m of def.metadata) out.add(m.index)
}

const INDEX_FIELD = /Index$/
const INDEXES_FIELD = /Indexes$|Indices$/

/** Every column index a plan names, through any depth of its objects and arrays. */
function collect(node: unknown, out: Set<number>, seen: Set<object>): void {
  if (node === null || typeof node !== 'object' || seen.has(node)) return
  seen.add(node)
  if (Array.isArray(node)) {
    for (const x of node) collect(x, out, seen)
    return
  }
  const o = node as Record<string, unknown>
  if (o.kind === 'column' && typeof o.index === 'number') out.add(o.index)
  for (const key of Object.keys(o)) {
    const v = o[key]
    if (typeof v === 'number') {
      if (INDEX_FIELD.test(key)) out.add(v)
    } else if (Array.isArray(v) && INDEXES_FIELD.test(key)) {
      for (const x of v) if (typeof x === 'number') out.add(x)
      collect(v, out, seen)
    } else collect(v, out, seen)
  }
}

/** The union of the readers' sets: null (every column) when one of them reads every column. */
export function unionRead(sets: Iterable<ColumnsRead>): ColumnsRead {
  const out = new Set<number>()
  for (const s of sets) {
    if (s === null) return null
    for (const i of s) out.add(i)
  }
  return out
}

/** Whether rows decoded for `had` serve readers of `want` (they hold every column `want` reads). */
export function covers(had: ColumnsRead, want: ColumnsRead): boolean {
  if (had === null) return true
  if (want === null) return false
  for (const i of want) if (!had.has(i)) return false
  return true
}

/** A stable name of a set, to key decoders by. */
export function readKey(read: ColumnsRead): string {
  return read === null ? '*' : [...read].sort((a, b) => a - b).join(',')
}
