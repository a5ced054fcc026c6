/**
 * Our grammar for live results and cursors, the statements PostgreSQL's parser does not know (SUBSCRIBE)
 * or knows only around a plain query (DECLARE ... FOR SUBSCRIBE, FETCH ... WITH (timeout)):
 *
 *   SUBSCRIBE [TO] relation [WITH (snapshot = true | false, progress = true | false)]
 *   COPY { relation [(columns)] | ( query | SUBSCRIBE ... ) } TO STDOUT [[WITH] (option [value], ...) | old-style options]
 *   DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [NO SCROLL] CURSOR [WITH HOLD | WITHOUT HOLD] FOR query | SUBSCRIBE ...
 *   FETCH | MOVE [FORWARD] [n | ALL | NEXT] [FROM | IN] name [WITH (timeout = '1s')]
 *   CLOSE name | ALL
 *
 * A query inside COPY or DECLARE goes back to the front door (`parseAny`), so it means what it means alone.
 */
import { SluiceError, SqlState, syntaxError, unsupported, type Span } from '../common/errors.ts'
import type * as ast from './ast.ts'
import { depthChange, isPunct, isWord, type Token } from './lexer.ts'
import type { TokenCursor } from './token-cursor.ts'
import { withOptions, type StatementParser } from './streaming.ts'

/** Which live-results statement starts with these tokens, if any. */
export function liveStatementKind(tokens: readonly Token[]): 'subscribe' | 'copy_to' | 'copy_from' | 'declare_cursor' | 'fetch' | 'close_cursor' | undefined {
  const t = tokens[0]
  if (isWord(t, 'subscribe')) return 'subscribe'
  // COPY (query) TO STDOUT and COPY stream FROM STDIN are ours; every other COPY is refused by the generic path.
  if (isWord(t, 'copy') && isPunct(tokens[1], '(')) return 'copy_to'
  if (isWord(t, 'copy') && tokens.some((k, i) => i > 1 && isWord(k, 'from'))) return 'copy_from'
  if (isWord(t, 'copy') && tokens.some((k, i) => i > 1 && isWord(k, 'to'))) return 'copy_to'
  if (isWord(t, 'declare')) return 'declare_cursor'
  if (isWord(t, 'fetch') || isWord(t, 'move')) return 'fetch'
  if (isWord(t, 'close') && tokens.length >= 2) return 'close_cursor'
  return undefined
}

export function parseLiveStatement(c: TokenCursor, span: Span, parseAny: StatementParser): ast.Statement {
  switch (liveStatementKind(c.tokens)) {
    case 'subscribe':
      return subscribe(c, span)
    case 'copy_to':
      return copyTo(c, span, parseAny)
    case 'copy_from':
      return copyFrom(c, span)
    case 'declare_cursor':
      return declare(c, span, parseAny)
    case 'fetch':
      return fetch(c, span)
    case 'close_cursor':
      return close(c, span)
    case undefined:
      throw syntaxError('not a live results statement', span)
  }
}

function subscribe(c: TokenCursor, span: Span): ast.Subscribe {
  c.expectWords('subscribe')
  c.acceptWords('to')
  if (isPunct(c.peek(), '(')) {
    throw unsupported('SUBSCRIBE to a query is not supported', c.span(c.index, c.index + 1), 'Create a materialized view for the query and SUBSCRIBE to the view.')
  }
  const relation = c.qualifiedName('a materialized view or stream name')
  const options = isWord(c.peek(), 'with') ? withOptions(c) : []
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'subscribe', relation, options, span }
}

/** The statement between the parentheses that start at the cursor; leaves the cursor after `)`. */
function parenthesized(c: TokenCursor, parseAny: StatementParser): ast.QueryStatement | ast.Subscribe {
  const open = c.expectPunct('(')
  const from = c.index
  let depth = 1
  let to = from
  for (; to < c.tokens.length; to++) {
    depth += depthChange(c.tokens[to]!)
    if (depth === 0) break
  }
  if (depth !== 0) throw syntaxError('syntax error at end of input: missing ")"', { start: open.start, end: open.end })
  if (to === from) throw c.unexpected('a query')
  const inner = parseAny(c.sql, c.tokens.slice(from, to))
  while (c.index <= to) c.next()
  return innerSource(inner)
}

function innerSource(s: ast.Statement): ast.QueryStatement | ast.Subscribe {
  if (s.kind === 'query' || s.kind === 'subscribe') return s
  throw syntaxError('expected a SELECT query or SUBSCRIBE', s.span)
}

