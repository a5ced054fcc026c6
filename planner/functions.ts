/**
 * Scalar functions and operators: type resolution and how each becomes JavaScript. One table per family;
 * the binder calls `resolveOperator` / `resolveFunction` with argument types and gets back the result type
 * and a ScalarImpl, or undefined when no signature fits (the binder then raises 42883 with a position).
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, arrayOf, isInteger, isNumeric, isTemporal, type SqlType, type TypeName } from '../common/types.ts'
import type { EmitContext, Resolved, ScalarImpl } from '../expr/bound.ts'
import { T as PgT, formatType } from './pg-catalog.ts'
import { CATALOG_SESSION_FUNCTIONS } from './pg-catalog-functions.ts'
import { jsonNeedsZone, posixRegex } from '../expr/runtime.ts'
import { JSON_FUNCTIONS, pairsCode, resolveJsonOperator, zoneArg } from '../expr/json-functions.ts'
import { STRING_FUNCTIONS, lowerText, substringChars, upperText } from '../expr/string-functions.ts'
import { TIME_FUNCTIONS } from '../expr/time-functions.ts'
import { REGEXP_FUNCTIONS, regexSubstringRule } from '../expr/regexp-functions.ts'
import { SESSION_FUNCTIONS } from './session-functions.ts'
import { numericArithmetic, numericComparison, resolveNumericFunction } from '../expr/numeric-functions.ts'
import { byteaConcat, jsonbConcat } from '../expr/concat-operators.ts'
import { wrapTime } from '../common/time-of-day.ts'
import { sessionZone, textInZone, tsPlusInterval, tstzPlusInterval } from '../expr/time-zone-eval.ts'

export type { Resolved } from '../expr/bound.ts'

const strict = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, emit })
/** Reads the session (user, database, pid): stable within a statement but never folded at plan time. */
const sessionFn = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: false, volatile: true, emit })
const lenient = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: false, emit })

const NUMERIC_RANK: Partial<Record<TypeName, number>> = { int2: 1, int4: 2, int8: 3, numeric: 4, float4: 5, float8: 6 }

/** The common type of two numeric types, as Postgres' implicit casts choose it. */
export function numericCommon(a: SqlType, b: SqlType): SqlType {
  const ra = NUMERIC_RANK[a.name] ?? 0
  const rb = NUMERIC_RANK[b.name] ?? 0
  const top = ra >= rb ? a : b
  if (top.name === 'int2') return Types.int4
  if (top.name === 'float4') return Types.float8
  return top
}

const isTimestamp = (t: SqlType): boolean => !t.element && (t.name === 'timestamptz' || t.name === 'timestamp')
const isIntervalType = (t: SqlType): boolean => !t.element && t.name === 'interval'
const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const isJson = (t: SqlType): boolean => !t.element && (t.name === 'json' || t.name === 'jsonb')

/** Two types that compare with each other (after the binder coerced untyped literals). */
export function comparable(a: SqlType, b: SqlType): boolean {
  if (isNumeric(a) && isNumeric(b)) return true
  if (isTemporal(a) && isTemporal(b)) return true
  if (isText(a) && isText(b)) return true
  if (isJson(a) && isJson(b)) return true
  if (!!a.element !== !!b.element) return false
  return a.name === b.name
}

const CMP_JS: Record<string, string> = { '=': '===', '<>': '!==', '<': '<', '<=': '<=', '>': '>', '>=': '>=' }

function comparison(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  const js = CMP_JS[op]!
  // A regproc column (held as the function's name) against an OID column (`ap.amproc = p.oid`).
  if ((a.pgOid === PgT.regproc.pgOid && isNumeric(b)) || (isNumeric(a) && b.pgOid === PgT.regproc.pgOid)) {
    return { type: Types.bool, impl: strict(([x, y]) => `(String(${x}) ${js} String(${y}))`) }
  }
  if (!comparable(a, b)) return undefined
  const exact = numericComparison(js, a, b)
  if (exact !== undefined) return exact
  const primitive =
    (isNumeric(a) || isTemporal(a) || isText(a) || a.name === 'bool' || isJson(a) || a.name === 'time') && !a.element && !isIntervalType(a)
  if (primitive) return { type: Types.bool, impl: strict(([x, y]) => `(${x} ${js} ${y})`) }
  return { type: Types.bool, impl: strict(([x, y]) => `(H.compareValues(${x}, ${y}) ${js} 0)`) }
}

