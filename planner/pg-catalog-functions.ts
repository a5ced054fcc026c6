/**
 * More of the functions catalog clients call (pg_dump, psql's \d family, SQLAlchemy's inspector, pgcli):
 * session settings (`current_setting`, `set_config`), visibility and privilege tests, ACL defaults,
 * quoting. Sluice has one role, no sequences, operators, collations or text search objects of its own, so
 * these answer as a PostgreSQL database without them would.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, type SqlType, type Value } from '../common/types.ts'
import type { EmitContext, ScalarImpl } from '../expr/bound.ts'
import type { Resolved } from './functions.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { ROLE_OIDS, T, searchPathSchemas } from './pg-catalog.ts'
import { isQuotedKeyword } from './table-functions.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')

/** Any arguments, `n` of them (or one of the counts); `argTypes` casts them as the signature wants. */
const fn = (n: number | readonly number[], type: SqlType, emit: (a: readonly string[], c: EmitContext) => string, opts: { strict?: boolean; session?: boolean; argTypes?: (args: readonly SqlType[]) => readonly SqlType[] | undefined } = {}): FunctionRule => (args) => {
  if (typeof n === 'number' ? args.length !== n : !n.includes(args.length)) return undefined
  const impl: ScalarImpl = { strict: opts.strict ?? true, ...(opts.session ? { volatile: true } : {}), emit }
  const argTypes = opts.argTypes?.(args)
  return argTypes === undefined ? { type, impl } : { type, impl, argTypes }
}

const asText = (args: readonly SqlType[]): readonly SqlType[] => args.map(() => Types.text)

/** `current_setting(name [, missing_ok])`: 42704 for a setting that does not exist unless `missing_ok`. */
export function currentSetting(ctx: EvalContext, name: string | null, missingOk: boolean | null = false): string | null {
  if (name === null) return null
  const v = ctx.settings?.get(name.toLowerCase())
  if (v !== undefined) return v
  if (missingOk === true) return null
  throw new SluiceError('execution', SqlState.undefinedObject, `unrecognized configuration parameter "${name}"`)
}

/** `set_config(name, value, is_local)`: sets the session's setting and returns the new value. */
export function setConfig(ctx: EvalContext, name: string | null, value: string | null, local: boolean | null): string | null {
  if (name === null) throw new SluiceError('execution', SqlState.invalidParameterValue, 'SET requires parameter name')
  if (ctx.settings === undefined) throw new SluiceError('execution', SqlState.featureNotSupported, 'set_config can only be called in a query of a session')
  const v = value ?? ''
  ctx.settings.set(name.toLowerCase(), v, local === true)
  return v
}

/**
 * `acldefault(type, owner)`: the privileges an object of that kind has before any GRANT, as PostgreSQL 15
 * writes them (`{owner=arwdDxt/owner}` for a relation); Sluice's only role is the session's user.
 */
export function aclDefault(kind: string | null, owner: string): string[] | null {
  switch (kind) {
    case 'r':
      return [`${owner}=arwdDxt/${owner}`]
    case 's':
      return [`${owner}=rwU/${owner}`]
    case 'f':
      return [`=X/${owner}`, `${owner}=X/${owner}`]
    case 'l':
    case 'T':
      return [`=U/${owner}`, `${owner}=U/${owner}`]
    case 'n':
      return [`${owner}=UC/${owner}`]
    case 'd':
      return [`=Tc/${owner}`, `${owner}=CTc/${owner}`]
    case 'F':
    case 'S':
      return [`${owner}=U/${owner}`]
    default:
      return []
  }
}

/** `quote_literal(x)`: a string literal, `E'...'` when it holds a backslash (as PostgreSQL writes it). */
export function quoteLiteral(x: string): string {
  const body = x.replace(/'/g, "''")
  return x.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`
}

/** `quote_ident(x)`: quoted unless a lower-case identifier that is no keyword needing quotes. */
export function quoteIdent(x: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(x) && !isQuotedKeyword(x) ? x : `"${x.replace(/"/g, '""')}"`
}

/**
 * `format(fmt, args...)`: `%s` (text, NULL as nothing), `%I` (identifier), `%L` (literal, NULL as NULL),
 * `%%`, with an optional `n$` argument position and a width (`%10s`, `%-10s` to the left).
 */
/**
 * The widest `%10s` field format() pads to. PostgreSQL allows up to 2^31 - 1, but a string that long does not
 * fit in a JavaScript string, and one near it would hold the one-threaded server's memory for one call.
 */
const MAX_FORMAT_WIDTH = 10_000_000

export function formatText(fmt: string, values: readonly (string | null)[]): string {
  let next = 0
  return fmt.replace(/%(?:(\d+)\$)?(-)?(\d+)?([sIL%])/g, (_, pos: string | undefined, left: string | undefined, width: string | undefined, conv: string) => {
    if (conv === '%') return '%'
    const i = pos === undefined ? next++ : Number(pos) - 1
    if (pos !== undefined) next = i + 1
    if (i < 0 || i >= values.length) throw new SluiceError('execution', SqlState.invalidParameterValue, 'too few arguments for format()')
    const v = values[i]!
    let out: string
    if (conv === 's') out = v ?? ''
    else if (conv === 'L') out = v === null ? 'NULL' : quoteLiteral(v)
    else if (v === null) throw new SluiceError('execution', SqlState.nullValueNotAllowed, 'null values cannot be formatted as an SQL identifier')
    else out = quoteIdent(v)
    const w = width === undefined ? 0 : Number(width)
    if (w > 2 ** 31 - 1) throw new SluiceError('execution', SqlState.numericValueOutOfRange, 'number is out of range')
    if (w > MAX_FORMAT_WIDTH) throw new SluiceError('execution', SqlState.programLimitExceeded, `format() field width ${width} exceeds the limit of ${MAX_FORMAT_WIDTH}`)
    return left === undefined ? out.padStart(w) : out.padEnd(w)
  })
}

