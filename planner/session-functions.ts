/**
 * Functions analysts reach for beside the statistical aggregates: pg_typeof, gen_random_uuid (the uuid
 * type), width_bucket, log(b, x), div and trunc(x, n), with PostgreSQL's errors; and pg_export_snapshot. These are the double
 * precision forms; numeric arguments take the exact forms of expr/numeric-functions.ts first.
 */
import { randomUUID } from 'node:crypto'
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, isNumeric, typeDisplayName, type SqlType } from '../common/types.ts'
import type { EmitContext, ScalarImpl } from '../expr/bound.ts'
import type { Resolved } from './functions.ts'
import { T as PgT } from './pg-catalog.ts'
import { divisionByZero } from '../expr/runtime.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const pure = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, emit })
const isNum = (t: SqlType): boolean => isNumeric(t) || (t.name === 'unknown' && !t.element)
const isFloat = (t: SqlType): boolean => !t.element && (t.name === 'float4' || t.name === 'float8')

const bucketError = (message: string): SluiceError => new SluiceError('execution', SqlState.invalidArgumentForWidthBucket, message)

/** width_bucket(operand, low, high, count): which of `count` equal buckets between the bounds holds the operand (0 below, count + 1 above). */
export function widthBucket(operand: number, low: number, high: number, count: number): number {
  if (count <= 0) throw bucketError('count must be greater than zero')
  if (Number.isNaN(operand) || Number.isNaN(low) || Number.isNaN(high)) throw bucketError('operand, lower bound, and upper bound cannot be NaN')
  if (!Number.isFinite(low) || !Number.isFinite(high)) throw bucketError('lower and upper bounds must be finite')
  if (low === high) throw bucketError('lower bound cannot equal upper bound')
  if (low < high) {
    if (operand < low) return 0
    if (operand >= high) return count + 1
    return Math.floor((count * (operand - low)) / (high - low)) + 1
  }
  if (operand > low) return 0
  if (operand <= high) return count + 1
  return Math.floor((count * (low - operand)) / (low - high)) + 1
}

const logError = (zero: boolean): SluiceError =>
  new SluiceError('execution', SqlState.invalidArgumentForLog, zero ? 'cannot take logarithm of zero' : 'cannot take logarithm of a negative number')

/** log(x) base 10 and log(b, x), refusing zero and negatives as PostgreSQL does. */
export function logBase(b: number, x: number): number {
  if (b === 0 || x === 0) throw logError(true)
  if (b < 0 || x < 0) throw logError(false)
  const d = Math.log(b)
  if (d === 0) throw divisionByZero()
  return Math.log(x) / d
}

export const log10 = (x: number): number => {
  if (x === 0) throw logError(true)
  if (x < 0) throw logError(false)
  return Math.log10(x)
}

export function div(y: number, x: number): number {
  if (x === 0) throw divisionByZero()
  return Math.trunc(y / x)
}

/** trunc(x, n): x cut (towards zero) to n decimal places; n may be negative. */
export function truncTo(x: number, n: number): number {
  const f = 10 ** n
  const t = Math.trunc(x * f) / f
  // x * f may land a hair under the true product: a digit that is there must not be cut.
  const up = Math.trunc(Number((x * f).toPrecision(15))) / f
  return Math.abs(up) > Math.abs(t) ? up : t
}

/** pg_export_snapshot(): the session's transaction snapshot, for other sessions to import (server/transaction-snapshot.ts). */
export function exportSnapshot(ctx: { exportSnapshot?: () => string }): string {
  if (ctx.exportSnapshot === undefined) throw new SluiceError('execution', SqlState.featureNotSupported, 'pg_export_snapshot() can only be called in a query of a session')
  return ctx.exportSnapshot()
}

export const SESSION_FUNCTIONS: Record<string, FunctionRule> = {
  pg_export_snapshot: (args) => (args.length === 0 ? { type: Types.text, impl: { strict: false, volatile: true, emit: (_, c) => `${c.constant(exportSnapshot)}(ctx)` } } : undefined),
  // The type of the argument as the binder resolved it; PostgreSQL answers regtype, shown as its name.
  pg_typeof: (args) =>
    args.length === 1 ? { type: PgT.regtype, impl: { strict: false, emit: (_, c) => JSON.stringify(typeDisplayName(c.argTypes[0]!)) }, argTypes: args } : undefined,
  gen_random_uuid: (args) => (args.length === 0 ? { type: Types.uuid, impl: { strict: false, volatile: true, emit: (_, c) => `${c.constant(randomUUID)}()` } } : undefined),
  width_bucket: (args) =>
    args.length === 4 && args.slice(0, 3).every(isNum) && isNum(args[3]!)
      ? { type: Types.int4, impl: pure((xs, c) => `${c.constant(widthBucket)}(${xs.map((x) => `+${x}`).join(', ')})`), argTypes: [...args.slice(0, 3).map((a) => (isFloat(a) ? Types.float8 : Types.numeric)), Types.int4] }
      : undefined,
  log: (args) => {
    if (args.length === 1 && isNum(args[0]!)) {
      // log(integer) is log(double precision) in PostgreSQL; numeric's is in expr/numeric-functions.ts.
      const t = args[0]!.name === 'numeric' ? Types.numeric : Types.float8
      return { type: t, impl: pure(([x], c) => `${c.constant(log10)}(${x})`), argTypes: [t] }
    }
    if (args.length === 2 && args.every(isNum)) return { type: Types.numeric, impl: pure(([b, x], c) => `${c.constant(logBase)}(${b}, ${x})`), argTypes: [Types.numeric, Types.numeric] }
    return undefined
  },
  log10: (args) => (args.length === 1 ? SESSION_FUNCTIONS.log!(args) : undefined),
  div: (args) => (args.length === 2 && args.every(isNum) ? { type: Types.numeric, impl: pure(([y, x], c) => `${c.constant(div)}(${y}, ${x})`), argTypes: [Types.numeric, Types.numeric] } : undefined),
  trunc: (args) => {
    // An integer is truncated as a double, as PostgreSQL has trunc(double precision) and trunc(numeric) only.
    if (args.length === 1 && isNum(args[0]!)) {
      const t = args[0]!.name === 'numeric' ? Types.numeric : Types.float8
      return { type: t, impl: pure(([x]) => `Math.trunc(${x})`), argTypes: [t] }
    }
    if (args.length === 2 && isNum(args[0]!) && isNum(args[1]!)) return { type: Types.numeric, impl: pure(([x, n], c) => `${c.constant(truncTo)}(${x}, ${n})`), argTypes: [Types.numeric, Types.int4] }
    return undefined
  },
}
