/**
 * JSON operators and functions on json and jsonb, resolved as PostgreSQL resolves them. Values are held as
 * JSON text (common/types.ts); each helper parses, walks and answers. A jsonb result is written the way
 * PostgreSQL writes jsonb (keys sorted by length then bytes, `", "` and `": "`); a json result is written
 * compactly (PostgreSQL keeps a json value's own spacing, which parsing loses).
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, arrayOf, isInteger, type SqlType, type Value } from '../common/types.ts'
import type { EmitContext, ScalarImpl } from './bound.ts'
import { jsonNeedsZone, toJsonValue } from './runtime.ts'
import { sessionZone } from './time-zone-eval.ts'
import type { TimeZone } from '../common/time-zone.ts'
import { byJsonbKey, jsonCompactText, jsonbText, parseJsonDigits } from '../common/jsonb-text.ts'
import { Numeric } from '../common/numeric.ts'

interface Resolved {
  readonly type: SqlType
  readonly impl: ScalarImpl
  readonly argTypes?: readonly SqlType[]
}

const isJson = (t: SqlType): boolean => !t.element && (t.name === 'json' || t.name === 'jsonb')
const isTextLike = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const textArray = arrayOf(Types.text)

/** Calls a helper passed to the generated code as a constant; null in, null out. */
const helper = (fn: (...xs: never[]) => unknown, ...extra: unknown[]): ScalarImpl => ({
  strict: true,
  emit: (xs: readonly string[], c: EmitContext) => `${c.constant(fn)}(${[...xs, ...extra.map((e) => c.constant(e))].join(', ')})`,
})

/**
 * The type an untyped literal or parameter takes on the right of a JSON operator. PostgreSQL prefers the
 * text variant of `->` for an unknown literal, so `attrs->>'device'` is a key, not a JSON document.
 */
export function jsonOperandType(op: string, left: SqlType): SqlType | undefined {
  if (!isJson(left)) return undefined
  if (op === '->' || op === '->>' || op === '?') return Types.text
  if (op === '#>' || op === '#>>' || op === '?|' || op === '?&') return textArray
  return undefined
}

export function resolveJsonOperator(op: string, a: SqlType, b: SqlType): Resolved | undefined {
  if (!isJson(a)) return undefined
  const jsonb = a.name === 'jsonb'
  if (op === '->' || op === '->>') {
    if (!isTextLike(b) && !isInteger(b)) return undefined
    return { type: op === '->' ? a : Types.text, impl: helper(jsonArrow, op === '->>', jsonb) }
  }
  if (op === '#>' || op === '#>>') {
    if (!(b.element && isTextLike(b.element))) return undefined
    return { type: op === '#>' ? a : Types.text, impl: helper(jsonPath, op === '#>>', jsonb) }
  }
  if (!jsonb) return undefined
  if ((op === '@>' || op === '<@') && b.name === 'jsonb' && !b.element) {
    return { type: Types.bool, impl: op === '@>' ? helper(jsonbContains) : helper(jsonbContainedBy) }
  }
  if (op === '?' && isTextLike(b)) return { type: Types.bool, impl: helper(jsonbHasKey) }
  if ((op === '?|' || op === '?&') && b.element && isTextLike(b.element)) return { type: Types.bool, impl: helper(jsonbHasKeys, op === '?&') }
  return undefined
}

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const oneJson = (kind: 'json' | 'jsonb', type: SqlType, fn: (x: string) => Value): FunctionRule => (args) =>
  args.length === 1 && (args[0]!.name === kind || args[0]!.name === 'unknown') && !args[0]!.element
    ? { type, impl: helper(fn), argTypes: [kind === 'json' ? Types.json : Types.jsonb] }
    : undefined

const extractPath = (kind: 'json' | 'jsonb', asText: boolean): FunctionRule => (args) => {
  if (args.length < 2 || !(args[0]!.name === kind || args[0]!.name === 'unknown') || args[0]!.element) return undefined
  if (!args.slice(1).every(isTextLike)) return undefined
  const t = kind === 'json' ? Types.json : Types.jsonb
  return {
    type: asText ? Types.text : t,
    impl: { strict: false, emit: ([x, ...path], c) => `${c.constant(extractPathOf)}(${x}, [${path.join(', ')}], ${asText}, ${kind === 'jsonb'})` },
    argTypes: [t, ...args.slice(1).map(() => Types.text)],
  }
}

