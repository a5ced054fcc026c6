/**
 * stddev / variance over integers and numeric, in numeric as PostgreSQL computes them
 * (numeric_stddev_internal): exact sums of x and x², then (N Σx² - (Σx)²) / (N (N - 1)) (or / N² for the
 * population forms) at the division's scale (select_div_scale), and for stddev the square root at that same
 * scale. A non-positive numerator is 0; any NaN or infinity among the inputs makes the result NaN.
 */
import { Numeric, NumKind, NUMERIC_NAN, numDiv, numMul, numSub, pow10, toNumeric, type Num } from '../common/numeric.ts'
import { isqrt } from './numeric-transcendental.ts'

/** The variance (or, with `root`, the standard deviation) from the count and the sums; null when undefined. */
export function numVariance(n: number, sumX: Num, sumX2: Num, sample: boolean, root: boolean): Numeric | null {
  if (n === 0 || (sample && n <= 1)) return null
  const sx = toNumeric(sumX)
  const sxx = toNumeric(sumX2)
  if (sx.k !== NumKind.Finite || sxx.k !== NumKind.Finite) return NUMERIC_NAN
  const numerator = numSub(numMul(n, sxx), numMul(sx, sx))
  if (numerator.u <= 0n) return new Numeric(0n, 0)
  const variance = numDiv(numerator, sample ? n * (n - 1) : n * n)
  return root ? sqrtAtScale(variance) : variance
}

/** sqrt of a positive value at its own scale, rounded half up on the digit after. */
function sqrtAtScale(v: Numeric): Numeric {
  const r = isqrt(v.u * pow10(2 * (v.s + 1) - v.s))
  const q = r / 10n
  return new Numeric(r % 10n >= 5n ? q + 1n : q, v.s)
}
