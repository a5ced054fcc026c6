/**
 * The MATCH_RECOGNIZE clause (SQL:2016 row pattern recognition), parsed by our own layer because
 * PostgreSQL's grammar does not know it:
 *
 *   FROM stream MATCH_RECOGNIZE (
 *     [ PARTITION BY expr [, ...] ]
 *     [ ORDER BY expr [ASC | DESC] [NULLS FIRST | NULLS LAST] [, ...] ]
 *     [ MEASURES [RUNNING | FINAL] expr [AS] name [, ...] ]
 *     [ ONE ROW PER MATCH | ALL ROWS PER MATCH [SHOW EMPTY MATCHES | OMIT EMPTY MATCHES | WITH UNMATCHED ROWS] ]
 *     [ AFTER MATCH SKIP { PAST LAST ROW | TO NEXT ROW | TO FIRST var | TO LAST var | TO var } ]
 *     PATTERN ( row_pattern ) [ WITHIN interval ]          -- WITHIN is a Sluice extension
 *     [ SUBSET name = ( var [, ...] ) [, ...] ]
 *     [ DEFINE var AS [RUNNING] condition [, ...] ]
 *   ) [ [AS] alias [ ( column [, ...] ) ] ]
 *
 * The clause frame is recursive descent over the lexer's tokens (parser/lexer.ts, parser/token-cursor.ts).
 * The PATTERN body is scanned character by character instead: its operators do not follow SQL's operator
 * rules (`A?-}` or `A+|B` would lex as single operators `?-` and `+|`, and `B$` as an identifier), so the
 * scanner reads it from the `(` token's offset and the cursor then skips the tokens the lexer made of it.
 *
 * Expressions (PARTITION BY, ORDER BY, MEASURES, DEFINE, WITHIN) are not parsed here: each is kept as its
 * source text and span for a later step that rewrites `var.col` references and navigation calls and hands
 * the result to PostgreSQL's parser. A leading RUNNING / FINAL is recorded and taken off that text.
 *
 * Every node's span is offsets into the whole SQL text. Errors are SluiceErrors with a span: 42601 for
 * syntax, 42P10 for a reference to a pattern variable that PATTERN / SUBSET does not declare, 42701 for a
 * measure named twice, and 2202L (the standard's "skip to first row of match") when AFTER MATCH SKIP TO
 * would restart every match at its own first row, the exception a run would raise at its first match.
 */
import { SluiceError, SqlState, internalError, planError, syntaxError, type Span } from '../../common/errors.ts'
import { RESERVED_KEYWORDS, isColumnName } from '../keywords.ts'
import { depthChange, foldIdentifier, isPunct, isWord, tokenize, type Token } from '../lexer.ts'
import { TokenCursor } from '../token-cursor.ts'

// ---------------------------------------------------------------------------------------------------------
// AST

/** `MATCH_RECOGNIZE ( ... ) AS m`: one row pattern recognition over the rows of a FROM item. */
export interface MatchRecognize {
  readonly kind: 'match_recognize'
  readonly partitionBy: readonly SqlText[]
  readonly orderBy: readonly SortItem[]
  readonly measures: readonly Measure[]
  /** Absent: ONE ROW PER MATCH (the standard's default). */
  readonly rowsPerMatch?: RowsPerMatch
  /** Absent: AFTER MATCH SKIP PAST LAST ROW (the standard's default). */
  readonly afterMatchSkip?: AfterMatchSkip
  readonly pattern: RowPattern
  /** `PATTERN ( ... )`, keyword to closing parenthesis. */
  readonly patternSpan: Span
  readonly within?: Within
  readonly subsets: readonly SubsetDef[]
  readonly defines: readonly Define[]
  readonly alias?: TableAlias
  readonly span: Span
}

/** An expression kept as written: `player_id`, `ts`, `INTERVAL '5 minutes'`. */
export interface SqlText {
  readonly kind: 'sql_text'
  readonly text: string
  readonly span: Span
}

/**
 * A MEASURES or DEFINE expression kept as written, e.g. `LAST(up.ts)` from `FINAL LAST(up.ts)`: the
 * leading RUNNING / FINAL is in `semantics` and not in `text` / `span`.
 */
export interface PatternExpr {
  readonly kind: 'pattern_expr'
  readonly text: string
  readonly span: Span
  readonly semantics?: 'running' | 'final'
  /** The RUNNING / FINAL keyword that was taken off. */
  readonly semanticsSpan?: Span
  /** RUNNING / FINAL keywords further inside (`FIRST(a.x) - FINAL LAST(a.x)`), left in `text`. */
  readonly innerSemantics: readonly SemanticsMark[]
}

/** `FINAL` in `... - FINAL LAST(a.x)`: applies to the call that follows the keyword. */
export interface SemanticsMark {
  readonly semantics: 'running' | 'final'
  readonly span: Span
}

/** `ts DESC NULLS LAST` in ORDER BY. */
export interface SortItem {
  readonly kind: 'sort_item'
  readonly expr: SqlText
  readonly direction?: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
  readonly span: Span
}

/** `FINAL LAST(up.ts) AS peak` in MEASURES. */
export interface Measure {
  readonly kind: 'measure'
  readonly expr: PatternExpr
  /** Case-folded like any SQL name. */
  readonly name: string
  readonly nameSpan: Span
  readonly span: Span
}

/** `ONE ROW PER MATCH` | `ALL ROWS PER MATCH [SHOW EMPTY MATCHES | OMIT EMPTY MATCHES | WITH UNMATCHED ROWS]`. */
export type RowsPerMatch =
  | { readonly kind: 'one_row'; readonly span: Span }
  | {
      readonly kind: 'all_rows'
      /** `show_empty_matches` when nothing follows ALL ROWS PER MATCH. */
      readonly mode: 'show_empty_matches' | 'omit_empty_matches' | 'with_unmatched_rows'
      readonly span: Span
    }

/**
 * `AFTER MATCH SKIP ...`. `SKIP TO var` is `to_last`, as the standard defines it. The kinds are those of
 * the executor's `SkipTo` (executor/pattern/), so this node can be passed to it as it is.
 */
export type AfterMatchSkip =
  | { readonly kind: 'past_last_row'; readonly span: Span }
  | { readonly kind: 'to_next_row'; readonly span: Span }
  | { readonly kind: 'to_first' | 'to_last'; readonly variable: string; readonly variableSpan: Span; readonly span: Span }

/** `WITHIN INTERVAL '1 hour'` after PATTERN (...): a match may span at most this much event time. */
export interface Within {
  readonly kind: 'within'
  readonly interval: SqlText
  readonly span: Span
}

/** `SUBSET u = (a, b)`: a union variable standing for the rows of several primary variables. */
export interface SubsetDef {
  readonly kind: 'subset'
  readonly name: string
  readonly nameSpan: Span
  readonly members: readonly Name[]
  readonly span: Span
}

/** `up AS price > PREV(price)` in DEFINE. */
export interface Define {
  readonly kind: 'define'
  readonly variable: string
  readonly variableSpan: Span
  readonly condition: PatternExpr
  readonly span: Span
}

