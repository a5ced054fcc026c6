/**
 * The string functions dashboards send, with PostgreSQL's semantics: lengths and positions count characters
 * (code points, as PostgreSQL counts them in UTF8), never UTF-16 units, and errors carry PostgreSQL's SQLSTATEs.
 * The runtime halves are plain functions that the emitted code reaches through the constant table.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, arrayOf, isInteger, type SqlType } from '../common/types.ts'
import type { EmitContext, ScalarImpl } from './bound.ts'
import { decodeText, encodeBytes } from './bytea-encoding.ts'

interface Resolved {
  readonly type: SqlType
  readonly impl: ScalarImpl
  readonly argTypes?: readonly SqlType[]
}
type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

/** Largest text a string function builds (PostgreSQL's limit is 1 GB; one value this large is already a lot). */
export const MAX_STRING_BYTES = 64 * 1024 * 1024

const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const isIntArg = (t: SqlType): boolean => !t.element && (isInteger(t) || t.name === 'unknown')

const chars = (s: string): string[] => Array.from(s)

function tooLong(): SluiceError {
  return new SluiceError('execution', SqlState.programLimitExceeded, 'requested length too large', {
    detail: `String functions build at most ${MAX_STRING_BYTES} bytes.`,
  })
}

/** Throws 54000 when `units` copies of `unitBytes` bytes would pass the bound. */
function checkSize(unitBytes: number, units: number): void {
  if (unitBytes * units > MAX_STRING_BYTES) throw tooLong()
}

export function splitPart(s: string, delim: string, n: number): string {
  if (n === 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'field position must not be zero')
  if (s === '') return ''
  const fields = delim === '' ? [s] : s.split(delim)
  const i = n > 0 ? n - 1 : fields.length + n
  return i >= 0 && i < fields.length ? fields[i]! : ''
}

export function leftChars(s: string, n: number): string {
  const cs = chars(s)
  return (n >= 0 ? cs.slice(0, n) : cs.slice(0, Math.max(0, cs.length + n))).join('')
}

export function rightChars(s: string, n: number): string {
  const cs = chars(s)
  return (n >= 0 ? cs.slice(Math.max(0, cs.length - n)) : cs.slice(Math.min(cs.length, -n))).join('')
}

export function pad(s: string, len: number, fill: string, side: 'left' | 'right'): string {
  if (len <= 0) return ''
  const cs = chars(s)
  if (cs.length >= len) return cs.slice(0, len).join('')
  const fs = chars(fill)
  if (fs.length === 0) return s
  const need = len - cs.length
  // The fill's bytes per character on average: the bound holds for the text actually built.
  if (Buffer.byteLength(s) + (need * Buffer.byteLength(fill)) / fs.length > MAX_STRING_BYTES) throw tooLong()
  const out = fill.repeat(Math.floor(need / fs.length)) + fs.slice(0, need % fs.length).join('')
  return side === 'left' ? out + s : s + out
}

export function repeatText(s: string, n: number): string {
  if (n <= 0 || s === '') return ''
  checkSize(Buffer.byteLength(s), n)
  return s.repeat(n)
}

export const reverseText = (s: string): string => chars(s).reverse().join('')

export function strpos(s: string, sub: string): number {
  const at = s.indexOf(sub)
  return at < 0 ? 0 : chars(s.slice(0, at)).length + 1
}

export function translate(s: string, from: string, to: string): string {
  const fs = chars(from)
  const ts = chars(to)
  const map = new Map<string, string>()
  fs.forEach((c, i) => {
    if (!map.has(c)) map.set(c, i < ts.length ? ts[i]! : '')
  })
  let out = ''
  for (const c of s) out += map.get(c) ?? c
  return out
}

/**
 * One character's case form as glibc's towupper/towlower gives it: one character for one. Where Unicode
 * maps to several (ß to SS, ﬁ to FI) the character stays; İ lowers to i. Mapping character by character also
 * keeps PostgreSQL's Σ to σ at the end of a word, where JavaScript would write ς.
 */
function caseOf(c: string, upper: boolean): string {
  const m = chars(upper ? c.toUpperCase() : c.toLowerCase())
  return m.length === 1 ? m[0]! : upper ? c : m[0]!
}

const NON_ASCII = /[^\x00-\x7f]/

export function upperText(s: string): string {
  if (!NON_ASCII.test(s)) return s.toUpperCase()
  let out = ''
  for (const c of s) out += caseOf(c, true)
  return out
}

export function lowerText(s: string): string {
  if (!NON_ASCII.test(s)) return s.toLowerCase()
  let out = ''
  for (const c of s) out += caseOf(c, false)
  return out
}

const WORD_CHAR = /^[\p{L}\p{Nd}]$/u

/** PostgreSQL's initcap: each run of letters and decimal digits (what glibc calls alnum; not ½ or ²) gets its first character upper-cased, the rest lower. */
export function initcap(s: string): string {
  let out = ''
  let inWord = false
  for (const c of s) {
    out += caseOf(c, !inWord)
    inWord = WORD_CHAR.test(c)
  }
  return out
}

