/**
 * The key layout of the one RocksDB keyspace. Engine records (catalog, progress, dead letters, late
 * events) live under readable ASCII prefixes; every table of operator state lives under `t` + its 4-byte
 * namespace id, so one namespace is one contiguous range that can be scanned or deleted at once.
 *
 * Keys are handled as latin1 strings (one char per byte): cheap to build, usable as Map keys in the
 * cache, and they compare in the same order as the bytes RocksDB sorts. Values inside a key are encoded
 * order-preserving (numbers by value, strings bytewise), so windows scan in time order.
 */
import type { Value } from '../../common/types.ts'
import { Numeric, numericKey } from '../../common/numeric.ts'

/** Reserved for the engine's own records; tables get ids from 1. */
export const META_NAMESPACE = 0

const TABLE_PREFIX = 't'

const enum KeyTag {
  Null = 0x01,
  False = 0x02,
  True = 0x03,
  Number = 0x04,
  String = 0x05,
  Other = 0x06,
  Position = 0x07,
}

const scratch = Buffer.alloc(8)
const f64 = new Float64Array(1)
/** The double's bytes; little-endian machines store them reversed, so read from the end. */
const f64Bytes = new Uint8Array(f64.buffer)
const BIG_ENDIAN_ORDER = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [7, 6, 5, 4, 3, 2, 1, 0]
const prefixes: string[] = []
/** Prefixes of high namespaces (a view's HOP slices, a stream's trigger state: a base plus an id). */
const highPrefixes = new Map<number, string>()

function namespacePrefix(id: number): string {
  let p = id < 1 << 16 ? prefixes[id] : highPrefixes.get(id)
  if (p === undefined) {
    scratch.writeUInt32BE(id >>> 0, 0)
    p = TABLE_PREFIX + scratch.toString('latin1', 0, 4)
    if (id < 1 << 16) prefixes[id] = p
    else highPrefixes.set(id, p)
  }
  return p
}

/** An IEEE double made byte-comparable: flip the sign bit of positives, every bit of negatives. */
function orderedNumber(n: number): string {
  f64[0] = n === 0 ? 0 : n
  const o = BIG_ENDIAN_ORDER
  const b = f64Bytes
  const first = b[o[0]!]!
  if ((first & 0x80) === 0) {
    return String.fromCharCode(first | 0x80, b[o[1]!]!, b[o[2]!]!, b[o[3]!]!, b[o[4]!]!, b[o[5]!]!, b[o[6]!]!, b[o[7]!]!)
  }
  return String.fromCharCode(~first & 0xff, ~b[o[1]!]! & 0xff, ~b[o[2]!]! & 0xff, ~b[o[3]!]! & 0xff, ~b[o[4]!]! & 0xff, ~b[o[5]!]! & 0xff, ~b[o[6]!]! & 0xff, ~b[o[7]!]! & 0xff)
}

/** UTF-8 bytes with 0x00 escaped as 0x00 0xff and a 0x00 0x01 terminator: prefix-free and ordered. */
function orderedString(s: string): string {
  // eslint-disable-next-line no-control-regex
  const bytes = /^[\x01-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1')
  return (bytes.includes('\u0000') ? bytes.replace(/\u0000/g, '\u0000\u00ff') : bytes) + '\u0000\u0001'
}

function encodeKeyValue(v: Value): string {
  if (v === null || v === undefined) return String.fromCharCode(KeyTag.Null)
  if (v === false) return String.fromCharCode(KeyTag.False)
  if (v === true) return String.fromCharCode(KeyTag.True)
  if (typeof v === 'number') return String.fromCharCode(KeyTag.Number) + orderedNumber(v)
  if (typeof v === 'string') return String.fromCharCode(KeyTag.String) + orderedString(v)
  // Equal numerics (1.5 and 1.50) are one key.
  if (v instanceof Numeric) return String.fromCharCode(KeyTag.Other) + orderedString(`n${numericKey(v)}`)
  return String.fromCharCode(KeyTag.Other) + orderedString(JSON.stringify(v))
}

export interface TableKey {
  /** The key as a latin1 string (cache key; `Buffer.from(key, 'latin1')` gives the RocksDB key). */
  readonly key: string
  /** The range of every key that starts with these values, [start, end). */
  readonly start: Buffer
  readonly end: Buffer
}

/** Just the key string of `tableKey` (the per-event path: no Buffers). */
export function tableKeyString(namespaceId: number, values: readonly Value[]): string {
  let key = namespacePrefix(namespaceId)
  for (let i = 0; i < values.length; i++) key += encodeKeyValue(values[i]!)
  return key
}

/** The key of a row of table `namespaceId` identified by `values`; with `[]`, the whole table's range. */
export function tableKey(namespaceId: number, values: readonly Value[]): TableKey {
  let key = namespacePrefix(namespaceId)
  for (const v of values) key += encodeKeyValue(v)
  const start = Buffer.from(key, 'latin1')
  const end = values.length === 0 ? Buffer.from(namespacePrefix(namespaceId + 1), 'latin1') : Buffer.concat([start, Buffer.from([0xff])])
  return { key, start, end }
}

/** The key of an appended row, ordered by (partition, offset). */
export function positionKey(namespaceId: number, partition: number, offset: number): string {
  scratch.writeUInt16BE(partition, 0)
  const p = scratch.toString('latin1', 0, 2)
  return namespacePrefix(namespaceId) + String.fromCharCode(KeyTag.Position) + p + orderedNumber(offset)
}

/** The partition of a position key (see positionKey). */
export const positionPartition = (key: string): number => (key.charCodeAt(6) << 8) | key.charCodeAt(7)

export const keyBytes = (key: string): Buffer => Buffer.from(key, 'latin1')
export const keyString = (bytes: Buffer): string => bytes.toString('latin1')

/** Whether a table key is a source position (see positionKey) rather than a key of values. */
export const isPositionKey = (key: string): boolean => key.charCodeAt(5) === KeyTag.Position
