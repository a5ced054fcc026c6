/**
 * pg_proc and pg_operator: Sluice's built-in functions, aggregates and binary operators, in schema
 * `pg_catalog`, with one row per signature as PostgreSQL lists its overloads. Clients that generate calls
 * from the catalog (query generators such as sqlsmith, autocompletion) read them.
 *
 * Sluice's functions resolve by rules over argument types (planner/functions.ts, expr/aggregates.ts), not
 * from a table of signatures, so the signatures listed are found by asking each rule about the core types:
 * a signature is listed when the rule takes those argument types as they are (no implicit cast). A rule
 * that takes anything (the catalog helpers) lists at most a few signatures per arity.
 *
 * Left out: functions that act on other sessions (pg_cancel_backend, pg_terminate_backend), so that a
 * client exploring the catalog does not stumble on them, and the ones the grammar reserves (`extract`,
 * `current_timestamp`, ...), which are not called with parentheses.
 *
 * OIDs are stable by position in the built-in tables, in ranges below those of streams and views (16384).
 */
import { Types, typeOid, type Row, type SqlType } from '../common/types.ts'
import { isAggregateName, resolveAggregate } from '../expr/aggregates.ts'
import { FUNCTION_NAMES, resolveFunction, resolveOperator } from './functions.ts'
import { CATALOG_TABLES, NS, ROLE_OIDS, catalogTableOid } from './pg-catalog.ts'

/** The argument types signatures are made of. */
const CORE_TYPES: readonly SqlType[] = [
  Types.bool, Types.int2, Types.int4, Types.int8, Types.float4, Types.float8, Types.numeric, Types.text,
  Types.timestamptz, Types.timestamp, Types.date, Types.interval, Types.json, Types.jsonb, Types.bytea,
]
/** Three-argument signatures only over these, to keep the listing small. */
const TERNARY_TYPES: readonly SqlType[] = [Types.int4, Types.int8, Types.float8, Types.text]
/** At most this many signatures per function and arity. */
const MAX_PER_ARITY = 8

