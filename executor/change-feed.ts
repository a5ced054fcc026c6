/**
 * Live results: what SUBSCRIBE reads. The engine calls `ChangeFeed.stepped()` after every pass of its
 * loop; each `Subscription` then looks at its source and turns what changed into rows of changes:
 *
 * - a materialized view is followed by table entry: the view's table journals the keys it writes, and each
 *   step re-reads only those entries and compares their rows with what the subscription sent for them, as
 *   a multiset: a row that left is a -1, a row that came is a +1, so an updated group is a -1 of the old
 *   row and a +1 of the new. A step costs what changed in it, not the size of the view. In windowed
 *   aggregations with EMIT ON WINDOW CLOSE, whose rows appear as the watermark passes without their entry
 *   changing, the follower holds written entries until their window closes (KeyedAggregate.followClosed);
 *   views without a follower (SESSION with EMIT ON WINDOW CLOSE) are re-read whole when their position,
 *   watermark or retention counters moved, and diffed the same way;
 * - a stream is tailed: the events appended since the last step are read from its log, each a +1.
 *
 * Changes are stamped with the processing time in milliseconds since the Unix epoch at which the step
 * observed them (never decreasing within a subscription); the snapshot carries the subscription's start.
 * The executor never imports the server: shaping changes into wire rows is the server's job.
 *
 * A subscriber that does not read cannot grow the server: its queue holds at most `FeedLimits.buffer`
 * changes, past which it stops reading its source (it is "behind") and the engine goes on without it. What
 * it has not read stays where it already is: a stream's log on disk (the subscription keeps its read
 * position), a view's table (its journal keeps the written entries' keys, once each, and a re-read gives
 * their rows as they are then, so what was overwritten meanwhile comes as one net change). When the client
 * has taken half the queue the subscription reads on from where it stopped. A subscriber more than
 * `FeedLimits.maxLag` source events behind is ended with 53400 and its queue dropped.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import { Numeric, numericKey } from '../common/numeric.ts'
import type { StreamSource } from './source.ts'
import type { StreamDecoder } from './record-decoder.ts'
import type { ViewFollower } from './operators/view-follower.ts'
import { QueryGuard } from './query-budget.ts'

/** How much a subscriber that does not keep up may cost. */
export interface FeedLimits {
  /** Changes queued for one subscriber before it stops reading its source until the client takes some. */
  readonly buffer: number
  /**
   * Source events a subscriber may fall behind by (stream records it has not read, past its snapshot; or
   * events its view took in since it last read the view) before it is ended with 53400; 0: no limit.
   */
  readonly maxLag: number
}

export const DEFAULT_FEED_LIMITS: FeedLimits = { buffer: 8192, maxLag: 1_000_000 }

/** The engine's side of live results: one signal per loop pass. */
export class ChangeFeed {
  private readonly listeners = new Set<() => void>()

  /** Limits of subscriptions created from now on (the server sets them from its options). */
  constructor(public limits: FeedLimits = DEFAULT_FEED_LIMITS) {}

  /** Calls `listener` after every engine step until the returned function is called. */
  onStep(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Called by the engine loop after each pass (and at least every checkpoint interval while idle). */
  stepped(): void {
    for (const l of this.listeners) {
      try {
        l()
      } catch {
        // A subscriber's failure is its own; the engine goes on.
      }
    }
  }

  get subscribers(): number {
    return this.listeners.size
  }
}

/** Readers waiting for the next item of a live feed. */
export class Wakeups {
  private list: (() => void)[] = []

