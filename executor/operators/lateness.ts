/**
 * Lateness: the row stage that drops the events a windowed view can no longer count, each reported late
 * with its reason. An event without an event time is late for every windowed view; for TUMBLE and HOP an
 * event is late when no window covering its time is still open (the window's end plus the allowed lateness
 * is after the watermark). SESSION windows judge the rest themselves: a late event may still merge sessions.
 */
import type { FixedWindowSpec } from '../../planner/view-plan.ts'
import type { LateReporter } from './held-rows.ts'
import { moveRow, truncateRows, type RowBatch, type RowStage } from './operator.ts'

export const WINDOW_CLOSED = 'window already closed: event time is behind the watermark by more than the allowed lateness'

/** Which windows an event's time is checked against: none (only a time is required), fixed, or sliced HOP. */
export type LatenessRule =
  | { readonly kind: 'time_required' }
  | { readonly kind: 'fixed'; readonly window: FixedWindowSpec; readonly lateness: number }
  /** Sliced HOP: the event goes once into its slice, unless every window it falls in has closed. */
  | { readonly kind: 'sliced'; readonly window: FixedWindowSpec; readonly lateness: number }

export class Lateness implements RowStage {
  constructor(
    private readonly timeIndex: number,
    private readonly rule: LatenessRule,
  ) {}

  describe(): string {
    return `Lateness ${this.rule.kind}`
  }

  apply(batch: RowBatch, watermark: number, late: LateReporter): void {
    const { rows, offsets, partition } = batch
    let n = 0
    for (let i = 0; i < rows.length; i++) {
      const ts = rows[i]![this.timeIndex]
      if (typeof ts !== 'number') late(partition, offsets[i]!, null, 'event time is NULL')
      else if (this.closed(ts, watermark)) late(partition, offsets[i]!, ts, WINDOW_CLOSED)
      else {
        if (n !== i) moveRow(batch, i, n)
        n++
      }
    }
    truncateRows(batch, n)
  }

  /**
   * Whether every window covering `ts` has closed. Windows are [start, start + size) with start = k * slide
   * + offset; the latest that starts at or before ts ends last, so it alone decides (and when it does not
   * cover ts, as in a HOP whose size is below its slide, no window holds the event).
   */
  private closed(ts: number, watermark: number): boolean {
    const rule = this.rule
    switch (rule.kind) {
      case 'time_required':
        return false
      case 'fixed': {
        const w = rule.window
        const latest = Math.floor((ts - w.offset) / w.slide) * w.slide + w.offset
        return !(latest > ts - w.size && latest + w.size + rule.lateness > watermark)
      }
      case 'sliced': {
        const w = rule.window
        return Math.floor((ts - w.offset) / w.slide) * w.slide + w.offset + w.size + rule.lateness <= watermark
      }
    }
  }
}
