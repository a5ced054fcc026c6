/**
 * PostgreSQL's advanced regular expressions (ARE, the syntax of `~`, `~*`, `!~`, `!~*` and SIMILAR TO after
 * its rewrite) parsed into a small tree that `regex.ts` runs in time linear in the input. Everything ARE
 * offers that a finite automaton can do is accepted: directors (`***:`, `***=`), embedded options
 * (`(?inpwqxsc)`), bracket expressions with `[:class:]`, `[.c.]`, `[=c=]`, the escapes `\d \s \w \D \S \W`,
 * character entries (`\n`, `\x41`, `\u00e9`, octal), the constraint escapes `\A \Z \m \M \y \Y`, the
 * newline-sensitive modes and counted repetition up to 255. Back-references and lookaround constraints cannot
 * be matched in linear time; they are refused with 0A000 rather than run by a backtracking engine that could
 * stall the server for minutes.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

/** Named character classes of bracket expressions (`[[:alpha:]]`) and of the `\d \s \w` escapes. */
export type ClassName = 'alnum' | 'alpha' | 'blank' | 'cntrl' | 'digit' | 'graph' | 'lower' | 'print' | 'punct' | 'space' | 'upper' | 'xdigit' | 'word'

/** A set of characters: code point ranges and named classes (each possibly complemented), all complemented when `negated`. */
export interface CharSet {
  /** Pairs of inclusive code point bounds. */
  readonly ranges: readonly number[]
  readonly classes: readonly ClassName[]
  /** Classes whose complement belongs to the set (`[\D]`). */
  readonly notClasses: readonly ClassName[]
  readonly negated: boolean
  /** A negated set leaves out newline too (newline-sensitive modes: `[^a]` and `.` do not match `\n`). */
  readonly excludeNewline: boolean
}

export type AssertKind = 'bos' | 'eos' | 'bol' | 'eol' | 'wordStart' | 'wordEnd' | 'wordBoundary' | 'notWordBoundary'

/** The parsed pattern. */
export type ReNode =
  | { readonly kind: 'empty' }
  /** One character from a set (a literal character is a set of one). */
  | { readonly kind: 'set'; readonly set: CharSet }
  | { readonly kind: 'assert'; readonly what: AssertKind }
  /** `capture`: the number of the capturing group `( )` this is (1-based), for the functions that report submatches. */
  | { readonly kind: 'concat'; readonly items: readonly ReNode[]; readonly capture?: number }
  | { readonly kind: 'alt'; readonly branches: readonly ReNode[] }
  /**
   * `max` is Infinity for an unbounded repetition. Greediness (`lazy` for `*?` and friends) does not change
   * whether a match exists, only which one the match functions report.
   */
  | { readonly kind: 'repeat'; readonly body: ReNode; readonly min: number; readonly max: number; readonly lazy?: boolean }

export interface ParsedRegex {
  readonly node: ReNode
  readonly caseInsensitive: boolean
}

/** PostgreSQL's limit on a repetition count (RE_DUP_MAX). */
const MAX_REPEAT = 255
/** Deepest nesting of parentheses accepted; the parser recurses once per level. */
const MAX_GROUP_DEPTH = 200

export const regexError = (reason: string): SluiceError =>
  new SluiceError('execution', SqlState.invalidRegularExpression, `invalid regular expression: ${reason}`)

const notLinear = (what: string): SluiceError =>
  new SluiceError('unsupported', SqlState.featureNotSupported, `${what} are not supported in regular expressions`, {
    hint: 'Sluice matches regular expressions in time linear in the input, which these constructs cannot be.',
  })

const NEWLINE = 10

export const singleChar = (cp: number): CharSet => ({ ranges: [cp, cp], classes: [], notClasses: [], negated: false, excludeNewline: false })

const classSet = (cls: ClassName, complement: boolean): CharSet => ({
  ranges: [],
  classes: complement ? [] : [cls],
  notClasses: complement ? [cls] : [],
  negated: false,
  excludeNewline: false,
})

const CLASS_NAMES = new Set<string>(['alnum', 'alpha', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'xdigit', 'word'])

