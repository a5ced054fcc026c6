/**
 * Compiles bound expressions to JavaScript functions, once per query. The generated code assigns each
 * sub-expression to a temporary, checks nulls only where a strict function needs it, short-circuits
 * AND/OR/CASE with SQL three-valued logic, and keeps non-literal constants in a table `K`. Nothing walks an
 * expression tree per event.
 */
import { internalError } from '../common/errors.ts'
import { isNumeric, typeDisplayName, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr, EmitContext } from './bound.ts'
import { isZoneCast, zoneCast } from './time-zone-eval.ts'
import { Runtime, type EvalContext } from './runtime.ts'

/** `r` = input row, `p` = statement parameters, `ctx` = clock and session, `a` = finalized aggregates. */
export type CompiledExpr = (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value

interface Generated {
  /** Statements to run first. */
  readonly code: string
  /** A side-effect-free JS expression for the value afterwards. */
  readonly value: string
}

export class Emitter {
  private temps = 0
  readonly constants: unknown[] = []

  temp(): string {
    return `t${this.temps++}`
  }

  declarations(): string {
    if (this.temps === 0) return ''
    return `let ${Array.from({ length: this.temps }, (_, i) => `t${i}`).join(', ')};\n`
  }

  constant(value: unknown): string {
    this.constants.push(value)
    return `K[${this.constants.length - 1}]`
  }

  literal(v: Value): string {
    if (v === null) return 'null'
    if (typeof v === 'boolean') return String(v)
    // String(-0) is '0': a double's -0 (PostgreSQL shows it) is written so that it stays -0.
    if (typeof v === 'number') return Object.is(v, -0) ? '(-0)' : Number.isFinite(v) ? String(v) : this.constant(v)
    if (typeof v === 'string') return JSON.stringify(v)
    return this.constant(v)
  }

  gen(e: BoundExpr): Generated {
    switch (e.kind) {
      case 'column':
        return { code: '', value: `r[${e.index}]` }
      case 'const':
        return { code: '', value: this.literal(e.value) }
      case 'param':
        return { code: '', value: `p[${e.index}]` }
      case 'agg_ref':
        return { code: '', value: `a[${e.index}]` }
      case 'call':
        return this.call(e.impl.strict, e.args, (values) => {
          const ctx: EmitContext = { constant: (v) => this.constant(v), argTypes: e.args.map(typeOf) }
          return e.impl.emit(values, ctx)
        })
      case 'cast': {
        const from = typeOf(e.expr)
        return this.call(true, [e.expr], ([v]) => castCode(v!, from, e.type, this))
      }
      case 'is_null': {
        const inner = this.gen(e.expr)
        return { code: inner.code, value: `(${inner.value} ${e.negated ? '!==' : '==='} null)` }
      }
      case 'logic':
        return e.op === 'not' ? this.not(e.args[0]!) : this.andOr(e.op, e.args)
      case 'case':
        return this.caseExpr(e.whens, e.else)
      case 'in_list':
        return this.inList(e.expr, e.list, e.negated)
    }
  }

  private call(strict: boolean, args: readonly BoundExpr[], emit: (values: readonly string[]) => string): Generated {
    const gens = args.map((a) => this.gen(a))
    const t = this.temp()
    // Arguments that are plain reads are used directly; anything computed already sits in a temporary.
    const values = gens.map((g) => g.value)
    const prelude = gens.map((g) => g.code).join('')
    if (!strict || values.length === 0) return { code: `${prelude}${t} = ${emit(values)};\n`, value: t }
    const nullable = values.filter((v) => v !== 'null' && !/^(-?\d|"|true|false)/.test(v))
    if (values.includes('null')) return { code: `${prelude}${t} = null;\n`, value: t }
    if (nullable.length === 0) return { code: `${prelude}${t} = ${emit(values)};\n`, value: t }
    const guard = nullable.map((v) => `${v} === null`).join(' || ')
    return { code: `${prelude}${t} = (${guard}) ? null : ${emit(values)};\n`, value: t }
  }

  private not(arg: BoundExpr): Generated {
    const g = this.gen(arg)
    const t = this.temp()
    return { code: `${g.code}${t} = ${g.value} === null ? null : !${g.value};\n`, value: t }
  }

  /**
   * AND stops at the first FALSE, OR at the first TRUE; a NULL along the way makes the result NULL otherwise.
   * The code is flat (a labelled block left with `break`), not one nested `else` per argument: a list of
   * thousands of arguments must not nest the generated code (nor this function's recursion) as deep.
   */
  private andOr(op: 'and' | 'or', args: readonly BoundExpr[]): Generated {
    const t = this.temp()
    const stop = op === 'and' ? 'false' : 'true'
    const identity = op === 'and' ? 'true' : 'false'
    let code = `${t} = ${identity};\nb_${t}: {\n`
    for (const arg of args) {
      const g = this.gen(arg)
      code += `${g.code}if (${g.value} === ${stop}) { ${t} = ${stop}; break b_${t}; }\nif (${g.value} === null) ${t} = null;\n`
    }
    return { code: `${code}}\n`, value: t }
  }

  /** The first WHEN that is true gives the value; flat like `andOr`. */
  private caseExpr(whens: readonly { when: BoundExpr; then: BoundExpr }[], otherwise: BoundExpr | null): Generated {
    const t = this.temp()
    let code = `b_${t}: {\n`
    for (const { when, then } of whens) {
      const w = this.gen(when)
      const th = this.gen(then)
      code += `${w.code}if (${w.value} === true) {\n${th.code}${t} = ${th.value};\nbreak b_${t};\n}\n`
    }
    if (otherwise === null) code += `${t} = null;\n`
    else {
      const g = this.gen(otherwise)
      code += `${g.code}${t} = ${g.value};\n`
    }
    return { code: `${code}}\n`, value: t }
  }

  private inList(expr: BoundExpr, list: readonly BoundExpr[], negated: boolean): Generated {
    const x = this.gen(expr)
    const t = this.temp()
    const yes = negated ? 'false' : 'true'
    const no = negated ? 'true' : 'false'
    const allPrimitiveConsts = list.every(
      (e) => e.kind === 'const' && (typeof e.value === 'number' || typeof e.value === 'string' || typeof e.value === 'boolean' || e.value === null),
    )
    if (allPrimitiveConsts) {
      const values = list.map((e) => (e as { value: Value }).value)
      const hasNull = values.includes(null)
      const set = this.constant(new Set(values.filter((v) => v !== null)))
      return {
        code: `${x.code}${t} = ${x.value} === null ? null : ${set}.has(${x.value}) ? ${yes} : ${hasNull ? 'null' : no};\n`,
        value: t,
      }
    }
    let code = `${x.code}b_${t}: {\nif (${x.value} === null) { ${t} = null; break b_${t}; }\n${t} = ${no};\n`
    for (const item of list) {
      const g = this.gen(item)
      code += `${g.code}if (${g.value} === null) ${t} = null;\nelse if (H.equalValues(${x.value}, ${g.value})) { ${t} = ${yes}; break b_${t}; }\n`
    }
    return { code: `${code}}\n`, value: t }
  }
}

function castCode(v: string, from: SqlType, to: SqlType, emitter: Emitter): string {
  if (!from.element && !to.element && to.name === 'numeric' && isNumeric(from)) {
    // Exact from integers, float8's 15 digits from floats; numeric(p, s) rounds and checks the precision.
    if (to.precision !== undefined) return `H.applyTypmod(${v}, ${to.precision}, ${to.scale ?? 0})`
    return from.name === 'numeric' ? v : `H.toNumeric(${v})`
  }
  if (from.name === to.name && !!from.element === !!to.element) return v
  if (isZoneCast(from, to)) return `${emitter.constant(zoneCast)}(${v}, ${emitter.constant(from)}, ${emitter.constant(to)}, ctx)`
  if (!from.element && !to.element && from.name === 'numeric' && isNumeric(to)) {
    if (to.name === 'int2' || to.name === 'int4' || to.name === 'int8') return `H.checkedInt(H.numericToInteger(${v}, ${JSON.stringify(typeDisplayName(to))}), ${emitter.constant(to)})`
    return to.name === 'float4' ? `Math.fround(+${v})` : `(+${v})`
  }
  if (!from.element && !to.element && isNumeric(from) && isNumeric(to)) {
    if (to.name === 'int2' || to.name === 'int4' || to.name === 'int8') return `H.checkedInt(H.roundTo(${v}, 0), ${emitter.constant(to)})`
    return v
  }
  // An integer as text (a trigger's `NEW.player_id::text` payload, once per firing): what formatValue gives, inline.
  if (!from.element && !to.element && (to.name === 'text' || to.name === 'unknown') && (from.name === 'int2' || from.name === 'int4' || from.name === 'int8')) {
    return `(typeof ${v} === 'number' ? String(Math.trunc(${v})) : H.castValue(${v}, ${emitter.constant(from)}, ${emitter.constant(to)}))`
  }
  return `H.castValue(${v}, ${emitter.constant(from)}, ${emitter.constant(to)})`
}

export function typeOf(e: BoundExpr): SqlType {
  return e.type
}

export function build(body: string, constants: unknown[], params = 'r, p, ctx, a'): CompiledExpr {
  try {
    const factory = new Function('H', 'K', `"use strict";\nreturn function compiled(${params}) {\n${body}}`) as (
      h: typeof Runtime,
      k: unknown[],
    ) => CompiledExpr
    return factory(Runtime, constants)
  } catch (err) {
    throw internalError(`generated code does not compile: ${(err as Error).message}\n${body}`, err)
  }
}

/** Compiles one expression into `(row, params, ctx, aggs) => value`. */
export function compileExpr(e: BoundExpr): CompiledExpr {
  return memo(compiledExprs, e, () => {
    const emitter = new Emitter()
    const g = emitter.gen(e)
    return build(`${emitter.declarations()}${g.code}return ${g.value};\n`, emitter.constants)
  })
}

/**
 * Compiled code by the bound tree it came from: a pull query's plan is reused while the catalog stays, and
 * its expressions then compile once, not once per execution. Compiled functions keep no state between calls.
 */
const compiledExprs = new WeakMap<object, CompiledExpr>()
const compiledPredicates = new WeakMap<object, (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => boolean>()
const compiledProjections = new WeakMap<object, (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value[]>()

function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: () => V): V {
  let v = cache.get(key)
  if (v === undefined) {
    v = make()
    cache.set(key, v)
  }
  return v
}

/** Compiles a predicate: true only when the expression is TRUE (NULL and FALSE both reject). */
export function compilePredicate(e: BoundExpr): (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => boolean {
  return memo(compiledPredicates, e, () => {
    const emitter = new Emitter()
    const g = emitter.gen(e)
    return build(`${emitter.declarations()}${g.code}return ${g.value} === true;\n`, emitter.constants) as never
  })
}

/** Compiles a list of expressions into one function that builds the output row. */
export function compileProjection(exprs: readonly BoundExpr[]): (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value[] {
  return memo(compiledProjections, exprs, () => {
    const emitter = new Emitter()
    const parts = exprs.map((e) => emitter.gen(e))
    const code = parts.map((g) => g.code).join('')
    return build(`${emitter.declarations()}${code}return [${parts.map((g) => g.value).join(', ')}];\n`, emitter.constants) as never
  })
}

/** The generated source, for EXPLAIN VERBOSE and tests. */
export function generatedSource(e: BoundExpr): string {
  const emitter = new Emitter()
  const g = emitter.gen(e)
  return `${emitter.declarations()}${g.code}return ${g.value};`
}