  /** Resolves at the next `wake`, after `timeoutMs` (null: no timeout), or when `signal` aborts. */
  next(timeoutMs: number | null, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = () => {
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        this.list = this.list.filter((w) => w !== done)
        resolve()
      }
      this.list.push(done)
      if (timeoutMs !== null) timer = setTimeout(done, timeoutMs)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  wake(): void {
    if (this.list.length === 0) return
    const ws = this.list
    this.list = []
    for (const w of ws) w()
  }
}

/** One change: a row that came (+1) or left (-1), at a processing time in ms. */
export interface Change {
  readonly timestamp: number
  readonly diff: 1 | -1
  readonly row: Row
}

/** A progress mark: every change up to `timestamp` has been delivered before it. */
export type FeedItem = ({ readonly kind: 'change' } & Change) | { readonly kind: 'progress'; readonly timestamp: number }

/** What a subscription reads a view through (a ContinuousQuery fits). */
export interface ViewHandle {
  readonly status: string
  readonly eventsIn: number
  readonly expired: number
  readonly watermark: { readonly current: number }
  readonly offsets: readonly number[]
  rows(): AsyncIterable<Row>
  /** Entry-by-entry changes when the view supports them (null: re-read whole). */
  follow?(): ViewFollower | null
}

/** What a subscription reads a stream through (the engine's stream runtime fits). */
export interface StreamHandle {
  readonly log: StreamSource
  readonly decode: StreamDecoder
}

export type FeedSource = { readonly kind: 'view'; readonly view: () => ViewHandle | undefined } | { readonly kind: 'stream'; readonly stream: () => StreamHandle | undefined }

/**
 * What a reader of live results holds: a Subscription on this engine, or in cluster mode the merge of the
 * subscriptions of every task (cluster/subscribe.ts). The server reads either the same way.
 */
export interface LiveFeed {
  /** Resolves once the starting point is set (the snapshot queued, if asked for). */
  ready(): Promise<void>
  readonly pending: number
  readonly ended: boolean
  /** Aborts when the feed ends (its reason: the failure, if it failed). */
  readonly stopped: AbortSignal
  /** Up to `max` queued items (max <= 0: all); throws the failure once the queue is empty. */
  take(max: number): FeedItem[]
  /** Resolves once an item is queued, the feed ended, `timeoutMs` passed or `signal` aborts. */
  wait(timeoutMs: number | null, signal?: AbortSignal): Promise<void>
  close(): void
}

export interface SubscriptionOptions {
  /** Emit the current contents as +1 rows first (default true). */
  readonly snapshot: boolean
  /** Emit progress marks after each step that delivered changes, and at least once a second. */
  readonly progress: boolean
  /**
   * Look for changes at most this often (ms; 0 or absent: after every engine step). A view's journal keeps
   * each written entry once, so looking less often reads each changed entry once per look instead of once
   * per step: a reader that needs no more than a few updates a second costs the engine less.
   */
  readonly minIntervalMs?: number
}

/** Records read from a stream log per read call while tailing. */
const READ_BATCH = 1000
/** Quiet time after which a progress mark is sent anyway. */
const PROGRESS_HEARTBEAT_MS = 1000

/**
 * One SUBSCRIBE: a bounded queue of changes fed by engine steps, drained by `take`. `wait` blocks until
 * something is queued, the subscription ends, or a timeout passes.
 */
export class Subscription implements LiveFeed {
  private readonly queue: FeedItem[] = []
  private head = 0
  private closed = false
  private failure: SluiceError | null = null
  private busy = false
  private again = false
  /** Stopped reading its source because the queue was full; `take` starts it again. */
  private behind = false
  /** Changes queued so far (whether taken or not), to tell whether a step found any. */
  private queued = 0
  private lastTimestamp = 0
  private lastProgress = 0
  private startedAt = 0
  private readonly waiters = new Wakeups()
  private readonly unsubscribe: () => void
  private readonly limits: FeedLimits
  /** Aborted when the subscription ends, with its failure if it failed. */
  private readonly ending = new AbortController()
  /** View: the rows sent so far, as key -> (row, count). */
  private readonly current = new Map<string, { row: Row; count: number }>()
  private viewSignature = ''
  /** View: its events-in counter when it was last read, for the lag. */
  private viewEventsRead = 0
  /** View followed by entry: the rows sent so far per table entry. */
  private follower: ViewFollower | null = null
  private readonly sentByEntry = new Map<string, Row[]>()
  /** Stream: the next offset to read per partition. */
  private positions: number[] = []
  /** Stream: where each partition ended at the start; records before it are the snapshot (or skipped). */
  private snapshotEnds: number[] = []
  private snapshotDone = true
  private readonly started: Promise<void>
  /** When the last look for changes began, and the timer of a look put off by minIntervalMs. */
  private lastLook = 0
  private deferred: NodeJS.Timeout | null = null

