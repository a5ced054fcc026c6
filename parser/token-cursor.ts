/**
 * A cursor over the tokens of one statement, for our recursive-descent parsers of the streaming
 * statements. Every failure is a syntax error (42601) positioned at the offending token, or at the end of
 * the statement when input ran out, the way PostgreSQL reports `at end of input`.
 */
import { syntaxError, type SluiceError, type Span } from '../common/errors.ts'
import type { QualifiedName } from './ast.ts'
import { depthChange, isPunct, isWord, tokenSpan, type Token } from './lexer.ts'

/** Punctuation or a one-character operator such as `=`. */
const isSymbol = (t: Token | undefined, p: string): boolean => t !== undefined && (t.kind === 'punct' || t.kind === 'operator') && t.value === p

export class TokenCursor {
  private i = 0

  constructor(
    readonly sql: string,
    readonly tokens: readonly Token[],
  ) {}

  get index(): number {
    return this.i
  }

  peek(k = 0): Token | undefined {
    return this.tokens[this.i + k]
  }

  atEnd(): boolean {
    return this.i >= this.tokens.length
  }

  next(): Token {
    const t = this.tokens[this.i]
    if (t === undefined) throw this.error('syntax error at end of input')
    this.i++
    return t
  }

  /** Consumes the words if they come next, in order; consumes nothing otherwise. */
  acceptWords(...words: string[]): boolean {
    if (!words.every((w, k) => isWord(this.tokens[this.i + k], w))) return false
    this.i += words.length
    return true
  }

  acceptPunct(p: string): boolean {
    if (!isSymbol(this.peek(), p)) return false
    this.i++
    return true
  }

  expectWords(...words: string[]): void {
    for (const w of words) {
      if (!isWord(this.peek(), w)) throw this.unexpected(w.toUpperCase())
      this.i++
    }
  }

  expectPunct(p: string): Token {
    if (!isSymbol(this.peek(), p)) throw this.unexpected(`"${p}"`)
    return this.next()
  }

  /** An identifier: an unquoted word (folded to lower case by the lexer) or a quoted name. */
  identifier(what = 'a name'): Token {
    const t = this.peek()
    if (t === undefined || (t.kind !== 'word' && t.kind !== 'quoted_ident')) throw this.unexpected(what)
    return this.next()
  }

  /** `a` or `a.b` or `a.b.c`. */
  qualifiedName(what = 'a name'): QualifiedName {
    const first = this.identifier(what)
    const parts = [first.value]
    let end = first.end
    while (isPunct(this.peek(), '.')) {
      this.i++
      const part = this.identifier(what)
      parts.push(part.value)
      end = part.end
    }
    return { parts, span: { start: first.start, end } }
  }

  /**
   * Tokens from here up to (not including) the first of `stops` (words or punctuation) at bracket depth
   * zero, or to the end; the cursor moves past them.
   */
  takeUntil(stops: readonly string[]): { readonly from: number; readonly to: number } {
    const from = this.i
    let depth = 0
    for (; this.i < this.tokens.length; this.i++) {
      const t = this.tokens[this.i]!
      if (depth === 0 && (t.kind === 'word' || t.kind === 'punct') && stops.includes(t.value)) break
      depth += depthChange(t)
      if (depth < 0) break
    }
    return { from, to: this.i }
  }

  /** The span from token `from` to the token before `to`. */
  span(from: number, to: number): Span {
    const first = this.tokens[from]
    const last = this.tokens[to - 1]
    if (first === undefined || last === undefined) return this.endSpan()
    return { start: first.start, end: last.end }
  }

  endSpan(): Span {
    const last = this.tokens[this.tokens.length - 1]
    const end = last?.end ?? 0
    return { start: end, end }
  }

  error(message: string, at?: Token): SluiceError {
    const t = at ?? this.peek()
    return syntaxError(message, t === undefined ? this.endSpan() : tokenSpan(t))
  }

  /** `syntax error at or near "x"` (PostgreSQL's wording), naming what was expected. */
  unexpected(expected: string): SluiceError {
    const t = this.peek()
    if (t === undefined) return syntaxError(`syntax error at end of input, expected ${expected}`, this.endSpan())
    return syntaxError(`syntax error at or near "${this.sql.slice(t.start, t.end)}", expected ${expected}`, tokenSpan(t))
  }
}
