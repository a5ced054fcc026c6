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
 * measure named twice. AFTER MATCH SKIP TO that would resume at a match's first row is the run-time
 * exception 2202L of the executor, as the standard has it.
 */
import { SluiceError, syntaxError } from '../../common/errors.ts'
import { RESERVED_KEYWORDS, isColumnName } from '../keywords.ts'
import { depthChange, isPunct, isWord, tokenize, type Token } from '../lexer.ts'
import { TokenCursor } from '../token-cursor.ts'
import type {
  AfterMatchSkip,
  Define,
  MatchRecognize,
  Measure,
  Name,
  PatternExpr,
  RowsPerMatch,
  SemanticsMark,
  SortItem,
  SqlText,
  SubsetDef,
  TableAlias,
  Within,
} from './ast.ts'
import { patternClause, tokenSpanOf } from './parse-pattern.ts'
import { validateMatchRecognize } from './validate.ts'

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