  constructor(
    feed: ChangeFeed,
    private readonly source: FeedSource,
    private readonly options: SubscriptionOptions,
  ) {
    this.limits = feed.limits
    this.started = this.start().catch((err: unknown) => this.fail(asSluiceError(err)))
    this.unsubscribe = feed.onStep(() => this.step())
  }

  /** Resolves once the subscription has its starting point (a view's snapshot queued, if asked for). */
  ready(): Promise<void> {
    return this.started
  }

  /** Items queued and not yet taken. */
  get pending(): number {
    return this.queue.length - this.head
  }

  get ended(): boolean {
    return this.closed
  }

  /** Aborts when the subscription ends (its reason: the failure, if it failed), so a writer waiting on a full socket can stop. */
  get stopped(): AbortSignal {
    return this.ending.signal
  }

  /** Whether it stopped reading its source until the client takes more of its queue. */
  get paused(): boolean {
    return this.behind
  }

  private async start(): Promise<void> {
    const ts = this.stamp()
    this.startedAt = ts
    if (this.source.kind === 'stream') {
      const s = this.source.stream()
      if (s === undefined) return this.fail(gone('stream'))
      this.positions = Array.from({ length: s.log.partitionCount }, (_, p) => s.log.endOffset(p))
      this.snapshotEnds = this.positions.slice()
      if (this.options.snapshot) {
        this.positions = this.positions.map(() => 0)
        this.snapshotDone = false
        // A snapshot larger than the queue is read on as the client takes it (see refresh).
        this.snapshotDone = await this.tail(s, ts, this.snapshotEnds)
        if (!this.snapshotDone) return
      }
    } else {
      const v = this.source.view()
      if (v === undefined) return this.fail(gone('materialized view'))
      this.viewEventsRead = v.eventsIn
      this.follower = v.follow?.() ?? null
      if (this.follower !== null) {
        // The snapshot is queued at once, whole: a FETCH never sees part of it. Read in slices that give
        // the event loop back, so that a large view's snapshot never holds the engine or other sessions.
        const slices = QueryGuard.unlimited()
        const snapshot: Row[] = []
        for await (const [key, rows] of this.follower.entries()) {
          if (slices.tick(rows.length)) await slices.pause()
          this.sentByEntry.set(key, rows)
          if (this.options.snapshot) snapshot.push(...rows)
        }
        for (const row of snapshot) this.queue.push({ kind: 'change', timestamp: ts, diff: 1, row })
        this.queued += snapshot.length
        if (snapshot.length > 0) this.wakeWaiters()
        if (this.options.progress) this.pushProgress(ts)
        return
      }
      this.viewSignature = signature(v)
      const slices = QueryGuard.unlimited()
      const rows: Row[] = []
      for await (const row of v.rows()) {
        if (slices.tick()) await slices.pause()
        rows.push(row)
      }
      for (const row of rows) {
        if (slices.tick()) await slices.pause()
        const key = rowKey(row)
        const e = this.current.get(key)
        if (e === undefined) this.current.set(key, { row, count: 1 })
        else e.count++
        if (this.options.snapshot) this.push({ kind: 'change', timestamp: ts, diff: 1, row })
      }
    }
    if (this.options.progress) this.pushProgress(ts)
  }