/** Character-entry escapes: `\n` and friends. */
const ENTRY_ESCAPES: Record<string, number> = { a: 7, b: 8, B: 92, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11 }
const CLASS_ESCAPES: Record<string, [ClassName, boolean]> = {
  d: ['digit', false],
  s: ['space', false],
  w: ['word', false],
  D: ['digit', true],
  S: ['space', true],
  W: ['word', true],
}
const CONSTRAINT_ESCAPES: Record<string, AssertKind> = { A: 'bos', Z: 'eos', m: 'wordStart', M: 'wordEnd', y: 'wordBoundary', Y: 'notWordBoundary' }

interface Options {
  caseInsensitive: boolean
  /** `.` and negated brackets leave out newline. */
  newlineStopsDot: boolean
  /** `^` and `$` match at line starts and ends. */
  lineAnchors: boolean
  expanded: boolean
  literal: boolean
}

/** Parses an ARE as `~` (or `~*` with `caseInsensitive`) sees it. Throws 2201B for a malformed pattern, 0A000 for one not matchable in linear time. */
export function parseRegex(pattern: string, caseInsensitive: boolean): ParsedRegex {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!)
  const opts: Options = { caseInsensitive, newlineStopsDot: false, lineAnchors: false, expanded: false, literal: false }
  let pos = 0
  if (startsWith(cps, 0, '***=')) {
    pos = 4
    opts.literal = true
  } else if (startsWith(cps, 0, '***:')) {
    pos = 4
  }
  if (!opts.literal && startsWith(cps, pos, '(?')) {
    const close = cps.indexOf(')'.codePointAt(0)!, pos)
    const letters = close < 0 ? '' : String.fromCodePoint(...cps.slice(pos + 2, close))
    if (close >= 0 && /^[a-z]+$/.test(letters)) {
      for (const c of letters) applyOption(opts, c)
      pos = close + 1
    }
  }
  if (opts.literal) {
    const items = cps.slice(pos).map((cp): ReNode => ({ kind: 'set', set: singleChar(cp) }))
    return { node: concat(items), caseInsensitive: opts.caseInsensitive }
  }
  const parser = new AreParser(cps, pos, opts)
  const node = parser.parseAll()
  return { node, caseInsensitive: opts.caseInsensitive }
}

function applyOption(opts: Options, c: string): void {
  switch (c) {
    case 'b':
      throw notLinearOption('basic regular expressions (option b)')
    case 'e':
      throw notLinearOption('extended (ERE) syntax (option e)')
    case 'c':
      opts.caseInsensitive = false
      return
    case 'i':
      opts.caseInsensitive = true
      return
    case 'm':
    case 'n':
      opts.newlineStopsDot = true
      opts.lineAnchors = true
      return
    case 'p':
      opts.newlineStopsDot = true
      opts.lineAnchors = false
      return
    case 'w':
      opts.newlineStopsDot = false
      opts.lineAnchors = true
      return
    case 's':
      opts.newlineStopsDot = false
      opts.lineAnchors = false
      return
    case 'q':
      opts.literal = true
      return
    case 't':
      opts.expanded = false
      return
    case 'x':
      opts.expanded = true
      return
    default:
      throw regexError(`invalid embedded option "${c}"`)
  }
}

const notLinearOption = (what: string): SluiceError =>
  new SluiceError('unsupported', SqlState.featureNotSupported, `${what} is not supported; write the pattern in ARE syntax`)

function startsWith(cps: readonly number[], at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (cps[at + i] !== text.charCodeAt(i)) return false
  return true
}

function concat(items: ReNode[]): ReNode {
  if (items.length === 0) return { kind: 'empty' }
  return items.length === 1 ? items[0]! : { kind: 'concat', items }
}

const ch = (s: string): number => s.charCodeAt(0)
const isDigit = (cp: number | undefined): boolean => cp !== undefined && cp >= 48 && cp <= 57
const isHex = (cp: number | undefined): boolean => cp !== undefined && /^[0-9a-fA-F]$/.test(String.fromCodePoint(cp))
const isAlnum = (cp: number): boolean => (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122)

class AreParser {
  private depth = 0
  /** Capturing groups opened so far. */
  private groups = 0

  constructor(
    private readonly cps: readonly number[],
    private pos: number,
    private readonly opts: Options,
  ) {}

  parseAll(): ReNode {
    const node = this.alternation()
    if (this.pos < this.cps.length) throw regexError('parentheses () not balanced')
    return node
  }

