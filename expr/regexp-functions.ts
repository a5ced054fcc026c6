/**
 * PostgreSQL's regexp_* functions (§9.7.3): regexp_match, regexp_matches, regexp_replace (with PostgreSQL
 * 15's start and N), regexp_split_to_array / _to_table, regexp_like, regexp_count, regexp_instr,
 * regexp_substr and `substring(text FROM pattern)`. Matching is regex-match.ts's: linear in the input, with
 * PostgreSQL's rules for which match and which submatches are reported. Positions count characters.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, arrayOf, isInteger, type SqlType } from '../common/types.ts'
import type { EmitContext, ScalarImpl } from './bound.ts'
import type { Resolved } from './bound.ts'
import { type Match, spanMatcher, type SpanMatcher } from './regex-match.ts'
import { similarToRegex } from './regex-syntax.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const isInt = (t: SqlType): boolean => !t.element && (isInteger(t) || t.name === 'unknown')

const invalidParameter = (name: string, value: number): SluiceError =>
  new SluiceError('execution', SqlState.invalidParameterValue, `invalid value for parameter "${name}": ${value}`)

interface Flags {
  readonly global: boolean
  readonly matcher: SpanMatcher
}

/** The flags argument: `g` apart, `i`/`c` for case, the others as the embedded options `(?...)` say. */
function compile(pattern: string, flags: string | null | undefined, fn: string, globalAllowed: boolean): Flags {
  let global = false
  let ci = false
  let embedded = ''
  for (const f of flags ?? '') {
    if (f === 'g') global = true
    else if (f === 'i') ci = true
    else if (f === 'c') ci = false
    else if ('bemnpqstwx'.includes(f)) embedded += f
    else throw new SluiceError('execution', SqlState.invalidParameterValue, `invalid regular expression option: "${f}"`)
  }
  if (global && !globalAllowed) {
    throw new SluiceError('execution', SqlState.invalidParameterValue, `${fn}() does not support the "global" option`, {
      hint: fn === 'regexp_match' ? 'Use the regexp_matches function instead.' : undefined,
    })
  }
  let p = pattern
  if (embedded.includes('q')) p = `***=${p}`
  else if (embedded !== '') p = p.startsWith('(?') ? `(?${embedded}${p.slice(2)}` : `(?${embedded})${p}`
  return { global, matcher: spanMatcher(p, ci) }
}

/** Every match from `from` on (just the first unless global); an empty match moves the search on by one character. */
function* matches(m: SpanMatcher, text: string, from: number, global: boolean): Generator<Match> {
  let at = from
  while (at <= text.length) {
    const found = m.exec(text, at)
    if (found === undefined) return
    yield found
    if (!global) return
    at = found.end > found.start ? found.end : found.end + charLength(text, found.end)
  }
}

const charLength = (text: string, at: number): number => (at < text.length && text.codePointAt(at)! > 0xffff ? 2 : 1)

/** The UTF-16 offset of character position `start` (1-based). */
function offsetOfChar(text: string, start: number): number {
  let off = 0
  for (let i = 1; i < start && off < text.length; i++) off += charLength(text, off)
  return Math.min(off, text.length)
}
const charPosition = (text: string, offset: number): number => Array.from(text.slice(0, offset)).length + 1

const groupTexts = (text: string, m: Match): (string | null)[] =>
  m.groups.length === 0 ? [text.slice(m.start, m.end)] : m.groups.map((g) => (g === undefined ? null : text.slice(g.start, g.end)))

export function regexpMatch(text: string, pattern: string, flags?: string | null): (string | null)[] | null {
  if (flags === null) return null
  const { matcher } = compile(pattern, flags, 'regexp_match', false)
  const m = matcher.exec(text, 0)
  return m === undefined ? null : groupTexts(text, m)
}

/** regexp_matches: one text[] per match (all of them with `g`). */
export function regexpMatches(text: string, pattern: string, flags?: string | null, onRow?: () => void): (string | null)[][] {
  if (flags === null) return []
  const { matcher, global } = compile(pattern, flags, 'regexp_matches', true)
  const out: (string | null)[][] = []
  for (const m of matches(matcher, text, 0, global)) {
    onRow?.()
    out.push(groupTexts(text, m))
  }
  return out
}