function copyTo(c: TokenCursor, span: Span, parseAny: StatementParser): ast.CopyTo {
  c.expectWords('copy')
  const source = isPunct(c.peek(), '(') ? parenthesized(c, parseAny) : relationQuery(c)
  if (isWord(c.peek(), 'from')) throw c.error('COPY FROM of a query is not possible; COPY (query) only goes TO STDOUT')
  c.expectWords('to')
  if (!c.acceptWords('stdout')) throw unsupported('COPY TO a file is not supported', c.span(c.index, c.tokens.length), 'Use COPY ... TO STDOUT (psql: \\copy).')
  c.acceptWords('with')
  const options: ast.OptionDef[] = []
  let forceQuote: '*' | string[] | undefined
  const quoteList = (): void => {
    forceQuote = c.acceptPunct('*') ? '*' : columnList(c, isPunct(c.peek(), '('))
  }
  if (isPunct(c.peek(), '(')) options.push(...copyOptions(c, quoteList))
  else options.push(...oldStyleOptions(c, quoteList))
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'copy_to', source, options, ...(forceQuote === undefined ? {} : { forceQuote }), span }
}

/** `COPY relation [(a, b)] TO`: a read of the relation's columns, as `SELECT a, b FROM relation`. */
function relationQuery(c: TokenCursor): ast.QueryStatement {
  const name = c.qualifiedName('a relation name or a parenthesized query')
  const columns = isPunct(c.peek(), '(') ? columnTokens(c) : null
  const end = c.index > 0 ? c.tokens[c.index - 1]!.end : name.span.end
  const at: Span = { start: name.span.start, end }
  const targets: ast.SelectItem[] =
    columns === null
      ? [{ expr: { kind: 'star', table: [], span: name.span }, span: name.span }]
      : columns.map((t) => ({ expr: { kind: 'column_ref', table: [], name: t.value, span: { start: t.start, end: t.end } }, span: { start: t.start, end: t.end } }))
  const select: ast.Select = { kind: 'select', distinct: false, targets, from: [{ kind: 'table_ref', name, span: name.span }], groupBy: [], orderBy: [], span: at }
  return { kind: 'query', query: select, span: at }
}

function columnTokens(c: TokenCursor): Token[] {
  const out: Token[] = []
  c.expectPunct('(')
  do out.push(c.identifier('a column name'))
  while (c.acceptPunct(','))
  c.expectPunct(')')
  return out
}

/** `a, b` or `(a, b)`: FORCE_QUOTE's column names. */
function columnList(c: TokenCursor, parenthesized: boolean): string[] {
  if (parenthesized) return columnTokens(c).map((t) => t.value)
  const out: string[] = []
  do out.push(c.identifier('a column name').value)
  while (c.acceptPunct(','))
  return out
}

/**
 * PostgreSQL's older option words, as psql's `\copy` and older scripts pass them: `CSV`, `BINARY`, `HEADER`,
 * `DELIMITER [AS] 'x'`, `NULL [AS] 'x'`, `QUOTE [AS] 'x'`, `ESCAPE [AS] 'x'`, and for COPY TO
 * `FORCE QUOTE * | a, b` (when `forceQuote` is given).
 */
function oldStyleOptions(c: TokenCursor, forceQuote?: () => void): ast.OptionDef[] {
  const options: ast.OptionDef[] = []
  while (!c.atEnd()) {
    const word = c.identifier('a COPY option')
    const at = { start: word.start, end: word.end }
    const name = word.value.toLowerCase()
    if (name === 'csv' || name === 'binary') options.push({ name: 'format', value: name, span: at })
    else if (name === 'header') options.push({ name: 'header', value: true, span: at })
    else if (['delimiter', 'null', 'quote', 'escape'].includes(name)) {
      c.acceptWords('as')
      const value = c.next()
      if (value === undefined || value.kind !== 'string') throw c.error(`COPY ${name.toUpperCase()} takes a quoted string`)
      options.push({ name, value: value.value, span: { start: word.start, end: value.end } })
    } else if (name === 'force' && forceQuote !== undefined && c.acceptWords('quote')) {
      forceQuote()
      options.push({ name: 'force_quote', value: true, span: at })
    } else throw syntaxError(`syntax error at or near "${word.value}"`, at)
  }
  return options
}

/**
 * `COPY stream [(columns)] FROM STDIN [[WITH] (option value, ...)]`, and PostgreSQL's older option words
 * (`CSV`, `HEADER`, `DELIMITER [AS] 'x'`, `NULL [AS] 'x'`, `QUOTE`, `ESCAPE`, `BINARY`) that psql's `\copy`
 * passes through.
 */
function copyFrom(c: TokenCursor, span: Span): ast.CopyFrom {
  c.expectWords('copy')
  const stream = c.qualifiedName('a stream name')
  let columns: string[] | null = null
  if (c.acceptPunct('(')) {
    columns = []
    do columns.push(c.identifier('a column name').value)
    while (c.acceptPunct(','))
    c.expectPunct(')')
  }
  c.expectWords('from')
  if (!c.acceptWords('stdin')) throw unsupported('COPY FROM a file or program is not supported', c.span(c.index, c.tokens.length), 'Use COPY ... FROM STDIN (psql: \\copy stream FROM file).')
  c.acceptWords('with')
  const options = isPunct(c.peek(), '(') ? copyOptions(c) : oldStyleOptions(c)
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'copy_from', stream, columns, options, span }
}

