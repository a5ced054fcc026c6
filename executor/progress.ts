/**
 * How far each view (and trigger) is through its stream: its position (the offsets it has fully processed,
 * summed over partitions) against where the partitions end now, the rate it moves at, and the time left at
 * that rate. The `sluice_progress` system table, the progress NOTICEs of a CREATE MATERIALIZED VIEW
 * (server/progress-notices.ts) and /ready read it, so a console can draw a catch-up as a progress bar.
 */
import { baseStreamName } from '../planner/view-source.ts'
import type { ContinuousQuery } from './continuous-query.ts'
import type { StreamSource } from './source.ts'

/** The rate is taken over the samples of about the last RATE_WINDOW_MS. */
const RATE_WINDOW_MS = 10_000
/** Samples closer together than this are not kept (a rate over a few milliseconds says little). */
const MIN_SAMPLE_GAP_MS = 200

export interface QueryPosition {
  readonly query: string
  readonly stream: string
  /** Per partition: offsets fully processed (consumed and the watermark step after them done). */
  readonly positions: readonly number[]
  /** Per partition: where it ends now (a Kafka topic's end as the broker last said, else the log's end). */
  readonly ends: readonly number[]
}

export interface ProgressRow extends QueryPosition {
  readonly status: string
  readonly position: number
  readonly end: number
  /** position / end; 1 when the stream is empty. */
  readonly fraction: number
  /** Offsets per second over the last few seconds; null before two samples. */
  readonly rate: number | null
  /** Seconds until `end` at `rate`; 0 when caught up, null when unknown (no rate, or not moving). */
  readonly secondsLeft: number | null
}

/** Where a source partition ends, for progress and lag. */
export const partitionEnd = (log: StreamSource, p: number): number => log.highWatermark?.(p) ?? log.endOffset(p)

/** The query's position and its stream's ends; undefined while its stream is not deployed. */
export function queryPosition(q: ContinuousQuery, streamOf: (name: string) => { readonly log: StreamSource } | undefined): QueryPosition | undefined {
  const stream = baseStreamName(q.view.plan.source)
  if (q.slots.some((slot) => streamOf(slot.stream) === undefined)) return undefined
  return { query: q.name, stream, positions: q.settled.slice(), ends: q.slots.map((slot) => partitionEnd(streamOf(slot.stream)!.log, slot.partition)) }
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

/** Positions sampled over time, per query, for the rate of progress. */
export class ProgressSampler {
  private readonly samples = new Map<string, { t: number; position: number }[]>()

  /** Records `position` for `query` at `now` and returns the rate over the kept samples (null before two). */
  rate(query: string, position: number, now = performance.now()): number | null {
    let list = this.samples.get(query)
    if (list === undefined) this.samples.set(query, (list = []))
    const last = list.at(-1)
    // A position that went back (the view was dropped and created again) starts the samples over.
    if (last !== undefined && position < last.position) list.length = 0
    if (list.length === 0 || now - list.at(-1)!.t >= MIN_SAMPLE_GAP_MS) list.push({ t: now, position })
    while (list.length > 2 && now - list[1]!.t >= RATE_WINDOW_MS) list.shift()
    const first = list[0]!
    if (now - first.t < MIN_SAMPLE_GAP_MS) return null
    return ((position - first.position) * 1000) / (now - first.t)
  }

  /** Forgets queries no longer running (dropped), so the map does not grow. */
  keepOnly(names: ReadonlySet<string>): void {
    for (const name of this.samples.keys()) if (!names.has(name)) this.samples.delete(name)
  }
}

/**
 * One progress row. The rate is measured from this and earlier reads; on a first read it is `fallback`
 * (the query's events per second, which is its offsets per second where no record is a dead letter).
 */
export function progressRow(at: QueryPosition, status: string, sampler: ProgressSampler, fallback: number): ProgressRow {
  const position = sum(at.positions.map((o, p) => Math.min(o, at.ends[p]!)))
  const end = sum(at.ends)
  const rate = sampler.rate(at.query, position) ?? (fallback > 0 ? fallback : null)
  const remaining = end - position
  const secondsLeft = remaining <= 0 ? 0 : rate !== null && rate > 0 ? remaining / rate : null
  return { ...at, status, position, end, fraction: end === 0 ? 1 : position / end, rate, secondsLeft }
}
