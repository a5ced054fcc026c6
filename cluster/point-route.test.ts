/** A point lookup's key goes to the task that holds its group, or to every task when that cannot be known. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog, type StreamDef, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { hiddenNames, planViewWithHidden } from '../planner/hidden-views.ts'
import { placeCatalog } from './placement.ts'
import { partitionOfKey } from './kafka-io.ts'
import { recordSelector } from './repartition.ts'
import { taskOfKey } from './point-route.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  for (const sql of [
    `CREATE STREAM plays (player TEXT NOT NULL, score INT, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'plays', key = 'player')`,
    `CREATE STREAM byid (id BIGINT NOT NULL, score INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'byid', key = 'id')`,
    `CREATE STREAM bytime (at TIMESTAMPTZ NOT NULL, score INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'bytime', key = 'at')`,
  ]) {
    catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  }
})

function view(name: string, select: string): ViewDef {
  const sql = `CREATE MATERIALIZED VIEW ${name} AS ${select}`
  const def = planViewWithHidden(parseStatement(sql) as ast.CreateView, catalog, sql, { outer: () => catalog.allocateId(), hidden: hiddenNames(name, catalog, () => catalog.allocateId()) })
  for (const d of [...(def.plan.hidden ?? []), def]) catalog.add(d)
  return def
}
const route = (def: ViewDef, key: unknown[]) => taskOfKey(def, placeCatalog(catalog.views()).get(def.name), 6, key as never)

describe('point lookups routed to their key', () => {
  it("a view keyed by the stream key: the partition Kafka's murmur2 gives the key's text", () => {
    const perPlayer = view('per_player', 'SELECT player, count(*) AS n FROM plays GROUP BY player')
    for (const p of ['p0', 'p1', 'p7', 'player-42', 'é']) expect(route(perPlayer, [p])).toBe(partitionOfKey(p, 6))
    // The key column need not come first among the group keys.
    const perKind = view('per_kind_player', 'SELECT kind, player, count(*) AS n FROM plays GROUP BY kind, player')
    expect(route(perKind, ['win', 'p7'])).toBe(partitionOfKey('p7', 6))
    // Integers print as the digits producers send (INSERT's and JSON ingest's record key).
    const perId = view('per_id', 'SELECT id, count(*) AS n FROM byid GROUP BY id')
    expect(route(perId, [42n])).toBe(partitionOfKey('42', 6))
    expect(route(perId, [42])).toBe(partitionOfKey('42', 6))
  })

  it('every task is asked when the key cannot place the group', () => {
    const perPlayer = view('per_player2', 'SELECT player, count(*) AS n FROM plays GROUP BY player')
    expect(route(perPlayer, [null])).toBeNull()
    expect(route(perPlayer, ['a', 'b'])).toBeNull()
    // A timestamp's text depends on who printed it.
    expect(route(view('per_at', 'SELECT at, count(*) AS n FROM bytime GROUP BY at'), [1_000_000])).toBeNull()
    // A global view (no key at all) has one task.
    expect(route(view('total', 'SELECT count(*) AS n FROM plays'), [])).toBeNull()
    expect(taskOfKey(perPlayer, 'partitioned', 0, ['p1'])).toBeNull()
  })

  it('a repartitioned view: the partition its writers chose for the same group', () => {
    const perScore = view('per_score', 'SELECT score, kind, count(*) AS n FROM plays GROUP BY score, kind')
    expect(placeCatalog(catalog.views()).get('per_score')).toBe('repartitioned')
    const select = recordSelector(perScore, catalog.get('plays') as StreamDef, 6)
    const tasks = new Set<number>()
    for (let score = 0; score < 40; score++) {
      for (const kind of ['win', 'loss', 'draw']) {
        const chosen = select(JSON.stringify({ player: 'p1', score, kind, ts: '2026-01-01T00:00:00Z' }), 0, 0, null).to
        expect(chosen).not.toBeNull()
        expect(route(perScore, [score, kind])).toBe(chosen!.partition)
        tasks.add(chosen!.partition)
      }
    }
    expect(tasks.size).toBeGreaterThan(3)
  })
})