export function stringToArray(s: string | null, delim: string | null, nullString: string | null): (string | null)[] | null {
  if (s === null) return null
  if (s === '') return []
  const parts = delim === null ? chars(s) : delim === '' ? [s] : s.split(delim)
  return nullString === null ? parts : parts.map((p) => (p === nullString ? null : p))
}

const strict = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, emit })
const lenient = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: false, emit })

/** A strict function of text arguments and then integer arguments: no implicit cast from numbers to text, as in PostgreSQL. */
const textIntFn = (texts: number, ints: readonly number[], type: SqlType, fn: (...a: never[]) => unknown): FunctionRule => (args) => {
  if (!ints.some((k) => args.length === texts + k)) return undefined
  if (!args.slice(0, texts).every(isText) || !args.slice(texts).every(isIntArg)) return undefined
  return {
    type,
    impl: strict((xs, c) => `${c.constant(fn)}(${xs.join(', ')})`),
    argTypes: args.map((_, i) => (i < texts ? Types.text : Types.int4)),
  }
}

export const STRING_FUNCTIONS: Record<string, FunctionRule> = {
  split_part: textIntFn(2, [1], Types.text, splitPart),
  left: textIntFn(1, [1], Types.text, leftChars),
  right: textIntFn(1, [1], Types.text, rightChars),
  lpad: (args) =>
    args.length === 3 && isText(args[0]!) && isIntArg(args[1]!) && isText(args[2]!)
      ? { type: Types.text, impl: strict(([s, n, f], c) => `${c.constant(pad)}(${s}, ${n}, ${f}, 'left')`), argTypes: [Types.text, Types.int4, Types.text] }
      : textIntFn(1, [1], Types.text, (s: string, n: number) => pad(s, n, ' ', 'left'))(args),
  rpad: (args) =>
    args.length === 3 && isText(args[0]!) && isIntArg(args[1]!) && isText(args[2]!)
      ? { type: Types.text, impl: strict(([s, n, f], c) => `${c.constant(pad)}(${s}, ${n}, ${f}, 'right')`), argTypes: [Types.text, Types.int4, Types.text] }
      : textIntFn(1, [1], Types.text, (s: string, n: number) => pad(s, n, ' ', 'right'))(args),
  repeat: textIntFn(1, [1], Types.text, repeatText),
  reverse: textIntFn(1, [0], Types.text, reverseText),
  initcap: textIntFn(1, [0], Types.text, initcap),
  strpos: textIntFn(2, [0], Types.int4, strpos),
  // `position(sub IN s)` arrives from the parser as position(s, sub).
  position: textIntFn(2, [0], Types.int4, strpos),
  translate: textIntFn(3, [0], Types.text, translate),
  concat_ws: (args) =>
    args.length >= 1 && isText(args[0]!)
      ? {
          type: Types.text,
          impl: lenient(([sep, ...xs], c) =>
            `(${sep} === null ? null : [${xs.join(', ')}].map((v, i) => v === null ? null : H.formatValue(v, ${c.constant(c.argTypes.slice(1))}[i])).filter((v) => v !== null).join(${sep}))`,
          ),
          argTypes: [Types.text, ...args.slice(1)],
        }
      : undefined,
  string_to_array: (args) =>
    (args.length === 2 || args.length === 3) && args.every(isText)
      ? {
          type: arrayOf(Types.text),
          impl: lenient((xs, c) => `${c.constant(stringToArray)}(${xs[0]}, ${xs[1]}, ${xs[2] ?? 'null'})`),
          argTypes: args.map(() => Types.text),
        }
      : undefined,
  encode: (args) =>
    args.length === 2 && !args[0]!.element && (args[0]!.name === 'bytea' || args[0]!.name === 'unknown') && isText(args[1]!)
      ? { type: Types.text, impl: strict((xs, c) => `${c.constant(encodeBytes)}(${xs.join(', ')})`), argTypes: [Types.bytea, Types.text] }
      : undefined,
  decode: (args) =>
    args.length === 2 && args.every(isText)
      ? { type: Types.bytea, impl: strict((xs, c) => `${c.constant(decodeText)}(${xs.join(', ')})`), argTypes: [Types.text, Types.text] }
      : undefined,
}

/**
 * substr / substring(x FROM start [FOR count]) by characters: positions before 1 count towards `count`, as in
 * PostgreSQL; a negative count is 22011.
 */
export function substringChars(x: string, start: number, count?: number): string {
  const from = Math.max(0, start - 1)
  if (count === undefined) return [...x].slice(from).join('')
  if (count < 0) throw new SluiceError('execution', SqlState.substringError, 'negative substring length not allowed')
  return [...x].slice(from, Math.max(0, start - 1 + count)).join('')
}