/** `AS m (a, b)` after the clause. */
export interface TableAlias {
  readonly name: string
  readonly columns: readonly string[]
  readonly span: Span
}

export interface Name {
  readonly name: string
  readonly span: Span
}

/** The row pattern: a regular expression over pattern variables. */
export type RowPattern =
  | PatternVariable
  | PatternConcat
  | PatternAlternation
  | PatternGroup
  | PatternEmpty
  | PatternQuantified
  | PatternPermute
  | PatternExclusion
  | PatternAnchor

/** `up`: one row for which up's DEFINE condition holds (any row when up has none). Name case-folded. */
export interface PatternVariable {
  readonly kind: 'variable'
  readonly name: string
  readonly span: Span
}

/** `a b c`: each in turn; at least two items. */
export interface PatternConcat {
  readonly kind: 'concat'
  readonly items: readonly RowPattern[]
  readonly span: Span
}

/** `a | b | c`: the first alternative that leads to a match is preferred; at least two. */
export interface PatternAlternation {
  readonly kind: 'alternation'
  readonly alternatives: readonly RowPattern[]
  readonly span: Span
}

/** `( a b )`: parentheses around a non-empty pattern; the span includes them. */
export interface PatternGroup {
  readonly kind: 'group'
  readonly pattern: RowPattern
  readonly span: Span
}

/** `()`: the empty pattern, which matches no rows. */
export interface PatternEmpty {
  readonly kind: 'empty'
  readonly span: Span
}

/** `a+`, `(a b){2,}?`: a repeated pattern; the span covers the pattern and its quantifier. */
export interface PatternQuantified {
  readonly kind: 'quantified'
  readonly pattern: RowPattern
  readonly quantifier: Quantifier
  readonly span: Span
}

/** `PERMUTE(a, b, c)`: the items in any order, the orders preferred lexicographically (a b c, a c b, b a c, ...). */
export interface PatternPermute {
  readonly kind: 'permute'
  readonly items: readonly RowPattern[]
  readonly span: Span
}

/** `{- a b -}`: rows matched but left out of ALL ROWS PER MATCH output. */
export interface PatternExclusion {
  readonly kind: 'exclusion'
  readonly pattern: RowPattern
  readonly span: Span
}

/** `^` (start of the partition) or `$` (end of the partition): match no row, only a position. */
export interface PatternAnchor {
  readonly kind: 'anchor'
  readonly anchor: 'partition_start' | 'partition_end'
  readonly span: Span
}

/**
 * `*`, `+`, `?`, `{n}`, `{n,}`, `{,m}`, `{n,m}` (and `{,}`), each optionally followed by `?` (reluctant:
 * fewer iterations preferred). The span covers the quantifier only.
 */
export type Quantifier = QuantifierForm & { readonly reluctant: boolean; readonly span: Span }

export type QuantifierForm =
  | { readonly kind: 'zero_or_more' }
  | { readonly kind: 'one_or_more' }
  | { readonly kind: 'zero_or_one' }
  | { readonly kind: 'exactly'; readonly count: number }
  | { readonly kind: 'range'; readonly min?: number; readonly max?: number }

/** The iteration bounds of a quantifier; `max` is Infinity when unbounded. */
export function quantifierBounds(q: QuantifierForm): { readonly min: number; readonly max: number } {
  switch (q.kind) {
    case 'zero_or_more':
      return { min: 0, max: Infinity }
    case 'one_or_more':
      return { min: 1, max: Infinity }
    case 'zero_or_one':
      return { min: 0, max: 1 }
    case 'exactly':
      return { min: q.count, max: q.count }
    case 'range':
      return { min: q.min ?? 0, max: q.max ?? Infinity }
  }
}

/** The direct sub-patterns of a pattern node. */
export function rowPatternChildren(p: RowPattern): readonly RowPattern[] {
  switch (p.kind) {
    case 'variable':
    case 'empty':
    case 'anchor':
      return []
    case 'concat':
    case 'permute':
      return p.items
    case 'alternation':
      return p.alternatives
    case 'group':
    case 'quantified':
    case 'exclusion':
      return [p.pattern]
  }
}