/** The replacement text for one match: `\1`..`\9` groups, `\&` the match, `\\` a backslash. */
function substitute(replacement: string, text: string, m: Match): string {
  if (!replacement.includes('\\')) return replacement
  let out = ''
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i]!
    if (c !== '\\' || i + 1 >= replacement.length) {
      out += c
      continue
    }
    const d = replacement[i + 1]!
    if (d >= '1' && d <= '9') {
      const g = m.groups[Number(d) - 1]
      if (g !== undefined) out += text.slice(g.start, g.end)
      i++
    } else if (d === '&') {
      out += text.slice(m.start, m.end)
      i++
    } else if (d === '\\') {
      out += '\\'
      i++
    } else out += c
  }
  return out
}

/**
 * regexp_replace(source, pattern, replacement [, start [, N]] [, flags]): the first match from `start`, the
 * N-th when N is given, all of them with `g` or N 0.
 */
export function regexpReplace(text: string, pattern: string, replacement: string, start: number, n: number | undefined, flags: string): string {
  if (start <= 0) throw invalidParameter('start', start)
  if (n !== undefined && n < 0) throw invalidParameter('n', n)
  const { matcher, global } = compile(pattern, flags, 'regexp_replace', true)
  const all = global || n === 0
  const target = all ? 0 : (n ?? 1)
  let out = ''
  let copied = 0
  let count = 0
  for (const m of matches(matcher, text, offsetOfChar(text, start), true)) {
    count++
    if (target !== 0 && count < target) continue
    out += text.slice(copied, m.start) + substitute(replacement, text, m)
    copied = m.end
    if (target !== 0) break
  }
  return out + text.slice(copied)
}

/** regexp_split_to_array / _to_table: the text between matches; empty matches at either end or right after a match are not splits. */
export function regexpSplit(text: string, pattern: string, flags: string | null | undefined, fn: string, onRow?: () => void): string[] | null {
  if (flags === null) return null
  const { matcher } = compile(pattern, flags, fn, false)
  const out: string[] = []
  let prevEnd = 0
  for (const m of matches(matcher, text, 0, true)) {
    if (!(m.start < text.length && m.end > prevEnd)) continue
    onRow?.()
    out.push(text.slice(prevEnd, m.start))
    prevEnd = m.end
  }
  out.push(text.slice(prevEnd))
  return out
}

export function regexpLike(text: string, pattern: string, flags?: string | null): boolean | null {
  if (flags === null) return null
  return compile(pattern, flags, 'regexp_like', false).matcher.exec(text, 0) !== undefined
}

export function regexpCount(text: string, pattern: string, start = 1, flags?: string | null): number | null {
  if (flags === null || start === null) return null
  if (start <= 0) throw invalidParameter('start', start)
  const { matcher } = compile(pattern, flags, 'regexp_count', true)
  let n = 0
  for (const _ of matches(matcher, text, offsetOfChar(text, start), true)) n++
  return n
}

/** The N-th match from `start` (characters, 1-based), or undefined. */
function nth(text: string, pattern: string, start: number, n: number, flags: string | undefined, fn: string): { m: Match; matcher: SpanMatcher } | undefined {
  if (start <= 0) throw invalidParameter('start', start)
  if (n <= 0) throw invalidParameter('n', n)
  const { matcher } = compile(pattern, flags, fn, false)
  let i = 0
  for (const m of matches(matcher, text, offsetOfChar(text, start), true)) if (++i === n) return { m, matcher }
  return undefined
}

function part(m: Match, subexpr: number): { start: number; end: number } | undefined {
  if (subexpr === 0) return m
  return m.groups[subexpr - 1]
}

export function regexpInstr(text: string, pattern: string, start = 1, n = 1, endoption = 0, flags?: string, subexpr = 0): number | null {
  if ([start, n, endoption, subexpr].includes(null as unknown as number) || flags === null) return null
  if (endoption !== 0 && endoption !== 1) throw invalidParameter('endoption', endoption)
  if (subexpr < 0) throw invalidParameter('subexpr', subexpr)
  const found = nth(text, pattern, start, n, flags, 'regexp_instr')
  if (found === undefined) return 0
  const p = part(found.m, subexpr)
  if (p === undefined) return 0
  return charPosition(text, endoption === 0 ? p.start : p.end)
}

export function regexpSubstr(text: string, pattern: string, start = 1, n = 1, flags?: string, subexpr = 0): string | null {
  if ([start, n, subexpr].includes(null as unknown as number) || flags === null) return null
  if (subexpr < 0) throw invalidParameter('subexpr', subexpr)
  const found = nth(text, pattern, start, n, flags, 'regexp_substr')
  if (found === undefined) return null
  const p = part(found.m, subexpr)
  return p === undefined ? null : text.slice(p.start, p.end)
}