const HIDDEN = new Set(['pg_cancel_backend', 'pg_terminate_backend', 'extract', 'current_timestamp', 'current_date', 'current_user', 'session_user', 'user', 'current_catalog', 'current_schema', 'trim', 'substring'])
const AGGREGATES = ['count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'string_agg', 'array_agg', 'stddev', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop']
const OPERATORS = ['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '^', '&', '|', '#', '||', '~', '~*', '!~', '!~*', '->', '->>']

const FUNCTION_OID_BASE = 13000
const OPERATOR_OID_BASE = 15500

export interface Signature {
  readonly oid: number
  readonly name: string
  readonly args: readonly number[]
  readonly result: number
  readonly kind: 'f' | 'a'
  /** Reads the clock, the session or randomness (provolatile 'v'), else 'i'. */
  readonly volatile: boolean
  /** NULL in, NULL out without a call (proisstrict). */
  readonly strict: boolean
}

export interface OperatorSignature {
  readonly oid: number
  readonly name: string
  readonly left: number
  readonly right: number
  readonly result: number
}

function tuples(types: readonly SqlType[], n: number): SqlType[][] {
  if (n === 0) return [[]]
  return tuples(types, n - 1).flatMap((t) => types.map((x) => [...t, x]))
}

const sameTypes = (a: readonly SqlType[], b: readonly SqlType[] | undefined): boolean =>
  b === undefined || (a.length === b.length && a.every((t, i) => typeOid(t) === typeOid(b[i]!)))

let functionsCache: Signature[] | null = null

/** Every listed function and aggregate signature (computed once). */
export function functionSignatures(): Signature[] {
  if (functionsCache !== null) return functionsCache
  const out: Signature[] = []
  const add = (name: string, args: readonly SqlType[], result: SqlType, kind: 'f' | 'a', volatile = false, strict = true): void => {
    out.push({ oid: FUNCTION_OID_BASE + out.length, name, args: args.map(typeOid), result: typeOid(result), kind, volatile, strict })
  }
  for (const name of [...FUNCTION_NAMES].sort()) {
    if (HIDDEN.has(name) || !/^[a-z_][a-z0-9_]*$/.test(name)) continue
    for (let n = 0; n <= 3; n++) {
      let listed = 0
      for (const args of tuples(n === 3 ? TERNARY_TYPES : CORE_TYPES, n)) {
        if (listed >= MAX_PER_ARITY) break
        let r
        try {
          r = resolveFunction(name, args)
        } catch {
          continue
        }
        if (r === undefined || !sameTypes(args, r.argTypes)) continue
        add(name, args, r.type, 'f', r.impl.volatile === true, r.impl.strict)
        listed++
      }
    }
  }
  for (const name of AGGREGATES) {
    if (!isAggregateName(name)) continue
    for (const args of tuples(CORE_TYPES, name === 'string_agg' ? 2 : 1)) {
      let spec
      try {
        spec = resolveAggregate(name, args, false)
      } catch {
        continue
      }
      if (spec !== undefined) add(name, args, spec.type, 'a', false, false)
    }
  }
  functionsCache = out
  return out
}

let operatorsCache: OperatorSignature[] | null = null

/** Every listed binary operator signature (computed once). */
export function operatorSignatures(): OperatorSignature[] {
  if (operatorsCache !== null) return operatorsCache
  const out: OperatorSignature[] = []
  for (const op of OPERATORS) {
    for (const [a, b] of tuples(CORE_TYPES, 2) as [SqlType, SqlType][]) {
      // `||` takes anything as text; PostgreSQL lists it for text (and arrays) only.
      if (op === '||' && (a !== Types.text || b !== Types.text)) continue
      let r
      try {
        r = resolveOperator(op, a, b)
      } catch {
        continue
      }
      if (r === undefined || !sameTypes([a, b], r.argTypes)) continue
      out.push({ oid: OPERATOR_OID_BASE + out.length, name: op, left: typeOid(a), right: typeOid(b), result: typeOid(r.type) })
    }
  }
  operatorsCache = out
  return out
}

/** The catalog tables this file fills. */
export const ROUTINE_TABLES: ReadonlySet<string> = new Set(['pg_catalog.pg_proc', 'pg_catalog.pg_operator'])

/** The rows of pg_proc or pg_operator, each ending with its `tableoid` like every catalog row. */
export function routineRows(table: string): Row[] {
  const columns = CATALOG_TABLES[table]!
  const tableoid = catalogTableOid(table)
  const objs: Record<string, unknown>[] =
    table === 'pg_catalog.pg_proc'
      ? functionSignatures().map((s) => ({
          oid: s.oid, proname: s.name, pronamespace: NS.pg_catalog, proowner: ROLE_OIDS.bootstrapSuperuser, prolang: INTERNAL_LANGUAGE, procost: 1, prorows: 0, provariadic: 0,
          prosupport: '-', prokind: s.kind, prosecdef: false, proleakproof: false, proisstrict: s.strict, proretset: false, provolatile: s.volatile ? 'v' : 'i', proparallel: 's',
          pronargs: s.args.length, pronargdefaults: 0, prorettype: s.result, proargtypes: [...s.args], prosrc: s.kind === 'a' ? 'aggregate_dummy' : s.name,
        }))
      : operatorSignatures().map((o) => ({
          oid: o.oid, oprname: o.name, oprnamespace: NS.pg_catalog, oprowner: ROLE_OIDS.bootstrapSuperuser, oprkind: 'b', oprcanmerge: false, oprcanhash: false,
          oprleft: o.left, oprright: o.right, oprresult: o.result, oprcom: 0, oprnegate: 0, oprcode: '-', oprrest: '-', oprjoin: '-',
        }))
  return objs.map((o) => [...columns.map((c) => (o[c.name] ?? null) as Row[number]), tableoid])
}

/** pg_language's `internal`, PostgreSQL's language of built-in functions. */
const INTERNAL_LANGUAGE = 12
