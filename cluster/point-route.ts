/**
 * Point lookups routed to the task of their key. A GROUP BY view's group lives on exactly one task: a
 * *partitioned* view's on the partition its stream key was produced to (Kafka's murmur2 of the key's text,
 * as INSERT, JSON ingest, Java producers and kcat with the murmur2 partitioner choose it), a *repartitioned*
 * view's on the partition of its internal topic that the writers chose (murmur2 of the group key as the state
 * stores encode it, repartition.ts). So `SELECT ... FROM v WHERE k = ...` needs one task's owner, not every
 * node.
 *
 * The answer stays exact when the guess is wrong: a producer that keyed its records by other text than the
 * key column's (legal: only the grouping needs every event of a key in one partition) puts the group on
 * another task, and a literal of another type than the key expression's (5 for a bigint) encodes otherwise.
 * The reader (pull.ts) therefore asks the other tasks when the routed one has no row for the key: a found
 * group costs one task, a missing one every task, as before.
 */
import { murmur2 } from '@platformatic/kafka'
import type { Value } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { ViewDef } from '../planner/catalog.ts'
import { keyText } from '../executor/engine/inserts.ts'
import { tableKeyString } from '../executor/state/layout.ts'
import { partitionOfKey } from './kafka-io.ts'
import { repartitionKeys, type Placement } from './placement.ts'

/** Key column types whose values print as the record key producers send (text, and integers' decimal digits). */
const ROUTABLE: ReadonlySet<string> = new Set(['text', 'int2', 'int4', 'int8'])

const isColumn = (e: BoundExpr, index: number): boolean => e.kind === 'column' && e.index === index

/**
 * The task (partition number, of `partitions`) that holds the group `key` of `view`, or null when the group
 * cannot be placed by its key (a global view, a key column of a type whose text is not what producers send,
 * a NULL key, a view over a view) and every task must be asked.
 */
export function taskOfKey(view: ViewDef, placement: Placement | undefined, partitions: number, key: readonly Value[]): number | null {
  if (partitions <= 0 || view.owner !== undefined) return null
  const plan = view.plan
  const body = plan.body
  if (body.kind !== 'aggregate' || body.aggregation.groupingSets !== undefined || key.length !== body.aggregation.keys.length) return null
  if (placement === 'repartitioned') {
    // As the writers key the internal topic (repartition.ts recordSelector): by the whole group key only
    // when there is no window (a windowed view's topic is keyed by the group keys outside the window).
    if (plan.window !== null || repartitionKeys(view)?.length !== key.length) return null
    return (murmur2(Buffer.from(tableKeyString(0, key), 'latin1')) & 0x7fffffff) % partitions
  }
  if (placement !== 'partitioned' || plan.source.source.kind !== 'kafka') return null
  const column = plan.source.keyColumn
  if (column === null) return null
  const at = body.aggregation.keys.findIndex((k) => isColumn(k, column))
  const value = at < 0 ? null : key[at]
  if (value === null || value === undefined || !ROUTABLE.has(plan.source.columns[column]!.type.name)) return null
  return partitionOfKey(keyText(value), partitions)
}
