/**
 * exp, ln, log and power of numeric, exact to PostgreSQL's result scale (numeric.c's rules, learnt from its
 * documentation and source comments): the scale gives at least 16 significant digits from an estimate of
 * the result's decimal weight, never less than the inputs' scales, at most 1000.
 *
 * Computed in BigInt fixed point with guard digits, then rounded half away from zero:
 *  - ln: x = y * 10^k with 1 <= y < 10; y brought near 1 by square roots, then 2 atanh((y-1)/(y+1)) by its
 *    series; plus k ln 10.
 *  - exp: x halved until |r| < 0.01, Taylor series, squared back; exp of a negative x is 1 / exp(-x).
 *  - power with an integral exponent is exact (rounded once); otherwise exp(y ln x).
 * Work is bounded: scales are at most 1000 digits and exp refuses |x| >= 6000 (22003 above, 0 below), as
 * PostgreSQL does.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Numeric, NumKind, NUMERIC_NAN, NUMERIC_POS_INF, firstDigit, numCmp, numericToFloat, pow10, toNumeric, type Num } from '../common/numeric.ts'

const MIN_SIG_DIGITS = 16
const MAX_DISPLAY_SCALE = 1000
const MAX_RESULT_SCALE = 2000
const GUARD = 12
/** An integral power with this many more digits than its result keeps is computed as exp(y ln x) rather than exactly. */
const EXACT_POWER_DIGITS = 4000

const clampScale = (s: number): number => Math.min(Math.max(s, 0), MAX_DISPLAY_SCALE)

const invalidLog = (zero: boolean): SluiceError =>
  new SluiceError('execution', SqlState.invalidArgumentForLog, zero ? 'cannot take logarithm of zero' : 'cannot take logarithm of a negative number')
const overflow = (): SluiceError => new SluiceError('execution', SqlState.numericValueOutOfRange, 'value overflows numeric format')
const powerError = (msg: string): SluiceError => new SluiceError('execution', SqlState.invalidArgumentForPowerFunction, msg)

/** a / b rounded half away from zero. */
function divRound(a: bigint, b: bigint): bigint {
  if (b < 0n) return divRound(-a, -b)
  const q = a / b
  const r = a % b
  if (2n * (r < 0n ? -r : r) >= b) return a < 0n ? q - 1n : q + 1n
  return q
}

/** A fixed-point value (units of 10^-p) as a numeric at `scale`, rounded half away from zero. */
function fromFixed(v: bigint, p: number, scale: number): Numeric {
  return new Numeric(p > scale ? divRound(v, pow10(p - scale)) : v * pow10(scale - p), scale)
}

/** A finite numeric in units of 10^-p (truncated if it has more digits). */
const toFixed = (n: Numeric, p: number): bigint => (p >= n.s ? n.u * pow10(p - n.s) : n.u / pow10(n.s - p))

export function isqrt(v: bigint): bigint {
  if (v < 2n) return v
  // Newton from above: an initial guess of 2^ceil(bits / 2) is never below the root.
  let x = 1n << BigInt(Math.ceil(v.toString(2).length / 2))
  for (;;) {
    const y = (x + v / x) >> 1n
    if (y >= x) return x
    x = y
  }
}

/** The decimal digits before the point of a positive numeric minus one: x = y * 10^k, 1 <= y < 10. */
function decimalExponent(n: Numeric): number {
  return n.u.toString().length - 1 - n.s
}

/** log10 |x| of a finite non-zero numeric in double precision, without overflowing for huge values. */
function log10Abs(n: Numeric): number {
  const digits = (n.u < 0n ? -n.u : n.u).toString()
  return digits.length - 1 - n.s + Math.log10(Number(`${digits[0]}.${digits.slice(1, 17)}`))
}