/** COPY's `(name [value], ...)` option list, from its opening parenthesis; a name alone means true. */
function copyOptions(c: TokenCursor, forceQuote?: () => void): ast.OptionDef[] {
  const options: ast.OptionDef[] = []
  c.expectPunct('(')
  do {
    const name = c.identifier('a COPY option')
    if (forceQuote !== undefined && name.value.toLowerCase() === 'force_quote') {
      // FORCE_QUOTE * or FORCE_QUOTE (a, b): the list is kept apart from the plain options.
      forceQuote()
      options.push({ name: name.value, value: true, span: { start: name.start, end: c.tokens[c.index - 1]!.end } })
      continue
    }
    const value = c.peek()
    if (value === undefined || isPunct(value, ',') || isPunct(value, ')')) {
      options.push({ name: name.value, value: true, span: { start: name.start, end: name.end } })
      continue
    }
    c.next()
    options.push({ name: name.value, value: value.kind === 'number' ? Number(value.value) : value.value, span: { start: name.start, end: value.end } })
  } while (c.acceptPunct(','))
  c.expectPunct(')')
  return options
}

function declare(c: TokenCursor, span: Span, parseAny: StatementParser): ast.DeclareCursor {
  c.expectWords('declare')
  const name = c.identifier('a cursor name').value
  let binary = false
  for (;;) {
    if (c.acceptWords('binary')) binary = true
    else if (c.acceptWords('asensitive') || c.acceptWords('insensitive') || c.acceptWords('no', 'scroll')) continue
    else if (isWord(c.peek(), 'scroll')) throw unsupported('SCROLL cursors are not supported', c.span(c.index, c.index + 1), 'Cursors scan forward only; declare the cursor NO SCROLL.')
    else break
  }
  c.expectWords('cursor')
  let hold = false
  if (c.acceptWords('with', 'hold')) hold = true
  else c.acceptWords('without', 'hold')
  c.expectWords('for')
  if (c.atEnd()) throw c.unexpected('a query')
  const inner = parseAny(c.sql, c.tokens.slice(c.index))
  return { kind: 'declare_cursor', name, binary, hold, source: innerSource(inner), span }
}

const BACKWARD = new Set(['prior', 'first', 'last', 'absolute', 'relative', 'backward'])

function fetch(c: TokenCursor, span: Span): ast.FetchCursor {
  const move = c.next().value === 'move'
  let count: number | null = 1
  const t = c.peek()
  if (t !== undefined && t.kind === 'word' && BACKWARD.has(t.value)) scrollError(c, t)
  if (c.acceptWords('next')) count = 1
  else {
    c.acceptWords('forward')
    if (c.acceptWords('all')) count = null
    else if (c.peek()?.kind === 'number') count = countOf(c, c.next())
    else if (isPunct(c.peek(), '-') || (c.peek()?.kind === 'operator' && c.peek()?.value === '-')) throw scrollError(c, c.peek()!)
  }
  if (!c.acceptWords('from')) c.acceptWords('in')
  const name = c.identifier('a cursor name').value
  let timeoutMs: number | null = null
  if (isWord(c.peek(), 'with')) {
    for (const o of withOptions(c)) {
      if (o.name !== 'timeout') throw syntaxError(`unknown FETCH option "${o.name}"`, o.span)
      timeoutMs = durationMs(o.value, o.span)
    }
  }
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'fetch', name, count, move, timeoutMs, span }
}

/** PostgreSQL's error for a backward move on a NO SCROLL cursor (55000); Sluice has no other kind. */
function scrollError(c: TokenCursor, t: Token): never {
  const at = c.tokens.indexOf(t)
  throw new SluiceError('execution', SqlState.objectNotInPrerequisiteState, 'cursor can only scan forward', {
    span: c.span(at, at + 1),
    hint: 'Sluice cursors are NO SCROLL: FETCH and MOVE go forward only.',
  })
}

function countOf(c: TokenCursor, t: Token): number {
  const n = Number(t.value)
  if (!Number.isInteger(n) || n < 0) throw c.error(`invalid row count "${t.value}"`, t)
  return n
}

const UNIT_MS: Record<string, number> = { ms: 1, millisecond: 1, milliseconds: 1, s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000 }

/** `'1s'`, `'250ms'`, `'2 seconds'`, or a bare number of seconds, to milliseconds. */
export function durationMs(value: ast.OptionValue, span: Span): number {
  if (typeof value === 'number' && value >= 0) return value * 1000
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null
  const unit = m === null ? undefined : m[2] === '' ? 1000 : UNIT_MS[m[2]!.toLowerCase()]
  if (m === null || unit === undefined) throw syntaxError(`invalid timeout: expected a duration such as '1s' or '500ms'`, span)
  return Number(m[1]) * unit
}

function close(c: TokenCursor, span: Span): ast.CloseCursor {
  c.expectWords('close')
  const name = c.acceptWords('all') ? null : c.identifier('a cursor name').value
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'close_cursor', name, span }
}
