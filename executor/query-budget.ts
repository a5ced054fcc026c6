/**
 * The limits one pull query runs under, so that no query can stop the server or other sessions:
 *
 * - a memory budget: an estimate of the bytes held by the rows the query materializes (fetched relations,
 *   join outputs, hash tables, sort buffers, groups, DISTINCT sets), checked as they grow (53200);
 * - a deadline (`statement_timeout`) and a cancel signal (CancelRequest, `pg_cancel_backend`), checked
 *   every few hundred rows (57014);
 * - cooperative slices: a query that has run for more than a few milliseconds gives the event loop back
 *   (`setImmediate`), so the engine loop and every other session keep going while it runs.
 *
 * Loops call `tick()` per row: a counter most of the time, the clock every `CHECK_EVERY` rows. When it
 * answers true the slice is over, and the caller yields (`await guard.pause()`, or `yield` inside the
 * executor's generators, whose driver pauses).
 */
import { performance } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'

/** Rows between two looks at the clock. */
const CHECK_EVERY = 256
/**
 * A slice runs at most about this long before the query gives the event loop back. Half a millisecond
 * against 1 ms: a canary view beside back-to-back cross joins kept 0.92-0.93 of its events/s instead of
 * 0.90-0.91 (`npm run bench:attacks -- --only cross_join`), for about 2,000 yields a second (~1 % of a core).
 */
export const SLICE_MS = 0.5
/** The default memory budget of one query: 256 MiB. */
export const DEFAULT_QUERY_MEMORY = 256 * 1024 * 1024
/**
 * Whatever the budgets, several large queries at once could still fill the process's heap: every time a
 * query's holdings grow by this much, the heap is looked at, and past HEAP_FULL of its limit the query
 * fails with 53200 instead of the server dying.
 */
const HEAP_CHECK_BYTES = 16 * 1024 * 1024
const HEAP_FULL = 0.8

export interface QueryLimits {
  /** Bytes the query's materialized rows may hold; 0 or less means no limit. */
  readonly memoryBytes: number
  /** statement_timeout in milliseconds; 0 means none. */
  readonly timeoutMs: number
  /** Aborted by a CancelRequest or pg_cancel_backend. */
  readonly signal?: AbortSignal
  /** Whether the engine has events to process now: a long query then steps back (see `pause`). */
  readonly engineBusy?: () => boolean
}

/** A query that has run this long in all is a long one: it gives way to a busy engine. */
const LONG_QUERY_MS = 50
/** How long a long query waits after each slice while the engine is busy: about a ninth of the loop for it. */
const GIVE_WAY_MS = 4

export class QueryGuard {
  private countdown = CHECK_EVERY
  private sliceStart = performance.now()
  private readonly deadline: number
  /** Estimated bytes held now, and the most ever held. */
  held = 0
  peak = 0
  /** Bytes ever charged: every HEAP_CHECK_BYTES of them the heap is looked at. */
  private charged = 0
  private nextHeapCheck = HEAP_CHECK_BYTES
  /** How often the query gave the event loop back, and how often of those it waited for a busy engine. */
  yields = 0
  gaveWay = 0
  /** Milliseconds the query has run in its slices. */
  private ran = 0

  constructor(private readonly limits: QueryLimits) {
    this.deadline = limits.timeoutMs > 0 ? performance.now() + limits.timeoutMs : Number.POSITIVE_INFINITY
  }

  /** No limits at all: for callers outside a session (tests, internal reads). */
  static unlimited(): QueryGuard {
    return new QueryGuard({ memoryBytes: 0, timeoutMs: 0 })
  }

  /** Counts `units` of work (one row); true when the slice is over and the caller should yield. Throws 57014. */
  tick(units = 1): boolean {
    this.countdown -= units
    if (this.countdown > 0) return false
    this.countdown = CHECK_EVERY
    const now = performance.now()
    this.checkInterrupts(now)
    return now - this.sliceStart >= SLICE_MS
  }

  /** Throws 57014 when the query was cancelled or its time is up. */
  checkInterrupts(now = performance.now()): void {
    if (this.limits.signal?.aborted === true) throw new SluiceError('execution', SqlState.queryCanceled, 'canceling statement due to user request')
    if (now >= this.deadline) throw new SluiceError('execution', SqlState.queryCanceled, 'canceling statement due to statement timeout')
  }