function arithmetic(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  const exact = numericArithmetic(op, a, b)
  if (exact !== undefined) return exact
  if (isNumeric(a) && isNumeric(b)) {
    const type = numericCommon(a, b)
    const integral = isInteger(type)
    switch (op) {
      case '+':
      case '-':
      case '*':
        return {
          type,
          impl: strict(([x, y], c) => (integral ? `H.checkedInt(${x} ${op} ${y}, ${c.constant(type)})` : `(${x} ${op} ${y})`)),
        }
      case '/':
        return { type, impl: strict(([x, y]) => (integral ? `H.intDiv(${x}, ${y})` : `H.floatDiv(${x}, ${y})`)) }
      case '%':
        return { type, impl: strict(([x, y]) => `H.intMod(${x}, ${y})`) }
      case '^':
        return { type: Types.float8, impl: strict(([x, y]) => `H.powerChecked(${x}, ${y})`) }
    }
    return undefined
  }
  const timeResult = timeArithmetic(op, a, b)
  if (timeResult !== undefined) return timeResult
  if (isTimestamp(a) && isIntervalType(b) && (op === '+' || op === '-')) return { type: a, impl: plusInterval(a, op === '+' ? 1 : -1, false) }
  if (isIntervalType(a) && isTimestamp(b) && op === '+') return { type: b, impl: plusInterval(b, 1, true) }
  if (isTimestamp(a) && isTimestamp(b) && op === '-') return { type: Types.interval, impl: strict(([x, y]) => `H.tsMinusTs(${x}, ${y})`) }
  if (a.name === 'date' && isInteger(b) && (op === '+' || op === '-')) {
    return { type: Types.date, impl: strict(([x, y]) => `(${x} ${op} ${y} * ${86_400_000_000})`) }
  }
  if (isIntervalType(a) && isIntervalType(b) && (op === '+' || op === '-')) {
    return { type: a, impl: strict(([x, y]) => (op === '+' ? `H.intervalPlus(${x}, ${y})` : `H.intervalMinus(${x}, ${y})`)) }
  }
  if (isIntervalType(a) && isNumeric(b) && (op === '*' || op === '/')) {
    return { type: a, impl: strict(([x, y]) => (op === '*' ? `H.intervalTimes(${x}, ${y})` : `H.intervalDiv(${x}, ${y})`)) }
  }
  if (isNumeric(a) && isIntervalType(b) && op === '*') return { type: b, impl: strict(([x, y]) => `H.intervalTimes(${y}, ${x})`) }
  return undefined
}

const isTime = (t: SqlType): boolean => !t.element && t.name === 'time'

/**
 * time ± interval (the interval's time part, wrapped around midnight; its days and months are ignored, as in
 * PostgreSQL), time - time (an interval), date + time (a timestamp).
 */
function timeArithmetic(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  if (isTime(a) && isIntervalType(b) && (op === '+' || op === '-')) return { type: Types.time, impl: strict(([x, y], c) => `${c.constant(wrapTime)}(${x} ${op} ${y}.micros)`) }
  if (isIntervalType(a) && isTime(b) && op === '+') return { type: Types.time, impl: strict(([x, y], c) => `${c.constant(wrapTime)}(${y} + ${x}.micros)`) }
  if (isTime(a) && isTime(b) && op === '-') return { type: Types.interval, impl: strict(([x, y]) => `({ months: 0, days: 0, micros: ${x} - ${y} })`) }
  if (op === '+' && ((a.name === 'date' && isTime(b)) || (isTime(a) && b.name === 'date')) && !a.element && !b.element) return { type: Types.timestamp, impl: strict(([x, y]) => `(${x} + ${y})`) }
  if (op === '-' && a.name === 'date' && !a.element && isTime(b)) return { type: Types.timestamp, impl: strict(([x, y]) => `(${x} - ${y})`) }
  return undefined
}

/**
 * timestamp ± interval by the calendar; for timestamptz the days and months move the wall clock of the
 * session's zone (a day across a DST change is 23 or 25 hours), so it reads the session and is not folded.
 */
