/**
 * Exact decimal numbers: PostgreSQL's `numeric`. A value is an unscaled BigInt and a scale (the digits
 * after the decimal point, kept as written: `1.50` has scale 2 and prints as `1.50`), or one of the special
 * values NaN, Infinity and -Infinity (PostgreSQL 14+). Values are immutable.
 *
 * Measured against decimal.js and big.js (docs/benchmarks.md): a BigInt with a scale sums amounts of one
 * scale with one BigInt addition and no normalisation, and its text form is PostgreSQL's by construction.
 *
 * Every operation also takes a JavaScript number (an integer or a double reaching a numeric position, e.g.
 * an int4 operand of `+`): integers convert exactly, doubles as PostgreSQL's float8 -> numeric cast does.
 * The rules of scale are PostgreSQL's (numeric.c): + and - keep the larger scale, * adds the scales, /
 * chooses by select_div_scale, rounding is half away from zero.
 */
import { SluiceError, SqlState } from './errors.ts'

/** Finite, or a special value. */
export const enum NumKind {
  Finite = 0,
  NaN = 1,
  PosInf = 2,
  NegInf = 3,
}

export class Numeric {
  constructor(
    /** The digits without the decimal point: the value is u / 10^s. Zero for special values. */
    readonly u: bigint,
    /** Digits after the decimal point (display scale), >= 0. */
    readonly s: number,
    readonly k: NumKind = NumKind.Finite,
  ) {}

  /** PostgreSQL's text form: `1.50`, `-0.001`, `NaN`, `Infinity`. */
  toString(): string {
    return formatNumeric(this)
  }

  /** JSON has no exact decimal: a numeric serialises as its text, so no digit is lost. */
  toJSON(): string {
    return formatNumeric(this)
  }

  /** As a double (where a numeric meets a float8, or old code does arithmetic on it). */
  valueOf(): number {
    return numericToFloat(this)
  }
}

export type Num = Numeric | number

export const NUMERIC_NAN = new Numeric(0n, 0, NumKind.NaN)
export const NUMERIC_POS_INF = new Numeric(0n, 0, NumKind.PosInf)
export const NUMERIC_NEG_INF = new Numeric(0n, 0, NumKind.NegInf)
const ZERO = new Numeric(0n, 0)

/** PostgreSQL's limits: at most 1000 digits of scale from division and functions, 16383 in any value. */
const MAX_DISPLAY_SCALE = 1000
const MAX_SCALE = 16383
const MIN_SIG_DIGITS = 16

const POW10: bigint[] = [1n]
export function pow10(n: number): bigint {
  if (n < 64) {
    let p = POW10[n]
    if (p === undefined) {
      for (let i = POW10.length; i <= n; i++) POW10[i] = POW10[i - 1]! * 10n
      p = POW10[n]!
    }
    return p
  }
  return 10n ** BigInt(n)
}

export const isNumericValue = (v: unknown): v is Numeric => v instanceof Numeric

const invalidInput = (text: string): SluiceError =>
  new SluiceError('execution', SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${text}"`)

const NUMERIC_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/** numeric_in: decimal text with an optional exponent, NaN, [+-]Infinity/inf; surrounding blanks allowed. */
export function parseNumeric(text: string): Numeric {
  const fast = text.length <= 16 ? parseShort(text) : undefined
  if (fast !== undefined) return fast
  const s = text.trim()
  const m = NUMERIC_TEXT.exec(s)
  if (m === null || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    const lower = s.toLowerCase()
    if (lower === 'nan') return NUMERIC_NAN
    if (lower === 'infinity' || lower === '+infinity' || lower === 'inf' || lower === '+inf') return NUMERIC_POS_INF
    if (lower === '-infinity' || lower === '-inf') return NUMERIC_NEG_INF
    throw invalidInput(text)
  }
  const frac = m[3] ?? ''
  let u = BigInt(m[2]! + frac || '0')
  let scale = frac.length
  if (m[4] !== undefined) {
    const exp = Number(m[4])
    if (!Number.isFinite(exp) || Math.abs(exp) > 2 * MAX_SCALE) throw invalidInput(text)
    scale -= exp
    if (scale < 0) {
      u *= pow10(-scale)
      scale = 0
    }
    if (scale > MAX_SCALE) throw new SluiceError('execution', SqlState.numericValueOutOfRange, 'value overflows numeric format')
  }
  return new Numeric(m[1] === '-' ? -u : u, scale)
}

/** `-123.45`-shaped text of at most 15 digits (nearly every amount), without regex or BigInt parsing. */
const parseShort = (text: string): Numeric | undefined => parseShortAt(text, 0, text.length) ?? undefined

/**
 * The `-123.45`-shaped number at text[from, to) (at most 15 digits, no exponent), or undefined. With
 * `expect`, null when it is not that double (a JSON number read from its record: the wrong occurrence).
 */
export function parseShortAt(text: string, from: number, to: number, expect?: number): Numeric | null | undefined {
  let i = from
  let neg = false
  const first = text.charCodeAt(i)
  if (first === 45 /* - */ || first === 43 /* + */) {
    neg = first === 45
    i++
  }
  let acc = 0
  let digits = 0
  let scale = -1
  for (; i < to; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      acc = acc * 10 + (c - 48)
      digits++
      if (scale >= 0) scale++
    } else if (c === 46 /* . */ && scale < 0) scale = 0
    else return undefined
  }
  if (digits === 0 || digits > 15) return undefined
  const sc = scale < 0 ? 0 : scale
  // Both exact doubles, so the division is the correctly rounded value: the double JSON.parse made of it.
  if (expect !== undefined && (neg ? -acc : acc) / 10 ** sc !== expect) return null
  return new Numeric(BigInt(neg ? -acc : acc), sc)
}

