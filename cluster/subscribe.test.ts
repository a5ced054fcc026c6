import { describe, expect, test } from 'vitest'
import { SluiceError, SqlState } from '../common/errors.ts'
import type { FeedItem } from '../executor/change-feed.ts'
import { endFrame, rowFrame } from './row-frames.ts'
import { MergedFeed, SNAPSHOT_END, itemRow, peerChanges, type SourceItem } from './subscribe.ts'

const change = (timestamp: number, diff: 1 | -1, ...row: (string | number)[]): FeedItem => ({ kind: 'change', timestamp, diff, row })

/** A source that hands out `items` when `release` is called with their count, then waits for the feed's end. */
function source(items: SourceItem[]): { open: (signal: AbortSignal) => AsyncGenerator<SourceItem>; release: (n: number) => void } {
  let allowed = 0
  let wake: (() => void) | null = null
  return {
    release: (n) => {
      allowed += n
      wake?.()
    },
    open: async function* (signal) {
      for (let i = 0; ; i++) {
        while (i >= allowed && !signal.aborted) await new Promise<void>((r) => (wake = r))
        if (signal.aborted) return
        if (i < items.length) yield items[i]!
      }
    },
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('the merge of the tasks of a cluster subscription', () => {
  test('every snapshot comes before any change, timestamps never go back, progress is the least', async () => {
    const a = source([change(100, 1, 'a'), { kind: 'progress', timestamp: 100 }, SNAPSHOT_END, change(300, 1, 'a2'), { kind: 'progress', timestamp: 300 }])
    const b = source([change(90, 1, 'b'), SNAPSHOT_END, change(250, -1, 'b'), { kind: 'progress', timestamp: 250 }])
    const feed = new MergedFeed([a.open, b.open], { buffer: 100, maxLag: 0 }, { progress: true, markSnapshot: false })
    a.release(5)
    await tick()
    // a's snapshot goes out; its changes wait for b's snapshot.
    expect(feed.take(0)).toEqual([change(100, 1, 'a')])
    b.release(4)
    await feed.ready()
    await tick()
    expect(feed.take(0)).toEqual([change(100, 1, 'b'), change(300, 1, 'a2'), change(300, -1, 'b'), { kind: 'progress', timestamp: 250 }])
    feed.close()
  })

  test('a source that fails ends the feed with its error once what is queued is taken', async () => {
    async function* failing(): AsyncGenerator<SourceItem> {
      yield SNAPSHOT_END
      yield change(1, 1, 'x')
      throw new SluiceError('execution', SqlState.configurationLimitExceeded, 'fell behind')
    }
    const feed = new MergedFeed([failing], { buffer: 100, maxLag: 0 }, { progress: false, markSnapshot: false })
    await feed.ready()
    await feed.wait(null)
    await tick()
    expect(feed.take(0)).toEqual([change(1, 1, 'x')])
    expect(() => feed.take(0)).toThrow(/fell behind/)
    expect(feed.ended).toBe(true)
  })

  test('a full queue stops reading the sources until the reader takes some', async () => {
    const items: SourceItem[] = [SNAPSHOT_END, ...Array.from({ length: 50 }, (_, i) => change(i, 1, i))]
    let read = 0
    async function* counted(): AsyncGenerator<SourceItem> {
      for (const item of items) {
        read++
        yield item
      }
      await new Promise(() => undefined)
    }
    const feed = new MergedFeed([counted], { buffer: 10, maxLag: 0 }, { progress: false, markSnapshot: false })
    for (let i = 0; i < 5; i++) await tick()
    expect(read).toBe(11)
    expect(feed.take(4)).toHaveLength(4)
    for (let i = 0; i < 5; i++) await tick()
    expect(read).toBe(15)
    feed.close()
  })

  test('a peer\'s stream cut short is a move of its tasks (40001); its own error passes through', async () => {
    async function* cut(): AsyncGenerator<Uint8Array> {
      yield Buffer.concat([rowFrame(itemRow(SNAPSHOT_END)), rowFrame(itemRow(change(5, 1, 'p1', 3)))])
    }
    const got: SourceItem[] = []
    const err = await (async () => {
      try {
        for await (const item of peerChanges(cut(), 'n2', new AbortController().signal)) got.push(item)
      } catch (e) {
        return e as SluiceError
      }
    })()
    expect(got).toEqual([SNAPSHOT_END, change(5, 1, 'p1', 3)])
    expect(err?.sqlstate).toBe('40001')
    async function* ended(): AsyncGenerator<Uint8Array> {
      yield endFrame()
    }
    await expect(peerChanges(ended(), 'n2', new AbortController().signal).next()).rejects.toMatchObject({ sqlstate: '40001' })
  })
})