/** The primary pattern variables of a pattern, each once, in order of first appearance. */
export function patternVariables(p: RowPattern): string[] {
  const seen = new Set<string>()
  const visit = (node: RowPattern): void => {
    if (node.kind === 'variable') seen.add(node.name)
    for (const child of rowPatternChildren(node)) visit(child)
  }
  visit(p)
  return [...seen]
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

/**
 * Parses a MATCH_RECOGNIZE clause from `c`, which stands at the clause's `(` or at the MATCH_RECOGNIZE
 * keyword before it. Consumes the clause and its alias, if any, and leaves the cursor after them (at
 * `WHERE`, `JOIN`, the end, ...).
 */
export function parseMatchRecognize(c: TokenCursor): MatchRecognize {
  const first = c.peek()
  if (first === undefined) throw c.unexpected('MATCH_RECOGNIZE')
  c.acceptWords('match_recognize')
  c.expectPunct('(')
  const partitionBy = c.acceptWords('partition', 'by') ? expressionList(c, 'a PARTITION BY expression') : []
  const orderBy = c.acceptWords('order', 'by') ? sortList(c) : []
  const measures = c.acceptWords('measures') ? measureList(c) : []
  const rowsPerMatch = rowsPerMatchClause(c)
  const afterMatchSkip = afterMatchSkipClause(c)
  if (!isWord(c.peek(), 'pattern')) throw c.unexpected(expectedBeforePattern(partitionBy, orderBy, measures, rowsPerMatch, afterMatchSkip))
  const { pattern, span: patternSpan } = patternClause(c)
  const within = c.acceptWords('within') ? withinClause(c) : undefined
  const subsets = c.acceptWords('subset') ? subsetList(c) : []
  const defines = c.acceptWords('define') ? defineList(c) : []
  if (!isPunct(c.peek(), ')')) throw c.unexpected(expectedAfterPattern(within, subsets, defines))
  const close = c.next()
  const alias = tableAlias(c)
  const node: MatchRecognize = {
    kind: 'match_recognize',
    partitionBy,
    orderBy,
    measures,
    ...(rowsPerMatch === undefined ? {} : { rowsPerMatch }),
    ...(afterMatchSkip === undefined ? {} : { afterMatchSkip }),
    pattern,
    patternSpan,
    ...(within === undefined ? {} : { within }),
    subsets,
    defines,
    ...(alias === undefined ? {} : { alias }),
    span: { start: first.start, end: alias?.span.end ?? close.end },
  }
  validateMatchRecognize(node)
  return node
}

/**
 * Parses exactly `sql.slice(start, end)` as a MATCH_RECOGNIZE clause (optionally starting with the
 * keyword) and its alias; spans are offsets into `sql`.
 */
export function parseMatchRecognizeText(sql: string, start = 0, end = sql.length): MatchRecognize {
  const c = new TokenCursor(sql, tokensOf(sql, start, end))
  const node = parseMatchRecognize(c)
  if (!c.atEnd()) throw c.unexpected('the end of the MATCH_RECOGNIZE clause')
  return node
}

/**
 * Parses a row pattern on its own, `sql.slice(start, end)` without the PATTERN keyword and its
 * parentheses: `A B+ C*?`. Spans are offsets into `sql`.
 */
export function parseRowPattern(sql: string, start = 0, end = sql.length): RowPattern {
  const tokens = scanPattern(sql, start, end, false)
  const p = new PatternParser(sql, tokens)
  if (p.peek().kind === 'end') throw syntaxError('syntax error at end of input, expected a row pattern', { start: end, end })
  const pattern = p.alternation()
  p.expectEnd()
  return pattern
}

/** Tokens of `sql.slice(start, end)` with offsets into `sql`. */
function tokensOf(sql: string, start: number, end: number): Token[] {
  try {
    return tokenize(sql.slice(start, end)).map((t) => ({ ...t, start: t.start + start, end: t.end + start }))
  } catch (err) {
    throw err instanceof SluiceError ? err.shifted(start) : err
  }
}

// ---------------------------------------------------------------------------------------------------------
// Expression lists

/**
 * Word sequences that start the next clause; an expression never runs into one at bracket depth zero, so a
 * column named like a clause keyword (`measures`, `define`, `subset`, `within`) must be quoted there.
 */
function isClauseStart(c: TokenCursor, k: number): boolean {
  const t = c.peek(k)
  if (t === undefined || t.kind !== 'word') return false
  const next = c.peek(k + 1)
  switch (t.value) {
    case 'order':
      return isWord(next, 'by')
    case 'measures':
    case 'subset':
    case 'define':
      return true
    case 'one':
      return isWord(next, 'row')
    case 'all':
      return isWord(next, 'rows')
    case 'after':
      return isWord(next, 'match')
    case 'pattern':
      return isPunct(next, '(')
    case 'within':
      // `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)` is an expression, not our WITHIN clause.
      return !isWord(next, 'group')
    default:
      return false
  }
}

interface TokenRange {
  readonly from: number
  readonly to: number
}

/** The tokens of one expression: up to a `,` or `)` at depth zero, a clause keyword, or the end. */
function takeExpression(c: TokenCursor, what: string): TokenRange {
  const from = c.index
  let depth = 0
  for (let t = c.peek(); t !== undefined; t = c.peek()) {
    if (depth === 0 && (isPunct(t, ',') || isPunct(t, ')') || isClauseStart(c, 0))) break
    depth += depthChange(t)
    c.next()
  }
  if (c.index === from) throw c.unexpected(what)
  return { from, to: c.index }
}

function sqlText(c: TokenCursor, range: TokenRange): SqlText {
  const span = c.span(range.from, range.to)
  return { kind: 'sql_text', text: c.sql.slice(span.start, span.end), span }
}

function expressionList(c: TokenCursor, what: string): SqlText[] {
  const items: SqlText[] = []
  do items.push(sqlText(c, takeExpression(c, what)))
  while (c.acceptPunct(','))
  return items
}

function sortList(c: TokenCursor): SortItem[] {
  const items: SortItem[] = []
  do items.push(sortItem(c))
  while (c.acceptPunct(','))
  return items
}

/** `expr [ASC | DESC] [NULLS FIRST | NULLS LAST]`: the modifiers are the item's last tokens. */
function sortItem(c: TokenCursor): SortItem {
  const range = takeExpression(c, 'an ORDER BY expression')
  let to = range.to
  const at = (i: number): Token | undefined => (i >= range.from ? c.tokens[i] : undefined)
  let nulls: 'first' | 'last' | undefined
  if (isWord(at(to - 2), 'nulls') && (isWord(at(to - 1), 'first') || isWord(at(to - 1), 'last'))) {
    nulls = at(to - 1)!.value as 'first' | 'last'
    to -= 2
  }
  let direction: 'asc' | 'desc' | undefined
  if (isWord(at(to - 1), 'asc') || isWord(at(to - 1), 'desc')) {
    direction = at(to - 1)!.value as 'asc' | 'desc'
    to -= 1
  }
  if (to === range.from) throw c.error('syntax error: expected an expression before the sort order', c.tokens[range.from])
  return {
    kind: 'sort_item',
    expr: sqlText(c, { from: range.from, to }),
    ...(direction === undefined ? {} : { direction }),
    ...(nulls === undefined ? {} : { nulls }),
    span: c.span(range.from, range.to),
  }
}

function measureList(c: TokenCursor): Measure[] {
  const items: Measure[] = []
  do items.push(measure(c))
  while (c.acceptPunct(','))
  return items
}

/** Interval units PostgreSQL reads after a string (`INTERVAL '1' DAY`); never a bare measure name. */
const INTERVAL_UNITS = new Set(['year', 'month', 'day', 'hour', 'minute', 'second', 'years', 'months', 'days', 'hours', 'minutes', 'seconds'])
/** Reserved keywords that end an operand, so that a name may follow them: `x IS NULL n`, `CASE ... END n`. */
const OPERAND_END_KEYWORDS = new Set(['null', 'true', 'false', 'end'])

/** Whether `t` can be the last token of an expression, so that a bare name may follow it. */
function endsOperand(t: Token): boolean {
  switch (t.kind) {
    case 'number':
    case 'string':
    case 'quoted_ident':
    case 'param':
      return true
    case 'punct':
      return t.value === ')' || t.value === ']'
    case 'word':
      return !RESERVED_KEYWORDS.has(t.value) || OPERAND_END_KEYWORDS.has(t.value)
    case 'operator':
      return false
  }
}

/**
 * `expr AS name` or `expr name`. Without AS, the name is the item's last token when that can only be a
 * name: a quoted identifier or a non-keyword word after a token that ends an operand (so `a.price p` names
 * p, while `a.price`, `x::numeric` and `INTERVAL '1' day` are names-less expressions).
 */
function measure(c: TokenCursor): Measure {
  const range = takeExpression(c, 'a measure expression')
  const tokens = c.tokens
  let asAt = -1
  let depth = 0
  for (let i = range.from; i < range.to; i++) {
    const t = tokens[i]!
    if (depth === 0 && isWord(t, 'as')) asAt = i
    depth += depthChange(t)
  }
  let exprTo: number
  let nameToken: Token
  if (asAt >= 0) {
    if (asAt === range.from) throw c.error('syntax error at or near "AS", expected a measure expression', tokens[asAt])
    if (asAt + 2 !== range.to || !isName(tokens[asAt + 1]!, true)) {
      throw c.error('syntax error: expected one measure name after AS', tokens[asAt + 1] ?? tokens[asAt])
    }
    exprTo = asAt
    nameToken = tokens[asAt + 1]!
  } else {
    const last = tokens[range.to - 1]!
    const before = range.to - 2 >= range.from ? tokens[range.to - 2] : undefined
    if (before === undefined || !isName(last, false) || !endsOperand(before)) {
      const end = last.end
      throw syntaxError('a measure needs a name: add AS name after the expression', { start: end, end })
    }
    exprTo = range.to - 1
    nameToken = last
  }
  const expr = patternExpr(c, { from: range.from, to: exprTo }, 'measure')
  return { kind: 'measure', expr, name: nameToken.value, nameSpan: { start: nameToken.start, end: nameToken.end }, span: c.span(range.from, range.to) }
}

/** A name token: after AS any word (PostgreSQL's ColLabel); bare, only a plain column name. */
function isName(t: Token, afterAs: boolean): boolean {
  if (t.kind === 'quoted_ident') return true
  if (t.kind !== 'word') return false
  return afterAs || (isColumnName(t.value) && !INTERVAL_UNITS.has(t.value))
}

/** `RUNNING` / `FINAL` directly before a function call: `FINAL LAST(a.x)`, `RUNNING count(*)`. */
function semanticsAt(c: TokenCursor, i: number, to: number): 'running' | 'final' | undefined {
  const t = c.tokens[i]
  if (!(isWord(t, 'running') || isWord(t, 'final')) || i + 2 >= to) return undefined
  const name = c.tokens[i + 1]!
  if ((name.kind !== 'word' && name.kind !== 'quoted_ident') || !isPunct(c.tokens[i + 2], '(')) return undefined
  return t!.value as 'running' | 'final'
}

function patternExpr(c: TokenCursor, range: TokenRange, where: 'measure' | 'define'): PatternExpr {
  if (range.from >= range.to) throw c.unexpected(`a ${where === 'measure' ? 'measure expression' : 'condition'}`)
  const prefix = semanticsAt(c, range.from, range.to)
  const from = prefix === undefined ? range.from : range.from + 1
  const innerSemantics: SemanticsMark[] = []
  for (let i = from; i < range.to; i++) {
    const s = semanticsAt(c, i, range.to)
    if (s !== undefined) innerSemantics.push({ semantics: s, span: tokenSpanOf(c.tokens[i]!) })
  }
  const finalMark = prefix === 'final' ? tokenSpanOf(c.tokens[range.from]!) : innerSemantics.find((m) => m.semantics === 'final')?.span
  if (where === 'define' && finalMark !== undefined) {
    throw syntaxError('FINAL is not allowed in DEFINE: a condition sees only the rows matched so far', finalMark, 'Remove FINAL (RUNNING is the default).')
  }
  const text = sqlText(c, { from, to: range.to })
  return {
    kind: 'pattern_expr',
    text: text.text,
    span: text.span,
    ...(prefix === undefined ? {} : { semantics: prefix, semanticsSpan: tokenSpanOf(c.tokens[range.from]!) }),
    innerSemantics,
  }
}

const tokenSpanOf = (t: Token): Span => ({ start: t.start, end: t.end })

// ---------------------------------------------------------------------------------------------------------
// ROWS PER MATCH, AFTER MATCH SKIP

function rowsPerMatchClause(c: TokenCursor): RowsPerMatch | undefined {
  if (c.acceptWords('one', 'row', 'per', 'match')) return { kind: 'one_row', span: c.span(c.index - 4, c.index) }
  if (!c.acceptWords('all', 'rows', 'per', 'match')) return undefined
  const from = c.index - 4
  let mode: 'show_empty_matches' | 'omit_empty_matches' | 'with_unmatched_rows' = 'show_empty_matches'
  if (c.acceptWords('show', 'empty', 'matches')) mode = 'show_empty_matches'
  else if (c.acceptWords('omit', 'empty', 'matches')) mode = 'omit_empty_matches'
  else if (c.acceptWords('with', 'unmatched', 'rows')) mode = 'with_unmatched_rows'
  return { kind: 'all_rows', mode, span: c.span(from, c.index) }
}

function afterMatchSkipClause(c: TokenCursor): AfterMatchSkip | undefined {
  if (!isWord(c.peek(), 'after')) return undefined
  const from = c.index
  c.expectWords('after', 'match', 'skip')
  if (c.acceptWords('past', 'last', 'row')) return { kind: 'past_last_row', span: c.span(from, c.index) }
  c.expectWords('to')
  if (c.acceptWords('next', 'row')) return { kind: 'to_next_row', span: c.span(from, c.index) }
  // FIRST / LAST are modifiers only when a variable follows; `SKIP TO last PATTERN (...)` targets a variable named last.
  let kind: 'to_first' | 'to_last' = 'to_last'
  const modifier = c.peek()
  const after = c.peek(1)
  const variableFollows = after !== undefined && (after.kind === 'word' || after.kind === 'quoted_ident') && !isClauseStart(c, 1)
  if ((isWord(modifier, 'first') || isWord(modifier, 'last')) && variableFollows) {
    kind = modifier!.value === 'first' ? 'to_first' : 'to_last'
    c.next()
  }
  const variable = c.identifier('a pattern variable')
  return { kind, variable: variable.value, variableSpan: tokenSpanOf(variable), span: c.span(from, c.index) }
}

function expectedBeforePattern(
  partitionBy: readonly SqlText[],
  orderBy: readonly SortItem[],
  measures: readonly Measure[],
  rowsPerMatch: RowsPerMatch | undefined,
  afterMatchSkip: AfterMatchSkip | undefined,
): string {
  const steps: [boolean, string][] = [
    [partitionBy.length > 0, 'PARTITION BY'],
    [orderBy.length > 0, 'ORDER BY'],
    [measures.length > 0, 'MEASURES'],
    [rowsPerMatch !== undefined, 'ONE ROW PER MATCH, ALL ROWS PER MATCH'],
    [afterMatchSkip !== undefined, 'AFTER MATCH SKIP'],
  ]
  let last = -1
  steps.forEach(([seen], i) => {
    if (seen) last = i
  })
  return [...steps.slice(last + 1).map(([, name]) => name), 'PATTERN'].join(', ')
}

function expectedAfterPattern(within: Within | undefined, subsets: readonly SubsetDef[], defines: readonly Define[]): string {
  if (defines.length > 0) return '"," or ")"'
  if (subsets.length > 0) return 'DEFINE, "," or ")"'
  if (within !== undefined) return 'SUBSET, DEFINE or ")"'
  return 'WITHIN, SUBSET, DEFINE or ")"'
}

// ---------------------------------------------------------------------------------------------------------
// WITHIN, SUBSET, DEFINE, alias

function withinClause(c: TokenCursor): Within {
  const keyword = c.tokens[c.index - 1]!
  const interval = sqlText(c, takeExpression(c, "an interval such as INTERVAL '5 minutes'"))
  return { kind: 'within', interval, span: { start: keyword.start, end: interval.span.end } }
}

function subsetList(c: TokenCursor): SubsetDef[] {
  const items: SubsetDef[] = []
  do {
    const name = c.identifier('a union variable name')
    c.expectPunct('=')
    c.expectPunct('(')
    const members: Name[] = []
    do {
      const m = c.identifier('a pattern variable')
      members.push({ name: m.value, span: tokenSpanOf(m) })
    } while (c.acceptPunct(','))
    const close = c.expectPunct(')')
    items.push({ kind: 'subset', name: name.value, nameSpan: tokenSpanOf(name), members, span: { start: name.start, end: close.end } })
  } while (c.acceptPunct(','))
  return items
}

function defineList(c: TokenCursor): Define[] {
  const items: Define[] = []
  do {
    const variable = c.identifier('a pattern variable')
    c.expectWords('as')
    const range = takeExpression(c, 'a condition')
    const condition = patternExpr(c, range, 'define')
    items.push({
      kind: 'define',
      variable: variable.value,
      variableSpan: tokenSpanOf(variable),
      condition,
      span: { start: variable.start, end: condition.span.end },
    })
  } while (c.acceptPunct(','))
  return items
}

/** `[AS] alias [(col, ...)]`; a bare alias must be a plain column name, as in PostgreSQL's FROM clause. */
function tableAlias(c: TokenCursor): TableAlias | undefined {
  const first = c.peek()
  if (first === undefined) return undefined
  let nameToken: Token
  if (c.acceptWords('as')) {
    nameToken = c.identifier('an alias')
  } else {
    const bare = first.kind === 'quoted_ident' || (first.kind === 'word' && isColumnName(first.value) && !(first.value === 'emit' && isWord(c.peek(1), 'on')))
    if (!bare) return undefined
    nameToken = c.next()
  }
  const columns: string[] = []
  let end = nameToken.end
  if (isPunct(c.peek(), '(')) {
    c.next()
    do columns.push(c.identifier('a column alias').value)
    while (c.acceptPunct(','))
    end = c.expectPunct(')').end
  }
  return { name: nameToken.value, columns, span: { start: first.start, end } }
}

// ---------------------------------------------------------------------------------------------------------
// PATTERN: a character scanner and a recursive-descent parser over its tokens

type PatternSymbol = '(' | ')' | '|' | ',' | '{' | '}' | '{-' | '-}' | '^' | '$' | '*' | '+' | '?'

type PatternToken =
  | { readonly kind: 'ident'; readonly value: string; readonly start: number; readonly end: number }
  | { readonly kind: 'number'; readonly value: number; readonly start: number; readonly end: number }
  | { readonly kind: 'symbol'; readonly value: PatternSymbol; readonly start: number; readonly end: number }
  /** `closing`: the end is the `)` of PATTERN ( ... ), not the end of the text. */
  | { readonly kind: 'end'; readonly start: number; readonly end: number; readonly closing: boolean }

const SINGLE_SYMBOLS = '()|,}^$*+?'
/** Quantifier bounds are PostgreSQL integers. */
const MAX_QUANTIFIER_BOUND = 2_147_483_647

/** `PATTERN ( ... )` at the cursor; moves the cursor past the closing parenthesis. */
function patternClause(c: TokenCursor): { pattern: RowPattern; span: Span } {
  const keyword = c.next()
  const open = c.peek()
  if (!isPunct(open, '(')) throw c.unexpected('"(" after PATTERN')
  const limit = c.tokens[c.tokens.length - 1]!.end
  const tokens = scanPattern(c.sql, open!.start, limit, true)
  const close = tokens[tokens.length - 1]!
  const p = new PatternParser(c.sql, tokens.slice(1, -1).concat({ kind: 'end', start: close.start, end: close.end, closing: true }))
  const pattern = p.peek().kind === 'end' ? ({ kind: 'empty', span: { start: open!.start, end: close.end } } as const) : p.alternation()
  p.expectEnd()
  skipTokensTo(c, close.start)
  return { pattern, span: { start: keyword.start, end: close.end } }
}

/**
 * Moves the cursor to the lexer's `)` token at `offset`, past the tokens the lexer made of the pattern.
 * The two tokenizations agree on that parenthesis unless the pattern text held something the lexer reads
 * across it (a `--` comment, `$$`), which we report rather than guess at.
 */
function skipTokensTo(c: TokenCursor, offset: number): void {
  for (let t = c.peek(); t !== undefined && t.start < offset; t = c.peek()) {
    if (t.end > offset) throw syntaxError('the PATTERN text cannot be tokenized as SQL here; separate its symbols with spaces', tokenSpanOf(t))
    c.next()
  }
  const close = c.peek()
  if (close === undefined || close.start !== offset || !isPunct(close, ')')) {
    throw syntaxError('the PATTERN text cannot be tokenized as SQL here; separate its symbols with spaces', { start: offset, end: offset + 1 })
  }
  c.next()
}

/**
 * Tokenizes a row pattern from `start`. With `enclosed`, `start` is the opening parenthesis and scanning
 * stops after the parenthesis that closes it (both included in the result); otherwise everything up to
 * `limit` is the pattern and an `end` token closes the list.
 */
function scanPattern(sql: string, start: number, limit: number, enclosed: boolean): PatternToken[] {
  const tokens: PatternToken[] = []
  let depth = 0
  let i = start
  for (;;) {
    i = skipSpaceAndComments(sql, i, limit)
    if (i >= limit) {
      if (enclosed) throw syntaxError('syntax error at end of input, PATTERN ( ... ) is not closed', { start: limit, end: limit })
      tokens.push({ kind: 'end', start: limit, end: limit, closing: false })
      return tokens
    }
    const t = patternToken(sql, i, limit)
    tokens.push(t)
    i = t.end
    if (t.kind === 'symbol' && t.value === '(') depth++
    if (t.kind === 'symbol' && t.value === ')') {
      depth--
      if (enclosed && depth === 0) return tokens
      if (depth < 0) throw syntaxError('syntax error at or near ")" in PATTERN', { start: t.start, end: t.end })
    }
  }
}

function skipSpaceAndComments(sql: string, i: number, limit: number): number {
  while (i < limit) {
    const ch = sql[i]!
    if (/\s/.test(ch)) i++
    else if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i)
      i = nl < 0 || nl > limit ? limit : nl + 1
    } else if (sql.startsWith('/*', i)) i = blockCommentEnd(sql, i, limit)
    else break
  }
  return i
}

