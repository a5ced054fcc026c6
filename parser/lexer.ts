/**
 * Sluice's own SQL tokenizer. It follows PostgreSQL's lexical rules (scan.l) closely enough that statement
 * boundaries and token extents agree with the real parser: standard-conforming strings, `E''` escapes,
 * dollar quotes, nested block comments, PostgreSQL's rule for where a multi-character operator ends.
 *
 * It serves three purposes: splitting a query string into statements at top-level semicolons, feeding our
 * recursive-descent parsers for the streaming statements, and finding token ends (libpg-query only reports
 * where nodes start).
 */
import { syntaxError, type Span } from '../common/errors.ts'

export type TokenKind =
  /** An unquoted identifier or keyword; `value` is folded to lower case. */
  | 'word'
  /** `"Mixed Case"`; `value` is the name exactly as written, quotes removed. */
  | 'quoted_ident'
  /** `'text'`, `E'\n'`, `$$text$$`, `B'101'`; `value` is the decoded text. */
  | 'string'
  /** `42`, `1.5e3`, `0x1F`; `value` is the source text. */
  | 'number'
  /** `$1`; `value` is the digits. */
  | 'param'
  /** `+`, `<>`, `->>`, `~*`; `value` is the operator. */
  | 'operator'
  /** `(`, `)`, `[`, `]`, `,`, `;`, `.`, `:`, `::` and any other single character. */
  | 'punct'

export interface Token {
  readonly kind: TokenKind
  readonly value: string
  readonly start: number
  readonly end: number
  /** For strings: `E`, `B`, `X`, `N`, `$` (dollar quoted) or `` (plain). */
  readonly prefix?: string
}

const OPERATOR_CHARS = '~!@#^&|`?+-*/%<>='
/** An operator containing one of these may end in `+` or `-`; see `operatorLength`. */
const NON_MATH_OPERATOR_CHARS = '~!@#^&|`?%'
/** Single characters that are always tokens of their own in PostgreSQL (`self` in scan.l). */
const SELF_CHARS = ',()[].;:+-*/%^<>='

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v'
const isDigit = (c: string): boolean => c >= '0' && c <= '9'
/** PostgreSQL treats every non-ASCII character as a letter in identifiers. */
const isIdentStart = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c.charCodeAt(0) >= 0x80
const isIdentChar = (c: string): boolean => isIdentStart(c) || isDigit(c) || c === '$'

/** Lower-cases ASCII letters only, as PostgreSQL does for unquoted identifiers in a multi-byte encoding. */
export const foldIdentifier = (word: string): string => word.replace(/[A-Z]+/g, (m) => m.toLowerCase())

/** Tokenizes `sql`, skipping whitespace and comments; throws a syntax error for unterminated tokens. */
/**
 * PostgreSQL's grammar gives up on brackets nested about 10,000 deep ("memory exhausted", 42601). Deeper
 * ones are refused so while tokenizing, with the same error: tokenizing and parsing a 100 kB statement of
 * parentheses would otherwise cost tens of milliseconds of the one event loop, which a client could spend
 * back to back.
 */
const GRAMMAR_STACK_DEPTH = 10_000

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = []
  let depth = 0
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    if (isSpace(c)) {
      i++
      continue
    }
    const next = sql[i + 1] ?? ''
    if (c === '-' && next === '-') {
      i = lineCommentEnd(sql, i)
      continue
    }
    if (c === '/' && next === '*') {
      i = blockCommentEnd(sql, i)
      continue
    }
    const token = lexToken(sql, i)
    tokens.push(token)
    i = token.end
    if (token.kind === 'punct' && (depth += depthChange(token)) > GRAMMAR_STACK_DEPTH) {
      throw syntaxError(`memory exhausted at or near "${token.value}"`, { start: token.start, end: token.end })
    }
  }
  return tokens
}

