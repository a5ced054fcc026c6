/**
 * numeric operators and functions, exact (common/numeric.ts): + - * / % with PostgreSQL's scales,
 * comparisons, abs/sign/ceil/floor/round/trunc/mod/div/scale, and sqrt to the digit. A numeric meeting a
 * float gives a float (PostgreSQL's implicit cast), handled by the callers' float code. exp, ln, log and
 * power are exact to PostgreSQL's result scale (numeric-transcendental.ts).
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import {
  Numeric,
  NumKind,
  numAbs,
  numCeilFloor,
  numCmp,
  numDivTrunc,
  numMod,
  numRound,
  numSign,
  numTrunc,
  firstDigit,
  pow10,
  toNumeric,
  type Num,
} from '../common/numeric.ts'
import { Types, isNumeric, type SqlType } from '../common/types.ts'
import type { EmitContext, Resolved, ScalarImpl } from './bound.ts'
import { numExp, numLn, numLog, numLog10, numPower } from './numeric-transcendental.ts'

const strict = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, emit })

export const isNumericType = (t: SqlType): boolean => !t.element && t.name === 'numeric'
const isFloatType = (t: SqlType): boolean => !t.element && (t.name === 'float4' || t.name === 'float8')

/** Both operands numbers, at least one numeric, neither a float: the operation is numeric's. */
const exactPair = (a: SqlType, b: SqlType): boolean =>
  isNumeric(a) && isNumeric(b) && (isNumericType(a) || isNumericType(b)) && !isFloatType(a) && !isFloatType(b)

const OPS: Record<string, string> = { '+': 'numAdd', '-': 'numSub', '*': 'numMul', '/': 'numDiv', '%': 'numMod' }

/** Arithmetic with a numeric operand (and no float one); undefined for any other pair. */
export function numericArithmetic(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  if (!exactPair(a, b)) return undefined
  const fn = OPS[op]
  if (fn !== undefined) return { type: Types.numeric, impl: strict(([x, y]) => `H.${fn}(${x}, ${y})`) }
  if (op === '^') return { type: Types.numeric, impl: strict(([x, y], c) => `${c.constant(numPower)}(${x}, ${y})`) }
  return undefined
}

/**
 * A comparison with a numeric operand: by value (1.5 = 1.50) when the other is numeric or an integer, as
 * doubles when it is a float (PostgreSQL casts the numeric to float8 then).
 */
export function numericComparison(js: string, a: SqlType, b: SqlType): Resolved | undefined {
  if (!isNumeric(a) || !isNumeric(b) || (!isNumericType(a) && !isNumericType(b))) return undefined
  if (isFloatType(a) || isFloatType(b)) return { type: Types.bool, impl: strict(([x, y]) => `(+${x} ${js} +${y})`) }
  return { type: Types.bool, impl: strict(([x, y]) => `(H.numCmp(${x}, ${y}) ${js} 0)`) }
}

/** sqrt of a numeric to PostgreSQL's scale (numeric_sqrt), exactly rounded. */
export function numSqrt(x: Num): Numeric {
  const n = toNumeric(x)
  if (n.k === NumKind.NaN || n.k === NumKind.PosInf) return n
  if (n.k === NumKind.NegInf || n.u < 0n) throw new SluiceError('execution', SqlState.invalidArgumentForPowerFunction, 'cannot take square root of a negative number')
  // The base-10000 weight of the first digit, as PostgreSQL stores the value.
  const [weight] = firstDigit(n)
  const sweight = Math.trunc(((weight + 1) * 4) / 2) - 1
  const rscale = Math.min(Math.max(16 - sweight, n.s, 0), 1000)
  if (n.u === 0n) return new Numeric(0n, rscale)
  // floor(sqrt(n) * 10^(rscale + 1)), then rounded at the last digit.
  const e = 2 * (rscale + 1) - n.s
  const radicand = e >= 0 ? n.u * pow10(e) : n.u / pow10(-e)
  const r = isqrt(radicand)
  const q = r / 10n
  return new Numeric(r % 10n >= 5n ? q + 1n : q, rscale)
}