  private peek(): number | undefined {
    this.skipExpanded()
    return this.cps[this.pos]
  }

  /** In expanded syntax (option x), white space and `#` comments outside brackets are not part of the pattern. */
  private skipExpanded(): void {
    if (!this.opts.expanded) return
    for (;;) {
      const c = this.cps[this.pos]
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) this.pos++
      else if (c === ch('#')) {
        while (this.pos < this.cps.length && this.cps[this.pos] !== NEWLINE) this.pos++
      } else return
    }
  }

  private alternation(): ReNode {
    const branches = [this.branch()]
    while (this.peek() === ch('|')) {
      this.pos++
      branches.push(this.branch())
    }
    return branches.length === 1 ? branches[0]! : { kind: 'alt', branches }
  }

  private branch(): ReNode {
    const items: ReNode[] = []
    for (;;) {
      const c = this.peek()
      if (c === undefined || c === ch('|') || c === ch(')')) break
      const atom = this.atom()
      if (atom === undefined) continue
      items.push(this.quantified(atom))
    }
    return concat(items)
  }

  /** One atom or constraint; undefined for a comment `(?#...)`. */
  private atom(): ReNode | undefined {
    const c = this.cps[this.pos++]!
    switch (c) {
      case ch('('):
        return this.group()
      case ch('['):
        // `[[:<:]]` and `[[:>:]]`: the old spellings of \m and \M.
        if (startsWith(this.cps, this.pos, '[:<:]]')) {
          this.pos += 6
          return { kind: 'assert', what: 'wordStart' }
        }
        if (startsWith(this.cps, this.pos, '[:>:]]')) {
          this.pos += 6
          return { kind: 'assert', what: 'wordEnd' }
        }
        return { kind: 'set', set: this.bracket() }
      case ch('.'):
        return { kind: 'set', set: { ranges: [], classes: [], notClasses: [], negated: true, excludeNewline: this.opts.newlineStopsDot } }
      case ch('^'):
        return { kind: 'assert', what: this.opts.lineAnchors ? 'bol' : 'bos' }
      case ch('$'):
        return { kind: 'assert', what: this.opts.lineAnchors ? 'eol' : 'eos' }
      case ch('\\'):
        return this.escape()
      case ch('*'):
      case ch('+'):
      case ch('?'):
        throw regexError('quantifier operand invalid')
      case ch('{'):
        if (isDigit(this.cps[this.pos])) throw regexError('quantifier operand invalid')
        return { kind: 'set', set: singleChar(c) }
      default:
        return { kind: 'set', set: singleChar(c) }
    }
  }

  private group(): ReNode | undefined {
    if (this.cps[this.pos] === ch('?')) {
      const next = this.cps[this.pos + 1]
      if (next === ch(':')) {
        this.pos += 2
        return this.groupBody()
      }
      if (next === ch('#')) {
        const close = this.cps.indexOf(ch(')'), this.pos)
        if (close < 0) throw regexError('parentheses () not balanced')
        this.pos = close + 1
        return undefined
      }
      if (next === ch('=') || next === ch('!') || next === ch('<')) throw notLinear('lookahead and lookbehind constraints')
      throw regexError('quantifier operand invalid')
    }
    const capture = ++this.groups
    return { kind: 'concat', items: [this.groupBody()], capture }
  }

  private groupBody(): ReNode {
    if (++this.depth > MAX_GROUP_DEPTH) throw regexError('regular expression is too complex')
    const body = this.alternation()
    if (this.peek() !== ch(')')) throw regexError('parentheses () not balanced')
    this.pos++
    this.depth--
    return body
  }

  private quantified(atom: ReNode): ReNode {
    let node = atom
    let quantifiers = 0
    for (;;) {
      const c = this.peek()
      let min: number
      let max: number
      if (c === ch('*')) [min, max] = [0, Infinity]
      else if (c === ch('+')) [min, max] = [1, Infinity]
      else if (c === ch('?')) [min, max] = [0, 1]
      else if (c === ch('{') && isDigit(this.cps[this.pos + 1])) {
        this.pos++
        ;[min, max] = this.bounds()
        this.pos--
      } else return node
      this.pos++
      const lazy = this.cps[this.pos] === ch('?')
      if (lazy) this.pos++
      if (atom.kind === 'assert') throw regexError('quantifier operand invalid')
      if (++quantifiers > 1) throw regexError('quantifier operand invalid')
      node = lazy ? { kind: 'repeat', body: node, min, max, lazy } : { kind: 'repeat', body: node, min, max }
    }
  }

  /** `{m}`, `{m,}`, `{m,n}` after the `{`; leaves `pos` after the `}`. */
  private bounds(): [number, number] {
    const min = this.number()
    let max = min
    if (this.cps[this.pos] === ch(',')) {
      this.pos++
      max = isDigit(this.cps[this.pos]) ? this.number() : Infinity
    }
    if (this.cps[this.pos] !== ch('}')) throw regexError('braces {} not balanced')
    this.pos++
    if (min > MAX_REPEAT || (max !== Infinity && (max > MAX_REPEAT || min > max))) throw regexError('invalid repetition count(s)')
    return [min, max]
  }

  private number(): number {
    let n = 0
    while (isDigit(this.cps[this.pos])) {
      n = Math.min(n * 10 + this.cps[this.pos]! - 48, 100_000)
      this.pos++
    }
    return n
  }

  /** After a backslash outside brackets. */
  private escape(): ReNode {
    const c = this.cps[this.pos]
    if (c === undefined) throw regexError('invalid escape \\ sequence')
    const letter = String.fromCodePoint(c)
    const constraint = CONSTRAINT_ESCAPES[letter]
    if (constraint !== undefined) {
      this.pos++
      return { kind: 'assert', what: constraint }
    }
    const cls = CLASS_ESCAPES[letter]
    if (cls !== undefined) {
      this.pos++
      return { kind: 'set', set: classSet(cls[0], cls[1]) }
    }
    if (c >= ch('1') && c <= ch('9')) throw notLinear('back-references')
    return { kind: 'set', set: singleChar(this.entryEscape()) }
  }

  /** A character-entry escape (or an escaped non-alphanumeric character) after the backslash. */
  private entryEscape(): number {
    const c = this.cps[this.pos++]
    if (c === undefined) throw regexError('invalid escape \\ sequence')
    if (!isAlnum(c)) return c
    const letter = String.fromCodePoint(c)
    const simple = ENTRY_ESCAPES[letter]
    if (simple !== undefined) return simple
    switch (letter) {
      case 'c': {
        const x = this.cps[this.pos++]
        if (x === undefined) throw regexError('invalid escape \\ sequence')
        return x & 31
      }
      case 'u':
        return this.hexDigits(4, 4)
      case 'U':
        return this.hexDigits(8, 8)
      case 'x':
        return this.hexDigits(1, 8)
      case '0': {
        let n = 0
        for (let i = 0; i < 2 && this.cps[this.pos] !== undefined && this.cps[this.pos]! >= 48 && this.cps[this.pos]! <= 55; i++) n = n * 8 + this.cps[this.pos++]! - 48
        return n
      }
    }
    if (c >= ch('1') && c <= ch('9')) throw notLinear('back-references')
    throw regexError('invalid escape \\ sequence')
  }

  private hexDigits(min: number, max: number): number {
    let n = 0
    let count = 0
    while (count < max && isHex(this.cps[this.pos])) {
      n = n * 16 + parseInt(String.fromCodePoint(this.cps[this.pos++]!), 16)
      count++
    }
    if (count < min || n > 0x10ffff) throw regexError('invalid escape \\ sequence')
    return n
  }

  /** A bracket expression after the `[`, through its `]`. */
  private bracket(): CharSet {
    const ranges: number[] = []
    const classes: ClassName[] = []
    const notClasses: ClassName[] = []
    let negated = false
    if (this.cps[this.pos] === ch('^')) {
      negated = true
      this.pos++
    }
    let first = true
    for (;;) {
      const c = this.cps[this.pos]
      if (c === undefined) throw regexError('brackets [] not balanced')
      if (c === ch(']') && !first) {
        this.pos++
        break
      }
      first = false
      if (c === ch('[') && this.cps[this.pos + 1] === ch(':')) {
        const name = this.bracketTerm(':')
        if (!CLASS_NAMES.has(name)) throw regexError('invalid character class')
        classes.push(name as ClassName)
        continue
      }
      if (c === ch('\\')) {
        const e = this.cps[this.pos + 1]
        const cls = e === undefined ? undefined : CLASS_ESCAPES[String.fromCodePoint(e)]
        if (cls !== undefined) {
          this.pos += 2
          ;(cls[1] ? notClasses : classes).push(cls[0])
          continue
        }
      }
      const lo = this.bracketChar()
      if (this.cps[this.pos] === ch('-') && this.cps[this.pos + 1] !== ch(']') && this.cps[this.pos + 1] !== undefined) {
        this.pos++
        const hi = this.bracketChar()
        if (hi < lo) throw regexError('invalid character range')
        ranges.push(lo, hi)
      } else ranges.push(lo, lo)
    }
    return { ranges, classes, notClasses, negated, excludeNewline: negated && this.opts.newlineStopsDot }
  }

  /** One character of a bracket expression: plain, escaped, or a collating element / equivalence class of one character. */
  private bracketChar(): number {
    const c = this.cps[this.pos]!
    if (c === ch('[') && (this.cps[this.pos + 1] === ch('.') || this.cps[this.pos + 1] === ch('='))) {
      const delim = String.fromCodePoint(this.cps[this.pos + 1]!)
      const name = this.bracketTerm(delim)
      const cps = Array.from(name)
      if (cps.length !== 1) throw regexError('invalid collating element')
      return cps[0]!.codePointAt(0)!
    }
    if (c === ch('\\')) {
      this.pos++
      const e = this.cps[this.pos]
      if (e !== undefined && CONSTRAINT_ESCAPES[String.fromCodePoint(e)] !== undefined) throw regexError('invalid escape \\ sequence')
      return this.entryEscape()
    }
    this.pos++
    return c
  }

  /** `[:name:]`, `[.x.]` or `[=x=]` starting at `pos`; returns what is between the delimiters. */
  private bracketTerm(delim: string): string {
    const d = ch(delim)
    for (let i = this.pos + 2; i + 1 < this.cps.length; i++) {
      if (this.cps[i] === d && this.cps[i + 1] === ch(']')) {
        const text = String.fromCodePoint(...this.cps.slice(this.pos + 2, i))
        this.pos = i + 2
        return text
      }
    }
    throw regexError('brackets [] not balanced')
  }
}