  /**
   * One engine step: look for changes unless a look is already under way (then look again after it). A
   * subscriber whose queue is full does not look (the engine never waits for a client); its lag is checked.
   */
  private step(): void {
    if (this.closed) return
    if (this.pending >= this.limits.buffer) {
      this.behind = true
      this.checkLag()
      return
    }
    if (this.busy) {
      this.again = true
      return
    }
    const gap = this.options.minIntervalMs ?? 0
    if (gap > 0) {
      const wait = this.lastLook + gap - Date.now()
      if (wait > 0) {
        this.deferred ??= setTimeout(() => {
          this.deferred = null
          this.step()
        }, wait)
        return
      }
      this.lastLook = Date.now()
    }
    this.busy = true
    void (async () => {
      let complete = true
      try {
        await this.started
        do {
          this.again = false
          if (this.closed) return
          if (this.pending >= this.limits.buffer) {
            this.behind = true
            // Checked here too: when the queue fills after the engine's last step (it went idle), no later
            // step would check, and a stalled client far behind would be kept instead of ended.
            this.checkLag()
            return
          }
          // Not complete: it stopped at the queue's room; read on while there is room again.
          complete = await this.refresh()
        } while (this.again || !complete)
      } catch (err) {
        this.fail(asSluiceError(err))
      } finally {
        this.busy = false
      }
    })()
  }

  /** Queues what changed since the last look; false when it stopped short because the queue was full. */
  private async refresh(): Promise<boolean> {
    const before = this.queued
    const ts = this.stamp()
    let complete = true
    if (this.source.kind === 'stream') {
      const s = this.source.stream()
      if (s === undefined) return this.gone('stream')
      if (!this.snapshotDone) {
        // The rest of the snapshot first, at the start's timestamp, so that timestamps never go back.
        complete = this.snapshotDone = await this.tail(s, this.startedAt, this.snapshotEnds)
        if (complete && this.options.progress) this.pushProgress(this.startedAt)
      }
      if (complete) complete = await this.tail(s, ts, this.positions.map((_, p) => s.log.endOffset(p)))
    } else {
      const v = this.source.view()
      if (v === undefined) return this.gone('materialized view')
      // Counted before the view is read: what the view takes in from here on is lag until the next read.
      const eventsIn = v.eventsIn
      if (this.follower !== null) {
        // A follower handing out what it kept back has not read the view anew yet.
        if ((this.follower.backlog ?? 0) === 0) this.viewEventsRead = eventsIn
        complete = await this.diffEntries(this.follower, ts)
      } else {
        this.viewEventsRead = eventsIn
        const sig = signature(v)
      if (sig !== this.viewSignature) {
          this.viewSignature = sig
          await this.diffView(v, ts)
        }
      }
    }
    if (this.options.progress && complete && (this.queued > before || ts - this.lastProgress >= PROGRESS_HEARTBEAT_MS)) this.pushProgress(ts)
    return complete
  }

  private gone(what: string): boolean {
    this.fail(gone(what))
    return true
  }

  /**
   * Reads the records in [position, end) of each partition, a batch from each in turn (so that a busy
   * partition does not starve the others while the queue keeps filling), each decoded event a +1. Stops
   * when the queue is full; false then (the positions say where to read on).
   */
  private async tail(s: StreamHandle, ts: number, ends: readonly number[]): Promise<boolean> {
    for (let more = true; more; ) {
      more = false
      for (let p = 0; p < ends.length; p++) {
        if (this.closed) return true
        const from = this.positions[p]!
        if (from >= ends[p]!) continue
        if (this.pending >= this.limits.buffer) {
          this.behind = true
          return false
        }
        const room = this.limits.buffer - this.pending
        const { records, nextOffset, offsets, timestamps } = await s.log.read(p, from, Math.min(READ_BATCH, ends[p]! - from, room))
        if (this.closed) return true
        for (let i = 0; i < records.length; i++) {
          let row: Row | null = null
          try {
            row = s.decode(records[i]!, p, offsets?.[i] ?? from + i, timestamps?.[i] ?? null)
          } catch {
            // Dead letters are listed in sluice_dead_letters, not streamed.
          }
          if (row !== null) this.push({ kind: 'change', timestamp: ts, diff: 1, row })
        }
        if (nextOffset <= from) continue
        this.positions[p] = nextOffset
        if (nextOffset < ends[p]!) more = true
      }
    }
    return true
  }