const toJsonb: FunctionRule = (args) =>
  args.length === 1
    ? { type: Types.jsonb, impl: { strict: true, volatile: jsonNeedsZone(args), emit: ([x], c) => `${c.constant(toJsonbText)}(${x}, ${c.constant(c.argTypes[0])}${zoneArg(c)})` }, argTypes: args }
    : undefined

/** The session's zone as an extra argument of a JSON writer, when a timestamptz is among the call's types. */
export const zoneArg = (c: EmitContext): string => (jsonNeedsZone(c.argTypes) ? `, ${c.constant(sessionZone)}(ctx)` : '')

/** The key/value pairs of a json(b)_build_object call, as an array literal for its writer. */
export function pairsCode(xs: readonly string[], c: EmitContext): string {
  const pairs: string[] = []
  for (let i = 0; i < xs.length; i += 2) pairs.push(`{ key: ${xs[i]}, value: ${xs[i + 1]}, type: ${c.constant(c.argTypes[i + 1])} }`)
  return `[${pairs.join(', ')}]`
}

const jsonbBuildObject: FunctionRule = (args) =>
  args.length % 2 === 0
    ? {
        type: Types.jsonb,
        impl: {
          strict: false,
          volatile: jsonNeedsZone(args),
          emit: (xs, c) => `${c.constant(buildJsonbObject)}(${pairsCode(xs, c)}${zoneArg(c)})`,
        },
        argTypes: args.map((t) => (t.name === 'unknown' ? Types.text : t)),
      }
    : undefined

/** Entries for planner/functions.ts' FUNCTIONS table. */
export const JSON_FUNCTIONS: Record<string, FunctionRule> = {
  json_typeof: oneJson('json', Types.text, (x) => typeOf(parse(x))),
  jsonb_typeof: oneJson('jsonb', Types.text, (x) => typeOf(parse(x))),
  json_array_length: oneJson('json', Types.int4, (x) => arrayLength(parse(x))),
  jsonb_array_length: oneJson('jsonb', Types.int4, (x) => arrayLength(parse(x))),
  json_extract_path: extractPath('json', false),
  json_extract_path_text: extractPath('json', true),
  jsonb_extract_path: extractPath('jsonb', false),
  jsonb_extract_path_text: extractPath('jsonb', true),
  jsonb_build_object: jsonbBuildObject,
  to_jsonb: toJsonb,
}

// ---- runtime helpers (called from generated code) ----

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new SluiceError('execution', SqlState.invalidTextRepresentation, 'invalid input syntax for type json')
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Numeric)

function render(v: unknown, asText: boolean, jsonb: boolean): Value {
  if (v === undefined || (asText && v === null)) return null
  if (asText && typeof v === 'string') return v
  return jsonb ? jsonbText(v) : jsonCompactText(v)
}

function step(v: unknown, key: Value, jsonb: boolean): unknown {
  if (typeof key === 'number') {
    // PostgreSQL keeps a jsonb scalar as an array of one: element 0 (or -1) of it is the scalar.
    if (jsonb && v !== undefined && !Array.isArray(v) && !isObject(v)) return key === 0 || key === -1 ? v : undefined
    if (!Array.isArray(v)) return undefined
    return v[key < 0 ? v.length + key : key]
  }
  if (isObject(v)) return Object.prototype.hasOwnProperty.call(v, String(key)) ? v[String(key)] : undefined
  return undefined
}

/** A text path element on an array is an index when it reads as an integer; anything else finds nothing. */
function pathStep(v: unknown, key: string | null, jsonb: boolean): unknown {
  if (key === null) return undefined
  if (Array.isArray(v)) return /^\s*[-+]?\d+\s*$/.test(key) ? step(v, Number(key), jsonb) : undefined
  return step(v, key, jsonb)
}

/** A number, or a container that may hold one: JSON.parse has rounded it through a double. */
const mayHoldNumber = (v: unknown): boolean => typeof v === 'number' || (typeof v === 'object' && v !== null)

