/**
 * Join planning of relational pull queries: which conjuncts go down to single relations, which equalities
 * become hash keys, what an outer join keeps; and, through the executor, that the joins give the rows a
 * plain nested loop gives, under the query guard's budget, cancel and deadline.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import type { Row, Value } from '../common/types.ts'
import { Catalog } from './catalog.ts'
import { planPull, type RelNode } from './pull-plan.ts'
import { planStream } from './stream-plan.ts'
import { displayExpr } from './display.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { runRelational } from '../executor/pull.ts'
import { QueryGuard } from '../executor/query-budget.ts'
import type { CatalogLookup } from './pg-catalog.ts'

function catalogOf(...streams: string[]): Catalog {
  const catalog = new Catalog()
  for (const sql of streams) catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  return catalog
}

const query = (sql: string): ast.Query => (parseStatement(sql) as ast.QueryStatement).query

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = catalogOf('CREATE STREAM a (x INT, v INT)', 'CREATE STREAM b (y INT, z INT)', 'CREATE STREAM c (w INT, name TEXT)')
})

const rootOf = (sql: string): RelNode => {
  const plan = planPull(query(sql), catalog, [])
  if (plan.source.kind !== 'relational') throw new Error('expected a relational plan')
  return plan.source.root
}

/** The node under the root block. */
const fromOf = (sql: string): RelNode => {
  const root = rootOf(sql)
  if (root.kind !== 'block') throw new Error('expected a block')
  return root.from
}

describe('join planning', () => {
  it('a comma join with WHERE equalities becomes one multi-way join: filters on leaves, equalities as hash keys', () => {
    const root = rootOf('SELECT a.x FROM a, b, c WHERE a.x = b.y AND b.z = c.w AND a.v > 3 AND c.name <> \'q\' AND a.v + b.z < c.w')
    if (root.kind !== 'block') throw new Error('block')
    expect(root.select.filter).toBeNull()
    const from = root.from
    if (from.kind !== 'multi_join') throw new Error(`expected multi_join, got ${from.kind}`)
    expect(from.leaves.map((l) => [l.offset, l.width, l.filter === null ? null : displayExpr(l.filter, [])])).toEqual([
      [0, 2, '(v > 3)'],
      [2, 2, null],
      [4, 2, "(name <> 'q')"],
    ])
    expect(from.conditions.map((c) => [displayExpr(c.expr, []), c.mask, c.equi?.map((s) => s.mask) ?? null])).toEqual([
      ['(x = y)', 0b011, [0b001, 0b010]],
      ['(z = w)', 0b110, [0b010, 0b100]],
      ['((v + z) < w)', 0b111, null],
    ])
    // A key over one leaf is also given over that leaf's own row.
    const [x, y] = from.conditions[0]!.equi!
    expect(x.local).toMatchObject({ kind: 'column', index: 0 })
    expect(y.local).toMatchObject({ kind: 'column', index: 0 })
  })

  it('INNER JOIN ... ON joins the same region as a comma join; outer joins keep their place with hash keys', () => {
    const inner = fromOf('SELECT 1 FROM a JOIN b ON a.x = b.y JOIN c ON c.w = b.z WHERE c.name = \'n\'')
    expect(inner.kind).toBe('multi_join')
    const left = fromOf('SELECT 1 FROM a LEFT JOIN b ON a.x = b.y AND b.z > 1 AND a.v < 5')
    if (left.kind !== 'join') throw new Error('join')
    expect(left.joinType).toBe('left')
    expect(left.keys!.left.map((e) => displayExpr(e, []))).toEqual(['x'])
    expect(left.keys!.right.map((e) => displayExpr(e, []))).toEqual(['y'])
    // Conditions on the right side only decide which right rows can match: they filter it first. A
    // condition on the preserved left side must stay in the join.
    expect(displayExpr(left.rightFilter!, [])).toBe('(z > 1)')
    expect(left.leftFilter).toBeUndefined()
    expect(displayExpr(left.on!, [])).toBe('(v < 5)')
    const full = fromOf('SELECT 1 FROM a FULL JOIN b ON a.x = b.y AND b.z > 1')
    if (full.kind !== 'join') throw new Error('join')
    expect(full.keys).toBeDefined()
    expect(full.rightFilter).toBeUndefined()
    expect(displayExpr(full.on!, [])).toBe('(z > 1)')
  })
})

// ---- execution against a nested-loop reference ------------------------------------------------------

const ctx = { now: 0, user: 'u', database: 'd' } as EvalContext
const pg = {} as CatalogLookup

/** Deterministic pseudo-random ints with some nulls. */
function rows(n: number, seed: number, width: number, mod: number): Row[] {
  let s = seed
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648)
  return Array.from({ length: n }, () => Array.from({ length: width }, () => (next() % 10 === 0 ? null : next() % mod)))
}

