/**
 * Aggregate functions. All aggregates of one query share one accumulator array per group (`acc`), each owning
 * a few slots; the planner compiles one `update(acc, row)` function for all of them (filters included) and
 * one `finalize(acc)` — so a group costs one array and one call per event, whatever the number of aggregates.
 */
import { SluiceError, SqlState, planError, type Span } from '../common/errors.ts'
import { Types, arrayOf, isInteger, isNumeric, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'
import { Numeric } from '../common/numeric.ts'
import { STATISTICAL_AGGREGATES } from './statistical-aggregates.ts'

export interface AggregateSpec {
  readonly name: string
  readonly type: SqlType
  readonly slots: number
  /** Initial slot values (JSON-able: the accumulator is persisted). */
  readonly init: readonly Value[]
  /** Statements updating slots `acc[s]...` from argument values `x` (non-null unless `acceptsNull`). */
  readonly update: (s: number, x: readonly string[]) => string
  /** A JS expression of the final value from the slots. */
  readonly finalize: (s: number) => string
  /** True when NULL arguments still reach `update` (count(*), first_value, last_value, array_agg, string_agg). */
  readonly acceptsNull: boolean
  /**
   * Statements that take back one earlier `update` with the same arguments, for aggregates that can be
   * undone (count, sum, avg): a view over a view whose rows change withdraws a row's old version. Absent
   * for aggregates that cannot (min, max, first_value, ...: the value withdrawn may be the one kept).
   */
  readonly retract?: (s: number, x: readonly string[]) => string
  /**
   * Statements folding the slots of another accumulator `o` (same layout) into `acc`, for aggregates whose
   * partial results combine (count, sum, avg, min, max): a HOP view aggregates per slice of time and
   * combines a window's slices when it closes.
   */
  readonly merge?: (s: number) => string
  /**
   * The form to use where rows are taken back, when it differs from this one: min and max then keep a
   * count of each value they hold, so that withdrawing the extreme finds the next one.
   */
  readonly undoable?: AggregateSpec
  /**
   * Plan-time checks of the bound arguments (with their spans, for the error position), for aggregates
   * whose arguments must be constants (approx_percentile's fraction). `update` checks them again when it
   * compiles, without a position.
   */
  readonly checkArgs?: (args: readonly BoundExpr[], spans: readonly (Span | undefined)[]) => void
}

export interface BoundAggregate {
  readonly spec: AggregateSpec
  readonly args: readonly BoundExpr[]
  readonly filter: BoundExpr | null
  readonly distinct: boolean
  /** Text for EXPLAIN and for matching identical aggregates in SELECT and HAVING. */
  readonly display: string
  /**
   * Where in the statement's text each call of it is (SELECT and HAVING may call one aggregate more than
   * once): a cluster's two-phase aggregation rewrites them (cluster/partials.ts). Absent when not bound from text.
   */
  readonly spans?: Span[]
}

const sumType = (t: SqlType): SqlType => (isInteger(t) ? (t.name === 'int8' ? Types.numeric : Types.int8) : t.name === 'float4' ? Types.float8 : t)
const avgType = (t: SqlType): SqlType => (t.name === 'float4' || t.name === 'float8' ? Types.float8 : Types.numeric)

type Rule = (args: readonly SqlType[], star: boolean) => AggregateSpec | undefined

/**
 * How many inputs string_agg and array_agg keep per group: later inputs are ignored, so that a group's
 * state stays bounded however long the stream runs.
 */
export const AGG_ELEMENT_LIMIT = 1000

const isBool = (t: SqlType): boolean => !t.element && t.name === 'bool'
const isText = (t: SqlType): boolean => !t.element && t.name === 'text'

const fractionNotConstant = (span?: Span): SluiceError =>
  planError(SqlState.invalidColumnReference, 'the fraction of approx_percentile must be a constant', span, 'Write a number from 0 to 1, such as 0.95.')

const fractionOutOfRange = (f: Value, category: 'plan' | 'execution', span?: Span): SluiceError =>
  new SluiceError(category, SqlState.invalidParameterValue, `percentile value ${String(f)} is not between 0 and 1`, { span })

const isFraction = (f: Value): boolean => (typeof f === 'number' || f instanceof Numeric) && +f >= 0 && +f <= 1

/** approx_percentile's fraction from a statement parameter, checked when a group first sees it. */
export function percentileFraction(f: Value): number {
  if (!isFraction(f)) throw fractionOutOfRange(f, 'execution')
  return +(f as number)
}

/**
 * The compile-time check of approx_percentile's fraction, from the JavaScript the compiler made of it: a
 * numeric literal (checked now), `null` (the aggregate is NULL), or a statement parameter `p[i]` (checked
 * per group at run time). Anything else reads the row, and is refused.
 */
function checkFractionCode(code: string): void {
  if (code === 'null' || /^p\[\d+\]$/.test(code)) return
  if (/^-?(\d|\.\d)/.test(code)) {
    if (!isFraction(Number(code))) throw fractionOutOfRange(Number(code), 'plan')
    return
  }
  // A numeric literal (0.95) lives in the constant table, checked with its position by checkArgs.
  if (/^K\[\d+\]$/.test(code)) return
  throw fractionNotConstant()
}

/**
 * min / max that can take a row back: slot s the current extreme, slot s + 1 the values held, as
 * { key: [value, count] } (keys as DISTINCT makes them). Withdrawing the last copy of the extreme scans the
 * values held for the next one, so the state grows with the distinct values per group.
 */
const undoableMinMax = (name: string, type: SqlType, cmp: '<' | '>', primitive: boolean): AggregateSpec => {
  const better = (a: string, b: string) => (primitive ? `${a} ${cmp} ${b}` : `H.compareValues(${a}, ${b}) ${cmp} 0`)
  const keyOf = (x: string) => `(typeof ${x} === 'string' ? 's' + ${x} : typeof ${x} === 'number' ? 'n' + ${x} : 'j' + JSON.stringify(${x}))`
  return {
    name,
    type,
    slots: 2,
    init: [null, null],
    update: (s, [x]) =>
      `{ if (acc[${s + 1}] === null) acc[${s + 1}] = {}; const k = ${keyOf(x!)}; const e = acc[${s + 1}][k];
        if (e === undefined) acc[${s + 1}][k] = [${x}, 1]; else e[1]++;
        if (acc[${s}] === null || ${better(x!, `acc[${s}]`)}) acc[${s}] = ${x}; }\n`,
    retract: (s, [x]) =>
      `{ const m = acc[${s + 1}]; const k = ${keyOf(x!)}; const e = m[k];
        if (--e[1] === 0) {
          delete m[k];
          if (k === ${keyOf(`acc[${s}]`)}) { acc[${s}] = null; for (const j in m) { const v = m[j][0]; if (acc[${s}] === null || ${better('v', `acc[${s}]`)}) acc[${s}] = v; } }
        } }\n`,
    finalize: (s) => `acc[${s}]`,
    acceptsNull: false,
  }
}

/**
 * `x` goes before `acc` in a min (`<`) or after it in a max (`>`). A double may be NaN, which PostgreSQL
 * orders above every number: max takes it, min takes anything over it.
 */
function beats(t: SqlType, cmp: '<' | '>', x: string, acc: string): string {
  if (isInteger(t) || !isNumeric(t)) return `${x} ${cmp} ${acc}`
  return cmp === '>' ? `(${x} > ${acc} || ${x} !== ${x})` : `(${x} < ${acc} || (${acc} !== ${acc} && ${x} === ${x}))`
}

const minMax = (name: string, cmp: '<' | '>'): Rule => (args) =>
  args.length === 1
    ? {
        name,
        type: args[0]!,
        slots: 1,
        init: [null],
        update: (s, [x]) =>
          primitiveOrder(args[0]!)
            ? `if (acc[${s}] === null || ${beats(args[0]!, cmp, x!, `acc[${s}]`)}) acc[${s}] = ${x};\n`
            : `if (acc[${s}] === null || H.compareValues(${x}, acc[${s}]) ${cmp} 0) acc[${s}] = ${x};\n`,
        merge: (s) =>
          primitiveOrder(args[0]!)
            ? `if (o[${s}] !== null && (acc[${s}] === null || ${beats(args[0]!, cmp, `o[${s}]`, `acc[${s}]`)})) acc[${s}] = o[${s}];\n`
            : `if (o[${s}] !== null && (acc[${s}] === null || H.compareValues(o[${s}], acc[${s}]) ${cmp} 0)) acc[${s}] = o[${s}];\n`,
        finalize: (s) => `acc[${s}]`,
        acceptsNull: false,
        undoable: undoableMinMax(name, args[0]!, cmp, primitiveOrder(args[0]!)),
      }
    : undefined

/** Types whose JS values compare correctly with `<` / `>` (numbers, text, times); others use H.compareValues. */
const primitiveOrder = (t: SqlType): boolean => !t.element && ((isNumeric(t) && t.name !== 'numeric') || t.name === 'text' || t.name === 'timestamptz' || t.name === 'timestamp' || t.name === 'date')

/**
 * max_by(x, y) / min_by(x, y): x of the row with the largest / smallest y (arg max, arg min; as in DuckDB,
 * Trino and Spark), so that "the bid with the highest price" is one aggregation instead of a self-join.
 * Rows whose y is NULL are skipped; x may be NULL. Among rows with equal y the first in processing order
 * wins. Slots: x, then y (NULL until a row counted).
 */
const argMinMax = (name: string, cmp: '<' | '>'): Rule => (args) =>
  args.length === 2
    ? {
        name,
        type: args[0]!,
        slots: 2,
        init: [null, null],
        update: (s, [x, y]) =>
          primitiveOrder(args[1]!)
            ? `if (${y} !== null && (acc[${s + 1}] === null || ${y} ${cmp} acc[${s + 1}])) { acc[${s}] = ${x}; acc[${s + 1}] = ${y}; }\n`
            : `if (${y} !== null && (acc[${s + 1}] === null || H.compareValues(${y}, acc[${s + 1}]) ${cmp} 0)) { acc[${s}] = ${x}; acc[${s + 1}] = ${y}; }\n`,
        finalize: (s) => `acc[${s}]`,
        acceptsNull: true,
      }
    : undefined

const isNumericType = (t: SqlType): boolean => !t.element && t.name === 'numeric'
const isFloat = (t: SqlType): boolean => !t.element && (t.name === 'float4' || t.name === 'float8')

/**
 * sum(numeric): exact; the slot holds a Numeric (or NULL before the first input). A sum of amounts of one
 * scale costs one BigInt addition per event (common/numeric.ts numSumStep).
 */
const numericSum: AggregateSpec = {
  name: 'sum',
  type: Types.numeric,
  slots: 1,
  init: [null],
  update: (s, [x]) => `acc[${s}] = H.numSum(acc[${s}], ${x});\n`,
  finalize: (s) => `acc[${s}]`,
  acceptsNull: false,
  retract: (s, [x]) => `acc[${s}] = H.numSub(acc[${s}], ${x});\n`,
  merge: (s) => `if (o[${s}] !== null) acc[${s}] = H.numSum(acc[${s}], o[${s}]);\n`,
}

/**
 * avg over numeric and integers: a numeric, the exact sum divided by the count with PostgreSQL's division
 * scale (avg of 1.5 and 2.25 is 1.8750000000000000). Slots: the sum (0 or a Numeric) and the count.
 */
const numericAvg: AggregateSpec = {
  name: 'avg',
  type: Types.numeric,
  slots: 2,
  init: [0, 0],
  update: (s, [x]) => `acc[${s}] = H.numSum(acc[${s}], ${x}); acc[${s + 1}]++;\n`,
  finalize: (s) => `(acc[${s + 1}] === 0 ? null : H.numDiv(acc[${s}], acc[${s + 1}]))`,
  acceptsNull: false,
  retract: (s, [x]) => `acc[${s}] = H.numSub(acc[${s}], ${x}); acc[${s + 1}]--;\n`,
  merge: (s) => `acc[${s}] = H.numSum(acc[${s}], o[${s}]); acc[${s + 1}] += o[${s + 1}];\n`,
}

const RULES: Record<string, Rule> = {
  ...STATISTICAL_AGGREGATES,
  count: (args, star) =>
    star || args.length === 0
      ? { name: 'count', type: Types.int8, slots: 1, init: [0], update: (s) => `acc[${s}]++;\n`, finalize: (s) => `acc[${s}]`, acceptsNull: true, retract: (s) => `acc[${s}]--;\n`, merge: (s) => `acc[${s}] += o[${s}];\n` }
      : args.length === 1
        ? { name: 'count', type: Types.int8, slots: 1, init: [0], update: (s) => `acc[${s}]++;\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false, retract: (s) => `acc[${s}]--;\n`, merge: (s) => `acc[${s}] += o[${s}];\n` }
        : undefined,
  sum: (args) =>
    args.length === 1 && isNumericType(args[0]!)
      ? numericSum
      : args.length === 1 && isNumeric(args[0]!)
      ? {
          name: 'sum',
          type: sumType(args[0]!),
          slots: 1,
          init: [null],
          update: (s, [x]) => `acc[${s}] = acc[${s}] === null ? ${x} : acc[${s}] + ${x};\n`,
          finalize: (s) => `acc[${s}]`,
          acceptsNull: false,
          retract: (s, [x]) => `acc[${s}] -= ${x};\n`,
          merge: (s) => `if (o[${s}] !== null) acc[${s}] = acc[${s}] === null ? o[${s}] : acc[${s}] + o[${s}];\n`,
        }
      : undefined,
  avg: (args) =>
    args.length === 1 && isNumeric(args[0]!) && !isFloat(args[0]!)
      ? numericAvg
      : args.length === 1 && isNumeric(args[0]!)
      ? {
          name: 'avg',
          type: avgType(args[0]!),
          slots: 2,
          init: [0, 0],
          update: (s, [x]) => `acc[${s}] += ${x}; acc[${s + 1}]++;\n`,
          finalize: (s) => `(acc[${s + 1}] === 0 ? null : acc[${s}] / acc[${s + 1}])`,
          acceptsNull: false,
          retract: (s, [x]) => `acc[${s}] -= ${x}; acc[${s + 1}]--;\n`,
          merge: (s) => `acc[${s}] += o[${s}]; acc[${s + 1}] += o[${s + 1}];\n`,
        }
      : undefined,
  min: minMax('min', '<'),
  max: minMax('max', '>'),
  max_by: argMinMax('max_by', '>'),
  min_by: argMinMax('min_by', '<'),
  // NULL inputs are skipped; no non-null input gives NULL (PostgreSQL's bool_or, bool_and and every).
  bool_or: (args) =>
    args.length === 1 && isBool(args[0]!)
      ? { name: 'bool_or', type: Types.bool, slots: 1, init: [null], update: (s, [x]) => `acc[${s}] = acc[${s}] === true || ${x};\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false }
      : undefined,
  bool_and: (args) =>
    args.length === 1 && isBool(args[0]!)
      ? { name: 'bool_and', type: Types.bool, slots: 1, init: [null], update: (s, [x]) => `acc[${s}] = acc[${s}] !== false && ${x};\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false }
      : undefined,
  // Not aggregates in PostgreSQL (window functions there): the first / last input in arrival order, NULL
  // included (IGNORE NULLS, in a window, skips NULLs).
  first_value: (args) =>
    args.length === 1
      ? {
          name: 'first_value',
          type: args[0]!,
          slots: 2,
          init: [null, false],
          update: (s, [x]) => `if (acc[${s + 1}] === false) { acc[${s}] = ${x}; acc[${s + 1}] = true; }\n`,
          finalize: (s) => `acc[${s}]`,
          acceptsNull: true,
        }
      : undefined,
  last_value: (args) =>
    args.length === 1
      ? { name: 'last_value', type: args[0]!, slots: 1, init: [null], update: (s, [x]) => `acc[${s}] = ${x};\n`, finalize: (s) => `acc[${s}]`, acceptsNull: true }
      : undefined,
  approx_count_distinct: (args) =>
    args.length === 1 && args[0]!.name !== 'unknown'
      ? {
          name: 'approx_count_distinct',
          type: Types.int8,
          slots: 1,
          init: [null],
          update: (s, [x]) => `acc[${s}] = H.hllAdd(acc[${s}], ${x});\n`,
          finalize: (s) => `(acc[${s}] === null ? 0 : H.hllEstimate(acc[${s}]))`,
          acceptsNull: false,
        }
      : undefined,
  approx_percentile: (args) =>
    args.length === 2 && isNumeric(args[0]!) && isNumeric(args[1]!)
      ? {
          name: 'approx_percentile',
          type: Types.float8,
          slots: 2,
          // The sketch, and the fraction (kept so that `finalize` needs nothing but the slots).
          init: [null, null],
          update: (s, [x, f]) => {
            checkFractionCode(f!)
            // The fraction may be a numeric (0.95 is a numeric literal): kept as a double.
            return `if (acc[${s + 1}] !== (${f} === null ? null : +${f})) acc[${s + 1}] = H.percentileFraction(${f});\nacc[${s}] = H.pctAdd(acc[${s}], ${x});\n`
          },
          finalize: (s) => `(acc[${s}] === null ? null : H.pctQuantile(acc[${s}], acc[${s + 1}]))`,
          acceptsNull: false,
          checkArgs: (bound, spans) => {
            const f = bound[1]
            if (f === undefined) return
            if (f.kind !== 'const' && f.kind !== 'param') throw fractionNotConstant(spans[1])
            if (f.kind === 'const' && f.value !== null && !isFraction(f.value)) throw fractionOutOfRange(f.value, 'plan', spans[1])
          },
        }
      : undefined,
  // string_agg and array_agg keep at most AGG_ELEMENT_LIMIT inputs per group, the first ones in arrival order.
  string_agg: (args) =>
    args.length === 2 && isText(args[0]!) && isText(args[1]!)
      ? {
          name: 'string_agg',
          type: Types.text,
          slots: 2,
          // The text so far, and how many values it holds.
          init: [null, 0],
          // A NULL value is skipped; a NULL delimiter counts as '' (PostgreSQL's string_agg is not strict).
          update: (s, [x, d]) =>
            `if (${x} !== null && acc[${s + 1}] < ${AGG_ELEMENT_LIMIT}) { acc[${s}] = acc[${s}] === null ? ${x} : acc[${s}] + (${d} === null ? '' : ${d}) + ${x}; acc[${s + 1}]++; }\n`,
          finalize: (s) => `acc[${s}]`,
          acceptsNull: true,
        }
      : undefined,
  // bytea is refused: the state codec does not round-trip Buffers inside arrays.
  array_agg: (args) =>
    args.length === 1 && !args[0]!.element && args[0]!.name !== 'unknown' && args[0]!.name !== 'bytea'
      ? {
          name: 'array_agg',
          type: arrayOf(args[0]!),
          slots: 1,
          // Created on the first input: `init` values are shared between groups, so they hold no arrays.
          init: [null],
          // NULL inputs are elements too, as in PostgreSQL.
          update: (s, [x]) => `if (acc[${s}] === null) acc[${s}] = [${x}]; else if (acc[${s}].length < ${AGG_ELEMENT_LIMIT}) acc[${s}].push(${x});\n`,
          // A copy: the accumulator keeps growing after the row that shows it has been emitted.
          finalize: (s) => `(acc[${s}] === null ? null : acc[${s}].slice())`,
          acceptsNull: true,
        }
      : undefined,
}
RULES.every = RULES.bool_and!

export const isAggregateName = (name: string): boolean => name in RULES

/** Every aggregate's name, for the function list of docs/sql-reference.md and the differential suite. */
export const AGGREGATE_NAMES: readonly string[] = Object.keys(RULES)

export function resolveAggregate(name: string, args: readonly SqlType[], star: boolean): AggregateSpec | undefined {
  const rule = RULES[name]
  return rule === undefined ? undefined : rule(args, star)
}