/**
 * `->` / `->>`: JSON.parse finds the value; one that is or holds a number is found again in a parse that
 * keeps the digits written (`2.50`, not `2.5`), so strings, the common case, cost one native parse.
 */
export function jsonArrow(json: string, key: Value, asText: boolean, jsonb: boolean): Value {
  const v = step(parse(json), key, jsonb)
  return render(mayHoldNumber(v) ? step(parseJsonDigits(json), key, jsonb) : v, asText, jsonb)
}

export function jsonPath(json: string, path: readonly (string | null)[], asText: boolean, jsonb: boolean): Value {
  const v = walk(parse(json), path, jsonb)
  return v === undefined ? null : render(mayHoldNumber(v) ? walk(parseJsonDigits(json), path, jsonb) : v, asText, jsonb)
}

function walk(doc: unknown, path: readonly (string | null)[], jsonb: boolean): unknown {
  let v = doc
  for (const k of path) {
    v = pathStep(v, k, jsonb)
    if (v === undefined) return undefined
  }
  return v
}

function extractPathOf(json: string | null, path: readonly (string | null)[], asText: boolean, jsonb: boolean): Value {
  return json === null ? null : jsonPath(json, path, asText, jsonb)
}

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'object') return 'object'
  return typeof v
}

function arrayLength(v: unknown): number {
  if (Array.isArray(v)) return v.length
  throw new SluiceError('execution', SqlState.invalidParameterValue, isObject(v) ? 'cannot get array length of a non-array' : 'cannot get array length of a scalar')
}

/** PostgreSQL's jsonb containment: objects by key, arrays by any matching element, scalars by equality. */
function contains(a: unknown, b: unknown, top: boolean): boolean {
  if (Array.isArray(a)) {
    // A top-level array contains a bare scalar it holds as an element.
    if (!Array.isArray(b)) return top && !isObject(b) && a.some((x) => !Array.isArray(x) && !isObject(x) && x === b)
    return b.every((y) => a.some((x) => contains(x, y, false)))
  }
  if (isObject(a)) return isObject(b) && Object.keys(b).every((k) => Object.prototype.hasOwnProperty.call(a, k) && contains(a[k], b[k], false))
  return !Array.isArray(b) && !isObject(b) && a === b
}

export const jsonbContains = (a: string, b: string): boolean => contains(parse(a), parse(b), true)
export const jsonbContainedBy = (a: string, b: string): boolean => contains(parse(b), parse(a), true)

export function jsonbHasKey(json: string, key: string): boolean {
  const v = parse(json)
  if (isObject(v)) return Object.prototype.hasOwnProperty.call(v, key)
  if (Array.isArray(v)) return v.some((x) => x === key)
  return typeof v === 'string' && v === key
}

function jsonbHasKeys(json: string, keys: readonly (string | null)[], all: boolean): boolean {
  const present = keys.filter((k): k is string => k !== null)
  return all ? present.every((k) => jsonbHasKey(json, k)) : present.some((k) => jsonbHasKey(json, k))
}

/** `jsonb_object_keys`: the keys of an object in jsonb's order; an array or a scalar is an error (22023). */
export function jsonbObjectKeys(json: string): string[] {
  const v = parse(json)
  if (!isObject(v)) throw new SluiceError('execution', SqlState.invalidParameterValue, `cannot call jsonb_object_keys on ${Array.isArray(v) ? 'an array' : 'a scalar'}`)
  return Object.keys(v).sort(byJsonbKey)
}

function toJsonbText(v: Value, t: SqlType, zone?: TimeZone): string {
  return jsonbText(toJsonValue(v, t, zone))
}

function buildJsonbObject(pairs: readonly { key: Value; value: Value; type: SqlType }[], zone?: TimeZone): string {
  const o: Record<string, unknown> = {}
  for (const p of pairs) {
    if (p.key === null) throw new SluiceError('execution', SqlState.invalidParameterValue, 'argument 1 cannot be null')
    o[String(p.key)] = p.value === null ? null : toJsonValue(p.value, p.type, zone)
  }
  return jsonbText(o)
}
