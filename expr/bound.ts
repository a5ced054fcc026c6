/**
 * Bound expressions: names resolved to column indexes, types known, functions chosen. The planner produces
 * them from AST expressions; `compile.ts` turns a tree of them into one JavaScript function, once per query.
 */
import type { SqlType, Value } from '../common/types.ts'
import type { Span } from '../common/errors.ts'

export type BoundExpr =
  | BoundColumn
  | BoundConst
  | BoundParam
  | BoundCall
  | BoundLogic
  | BoundCase
  | BoundCast
  | BoundIsNull
  | BoundInList
  | BoundAggRef

/** The value of input column `index` of the row. */
export interface BoundColumn {
  readonly kind: 'column'
  readonly index: number
  readonly name: string
  readonly type: SqlType
}

export interface BoundConst {
  readonly kind: 'const'
  readonly value: Value
  readonly type: SqlType
}

/** `$n` of the extended protocol (0-based index here). */
export interface BoundParam {
  readonly kind: 'param'
  readonly index: number
  readonly type: SqlType
}

/**
 * How a scalar function or operator turns into JavaScript. `emit` receives the JS expressions of its
 * arguments (temporaries; already known to be non-null when `strict`) and returns a JS expression.
 */
export interface ScalarImpl {
  /** Null in any argument gives null without calling the function (most SQL functions). */
  readonly strict: boolean
  /** Reads the clock or randomness: never folded into a constant. */
  readonly volatile?: boolean
  readonly emit: (args: readonly string[], ctx: EmitContext) => string
}

/** What an emitter may ask of the compiler: a slot for a constant, and the call's argument types. */
export interface EmitContext {
  /** A JS expression that evaluates to `value` (held in the compiled function's constant table). */
  constant(value: unknown): string
  readonly argTypes: readonly SqlType[]
}

/** A scalar function or operator call, `fn` being its SQL name for EXPLAIN. */
export interface BoundCall {
  readonly kind: 'call'
  readonly fn: string
  readonly impl: ScalarImpl
  readonly args: readonly BoundExpr[]
  readonly type: SqlType
}

/** AND / OR / NOT with SQL three-valued logic. */
export interface BoundLogic {
  readonly kind: 'logic'
  readonly op: 'and' | 'or' | 'not'
  readonly args: readonly BoundExpr[]
  readonly type: SqlType
}

export interface BoundCase {
  readonly kind: 'case'
  readonly whens: readonly { readonly when: BoundExpr; readonly then: BoundExpr }[]
  readonly else: BoundExpr | null
  readonly type: SqlType
}

export interface BoundCast {
  readonly kind: 'cast'
  readonly expr: BoundExpr
  readonly type: SqlType
}

export interface BoundIsNull {
  readonly kind: 'is_null'
  readonly expr: BoundExpr
  readonly negated: boolean
  readonly type: SqlType
}

export interface BoundInList {
  readonly kind: 'in_list'
  readonly expr: BoundExpr
  readonly list: readonly BoundExpr[]
  readonly negated: boolean
  readonly type: SqlType
}

/** The finalized value of aggregate `index` of the current group (after GROUP BY). */
export interface BoundAggRef {
  readonly kind: 'agg_ref'
  readonly index: number
  readonly type: SqlType
}

/** A named, typed output of a plan node. */
export interface OutputColumn {
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
  /** Where the user wrote it, for errors that point back at a select item. */
  readonly span?: Span
}

export function children(e: BoundExpr): readonly BoundExpr[] {
  switch (e.kind) {
    case 'column':
    case 'const':
    case 'param':
    case 'agg_ref':
      return []
    case 'call':
    case 'logic':
      return e.args
    case 'case':
      return [...e.whens.flatMap((w) => [w.when, w.then]), ...(e.else ? [e.else] : [])]
    case 'cast':
    case 'is_null':
      return [e.expr]
    case 'in_list':
      return [e.expr, ...e.list]
  }
}

/** True if the expression reads nothing from the row (constants, params and pure functions of them). */
export function isConstant(e: BoundExpr): boolean {
  if (e.kind === 'column' || e.kind === 'agg_ref') return false
  if (e.kind === 'call' && e.impl.volatile) return false
  return children(e).every(isConstant)
}

export function columnsUsed(e: BoundExpr, out = new Set<number>()): Set<number> {
  if (e.kind === 'column') out.add(e.index)
  for (const c of children(e)) columnsUsed(c, out)
  return out
}

/** A function or operator resolved for its argument types: its result type and its code. */
export interface Resolved {
  readonly type: SqlType
  readonly impl: ScalarImpl
  /** Types the arguments must be cast to first (same length as the arguments); undefined means as they are. */
  readonly argTypes?: readonly SqlType[]
}