/** substring(text FROM pattern): the first group's text when the pattern has groups, else the match. */
export function regexSubstring(text: string, pattern: string): string | null {
  const m = spanMatcher(pattern, false).exec(text, 0)
  if (m === undefined) return null
  if (m.groups.length === 0) return text.slice(m.start, m.end)
  const g = m.groups[0]
  return g === undefined ? null : text.slice(g.start, g.end)
}

const fn = (emit: (a: readonly string[], c: EmitContext) => string, strict = true): ScalarImpl => ({ strict, emit })
const call = (f: unknown, xs: readonly string[], c: EmitContext): string => `${c.constant(f)}(${xs.join(', ')})`

/** Arguments typed by shape: `t` text, `i` integer; the first shape that fits decides the argument types. */
function shaped(shapes: readonly string[], type: SqlType, emit: (xs: readonly string[], c: EmitContext, shape: string) => string): FunctionRule {
  return (args) => {
    for (const shape of shapes) {
      if (shape.length !== args.length) continue
      if (![...shape].every((k, i) => (k === 't' ? isText(args[i]!) : isInt(args[i]!)))) continue
      // An untyped literal in a place where either shape fits is text, as PostgreSQL prefers.
      return { type, impl: fn((xs, c) => emit(xs, c, shape)), argTypes: [...shape].map((k) => (k === 't' ? Types.text : Types.int4)) }
    }
    return undefined
  }
}

const TEXT_ARRAY = arrayOf(Types.text)

export const REGEXP_FUNCTIONS: Record<string, FunctionRule> = {
  regexp_match: shaped(['tt', 'ttt'], TEXT_ARRAY, (xs, c) => call(regexpMatch, xs, c)),
  // (s, p, r), (s, p, r, flags), (s, p, r, start), (s, p, r, start, N), (s, p, r, start, N, flags)
  regexp_replace: shaped(['ttt', 'tttt', 'ttti', 'tttii', 'tttiit'], Types.text, (xs, c, shape) => {
    const [s, p, r] = xs
    const start = shape.length > 3 && shape[3] === 'i' ? xs[3]! : '1'
    const n = shape.length > 4 ? xs[4]! : 'undefined'
    const flags = shape === 'tttt' ? xs[3]! : shape === 'tttiit' ? xs[5]! : "''"
    return `${c.constant(regexpReplace)}(${s}, ${p}, ${r}, ${start}, ${n}, ${flags})`
  }),
  regexp_split_to_array: shaped(['tt', 'ttt'], TEXT_ARRAY, ([s, p, f], c) => `${c.constant(regexpSplit)}(${s}, ${p}, ${f ?? 'undefined'}, 'regexp_split_to_array')`),
  regexp_like: shaped(['tt', 'ttt'], Types.bool, (xs, c) => call(regexpLike, xs, c)),
  regexp_count: shaped(['tt', 'tti', 'ttit'], Types.int4, (xs, c) => call(regexpCount, xs, c)),
  regexp_instr: shaped(['tt', 'tti', 'ttii', 'ttiii', 'ttiiit', 'ttiiiti'], Types.int4, (xs, c) => call(regexpInstr, xs, c)),
  regexp_substr: shaped(['tt', 'tti', 'ttii', 'ttiit', 'ttiiti'], Types.text, (xs, c) => call(regexpSubstr, xs, c)),
}

/** `substring(s SIMILAR pattern ESCAPE e)`: the part between the escaped `"` markers, or the whole match. */
export const similarSubstring = (text: string, pattern: string, escape: string): string | null => regexSubstring(text, similarToRegex(pattern, escape))

/**
 * `substring(x FROM pattern)` (two texts) and `substring(x SIMILAR pattern ESCAPE e)` (three); the positional
 * forms take integers and are not these.
 */
export const regexSubstringRule: FunctionRule = (args) => {
  if ((args.length !== 2 && args.length !== 3) || !args.every(isText)) return undefined
  if (args.length === 3) return { type: Types.text, impl: fn((xs, c) => call(similarSubstring, xs, c)), argTypes: [Types.text, Types.text, Types.text] }
  return { type: Types.text, impl: fn((xs, c) => call(regexSubstring, xs, c)), argTypes: [Types.text, Types.text] }
}
