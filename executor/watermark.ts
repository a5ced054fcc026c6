/**
 * Event-time progress of one query over one stream: a watermark per source partition (the largest
 * watermark expression value seen there) and the query's watermark, the minimum over partitions that still
 * have unread data. A partition that is fully read is idle and does not hold time back; the watermark never
 * moves backwards, except when an administrator resets it (`reset`).
 */
export interface WatermarkState {
  readonly partitions: readonly number[]
  readonly current: number
}

export class WatermarkTracker {
  private readonly perPartition: number[]
  private currentValue = Number.NEGATIVE_INFINITY

  /**
   * `groups`: partitions counted per stream when the query reads several (an interval join reads two, its
   * partitions one stream's after the other's): the watermark is the least of the streams' own, so a stream
   * that has not moved (or has no events yet) holds time back even while its partitions are all read.
   */
  constructor(
    partitions: number,
    restored?: WatermarkState,
    private readonly groups?: readonly number[],
  ) {
    this.perPartition = new Array<number>(partitions).fill(Number.NEGATIVE_INFINITY)
    if (restored) {
      restored.partitions.forEach((w, i) => {
        if (i < partitions) this.perPartition[i] = w ?? Number.NEGATIVE_INFINITY
      })
      this.currentValue = restored.current ?? Number.NEGATIVE_INFINITY
    }
  }

  get current(): number {
    return this.currentValue
  }

  /**
   * Records the watermark of one event read from `partition` (decoders keep event times in range), or of
   * the view a view reads (the end of time, once a closed stream is read).
   */
  observe(partition: number, watermark: number): void {
    if (watermark > this.perPartition[partition]!) this.perPartition[partition] = watermark
  }

  /** Recomputes the query watermark; `idle[p]` is true when partition p has no unread data. Returns it. */
  advance(idle: readonly boolean[]): number {
    let candidate = Number.POSITIVE_INFINITY
    let from = 0
    for (const n of this.groups ?? [this.perPartition.length]) {
      candidate = Math.min(candidate, this.over(from, from + n, idle))
      from += n
    }
    if (candidate > this.currentValue) this.currentValue = candidate
    return this.currentValue
  }

  /** The watermark over partitions [from, to): the least of those with unread data, else the largest. */
  private over(from: number, to: number, idle: readonly boolean[]): number {
    let min = Number.POSITIVE_INFINITY
    let max = Number.NEGATIVE_INFINITY
    let active = 0
    for (let p = from; p < to; p++) {
      const w = this.perPartition[p]!
      if (w > max) max = w
      if (!idle[p]) {
        active++
        if (w < min) min = w
      }
    }
    return active === 0 ? max : min
  }

  /**
   * ALTER STREAM ... RESET WATERMARK: the partition watermarks are set to `partitions` and the query's is
   * forgotten (the next advance computes it from them): the one time the watermark may move back.
   */
  reset(partitions: readonly number[]): void {
    for (let p = 0; p < this.perPartition.length; p++) this.perPartition[p] = partitions[p] ?? Number.NEGATIVE_INFINITY
    this.currentValue = Number.NEGATIVE_INFINITY
  }

  /** The watermark of each partition: the largest watermark value read there. */
  partitionWatermarks(): readonly number[] {
    return this.perPartition
  }

  /** End of input: time moves to the end, closing every window. */
  close(): void {
    this.currentValue = Number.POSITIVE_INFINITY
  }

  snapshot(): WatermarkState {
    return { partitions: this.perPartition.slice(), current: this.currentValue }
  }
}