/** ln(y) for 1 <= y < 10 (or any y near 1) given in units of 10^-p, the result in units of 10^-p. */
function lnFixed(y: bigint, p: number): bigint {
  const one = pow10(p)
  // Square roots until |y - 1| < 0.01: each halves ln(y); the result is doubled back exactly.
  let halvings = 0
  const near = one / 100n
  while ((y > one ? y - one : one - y) > near) {
    y = isqrt(y * one)
    halvings++
  }
  // ln(y) = 2 atanh(z), z = (y - 1) / (y + 1); atanh(z) = z + z^3/3 + z^5/5 + ...
  const z = ((y - one) * one) / (y + one)
  const z2 = (z * z) / one
  let power = z
  let sum = z
  for (let k = 3n; ; k += 2n) {
    power = (power * z2) / one
    if (power === 0n) break
    sum += power / k
  }
  return (sum * 2n) << BigInt(halvings)
}

const LN10 = new Map<number, bigint>()
function ln10(p: number): bigint {
  let v = LN10.get(p)
  if (v === undefined) {
    v = lnFixed(10n * pow10(p + 8), p + 8) / pow10(8)
    if (LN10.size > 16) LN10.clear()
    LN10.set(p, v)
  }
  return v
}

/** ln of a positive finite numeric in units of 10^-p (absolute error well under 10^-(p - 4)). */
function lnOf(n: Numeric, p: number): bigint {
  const k = decimalExponent(n)
  // Extra digits for k ln 10 and the square roots' rounding.
  const w = p + String(Math.abs(k)).length + 6
  const y = toFixed(new Numeric(n.u, n.s + k), w)
  const out = lnFixed(y, w) + BigInt(k) * ln10(w)
  return out / pow10(w - p)
}

/** PostgreSQL's estimate of the decimal weight of ln(x) (x > 0), which sets ln's and log's scale. */
function lnDecimalWeight(n: Numeric): number {
  const cmpNear = numCmp(n, new Numeric(9n, 1)) >= 0 && numCmp(n, new Numeric(11n, 1)) <= 0
  if (cmpNear) {
    const d = n.u - pow10(n.s)
    if (d === 0n) return 0
    // The weight of the leading base-10000 digit of x - 1, plus that digit's decimal length - 1.
    const [weight, digit] = firstDigit(new Numeric(d < 0n ? -d : d, n.s))
    return weight * 4 + Math.floor(Math.log10(digit))
  }
  // ln(x) ~ ln(first two base-10000 digits) + their decimal weight * ln 10.
  const [weight] = firstDigit(n)
  const digits = n.u.toString()
  const intLen = digits.length - n.s
  // The decimal position where the first base-10000 group starts, and eight digits from it.
  const groupStart = (weight + 1) * 4
  const lead = groupStart - intLen
  const eight = ('0'.repeat(Math.max(0, lead)) + digits).slice(0, 8).padEnd(8, '0')
  const lnVar = Math.log(Number(eight)) + (weight * 4 - 4) * 2.302585092994046
  return Math.trunc(Math.log10(Math.abs(lnVar)))
}

function checkLogArg(n: Numeric): void {
  if (n.k === NumKind.NegInf || n.u < 0n) throw invalidLog(false)
  if (n.k === NumKind.Finite && n.u === 0n) throw invalidLog(true)
}

export function numLn(x: Num): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NaN || n.k === NumKind.PosInf) return n
  checkLogArg(n)
  const rscale = clampScale(Math.max(MIN_SIG_DIGITS - lnDecimalWeight(n), n.s))
  const p = rscale + GUARD
  return fromFixed(lnOf(n, p), p, rscale)
}

