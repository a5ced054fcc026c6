/**
 * SUBSCRIBE in a cluster (docs/cluster.md, "SUBSCRIBE"): a view's changes happen in its tasks (tasks.ts),
 * so a subscription follows every one of them. On each task engine it is the embedded subscription
 * (executor/change-feed.ts), with that engine's rule joining its snapshot and its changes; the node that
 * took the SUBSCRIBE merges them: the tasks it owns directly, those of other nodes through their internal
 * endpoint (`POST /_cluster/subscribe`, server/http-cluster.ts, signed as `/_cluster/rows` is), which
 * streams the merged feed of that node's tasks as row frames (row-frames.ts). Every task's snapshot comes
 * before any change; progress marks are the least progress over all tasks.
 *
 * Each task is followed on its own; when one moves (its node stops it, dies, or the group gives it to
 * another node), it is followed again on its new owner from the difference between what was sent and that
 * owner's snapshot (subscribe-resume.ts). Bounded everywhere: a merged queue holds at most the feed limit's
 * `buffer` changes and stops reading its sources past it (a peer's socket then fills and the peer stops
 * reading its task subscriptions), so a slow client ends with 53400 as on a single process.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row } from '../common/types.ts'
import { Subscription, Wakeups, type FeedItem, type FeedLimits, type LiveFeed, type SubscriptionOptions } from '../executor/change-feed.ts'
import type { TaskEngines } from './tasks.ts'
import { taskLabel } from './task-label.ts'
import { readRowFrames } from './row-frames.ts'
import { TaskMoves, resumableTask, type TaskSource } from './subscribe-resume.ts'

export const PEER_SUBSCRIBE_PATH = '/_cluster/subscribe'

/** What a node asks a peer for: the changes of `view` in its tasks `tasks`. */
export interface SubscribeRequest {
  readonly view: string
  readonly tasks: readonly number[]
  readonly snapshot: boolean
  readonly minIntervalMs: number
}

/** Marks the end of a source's snapshot: every item before it is the snapshot. */
export const SNAPSHOT_END = 'snapshot_end'
export type SourceItem = FeedItem | typeof SNAPSHOT_END

/** How often a subscription looks whether its tasks are still where they were. */
export const TASK_CHECK_MS = 250

export const tasksMoved = (why: string): SluiceError =>
  new SluiceError('execution', SqlState.serializationFailure, `the tasks this subscription follows moved: ${why}`, {
    detail: 'A node stopped, died or joined, and the cluster gave some of the view\'s tasks to another node; changes from then on cannot be joined to what was sent without loss or duplicates.',
    hint: 'SUBSCRIBE again: the new subscription starts with a snapshot of the whole view.',
  })

// On the wire an item is a row frame: its kind, then its fields.
const CHANGE = 1
const PROGRESS = 2
const SNAPSHOT = 3

export function itemRow(item: SourceItem): Row {
  if (item === SNAPSHOT_END) return [SNAPSHOT]
  if (item.kind === 'progress') return [PROGRESS, item.timestamp]
  return [CHANGE, item.timestamp, item.diff, ...item.row]
}

function rowItem(row: Row, peer: string): SourceItem {
  switch (row[0]) {
    case SNAPSHOT:
      return SNAPSHOT_END
    case PROGRESS:
      return { kind: 'progress', timestamp: row[1] as number }
    case CHANGE:
      return { kind: 'change', timestamp: row[1] as number, diff: row[2] as 1 | -1, row: row.slice(3) }
  }
  throw new SluiceError('execution', SqlState.protocolViolation, `node ${peer} sent a change of unknown kind ${String(row[0])}`)
}

/**
 * The embedded subscription to `view` on this node's task engine `task`: its snapshot, SNAPSHOT_END, then
 * its changes. Throws 40001 once the task stops here; returns when `signal` aborts.
 */
