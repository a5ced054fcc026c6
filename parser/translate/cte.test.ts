import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { initParser, parseStatements } from '../index.ts'

beforeAll(async () => {
  await initParser()
})

const select = (sql: string): ast.Select => {
  const s = parseStatements(sql)[0]!.statement as ast.QueryStatement
  expect(s.query.kind).toBe('select')
  return s.query as ast.Select
}

function failure(sql: string): { sqlstate: string; at: string } {
  try {
    parseStatements(sql)
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    const e = err as SluiceError
    return { sqlstate: e.sqlstate, at: e.span === undefined ? '' : sql.slice(e.span.start, e.span.end) }
  }
  throw new Error(`expected ${sql} to fail`)
}

describe('WITH', () => {
  it('turns each reference into the CTE query under the reference alias, with the column list', () => {
    const q = select('WITH a(x) AS (SELECT 1), b AS (SELECT x FROM a) SELECT * FROM a JOIN b AS bb ON true')
    const join = q.from[0] as ast.JoinRef
    expect(join.left).toMatchObject({ kind: 'subquery_ref', alias: 'a', columnAliases: ['x'] })
    expect(join.right).toMatchObject({ kind: 'subquery_ref', alias: 'bb', query: { kind: 'select', from: [{ kind: 'subquery_ref', alias: 'a' }] } })
  })

  it('leaves schema-qualified names and names outside the WITH alone; a CTE body does not see itself or later CTEs', () => {
    const q = select('WITH v AS (SELECT * FROM v), w AS (SELECT * FROM x) SELECT * FROM public.v, v, x')
    expect(q.from.map((f) => f.kind)).toEqual(['table_ref', 'subquery_ref', 'table_ref'])
    const inner = (q.from[1] as ast.SubqueryRef).query as ast.Select
    expect(inner.from[0]).toMatchObject({ kind: 'table_ref', name: { parts: ['v'] } })
  })

  it('lets an inner WITH hide an outer one and ends its scope with its query', () => {
    const q = select('WITH a AS (SELECT 1 AS n) SELECT * FROM (WITH a AS (SELECT 2 AS n) SELECT * FROM a) s, a')
    const s = (q.from[0] as ast.SubqueryRef).query as ast.Select
    expect(((s.from[0] as ast.SubqueryRef).query as ast.Select).targets[0]!.expr).toMatchObject({ value: 2 })
    expect(((q.from[1] as ast.SubqueryRef).query as ast.Select).targets[0]!.expr).toMatchObject({ value: 1 })
  })

  it('takes RECURSIVE as PostgreSQL does: UNION [ALL] with the name read only by the second term', () => {
    const q = select('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r')
    expect((q.from[0] as ast.SubqueryRef).query).toMatchObject({ kind: 'set_operation', op: 'union', all: true, recursive: { name: 'r', columns: ['n'] } })
    // A recursive CTE that does not read itself is an ordinary one.
    expect((select('WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r').from[0] as ast.SubqueryRef).query).toMatchObject({ kind: 'select' })
    expect(failure('WITH RECURSIVE r(n) AS (SELECT n FROM r UNION SELECT 1) SELECT * FROM r').sqlstate).toBe('42P19')
    expect(failure('WITH RECURSIVE r(n) AS (SELECT 1 EXCEPT SELECT n FROM r) SELECT * FROM r').sqlstate).toBe('42P19')
  })

  it('refuses a name given twice and data-modifying statements, pointing at them', () => {
    expect(failure('WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a')).toMatchObject({ sqlstate: '42712' })
    expect(failure('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d').sqlstate).toBe('0A000')
  })
})
