/**
 * Regular expressions matched in time linear in the input, for `~ ~* !~ !~*` and SIMILAR TO.
 *
 * Why not JavaScript's RegExp: it backtracks, so `'aaaa…!' ~ '^(a+)+$'` takes time exponential in the input
 * and, the server being one thread, stalls every session, ingest and every view meanwhile. What was weighed:
 * - V8's linear engine behind `--enable-experimental-regexp-engine-on-excessive-backtracks` bounds
 *   `^(a+)+$`, `(x+x+)+y`, `(a|aa)+$`, but falls back to nothing for the `i` or `u` flags, lookaround,
 *   back-references or counted repetition such as `{2,30}`: each of those still ran for minutes. `~*` needs
 *   case-insensitivity, so the flag leaves the worst case open.
 * - re2js (a port of RE2/J) is linear, but costs about 250 ns per `^(name)$` test against 25 ns for RegExp,
 *   and has no PostgreSQL word constraints (`\m \M`) nor its Unicode word characters.
 * - This file: the pattern is parsed as PostgreSQL's ARE (`regex-syntax.ts`) and run as a Thompson automaton
 *   (one pass over the input, a set of states per position, O(input × pattern)), after two cheap checks: a
 *   literal every match contains must occur in the text (`includes`), and while no match is under way,
 *   characters that cannot start one are skipped by bitmap. A pattern that is provably
 *   cheap for a backtracking engine (no alternation and no repetition, or one repetition of one character
 *   right after a leading `^`: psql's `^(name)$` and `^(pg_.*)$`) is handed to RegExp, which is faster there
 *   and cannot backtrack more than the pattern is long per start position.
 * The figures behind these choices are in bench/regex-options.ts.
 */
import { regexError, parseRegex, type CharSet, type ReNode } from './regex-syntax.ts'
import { CLASS_SOURCES, MAX_STATES, OP_ASSERT, OP_JMP, OP_MATCH, OP_SET, OP_SPLIT, SetTester, assertionHolds, buildProgram, stateCount } from './regex-program.ts'

export interface TextMatcher {
  /** Whether the pattern matches somewhere in `text`. */
  test(text: string): boolean
}

/**
 * A Thompson automaton, simulated over the input one code point at a time with the set of live states:
 * no state is visited twice per position, so a test costs at most input length × state count.
 */
class Automaton implements TextMatcher {
  private readonly op: Uint8Array
  private readonly x: Int32Array
  private readonly y: Int32Array
  private readonly sets: SetTester[]
  /** Four words of ASCII membership bits per set, so most characters are tested without a call. */
  private readonly ascii: Uint32Array
  private readonly anchored: boolean
  /** ASCII characters that can begin a match; undefined when a match may begin without one (or anchored). */
  private readonly firstAscii: Uint32Array | undefined
  /** A string every match contains ('' when none is known). */
  private readonly literal: string
  private readonly mark: Int32Array
  private generation = 0
  private cur: Int32Array
  private nxt: Int32Array
  private readonly stack: Int32Array

  constructor(node: ReNode, caseInsensitive: boolean) {
    const { op, x, y, sets } = buildProgram(node, caseInsensitive, false)
    this.op = op
    this.x = x
    this.y = y
    this.sets = sets
    this.ascii = new Uint32Array(sets.length * 4)
    sets.forEach((set, i) => set.copyAscii(this.ascii, i * 4))
    this.anchored = startsAnchored(node)
    this.firstAscii = this.anchored ? undefined : firstCharacters(this.op, this.x, this.y, this.ascii)
    this.literal = caseInsensitive ? '' : requiredLiteral(node)
    const n = op.length
    this.mark = new Int32Array(n)
    this.cur = new Int32Array(n)
    this.nxt = new Int32Array(n)
    this.stack = new Int32Array(2 * n + 2)
  }