export async function* taskChanges(local: TaskEngines, task: number, view: string, options: SubscriptionOptions, limits: FeedLimits, signal: AbortSignal): AsyncGenerator<SourceItem> {
  const t = local.get(task)
  if (t === undefined || t.status !== 'running' || t.stopping) throw tasksMoved(`task ${taskLabel(task)} is not running on this node`)
  const moved = () => t.stopping || local.get(task) !== t
  t.engine.changes.limits = limits
  // Progress marks always: the merge needs each task's to give the least.
  const sub = new Subscription(t.engine.changes, { kind: 'view', view: () => t.engine.query(view) }, { ...options, progress: true })
  // Counted as a reader while the snapshot is read: a revoked task's store does not close under it.
  t.readers++
  try {
    await sub.ready().finally(() => t.readers--)
    if (moved()) throw tasksMoved(`task ${taskLabel(task)} stopped during the snapshot`)
    yield* sub.take(0)
    yield SNAPSHOT_END
    for (;;) {
      await sub.wait(TASK_CHECK_MS, signal)
      if (signal.aborted) return
      if (moved()) throw tasksMoved(`task ${taskLabel(task)} stopped on its node`)
      let items: FeedItem[]
      try {
        items = sub.take(0)
      } catch (err) {
        // A store closed under a look of a task being stopped is the move, not the cause.
        throw moved() ? tasksMoved(`task ${taskLabel(task)} stopped on its node`) : err
      }
      yield* items
      if (items.length === 0 && sub.ended) throw moved() ? tasksMoved(`task ${taskLabel(task)} stopped on its node`) : new SluiceError('execution', SqlState.internalError, `the subscription of task ${taskLabel(task)} ended without a reason`)
    }
  } finally {
    sub.close()
  }
}

/** A peer's merged feed, read from its answer to PEER_SUBSCRIBE_PATH. A cut-short answer (the peer died) is a move. */
export async function* peerChanges(body: AsyncIterable<Uint8Array>, peer: string, signal: AbortSignal): AsyncGenerator<SourceItem> {
  try {
    for await (const row of readRowFrames(body, peer)) yield rowItem(row, peer)
  } catch (err) {
    if (signal.aborted) return
    if (err instanceof SluiceError && err.sqlstate !== SqlState.connectionFailure) throw err
    throw tasksMoved(`node ${peer} stopped answering (${(err as Error).message})`)
  }
  if (!signal.aborted) throw tasksMoved(`node ${peer} ended its changes`)
}

/**
 * The merge of several sources' items into one live feed. A source's snapshot is passed on as it comes;
 * the changes it sends after it are held back until every source's snapshot is in, so the whole snapshot
 * comes first; timestamps never go back; a progress
 * mark is the least over all sources. `markSnapshot` (a peer's merge) passes SNAPSHOT_END on as an item.
 */
export class MergedFeed implements LiveFeed {
  private queue: SourceItem[] = []
  private head = 0
  private held: FeedItem[] = []
  private snapshotsLeft: number
  private readonly progressBy: number[]
  /** Per source: still sending its snapshot. */
  private readonly inSnapshot: boolean[]
  private lastProgress = -Infinity
  private lastTimestamp = 0
  private failure: SluiceError | null = null
  private closed = false
  private readonly waiters = new Wakeups()
  private roomWaiters: (() => void)[] = []
  private readonly ending = new AbortController()
  private readonly started: Promise<void>
  private startedNow!: () => void

  constructor(
    sources: ((signal: AbortSignal) => AsyncGenerator<SourceItem>)[],
    private readonly limits: FeedLimits,
    private readonly options: { readonly progress: boolean; readonly markSnapshot: boolean },
  ) {
    this.snapshotsLeft = sources.length
    this.progressBy = sources.map(() => -Infinity)
    this.inSnapshot = sources.map(() => true)
    this.started = new Promise((resolve) => (this.startedNow = resolve))
    if (sources.length === 0) this.snapshotDone()
    sources.forEach((source, i) => void this.pump(i, source(this.ending.signal)))
  }

