/**
 * A query's watermark over a stream whose records carry their writers' watermarks: a cluster's repartition
 * topic (docs/cluster.md, "Watermarks of repartition topics"). Each partition of such a topic interleaves
 * the records of every source partition's writer, so the times of its rows say nothing about how far each
 * source partition has got. Instead every record carries its writer's source partition, that partition's
 * watermark after it, and whether the partition was idle (SourceBatch.marks); writers with nothing to
 * write send watermark-only records to every partition.
 *
 * The reader keeps, per source partition, the largest watermark heard (the query's WatermarkTracker, one
 * slot per source partition: a repartition topic has as many partitions as its stream) and the idle flag
 * last heard; the watermark is the tracker's rule over them: the least over source partitions not idle,
 * else the largest. A source partition never heard from is not idle and at minus infinity, so the
 * watermark does not move before every source partition has been heard from. Pure logic; the unit tests
 * are in carried-watermarks.test.ts.
 */
import type { CarriedMark } from './source.ts'
import type { WatermarkTracker } from './watermark.ts'

export class CarriedWatermarks {
  /** Per source partition: whether its writer last said it was idle. */
  readonly idle: boolean[]

  constructor(partitions: number, restored?: readonly boolean[]) {
    this.idle = Array.from({ length: partitions }, (_, p) => restored?.[p] === true)
  }

  /**
   * Takes the marks of a batch at offsets from `from` on (what the query has not taken yet) into `tracker`.
   * Throws on a mark from a source partition the tracker has no slot for (a stream given partitions after
   * its repartition topic was created): its events could otherwise be taken in with no watermark at all.
   */
  take(marks: readonly CarriedMark[], from: number, tracker: WatermarkTracker): void {
    for (const m of marks) {
      if (m.offset < from) continue
      if (m.partition < 0 || m.partition >= this.idle.length) throw new Error(`a record of source partition ${m.partition} in a repartition topic of ${this.idle.length} partitions`)
      tracker.observe(m.partition, m.watermark)
      this.idle[m.partition] = m.idle
    }
  }

  /** For the checkpoint, next to the tracker's watermarks. */
  snapshot(): boolean[] {
    return this.idle.slice()
  }
}
