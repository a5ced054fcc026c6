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
    const select = recordSelector(view('SELECT score, kind, count(*) AS n FROM plays GROUP BY score, kind'), catalog.stream('plays'), 6)
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
    const select = recordSelector(view(`SELECT kind, count(*) AS n FROM plays WHERE score > 50 GROUP BY kind`), catalog.stream('plays'), 6)
    expect(select(play('p1', '10', 'win'), 2, 0, null)).toBeNull()
    expect(select(play('p1', '90', 'win'), 2, 1, null)!.key).not.toBeNull()
    expect(select(Buffer.from('not json'), 4, 2, null)).toEqual({ key: null, partition: 4 })
  })
})