function lexToken(sql: string, i: number): Token {
  const c = sql[i]!
  const next = sql[i + 1] ?? ''
  if (c === "'") return lexString(sql, i, i, '')
  if ((c === 'e' || c === 'E') && next === "'") return lexString(sql, i, i + 1, 'E')
  if ((c === 'b' || c === 'B' || c === 'x' || c === 'X' || c === 'n' || c === 'N') && next === "'") {
    return lexString(sql, i, i + 1, c.toUpperCase())
  }
  if (c === '"') return lexQuotedIdent(sql, i)
  if (c === '$') {
    if (isDigit(next)) return lexParam(sql, i)
    const dollar = lexDollarString(sql, i)
    if (dollar !== undefined) return dollar
    return { kind: 'punct', value: '$', start: i, end: i + 1 }
  }
  if (isIdentStart(c)) {
    let j = i + 1
    while (j < sql.length && isIdentChar(sql[j]!)) j++
    return { kind: 'word', value: foldIdentifier(sql.slice(i, j)), start: i, end: j }
  }
  if (isDigit(c) || (c === '.' && isDigit(next))) return lexNumber(sql, i)
  if (c === ':' && next === ':') return { kind: 'punct', value: '::', start: i, end: i + 2 }
  if (OPERATOR_CHARS.includes(c)) {
    const length = operatorLength(sql, i)
    const text = sql.slice(i, i + length)
    if (length === 1 && SELF_CHARS.includes(c)) return { kind: 'operator', value: text, start: i, end: i + 1 }
    // PostgreSQL's lexer turns `!=` into `<>`; doing the same keeps our tokens comparable with its nodes.
    return { kind: 'operator', value: text === '!=' ? '<>' : text, start: i, end: i + length }
  }
  return { kind: 'punct', value: c, start: i, end: i + 1 }
}

function lineCommentEnd(sql: string, i: number): number {
  const nl = sql.indexOf('\n', i)
  return nl < 0 ? sql.length : nl + 1
}

/** Block comments nest in PostgreSQL. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0
  let i = start
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth++
      i += 2
    } else if (sql.startsWith('*/', i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  throw syntaxError('unterminated /* comment at or near "/*"', { start, end: sql.length })
}

/**
 * The length of the operator starting at `i`. An operator stops before `--` or `/*`, and a multi-character
 * operator may not end in `+` or `-` unless it also contains one of `~!@#^&|`?%`, so that `a*-1` means `a * -1`.
 */
function operatorLength(sql: string, i: number): number {
  let j = i
  while (j < sql.length && OPERATOR_CHARS.includes(sql[j]!)) {
    if (j > i && (sql.startsWith('--', j) || sql.startsWith('/*', j))) break
    j++
  }
  let length = Math.max(j - i, 1)
  const text = sql.slice(i, i + length)
  if (length > 1 && /[+-]$/.test(text) && ![...text].some((ch) => NON_MATH_OPERATOR_CHARS.includes(ch))) {
    while (length > 1 && (text[length - 1] === '+' || text[length - 1] === '-')) length--
  }
  return length
}

function lexParam(sql: string, i: number): Token {
  let j = i + 1
  while (j < sql.length && isDigit(sql[j]!)) j++
  return { kind: 'param', value: sql.slice(i + 1, j), start: i, end: j }
}

