/**
 * Window assignment for TUMBLE and HOP: the row stage that gives each event the windows it falls in, as
 * window_start and window_end columns after the stream's columns (a lookup join's columns, carried in
 * `extras`, follow them).
 * Windows the watermark already closed are skipped (Lateness dropped the events with none open).
 *
 * For an aggregation (`shareRows`) an event in several HOP windows is one array for all of them, with each
 * window's start in `windowStarts`: the aggregate (and WHERE) set the window columns before reading it.
 * Sliced HOP windows (planner/hop-slices.ts) put each event once into its slice instead.
 */
import type { Row, Value } from '../../common/types.ts'
import type { FixedWindowSpec } from '../../planner/view-plan.ts'
import type { RowBatch, RowStage } from './operator.ts'

export class WindowAssign implements RowStage {
  constructor(
    private readonly window: FixedWindowSpec,
    /** Columns of the stream row: the window columns go right after them. */
    private readonly width: number,
    private readonly lateness: number,
    /** Sliced HOP: the slice length, else null. */
    private readonly sliceLength: number | null,
    private readonly shareRows: boolean,
  ) {}

  describe(): string {
    return `WindowAssign ${this.window.kind}${this.sliceLength === null ? '' : ' (sliced)'}`
  }

  /** Views reading views whose rows change are never windowed (the planner refuses it): signs go. */
  apply(batch: RowBatch, watermark: number): void {
    const { rows: input, offsets: inputOffsets, extras } = batch
    const { size, slide, offset, timeIndex } = this.window
    const rows: Row[] = []
    const offsets: number[] = []
    const starts: number[] | undefined = this.shareRows || this.sliceLength !== null ? [] : undefined
    for (let i = 0; i < input.length; i++) {
      const row = input[i]!
      const ts = row[timeIndex] as number
      if (this.sliceLength !== null) {
        const start = Math.floor((ts - offset) / this.sliceLength) * this.sliceLength + offset
        rows.push(withWindow(row, start, start + this.sliceLength, extras?.[i]))
        starts!.push(start)
        offsets.push(inputOffsets[i]!)
        continue
      }
      // Every window [start, start + size) with start = k * slide + offset that covers ts, latest first.
      let shared: Row | null = null
      for (let start = Math.floor((ts - offset) / slide) * slide + offset; start > ts - size; start -= slide) {
        const end = start + size
        if (end + this.lateness <= watermark) continue
        let r: Row
        if (shared !== null) {
          r = shared
          r[this.width] = start
          r[this.width + 1] = end
        } else {
          r = withWindow(row, start, end, extras?.[i])
          if (this.shareRows) shared = r
        }
        rows.push(r)
        starts?.push(start)
        offsets.push(inputOffsets[i]!)
      }
    }
    batch.rows = rows
    batch.offsets = offsets
    batch.signs = undefined
    batch.windowStarts = starts
    batch.extras = undefined
  }
}

/** A copy of the row with the window columns after the stream's, and a joined view's columns after them. */
function withWindow(row: Row, start: number, end: number, extra: readonly Value[] | undefined): Row {
  const r = row.slice()
  r.push(start, end)
  if (extra !== undefined) for (let k = 0; k < extra.length; k++) r.push(extra[k]!)
  return r
}
