/**
 * A query's watermark over a stream whose records carry their writers' watermarks: a cluster's repartition
 * topic (docs/cluster-repartitioning.md, "Watermarks of repartition topics"). Each partition of such a topic
 * interleaves the records of every source partition's writer, so the times of its rows say nothing about how
 * far each source partition has got. Instead every record carries its writer's source partition, that
 * partition's watermark after it, and whether the partition was idle (SourceBatch.marks); writers with
 * nothing to write send watermark-only records to every partition.
 *
 * The reader keeps, per source partition, the largest watermark heard (the query's WatermarkTracker, one
 * slot per source partition: a repartition topic has as many partitions as its stream) and the idle flag
 * last heard with the writer's position then (an idle mark holds only while the source partition still
 * ends there); the watermark is the tracker's rule over them: the least over source partitions not idle,
 * else the largest. A source partition never heard from is not idle and at minus infinity, so the
 * watermark does not move before every source partition has been heard from. Pure logic; the unit tests
 * are in carried-watermarks.test.ts.
 */
import type { CarriedMark } from './source.ts'
import type { WatermarkTracker } from './watermark.ts'

export class CarriedWatermarks {
  /** Per source partition: whether its writer last said it was idle. */
  readonly idle: boolean[]
  /** Per source partition: the writer's position when it last said so (the offset after what it had read). */
  readonly idleAt: number[]

  constructor(partitions: number, restored?: readonly boolean[], restoredAt?: readonly number[]) {
    // (A restored idle flag without its position, from before positions were kept, is taken as busy.)
    this.idleAt = Array.from({ length: partitions }, (_, p) => (restoredAt?.[p] ?? -1) >= 0 ? restoredAt![p]! : Number.NaN)
    this.idle = Array.from({ length: partitions }, (_, p) => restored?.[p] === true && !Number.isNaN(this.idleAt[p]!))
  }

  /**
   * Takes the marks of a batch at offsets from `from` on (what the query has not taken yet) into `tracker`.
   * Throws on a mark from a source partition the tracker has no slot for (a stream given partitions after
   * its repartition topic was created): its events could otherwise be taken in with no watermark at all.
   * An interval join's two streams each fill their own slots: the source partitions of the stream the
   * batch is of are slots `base` to `base + width - 1` (the right stream's follow the left's).
   */
  take(marks: readonly CarriedMark[], from: number, tracker: WatermarkTracker, base = 0, width = this.idle.length): void {
    for (const m of marks) {
      if (m.offset < from) continue
      if (m.partition < 0 || m.partition >= width) throw new Error(`a record of source partition ${m.partition} in a repartition topic of ${width} partitions`)
      const slot = base + m.partition
      tracker.observe(slot, m.watermark)
      this.idle[slot] = m.idle
      this.idleAt[slot] = m.idle ? m.position ?? Number.NaN : Number.NaN
    }
  }

  /**
   * Whether source partition `p` is idle now: its writer said so, and the partition still ends where the
   * writer had read to (`end`, as the broker last said; undefined: not known). Records that arrived after
   * an idle mark are events no writer has written yet (it has not read them, or it died and the partition
   * awaits its next owner): they hold time back, as unread records do in one process.
   */
  isIdle(p: number, end: number | undefined): boolean {
    return this.idle[p] === true && end !== undefined && end <= this.idleAt[p]!
  }

  /** For the checkpoint, next to the tracker's watermarks. */
  snapshot(): { idle: boolean[]; idleAt: number[] } {
    return { idle: this.idle.slice(), idleAt: this.idleAt.map((a) => (Number.isNaN(a) ? -1 : a)) }
  }
}