  ready(): Promise<void> {
    return this.started
  }

  get pending(): number {
    return this.queue.length - this.head
  }

  get ended(): boolean {
    return this.closed
  }

  /** Aborts when the feed ends; its sources stop with it. */
  get stopped(): AbortSignal {
    return this.ending.signal
  }

  /** Why the feed ended, if it failed. */
  get failed(): SluiceError | null {
    return this.failure
  }

  /** Fails the feed from outside (its tasks moved). */
  fail(err: SluiceError): void {
    if (this.closed) return
    this.failure = err
    this.end()
  }

  private async pump(i: number, source: AsyncGenerator<SourceItem>): Promise<void> {
    try {
      for await (const item of source) {
        if (this.closed) break
        this.accept(i, item)
        while (!this.closed && this.pending + this.held.length >= this.limits.buffer) await new Promise<void>((r) => this.roomWaiters.push(r))
        if (this.closed) break
      }
      if (!this.closed) this.fail(tasksMoved('a task\'s changes ended'))
    } catch (err) {
      this.fail(err instanceof SluiceError ? err : new SluiceError('execution', SqlState.internalError, `subscription failed: ${(err as Error).message}`))
    } finally {
      await source.return(undefined).catch(() => undefined)
    }
  }

  private accept(i: number, item: SourceItem): void {
    if (item === SNAPSHOT_END) {
      this.inSnapshot[i] = false
      if (--this.snapshotsLeft === 0) this.snapshotDone()
      return
    }
    if (item.kind === 'progress') {
      this.progressBy[i] = item.timestamp
      const least = Math.min(...this.progressBy)
      if (this.snapshotsLeft === 0 && this.options.progress && least > this.lastProgress) {
        this.lastProgress = least
        this.push({ kind: 'progress', timestamp: least })
      }
      return
    }
    // A source's snapshot goes out at once; its changes wait until every snapshot is out.
    if (this.snapshotsLeft > 0 && !this.inSnapshot[i]) this.held.push(item)
    else this.push(this.stamped(item))
  }

  /** The change at the last timestamp sent when it was stamped earlier (another task, another clock). */
  private stamped(item: FeedItem): FeedItem {
    this.lastTimestamp = Math.max(this.lastTimestamp, item.timestamp)
    return item.timestamp === this.lastTimestamp ? item : { ...item, timestamp: this.lastTimestamp }
  }

  private snapshotDone(): void {
    const held = this.held
    this.held = []
    for (const c of held) this.queue.push(this.stamped(c))
    if (this.options.markSnapshot) this.queue.push(SNAPSHOT_END)
    this.wake()
    this.startedNow()
  }

  private push(item: SourceItem): void {
    if (this.closed) return
    this.queue.push(item)
    this.wake()
  }

  private wake(): void {
    this.waiters.wake()
  }

  /** Up to `max` items (<= 0: all), SNAPSHOT_END included (only with markSnapshot); throws the failure once empty. */
  takeItems(max: number): SourceItem[] {
    const n = max <= 0 ? this.pending : Math.min(max, this.pending)
    const out = this.queue.slice(this.head, this.head + n)
    this.head += n
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (out.length === 0 && this.failure !== null) throw this.failure
    for (const w of this.roomWaiters.splice(0)) w()
    return out
  }

  take(max: number): FeedItem[] {
    return this.takeItems(max).filter((item): item is FeedItem => item !== SNAPSHOT_END)
  }

  async wait(timeoutMs: number | null, signal?: AbortSignal): Promise<void> {
    if (this.pending > 0 || this.closed || signal?.aborted === true) return
    await this.waiters.next(timeoutMs, signal)
  }


  close(): void {
    this.end()
    this.queue = []
    this.head = 0
  }