/** log(b, x): ln(x) / ln(b) at PostgreSQL's scale. */
export function numLog(b: Num, x: Num): Numeric {
  const base = toNumeric(b)
  const n = toNumeric(x)
  if (base.k === NumKind.NaN || n.k === NumKind.NaN) return NUMERIC_NAN
  checkLogArg(base)
  checkLogArg(n)
  if (base.k === NumKind.PosInf) {
    if (n.k === NumKind.PosInf) return NUMERIC_NAN
    return new Numeric(0n, 0)
  }
  if (n.k === NumKind.PosInf) return NUMERIC_POS_INF
  const rscale = clampScale(Math.max(MIN_SIG_DIGITS - (lnDecimalWeight(n) - lnDecimalWeight(base)), base.s, n.s))
  // ln(b) may be tiny (b near 1): enough digits that the quotient keeps rscale + GUARD.
  const lnBaseWeight = Math.min(0, lnDecimalWeight(base))
  const lnNumWeight = Math.max(0, lnDecimalWeight(n))
  const p = rscale + GUARD + lnNumWeight - 2 * lnBaseWeight + 4
  const lb = lnOf(base, p)
  if (lb === 0n) throw new SluiceError('execution', SqlState.divisionByZero, 'division by zero')
  const ln = lnOf(n, p)
  return new Numeric(divRound(ln * pow10(rscale), lb), rscale)
}

export const numLog10 = (x: Num): Numeric => numLog(10, x)

/** exp of a finite value given in units of 10^-p, in units of 10^-p; `digits` bounds the result's integer digits. */
function expFixed(x: bigint, p: number): bigint {
  const neg = x < 0n
  const ax = neg ? -x : x
  const one = pow10(p)
  if (neg) {
    const e = expFixed(ax, p)
    return divRound(one * one, e)
  }
  // Halve until below 0.01, then square back; extra digits cover the squarings' growth of the error.
  let halvings = 0
  let limit = ax
  while (limit > one / 100n) {
    limit >>= 1n
    halvings++
  }
  const intDigits = Number((ax * 4343n) / 10000n / one) + 2
  const w = p + intDigits + Math.ceil(halvings * 0.302) + 4
  const wone = pow10(w)
  const r = (ax * pow10(w - p)) >> BigInt(halvings)
  let term = wone
  let sum = wone
  for (let k = 1n; ; k++) {
    term = (term * r) / wone / k
    if (term === 0n) break
    sum += term
  }
  for (let i = 0; i < halvings; i++) sum = (sum * sum) / wone
  return sum / pow10(w - p)
}

export function numExp(x: Num): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NaN || n.k === NumKind.PosInf) return n
  if (n.k === NumKind.NegInf) return new Numeric(0n, 0)
  const val = numericToFloat(n)
  const weight = Math.min(Math.max(val * 0.434294481903252, -MAX_RESULT_SCALE), MAX_RESULT_SCALE)
  const rscale = clampScale(Math.max(MIN_SIG_DIGITS - Math.trunc(weight), n.s))
  if (Math.abs(val) >= MAX_RESULT_SCALE * 3) {
    if (val > 0) throw overflow()
    return new Numeric(0n, rscale)
  }
  const p = rscale + GUARD
  return fromFixed(expFixed(toFixed(n, p + 4), p + 4), p + 4, rscale)
}

const isIntegral = (n: Numeric): boolean => n.k === NumKind.Finite && n.u % pow10(n.s) === 0n