function run(sql: string, data: Record<string, Row[]>, guard = QueryGuard.unlimited()): Promise<Row[]> {
  const plan = planPull(query(sql), catalog, [])
  if (plan.source.kind !== 'relational') throw new Error('relational')
  const map = new Map(Object.entries(data).map(([k, v]) => [`stream:${k}`, v]))
  return runRelational(plan.source.root, map, [], ctx, pg, guard)
}

const sorted = (rs: readonly Row[]): string[] => rs.map((r) => JSON.stringify(r)).sort()
const eq = (a: Value, b: Value): boolean => a !== null && b !== null && a === b

describe('join execution', () => {
  const A = rows(200, 1, 2, 40)
  const B = rows(150, 2, 2, 40)
  const C = rows(80, 3, 1, 40).map((r) => [r[0]!, `n${String(r[0])}`])

  it('a three-way comma join gives the rows a nested loop gives', async () => {
    const got = await run('SELECT a.x, a.v, b.z, c.name FROM a, b, c WHERE a.x = b.y AND b.z = c.w AND a.v > 10', { a: A, b: B, c: C })
    const want: Row[] = []
    for (const a of A) for (const b of B) for (const c of C) if (eq(a[0]!, b[0]!) && eq(b[1]!, c[0]!) && a[1] !== null && (a[1] as number) > 10) want.push([a[0]!, a[1]!, b[1]!, c[1]!])
    expect(want.length).toBeGreaterThan(10)
    expect(sorted(got)).toEqual(sorted(want))
  })

  it('LEFT, RIGHT and FULL joins on equalities with extra conditions give the nested loop rows', async () => {
    const data = { a: A.slice(0, 60), b: B.slice(0, 80) }
    const on = (a: Row, b: Row): boolean => eq(a[0]!, b[0]!) && b[1] !== null && (b[1] as number) > 5 && a[1] !== null && (a[1] as number) < 30
    for (const type of ['left', 'right', 'full'] as const) {
      const got = await run(`SELECT a.x, a.v, b.y, b.z FROM a ${type.toUpperCase()} JOIN b ON a.x = b.y AND b.z > 5 AND a.v < 30`, data)
      const want: Row[] = []
      const matched = new Set<Row>()
      for (const a of data.a) {
        let hit = false
        for (const b of data.b) if (on(a, b)) { want.push([...a, ...b]); hit = true; matched.add(b) }
        if (!hit && type !== 'right') want.push([...a, null, null])
      }
      if (type !== 'left') for (const b of data.b) if (!matched.has(b)) want.push([null, null, ...b])
      // RIGHT JOIN: the rows of a that match are kept (above); unmatched a rows are not.
      expect(sorted(got), type).toEqual(sorted(want))
    }
  })

  it('a cross join past the memory budget fails with 53200 naming the budget', async () => {
    const big = rows(2000, 4, 2, 1000)
    const guard = new QueryGuard({ memoryBytes: 1024 * 1024, timeoutMs: 0 })
    await expect(run('SELECT * FROM a, b', { a: big, b: big }, guard)).rejects.toMatchObject({ sqlstate: '53200', message: expect.stringContaining('1MB') })
  })

  it('a cancelled or timed-out join stops with 57014, and yields while it runs', async () => {
    const big = rows(2000, 5, 2, 1000)
    const controller = new AbortController()
    const guard = new QueryGuard({ memoryBytes: 0, timeoutMs: 0, signal: controller.signal })
    const running = run('SELECT count(*) FROM a, b WHERE a.x + b.y < -5', { a: big, b: big }, guard)
    // The event loop turns while the join runs: a timer fires and cancels it.
    setTimeout(() => controller.abort(), 20)
    await expect(running).rejects.toMatchObject({ sqlstate: '57014', message: 'canceling statement due to user request' })
    expect(guard.yields).toBeGreaterThan(0)
    const timed = new QueryGuard({ memoryBytes: 0, timeoutMs: 30 })
    await expect(run('SELECT count(*) FROM a, b WHERE a.x + b.y < -5', { a: big, b: big }, timed)).rejects.toMatchObject({ sqlstate: '57014', message: 'canceling statement due to statement timeout' })
  })

  it('a sort larger than one run is merged stably, like Array.sort', async () => {
    const many = rows(9000, 6, 2, 50)
    const got = await run('SELECT x, v FROM (SELECT x, v FROM a) s ORDER BY x NULLS FIRST', { a: many })
    const want = [...many].sort((p, q) => (p[0] === q[0] ? 0 : p[0] === null ? -1 : q[0] === null ? 1 : (p[0] as number) - (q[0] as number)))
    expect(got).toEqual(want)
  })
})
