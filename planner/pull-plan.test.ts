/**
 * Pull-query planning over a real catalog (a stream and a keyed view planned from SQL): which output
 * columns come straight from a relation (for RowDescription), and the key a GROUP BY view exposes.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { entryOid, keys } from './pg-catalog.ts'
import { planPull } from './pull-plan.ts'
import { planStream } from './stream-plan.ts'
import { planView } from './view-plan.ts'

function catalogWith(...views: string[]): Catalog {
  const catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, game TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  for (const v of views) {
    const stmt = parseStatement(v) as ast.CreateView
    const plan = planView(stmt, catalog)
    catalog.add({ kind: 'view', id: catalog.allocateId(), name: stmt.name.parts[stmt.name.parts.length - 1]!, columns: plan.columns, plan, sql: v })
  }
  return catalog
}

const query = (sql: string): ast.Query => (parseStatement(sql) as ast.QueryStatement).query

beforeAll(async () => {
  await initParser()
})

describe('pull plans', () => {
  it('column origins name the relation and column of plain column reads only', () => {
    const catalog = catalogWith()
    const plan = planPull(query('SELECT game, player_id + 1 AS next, ts FROM ev'), catalog, [])
    const oid = entryOid(catalog.get('ev')!)
    expect(plan.columnOrigins).toEqual([{ tableOid: oid, columnNumber: 2 }, null, { tableOid: oid, columnNumber: 3 }])
    expect(planPull(query('SELECT count(*) FROM ev'), catalog, []).columnOrigins).toBeUndefined()
  })

  it('a GROUP BY view is keyed by its group key columns; other views and streams are not', () => {
    const catalog = catalogWith(
      'CREATE MATERIALIZED VIEW per_game AS SELECT count(*) AS n, game, player_id FROM ev GROUP BY player_id, game',
      'CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM ev GROUP BY game',
      'CREATE MATERIALIZED VIEW raw AS SELECT game FROM ev',
    )
    expect(keys(catalog).map((k) => [k.relation.name, k.name, k.attnums])).toEqual([['per_game', 'per_game_pkey', [3, 2]]])
  })

  it('window functions in a pull query bind over all rows, with any ORDER BY', () => {
    const catalog = catalogWith()
    const plan = planPull(query('SELECT game, rank() OVER (PARTITION BY game ORDER BY ts DESC, player_id) AS r FROM ev'), catalog, [])
    expect(plan.source.kind).toBe('relational')
    expect(() => planPull(query('SELECT game FROM ev WHERE lag(game) OVER () IS NULL'), catalog, [])).toThrow(/not allowed in WHERE/)
  })
})