/** x ^ y: exact for an integral exponent, exp(y ln x) otherwise, at PostgreSQL's scale. */
export function numPower(x: Num, y: Num): Numeric {
  const a = toNumeric(x)
  const b = toNumeric(y)
  if (a.k !== NumKind.Finite || b.k !== NumKind.Finite) return specialPower(a, b)
  if (a.u === 0n && b.u < 0n) throw powerError('zero raised to a negative power is undefined')
  if (a.u < 0n && !isIntegral(b)) throw powerError('a negative number raised to a non-integer power yields a complex result')
  const e = b.u / pow10(b.s)
  if (isIntegral(b) && e >= -2147483648n && e <= 2147483647n) {
    const rscale = clampScale(Math.max(MIN_SIG_DIGITS, a.s, b.s))
    if (e === 0n) return new Numeric(pow10(rscale), rscale)
    if (a.u === 0n) return new Numeric(0n, rscale)
    const approx = Number(e) * log10Abs(a)
    // A numeric has at most 131072 digits before the point.
    if (approx > 131072) throw overflow()
    if (approx < -(MAX_DISPLAY_SCALE + 2)) return new Numeric(0n, rscale)
    const ae = e < 0n ? -e : e
    if (a.u.toString().length * Number(ae) > EXACT_POWER_DIGITS + 2 * Math.max(0, approx)) {
      // Too many digits to form exactly: exp(y ln |x|) to the digits the scale keeps, the sign by parity.
      const v = expOfProduct(new Numeric(a.u < 0n ? -a.u : a.u, a.s), b, rscale, Math.max(0, Math.ceil(approx)))
      return a.u < 0n && ae % 2n === 1n ? new Numeric(-v.u, v.s) : v
    }
    const num = a.u ** ae
    const den = pow10(a.s * Number(ae))
    return new Numeric(e > 0n ? divRound(num * pow10(rscale), den) : divRound(den * pow10(rscale), num), rscale)
  }
  if (a.u === 0n) return new Numeric(0n, MIN_SIG_DIGITS)
  // val: ln(result), estimated in double precision, sets the scale as PostgreSQL's does.
  const val = log10Abs(a) * Math.LN10 * numericToFloat(b)
  if (Math.abs(val) > MAX_RESULT_SCALE * 3.01) {
    if (val > 0) throw overflow()
    return new Numeric(0n, MAX_DISPLAY_SCALE)
  }
  const weight = val * 0.434294481903252
  const rscale = clampScale(Math.max(MIN_SIG_DIGITS - Math.trunc(weight), a.s, b.s))
  if (Math.abs(val) >= MAX_RESULT_SCALE * 3) {
    if (val > 0) throw overflow()
    return new Numeric(0n, rscale)
  }
  return expOfProduct(a, b, rscale, Math.max(0, Math.ceil(weight)))
}

/** exp(y ln x) for x > 0 at `rscale`, the result having up to `intDigits` digits before the point. */
function expOfProduct(a: Numeric, b: Numeric, rscale: number, intDigits: number): Numeric {
  // ln(x) * y must be exact to the result's significant digits plus its integer digits.
  const p = rscale + intDigits + GUARD
  const yDigits = Math.max(0, decimalExponent(new Numeric(b.u < 0n ? -b.u : b.u, b.s))) + 2
  const lnx = lnOf(a, p + yDigits)
  const prod = (lnx * b.u) / pow10(b.s + yDigits)
  return fromFixed(expFixed(prod, p), p, rscale)
}

/** PostgreSQL's answers for NaN and the infinities in power (numeric_power). */
function specialPower(a: Numeric, b: Numeric): Numeric {
  const one = new Numeric(1n, 0)
  if (a.k === NumKind.NaN || b.k === NumKind.NaN) {
    if (a.k === NumKind.NaN) return b.k === NumKind.Finite && b.u === 0n ? one : NUMERIC_NAN
    return a.k === NumKind.Finite && a.u === pow10(a.s) ? one : NUMERIC_NAN
  }
  // Infinities, by the sign rules of the float8 power function (which PostgreSQL follows).
  const r = Math.pow(numericToFloat(a), numericToFloat(b))
  if (a.k === NumKind.Finite && a.u === 0n && numericToFloat(b) < 0) throw powerError('zero raised to a negative power is undefined')
  if (a.k === NumKind.NegInf && b.k === NumKind.Finite && !isIntegral(b) && numericToFloat(b) > 0) return NUMERIC_POS_INF
  if (Number.isNaN(r)) return NUMERIC_NAN
  if (r === Infinity) return NUMERIC_POS_INF
  if (r === -Infinity) return new Numeric(0n, 0, NumKind.NegInf)
  return r === 0 ? new Numeric(0n, 0) : one
}