function isqrt(v: bigint): bigint {
  if (v < 2n) return v
  let x = BigInt(Math.floor(Math.sqrt(Number(v))))
  // Newton from a double estimate: a few steps from close by.
  for (;;) {
    const y = (x + v / x) >> 1n
    if (y >= x) {
      while (x * x > v) x--
      while ((x + 1n) * (x + 1n) <= v) x++
      return x
    }
    x = y
  }
}

/** scale(x): the display scale; NULL for NaN and the infinities. */
const numScale = (x: Num): number | null => {
  const n = toNumeric(x)
  return n.k === NumKind.Finite ? n.s : null
}

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

/** A numeric function of numeric arguments; an integer argument position (round's digits) stays int4. */
const numericFn = (arity: number, fn: (...a: never[]) => unknown, type: SqlType = Types.numeric, intArgs: readonly number[] = [], onlyNumeric = false): FunctionRule => (args) => {
  // onlyNumeric: PostgreSQL has no float form, so integer arguments are cast to numeric too (div(7, 2)).
  const exactArgs = onlyNumeric ? args.some((t, i) => !intArgs.includes(i) && !isFloatType(t)) : args.some(isNumericType)
  if (args.length !== arity || !exactArgs || !args.every((t) => isNumeric(t) || (t.name === 'unknown' && !t.element))) return undefined
  if (args.some((t, i) => isFloatType(t) && !intArgs.includes(i))) return undefined
  return {
    type,
    impl: strict((xs, c) => `${c.constant(fn)}(${xs.join(', ')})`),
    argTypes: args.map((_, i) => (intArgs.includes(i) ? Types.int4 : Types.numeric)),
  }
}

/**
 * Functions over numeric arguments (tried before the float / integer forms of the same name). Integer
 * arguments alone keep their existing (double precision) forms, as in PostgreSQL.
 */
export const NUMERIC_FUNCTIONS: Record<string, FunctionRule[]> = {
  abs: [numericFn(1, numAbs)],
  sign: [numericFn(1, numSign)],
  ceil: [numericFn(1, (x: Num) => numCeilFloor(x, true))],
  ceiling: [numericFn(1, (x: Num) => numCeilFloor(x, true))],
  floor: [numericFn(1, (x: Num) => numCeilFloor(x, false))],
  round: [numericFn(1, (x: Num) => numRound(x, 0)), numericFn(2, (x: Num, d: number) => numRound(x, d), Types.numeric, [1], true)],
  trunc: [numericFn(1, (x: Num) => numTrunc(x, 0)), numericFn(2, (x: Num, d: number) => numTrunc(x, d), Types.numeric, [1], true)],
  mod: [numericFn(2, numMod)],
  div: [numericFn(2, numDivTrunc, Types.numeric, [], true)],
  sqrt: [numericFn(1, numSqrt)],
  exp: [numericFn(1, numExp)],
  ln: [numericFn(1, numLn)],
  log: [numericFn(1, numLog10), numericFn(2, numLog, Types.numeric, [], true)],
  log10: [numericFn(1, numLog10)],
  power: [numericFn(2, numPower)],
  pow: [numericFn(2, numPower)],
  scale: [numericFn(1, numScale, Types.int4)],
}

/** The numeric form of a function for these argument types, if it has one. */
export function resolveNumericFunction(name: string, args: readonly SqlType[]): Resolved | undefined {
  const rules = NUMERIC_FUNCTIONS[name]
  if (rules === undefined) return undefined
  for (const r of rules) {
    const out = r(args)
    if (out !== undefined) return out
  }
  return undefined
}

/** numeric `=` for IN lists and IS DISTINCT FROM: by value. */
export const numericEquals = (a: Num, b: Num): boolean => numCmp(a, b) === 0
