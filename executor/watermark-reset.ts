/**
 * ALTER STREAM name RESET WATERMARK [TO time]: after a mistake (events from a misconfigured producer
 * stored before Sluice refused them, or a watermark expression gone wrong) every view's watermark over the
 * stream is set anew:
 *
 * - without TO, to what the valid events each view has read make it: the stream's log is read again up to
 *   each view's position and, per partition, the largest watermark value of the events that decode today
 *   is taken (records decoding refuses, such as event times out of range, count for nothing);
 * - with TO, every partition's watermark is the given time.
 *
 * The watermark then moves on as usual. The views' state is kept; windows the old watermark had closed are
 * open again (see ContinuousQuery.resetWatermark). The engine runs this between two rounds of its loop.
 */
import { SluiceError, SqlState, planError, type Span } from '../common/errors.ts'
import { eventTimeError, parseTimestamp, type Row, type Value } from '../common/types.ts'
import { compileExpr } from '../expr/compile.ts'
import type { WatermarkSpec } from '../planner/catalog.ts'
import type { EvalContext } from '../expr/runtime.ts'
import type { ContinuousQuery } from './continuous-query.ts'
import type { StreamDecoder } from './record-decoder.ts'
import type { StreamSource } from './source.ts'
import { WatermarkTracker } from './watermark.ts'

/** The time of `RESET WATERMARK TO 'text'`: a timestamp that is an event time, else its error at the text. */
export function resetTarget(to: { readonly text: string; readonly span: Span }): number {
  let target: number
  try {
    target = parseTimestamp(to.text)
  } catch (err) {
    const e = err as SluiceError
    throw new SluiceError('plan', e.sqlstate, e.message, { span: to.span })
  }
  const bad = eventTimeError(target, 'watermark')
  if (bad !== null) throw new SluiceError('plan', bad.sqlstate, `a watermark must be an event time: "${to.text}" is not`, { span: to.span, hint: bad.hint })
  return target
}

export interface StreamReset {
  readonly name: string
  readonly span: Span | undefined
  readonly source: StreamSource
  readonly decode: StreamDecoder
  readonly spec: WatermarkSpec
  /** The queries reading the stream directly; the views reading them follow. */
  readonly queries: readonly ContinuousQuery[]
  readonly partitions: number
  /** The time every partition's watermark is set to, or null: from the log. */
  readonly target: number | null
  readonly ctx: EvalContext
  readonly batchSize: number
}

/**
 * Sets every query's watermark anew (run between two rounds of the engine's loop). Checks first, so that
 * either every query is reset or none: a sliced HOP view that would move back refuses (55000).
 */
export async function resetStreamWatermarks(r: StreamReset): Promise<void> {
  const { queries, partitions: n, source } = r
  const watermarkOf = compileExpr(r.spec.expr)
  const per =
    r.target === null
      ? await partitionWatermarksFromLog(source, r.decode, (row) => watermarkOf(row, [], r.ctx), queries.map((q) => q.offsets), n, r.batchSize)
      : queries.map(() => new Array<number>(n).fill(r.target!))
  const idle = (q: ContinuousQuery) => q.offsets.map((o, p) => (source.idle !== undefined ? source.idle(p, o) : o >= source.endOffset(p)))
  queries.forEach((q, i) => {
    const next = new WatermarkTracker(n)
    next.reset(per[i]!)
    if (next.advance(idle(q)) >= q.watermark.current) return
    const sliced = slicedViews(q)
    if (sliced.length > 0) {
      throw planError(SqlState.objectNotInPrerequisiteState, `cannot move the watermark of stream "${r.name}" back: view "${sliced[0]}" puts sliced HOP windows together when they close`, r.span, 'Drop the view, reset the watermark, and create the view again.')
    }
  })
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!
    q.resetWatermark(per[i]!, idle(q))
    await q.afterWatermark()
    q.settle()
  }
}

/** The sliced HOP views among a query and the views reading it. */
function slicedViews(q: ContinuousQuery): string[] {
  const own = q.sliceLength !== null ? [q.name] : []
  return own.concat(...q.downstream.map(slicedViews))
}

/**
 * Per view (by index in `positions`) and partition: the largest watermark value of the events before the
 * view's position there, or -Infinity when none has one.
 */
export async function partitionWatermarksFromLog(
  source: StreamSource,
  decode: StreamDecoder,
  watermarkOf: (row: Row) => Value,
  positions: readonly (readonly number[])[],
  partitions: number,
  batchSize: number,
): Promise<number[][]> {
  const out = positions.map(() => new Array<number>(partitions).fill(Number.NEGATIVE_INFINITY))
  for (let p = 0; p < partitions; p++) {
    const ends = [...new Set(positions.map((o) => o[p] ?? 0))].sort((a, b) => a - b)
    const maxBefore = new Map<number, number>()
    const last = ends[ends.length - 1] ?? 0
    let max = Number.NEGATIVE_INFINITY
    let k = 0
    let offset = 0
    while (offset < last) {
      const { records, nextOffset, offsets, timestamps } = await source.read(p, offset, batchSize)
      if (records.length === 0) {
        if (nextOffset <= offset) break
        offset = nextOffset
        continue
      }
      for (let i = 0; i < records.length; i++) {
        const o = offsets?.[i] ?? offset + i
        while (k < ends.length && ends[k]! <= o) maxBefore.set(ends[k++]!, max)
        if (o >= last) break
        let row: Row | null
        try {
          row = decode(records[i]!, p, o, timestamps?.[i] ?? null)
        } catch {
          continue
        }
        if (row === null) continue
        const w = watermarkOf(row)
        if (typeof w === 'number' && w > max && w < Number.POSITIVE_INFINITY) max = w
      }
      offset = nextOffset
    }
    while (k < ends.length) maxBefore.set(ends[k++]!, max)
    positions.forEach((o, q) => (out[q]![p] = maxBefore.get(o[p] ?? 0)!))
  }
  return out
}
