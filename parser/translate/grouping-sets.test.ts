import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { initParser, parseStatements } from '../index.ts'

beforeAll(async () => {
  await initParser()
})

const select = (sql: string): ast.Select => (parseStatements(sql)[0]!.statement as ast.QueryStatement).query as ast.Select

/** The grouping sets as lists of the written column names. */
function sets(sql: string): string[][] | undefined {
  const q = select(sql)
  return q.groupingSets?.map((set) => set.map((i) => (q.groupBy[i] as ast.ColumnRef).name))
}

describe('grouping sets', () => {
  it('expands ROLLUP, CUBE and GROUPING SETS as PostgreSQL does, crossed with plain keys', () => {
    expect(sets('SELECT 1 FROM t GROUP BY a')).toBeUndefined()
    expect(sets('SELECT 1 FROM t GROUP BY ROLLUP (a, b)')).toEqual([['a', 'b'], ['a'], []])
    expect(sets('SELECT 1 FROM t GROUP BY CUBE (a, b)')).toEqual([['a', 'b'], ['a'], ['b'], []])
    expect(sets('SELECT 1 FROM t GROUP BY a, ROLLUP (b, (c, d))')).toEqual([['a', 'b', 'c', 'd'], ['a', 'b'], ['a']])
    expect(sets('SELECT 1 FROM t GROUP BY GROUPING SETS ((a, b), c, ())')).toEqual([['a', 'b'], ['c'], []])
    expect(sets('SELECT 1 FROM t GROUP BY GROUPING SETS (ROLLUP (a), CUBE (b)), c')).toEqual([['a', 'c'], ['c'], ['b', 'c'], ['c']])
  })

  it('keeps the limits of PostgreSQL, with a position', () => {
    const fail = (sql: string): string => {
      try {
        parseStatements(sql)
      } catch (err) {
        expect((err as SluiceError).span).toBeDefined()
        return (err as SluiceError).sqlstate
      }
      throw new Error('expected a failure')
    }
    expect(fail('SELECT 1 FROM t GROUP BY CUBE (a, b, c, d, e, f, g, h, i, j, k, l, m)')).toBe('54011')
    expect(fail('SELECT 1 FROM t GROUP BY CUBE (a, b, c, d, e, f, g, h, i, j, k, l), ROLLUP (a)')).toBe('54001')
    expect(sets('SELECT 1 FROM t GROUP BY CUBE (a, b, c, d, e, f, g, h, i, j, k, l)')).toHaveLength(4096)
  })

  it('resolves named windows into the OVER clauses that use them', () => {
    const q = select('SELECT sum(x) OVER (w ORDER BY ts ROWS 2 PRECEDING) FROM t WINDOW w AS (PARTITION BY k)')
    const over = (q.targets[0]!.expr as ast.FuncCall).over!
    expect(over.partitionBy.map((p) => (p as ast.ColumnRef).name)).toEqual(['k'])
    expect(over.orderBy.map((o) => (o.expr as ast.ColumnRef).name)).toEqual(['ts'])
    expect(over.frame?.mode).toBe('rows')
  })
})
