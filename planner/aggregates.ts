/**
 * Aggregate functions. All aggregates of one query share one accumulator array per group (`acc`), each owning
 * a few slots; the planner compiles one `update(acc, row)` function for all of them (filters included) and
 * one `finalize(acc)` — so a group costs one array and one call per event, whatever the number of aggregates.
 */
import { Types, isInteger, isNumeric, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'

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
  /** True when NULL arguments still reach `update` (count(*), first_value, last_value). */
  readonly acceptsNull: boolean
}

export interface BoundAggregate {
  readonly spec: AggregateSpec
  readonly args: readonly BoundExpr[]
  readonly filter: BoundExpr | null
  readonly distinct: boolean
  /** Text for EXPLAIN and for matching identical aggregates in SELECT and HAVING. */
  readonly display: string
}

const sumType = (t: SqlType): SqlType => (isInteger(t) ? (t.name === 'int8' ? Types.numeric : Types.int8) : t.name === 'float4' ? Types.float8 : t)
const avgType = (t: SqlType): SqlType => (t.name === 'float4' || t.name === 'float8' ? Types.float8 : Types.numeric)

type Rule = (args: readonly SqlType[], star: boolean) => AggregateSpec | undefined

const minMax = (name: string, cmp: '<' | '>'): Rule => (args) =>
  args.length === 1
    ? {
        name,
        type: args[0]!,
        slots: 1,
        init: [null],
        update: (s, [x]) =>
          isNumeric(args[0]!) || args[0]!.name === 'text' || args[0]!.name === 'timestamptz' || args[0]!.name === 'timestamp' || args[0]!.name === 'date'
            ? `if (acc[${s}] === null || ${x} ${cmp} acc[${s}]) acc[${s}] = ${x};\n`
            : `if (acc[${s}] === null || H.compareValues(${x}, acc[${s}]) ${cmp} 0) acc[${s}] = ${x};\n`,
        finalize: (s) => `acc[${s}]`,
        acceptsNull: false,
      }
    : undefined

const RULES: Record<string, Rule> = {
  count: (args, star) =>
    star || args.length === 0
      ? { name: 'count', type: Types.int8, slots: 1, init: [0], update: (s) => `acc[${s}]++;\n`, finalize: (s) => `acc[${s}]`, acceptsNull: true }
      : args.length === 1
        ? { name: 'count', type: Types.int8, slots: 1, init: [0], update: (s) => `acc[${s}]++;\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false }
        : undefined,
  sum: (args) =>
    args.length === 1 && isNumeric(args[0]!)
      ? {
          name: 'sum',
          type: sumType(args[0]!),
          slots: 1,
          init: [null],
          update: (s, [x]) => `acc[${s}] = acc[${s}] === null ? ${x} : acc[${s}] + ${x};\n`,
          finalize: (s) => `acc[${s}]`,
          acceptsNull: false,
        }
      : undefined,
  avg: (args) =>
    args.length === 1 && isNumeric(args[0]!)
      ? {
          name: 'avg',
          type: avgType(args[0]!),
          slots: 2,
          init: [0, 0],
          update: (s, [x]) => `acc[${s}] += ${x}; acc[${s + 1}]++;\n`,
          finalize: (s) => `(acc[${s + 1}] === 0 ? null : acc[${s}] / acc[${s + 1}])`,
          acceptsNull: false,
        }
      : undefined,
  min: minMax('min', '<'),
  max: minMax('max', '>'),
  bool_or: (args) =>
    args.length === 1 && args[0]!.name === 'bool'
      ? { name: 'bool_or', type: Types.bool, slots: 1, init: [null], update: (s, [x]) => `acc[${s}] = acc[${s}] === true || ${x};\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false }
      : undefined,
  bool_and: (args) =>
    args.length === 1 && args[0]!.name === 'bool'
      ? { name: 'bool_and', type: Types.bool, slots: 1, init: [null], update: (s, [x]) => `acc[${s}] = acc[${s}] !== false && ${x};\n`, finalize: (s) => `acc[${s}]`, acceptsNull: false }
      : undefined,
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
}
RULES.every = RULES.bool_and!

export const isAggregateName = (name: string): boolean => name in RULES

export function resolveAggregate(name: string, args: readonly SqlType[], star: boolean): AggregateSpec | undefined {
  const rule = RULES[name]
  return rule === undefined ? undefined : rule(args, star)
}
