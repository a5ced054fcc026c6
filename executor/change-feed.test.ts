import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from './engine.ts'
import { ChangeFeed, Subscription, multisetDiff, type FeedItem } from './change-feed.ts'
import { SluiceError } from '../common/errors.ts'

describe('live results follow a view by table entry', () => {
  let dir: string
  let engine: Engine

  beforeAll(async () => {
    await initParser()
    dir = await mkdtemp(join(tmpdir(), 'sluice-feed-'))
    engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 100 })
    const sql = `CREATE STREAM plays (player_id BIGINT NOT NULL, points INT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 2);
      CREATE MATERIALIZED VIEW totals AS SELECT player_id, sum(points) AS points, count(*) AS plays FROM plays GROUP BY player_id HAVING sum(points) < 1000;
      CREATE MATERIALIZED VIEW big_plays AS SELECT player_id, points FROM plays WHERE points >= 100`
    for (const p of parseStatements(sql)) {
      const s = p.statement
      if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
    }
    const events = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ player_id: i, points: 1, ts: '2026-12-04T10:00:00Z' }))
    await engine.insertJson('plays', events)
    await engine.waitCaughtUp('totals', 30_000)
  })

  afterAll(async () => {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  })

  const play = async (player: number, points: number) => {
    await engine.insertJson('plays', [JSON.stringify({ player_id: player, points, ts: '2026-12-04T10:01:00Z' })])
    await engine.waitCaughtUp('totals', 10_000)
  }

  test('a step re-reads only the entries written in it, not the 5,000 groups', async () => {
    const follower = engine.query('totals')!.follow()!
    try {
      let snapshot = 0
      for await (const [, rows] of follower.entries()) snapshot += rows.length
      expect(snapshot).toBe(5000)
      expect(await follower.changed()).toEqual([])
      await play(42, 5)
      const changed = await follower.changed()
      expect(changed).toHaveLength(1)
      expect(changed[0]![1]).toEqual([[42, 6, 2]])
    } finally {
      follower.close()
    }
  })

  test('a view of appended rows (never cached) is followed too, before and after the checkpoint writes them', async () => {
    const follower = engine.query('big_plays')!.follow()!
    try {
      await play(9, 150)
      expect((await follower.changed()).map(([, rows]) => rows)).toEqual([[[9, 150]]])
      await play(10, 200)
      await engine.checkpoint()
      expect((await follower.changed()).map(([, rows]) => rows)).toEqual([[[10, 200]]])
      let n = 0
      for await (const [, rows] of follower.entries()) n += rows.length
      expect(n).toBe(2)
    } finally {
      follower.close()
    }
  })

  test('a subscription sends an update as -1 and +1, and a group HAVING hides as a -1', async () => {
    const feed = new ChangeFeed()
    const sub = new Subscription(feed, { kind: 'view', view: () => engine.query('totals') }, { snapshot: false, progress: false })
    const take = async (n: number): Promise<FeedItem[]> => {
      const out: FeedItem[] = []
      for (let i = 0; i < 50 && out.length < n; i++) {
        feed.stepped()
        await sub.wait(100)
        out.push(...sub.take(0))
      }
      return out
    }
    try {
      await sub.ready()
      await play(7, 10)
      const update = (await take(2)).map((c) => (c.kind === 'change' ? [c.diff, ...c.row] : null))
      expect(update).toEqual([[-1, 7, 1, 1], [1, 7, 11, 2]])
      await play(7, 5000)
      const hidden = (await take(1)).map((c) => (c.kind === 'change' ? [c.diff, ...c.row] : null))
      expect(hidden).toEqual([[-1, 7, 11, 2]])
    } finally {
      sub.close()
    }
  })
})