  private end(): void {
    if (this.closed) return
    this.closed = true
    this.ending.abort(this.failure ?? undefined)
    this.startedNow()
    this.wake()
    for (const w of this.roomWaiters.splice(0)) w()
  }
}

/** What subscribeCluster needs of the cluster reader (pull.ts). */
export interface TaskReach {
  reach(name: string, path: string, body: (owned: readonly number[]) => string, abort: AbortController, only?: readonly number[]): Promise<{ mine: number[]; remote: { node: string; res: Response }[]; owners: Map<string, number[]> }>
  ownersNow(name: string): Promise<Map<number, string>>
  tasksOf(name: string): number[]
}

/**
 * SUBSCRIBE to `view` on the whole cluster: every task ready (waited for as a pull query waits, 55000
 * past PULL_WAIT_MS), each followed where it runs, and followed again where it goes when it moves
 * (subscribe-resume.ts); resolves once every task's snapshot is queued.
 */
export async function subscribeCluster(reader: TaskReach, local: TaskEngines, view: string, options: SubscriptionOptions, limits: FeedLimits): Promise<LiveFeed> {
  // Every task is asked for its snapshot: what the client has is what a move is resumed from.
  const request = (owned: readonly number[]): string => JSON.stringify({ view, tasks: owned, snapshot: true, minIntervalMs: options.minIntervalMs ?? 0 } satisfies SubscribeRequest)
  const open = async (task: number, signal: AbortSignal): Promise<TaskSource> => {
    const abort = new AbortController()
    signal.addEventListener('abort', () => abort.abort(), { once: true })
    const { mine, remote, owners } = await reader.reach(view, PEER_SUBSCRIBE_PATH, request, abort, [task])
    const node = [...owners.keys()][0]!
    if (mine.length > 0) return { node, items: taskChanges(local, task, view, { ...options, snapshot: true }, limits, abort.signal) }
    const r = remote[0]!
    return { node: r.node, items: peerChanges(r.res.body as unknown as AsyncIterable<Uint8Array>, r.node, abort.signal) }
  }
  const moves = new TaskMoves()
  const feed = new MergedFeed(
    reader.tasksOf(view).map((task) => (signal: AbortSignal) => resumableTask(task, options.snapshot, open, moves, signal)),
    limits,
    { progress: options.progress, markSnapshot: false },
  )
  watchOwners(reader, view, moves, feed)
  await feed.ready()
  // A task that could not be reached at the start fails the SUBSCRIBE itself (55000), as a pull query.
  if (feed.failed !== null && feed.pending === 0) throw feed.failed
  return feed
}

/**
 * Tells `moves` the group's owners once a second: a task shown on another node than the one followed (a
 * network split, a rebalance its old node has not acted on yet) is followed there instead. A task shown
 * without an owner (a rebalance under way) is no move by itself.
 */
function watchOwners(reader: TaskReach, view: string, moves: TaskMoves, feed: MergedFeed): void {
  const timer = setInterval(() => {
    void reader.ownersNow(view).then(
      (now) => moves.seen(now),
      // The coordinator not answering is no move by itself.
      () => undefined,
    )
  }, OWNER_CHECK_MS)
  timer.unref()
  feed.stopped.addEventListener('abort', () => clearInterval(timer), { once: true })
}

/** How often a subscription asks the group who owns its tasks (pull.ts caches the answer a second). */
const OWNER_CHECK_MS = 1000

/** A peer's side of PEER_SUBSCRIBE_PATH: the merged feed of `req.tasks` on this node, SNAPSHOT_END passed on. */
export function peerFeed(local: TaskEngines, req: SubscribeRequest, limits: FeedLimits): MergedFeed {
  const options: SubscriptionOptions = { snapshot: req.snapshot, progress: true, minIntervalMs: req.minIntervalMs }
  return new MergedFeed(
    req.tasks.map((task) => (signal: AbortSignal) => taskChanges(local, task, req.view, options, limits, signal)),
    limits,
    { progress: true, markSnapshot: true },
  )
}