/** Decimal, with fraction and exponent, or (PostgreSQL 16+) `0x`, `0o`, `0b` integers; `_` separates digits. */
function lexNumber(sql: string, i: number): Token {
  const radix = /^0[xXoObB][0-9a-fA-F_]+/.exec(sql.slice(i, i + 80))
  if (radix !== null) return { kind: 'number', value: radix[0], start: i, end: i + radix[0].length }
  const m = /^(?:\d[\d_]*(?:\.(?!\.)[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?/.exec(sql.slice(i))
  const length = m === null ? 1 : m[0].length
  return { kind: 'number', value: sql.slice(i, i + length), start: i, end: i + length }
}

function lexQuotedIdent(sql: string, start: number): Token {
  let i = start + 1
  let value = ''
  for (;;) {
    const close = sql.indexOf('"', i)
    if (close < 0) throw syntaxError(`unterminated quoted identifier at or near "${sql.slice(start)}"`, { start, end: sql.length })
    value += sql.slice(i, close)
    if (sql[close + 1] === '"') {
      value += '"'
      i = close + 2
      continue
    }
    if (value === '') throw syntaxError('zero-length delimited identifier at or near """"', { start, end: close + 1 })
    return { kind: 'quoted_ident', value, start, end: close + 1 }
  }
}

/**
 * A quoted string starting with its opening quote at `quote`. Adjacent strings separated by whitespace that
 * includes a newline are one string in SQL (`'a'\n'b'` is `'ab'`), so they are one token here too.
 */
function lexString(sql: string, start: number, quote: number, prefix: string): Token {
  let value = ''
  let i = quote
  for (;;) {
    const piece = stringBody(sql, start, i, prefix === 'E')
    value += piece.value
    i = piece.end
    const continuation = /^[ \t\f\r]*\n[ \t\n\r\f]*'/.exec(sql.slice(i, i + 200))
    if (continuation === null) break
    i += continuation[0].length - 1
  }
  return { kind: 'string', value, start, end: i, prefix }
}

/** One quoted piece from the quote at `i`; returns its decoded text and the offset after its closing quote. */
function stringBody(sql: string, start: number, i: number, escapes: boolean): { value: string; end: number } {
  let value = ''
  let j = i + 1
  while (j < sql.length) {
    const c = sql[j]!
    if (c === "'") {
      if (sql[j + 1] === "'") {
        value += "'"
        j += 2
        continue
      }
      return { value, end: j + 1 }
    }
    if (escapes && c === '\\' && j + 1 < sql.length) {
      const decoded = decodeEscape(sql, j)
      value += decoded.text
      j = decoded.end
      continue
    }
    value += c
    j++
  }
  throw syntaxError(`unterminated quoted string at or near "${sql.slice(start)}"`, { start, end: sql.length })
}

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

/** A backslash escape in an `E''` string at `i` (the backslash). */
function decodeEscape(sql: string, i: number): { text: string; end: number } {
  const c = sql[i + 1]!
  const simple = SIMPLE_ESCAPES[c]
  if (simple !== undefined) return { text: simple, end: i + 2 }
  const octal = /^[0-7]{1,3}/.exec(sql.slice(i + 1, i + 4))
  if (octal !== null) return { text: String.fromCharCode(parseInt(octal[0], 8)), end: i + 1 + octal[0].length }
  const hex = c === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(sql.slice(i + 2, i + 4)) : null
  if (hex !== null) return { text: String.fromCharCode(parseInt(hex[0], 16)), end: i + 2 + hex[0].length }
  const width = c === 'u' ? 4 : c === 'U' ? 8 : 0
  const unicode = width > 0 ? new RegExp(`^[0-9a-fA-F]{${width}}`).exec(sql.slice(i + 2, i + 2 + width)) : null
  if (unicode !== null) return { text: String.fromCodePoint(parseInt(unicode[0], 16)), end: i + 2 + width }
  return { text: c, end: i + 2 }
}

/** `$$...$$` or `$tag$...$tag$`; undefined when the `$` does not open a dollar quote. */
function lexDollarString(sql: string, start: number): Token | undefined {
  const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/.exec(sql.slice(start, start + 200))
  if (m === null) return undefined
  const delimiter = m[0]
  const bodyStart = start + delimiter.length
  const close = sql.indexOf(delimiter, bodyStart)
  if (close < 0) throw syntaxError(`unterminated dollar-quoted string at or near "${sql.slice(start)}"`, { start, end: sql.length })
  return { kind: 'string', value: sql.slice(bodyStart, close), start, end: close + delimiter.length, prefix: '$' }
}

// ---------------------------------------------------------------------------------------------------------
// Token predicates and statement splitting

/** Whether `t` is the unquoted keyword `word` (lower case). */
export const isWord = (t: Token | undefined, word: string): boolean => t !== undefined && t.kind === 'word' && t.value === word

export const isPunct = (t: Token | undefined, p: string): boolean => t !== undefined && t.kind === 'punct' && t.value === p

export const tokenSpan = (t: Token): Span => ({ start: t.start, end: t.end })

const OPENERS = new Set(['(', '['])
const CLOSERS = new Set([')', ']'])

/** +1 for `(` / `[`, -1 for `)` / `]`, 0 otherwise. */
export function depthChange(t: Token): number {
  if (t.kind !== 'punct') return 0
  if (OPENERS.has(t.value)) return 1
  if (CLOSERS.has(t.value)) return -1
  return 0
}

/** A statement's tokens as a half-open index range into the token array of the whole input. */
export interface TokenRange {
  readonly from: number
  readonly to: number
}

/**
 * Splits a token array into statements at semicolons outside parentheses (as psql does); empty statements
 * (`;;`) are dropped.
 */
export function splitStatements(tokens: readonly Token[]): TokenRange[] {
  const ranges: TokenRange[] = []
  let from = 0
  let depth = 0
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    depth = Math.max(0, depth + depthChange(t))
    if (depth === 0 && isPunct(t, ';')) {
      if (i > from) ranges.push({ from, to: i })
      from = i + 1
    }
  }
  if (tokens.length > from) ranges.push({ from, to: tokens.length })
  return ranges
}
