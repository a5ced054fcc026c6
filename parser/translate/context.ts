/**
 * What every translation function needs besides the libpg-query node: where things are. libpg-query gives
 * each node only a start location (often not even that), so spans end at the last token of the node's last
 * part, extended over any brackets left open; our tokens supply the token ends.
 */
import type * as pg from 'libpg-query'
import { internalError, SluiceError, SqlState, unsupported, type Span } from '../../common/errors.ts'
import { depthChange, type Token } from '../lexer.ts'
import type { MatchRecognize } from '../match-recognize/ast.ts'
import type { Positions } from '../positions.ts'

export interface TranslateContext {
  /** Tokens of the input with offsets into the whole input, in order. */
  readonly tokens: readonly Token[]
  readonly positions: Positions
  /**
   * `IGNORE NULLS` marks removed by the rewrite (PostgreSQL 18 has no such syntax), keyed by the input offset
   * where the function name starts; the function call that claims one deletes it.
   */
  readonly ignoreNulls: Map<number, Span>
  /** MATCH_RECOGNIZE clauses taken out by the rewrite, keyed by where the table name before each ends. */
  readonly matchRecognize?: Map<number, MatchRecognize>
  /** The `WINDOW w AS (...)` definitions of the SELECT block being translated, resolved (window-clause.ts). */
  readonly windowDefs?: ReadonlyMap<string, pg.WindowDef>
  /** The span of the statement or clause being translated, for nodes without a location of their own. */
  readonly fallback: Span
}

/** Input offset of a libpg-query location, undefined when the node has none (-1 or missing). */
export function at(ctx: TranslateContext, location: number | undefined): number | undefined {
  return location === undefined || location < 0 ? undefined : ctx.positions.fromByte(location)
}

