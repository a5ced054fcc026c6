/**
 * `GROUP BY a, ROLLUP (b, c)`, `CUBE (...)`, `GROUPING SETS (...)`: expanded here, as PostgreSQL's
 * expand_grouping_sets does, into the plain list of grouping sets the query stands for. Each item of GROUP BY
 * is a list of sets (a plain expression: one set of one expression; ROLLUP (a, b): (a, b), (a), ();
 * CUBE: every subset; GROUPING SETS: the sets of its elements one after the other), and the query's sets are
 * the cross product of its items' lists. The expressions go to `Select.groupBy`; a set names them by index.
 */
import type * as pg from 'libpg-query'
import { planError, SqlState, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { at, spanOf, type TranslateContext } from './context.ts'
import { translateExpr } from './expr.ts'

/** PostgreSQL's limits: CUBE over at most 12 elements, at most 4096 grouping sets in all. */
const MAX_CUBE_ELEMENTS = 12
const MAX_GROUPING_SETS = 4096

export interface GroupByClause {
  readonly groupBy: ast.Expr[]
  /** Absent when GROUP BY is a plain list of expressions. */
  readonly groupingSets?: number[][]
}

type Sets = number[][]

export function translateGroupBy(items: readonly pg.Node[] | undefined, ctx: TranslateContext, span: Span): GroupByClause {
  const groupBy: ast.Expr[] = []
  const list = items ?? []
  // `GROUP BY (a, b)`: a parenthesized list groups by its expressions, as PostgreSQL reads it.
  if (!list.some((n) => 'GroupingSet' in n)) return { groupBy: list.flatMap((n) => ('RowExpr' in n && n.RowExpr.row_format === 'COERCE_IMPLICIT_CAST' ? (n.RowExpr.args ?? []) : [n]).map((e) => translateExpr(e, ctx))) }
  const expr = (n: pg.Node): number => groupBy.push(translateExpr(n, ctx)) - 1
  /** A ROLLUP / CUBE element: an expression, or a parenthesized list of them grouped as one. */
  const element = (n: pg.Node): number[] => ('RowExpr' in n ? (n.RowExpr.args ?? []).map(expr) : [expr(n)])
  const setsOf = (n: pg.Node): Sets => {
    if (!('GroupingSet' in n)) return 'RowExpr' in n ? [element(n)] : [[expr(n)]]
    const g = n.GroupingSet
    const content = g.content ?? []
    const where = spanOf(ctx, at(ctx, g.location))
    switch (g.kind) {
      case 'GROUPING_SET_EMPTY':
        return [[]]
      case 'GROUPING_SET_SIMPLE':
        return [content.flatMap(element)]
      case 'GROUPING_SET_ROLLUP': {
        const elements = content.map(element)
        return elements.map((_, i) => elements.slice(0, elements.length - i).flat()).concat([[]])
      }
      case 'GROUPING_SET_CUBE': {
        if (content.length > MAX_CUBE_ELEMENTS) throw planError(SqlState.tooManyColumns, `CUBE is limited to ${MAX_CUBE_ELEMENTS} elements`, where)
        const elements = content.map(element)
        const out: Sets = []
        for (let mask = (1 << elements.length) - 1; mask >= 0; mask--) out.push(elements.filter((_, i) => (mask & (1 << (elements.length - 1 - i))) !== 0).flat())
        return out
      }
      case 'GROUPING_SET_SETS':
        return content.flatMap((c) => limited(setsOf(c), span))
      default:
        throw planError(SqlState.syntaxError, 'unexpected grouping set', where)
    }
  }
  let sets: Sets = [[]]
  for (const item of list) {
    const next = setsOf(item)
    if (sets.length * next.length > MAX_GROUPING_SETS) throw tooMany(span)
    sets = sets.flatMap((s) => next.map((n) => [...s, ...n]))
  }
  return { groupBy, groupingSets: sets }
}

function limited(sets: Sets, span: Span): Sets {
  if (sets.length > MAX_GROUPING_SETS) throw tooMany(span)
  return sets
}

const tooMany = (span: Span) => planError(SqlState.statementTooComplex, `too many grouping sets present (maximum ${MAX_GROUPING_SETS})`, span)

/** `GROUPING(a, b)`: a call the planner binds against the query's grouping sets. */
export function groupingCall(g: pg.GroupingFunc, ctx: TranslateContext): ast.FuncCall {
  const args = (g.args ?? []).map((a) => translateExpr(a, ctx))
  return { kind: 'func_call', name: 'grouping', args, star: false, distinct: false, span: spanOf(ctx, at(ctx, g.location), args.map((a) => a.span)) }
}
