/**
 * Where a continuous query reads each of its partitions. A query over one stream (or over views rooted in
 * one) reads that stream's partitions as its own; an interval join reads two streams, and its partitions are
 * the left stream's followed by the right's. The engine's scan, progress, lag and read-your-writes waits
 * go through these slots instead of assuming one stream.
 */
import type { ViewPlan } from '../planner/view-plan.ts'
import { baseStreamName } from '../planner/view-source.ts'

export interface QuerySlot {
  readonly stream: string
  readonly partition: number
}

const slotsOf = (stream: string, partitions: number): QuerySlot[] => Array.from({ length: partitions }, (_, partition) => ({ stream, partition }))

export function querySlots(plan: ViewPlan): QuerySlot[] {
  const j = plan.intervalJoin
  if (j !== undefined) return [...slotsOf(j.left.name, j.left.partitions), ...slotsOf(j.right.name, j.right.partitions)]
  return slotsOf(baseStreamName(plan.source), plan.source.partitions)
}

/** The query partition of a stream's first partition (0 unless the stream is an interval join's right side). */
export function slotBase(slots: readonly QuerySlot[], stream: string): number {
  const i = slots.findIndex((s) => s.stream === stream)
  return i === -1 ? 0 : i
}

/** Every stream of the slots was closed (ALTER STREAM ... CLOSE) and `offsets` reach its end: time is over. */
export function closedAndRead(slots: readonly QuerySlot[], offsets: readonly number[], streamOf: (name: string) => { readonly closed: boolean; readonly log: { endOffset(p: number): number } } | undefined): boolean {
  return slots.every((slot, i) => {
    const rt = streamOf(slot.stream)
    return rt !== undefined && rt.closed && offsets[i]! >= rt.log.endOffset(slot.partition)
  })
}

/** The query's offsets in one stream's partitions, in partition order (a Kafka fetcher rewinds to them). */
export function offsetsIn(slots: readonly QuerySlot[], offsets: readonly number[], stream: string): number[] {
  return offsets.filter((_, i) => slots[i]?.stream === stream)
}

/** The streams a query reads, each once (one, or an interval join's two). */
export const streamsOf = (slots: readonly QuerySlot[]): string[] => [...new Set(slots.map((s) => s.stream))]
