/**
 * The automaton both regular-expression matchers run (regex.ts: whether a text matches; regex-match.ts:
 * where, and what the groups capture): character sets compiled for testing, assertions, and the program a
 * parsed pattern compiles to, a Thompson automaton in three parallel arrays.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { AssertKind, CharSet, ClassName, ReNode } from './regex-syntax.ts'

/** Most automaton states a pattern may expand to (counted repetition copies its body). */
export const MAX_STATES = 10_000

export const CLASS_SOURCES: Record<ClassName, string> = {
  alnum: '\\p{L}0-9',
  alpha: '\\p{L}',
  blank: ' \\t',
  cntrl: '\\p{Cc}',
  digit: '0-9',
  graph: '^\\p{White_Space}\\p{C}',
  lower: '\\p{Ll}',
  print: '^\\p{C}',
  punct: '\\p{P}\\p{S}',
  space: '\\s',
  upper: '\\p{Lu}',
  xdigit: '0-9A-Fa-f',
  word: '\\p{L}0-9_',
}
/** One single-character RegExp per class: no repetition, so testing one character is constant time. */
const CLASS_TESTS = Object.fromEntries(
  Object.entries(CLASS_SOURCES).map(([name, src]) => [name, new RegExp(`^[${src}]$`, 'u')]),
) as Record<ClassName, RegExp>