function plusInterval(t: SqlType, sign: 1 | -1, swapped: boolean): ScalarImpl {
  const order = (xs: readonly string[]): [string, string] => (swapped ? [xs[1]!, xs[0]!] : [xs[0]!, xs[1]!])
  if (t.name === 'timestamp') return strict((xs, c) => `${c.constant(tsPlusInterval)}(${order(xs).join(', ')}, ${sign})`)
  return { strict: true, volatile: true, emit: (xs, c) => `${c.constant(tstzPlusInterval)}(${order(xs).join(', ')}, ${sign}, ${c.constant(sessionZone)}(ctx))` }
}

/** Binary operators: arithmetic, comparison, concatenation, regex and JSON access. */
export function resolveOperator(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  if (op in CMP_JS) return comparison(op, a, b)
  if (op === '+' || op === '-' || op === '*' || op === '/' || op === '%' || op === '^') return arithmetic(op, a, b)
  if ((op === '&' || op === '|' || op === '#') && isInteger(a) && isInteger(b)) {
    const js = op === '#' ? '^' : op
    return { type: numericCommon(a, b), impl: strict(([x, y]) => `Number(BigInt(${x}) ${js} BigInt(${y}))`) }
  }
  if (op === '||') {
    // array_cat is not strict: a NULL array is an empty one (NULL || NULL stays NULL).
    if (a.element && b.element) return { type: a, impl: lenient(([x, y]) => `(${x} === null ? ${y} : ${y} === null ? ${x} : ${x}.concat(${y}))`) }
    if (!a.element && !b.element && a.name === 'jsonb' && b.name === 'jsonb') return { type: Types.jsonb, impl: strict(([x, y], c) => `${c.constant(jsonbConcat)}(${x}, ${y})`) }
    if (!a.element && !b.element && a.name === 'bytea' && b.name === 'bytea') return { type: Types.bytea, impl: strict(([x, y], c) => `${c.constant(byteaConcat)}(${x}, ${y})`) }
    // json has no `||` in PostgreSQL (42883); beside text it is text (`'{}'::json || 'x'::text`).
    if (isJson(a) && isJson(b)) return undefined
    return {
      type: Types.text,
      impl: a.name === 'timestamptz' || b.name === 'timestamptz'
        ? { strict: true, volatile: true, emit: ([x, y], c) => `(${c.constant(textInZone)}(${x}, ${c.constant(a)}, ctx) + ${c.constant(textInZone)}(${y}, ${c.constant(b)}, ctx))` }
        : strict(([x, y], c) => `(H.formatValue(${x}, ${c.constant(a)}) + H.formatValue(${y}, ${c.constant(b)}))`),
    }
  }
  if (op === '~' || op === '~*' || op === '!~' || op === '!~*') {
    if (!isText(a) || !isText(b)) return undefined
    const ci = op.endsWith('*')
    const neg = op.startsWith('!')
    // A constant pattern (a string literal in the generated code) is compiled once, here, not looked up per row.
    const matcher = (y: string, c: EmitContext): string => (y.startsWith('"') ? c.constant(posixRegex(JSON.parse(y) as string, ci)) : `H.posixRegex(${y}, ${ci})`)
    return { type: Types.bool, impl: strict(([x, y], c) => `(${neg ? '!' : ''}${matcher(y!, c)}.test(${x}))`) }
  }
  if (isJson(a)) return resolveJsonOperator(op, a, b)
  return undefined
}

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const exactly = (n: number, rule: FunctionRule): FunctionRule => (args) => (args.length === n ? rule(args) : undefined)

const textFn = (n: number, emit: (a: readonly string[], c: EmitContext) => string, type: SqlType = Types.text): FunctionRule =>
  exactly(n, (args) => (args.every((t) => isText(t) || isNumeric(t)) ? { type, impl: strict(emit), argTypes: args.map(() => Types.text) } : undefined))

/** An untyped literal (`abs(NULL)`, `abs('2')`) is read as double precision, as PostgreSQL's preferred numeric type. */
const isUnknown = (t: SqlType): boolean => t.name === 'unknown' && !t.element
const numericArgs = (args: readonly SqlType[]): SqlType[] | undefined =>
  args.every((t) => isNumeric(t) || isUnknown(t)) ? args.map((t) => (isUnknown(t) ? Types.float8 : t)) : undefined

