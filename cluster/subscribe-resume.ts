/**
 * A cluster subscription that outlives a rebalance (docs/cluster.md, "SUBSCRIBE"). Each of the view's tasks
 * is followed on its own, wherever it runs. The subscribing node keeps what it has passed on for the task
 * (the task's rows as the client now has them, a multiset); when the task moves (its node stops, dies, or the
 * group gives it to another), the follower subscribes again on the new owner, takes its snapshot without
 * passing it on, and sends the difference between the two (-1 for each row the client has and the task no
 * longer does, +1 for each the other way) before the new owner's changes. What the client builds from the
 * changes stays equal to the view: nothing lost (the new snapshot holds every change made meanwhile), nothing
 * doubled (a change the dead owner sent and its successor computed again is in both, so not in the
 * difference). Changes made between the last look on the old owner and the move arrive folded into that
 * difference rather than one by one, with a timestamp of when they were found.
 *
 * Bounded: a task whose rows outgrow RESUME_ROWS stops being tracked, and its move then ends the
 * subscription with 40001 as before. A task with no running owner for RESUME_MS also ends it.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row } from '../common/types.ts'
import type { FeedItem } from '../executor/change-feed.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { SNAPSHOT_END, tasksMoved, type SourceItem } from './subscribe.ts'
import { taskLabel } from './task-label.ts'

/** Rows of one task a subscription keeps to resume it; past this, its move ends the subscription. */
export const RESUME_ROWS = 1_000_000
/** How long a task may have no running owner before the subscription gives up (a session timeout and a restore). */
export const RESUME_MS = 120_000
/** Between attempts to reach a moved task's new owner. */
const RETRY_MS = 500

/** A multiset of rows by their encoding. */
export class RowCounts {
  private readonly rows = new Map<string, { row: Row; n: number }>()
  private total = 0

  get size(): number {
    return this.total
  }

  add(row: Row, diff: number): void {
    const key = rowCodec.encode([...row]).toString('latin1')
    const e = this.rows.get(key)
    const n = (e?.n ?? 0) + diff
    this.total += diff
    if (n === 0) this.rows.delete(key)
    else if (e !== undefined) e.n = n
    else this.rows.set(key, { row, n })
  }

  /** The changes that turn `this` into `next`, stamped `timestamp`. */
  *diffTo(next: RowCounts, timestamp: number): Generator<FeedItem> {
    for (const [key, { row, n }] of this.rows) {
      const m = next.rows.get(key)?.n ?? 0
      for (let i = m; i < n; i++) yield { kind: 'change', timestamp, diff: -1, row }
    }
    for (const [key, { row, n }] of next.rows) {
      const m = this.rows.get(key)?.n ?? 0
      for (let i = m; i < n; i++) yield { kind: 'change', timestamp, diff: 1, row }
    }
  }
}

/** Where a task's changes come from now: a source that snapshots then follows, and the node it runs on. */
export interface TaskSource {
  readonly node: string
  readonly items: AsyncGenerator<SourceItem>
}

/**
 * The items of `task` for a merged feed: its snapshot (passed on only when `snapshot`), SNAPSHOT_END, then
 * its changes, across moves. `open` subscribes on the task's current owner (with a snapshot) or throws;
 * `first` says whether the first open may wait (the subscription's own start fails as a pull query does).
 */
export async function* resumableTask(
  task: number,
  snapshot: boolean,
  open: (task: number, signal: AbortSignal, resuming: boolean) => Promise<TaskSource>,
  moves: TaskMoves,
  signal: AbortSignal,
): AsyncGenerator<SourceItem> {
  let sent: RowCounts | null = new RowCounts()
  let first = true
  let lastTimestamp = 0
  let gaveUpAt = 0
  for (;;) {
    const here = new AbortController()
    const stop = () => here.abort()
    signal.addEventListener('abort', stop, { once: true })
    let source: TaskSource
    try {
      source = await open(task, here.signal, !first)
    } catch (err) {
      signal.removeEventListener('abort', stop)
      if (signal.aborted) return
      if (first || !isMove(err)) throw err
      gaveUpAt ||= Date.now() + RESUME_MS
      if (Date.now() > gaveUpAt) throw tasksMoved(`task ${taskLabel(task)} found no running owner within ${RESUME_MS / 1000} s`)
      await new Promise((r) => setTimeout(r, RETRY_MS))
      continue
    }
    gaveUpAt = 0
    const unwatch = moves.watch(task, source.node, () => here.abort())
    // The new owner's snapshot, kept to be compared with what was sent (all but the first time).
    let fresh: RowCounts | null = first ? null : new RowCounts()
    let inSnapshot = true
    try {
      for await (const item of source.items) {
        if (item === SNAPSHOT_END) {
          inSnapshot = false
          if (first) {
            first = false
            yield SNAPSHOT_END
          } else if (fresh !== null && sent !== null) {
            yield* sent.diffTo(fresh, lastTimestamp)
            sent = fresh
            fresh = null
          }
          continue
        }
        if (item.kind === 'progress') {
          if (fresh === null) yield item
          continue
        }
        lastTimestamp = Math.max(lastTimestamp, item.timestamp)
        if (fresh !== null) {
          fresh.add(item.row, item.diff)
          continue
        }
        if (sent !== null) {
          sent.add(item.row, item.diff)
          // Too many rows to keep: this task's move will end the subscription instead.
          if (sent.size > RESUME_ROWS) sent = null
        }
        if (!inSnapshot || snapshot) yield item
      }
      if (signal.aborted) return
      if (!here.signal.aborted) throw tasksMoved(`task ${taskLabel(task)}'s changes ended`)
    } catch (err) {
      if (signal.aborted) return
      if (!here.signal.aborted && !isMove(err)) throw err
      if (first) throw err
    } finally {
      unwatch()
      signal.removeEventListener('abort', stop)
      here.abort()
      await source.items.return(undefined).catch(() => undefined)
    }
    // Moved (its node stopped, died, or the group gave the task to another): follow it there.
    if (sent === null) throw tasksMoved(`task ${taskLabel(task)} moved, and it holds more than ${RESUME_ROWS} rows, too many to resume from`)
  }
}

/** A move, or a task not ready yet: both are waited out by resuming. */
function isMove(err: unknown): boolean {
  return err instanceof SluiceError && (err.sqlstate === SqlState.serializationFailure || err.sqlstate === SqlState.objectNotInPrerequisiteState || err.sqlstate === SqlState.connectionFailure)
}

/** Who runs each followed task; the subscription's owner check aborts a task's source when that changes. */
export class TaskMoves {
  private readonly current = new Map<number, { node: string; moved: () => void }>()

  watch(task: number, node: string, moved: () => void): () => void {
    const entry = { node, moved }
    this.current.set(task, entry)
    return () => {
      if (this.current.get(task) === entry) this.current.delete(task)
    }
  }

  /** The group's owners now: a followed task shown on another node is moved. */
  seen(owners: ReadonlyMap<number, string>): void {
    for (const [task, { node, moved }] of this.current) {
      const now = owners.get(task)
      if (now !== undefined && now !== node) moved()
    }
  }
}