/** Block comments nest, as in PostgreSQL. */
function blockCommentEnd(sql: string, start: number, limit: number): number {
  let depth = 0
  let i = start
  while (i < limit) {
    if (sql.startsWith('/*', i)) {
      depth++
      i += 2
    } else if (sql.startsWith('*/', i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else i++
  }
  throw syntaxError('unterminated /* comment at or near "/*"', { start, end: limit })
}

/** Unlike SQL identifiers, pattern variables have no `$`: `B$` is B then the end anchor, as in every dialect's examples. */
const isPatternIdentStart = (ch: string): boolean => /[A-Za-z_]/.test(ch) || ch.charCodeAt(0) >= 0x80
const isPatternIdentChar = (ch: string): boolean => isPatternIdentStart(ch) || (ch >= '0' && ch <= '9')

function patternToken(sql: string, i: number, limit: number): PatternToken {
  const ch = sql[i]!
  const next = i + 1 < limit ? sql[i + 1]! : ''
  if (ch === '"') return quotedPatternIdent(sql, i, limit)
  if (isPatternIdentStart(ch)) {
    let j = i + 1
    while (j < limit && isPatternIdentChar(sql[j]!)) j++
    return { kind: 'ident', value: foldIdentifier(sql.slice(i, j)), start: i, end: j }
  }
  if (ch >= '0' && ch <= '9') {
    let j = i + 1
    while (j < limit && sql[j]! >= '0' && sql[j]! <= '9') j++
    const value = Number(sql.slice(i, j))
    if (value > MAX_QUANTIFIER_BOUND) throw syntaxError(`quantifier bound ${sql.slice(i, j)} is too large (at most ${MAX_QUANTIFIER_BOUND})`, { start: i, end: j })
    return { kind: 'number', value, start: i, end: j }
  }
  if (ch === '{') return next === '-' ? { kind: 'symbol', value: '{-', start: i, end: i + 2 } : { kind: 'symbol', value: '{', start: i, end: i + 1 }
  if (ch === '-' && next === '}') return { kind: 'symbol', value: '-}', start: i, end: i + 2 }
  if (SINGLE_SYMBOLS.includes(ch)) return { kind: 'symbol', value: ch as PatternSymbol, start: i, end: i + 1 }
  throw syntaxError(`syntax error at or near "${ch}" in PATTERN`, { start: i, end: i + 1 })
}

function quotedPatternIdent(sql: string, start: number, limit: number): PatternToken {
  let value = ''
  let i = start + 1
  for (;;) {
    const close = sql.indexOf('"', i)
    if (close < 0 || close >= limit) throw syntaxError('unterminated quoted identifier in PATTERN', { start, end: limit })
    value += sql.slice(i, close)
    if (sql[close + 1] === '"' && close + 1 < limit) {
      value += '"'
      i = close + 2
      continue
    }
    if (value === '') throw syntaxError('zero-length delimited identifier in PATTERN', { start, end: close + 1 })
    return { kind: 'ident', value, start, end: close + 1 }
  }
}

/**
 *   alternation := concat ('|' concat)*
 *   concat      := term term*
 *   term        := primary quantifier?
 *   primary     := variable | '(' alternation? ')' | '^' | '$' | '{-' alternation '-}' | PERMUTE '(' alternation (',' alternation)* ')'
 *   quantifier  := ('*' | '+' | '?' | '{' n? (',' m?)? '}') '?'?
 */
class PatternParser {
  private i = 0

  constructor(
    private readonly sql: string,
    private readonly tokens: readonly PatternToken[],
  ) {}

  peek(k = 0): PatternToken {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)]!
  }

  private next(): PatternToken {
    const t = this.peek()
    if (t.kind !== 'end') this.i++
    return t
  }

  private isSymbol(t: PatternToken, s: PatternSymbol): boolean {
    return t.kind === 'symbol' && t.value === s
  }

  private unexpected(expected: string): SluiceError {
    const t = this.peek()
    if (t.kind === 'end' && !t.closing) return syntaxError(`syntax error at end of input, expected ${expected} in PATTERN`, { start: t.start, end: t.end })
    return syntaxError(`syntax error at or near "${this.sql.slice(t.start, t.end)}" in PATTERN, expected ${expected}`, { start: t.start, end: t.end })
  }

  private expectSymbol(s: PatternSymbol): PatternToken {
    if (!this.isSymbol(this.peek(), s)) throw this.unexpected(`"${s}"`)
    return this.next()
  }

  expectEnd(): void {
    if (this.peek().kind !== 'end') throw this.unexpected('"|" or the end of the pattern')
  }

  alternation(): RowPattern {
    const alternatives = [this.concat()]
    while (this.isSymbol(this.peek(), '|')) {
      this.next()
      alternatives.push(this.concat())
    }
    if (alternatives.length === 1) return alternatives[0]!
    return { kind: 'alternation', alternatives, span: spanOver(alternatives) }
  }

  private startsPrimary(t: PatternToken): boolean {
    return t.kind === 'ident' || this.isSymbol(t, '(') || this.isSymbol(t, '^') || this.isSymbol(t, '$') || this.isSymbol(t, '{-')
  }

  private concat(): RowPattern {
    const items: RowPattern[] = []
    while (this.startsPrimary(this.peek())) items.push(this.term())
    const t = this.peek()
    if (t.kind === 'symbol' && (t.value === '*' || t.value === '+' || t.value === '?' || t.value === '{')) {
      throw syntaxError(`syntax error at or near "${t.value}" in PATTERN: a quantifier must follow a variable, a group, an anchor, PERMUTE or an exclusion, once`, {
        start: t.start,
        end: t.end,
      })
    }
    if (items.length === 0) throw this.unexpected('a pattern variable, "(", "^", "$", "{-" or PERMUTE')
    if (items.length === 1) return items[0]!
    return { kind: 'concat', items, span: spanOver(items) }
  }

  private term(): RowPattern {
    const primary = this.primary()
    const quantifier = this.quantifier()
    if (quantifier === undefined) return primary
    return { kind: 'quantified', pattern: primary, quantifier, span: { start: primary.span.start, end: quantifier.span.end } }
  }

  private primary(): RowPattern {
    const t = this.next()
    if (t.kind === 'ident') {
      if (t.value === 'permute' && this.isSymbol(this.peek(), '(') && this.sql[t.start] !== '"') return this.permute(t)
      return { kind: 'variable', name: t.value, span: { start: t.start, end: t.end } }
    }
    if (t.kind !== 'symbol') throw internalParserState()
    switch (t.value) {
      case '^':
        return { kind: 'anchor', anchor: 'partition_start', span: { start: t.start, end: t.end } }
      case '$':
        return { kind: 'anchor', anchor: 'partition_end', span: { start: t.start, end: t.end } }
      case '(': {
        if (this.isSymbol(this.peek(), ')')) return { kind: 'empty', span: { start: t.start, end: this.next().end } }
        const pattern = this.alternation()
        const close = this.expectSymbol(')')
        return { kind: 'group', pattern, span: { start: t.start, end: close.end } }
      }
      case '{-': {
        const pattern = this.alternation()
        if (!this.isSymbol(this.peek(), '-}')) throw this.unexpected('"-}" closing the exclusion')
        const close = this.next()
        return { kind: 'exclusion', pattern, span: { start: t.start, end: close.end } }
      }
      default:
        throw internalParserState()
    }
  }

  private permute(keyword: PatternToken): RowPattern {
    this.expectSymbol('(')
    const items = [this.alternation()]
    while (this.isSymbol(this.peek(), ',')) {
      this.next()
      items.push(this.alternation())
    }
    const close = this.expectSymbol(')')
    return { kind: 'permute', items, span: { start: keyword.start, end: close.end } }
  }

  private quantifier(): Quantifier | undefined {
    const t = this.peek()
    if (t.kind !== 'symbol') return undefined
    let form: QuantifierForm
    if (t.value === '*') form = { kind: 'zero_or_more' }
    else if (t.value === '+') form = { kind: 'one_or_more' }
    else if (t.value === '?') form = { kind: 'zero_or_one' }
    else if (t.value === '{') form = this.braces()
    else return undefined
    if (t.value !== '{') this.next()
    let end = this.tokens[this.i - 1]!.end
    let reluctant = false
    if (this.isSymbol(this.peek(), '?')) {
      reluctant = true
      end = this.next().end
    }
    return { ...form, reluctant, span: { start: t.start, end } }
  }

  /** `{n}`, `{n,}`, `{,m}`, `{n,m}`, `{,}`; consumes through `}`. */
  private braces(): QuantifierForm {
    const open = this.next()
    const min = this.peek().kind === 'number' ? (this.next() as { value: number }).value : undefined
    if (!this.isSymbol(this.peek(), ',')) {
      if (min === undefined) throw this.unexpected('a number or "," in the quantifier')
      this.expectSymbol('}')
      return { kind: 'exactly', count: min }
    }
    this.next()
    const max = this.peek().kind === 'number' ? (this.next() as { value: number }).value : undefined
    const close = this.expectSymbol('}')
    if (min !== undefined && max !== undefined && min > max) {
      throw syntaxError(`the quantifier {${min},${max}} has a lower bound above its upper bound`, { start: open.start, end: close.end })
    }
    return { kind: 'range', ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) }
  }
}

