import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from './engine.ts'
import { ChangeFeed, Subscription, multisetDiff, type FeedItem } from './change-feed.ts'

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

describe('multisetDiff', () => {
  test('counts duplicates and keeps what stays', () => {
    expect(multisetDiff([[1], [1], [2]], [[1], [3]])).toEqual({ gone: [[1], [2]], came: [[3]] })
    expect(multisetDiff([], [[1]])).toEqual({ gone: [], came: [[1]] })
    expect(multisetDiff([[1]], [])).toEqual({ gone: [[1]], came: [] })
    expect(multisetDiff([[Number.NaN]], [[Number.NaN]])).toEqual({ gone: [], came: [] })
  })
})