/** `keepType`: abs keeps any type; 'exact' (floor, ceil, sign) keeps numeric and makes integers doubles, as
 * PostgreSQL has no integer versions of them; false (sqrt, ln, exp) likewise. */
const mathFn = (emit: (a: string) => string, keepType: boolean | 'exact' = true): FunctionRule =>
  exactly(1, (args) => {
    const [t] = numericArgs(args) ?? []
    const type = keepType === true || t?.name === 'numeric' ? t : Types.float8
    return t === undefined ? undefined : { type: type!, impl: strict(([x]) => emit(x!)), argTypes: [type!] }
  })

/** The first argument type that is not `unknown`, to which untyped literals are coerced. */
function commonType(args: readonly SqlType[]): SqlType | undefined {
  let out: SqlType | undefined
  for (const t of args) {
    if (t.name === 'unknown') continue
    if (out === undefined) out = t
    else if (isNumeric(out) && isNumeric(t)) out = numericCommon(out, t)
    else if (!comparable(out, t)) return undefined
  }
  return out ?? Types.text
}


const anyArgs = (n: number | readonly number[], type: SqlType, emit: (a: readonly string[], c: EmitContext) => string, isStrict = true): FunctionRule => (args) =>
  (typeof n === 'number' ? args.length === n : n.includes(args.length)) ? { type, impl: isStrict ? strict(emit) : lenient(emit) } : undefined
/** An int4 function of an array and (for `n` 2) a dimension: anything else is no signature of it (42883). */
const arrayFn = (n: 1 | 2, emit: (a: readonly string[]) => string): FunctionRule => (args) =>
  args.length === n && args[0]!.element !== undefined && (n === 1 || intOrUnknown(args[1]!))
    ? { type: Types.int4, impl: strict(emit), argTypes: n === 1 ? [args[0]!] : [args[0]!, Types.int4] }
    : undefined
/** Reads the catalog of the running server through `ctx.pg` (pull queries over pg_catalog provide it). */
const catalogFn = (n: number | readonly number[], type: SqlType, emit: (a: readonly string[]) => string): FunctionRule => (args) =>
  (typeof n === 'number' ? args.length === n : n.includes(args.length)) ? { type, impl: { strict: true, volatile: true, emit: (a) => `(ctx.pg === undefined ? null : ${emit(a)})` } } : undefined
/** `btrim(x, chars)` / `trim(trailing ';' from x)`: strips any of `chars` from the chosen ends. */
function trimSet(x: string, chars: string, side: 'both' | 'leading' | 'trailing'): string {
  let start = 0
  let end = x.length
  if (side !== 'trailing') while (start < end && chars.includes(x[start]!)) start++
  if (side !== 'leading') while (end > start && chars.includes(x[end - 1]!)) end--
  return x.slice(start, end)
}
const trimChars = (side: 'both' | 'leading' | 'trailing'): FunctionRule => (args) => {
  if (!args.every(isText)) return undefined
  if (args.length === 1) return { type: Types.text, impl: strict(([x]) => (side === 'both' ? `${x}.trim()` : side === 'leading' ? `${x}.trimStart()` : `${x}.trimEnd()`)), argTypes: [Types.text] }
  if (args.length !== 2) return undefined
  return { type: Types.text, impl: strict(([x, chars], c) => `${c.constant(trimSet)}(${x}, ${chars}, '${side}')`), argTypes: [Types.text, Types.text] }
}

/**
 * The functions psql's and JDBC's catalog queries call. Sluice has no comments, defaults, indexes, rules or
 * privileges, so those answer NULL, '' or true as a PostgreSQL database without them would.
 */
