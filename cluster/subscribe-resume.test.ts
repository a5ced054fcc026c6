/** Following a task across moves: the client's rows stay equal to the task's, none lost, none doubled. */
import { describe, expect, it } from 'vitest'
import type { Row } from '../common/types.ts'
import type { FeedItem } from '../executor/change-feed.ts'
import { SNAPSHOT_END, tasksMoved, type SourceItem } from './subscribe.ts'
import { RESUME_ROWS, RowCounts, TaskMoves, resumableTask, type TaskSource } from './subscribe-resume.ts'

const change = (diff: 1 | -1, ...row: Row): FeedItem => ({ kind: 'change', timestamp: 1, diff, row })

/** Applies changes to a multiset, failing on a -1 of a row it does not hold (as a client would). */
function build(items: readonly SourceItem[]): string[] {
  const rows = new Map<string, number>()
  for (const item of items) {
    if (item === SNAPSHOT_END || item.kind !== 'change') continue
    const key = JSON.stringify(item.row)
    const n = (rows.get(key) ?? 0) + item.diff
    if (n < 0) throw new Error(`-1 of a row never sent: ${key}`)
    if (n === 0) rows.delete(key)
    else rows.set(key, n)
  }
  return [...rows].flatMap(([k, n]) => new Array<string>(n).fill(k)).sort()
}

/** An owner's feed: its snapshot, SNAPSHOT_END, its changes, then a move (or, with `hold`, waiting). */
async function* owner(snapshot: Row[], changes: FeedItem[], end: 'moved' | 'hold', signal: AbortSignal): AsyncGenerator<SourceItem> {
  for (const row of snapshot) yield change(1, ...row)
  yield SNAPSHOT_END
  yield* changes
  if (end === 'moved') throw tasksMoved('test: the node died')
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

async function take(gen: AsyncGenerator<SourceItem>, until: (items: SourceItem[]) => boolean): Promise<SourceItem[]> {
  const out: SourceItem[] = []
  for await (const item of gen) {
    out.push(item)
    if (until(out)) break
  }
  return out
}

describe('a subscription follows a task across moves', () => {
  it('sends the difference between what the client has and the new owner\'s snapshot', async () => {
    const stop = new AbortController()
    const owners: ((signal: AbortSignal) => TaskSource)[] = [
      // The first owner: p1 and p2, then p1 changes; it dies.
      (signal) => ({ node: 'a', items: owner([['p1', 1], ['p2', 1]], [change(-1, 'p1', 1), change(1, 'p1', 2)], 'moved', signal) }),
      // Reaching the new owner fails once (a rebalance), then it answers from its restored state: it computed
      // p1's change again (already sent), and p3 came meanwhile; p2 was deleted.
      () => {
        throw Object.assign(tasksMoved('not ready'))
      },
      (signal) => ({ node: 'b', items: owner([['p1', 2], ['p3', 1]], [change(1, 'p4', 1)], 'hold', signal) }),
    ]
    let opened = 0
    const gen = resumableTask(0, true, async (_task, signal) => owners[opened++]!(signal), new TaskMoves(), stop.signal)
    const items = await take(gen, (got) => got.some((i) => i !== SNAPSHOT_END && i.kind === 'change' && i.row[0] === 'p4'))
    stop.abort()
    expect(opened).toBe(3)
    expect(items.filter((i) => i === SNAPSHOT_END)).toHaveLength(1)
    expect(build(items)).toEqual([['p1', 2], ['p3', 1], ['p4', 1]].map((r) => JSON.stringify(r)).sort())
    // Only the difference is sent on resuming, not the new snapshot again.
    const afterMove = items.slice(items.findIndex((i) => i !== SNAPSHOT_END && i.kind === 'change' && i.row[1] === 2) + 1)
    expect(afterMove.filter((i) => i !== SNAPSHOT_END && i.kind === 'change').map((i) => [(i as FeedItem & { diff: number }).diff, (i as { row: Row }).row[0]])).toEqual([[-1, 'p2'], [1, 'p3'], [1, 'p4']])
  })

  it('a subscription without a snapshot still resumes from what it was not sent', async () => {
    const stop = new AbortController()
    let opened = 0
    const sources = [
      (signal: AbortSignal) => ({ node: 'a', items: owner([['p1', 1]], [change(1, 'p2', 1)], 'moved', signal) }),
      (signal: AbortSignal) => ({ node: 'b', items: owner([['p1', 1], ['p2', 1], ['p3', 1]], [], 'hold', signal) }),
    ]
    const gen = resumableTask(0, false, async (_t, signal) => sources[opened++]!(signal), new TaskMoves(), stop.signal)
    const items = await take(gen, (got) => got.some((i) => i !== SNAPSHOT_END && i.kind === 'change' && i.row[0] === 'p3'))
    stop.abort()
    const changes = items.filter((i): i is FeedItem & { kind: 'change' } => i !== SNAPSHOT_END && i.kind === 'change')
    expect(changes.map((c) => [c.diff, c.row[0]])).toEqual([[1, 'p2'], [1, 'p3']])
  })

  it('the group showing the task elsewhere moves it even while its old source is quiet', async () => {
    const stop = new AbortController()
    const moves = new TaskMoves()
    let opened = 0
    const sources = [
      (signal: AbortSignal) => ({ node: 'a', items: owner([['p1', 1]], [], 'hold', signal) }),
      (signal: AbortSignal) => ({ node: 'b', items: owner([['p1', 1], ['p9', 1]], [], 'hold', signal) }),
    ]
    const gen = resumableTask(3, true, async (_t, signal) => sources[opened++]!(signal), moves, stop.signal)
    const got: SourceItem[] = []
    const first = await gen.next()
    got.push(first.value as SourceItem)
    got.push((await gen.next()).value as SourceItem)
    moves.seen(new Map([[3, 'a']]))
    expect(opened).toBe(1)
    moves.seen(new Map([[3, 'b']]))
    got.push((await gen.next()).value as SourceItem)
    stop.abort()
    expect(opened).toBe(2)
    expect(build(got)).toEqual([JSON.stringify(['p1', 1]), JSON.stringify(['p9', 1])])
  })

  it('a first open that fails fails the subscription; rows are counted as a multiset', async () => {
    const gen = resumableTask(0, true, async () => {
      throw tasksMoved('no owner')
    }, new TaskMoves(), new AbortController().signal)
    await expect(gen.next()).rejects.toThrow(/no owner/)
    const a = new RowCounts()
    const b = new RowCounts()
    a.add(['x'], 1)
    a.add(['x'], 1)
    b.add(['x'], 1)
    b.add([null, 1.5], 1)
    expect([...a.diffTo(b, 7)].map((c) => [c.kind === 'change' ? c.diff : 0, c.kind === 'change' ? c.row : []])).toEqual([[-1, ['x']], [1, [null, 1.5]]])
    expect(RESUME_ROWS).toBeGreaterThan(0)
  })
})
