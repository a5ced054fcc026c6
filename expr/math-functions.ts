/**
 * sqrt, ln, exp, power and sign with PostgreSQL's checks: where JavaScript's Math answers NaN or an
 * infinity for a finite argument, PostgreSQL raises (2201F for a square root or power with no real result,
 * 2201E for the logarithm of zero or a negative, 22003 when the result overflows or underflows). NaN and the
 * infinities given as arguments pass through as PostgreSQL's float8 functions let them.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

const overflow = (): SluiceError => new SluiceError('execution', SqlState.numericValueOutOfRange, 'value out of range: overflow')
const underflow = (): SluiceError => new SluiceError('execution', SqlState.numericValueOutOfRange, 'value out of range: underflow')
const noRealResult = (message: string): SluiceError => new SluiceError('execution', SqlState.invalidArgumentForPowerFunction, message)

export function sqrtChecked(x: number): number {
  if (x < 0) throw noRealResult('cannot take square root of a negative number')
  return Math.sqrt(x)
}

export function lnChecked(x: number): number {
  if (x === 0) throw new SluiceError('execution', SqlState.invalidArgumentForLog, 'cannot take logarithm of zero')
  if (x < 0) throw new SluiceError('execution', SqlState.invalidArgumentForLog, 'cannot take logarithm of a negative number')
  return Math.log(x)
}

export function expChecked(x: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x)) return x > 0 || Number.isNaN(x) ? x : 0
  const r = Math.exp(x)
  if (!Number.isFinite(r)) throw overflow()
  if (r === 0) throw underflow()
  return r
}

export function powerChecked(x: number, y: number): number {
  // POSIX pow, as PostgreSQL follows it: 1 to any power and anything to the power 0 are 1, even NaN.
  if (Number.isNaN(x)) return y === 0 ? 1 : x
  if (Number.isNaN(y)) return x === 1 ? 1 : y
  if (x === 0 && y < 0) throw noRealResult('zero raised to a negative power is undefined')
  if (x < 0 && Number.isFinite(y) && Math.floor(y) !== y) throw noRealResult('a negative number raised to a non-integer power yields a complex result')
  if (!Number.isFinite(y) && Math.abs(x) === 1) return 1
  const r = Math.pow(x, y)
  if (Number.isFinite(x) && Number.isFinite(y)) {
    if (!Number.isFinite(r)) throw overflow()
    if (r === 0 && x !== 0) throw underflow()
  }
  return r
}

/** -1, 0 or 1; NaN and -0 give 0 as in PostgreSQL (Math.sign gives NaN and -0). */
export const signOf = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0)

/** rint: halves go to the even neighbour, as PostgreSQL rounds a double precision. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x
  const r = Math.round(x)
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r
}
