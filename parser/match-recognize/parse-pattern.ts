/**
 * PATTERN ( ... ) of MATCH_RECOGNIZE: a character scanner and a recursive-descent parser over its tokens
 * (why characters and not the lexer's tokens: parse.ts).
 */
import { SluiceError, internalError, syntaxError, type Span } from '../../common/errors.ts'
import { foldIdentifier, isPunct, type Token } from '../lexer.ts'
import type { TokenCursor } from '../token-cursor.ts'
import type { Quantifier, QuantifierForm, RowPattern } from './ast.ts'

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

type PatternSymbol = '(' | ')' | '|' | ',' | '{' | '}' | '{-' | '-}' | '^' | '$' | '*' | '+' | '?'

type PatternToken =
  /** `value` case-folded (a quoted name as written); `label` as written, the quotes taken off. */
  | { readonly kind: 'ident'; readonly value: string; readonly label: string; readonly start: number; readonly end: number }
  | { readonly kind: 'number'; readonly value: number; readonly start: number; readonly end: number }
  | { readonly kind: 'symbol'; readonly value: PatternSymbol; readonly start: number; readonly end: number }
  /** `closing`: the end is the `)` of PATTERN ( ... ), not the end of the text. */
  | { readonly kind: 'end'; readonly start: number; readonly end: number; readonly closing: boolean }

const SINGLE_SYMBOLS = '()|,}^$*+?'
/** Quantifier bounds are PostgreSQL integers. */
const MAX_QUANTIFIER_BOUND = 2_147_483_647

/** `PATTERN ( ... )` at the cursor; moves the cursor past the closing parenthesis. */
export function patternClause(c: TokenCursor): { pattern: RowPattern; span: Span } {
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
    return { kind: 'ident', value: foldIdentifier(sql.slice(i, j)), label: sql.slice(i, j), start: i, end: j }
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
    return { kind: 'ident', value, label: value, start, end: close + 1 }
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
      return { kind: 'variable', name: t.value, label: t.label, span: { start: t.start, end: t.end } }
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

export const tokenSpanOf = (t: Token): Span => ({ start: t.start, end: t.end })