  test(text: string): boolean {
    // Most texts a filter sees do not match: a literal every match contains rules them out at native speed.
    if (this.literal !== '' && !text.includes(this.literal)) return false
    if (this.generation > 0x3fffffff) {
      this.mark.fill(0)
      this.generation = 0
    }
    const { op, x, y, ascii, sets, mark, stack } = this
    let g = ++this.generation
    let cur = this.cur
    let nxt = this.nxt
    let curLen = 0
    let pos = 0
    let prev = -1
    let c = text.length > 0 ? text.codePointAt(0)! : -1
    const skip = this.firstAscii
    for (;;) {
      if (curLen === 0 && skip !== undefined) {
        // No match under way: move on to a character that can start one (ASCII ones tested by bitmap).
        while (c >= 0 && c < 128 && (skip[c >> 5]! & (1 << (c & 31))) === 0) {
          prev = c
          pos++
          c = pos < text.length ? text.codePointAt(pos)! : -1
        }
      }
      // States reachable at this position, starting a new match here unless the pattern is anchored.
      if (pos === 0 || !this.anchored) {
        curLen = closure(op, x, y, mark, g, stack, 0, cur, curLen, prev, c)
        if (curLen < 0) return true
      }
      if (c < 0 || (curLen === 0 && this.anchored)) return false
      const nextPos = pos + (c > 0xffff ? 2 : 1)
      const after = nextPos < text.length ? text.codePointAt(nextPos)! : -1
      g = ++this.generation
      let nxtLen = 0
      for (let i = 0; i < curLen; i++) {
        const pc = cur[i]!
        const set = x[pc]!
        const hit = c < 128 ? (ascii[(set << 2) | (c >> 5)]! & (1 << (c & 31))) !== 0 : sets[set]!.test(c)
        if (hit) {
          nxtLen = closure(op, x, y, mark, g, stack, y[pc]!, nxt, nxtLen, c, after)
          if (nxtLen < 0) return true
        }
      }
      const t = cur
      cur = nxt
      nxt = t
      curLen = nxtLen
      pos = nextPos
      prev = c
      c = after
    }
  }
}

/**
 * The ASCII characters that the character states first reachable from the start accept, assertions taken as
 * holding; undefined when the match state is reachable without a character (an empty match may be found
 * anywhere, so no position can be skipped).
 */
function firstCharacters(op: Uint8Array, x: Int32Array, y: Int32Array, ascii: Uint32Array): Uint32Array | undefined {
  const bits = new Uint32Array(4)
  const seen = new Uint8Array(op.length)
  const stack = [0]
  while (stack.length > 0) {
    const pc = stack.pop()!
    if (seen[pc]) continue
    seen[pc] = 1
    switch (op[pc]) {
      case OP_MATCH:
        return undefined
      case OP_SET:
        for (let w = 0; w < 4; w++) bits[w]! |= ascii[x[pc]! * 4 + w]!
        break
      case OP_JMP:
        stack.push(x[pc]!)
        break
      case OP_SPLIT:
        stack.push(x[pc]!, y[pc]!)
        break
      case OP_ASSERT:
        stack.push(y[pc]!)
        break
    }
  }
  return bits
}

/**
 * Adds the states reachable from `start` without consuming a character to `list` (skipping states marked in
 * generation `g`); returns the new length, or -1 when the match state is reached. Only character states
 * enter the list.
 */
function closure(
  op: Uint8Array,
  x: Int32Array,
  y: Int32Array,
  mark: Int32Array,
  g: number,
  stack: Int32Array,
  start: number,
  list: Int32Array,
  len: number,
  prev: number,
  next: number,
): number {
  let sp = 0
  stack[sp++] = start
  while (sp > 0) {
    const pc = stack[--sp]!
    if (mark[pc] === g) continue
    mark[pc] = g
    switch (op[pc]) {
      case OP_SET:
        list[len++] = pc
        break
      case OP_MATCH:
        return -1
      case OP_JMP:
        stack[sp++] = x[pc]!
        break
      case OP_SPLIT:
        stack[sp++] = y[pc]!
        stack[sp++] = x[pc]!
        break
      case OP_ASSERT:
        if (assertionHolds(x[pc]!, prev, next)) stack[sp++] = y[pc]!
        break
    }
  }
  return len
}

/** The code point a set stands for when it is a single literal character, else undefined. */
function literalOf(n: ReNode): number | undefined {
  if (n.kind !== 'set') return undefined
  const { ranges, classes, notClasses, negated } = n.set
  return ranges.length === 2 && ranges[0] === ranges[1] && classes.length === 0 && notClasses.length === 0 && !negated ? ranges[0] : undefined
}

/** The longest run of literal characters that every match of `n` contains. */
function requiredLiteral(n: ReNode): string {
  let best = ''
  let run: number[] = []
  const endRun = (): void => {
    if (run.length > [...best].length) best = String.fromCodePoint(...run)
    run = []
  }
  const walk = (m: ReNode): void => {
    const lit = literalOf(m)
    if (lit !== undefined) run.push(lit)
    else if (m.kind === 'concat') m.items.forEach(walk)
    else if (m.kind === 'assert' || m.kind === 'empty') return // matches no character: the run goes on
    else {
      endRun()
      if (m.kind === 'repeat' && m.min > 0) {
        const inner = requiredLiteral(m.body)
        if ([...inner].length > [...best].length) best = inner
      }
    }
  }
  walk(n)
  endRun()
  return best
}