/**
 * SIMILAR TO's pattern as an ARE, as PostgreSQL's `similar_to_escape` writes it: `%` is `.*`, `_` is `.`, the
 * whole pattern must match (`^(?:...)$`), `(` groups without capturing, and ARE's own specials that SQL
 * treats as ordinary (`.`, `^`, `$`, `\`) are escaped. `escape` is the ESCAPE character (`\` by default; the
 * empty string for none).
 */
export function similarToRegex(pattern: string, escape: string = '\\'): string {
  const esc = Array.from(escape)
  if (esc.length > 1) {
    throw new SluiceError('execution', SqlState.invalidEscapeSequence, 'invalid escape string', { hint: 'Escape string must be empty or one character.' })
  }
  const escChar = esc[0]
  let out = '^(?:'
  let afterEscape = false
  let inClass = false
  /** 1 + characters of the current bracket expression so far, a leading `^` not counted: a `]` at 1 is literal. */
  let classPos = 0
  let caretSeen = false
  let quotes = 0
  for (const c of pattern) {
    if (afterEscape) {
      afterEscape = false
      if (c === '"' && !inClass) {
        if (quotes >= 2) throw regexError('SQL regular expression may not contain more than two escape-double-quote separators')
        out += quotes++ === 0 ? '){1,1}?(' : '){1,1}(?:'
      } else out += '\\' + c
      if (inClass) classPos++
    } else if (escChar !== undefined && c === escChar) {
      afterEscape = true
    } else if (inClass) {
      out += c === '\\' ? '\\\\' : c
      if (c === ']' && classPos > 1) inClass = false
      else if (c === '^' && classPos === 1 && !caretSeen) caretSeen = true
      else classPos++
    } else if (c === '[') {
      out += c
      inClass = true
      classPos = 1
      caretSeen = false
    } else if (c === '%') out += '.*'
    else if (c === '_') out += '.'
    else if (c === '(') out += '(?:'
    else if (c === '\\' || c === '.' || c === '^' || c === '$') out += '\\' + c
    else out += c
  }
  return out + ')$'
}
