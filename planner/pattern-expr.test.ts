/**
 * Binding MATCH_RECOGNIZE's DEFINE and MEASURES (pattern-expr.ts) through the pull planner over a real
 * catalog: the slots navigation and aggregates become, the ALL ROWS PER MATCH layout, and the forms the
 * standard forbids, each rejected with its SQLSTATE at the position of the offending call.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { planPull } from './pull-plan.ts'
import { planStream } from './stream-plan.ts'
import type { RelNode } from './pull-plan.ts'
import type { PatternPlan } from './pattern-plan.ts'

let catalog: Catalog

beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (k INT NOT NULL, price INT, qty INT, tag TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'k')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

const sqlOf = (clause: string) => `SELECT * FROM ev MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts ${clause}) AS m`

function patternOf(clause: string): PatternPlan {
  const plan = planPull((parseStatement(sqlOf(clause)) as ast.QueryStatement).query, catalog, [])
  const find = (n: RelNode): PatternPlan | undefined => (n.kind === 'match_recognize' ? n.pattern : n.kind === 'block' ? find(n.from) : undefined)
  if (plan.source.kind !== 'relational') throw new Error('expected a relational plan')
  const found = find(plan.source.root)
  if (found === undefined) throw new Error('no MATCH_RECOGNIZE node')
  return found
}

/** The error of planning `clause`: its SQLSTATE and the text its span points at. */
function failure(clause: string): { sqlstate: string; at: string } {
  const sql = sqlOf(clause)
  try {
    planPull((parseStatement(sql) as ast.QueryStatement).query, catalog, [])
  } catch (err) {
    const e = err as { sqlstate: string; span?: { start: number; end: number } }
    return { sqlstate: e.sqlstate, at: e.span === undefined ? '' : sql.slice(e.span.start, e.span.end) }
  }
  throw new Error(`planned: ${clause}`)
}

describe('pattern expressions', () => {
  it('turn navigation over expressions into slots of one variable', () => {
    const p = patternOf('MEASURES LAST(A.price * A.qty) AS v, PREV(LAST(A.price, 1), 2) AS w, NEXT(CLASSIFIER()) AS c PATTERN (A B) DEFINE A AS true')
    const [v, w, c] = p.measures.map((m) => m.expression.slots[0]!)
    expect(v).toMatchObject({ kind: 'nav', logical: 'last', variable: 'a', offset: 0, physical: 0 })
    expect(w).toMatchObject({ kind: 'nav', logical: 'last', variable: 'a', offset: 1, physical: -2 })
    expect(c).toMatchObject({ kind: 'nav', logical: 'last', variable: null, physical: 1 })
    expect(p.lookBehind).toBe(2)
    expect(p.lookAhead).toBe(1)
  })

  it('bind any aggregate over a variable, a SUBSET or all rows', () => {
    const p = patternOf(`MEASURES array_agg(CLASSIFIER()) AS a, string_agg(U.tag, ',') AS s, max_by(A.price, A.qty) AS m, max(MATCH_NUMBER()) AS n
      PATTERN (A B) SUBSET U = (A, B) DEFINE A AS true`)
    expect(p.measures.map((m) => m.expression.slots[0]).map((s) => (s?.kind === 'agg' ? [s.aggregate.spec.name, s.variable] : s?.kind))).toEqual([
      ['array_agg', null],
      ['string_agg', 'u'],
      ['max_by', 'a'],
      ['max', null],
    ])
    expect(p.columns.map((c) => c.type.name)).toEqual(['int4', 'text', 'text', 'int4', 'int8'])
  })

  it('lay out ALL ROWS PER MATCH as partition columns, order columns, measures, the rest', () => {
    const p = patternOf('MEASURES CLASSIFIER() AS cls ALL ROWS PER MATCH PATTERN (A) DEFINE A AS true')
    expect(p.columns.map((c) => c.name)).toEqual(['k', 'ts', 'cls', 'price', 'qty', 'tag'])
  })

  it('reject what the standard forbids, with SQLSTATE and position', () => {
    expect(failure('MEASURES LAST(A.price + B.price) AS x PATTERN (A B) DEFINE A AS true')).toEqual({ sqlstate: '42601', at: 'B.price' })
    expect(failure('MEASURES FIRST(PREV(A.price)) AS x PATTERN (A B) DEFINE A AS true')).toEqual({ sqlstate: '42601', at: 'PREV(A.price)' })
    expect(failure('MEASURES LAST(sum(A.price)) AS x PATTERN (A B) DEFINE A AS true')).toEqual({ sqlstate: '42803', at: 'sum(A.price)' })
    expect(failure('MEASURES FINAL PREV(A.price) AS x PATTERN (A B) DEFINE A AS true')).toEqual({ sqlstate: '42601', at: 'PREV(A.price)' })
    expect(failure('MEASURES count(*) AS x PATTERN (A B) DEFINE A AS FINAL LAST(B.price) > 0')).toEqual({ sqlstate: '42601', at: 'FINAL' })
    expect(failure('MEASURES CLASSIFIER(Z) AS x PATTERN (A B) DEFINE A AS true')).toEqual({ sqlstate: '42P01', at: 'Z' })
    expect(failure('MEASURES LAST(A.price, -1) AS x PATTERN (A B) DEFINE A AS true')).toMatchObject({ sqlstate: '22023' })
  })

  it('take an aliased input (`ev AS e MATCH_RECOGNIZE`); refuse a subquery or column aliases as input, never drop the clause', () => {
    const clause = 'MEASURES count(*) AS n ONE ROW PER MATCH PATTERN (A B) DEFINE A AS A.price > 0'
    for (const input of ['ev AS e', 'ev e']) {
      const plan = planPull((parseStatement(`SELECT * FROM ${input} MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts ${clause}) AS m`) as ast.QueryStatement).query, catalog, [])
      const find = (n: RelNode): PatternPlan | undefined => (n.kind === 'match_recognize' ? n.pattern : n.kind === 'block' ? find(n.from) : undefined)
      expect(plan.source.kind === 'relational' ? find(plan.source.root)?.columns.map((c) => c.name) : undefined, input).toEqual(['k', 'n'])
    }
    for (const [input, message] of [['(SELECT * FROM ev) AS s', /over a subquery/], ['ev AS e(a, b)', /column aliases/]] as const) {
      const sql = `SELECT * FROM ${input} MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts ${clause}) AS m`
      let caught: { sqlstate?: string; message: string; span?: { start: number } } | undefined
      try {
        planPull((parseStatement(sql) as ast.QueryStatement).query, catalog, [])
      } catch (err) {
        caught = err as typeof caught
      }
      expect(caught?.sqlstate, input).toBe('0A000')
      expect(caught?.message).toMatch(message)
      expect(caught?.span?.start).toBe(sql.indexOf(input))
    }
  })
})