describe('a subscriber that does not read is bounded', () => {
  let dir: string
  let engine: Engine

  beforeAll(async () => {
    await initParser()
    dir = await mkdtemp(join(tmpdir(), 'sluice-feed-slow-'))
    engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 100 })
    const sql = `CREATE STREAM hits (id BIGINT NOT NULL, page INT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 2);
      CREATE MATERIALIZED VIEW per_page AS SELECT page, count(*) AS n FROM hits GROUP BY page;
      CREATE MATERIALIZED VIEW hit_rows AS SELECT id, page FROM hits`
    for (const p of parseStatements(sql)) {
      const s = p.statement
      if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
    }
  })

  afterAll(async () => {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  })

  let nextId = 0
  /** Appends `n` events (ids counting up, `pages` distinct pages) and waits for the view to take them in. */
  const hit = async (n: number, pages = 10) => {
    const events = Array.from({ length: n }, () => {
      const id = nextId++
      return JSON.stringify({ id, page: id % pages, ts: '2026-12-04T10:00:00Z' })
    })
    await engine.insertJson('hits', events)
    await engine.waitCaughtUp('per_page', 30_000)
    await engine.waitCaughtUp('hit_rows', 30_000)
  }
  /** Which partition each event id is in, from the stream's log. */
  const partitions = async () => {
    const rt = engine.streamRuntime('hits')!
    const out = new Map<number, number>()
    for (let p = 0; p < rt.log.partitionCount; p++) {
      const { records } = await rt.log.read(p, 0, rt.log.endOffset(p))
      records.forEach((r, i) => out.set(Number(rt.decode(r, p, i, null)![0]), p))
    }
    return out
  }
  const ids = (items: FeedItem[]) => items.map((c) => (c.kind === 'change' ? Number(c.row[0]) : -1))
  /**
   * Steps the feed until the subscription has nothing more to queue (its queue full or the source read):
   * its queue unchanged over ten steps in a row, since one look at the source can take longer than a step
   * on a loaded machine (a single unchanged step ended this too early, before the first look had queued).
   */
  const settle = async (feed: ChangeFeed, sub: Subscription) => {
    const deadline = Date.now() + 20_000
    for (let last = -1, same = 0; same < 10 && Date.now() < deadline; ) {
      same = sub.pending === last ? same + 1 : 0
      last = sub.pending
      feed.stepped()
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  test('a stream subscriber stops at its buffer and reads on from where it stopped: every event once, in order', async () => {
    const feed = new ChangeFeed({ buffer: 100, maxLag: 0 })
    const start = nextId
    const sub = new Subscription(feed, { kind: 'stream', stream: () => engine.streamRuntime('hits') }, { snapshot: false, progress: false })
    try {
      await sub.ready()
      await hit(1000)
      await settle(feed, sub)
      // Not 1,000 queued: the rest stay in the log.
      expect(sub.pending).toBe(100)
      expect(sub.paused).toBe(true)
      expect(sub.lag()).toBe(900)
      const got: FeedItem[] = []
      for (let i = 0; i < 500 && got.length < 1000; i++) {
        got.push(...sub.take(30))
        expect(sub.pending).toBeLessThanOrEqual(100)
        await sub.wait(100)
      }
      const seen = ids(got)
      expect(seen).toHaveLength(1000)
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => start + i))
      // Within each partition the order is the log's (events were appended in id order).
      const partOf = await partitions()
      for (const part of [0, 1]) {
        const mine = seen.filter((id) => partOf.get(id) === part)
        expect(mine.length).toBeGreaterThan(0)
        expect(mine).toEqual([...mine].sort((a, b) => a - b))
      }
      expect(sub.lag()).toBe(0)
    } finally {
      sub.close()
    }
  })

  test('a stream snapshot larger than the buffer comes whole, at the start time, before any later event', async () => {
    await hit(200)
    const feed = new ChangeFeed({ buffer: 64, maxLag: 0 })
    const before = nextId
    const sub = new Subscription(feed, { kind: 'stream', stream: () => engine.streamRuntime('hits') }, { snapshot: true, progress: true })
    try {
      await sub.ready()
      expect(sub.pending).toBe(64)
      await hit(10)
      const got: FeedItem[] = []
      for (let i = 0; i < 1000 && ids(got.filter((c) => c.kind === 'change')).length < before + 10; i++) {
        feed.stepped()
        await sub.wait(20)
        got.push(...sub.take(16))
      }
      const changes = got.filter((c) => c.kind === 'change')
      expect(new Set(ids(changes)).size).toBe(before + 10)
      const snapshotTs = changes[0]!.timestamp
      expect(changes.slice(0, before).every((c) => c.timestamp === snapshotTs)).toBe(true)
      expect(ids(changes.slice(0, before)).sort((a, b) => a - b)).toEqual(Array.from({ length: before }, (_, i) => i))
      // The first progress mark comes once the whole snapshot was queued.
      const firstProgress = got.findIndex((c) => c.kind === 'progress')
      expect(got.slice(0, firstProgress).filter((c) => c.kind === 'change')).toHaveLength(before)
      for (let i = 1; i < got.length; i++) expect(got[i]!.timestamp).toBeGreaterThanOrEqual(got[i - 1]!.timestamp)
    } finally {
      sub.close()
    }
  })

  test('past the lag limit the subscriber is ended with 53400 at once, its queue dropped and its feed listener gone', async () => {
    const feed = new ChangeFeed({ buffer: 50, maxLag: 300 })
    const sub = new Subscription(feed, { kind: 'stream', stream: () => engine.streamRuntime('hits') }, { snapshot: false, progress: false })
    await sub.ready()
    await hit(200)
    await settle(feed, sub)
    expect(sub.ended).toBe(false)
    expect(sub.lag()).toBe(150)
    await hit(200)
    feed.stepped()
    expect(sub.ended).toBe(true)
    expect(sub.stopped.aborted).toBe(true)
    expect(sub.pending).toBe(0)
    expect(feed.subscribers).toBe(0)
    let err: unknown
    try {
      sub.take(10)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(SluiceError)
    expect((err as SluiceError).sqlstate).toBe('53400')
    expect((err as SluiceError).message).toBe('subscriber fell behind: 350 events not yet read, more than the limit of 300')
  })

  test('a paused view subscriber gets the net change of what was written while it was paused', async () => {
    await hit(10)
    const feed = new ChangeFeed({ buffer: 5, maxLag: 0 })
    const sub = new Subscription(feed, { kind: 'view', view: () => engine.query('per_page') }, { snapshot: true, progress: false })
    try {
      await sub.ready()
      const snapshot = sub.take(0)
      expect(snapshot).toHaveLength(10)
      const view = new Map(snapshot.map((c) => (c.kind === 'change' ? [c.row[0], Number(c.row[1])] : [null, 0])))
      const before = new Map(view)
      // One write of every group: the queue's room (5 rows) is read, 5 groups as -1 and +1; the other 5 are
      // kept back. Three more writes while it is full.
      await hit(10)
      await settle(feed, sub)
      expect(sub.pending).toBe(10)
      for (let i = 0; i < 3; i++) {
        await hit(10)
        feed.stepped()
      }
      expect(sub.paused).toBe(true)
      expect(sub.pending).toBe(10)
      // Applied as they come, each -1 is the row last sent for its group.
      let received = 0
      const apply = (items: FeedItem[]) => {
        received += items.length
        for (const c of items) {
          if (c.kind !== 'change') continue
          if (c.diff === -1) {
            expect(view.get(c.row[0])).toBe(Number(c.row[1]))
            view.delete(c.row[0])
          } else {
            expect(view.has(c.row[0])).toBe(false)
            view.set(c.row[0], Number(c.row[1]))
          }
        }
      }
      const caughtUp = () => [...before].every(([page, n]) => view.get(page) === n + 4)
      apply(sub.take(0))
      for (let i = 0; i < 100 && !(caughtUp() && sub.pending === 0); i++) {
        feed.stepped()
        await sub.wait(20)
        apply(sub.take(0))
      }
      expect(caughtUp()).toBe(true)
      // Four writes of 10 groups, but not 4 x 20 changes: what was overwritten while paused came once.
      expect(received).toBeLessThanOrEqual(40)
    } finally {
      sub.close()
    }
  })

  test('a paused subscriber to a view of appended rows reads the written entries on in pieces, each row once', async () => {
    const feed = new ChangeFeed({ buffer: 50, maxLag: 0 })
    const sub = new Subscription(feed, { kind: 'view', view: () => engine.query('hit_rows') }, { snapshot: false, progress: false })
    try {
      await sub.ready()
      const from = nextId
      for (let i = 0; i < 20; i++) await hit(25)
      // The view has taken in every hit before the feed is looked at (on a busy machine it may lag).
      await engine.waitCaughtUp('hit_rows', 30_000)
      await settle(feed, sub)
      // Not the 500 rows: what the journal recorded waits in the table.
      expect(sub.paused).toBe(true)
      expect(sub.pending).toBeGreaterThanOrEqual(50)
      expect(sub.pending).toBeLessThan(100)
      const got: FeedItem[] = []
      for (let i = 0; i < 500 && got.length < 500; i++) {
        got.push(...sub.take(20))
        feed.stepped()
        await sub.wait(50)
      }
      expect(got.every((c) => c.kind === 'change' && c.diff === 1)).toBe(true)
      expect(ids(got).sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => from + i))
    } finally {
      sub.close()
    }
  })

  test('close lets go of the queue and the feed listener', async () => {
    await hit(10)
    const feed = new ChangeFeed({ buffer: 1000, maxLag: 0 })
    const sub = new Subscription(feed, { kind: 'stream', stream: () => engine.streamRuntime('hits') }, { snapshot: true, progress: false })
    await sub.ready()
    expect(sub.pending).toBeGreaterThan(0)
    expect(feed.subscribers).toBe(1)
    sub.close()
    expect(sub.pending).toBe(0)
    expect(feed.subscribers).toBe(0)
    expect(sub.stopped.aborted).toBe(true)
    expect(sub.take(10)).toEqual([])
  })
})

describe('multisetDiff', () => {
  test('counts duplicates and keeps what stays', () => {
    expect(multisetDiff([[1], [1], [2]], [[1], [3]])).toEqual({ gone: [[1], [2]], came: [[3]] })
    expect(multisetDiff([], [[1]])).toEqual({ gone: [], came: [[1]] })
    expect(multisetDiff([[1]], [])).toEqual({ gone: [[1]], came: [] })
    expect(multisetDiff([[Number.NaN]], [[Number.NaN]])).toEqual({ gone: [], came: [] })
  })
})