/** Index of the first token starting at or after `offset`. */
export function tokenIndexAt(tokens: readonly Token[], offset: number): number {
  let lo = 0
  let hi = tokens.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (tokens[mid]!.start < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The token starting exactly at `offset`, if any. */
export function tokenAt(ctx: TranslateContext, offset: number): Token | undefined {
  const t = ctx.tokens[tokenIndexAt(ctx.tokens, offset)]
  return t !== undefined && t.start === offset ? t : undefined
}

/**
 * The span of a node starting at `start` (its libpg-query location, or its first part's start when it has
 * none) and covering its parts: it ends at the latest part end or the end of its first token, then extends
 * over closing brackets still open, so `count(*)` and `ARRAY[1, 2]` end after their last bracket.
 */
export function spanOf(ctx: TranslateContext, start: number | undefined, parts: readonly (Span | undefined)[] = []): Span {
  let first = start
  let end = -1
  for (const p of parts) {
    if (p === undefined) continue
    if (start === undefined && (first === undefined || p.start < first)) first = p.start
    end = Math.max(end, p.end)
  }
  const s = first ?? ctx.fallback.start
  end = Math.max(end, tokenAt(ctx, s)?.end ?? s + 1)
  return { start: s, end: closeBrackets(ctx.tokens, s, end) }
}

/** Extends `end` until every bracket opened in [start, end) is closed. */
export function closeBrackets(tokens: readonly Token[], start: number, end: number): number {
  let depth = 0
  let result = end
  for (let i = tokenIndexAt(tokens, start); i < tokens.length; i++) {
    const t = tokens[i]!
    if (t.start >= result && depth === 0) break
    depth = Math.max(0, depth + depthChange(t))
    result = Math.max(result, t.end)
  }
  return result
}

/** The span of a dotted name of `parts` parts (`a.b.c`: 2n-1 tokens) starting at `start`. */
export function dottedNameSpan(ctx: TranslateContext, start: number | undefined, parts: number): Span {
  if (start === undefined) return ctx.fallback
  const last = ctx.tokens[tokenIndexAt(ctx.tokens, start) + 2 * Math.max(parts, 1) - 2]
  return { start, end: last?.end ?? start + 1 }
}

/** Extends a CASE expression's span to its matching END keyword. */
export function extendToEnd(ctx: TranslateContext, span: Span): Span {
  let nesting = 0
  for (let i = tokenIndexAt(ctx.tokens, span.start); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (t.kind !== 'word') continue
    if (t.value === 'case') nesting++
    else if (t.value === 'end' && --nesting === 0) return { start: span.start, end: Math.max(span.end, t.end) }
  }
  return span
}

/**
 * The offset of the nearest keyword in `words` at or before `offset`: where a SELECT block starts, found
 * back from its first target (libpg-query records no location for a SelectStmt).
 */
export function keywordBefore(ctx: TranslateContext, offset: number, words: readonly string[]): number | undefined {
  for (let i = tokenIndexAt(ctx.tokens, offset + 1) - 1; i >= 0; i--) {
    const t = ctx.tokens[i]!
    if (t.kind === 'word' && words.includes(t.value)) return t.start
  }
  return undefined
}

/** Covers several spans (undefined entries skipped); the fallback when all are absent. */
export function cover(ctx: TranslateContext, spans: readonly (Span | undefined)[]): Span {
  let start = Infinity
  let end = -Infinity
  for (const s of spans) {
    if (s === undefined) continue
    start = Math.min(start, s.start)
    end = Math.max(end, s.end)
  }
  return start === Infinity ? ctx.fallback : { start, end }
}

/**
 * How deeply expressions, queries and joins may nest in one statement. Every later stage (binding,
 * planning, compiling, printing) walks the tree recursively, so the depth is capped here, where the tree is
 * built, with an error instead of a stack overflow anywhere later. A query level counts as QUERY_WEIGHT
 * expression levels, its planning taking that much more stack.
 */
export const MAX_NESTING_DEPTH = 800
export const QUERY_WEIGHT = 2

let nestingDepth = 0

/** Runs `translate` one level deeper (by `weight`); past MAX_NESTING_DEPTH fails with 54001 at `span()`. */
export function nested<T>(weight: number, span: () => Span, translate: () => T): T {
  nestingDepth += weight
  try {
    if (nestingDepth > MAX_NESTING_DEPTH) throw tooDeep(span())
    return translate()
  } finally {
    nestingDepth -= weight
  }
}

/** The error for a statement nested too deeply (PostgreSQL's "stack depth limit exceeded" is 54001 too). */
export const tooDeep = (span?: Span): SluiceError =>
  new SluiceError('plan', SqlState.statementTooComplex, 'statement is nested too deeply', {
    span,
    hint: `Expressions, subqueries and joins may nest at most ${MAX_NESTING_DEPTH} levels deep (a subquery counts ${QUERY_WEIGHT}).`,
  })

/** The same context with another fallback span, for the parts of a node that have no location. */
export const within = (ctx: TranslateContext, fallback: Span): TranslateContext => ({ ...ctx, fallback })

// ---------------------------------------------------------------------------------------------------------
// libpg-query node helpers

/** The tag of a libpg-query node, e.g. `A_Const` for `{ A_Const: {...} }`. */
export const tagOf = (node: pg.Node): string => Object.keys(node)[0] ?? 'unknown'

/** A part libpg-query always fills in; its absence is a bug in our reading of the tree. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw internalError(`libpg-query node without ${what}`)
  return value
}

/** The strings of a list of `String` nodes (qualified names, operator names). */
export function stringsOf(nodes: readonly pg.Node[] | undefined): string[] {
  return (nodes ?? []).map((n) => ('String' in n ? (n.String.sval ?? '') : `<${tagOf(n)}>`))
}

/** Readable names for node kinds users may write but Sluice does not support. */
const FEATURE_NAMES: Record<string, string> = {
  GroupingSet: 'GROUPING SETS, ROLLUP and CUBE here',
  XmlExpr: 'XML expressions',
  XmlSerialize: 'XMLSERIALIZE',
  JsonIsPredicate: 'IS JSON',
  JsonFuncExpr: 'SQL/JSON query functions',
  JsonObjectConstructor: 'JSON_OBJECT',
  JsonArrayConstructor: 'JSON_ARRAY',
  JsonArrayQueryConstructor: 'JSON_ARRAY',
  JsonObjectAgg: 'JSON_OBJECTAGG',
  JsonArrayAgg: 'JSON_ARRAYAGG',
  JsonParseExpr: 'JSON()',
  JsonScalarExpr: 'JSON_SCALAR',
  JsonSerializeExpr: 'JSON_SERIALIZE',
  SetToDefault: 'DEFAULT in expressions',
  MultiAssignRef: 'multiple-column assignment',
  MergeSupportFunc: 'MERGE_ACTION()',
  RangeTableSample: 'TABLESAMPLE',
  RangeTableFunc: 'XMLTABLE',
  JsonTable: 'JSON_TABLE',
}

/** The error for a construct libpg-query accepts but Sluice does not (SQLSTATE 0A000). */
export function unsupportedNode(node: pg.Node, span: Span): SluiceError {
  const tag = tagOf(node)
  return unsupported(`${FEATURE_NAMES[tag] ?? tag} is not supported`, span)
}