const CATALOG_FUNCTIONS: Record<string, FunctionRule> = {
  btrim: trimChars('both'),
  trim: trimChars('both'),
  ltrim: trimChars('leading'),
  rtrim: trimChars('trailing'),
  format_type: anyArgs(2, Types.text, ([o, m], c) => `${c.constant(formatType)}(${o}, ${m})`, false),
  pg_get_userbyid: anyArgs(1, PgT.name, () => 'ctx.user'),
  pg_encoding_to_char: anyArgs(1, PgT.name, ([e]) => `(${e} === 6 ? 'UTF8' : ${e} === 0 ? 'SQL_ASCII' : '')`),
  pg_table_is_visible: anyArgs(1, Types.bool, () => 'true'),
  pg_type_is_visible: anyArgs(1, Types.bool, () => 'true'),
  pg_function_is_visible: anyArgs(1, Types.bool, () => 'true'),
  pg_get_expr: anyArgs([2, 3], Types.text, () => 'null', false),
  obj_description: anyArgs([1, 2], Types.text, () => 'null', false),
  col_description: anyArgs(2, Types.text, () => 'null', false),
  shobj_description: anyArgs(2, Types.text, () => 'null', false),
  pg_get_indexdef: catalogFn([1, 3], Types.text, ([o, col]) => `ctx.pg.indexdef(${o}, ${col ?? 0})`),
  pg_get_constraintdef: catalogFn([1, 2], Types.text, ([o]) => `ctx.pg.constraintdef(${o})`),
  pg_get_ruledef: anyArgs([1, 2], Types.text, () => 'null', false),
  pg_get_triggerdef: anyArgs([1, 2], Types.text, () => "''"),
  pg_get_functiondef: anyArgs(1, Types.text, () => "''"),
  // pg_proc lists only built-in functions (planner/pg-catalog-routines.ts), which have no SQL definition.
  pg_get_function_result: anyArgs(1, Types.text, () => 'null', false),
  pg_get_function_arguments: anyArgs(1, Types.text, () => 'null', false),
  pg_get_function_identity_arguments: anyArgs(1, Types.text, () => 'null', false),
  pg_get_statisticsobjdef_columns: anyArgs(1, Types.text, () => 'null', false),
  pg_get_viewdef: catalogFn([1, 2], Types.text, ([o]) => `ctx.pg.viewdef(${o})`),
  pg_relation_is_publishable: anyArgs(1, Types.bool, () => 'false'),
  pg_relation_size: anyArgs([1, 2], Types.int8, () => '0'),
  pg_total_relation_size: anyArgs(1, Types.int8, () => '0'),
  pg_table_size: anyArgs(1, Types.int8, () => '0'),
  pg_indexes_size: anyArgs(1, Types.int8, () => '0'),
  pg_database_size: anyArgs(1, Types.int8, () => '0'),
  pg_size_pretty: anyArgs(1, Types.text, ([x]) => `(${x} + ' bytes')`),
  pg_is_in_recovery: anyArgs(0, Types.bool, () => 'false'),
  has_table_privilege: anyArgs([2, 3], Types.bool, () => 'true', false),
  has_schema_privilege: anyArgs([2, 3], Types.bool, () => 'true', false),
  has_database_privilege: anyArgs([2, 3], Types.bool, () => 'true', false),
  has_column_privilege: anyArgs([3, 4], Types.bool, () => 'true', false),
  quote_ident: anyArgs(1, Types.text, ([x]) => `(/^[a-z_][a-z0-9_$]*$/.test(${x}) ? ${x} : '"' + ${x}.replace(/"/g, '""') + '"')`),
  current_schemas: anyArgs(1, arrayOf(PgT.name), ([x]) => `(${x} ? ['pg_catalog', 'public'] : ['public'])`),
  array_to_string: (args) =>
    (args.length === 2 || args.length === 3) && args[0]!.element !== undefined
      ? {
          type: Types.text,
          // Not strict in its third argument: a NULL null-string leaves NULL elements out, as if not given.
          impl: lenient(([a, sep, nul], c) =>
            `(${a} === null || ${sep} === null ? null : ${a}.map((v) => v === null ? ${nul ?? 'null'} : H.formatValue(v, ${c.constant(c.argTypes[0]!.element)})).filter((v) => v !== null).join(${sep}))`,
          ),
          argTypes: [args[0]!, Types.text, ...(args.length === 3 ? [Types.text] : [])],
        }
      : undefined,
  array_upper: arrayFn(2, ([a, d]) => `(${d} === 1 && ${a}.length > 0 ? ${a}.length : null)`),
  array_lower: arrayFn(2, ([a, d]) => `(${d} === 1 && ${a}.length > 0 ? 1 : null)`),
  array_length: arrayFn(2, ([a, d]) => `(${d} === 1 && ${a}.length > 0 ? ${a}.length : null)`),
  cardinality: arrayFn(1, ([a]) => `${a}.length`),
}

