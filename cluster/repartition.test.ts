/** Where a repartition writer sends each record of its partition (the Kafka side is in test/cluster.test.ts). */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { hiddenNames, planViewWithHidden } from '../planner/hidden-views.ts'
import { recordSelector } from './repartition.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM plays (player TEXT NOT NULL, score NUMERIC, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'plays', key = 'player')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

function view(select: string): ViewDef {
  const sql = `CREATE MATERIALIZED VIEW v AS ${select}`
  return planViewWithHidden(parseStatement(sql) as ast.CreateView, catalog, sql, { outer: () => catalog.allocateId(), hidden: hiddenNames('v', catalog, () => catalog.allocateId()) })
}

const play = (player: string, score: string, kind: string) => Buffer.from(`{"player":"${player}","score":${score},"kind":"${kind}","ts":"2026-01-01T00:00:00Z"}`)

describe('the repartition writer', () => {
  it('sends every record of a group to one partition, whatever its source partition or other columns', () => {
    const selector = recordSelector(view('SELECT score, kind, count(*) AS n FROM plays GROUP BY score, kind'), catalog.stream('plays'), 6)
    const select = (...args: Parameters<typeof selector>) => selector(...args).to
    const a = select(play('p1', '5', 'win'), 0, 10, null)!
    // 5.00 is the same NUMERIC group as 5: the key is encoded as the state stores encode it.
    for (const [rec, from] of [[play('p2', '5.00', 'win'), 3], [play('p9', '5', 'win'), 5]] as const) {
      const b = select(rec, from, 11, null)!
      expect(b.key!.equals(a.key!)).toBe(true)
      expect(b.partition).toBe(a.partition)
    }
    const spread = new Set(Array.from({ length: 60 }, (_, i) => select(play('p1', String(i), i % 2 ? 'win' : 'loss'), 0, i, null)!.partition))
    expect(spread.size).toBeGreaterThan(3)
  })

  it("drops what the view's WHERE drops; sends what it cannot read unkeyed to its own partition number", () => {
    const selector = recordSelector(view(`SELECT kind, count(*) AS n FROM plays WHERE score > 50 GROUP BY kind`), catalog.stream('plays'), 6)
    const select = (...args: Parameters<typeof selector>) => selector(...args).to
    expect(select(play('p1', '10', 'win'), 2, 0, null)).toBeNull()
    expect(select(play('p1', '90', 'win'), 2, 1, null)!.key).not.toBeNull()
    expect(select(Buffer.from('not json'), 4, 2, null)).toEqual({ key: null, partition: 4 })
  })
})

describe('carried watermarks, writer side', () => {
  it('every record carries its source partition and watermark; watermark-only records carry no event', async () => {
    const { wrapMark, wrapRecord, openEnvelopes } = await import('./watermark-envelope.ts')
    const event = play('p1', '5', 'win')
    const batch = openEnvelopes({
      records: [wrapRecord(event, 3, 1_000), wrapMark(4, Number.NEGATIVE_INFINITY, true, 77), Buffer.from('not enveloped')],
      offsets: [10, 12, 13],
      timestamps: [1, 2, 3],
      nextOffset: 14,
    })
    expect(batch.records.map((r) => r.toString())).toEqual([event.toString(), 'not enveloped'])
    expect(batch.offsets).toEqual([10, 13])
    expect(batch.timestamps).toEqual([1, 3])
    expect(batch.marks).toEqual([
      { offset: 10, partition: 3, watermark: 1_000, idle: false },
      { offset: 12, partition: 4, watermark: Number.NEGATIVE_INFINITY, idle: true, position: 77 },
    ])
    expect(batch.nextOffset).toBe(14)
  })

  it("gives every event's watermark, WHERE or not; a windowed view's WHERE is left to the view", () => {
    const filtered = recordSelector(view(`SELECT kind, count(*) AS n FROM plays WHERE score > 50 GROUP BY kind`), catalog.stream('plays'), 6)
    const dropped = filtered(play('p1', '10', 'win'), 2, 0, null)
    expect(dropped.to).toBeNull()
    expect(dropped.watermark).toBe(Date.UTC(2026, 0, 1) * 1000)
    expect(filtered(Buffer.from('not json'), 4, 2, null).watermark).toBeNull()
    const windowed = recordSelector(view(`SELECT kind, window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') WHERE score > 50 GROUP BY kind, window_start`), catalog.stream('plays'), 6)
    const a = windowed(play('p1', '10', 'win'), 2, 0, null).to!
    expect(a.partition).toBe(windowed(play('p7', '90', 'win'), 5, 0, null).to!.partition)
    const session = recordSelector(view(`SELECT kind, window_start, count(*) AS n FROM SESSION(plays, ts, INTERVAL '1 minute', kind) WHERE score > 50 GROUP BY kind, window_start`), catalog.stream('plays'), 6)
    expect(session(play('p1', '10', 'win'), 2, 0, null).to).not.toBeNull()
  })

  it('sends its watermark to every partition when it turns idle or busy, and when it moved, at most once a second', async () => {
    const { WriterWatermark } = await import('./repartition.ts')
    const { openEnvelopes } = await import('./watermark-envelope.ts')
    const w = new WriterWatermark()
    expect(w.due(false, 0)).toBe(true) // nothing sent yet
    const first = w.broadcast(false, 0, 6, 2, 0)
    expect(first.map((m) => m.partition)).toEqual([0, 1, 2, 3, 4, 5])
    expect(openEnvelopes({ records: [first[0]!.value], offsets: [0], nextOffset: 1 }).marks).toEqual([{ offset: 0, partition: 2, watermark: Number.NEGATIVE_INFINITY, idle: false, position: 0 }])
    w.observe(500)
    w.observe(null)
    w.observe(400)
    expect(w.watermark).toBe(500)
    expect(w.due(false, 999)).toBe(false)
    expect(w.due(false, 1000)).toBe(true)
    w.broadcast(false, 1000, 6, 2, 10)
    // Unmoved: nothing due however long; idle: due at once, and busy again too.
    expect(w.due(false, 60_000)).toBe(false)
    expect(w.due(true, 1001)).toBe(true)
    w.broadcast(true, 1001, 6, 2, 10)
    expect(w.due(true, 1002)).toBe(false)
    expect(w.due(false, 1002)).toBe(true)
  })
})