/**
 * A JavaScript number as numeric: integers exactly, doubles as PostgreSQL's float8 -> numeric cast (15
 * significant digits, `%.15g`), so that 0.1::float8::numeric is 0.1.
 */
export function numericFromNumber(n: number): Numeric {
  if (Number.isSafeInteger(n)) return new Numeric(BigInt(n), 0)
  if (Number.isNaN(n)) return NUMERIC_NAN
  if (n === Infinity) return NUMERIC_POS_INF
  if (n === -Infinity) return NUMERIC_NEG_INF
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return new Numeric(BigInt(n), 0)
  const g = n.toPrecision(15)
  // %g drops trailing zeros of the fraction.
  const [mant, exp] = g.split('e') as [string, string | undefined]
  const trimmed = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant
  return parseNumeric(exp === undefined ? trimmed : `${trimmed}e${exp}`)
}

/** A value in a numeric position (a Numeric, or a number from an integer or float operand) as Numeric. */
export function toNumeric(v: Num | bigint): Numeric {
  if (v instanceof Numeric) return v
  if (typeof v === 'bigint') return new Numeric(v, 0)
  return numericFromNumber(v)
}

export function formatNumeric(n: Numeric): string {
  if (n.k !== NumKind.Finite) return n.k === NumKind.NaN ? 'NaN' : n.k === NumKind.PosInf ? 'Infinity' : '-Infinity'
  if (n.s === 0) return n.u.toString()
  const neg = n.u < 0n
  let digits = (neg ? -n.u : n.u).toString()
  if (digits.length <= n.s) digits = '0'.repeat(n.s - digits.length + 1) + digits
  const cut = digits.length - n.s
  return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`
}

/** The nearest double (JavaScript's string-to-number conversion rounds correctly). */
export function numericToFloat(n: Numeric): number {
  if (n.k !== NumKind.Finite) return n.k === NumKind.NaN ? NaN : n.k === NumKind.PosInf ? Infinity : -Infinity
  if (n.s === 0 && n.u <= 9007199254740991n && n.u >= -9007199254740991n) return Number(n.u)
  return Number(formatNumeric(n))
}

/** Text of a numeric-position value that may be a number (old code paths produce doubles). */
export const numericText = (v: Num): string => formatNumeric(toNumeric(v))

const sign = (u: bigint): number => (u > 0n ? 1 : u < 0n ? -1 : 0)
const abs = (u: bigint): bigint => (u < 0n ? -u : u)

/** u scaled from scale `from` up to scale `to` (to >= from). */
const up = (u: bigint, from: number, to: number): bigint => (to === from ? u : u * pow10(to - from))

/** a / b rounded half away from zero. */
function divRound(a: bigint, b: bigint): bigint {
  const q = a / b
  const r = a % b
  if (r === 0n) return q
  return 2n * abs(r) >= abs(b) ? q + BigInt(sign(a) * sign(b)) : q
}

/** Signed infinity as Numeric. */
const inf = (positive: boolean): Numeric => (positive ? NUMERIC_POS_INF : NUMERIC_NEG_INF)
const specialSign = (n: Numeric): number => (n.k === NumKind.PosInf ? 1 : n.k === NumKind.NegInf ? -1 : sign(n.u))

export function numAdd(x: Num, y: Num): Numeric {
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k === NumKind.Finite && b.k === NumKind.Finite) {
    if (a.s === b.s) return new Numeric(a.u + b.u, a.s)
    return a.s > b.s ? new Numeric(a.u + up(b.u, b.s, a.s), a.s) : new Numeric(up(a.u, a.s, b.s) + b.u, b.s)
  }
  if (a.k === NumKind.NaN || b.k === NumKind.NaN) return NUMERIC_NAN
  if (a.k !== NumKind.Finite && b.k !== NumKind.Finite) return a.k === b.k ? a : NUMERIC_NAN
  return a.k !== NumKind.Finite ? a : b
}

export const numNeg = (x: Num): Numeric => {
  const a = toNumeric(x)
  if (a.k === NumKind.Finite) return new Numeric(-a.u, a.s)
  return a.k === NumKind.NaN ? a : inf(a.k === NumKind.NegInf)
}

export const numSub = (x: Num, y: Num): Numeric => numAdd(x, numNeg(y))

export function numMul(x: Num, y: Num): Numeric {
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k === NumKind.Finite && b.k === NumKind.Finite) return checkScale(new Numeric(a.u * b.u, a.s + b.s))
  if (a.k === NumKind.NaN || b.k === NumKind.NaN) return NUMERIC_NAN
  const sa = specialSign(a)
  const sb = specialSign(b)
  if (sa === 0 || sb === 0) return NUMERIC_NAN
  return inf(sa * sb > 0)
}

function checkScale(n: Numeric): Numeric {
  if (n.s <= MAX_SCALE) return n
  return roundScale(n, MAX_SCALE)
}

/** The weight (in base-10000 digits, from the decimal point) and value of the first non-zero base-10000 digit. */
export function firstDigit(n: Numeric): [number, number] {
  if (n.u === 0n) return [0, 0]
  const digits = abs(n.u).toString()
  const intLen = digits.length - n.s
  if (intLen > 0) {
    const lead = ((intLen - 1) % 4) + 1
    return [Math.floor((intLen - 1) / 4), Number(digits.slice(0, lead))]
  }
  const zeros = -intLen
  const group = Math.floor(zeros / 4)
  const text = ('0'.repeat(zeros - group * 4) + digits).slice(0, 4).padEnd(4, '0')
  return [-(group + 1), Number(text)]
}

/** PostgreSQL's select_div_scale: at least 16 significant digits, and no less scale than either input. */
export function divScale(a: Numeric, b: Numeric): number {
  const [w1, f1] = firstDigit(a)
  const [w2, f2] = firstDigit(b)
  let qweight = w1 - w2
  if (f1 <= f2) qweight--
  let rscale = MIN_SIG_DIGITS - qweight * 4
  rscale = Math.max(rscale, a.s, b.s, 0)
  return Math.min(rscale, MAX_DISPLAY_SCALE)
}

export const divisionByZero = (): SluiceError => new SluiceError('execution', SqlState.divisionByZero, 'division by zero')

/** a / b at `scale` digits, rounded half away from zero (finite, b non-zero). */
function quotient(a: Numeric, b: Numeric, scale: number, round: boolean): Numeric {
  const e = scale - a.s + b.s
  const num = e >= 0 ? a.u * pow10(e) : a.u
  const den = e >= 0 ? b.u : b.u * pow10(-e)
  return new Numeric(round ? divRound(num, den) : num / den, scale)
}

/** x / y for finite values by `exact` (y non-zero), PostgreSQL's rules for zero, NaN and the infinities. */
function divideBy(x: Num, y: Num, exact: (a: Numeric, b: Numeric) => Numeric): Numeric {
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k === NumKind.Finite && b.k === NumKind.Finite) {
    if (b.u === 0n) throw divisionByZero()
    return exact(a, b)
  }
  if (a.k === NumKind.NaN || b.k === NumKind.NaN) return NUMERIC_NAN
  if (a.k !== NumKind.Finite) {
    if (b.k !== NumKind.Finite) return NUMERIC_NAN
    if (b.u === 0n) throw divisionByZero()
    return inf(specialSign(a) * sign(b.u) > 0)
  }
  return ZERO
}

/** x / y at PostgreSQL's division scale, rounded half away from zero. */
export const numDiv = (x: Num, y: Num): Numeric => divideBy(x, y, (a, b) => quotient(a, b, divScale(a, b), true))

/** div(x, y): the integral quotient, truncated towards zero. */
export const numDivTrunc = (x: Num, y: Num): Numeric => divideBy(x, y, (a, b) => quotient(a, b, 0, false))

/** x % y and mod(x, y): the remainder of the truncated quotient, with the sign of x, at the larger scale. */
export function numMod(x: Num, y: Num): Numeric {
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k === NumKind.Finite && b.k === NumKind.Finite) {
    if (b.u === 0n) throw divisionByZero()
    const s = Math.max(a.s, b.s)
    return new Numeric(up(a.u, a.s, s) % up(b.u, b.s, s), s)
  }
  if (a.k === NumKind.NaN || b.k === NumKind.NaN) return NUMERIC_NAN
  if (a.k !== NumKind.Finite) {
    if (b.k === NumKind.Finite && b.u === 0n) throw divisionByZero()
    return NUMERIC_NAN
  }
  return a
}

/** Total order of PostgreSQL's numeric: -Infinity < finite < Infinity < NaN (NaN equals NaN). */
export function numCmp(x: Num, y: Num): number {
  if (typeof x === 'number' && typeof y === 'number' && !Number.isNaN(x) && !Number.isNaN(y)) return x < y ? -1 : x > y ? 1 : 0
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k === NumKind.Finite && b.k === NumKind.Finite) {
    if (a.s === b.s) return a.u < b.u ? -1 : a.u > b.u ? 1 : 0
    const s = Math.max(a.s, b.s)
    const ua = up(a.u, a.s, s)
    const ub = up(b.u, b.s, s)
    return ua < ub ? -1 : ua > ub ? 1 : 0
  }
  const rank = (n: Numeric): number => (n.k === NumKind.NaN ? 2 : n.k === NumKind.PosInf ? 1 : n.k === NumKind.NegInf ? -1 : 0)
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra < rb ? -1 : 1
  return 0
}

export const numEq = (x: Num, y: Num): boolean => numCmp(x, y) === 0

/** x rounded half away from zero at `scale` digits (scale may be negative: tens, hundreds), shown at scale >= 0. */
export function roundScale(n: Numeric, scale: number): Numeric {
  if (n.k !== NumKind.Finite) return n
  if (scale >= n.s) return new Numeric(up(n.u, n.s, scale), scale)
  const f = pow10(n.s - scale)
  const q = divRound(n.u, f)
  return scale >= 0 ? new Numeric(q, scale) : new Numeric(q * pow10(-scale), 0)
}

/** x cut towards zero at `scale` digits. */
export function truncScale(n: Numeric, scale: number): Numeric {
  if (n.k !== NumKind.Finite) return n
  if (scale >= n.s) return new Numeric(up(n.u, n.s, scale), scale)
  const q = n.u / pow10(n.s - scale)
  return scale >= 0 ? new Numeric(q, scale) : new Numeric(q * pow10(-scale), 0)
}

/**
 * round / trunc's digits, limited as PostgreSQL limits them: up to the largest display scale (16383) after
 * the point, and past any value's first digit before it (a numeric has at most 131072 integer digits).
 */
const clampScale = (d: number): number => Math.max(-131073, Math.min(MAX_SCALE, Math.trunc(d)))

/** round(x, d): half away from zero. */
export const numRound = (x: Num, d = 0): Numeric => roundScale(toNumeric(x), clampScale(d))
/** trunc(x, d): towards zero. */
export const numTrunc = (x: Num, d = 0): Numeric => truncScale(toNumeric(x), clampScale(d))

/** ceil / floor: the nearest integer above / below, scale 0. */
export function numCeilFloor(x: Num, up_: boolean): Numeric {
  const n = toNumeric(x)
  if (n.k !== NumKind.Finite || n.s === 0) return n.k !== NumKind.Finite ? n : n
  const f = pow10(n.s)
  let q = n.u / f
  const r = n.u % f
  if (r !== 0n && (r > 0n) === up_) q += up_ ? 1n : -1n
  return new Numeric(q, 0)
}

export function numAbs(x: Num): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NegInf) return NUMERIC_POS_INF
  return n.u < 0n ? new Numeric(-n.u, n.s) : n
}

/** sign(x): -1, 0 or 1 (numeric, scale 0); NaN stays NaN. */
export function numSign(x: Num): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NaN) return n
  return new Numeric(BigInt(specialSign(n)), 0)
}

const cannotConvert = (n: Numeric, target: string): SluiceError =>
  new SluiceError('execution', SqlState.featureNotSupported, `cannot convert ${n.k === NumKind.NaN ? 'NaN' : 'infinity'} to ${target}`)

/**
 * numeric -> integer: rounded half away from zero; NaN and infinities cannot convert (0A000). The caller
 * checks the range of the integer type.
 */
export function numericToInteger(x: Num, target: string): number {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw cannotConvert(toNumeric(x), target)
    return Math.sign(x) * Math.round(Math.abs(x))
  }
  if (x.k !== NumKind.Finite) throw cannotConvert(x, target)
  const r = x.s === 0 ? x.u : divRound(x.u, pow10(x.s))
  return Number(r)
}

/** The number of digits before the decimal point of a finite value (0 for |x| < 1). */
function integerDigits(n: Numeric): number {
  if (n.u === 0n) return 0
  const len = abs(n.u).toString().length - n.s
  return len > 0 ? len : 0
}

/**
 * A value stored in numeric(precision, scale): rounded to the scale, refused (22003 `numeric field
 * overflow`) when its integer digits exceed precision - scale. NaN passes; the infinities are refused.
 */
export function applyTypmod(x: Num, precision: number, scale: number): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NaN) return n
  if (n.k !== NumKind.Finite) {
    throw new SluiceError('execution', SqlState.numericValueOutOfRange, 'numeric field overflow', {
      detail: `A field with precision ${precision}, scale ${scale} cannot hold an infinite value.`,
    })
  }
  // Nearly always: already at the scale and within the precision.
  if (n.s === scale && scale >= 0) {
    const limit = pow10(precision)
    if (n.u < limit && n.u > -limit) return n
  }
  const r = roundScale(n, scale)
  const maxDigits = precision - scale
  if (integerDigits(r) > maxDigits || (r.u !== 0n && scale < 0 && abs(r.u).toString().length > precision - scale)) {
    throw new SluiceError('execution', SqlState.numericValueOutOfRange, 'numeric field overflow', {
      detail: `A field with precision ${precision}, scale ${scale} must round to an absolute value less than ${maxDigits === 0 ? '1' : `10^${maxDigits}`}.`,
    })
  }
  return r
}

/** The typmod checks of `numeric(p, s)` as PostgreSQL's numerictypmodin makes them (22023). */
export function checkNumericTypmod(precision: number, scale: number): void {
  if (precision < 1 || precision > 1000) {
    throw new SluiceError('execution', SqlState.invalidParameterValue, `NUMERIC precision ${precision} must be between 1 and 1000`)
  }
  if (scale < -1000 || scale > 1000) {
    throw new SluiceError('execution', SqlState.invalidParameterValue, `NUMERIC scale ${scale} must be between -1000 and 1000`)
  }
}

/** A group key or DISTINCT key: equal numerics (1.5 and 1.50) give the same text. */
export function numericKey(n: Numeric): string {
  if (n.k !== NumKind.Finite || n.s === 0) return formatNumeric(n)
  let u = n.u
  let s = n.s
  while (s > 0 && u % 10n === 0n) {
    u /= 10n
    s--
  }
  return formatNumeric(new Numeric(u, s))
}

/**
 * A JSON.stringify replacer for group and DISTINCT keys: a numeric becomes its value's text, so that equal
 * numerics (1.5 and 1.50) make one key. `this[key]` is the value before its toJSON.
 */
export function numericKeyReplacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const o = this[key]
  return o instanceof Numeric ? `\u0000n${numericKey(o)}` : v
}

/**
 * Sum of numerics for aggregate state: like numAdd, with the common case (same scale, both finite) first.
 * `acc` null starts the sum.
 */
export function numSumStep(acc: Num | null, x: Num): Numeric {
  if (acc instanceof Numeric && x instanceof Numeric && acc.s === x.s && acc.k === NumKind.Finite && x.k === NumKind.Finite) return new Numeric(acc.u + x.u, acc.s)
  return acc === null ? toNumeric(x) : numAdd(acc, x)
}