const FUNCTIONS: Record<string, FunctionRule> = {
  lower: textFn(1, ([x], c) => `${c.constant(lowerText)}(${x})`),
  upper: textFn(1, ([x], c) => `${c.constant(upperText)}(${x})`),
  length: textFn(1, ([x]) => `[...${x}].length`, Types.int4),
  char_length: textFn(1, ([x]) => `[...${x}].length`, Types.int4),
  character_length: textFn(1, ([x]) => `[...${x}].length`, Types.int4),
  octet_length: textFn(1, ([x]) => `Buffer.byteLength(${x})`, Types.int4),
  btrim: textFn(1, ([x]) => `${x}.trim()`),
  trim: textFn(1, ([x]) => `${x}.trim()`),
  ltrim: textFn(1, ([x]) => `${x}.trimStart()`),
  rtrim: textFn(1, ([x]) => `${x}.trimEnd()`),
  md5: textFn(1, ([x]) => `H.md5(${x})`),
  replace: textFn(3, ([x, a, b]) => `${x}.split(${a}).join(${b})`),
  // SIMILAR TO arrives as `x ~ similar_to_escape(pattern [, escape])`, as PostgreSQL rewrites it.
  similar_to_escape: (args) =>
    (args.length === 1 || args.length === 2) && args.every(isText)
      ? { type: Types.text, impl: strict((xs) => `H.similarToRegex(${xs.join(', ')})`), argTypes: args.map(() => Types.text) }
      : undefined,
  starts_with: textFn(2, ([x, y]) => `${x}.startsWith(${y})`, Types.bool),
  substr: (args) =>
    (args.length === 2 || args.length === 3) && isText(args[0]!) && args.slice(1).every(intOrUnknown)
      ? {
          type: Types.text,
          argTypes: [Types.text, ...args.slice(1).map((t) => (isUnknown(t) ? Types.int4 : t))],
          impl: strict((xs, c) => `${c.constant(substringChars)}(${xs.join(', ')})`),
        }
      : undefined,
  // substring(x FROM s [FOR n]): characters from position s (1-based; before 1 counts, as in PostgreSQL).
  substring: (args) => regexSubstringRule(args) ?? (
    (args.length === 2 || args.length === 3) && isText(args[0]!) && args.slice(1).every(intOrUnknown)
      ? {
          type: Types.text,
          impl: strict((xs, c) => `${c.constant(substringChars)}(${xs.join(', ')})`),
          argTypes: [Types.text, ...args.slice(1).map((t) => (isUnknown(t) ? Types.int4 : t))],
        }
      : undefined),
  concat: (args) => ({
    type: Types.text,
    impl: lenient((xs, c) => `[${xs.join(', ')}].map((v, i) => v === null ? '' : H.formatValue(v, ${c.constant(c.argTypes)}[i])).join('')`),
    argTypes: args,
  }),
  abs: mathFn((x) => `Math.abs(${x})`),
  floor: mathFn((x) => `Math.floor(${x})`, 'exact'),
  ceil: mathFn((x) => `Math.ceil(${x})`, 'exact'),
  ceiling: mathFn((x) => `Math.ceil(${x})`, 'exact'),
  sign: mathFn((x) => `H.signOf(${x})`, 'exact'),
  sqrt: mathFn((x) => `H.sqrtChecked(${x})`, false),
  ln: mathFn((x) => `H.lnChecked(${x})`, false),
  exp: mathFn((x) => `H.expChecked(${x})`, false),
  round: (args) => {
    if (args.length === 1 && isUnknown(args[0]!)) return { type: Types.float8, impl: strict(([x]) => `H.roundHalfEven(${x})`), argTypes: [Types.float8] }
    // A double rounds half to even (rint), a numeric half away from zero (expr/numeric-functions.ts, tried
    // first, as are round(numeric or integer, int)); an integer alone is rounded as a double. round(double
    // precision, int) does not exist in PostgreSQL (42883).
    if (args.length === 1 && isNumeric(args[0]!) && args[0]!.name !== 'numeric') {
      return { type: Types.float8, impl: strict(([x]) => `H.roundHalfEven(${x})`), argTypes: [Types.float8] }
    }
    return undefined
  },
  trunc: mathFn((x) => `Math.trunc(${x})`),
  power: exactly(2, (args) => (numericArgs(args) ? { type: Types.float8, impl: strict(([x, y]) => `H.powerChecked(${x}, ${y})`), argTypes: [Types.float8, Types.float8] } : undefined)),
  // An untyped NULL takes the other argument's integer type (`mod(NULL, 3)` is an integer).
  mod: exactly(2, (args) => {
    const ts = args.map((t, i) => (isUnknown(t) ? (isInteger(args[1 - i]!) ? args[1 - i]! : Types.int4) : t))
    return ts.every(isInteger) ? { type: numericCommon(ts[0]!, ts[1]!), impl: strict(([x, y]) => `H.intMod(${x}, ${y})`), argTypes: ts } : undefined
  }),
  random: exactly(0, () => ({ type: Types.float8, impl: { strict: false, volatile: true, emit: () => 'Math.random()' } })),
  now: exactly(0, () => ({ type: Types.timestamptz, impl: { strict: false, volatile: true, emit: () => 'ctx.now' } })),
  current_timestamp: exactly(0, () => ({ type: Types.timestamptz, impl: { strict: false, volatile: true, emit: () => 'ctx.now' } })),
  statement_timestamp: exactly(0, () => ({ type: Types.timestamptz, impl: { strict: false, volatile: true, emit: () => 'ctx.now' } })),
  clock_timestamp: exactly(0, () => ({ type: Types.timestamptz, impl: { strict: false, volatile: true, emit: () => 'Date.now() * 1000' } })),
  current_date: exactly(0, () => ({ type: Types.date, impl: { strict: false, volatile: true, emit: () => `(Math.floor(ctx.now / ${86_400_000_000}) * ${86_400_000_000})` } })),
  current_user: exactly(0, () => ({ type: PgT.name, impl: sessionFn(() => 'ctx.user') })),
  session_user: exactly(0, () => ({ type: PgT.name, impl: sessionFn(() => 'ctx.user') })),
  user: exactly(0, () => ({ type: PgT.name, impl: sessionFn(() => 'ctx.user') })),
  current_database: exactly(0, () => ({ type: PgT.name, impl: sessionFn(() => 'ctx.database') })),
  current_catalog: exactly(0, () => ({ type: PgT.name, impl: sessionFn(() => 'ctx.database') })),
  current_schema: exactly(0, () => ({ type: PgT.name, impl: lenient(() => "'public'") })),
  version: exactly(0, () => ({ type: Types.text, impl: lenient(() => 'H.versionString') })),
  date_trunc: exactly(2, ([u, t]) =>
    isText(u!) && isTemporal(t!) ? { type: t!, impl: strict(([x, y]) => `H.dateTrunc(${x}, ${y})`), argTypes: [Types.text, t!] } : undefined,
  ),
  date_part: exactly(2, ([u, t]) =>
    isText(u!) && isTemporal(t!) ? { type: Types.float8, impl: strict(([x, y]) => `H.extractField(${x}, ${y})`), argTypes: [Types.text, t!] } : undefined,
  ),
  extract: exactly(2, ([u, t]) =>
    isText(u!) && isTemporal(t!) ? { type: Types.numeric, impl: strict(([x, y]) => `H.extractField(${x}, ${y})`), argTypes: [Types.text, t!] } : undefined,
  ),
  to_timestamp: exactly(1, ([t]) => (isNumeric(t!) ? { type: Types.timestamptz, impl: strict(([x]) => `H.toTimestamp(${x})`) } : undefined)),
  coalesce: (args) => {
    const t = commonType(args)
    if (t === undefined || args.length === 0) return undefined
    return { type: t, impl: lenient((xs) => xs.reduceRight((acc, x) => `(${x} !== null ? ${x} : ${acc})`, 'null')), argTypes: args.map(() => t) }
  },
  nullif: exactly(2, (args) => {
    const t = commonType(args)
    if (t === undefined) return undefined
    return { type: t, impl: lenient(([x, y]) => `(${x} !== null && ${y} !== null && H.equalValues(${x}, ${y}) ? null : ${x})`), argTypes: [t, t] }
  }),
  greatest: (args) => {
    const t = commonType(args)
    if (t === undefined || args.length === 0) return undefined
    return { type: t, impl: lenient((xs) => `H.extreme([${xs.join(', ')}], 1)`), argTypes: args.map(() => t) }
  },
  least: (args) => {
    const t = commonType(args)
    if (t === undefined || args.length === 0) return undefined
    return { type: t, impl: lenient((xs) => `H.extreme([${xs.join(', ')}], -1)`), argTypes: args.map(() => t) }
  },
  json_build_object: (args) =>
    args.length % 2 === 0
      ? {
          type: Types.json,
          impl: {
            strict: false,
            volatile: jsonNeedsZone(args),
            emit: (xs, c) => `H.jsonBuildObject(${pairsCode(xs, c)}${zoneArg(c)})`,
          },
          argTypes: args,
        }
      : undefined,
  to_json: exactly(1, ([t]) => ({
    type: Types.json,
    impl: { strict: true, volatile: jsonNeedsZone([t]), emit: ([x], c) => `H.jsonCompactText(H.toJsonValue(${x}, ${c.constant(c.argTypes[0])}${zoneArg(c)}))` },
    argTypes: [t!],
  })),
  pg_backend_pid: exactly(0, () => ({ type: Types.int4, impl: sessionFn(() => 'ctx.pid') })),
  // pg_notify(channel, payload): NOTIFY as a function, for drivers that send it with parameters. PostgreSQL
  // returns void, shown as an empty value; a session without LISTEN/NOTIFY (a continuous view) refuses it.
  pg_notify: exactly(2, (args) =>
    args.every((t) => isText(t)) ? { type: Types.text, impl: sessionFn(([ch, payload]) => `H.pgNotify(ctx, ${ch}, ${payload})`), argTypes: [Types.text, Types.text] } : undefined,
  ),
  // pg_cancel_backend(pid) / pg_terminate_backend(pid [, timeout]): signal another session of the server
  // (server/sessions.ts); null pid gives null, an unknown pid false, as in PostgreSQL.
  pg_cancel_backend: (args) =>
    args.length === 1 && intOrUnknown(args[0]!) ? { type: Types.bool, impl: sessionFn(([pid], c) => `${c.constant(signalBackend)}(ctx, ${pid}, 'cancel')`), argTypes: [Types.int4] } : undefined,
  pg_terminate_backend: (args) =>
    (args.length === 1 || args.length === 2) && args.every(intOrUnknown)
      ? { type: Types.bool, impl: sessionFn(([pid], c) => `${c.constant(signalBackend)}(ctx, ${pid}, 'terminate')`), argTypes: args.length === 1 ? [Types.int4] : [Types.int4, Types.int8] }
      : undefined,
  ...JSON_FUNCTIONS,
  ...STRING_FUNCTIONS,
  ...CATALOG_FUNCTIONS,
  ...CATALOG_SESSION_FUNCTIONS,
  ...TIME_FUNCTIONS,
  ...REGEXP_FUNCTIONS,
  ...SESSION_FUNCTIONS,
}