  /**
   * The entries written since the last step: their rows now against those sent; removals first. At most
   * about the queue's room in rows is read; false when the follower kept entries back for the next call.
   */
  private async diffEntries(follower: ViewFollower, ts: number): Promise<boolean> {
    const changed = await follower.changed(Math.max(1, this.limits.buffer - this.pending))
    if (this.closed) return true
    const added: Row[] = []
    for (const [key, rows] of changed) {
      const sent = this.sentByEntry.get(key) ?? []
      const { gone, came } = multisetDiff(sent, rows)
      for (const row of gone) this.push({ kind: 'change', timestamp: ts, diff: -1, row })
      added.push(...came)
      if (rows.length === 0) this.sentByEntry.delete(key)
      else this.sentByEntry.set(key, rows)
    }
    for (const row of added) this.push({ kind: 'change', timestamp: ts, diff: 1, row })
    return (follower.backlog ?? 0) === 0
  }

  /** Compares the view's rows with those sent so far: removals first, then additions, at one timestamp. */
  private async diffView(v: ViewHandle, ts: number): Promise<void> {
    const next = new Map<string, { row: Row; count: number }>()
    const order: string[] = []
    for await (const row of v.rows()) {
      const key = rowKey(row)
      const e = next.get(key)
      if (e === undefined) {
        next.set(key, { row, count: 1 })
        order.push(key)
      } else e.count++
    }
    if (this.closed) return
    for (const [key, old] of this.current) {
      const now = next.get(key)?.count ?? 0
      for (let i = now; i < old.count; i++) this.push({ kind: 'change', timestamp: ts, diff: -1, row: old.row })
    }
    for (const key of order) {
      const e = next.get(key)!
      const had = this.current.get(key)?.count ?? 0
      for (let i = had; i < e.count; i++) this.push({ kind: 'change', timestamp: ts, diff: 1, row: e.row })
    }
    this.current.clear()
    for (const [k, e] of next) this.current.set(k, e)
  }

  /** Source events not yet read: a stream's records past the position (and the snapshot), a view's events since the last read. */
  lag(): number {
    if (this.source.kind === 'stream') {
      const s = this.source.stream()
      if (s === undefined) return 0
      let n = 0
      for (let p = 0; p < this.positions.length; p++) n += Math.max(0, s.log.endOffset(p) - Math.max(this.positions[p]!, this.snapshotEnds[p] ?? 0))
      return n
    }
    const v = this.source.view()
    return v === undefined ? 0 : Math.max(0, v.eventsIn - this.viewEventsRead)
  }

  private checkLag(): void {
    const max = this.limits.maxLag
    if (max <= 0) return
    const lag = this.lag()
    if (lag > max) this.fail(fellBehind(lag, max), true)
  }

  private stamp(): number {
    this.lastTimestamp = Math.max(this.lastTimestamp, Date.now())
    return this.lastTimestamp
  }

  private push(item: FeedItem): void {
    if (this.closed) return
    this.queue.push(item)
    if (item.kind === 'change') this.queued++
    this.wakeWaiters()
  }

  private pushProgress(ts: number): void {
    this.lastProgress = ts
    this.push({ kind: 'progress', timestamp: ts })
  }

  private wakeWaiters(): void {
    this.waiters.wake()
  }


  /** Ends with `err`; `drop` also discards what is queued (a subscriber too far behind gets the error at once). */
  private fail(err: SluiceError, drop = false): void {
    if (this.closed) return
    this.failure = err
    if (drop) this.clearQueue()
    this.end()
  }

  /** Up to `max` queued items (max <= 0: all); throws the subscription's failure once the queue is empty. */
  take(max: number): FeedItem[] {
    const n = max <= 0 ? this.pending : Math.min(max, this.pending)
    const out = this.queue.slice(this.head, this.head + n)
    this.head += n
    if (this.head === this.queue.length) this.clearQueue()
    else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (out.length === 0 && this.failure !== null) throw this.failure
    if (this.behind && !this.closed && this.pending <= this.limits.buffer / 2) {
      // Read on from where it stopped, without waiting for the engine's next step.
      this.behind = false
      this.step()
    }
    return out
  }

