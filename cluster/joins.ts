/**
 * Interval joins of two streams in a cluster (docs/cluster-repartitioning.md, "Joins"). A join keeps, per
 * join key, the rows of both streams within its time bound, so it can be split into tasks when every key's
 * rows of both streams meet in one task:
 *
 * - *On the streams' keys* (`ON o.player = p.player` of two streams keyed by player, with as many partitions
 *   as each other and key columns of one type): a key's events of both streams are already in the same
 *   partition number (Kafka's partitioning of the same key text), so the join is *partitioned*: it runs in
 *   every task engine over partition p of both streams, as Kafka Streams joins co-partitioned topics.
 * - *On other columns* (`ON c.ad = i.ad` of streams keyed by player): both streams are *repartitioned*,
 *   each to an internal topic keyed by its side of the join key (repartition.ts; both topics have the
 *   streams' partition count and the same partitioning, so equal keys meet in one partition number), and
 *   the join runs in every task engine over partition p of both internal topics, its watermark the least of
 *   the two streams' carried ones.
 *
 * A GROUP BY over the join stays with it only when each group lies in one task: its keys contain, for the
 * key the join is split by, a column of a side whose rows are never padded with NULLs (an outer join's
 * unmatched rows carry NULL for the other side's key, and NULL groups would gather every task's). Anything
 * else (streams of different partition counts or key types, a lookup or a window over the join, the
 * source record's partition or offset read through an internal topic) is global.
 * Pure logic over plans; the unit tests are in placement.test.ts.
 */
import type { BoundExpr } from '../expr/bound.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import type { IntervalJoinSpec } from '../planner/interval-join.ts'
import { isColumn, type Placement } from './placement.ts'

/** How a join of two streams is split into tasks: by the streams' own keys, by repartitioning, or not at all. */
export function joinSplit(view: ViewDef): 'keys' | 'repartition' | null {
  const plan = view.plan
  const j = plan.intervalJoin
  if (j === undefined || plan.join !== null || plan.window !== null || (plan.hidden?.length ?? 0) > 0) return null
  const { left, right } = j
  if (left.source.kind !== 'kafka' || right.source.kind !== 'kafka' || left.partitions !== right.partitions) return null
  if (j.leftKeys.length === 0 || !j.leftKeys.every((l, i) => left.columns[l]!.type.name === right.columns[j.rightKeys[i]!]!.type.name)) return null
  if (coKeyed(j) >= 0) return 'keys'
  if (plan.idleTtl !== null) return null
  // An internal topic's records keep the event, not where it was in the stream.
  if ([left, right].some((s) => s.metadata.some((m) => m.key !== 'timestamp'))) return null
  return 'repartition'
}

/** The index of the join key pair that is both streams' key columns, or -1. */
function coKeyed(j: IntervalJoinSpec): number {
  const l = j.left.keyColumn
  const r = j.right.keyColumn
  if (l === null || r === null) return -1
  return j.leftKeys.findIndex((k, i) => k === l && j.rightKeys[i] === r)
}

/** The placement of a view over an interval join of two streams (placement.ts). */
export function joinPlacement(view: ViewDef): Placement {
  const split = joinSplit(view)
  if (split === null) return 'global'
  const placement: Placement = split === 'keys' ? 'partitioned' : 'repartitioned'
  const body = view.plan.body
  if (body.kind === 'project') return placement
  if (body.kind !== 'aggregate' || body.aggregation.groupingSets !== undefined) return 'global'
  const j = view.plan.intervalJoin!
  const width = j.left.columns.length
  const leftKept = j.type === 'inner' || j.type === 'left'
  const rightKept = j.type === 'inner' || j.type === 'right'
  // A group key holds pair i when it is a preserved side's column of it, unchanged.
  const holds = (i: number) => body.aggregation.keys.some((k) => (leftKept && isColumn(k, j.leftKeys[i]!)) || (rightKept && isColumn(k, width + j.rightKeys[i]!)))
  // Split by the streams' keys: that pair; repartitioned: the topics are keyed by every pair.
  const pairs = split === 'keys' ? [coKeyed(j)] : j.leftKeys.map((_, i) => i)
  return pairs.every(holds) ? placement : 'global'
}

/**
 * What a repartitioned join's writer of `source` keys its records by: its side's join key columns, over the
 * source's own row (both sides' keys in the same order, so equal keys are equal bytes). Null when `source`
 * is not a side of the view's join.
 */
export function joinSideKeys(view: ViewDef, source: StreamDef): BoundExpr[] | null {
  const j = view.plan.intervalJoin
  if (j === undefined) return null
  const side = source.name === j.left.name ? { def: j.left, keys: j.leftKeys } : source.name === j.right.name ? { def: j.right, keys: j.rightKeys } : null
  if (side === null) return null
  return side.keys.map((index) => ({ kind: 'column', index, name: side.def.columns[index]!.name, type: side.def.columns[index]!.type }))
}