/** `primary()` runs only where `startsPrimary` held. */
const internalParserState = (): SluiceError => internalError('PATTERN parser reached a token that cannot start a primary')

function spanOver(items: readonly RowPattern[]): Span {
  return { start: items[0]!.span.start, end: items[items.length - 1]!.span.end }
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/** Checks the references between PATTERN, SUBSET, DEFINE, MEASURES and AFTER MATCH SKIP. */
function validateMatchRecognize(node: MatchRecognize): void {
  const primaries = new Set(patternVariables(node.pattern))
  const unions = validateSubsets(node.subsets, primaries)
  validateDefines(node.defines, primaries, unions)
  validateMeasures(node.measures)
  if (node.afterMatchSkip !== undefined) validateSkip(node.afterMatchSkip, node.pattern, primaries, unions)
  if (node.rowsPerMatch?.kind === 'all_rows' && node.rowsPerMatch.mode === 'with_unmatched_rows') {
    const exclusion = findExclusion(node.pattern)
    if (exclusion !== undefined) {
      throw syntaxError('pattern exclusion {- -} cannot be used with ALL ROWS PER MATCH WITH UNMATCHED ROWS', exclusion.span)
    }
  }
}

function validateSubsets(subsets: readonly SubsetDef[], primaries: ReadonlySet<string>): Map<string, ReadonlySet<string>> {
  const unions = new Map<string, ReadonlySet<string>>()
  for (const s of subsets) {
    if (primaries.has(s.name)) throw syntaxError(`union variable "${s.name}" has the name of a pattern variable`, s.nameSpan)
    if (unions.has(s.name)) throw syntaxError(`union variable "${s.name}" is defined twice`, s.nameSpan)
    const members = new Set<string>()
    for (const m of s.members) {
      if (!primaries.has(m.name)) throw undefinedVariable(m.name, m.span, 'PATTERN')
      if (members.has(m.name)) throw syntaxError(`pattern variable "${m.name}" appears twice in SUBSET ${s.name}`, m.span)
      members.add(m.name)
    }
    unions.set(s.name, members)
  }
  return unions
}

function validateDefines(defines: readonly Define[], primaries: ReadonlySet<string>, unions: ReadonlyMap<string, ReadonlySet<string>>): void {
  const seen = new Set<string>()
  for (const d of defines) {
    if (unions.has(d.variable)) {
      throw planError(SqlState.invalidColumnReference, `"${d.variable}" is a union variable (SUBSET); DEFINE defines pattern variables only`, d.variableSpan)
    }
    if (!primaries.has(d.variable)) throw undefinedVariable(d.variable, d.variableSpan, 'PATTERN')
    if (seen.has(d.variable)) throw syntaxError(`pattern variable "${d.variable}" is defined twice`, d.variableSpan)
    seen.add(d.variable)
  }
}

function validateMeasures(measures: readonly Measure[]): void {
  const seen = new Set<string>()
  for (const m of measures) {
    if (seen.has(m.name)) throw planError(SqlState.duplicateColumn, `measure "${m.name}" is specified more than once`, m.nameSpan)
    seen.add(m.name)
  }
}

function undefinedVariable(name: string, span: Span, where: string): SluiceError {
  return planError(SqlState.invalidColumnReference, `pattern variable "${name}" does not appear in ${where}`, span)
}

/**
 * AFTER MATCH SKIP TO [FIRST | LAST] v must name a pattern or union variable. It is also rejected when every
 * non-empty match would restart at its own first row, which the standard makes an exception at run time
 * (an endless loop otherwise): every match starts with a row of v and, for LAST, has no other row of v.
 * We raise it here with the same SQLSTATE 2202L, so a client sees one code for one mistake whether it is
 * caught now or by the executor on data (where the cases this static check cannot see are caught).
 */
function validateSkip(skip: AfterMatchSkip, pattern: RowPattern, primaries: ReadonlySet<string>, unions: ReadonlyMap<string, ReadonlySet<string>>): void {
  if (skip.kind !== 'to_first' && skip.kind !== 'to_last') return
  const targets = unions.get(skip.variable) ?? (primaries.has(skip.variable) ? new Set([skip.variable]) : undefined)
  if (targets === undefined) throw undefinedVariable(skip.variable, skip.variableSpan, 'PATTERN or SUBSET')
  const first = firstRowVariables(pattern)
  const alwaysStartsWithTarget = first.size > 0 && [...first].every((v) => targets.has(v))
  if (!alwaysStartsWithTarget) return
  if (skip.kind === 'to_last' && maxRowsOf(pattern, targets) > 1) return
  const which = skip.kind === 'to_first' ? 'FIRST' : 'LAST'
  throw planError(
    SqlState.skipToFirstRowOfMatch,
    `AFTER MATCH SKIP TO ${which} ${skip.variable} would restart every match at its own first row`,
    skip.span,
    'Use AFTER MATCH SKIP TO NEXT ROW to look for overlapping matches.',
  )
}

/** The variables the first row of a non-empty match can be mapped to (an over-approximation: anchors are ignored). */
function firstRowVariables(p: RowPattern): Set<string> {
  switch (p.kind) {
    case 'variable':
      return new Set([p.name])
    case 'empty':
    case 'anchor':
      return new Set()
    case 'group':
    case 'exclusion':
      return firstRowVariables(p.pattern)
    case 'quantified':
      return quantifierBounds(p.quantifier).max > 0 ? firstRowVariables(p.pattern) : new Set()
    case 'alternation':
    case 'permute':
      return union(rowPatternChildren(p).map(firstRowVariables))
    case 'concat': {
      const sets: Set<string>[] = []
      for (const item of p.items) {
        sets.push(firstRowVariables(item))
        if (!canMatchEmpty(item)) break
      }
      return union(sets)
    }
  }
}

function union(sets: readonly Set<string>[]): Set<string> {
  const out = new Set<string>()
  for (const s of sets) for (const v of s) out.add(v)
  return out
}

/** Whether a pattern can match no rows at all. */
export function canMatchEmpty(p: RowPattern): boolean {
  switch (p.kind) {
    case 'variable':
      return false
    case 'empty':
    case 'anchor':
      return true
    case 'group':
    case 'exclusion':
      return canMatchEmpty(p.pattern)
    case 'quantified':
      return quantifierBounds(p.quantifier).min === 0 || canMatchEmpty(p.pattern)
    case 'alternation':
      return p.alternatives.some(canMatchEmpty)
    case 'concat':
    case 'permute':
      return p.items.every(canMatchEmpty)
  }
}

/** The most rows one match can map to the `targets` variables (Infinity when unbounded). */
function maxRowsOf(p: RowPattern, targets: ReadonlySet<string>): number {
  switch (p.kind) {
    case 'variable':
      return targets.has(p.name) ? 1 : 0
    case 'empty':
    case 'anchor':
      return 0
    case 'group':
    case 'exclusion':
      return maxRowsOf(p.pattern, targets)
    case 'quantified': {
      const inner = maxRowsOf(p.pattern, targets)
      const { max } = quantifierBounds(p.quantifier)
      return inner === 0 || max === 0 ? 0 : inner * max
    }
    case 'alternation':
      return Math.max(0, ...p.alternatives.map((a) => maxRowsOf(a, targets)))
    case 'concat':
    case 'permute':
      return p.items.reduce((sum, item) => sum + maxRowsOf(item, targets), 0)
  }
}

function findExclusion(p: RowPattern): PatternExclusion | undefined {
  if (p.kind === 'exclusion') return p
  for (const child of rowPatternChildren(p)) {
    const found = findExclusion(child)
    if (found !== undefined) return found
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// Printing (for round trips, EXPLAIN and error messages)

const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/

/** A name as SQL text, quoted when it would not read back as itself. */
function printName(name: string): string {
  return PLAIN_NAME.test(name) && !RESERVED_KEYWORDS.has(name) ? name : `"${name.replace(/"/g, '""')}"`
}

/** Pattern variables are quoted also when they would read as PERMUTE. */
function printVariable(name: string): string {
  return name === 'permute' ? '"permute"' : printName(name)
}

function printQuantifier(q: Quantifier): string {
  const suffix = q.reluctant ? '?' : ''
  switch (q.kind) {
    case 'zero_or_more':
      return `*${suffix}`
    case 'one_or_more':
      return `+${suffix}`
    case 'zero_or_one':
      return `?${suffix}`
    case 'exactly':
      return `{${q.count}}${suffix}`
    case 'range':
      return `{${q.min ?? ''},${q.max ?? ''}}${suffix}`
  }
}

/** A row pattern as PATTERN text; parentheses are added where a constructed tree needs them. */
export function printRowPattern(p: RowPattern): string {
  switch (p.kind) {
    case 'variable':
      return printVariable(p.name)
    case 'empty':
      return '()'
    case 'anchor':
      return p.anchor === 'partition_start' ? '^' : '$'
    case 'group':
      return `(${printRowPattern(p.pattern)})`
    case 'exclusion':
      return `{- ${printRowPattern(p.pattern)} -}`
    case 'permute':
      return `PERMUTE(${p.items.map(printRowPattern).join(', ')})`
    case 'alternation':
      return p.alternatives.map(printRowPattern).join(' | ')
    case 'concat':
      return p.items.map((item) => (item.kind === 'alternation' ? `(${printRowPattern(item)})` : printRowPattern(item))).join(' ')
    case 'quantified': {
      const inner = p.pattern
      const atomic = inner.kind !== 'concat' && inner.kind !== 'alternation' && inner.kind !== 'quantified'
      return `${atomic ? printRowPattern(inner) : `(${printRowPattern(inner)})`}${printQuantifier(p.quantifier)}`
    }
  }
}

function printPatternExpr(e: PatternExpr): string {
  return e.semantics === undefined ? e.text : `${e.semantics.toUpperCase()} ${e.text}`
}

function printRowsPerMatch(r: RowsPerMatch): string {
  switch (r.kind) {
    case 'one_row':
      return 'ONE ROW PER MATCH'
    case 'all_rows':
      return `ALL ROWS PER MATCH ${r.mode.toUpperCase().replace(/_/g, ' ')}`
  }
}

function printSkip(s: AfterMatchSkip): string {
  switch (s.kind) {
    case 'past_last_row':
      return 'AFTER MATCH SKIP PAST LAST ROW'
    case 'to_next_row':
      return 'AFTER MATCH SKIP TO NEXT ROW'
    case 'to_first':
      return `AFTER MATCH SKIP TO FIRST ${printName(s.variable)}`
    case 'to_last':
      return `AFTER MATCH SKIP TO LAST ${printName(s.variable)}`
  }
}

/** The clause as SQL text (`MATCH_RECOGNIZE ( ... ) AS alias`), one clause per line. */
export function printMatchRecognize(m: MatchRecognize): string {
  const lines: string[] = []
  if (m.partitionBy.length > 0) lines.push(`PARTITION BY ${m.partitionBy.map((e) => e.text).join(', ')}`)
  if (m.orderBy.length > 0) {
    const items = m.orderBy.map((o) => [o.expr.text, o.direction?.toUpperCase(), o.nulls === undefined ? undefined : `NULLS ${o.nulls.toUpperCase()}`].filter((x) => x !== undefined).join(' '))
    lines.push(`ORDER BY ${items.join(', ')}`)
  }
  if (m.measures.length > 0) lines.push(`MEASURES ${m.measures.map((x) => `${printPatternExpr(x.expr)} AS ${printName(x.name)}`).join(', ')}`)
  if (m.rowsPerMatch !== undefined) lines.push(printRowsPerMatch(m.rowsPerMatch))
  if (m.afterMatchSkip !== undefined) lines.push(printSkip(m.afterMatchSkip))
  lines.push(`PATTERN (${m.pattern.kind === 'empty' ? '' : printRowPattern(m.pattern)})${m.within === undefined ? '' : ` WITHIN ${m.within.interval.text}`}`)
  if (m.subsets.length > 0) lines.push(`SUBSET ${m.subsets.map((s) => `${printName(s.name)} = (${s.members.map((x) => printName(x.name)).join(', ')})`).join(', ')}`)
  if (m.defines.length > 0) lines.push(`DEFINE ${m.defines.map((d) => `${printName(d.variable)} AS ${printPatternExpr(d.condition)}`).join(', ')}`)
  const alias = m.alias === undefined ? '' : ` AS ${printName(m.alias.name)}${m.alias.columns.length > 0 ? ` (${m.alias.columns.map(printName).join(', ')})` : ''}`
  return `MATCH_RECOGNIZE (\n  ${lines.join('\n  ')}\n)${alias}`
}