function currentSchemas(ctx: EvalContext, implicit: boolean): string[] {
  const schemas = searchPathSchemas(ctx.settings?.get('search_path'))
  return implicit && !schemas.includes('pg_catalog') ? ['pg_catalog', ...schemas] : schemas
}

function arrayRemove(arr: readonly Value[], x: Value): Value[] {
  return arr.filter((v) => !(v === x || (v !== null && x !== null && JSON.stringify(v) === JSON.stringify(x))))
}

const ENCODINGS: Record<string, number> = { SQL_ASCII: 0, UTF8: 6, LATIN1: 8 }

const visible = fn(1, Types.bool, () => 'true')

export const CATALOG_SESSION_FUNCTIONS: Record<string, FunctionRule> = {
  // No column is serial: Sluice has no sequences.
  pg_get_serial_sequence: fn(2, Types.text, () => 'null', { strict: false, argTypes: asText }),
  current_setting: (args) =>
    (args.length === 1 || args.length === 2) && isText(args[0]!)
      ? { type: Types.text, impl: { strict: false, volatile: true, emit: ([n, m], c) => `${c.constant(currentSetting)}(ctx, ${n}, ${m ?? 'false'})` }, argTypes: [Types.text, ...(args.length === 2 ? [Types.bool] : [])] }
      : undefined,
  set_config: (args) =>
    args.length === 3
      ? { type: Types.text, impl: { strict: false, volatile: true, emit: ([n, v, l], c) => `${c.constant(setConfig)}(ctx, ${n}, ${v}, ${l})` }, argTypes: [Types.text, Types.text, Types.bool] }
      : undefined,
  array_remove: (args) =>
    args.length === 2 && args[0]!.element !== undefined
      ? { type: args[0]!, impl: { strict: false, emit: ([a, x], c) => `(${a} === null ? null : ${c.constant(arrayRemove)}(${a}, ${x}))` }, argTypes: [args[0]!, args[0]!.element] }
      : undefined,
  getdatabaseencoding: fn(0, T.name, () => "'UTF8'"),
  pg_char_to_encoding: fn(1, Types.int4, ([e], c) => `(${c.constant(ENCODINGS)}[${e}] ?? -1)`, { argTypes: asText }),
  pg_operator_is_visible: visible,
  pg_opclass_is_visible: visible,
  pg_opfamily_is_visible: visible,
  pg_collation_is_visible: visible,
  pg_conversion_is_visible: visible,
  pg_statistics_obj_is_visible: visible,
  pg_ts_config_is_visible: visible,
  pg_ts_dict_is_visible: visible,
  pg_ts_parser_is_visible: visible,
  pg_ts_template_is_visible: visible,
  pg_tablespace_location: fn(1, Types.text, () => "''"),
  pg_has_role: fn([2, 3], Types.bool, () => 'true', { strict: false }),
  acldefault: fn(2, T.aclArray, ([k], c) => `${c.constant(aclDefault)}(${k}, ctx.user)`, { session: true, argTypes: (a) => [T.char, a[1]!] }),
  quote_literal: fn(1, Types.text, ([x], c) => `${c.constant(quoteLiteral)}(H.formatValue(${x}, ${c.constant(c.argTypes[0])}))`, { argTypes: (a) => (a[0]!.name === 'unknown' ? [Types.text] : undefined) }),
  quote_nullable: fn(1, Types.text, ([x], c) => `(${x} === null ? 'NULL' : ${c.constant(quoteLiteral)}(H.formatValue(${x}, ${c.constant(c.argTypes[0])})))`, { strict: false, argTypes: (a) => (a[0]!.name === 'unknown' ? [Types.text] : undefined) }),
  // The schemas of the session's search_path (with pg_catalog first when asked for the implicit ones).
  current_schemas: fn(1, T.nameArray, ([implicit], c) => `${c.constant(currentSchemas)}(ctx, ${implicit})`, { session: true }),
  current_schema: fn(0, T.name, (_, c) => `(${c.constant(currentSchemas)}(ctx, false)[0] ?? null)`, { strict: false, session: true }),
  // Sluice's one role is the session's user; schema public belongs to pg_database_owner as in PostgreSQL 15.
  pg_get_userbyid: fn(1, T.name, ([o]) => `(${o} === ${ROLE_OIDS.databaseOwner} ? 'pg_database_owner' : ${o} === ${ROLE_OIDS.bootstrapSuperuser} ? ctx.user : 'unknown (OID=' + ${o} + ')')`, { session: true }),
  quote_ident: fn(1, Types.text, ([x], c) => `${c.constant(quoteIdent)}(${x})`, { argTypes: asText }),
  format: (args) =>
    args.length >= 1 && isText(args[0]!)
      ? {
          type: Types.text,
          impl: { strict: false, emit: ([f, ...xs], c) => `(${f} === null ? null : ${c.constant(formatText)}(${f}, [${xs.map((x, i) => `${x} === null ? null : H.formatValue(${x}, ${c.constant(c.argTypes[i + 1])})`).join(', ')}]))` },
          argTypes: [Types.text, ...args.slice(1).map((t) => (t.name === 'unknown' ? Types.text : t))],
        }
      : undefined,
  pg_get_statisticsobjdef: fn(1, Types.text, () => 'null', { strict: false }),
}