  /**
   * Resolves once an item is queued, the subscription ended, `timeoutMs` passed (null: no timeout) or
   * `signal` aborts (the client cancelled).
   */
  async wait(timeoutMs: number | null, signal?: AbortSignal): Promise<void> {
    if (this.pending > 0 || this.closed || signal?.aborted === true) return
    await this.waiters.next(timeoutMs, signal)
  }


  /** The reader is done: stops following the source and lets go of everything queued. */
  close(): void {
    this.end()
    this.clearQueue()
  }

  private clearQueue(): void {
    this.queue.length = 0
    this.head = 0
  }

  /** Stops following the source; what is queued stays for the reader (then the failure, if any). */
  private end(): void {
    if (this.closed) return
    this.closed = true
    this.behind = false
    if (this.deferred !== null) clearTimeout(this.deferred)
    this.deferred = null
    this.unsubscribe()
    this.follower?.close()
    this.follower = null
    this.current.clear()
    this.sentByEntry.clear()
    this.ending.abort(this.failure ?? undefined)
    this.wakeWaiters()
  }
}

const fellBehind = (lag: number, max: number): SluiceError =>
  new SluiceError('execution', SqlState.configurationLimitExceeded, `subscriber fell behind: ${lag} events not yet read, more than the limit of ${max}`, {
    detail: 'The client read changes more slowly than they came.',
    hint: 'Read faster, subscribe to a view that aggregates more, or raise the server option --subscribe-max-lag.',
  })

const asSluiceError = (err: unknown): SluiceError =>
  err instanceof SluiceError ? err : new SluiceError('execution', SqlState.internalError, `subscription failed: ${(err as Error).message}`)

const gone = (what: string): SluiceError =>
  new SluiceError('execution', SqlState.undefinedTable, `the subscribed ${what} was dropped`)

/** The rows of `before` missing from `after` and those of `after` new to `before`, counting duplicates. */
export function multisetDiff(before: readonly Row[], after: readonly Row[]): { gone: Row[]; came: Row[] } {
  if (before.length === 0) return { gone: [], came: [...after] }
  if (after.length === 0) return { gone: [...before], came: [] }
  const left = new Map<string, number>()
  for (const row of before) {
    const k = rowKey(row)
    left.set(k, (left.get(k) ?? 0) + 1)
  }
  const came: Row[] = []
  for (const row of after) {
    const k = rowKey(row)
    const n = left.get(k) ?? 0
    if (n > 0) left.set(k, n - 1)
    else came.push(row)
  }
  const gone: Row[] = []
  for (const row of before) {
    const k = rowKey(row)
    const n = left.get(k) ?? 0
    if (n > 0) {
      gone.push(row)
      left.set(k, n - 1)
    }
  }
  return { gone, came }
}

/** What moves when a view's contents may have changed. */
function signature(v: ViewHandle): string {
  return `${v.status}|${v.eventsIn}|${v.watermark.current}|${v.expired}|${v.offsets.join(',')}`
}

/** A key equal for equal rows, for every runtime value (NaN and infinities included, unlike JSON). */
export function rowKey(row: readonly Value[]): string {
  let out = ''
  for (const v of row) out += `${valueKey(v)}\u0001`
  return out
}

function valueKey(v: Value): string {
  if (v === null) return 'N'
  switch (typeof v) {
    case 'number':
      return `n${Object.is(v, -0) ? '0' : String(v)}`
    case 'string':
      return `s${v.length}:${v}`
    case 'boolean':
      return v ? 'T' : 'F'
  }
  if (Buffer.isBuffer(v)) return `b${v.toString('hex')}`
  if (Array.isArray(v)) return `[${v.map(valueKey).join(',')}]`
  if (v instanceof Numeric) return `d${numericKey(v)}`
  return `i${v.months}/${v.days}/${v.micros}`
}