/** Whether every match must start at the start of the input (a leading `^` or `\A` outside newline-sensitive mode). */
function startsAnchored(n: ReNode): boolean {
  switch (n.kind) {
    case 'assert':
      return n.what === 'bos'
    case 'concat':
      return n.items.length > 0 && startsAnchored(n.items[0]!)
    case 'alt':
      return n.branches.every(startsAnchored)
    case 'repeat':
      return n.min > 0 && startsAnchored(n.body)
    default:
      return false
  }
}

/**
 * The RegExp for a pattern a backtracking engine runs in linear time, or undefined. Safe means: no
 * alternation, and either no repetition at all (each start position then costs at most the pattern's
 * length) or one repetition of a single character with the whole pattern anchored at the start (one start
 * position, and the repetition gives back at most one character per step). Case-insensitive patterns and word
 * constraints stay with the automaton, whose notion of case and of word characters is PostgreSQL's.
 */
export function nativeRegex(node: ReNode, caseInsensitive: boolean): RegExp | undefined {
  if (caseInsensitive) return undefined
  let repeats = 0
  let safe = true
  const visit = (n: ReNode): string => {
    switch (n.kind) {
      case 'empty':
        return ''
      case 'set':
        return setSource(n.set)
      case 'assert':
        if (n.what === 'bos') return '^'
        if (n.what === 'eos') return '$'
        safe = false
        return ''
      case 'concat':
        return n.items.map(visit).join('')
      case 'alt':
        safe = false
        return ''
      case 'repeat':
        repeats++
        if (n.body.kind !== 'set') safe = false
        return `(?:${visit(n.body)}){${n.min},${n.max === Infinity ? '' : n.max}}`
    }
  }
  const source = visit(node)
  if (!safe || repeats > 1 || (repeats === 1 && !startsAnchored(node))) return undefined
  return new RegExp(source, 'u')
}

const cpSource = (cp: number): string => `\\u{${cp.toString(16)}}`

/** A set as one RegExp class; only sets that pass `nativeSafeSet` get here. */
function setSource(set: CharSet): string {
  const { ranges, classes } = set
  if (ranges.length === 2 && ranges[0] === ranges[1] && classes.length === 0 && !set.negated) return cpSource(ranges[0]!)
  const parts: string[] = []
  for (let i = 0; i < ranges.length; i += 2) parts.push(ranges[i] === ranges[i + 1] ? cpSource(ranges[i]!) : `${cpSource(ranges[i]!)}-${cpSource(ranges[i + 1]!)}`)
  for (const c of classes) parts.push(CLASS_SOURCES[c])
  if (set.negated) return `[^${parts.join('')}${set.excludeNewline ? '\\n' : ''}]`
  return `[${parts.join('')}]`
}

/** Whether a set can be written as one RegExp class (complemented classes cannot nest in one without the `v` flag). */
function nativeSafeSet(set: CharSet): boolean {
  return set.notClasses.length === 0 && set.classes.every((c) => !CLASS_SOURCES[c].startsWith('^'))
}

function hasUnsafeSet(n: ReNode): boolean {
  switch (n.kind) {
    case 'set':
      return !nativeSafeSet(n.set)
    case 'concat':
      return n.items.some(hasUnsafeSet)
    case 'alt':
      return n.branches.some(hasUnsafeSet)
    case 'repeat':
      return hasUnsafeSet(n.body)
    default:
      return false
  }
}

/** Compiles an ARE into a linear-time matcher. Throws 2201B (malformed) or 0A000 (not matchable in linear time). */
export function compileRegex(pattern: string, caseInsensitive: boolean): TextMatcher {
  const parsed = parseRegex(pattern, caseInsensitive)
  if (!hasUnsafeSet(parsed.node)) {
    const native = nativeRegex(parsed.node, parsed.caseInsensitive)
    if (native !== undefined) return native
  }
  if (stateCount(parsed.node) > MAX_STATES) throw regexError('regular expression is too complex')
  return new Automaton(parsed.node, parsed.caseInsensitive)
}

/** Compiles to the automaton even where RegExp would do: for tests comparing the two. */
export function compileAutomaton(pattern: string, caseInsensitive: boolean): TextMatcher {
  const parsed = parseRegex(pattern, caseInsensitive)
  if (stateCount(parsed.node) > MAX_STATES) throw regexError('regular expression is too complex')
  return new Automaton(parsed.node, parsed.caseInsensitive)
}