const intOrUnknown = (t: SqlType): boolean => isInteger(t) || (t.name === 'unknown' && !t.element)

/** What a session's evaluation context offers pg_cancel_backend and pg_terminate_backend. */
interface SignalContext {
  readonly signalBackend?: (pid: number, action: 'cancel' | 'terminate') => boolean
}

function signalBackend(ctx: SignalContext, pid: number | string | null, action: 'cancel' | 'terminate'): boolean | null {
  if (pid === null) return null
  // A parameter nothing else typed arrives as its text.
  const n = Number(pid)
  if (!Number.isInteger(n)) throw new SluiceError('execution', SqlState.invalidTextRepresentation, `invalid input syntax for type integer: "${pid}"`)
  if (ctx.signalBackend === undefined) throw new SluiceError('execution', SqlState.featureNotSupported, `pg_${action === 'cancel' ? 'cancel' : 'terminate'}_backend can only be called in a query of a session`)
  return ctx.signalBackend(n, action)
}

export const FUNCTION_NAMES: readonly string[] = Object.keys(FUNCTIONS)

export function resolveFunction(name: string, args: readonly SqlType[]): Resolved | undefined {
  const rule = FUNCTIONS[name]
  return resolveNumericFunction(name, args) ?? (rule === undefined ? undefined : rule(args))
}

export const isKnownFunction = (name: string): boolean => name in FUNCTIONS
