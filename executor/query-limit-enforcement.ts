/**
 * Enforcement of a view's or trigger's WITH (max_state, max_output_rate) (planner/query-limits.ts): after
 * each step the query asks `exceeded`; past a limit it is stopped, not dropped, and stays stopped across
 * restarts until the limit is raised (ALTER ... SET) or it is created anew.
 */
import { SluiceError, SqlState, type SqlStateCode } from '../common/errors.ts'
import { formatApproxSize, formatSize, type QueryLimits } from '../planner/query-limits.ts'

/** The output rate is measured over this many one-second buckets. */
const RATE_BUCKETS = 5
const BUCKET_MS = 1000

/**
 * Rows a query put out per second over the last few seconds: counts in one-second buckets, the rate their
 * sum over the seconds they span (at least one, at most RATE_BUCKETS), so that a burst right after a start
 * counts in full.
 */
export class OutputRate {
  private readonly counts = new Array<number>(RATE_BUCKETS).fill(0)
  /** The bucket (ms since the epoch / BUCKET_MS) counts[last % RATE_BUCKETS] belongs to. */
  private last: number
  private readonly first: number

  /** `total`: rows counted before (a query resumed after a stop keeps counting where it was). */
  constructor(now = Date.now(), public total = 0) {
    this.last = Math.floor(now / BUCKET_MS)
    this.first = this.last
  }

  add(rows: number, now = Date.now()): void {
    this.advance(now)
    this.total += rows
    this.counts[this.last % RATE_BUCKETS]! += rows
  }

  /** Rows per second over the last RATE_BUCKETS seconds (fewer right after the start). */
  perSecond(now = Date.now()): number {
    this.advance(now)
    const spanned = Math.min(RATE_BUCKETS, this.last - this.first + 1)
    let sum = 0
    for (const c of this.counts) sum += c
    return sum / spanned
  }

  private advance(now: number): void {
    const bucket = Math.floor(now / BUCKET_MS)
    if (bucket <= this.last) return
    for (let b = this.last + 1; b <= bucket && b <= this.last + RATE_BUCKETS; b++) this.counts[b % RATE_BUCKETS] = 0
    this.last = bucket
  }
}

/** What a stopped query says: which limit, the value seen and the limit (SQLSTATE 53400, as PostgreSQL's temp_file_limit). */
export function limitExceeded(limits: QueryLimits, stateBytes: number, outputRate: number, what: 'materialized view' | 'trigger', name: string): SluiceError | null {
  const raise = what === 'trigger' ? `ALTER TRIGGER ${name} SET (...)` : `ALTER MATERIALIZED VIEW ${name} SET (...)`
  if (limits.maxStateBytes !== null && stateBytes > limits.maxStateBytes) {
    return new SluiceError('execution', SqlState.configurationLimitExceeded, `${what} "${name}" stopped: its state of ${formatApproxSize(stateBytes)} exceeds max_state = '${formatSize(limits.maxStateBytes)}'`, {
      hint: `Raise the limit with ${raise} (which restarts it where it stopped), or drop it.`,
    })
  }
  if (limits.maxOutputRate !== null && outputRate > limits.maxOutputRate) {
    return new SluiceError('execution', SqlState.configurationLimitExceeded, `${what} "${name}" stopped: it put out ${Math.round(outputRate)} rows per second, more than max_output_rate = ${limits.maxOutputRate}`, {
      hint: `Raise the limit with ${raise} (which restarts it where it stopped), or drop it.`,
    })
  }
  return null
}

/** A stop as a checkpoint keeps it (in the query's progress), and back. */
export interface StoppedRecord {
  readonly sqlstate: SqlStateCode
  readonly message: string
  readonly hint?: string
  /** The read view whose stop stopped this one. */
  readonly upstream?: string
}

export const stoppedRecord = (err: SluiceError): StoppedRecord => ({ sqlstate: err.sqlstate, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) })

export const stoppedError = (r: StoppedRecord): SluiceError => new SluiceError('execution', r.sqlstate, r.message, r.hint === undefined ? {} : { hint: r.hint })