export const isWordChar = (cp: number): boolean =>
  cp >= 0 && (cp < 128 ? (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 95 : CLASS_TESTS.word.test(String.fromCodePoint(cp)))

function inClass(cls: ClassName, cp: number): boolean {
  return CLASS_TESTS[cls].test(String.fromCodePoint(cp))
}

function setContains(set: CharSet, cp: number): boolean {
  let found = false
  const r = set.ranges
  for (let i = 0; i < r.length && !found; i += 2) found = cp >= r[i]! && cp <= r[i + 1]!
  for (let i = 0; i < set.classes.length && !found; i++) found = inClass(set.classes[i]!, cp)
  for (let i = 0; i < set.notClasses.length && !found; i++) found = !inClass(set.notClasses[i]!, cp)
  if (set.negated) return !found && !(set.excludeNewline && cp === 10)
  return found
}

/** The one-code-point case variants of `cp` (PostgreSQL matches a character against its upper and lower case). */
function caseVariants(cp: number): number[] {
  const s = String.fromCodePoint(cp)
  const out = [cp]
  for (const v of [s.toLowerCase(), s.toUpperCase()]) {
    const c = v.codePointAt(0)!
    if (v.length === String.fromCodePoint(c).length && !out.includes(c)) out.push(c)
  }
  return out
}

/** A character set compiled for testing: a bitmap for ASCII, the set itself (and case variants) beyond. */
export class SetTester {
  private readonly ascii = new Uint32Array(4)

  constructor(
    private readonly set: CharSet,
    private readonly caseInsensitive: boolean,
  ) {
    for (let cp = 0; cp < 128; cp++) if (this.slow(cp)) this.ascii[cp >> 5]! |= 1 << (cp & 31)
  }

  copyAscii(into: Uint32Array, at: number): void {
    into.set(this.ascii, at)
  }

  test(cp: number): boolean {
    return cp < 128 ? (this.ascii[cp >> 5]! & (1 << (cp & 31))) !== 0 : this.slow(cp)
  }

  private slow(cp: number): boolean {
    if (!this.caseInsensitive) return setContains(this.set, cp)
    const variants = caseVariants(cp)
    // A negated set holds a character when it holds none of the character's case variants.
    if (this.set.negated) {
      const positive = { ...this.set, negated: false }
      return variants.every((v) => !setContains(positive, v)) && !(this.set.excludeNewline && cp === 10)
    }
    return variants.some((v) => setContains(this.set, v))
  }
}

/**
 * The program's operations, in parallel arrays `op`, `x`, `y`: SET (test the character against set x, go on
 * at y), SPLIT (go on at x, preferred, and at y), JMP (to x), ASSERT (assertion x holds: go on at y), MATCH,
 * SAVE (group boundary x: the position, into slot x; go on at y; only in programs built with captures).
 */
export const OP_SET = 0
export const OP_SPLIT = 1
export const OP_JMP = 2
export const OP_ASSERT = 3
export const OP_MATCH = 4
export const OP_SAVE = 5

export const ASSERT_CODES: Record<AssertKind, number> = { bos: 0, eos: 1, bol: 2, eol: 3, wordStart: 4, wordEnd: 5, wordBoundary: 6, notWordBoundary: 7 }

/** Whether an assertion holds between the characters `prev` and `next` (-1 at either end of the input). */
export function assertionHolds(code: number, prev: number, next: number): boolean {
  switch (code) {
    case 0:
      return prev < 0
    case 1:
      return next < 0
    case 2:
      return prev < 0 || prev === 10
    case 3:
      return next < 0 || next === 10
    case 4:
      return !isWordChar(prev) && isWordChar(next)
    case 5:
      return isWordChar(prev) && !isWordChar(next)
    case 6:
      return isWordChar(prev) !== isWordChar(next)
    default:
      return isWordChar(prev) === isWordChar(next)
  }
}

/** Number of automaton states a node compiles to (stops counting past the limit). */
export function stateCount(n: ReNode): number {
  switch (n.kind) {
    case 'empty':
      return 0
    case 'set':
    case 'assert':
      return 1
    case 'concat':
      return n.items.reduce((s, i) => Math.min(s + stateCount(i), MAX_STATES + 1), 0)
    case 'alt':
      return n.branches.reduce((s, b) => Math.min(s + stateCount(b) + 2, MAX_STATES + 1), 0)
    case 'repeat': {
      const body = stateCount(n.body) + 2
      const copies = n.max === Infinity ? Math.max(n.min, 1) : n.max
      return Math.min(body * Math.max(copies, 1), MAX_STATES + 1)
    }
  }
}

export interface Program {
  readonly op: Uint8Array
  readonly x: Int32Array
  readonly y: Int32Array
  readonly sets: SetTester[]
}

/**
 * Compiles `node`; each part continues at the state emitted after it. SPLIT's x is the preferred way on
 * (for a lazy quantifier: leaving it), the order regex-match.ts fits groups in. With `captures`, a captured
 * group is wrapped in SAVE states (slots 2g and 2g + 1). Throws 2201B past MAX_STATES.
 */
export function buildProgram(node: ReNode, caseInsensitive: boolean, captures: boolean): Program {
  const op: number[] = []
  const x: number[] = []
  const y: number[] = []
  const sets: SetTester[] = []
  const emit = (o: number, a = 0, b = 0): number => {
    if (op.length > MAX_STATES) throw new SluiceError('execution', SqlState.invalidRegularExpression, 'invalid regular expression: regular expression is too complex')
    op.push(o)
    x.push(a)
    y.push(b)
    return op.length - 1
  }
  /** A SPLIT preferring `into` the quantified part (greedy) or `past` it (lazy). */
  const split = (lazy: boolean, into: number, past: number): number => (lazy ? emit(OP_SPLIT, past, into) : emit(OP_SPLIT, into, past))
  const gen = (n: ReNode): void => {
    switch (n.kind) {
      case 'empty':
        return
      case 'set':
        sets.push(new SetTester(n.set, caseInsensitive))
        emit(OP_SET, sets.length - 1, op.length + 1)
        return
      case 'assert':
        emit(OP_ASSERT, ASSERT_CODES[n.what], op.length + 1)
        return
      case 'concat':
        if (captures && n.capture !== undefined) emit(OP_SAVE, 2 * n.capture, op.length + 1)
        for (const i of n.items) gen(i)
        if (captures && n.capture !== undefined) emit(OP_SAVE, 2 * n.capture + 1, op.length + 1)
        return
      case 'alt': {
        const jumps: number[] = []
        for (let i = 0; i < n.branches.length; i++) {
          if (i < n.branches.length - 1) {
            const s = emit(OP_SPLIT, op.length + 1, 0)
            gen(n.branches[i]!)
            jumps.push(emit(OP_JMP))
            y[s] = op.length
          } else gen(n.branches[i]!)
        }
        for (const j of jumps) x[j] = op.length
        return
      }
      case 'repeat': {
        const lazy = n.lazy === true
        if (n.max === Infinity && n.min > 0) {
          // body{m,}: m-1 copies, then one copy that may loop back to itself.
          for (let i = 1; i < n.min; i++) gen(n.body)
          const loop = op.length
          gen(n.body)
          split(lazy, loop, op.length + 1)
          return
        }
        for (let i = 0; i < n.min; i++) gen(n.body)
        // The SPLITs are emitted before their targets are known: each is set once its part is.
        const decide = (s: number): void => {
          if (lazy) (y[s] = s + 1), (x[s] = op.length)
          else (x[s] = s + 1), (y[s] = op.length)
        }
        if (n.max === Infinity) {
          const s = emit(OP_SPLIT)
          gen(n.body)
          emit(OP_JMP, s)
          decide(s)
        } else {
          const splits: number[] = []
          for (let i = n.min; i < n.max; i++) {
            splits.push(emit(OP_SPLIT))
            gen(n.body)
          }
          for (const s of splits) decide(s)
        }
        return
      }
    }
  }
  gen(node)
  emit(OP_MATCH)
  return { op: Uint8Array.from(op), x: Int32Array.from(x), y: Int32Array.from(y), sets }
}