  /**
   * Gives the event loop back, then starts a new slice (checking for a cancel that came meanwhile). Short
   * queries (what BI tools and psql send) take turns with everything else at full speed; a query that has
   * run for LONG_QUERY_MS gives way while the engine has events to process, waiting GIVE_WAY_MS after each
   * slice, so that a runaway query cannot take half of the engine's loop until its budget stops it.
   */
  async pause(): Promise<void> {
    this.yields++
    this.ran += performance.now() - this.sliceStart
    if (this.ran >= LONG_QUERY_MS && this.limits.engineBusy?.() === true) {
      this.gaveWay++
      await new Promise<void>((resolve) => setTimeout(resolve, GIVE_WAY_MS))
    } else {
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    this.sliceStart = performance.now()
    this.checkInterrupts(this.sliceStart)
  }

  /** Yields when the slice is over: `await guard.step()` per row in async loops. */
  step(): Promise<void> | undefined {
    return this.tick() ? this.pause() : undefined
  }

  /** Adds `bytes` to what the query holds; throws 53200 past the budget. */
  charge(bytes: number): void {
    this.held += bytes
    if (this.held > this.peak) this.peak = this.held
    this.charged += bytes
    if (this.charged >= this.nextHeapCheck) {
      this.nextHeapCheck = this.charged + HEAP_CHECK_BYTES
      checkHeap()
    }
    const budget = this.limits.memoryBytes
    if (budget > 0 && this.held > budget) {
      this.held = 0
      throw new SluiceError('execution', SqlState.outOfMemory, `out of memory: query exceeded its memory budget of ${formatBytes(budget)}`, {
        detail: `The rows it held (joins, sorts, groups, DISTINCT) were estimated at more than ${formatBytes(budget)}.`,
        hint: 'Filter or aggregate more in the query, or raise the budget with SET sluice.query_memory (e.g. \'512MB\').',
      })
    }
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes)
  }

  /** Runs an executor generator to its end, pausing whenever it yields (a slice is over). */
  async drive<T>(gen: Generator<void, T, void>): Promise<T> {
    for (;;) {
      const r = gen.next()
      if (r.done === true) return r.value
      await this.pause()
    }
  }
}

/** Throws 53200 when the process's heap is nearly full (whichever queries filled it). */
export function checkHeap(stats = getHeapStatistics()): void {
  if (stats.used_heap_size <= HEAP_FULL * stats.heap_size_limit) return
  throw new SluiceError('execution', SqlState.outOfMemory, 'out of memory: the server\'s heap is nearly full', {
    detail: `${formatBytes(roundMb(stats.used_heap_size))} of ${formatBytes(roundMb(stats.heap_size_limit))} in use; this query was stopped to keep the server running.`,
    hint: 'Run fewer large queries at once, or lower sluice.query_memory.',
  })
}

const roundMb = (n: number): number => Math.ceil(n / 1024 ** 2) * 1024 ** 2

/**
 * Runs an executor generator synchronously, ignoring its yields: for subqueries, which compiled
 * expressions call synchronously. The deadline and the budget still hold (checked in `tick`).
 */
export function runToEnd<T>(gen: Generator<void, T, void>): T {
  for (;;) {
    const r = gen.next()
    if (r.done === true) return r.value
  }
}

/** V8's overheads, roughly: an array object with its backing store's header, and one pointer. */
const ROW_OVERHEAD = 48
const SLOT = 8
export const SLOT_BYTES = SLOT

/** Estimated bytes of a row whose values are its own (fetched or computed). */
export function rowBytes(r: Row): number {
  let n = ROW_OVERHEAD + SLOT * r.length
  for (let i = 0; i < r.length; i++) n += valueBytes(r[i] ?? null)
  return n
}

/**
 * Estimated bytes of a row whose values are shared with its inputs (a join's output row), with the slot
 * that holds it in its result array.
 */
export const shallowRowBytes = (width: number): number => ROW_OVERHEAD + SLOT * (width + 1)

function valueBytes(v: Value): number {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return 0
  if (typeof v === 'string') return 16 + v.length
  if (Buffer.isBuffer(v)) return 48 + v.length
  if (Array.isArray(v)) return rowBytes(v)
  return 48
}

/** `'64MB'`, `'1GB'`, `'512kB'`, `'1048576'` (bytes): PostgreSQL's memory units (`kB` = 1024). */
export function parseMemorySetting(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$/i.exec(text)
  if (m === null) return null
  const unit = (m[2] ?? 'B').toUpperCase()
  const scale = unit === 'B' ? 1 : unit === 'KB' ? 1024 : unit === 'MB' ? 1024 ** 2 : unit === 'GB' ? 1024 ** 3 : 1024 ** 4
  return Math.round(Number(m[1]) * scale)
}

/** `'5s'`, `'250ms'`, `'1min'`, `'100'` (milliseconds): PostgreSQL's time units for statement_timeout. */
export function parseTimeoutSetting(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/i.exec(text)
  if (m === null) return null
  const unit = (m[2] ?? 'ms').toLowerCase()
  const scale = unit === 'us' ? 0.001 : unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'min' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000
  return Math.round(Number(m[1]) * scale)
}

export function formatBytes(n: number): string {
  if (n % 1024 ** 3 === 0) return `${n / 1024 ** 3}GB`
  if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2}MB`
  if (n % 1024 === 0) return `${n / 1024}kB`
  return `${n}B`
}
