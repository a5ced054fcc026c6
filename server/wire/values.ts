/**
 * Converting single values between their wire representations and Sluice's runtime values: Bind
 * parameters in (text or binary format) and DataRow cells out (text, or binary for every scalar type: the
 * *_send / *_recv formats of PostgreSQL, byte for byte).
 */
import { SluiceError, SqlState } from '../../common/errors.ts'
import { type Interval, type SqlType, type TypeName, type Value, Types, checkIntRange, formatValue, isInterval, parseValue, typeDisplayName, typeFromOid, typeOid, utf8Text } from '../../common/types.ts'
import type { BoundParam } from '../backend.ts'
import { NUMERIC_NAN as NAN_VALUE, NUMERIC_NEG_INF, NUMERIC_POS_INF, Numeric, NumKind, applyTypmod, formatNumeric, numericToInteger, parseNumeric, toNumeric } from '../../common/numeric.ts'
import { type TimeZone, UTC_ZONE, formatText } from './timezone.ts'

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000
const MICROS_PER_DAY = 86_400_000_000
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

const badBinary = (t: SqlType): SluiceError =>
  new SluiceError('execution', SqlState.invalidBinaryRepresentation, `incorrect binary data format for type ${typeDisplayName(t)}`)

/**
 * The runtime value of a Bind parameter of the given type. `declared` is the type the client named for it in
 * Parse, when it named one: drivers such as psycopg 3 declare and send each value in a type of their own
 * choosing (a Python int as int2, int4, int8 or numeric by its size) whatever the target column is, as
 * PostgreSQL allows; the value is read as declared and then converted, with PostgreSQL's range errors.
 */
export function decodeParam(param: BoundParam, type: SqlType, declared?: SqlType): Value {
  if (param.data === null) return null
  if (param.format === 0) {
    // Text that is not UTF-8 (or holds a NUL) is refused as PostgreSQL refuses it (22021), not patched with U+FFFD.
    const text = utf8Text(param.data)
    if (type.element && /^\s*\{\s*\{/.test(text)) throw multiDimensional()
    return parseValue(text, type)
  }
  const source = declared !== undefined && declared.name !== 'unknown' ? declared : type
  return convertParam(decodeBinary(param.data, source), source, type)
}

const multiDimensional = (): SluiceError =>
  new SluiceError('unsupported', SqlState.featureNotSupported, 'multidimensional arrays are not supported', { hint: 'Send a one-dimensional array.' })

const INTEGER_WIDTHS: Partial<Record<TypeName, number>> = { int2: 2, int4: 4, int8: 8 }
const NUMBER_TYPES = new Set<TypeName>(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'])

/**
 * A decoded parameter of type `from` as a value of type `to`: numbers between the numeric types (integers
 * rounded as PostgreSQL's casts round: numeric half away from zero, floats half to even, then range
 * checked, 22003), arrays element by element, anything else through its text form.
 */
function convertParam(v: Value, from: SqlType, to: SqlType): Value {
  if (v === null) return null
  if (to.element) {
    if (!Array.isArray(v)) throw badBinary(to)
    const fromEl = from.element ?? from
    return v.map((x) => convertParam(x, fromEl, to.element!))
  }
  if (from.name === to.name && !from.element) return to.name === 'numeric' && to.precision !== undefined ? applyTypmod(v as Numeric, to.precision, to.scale ?? 0) : v
  if (NUMBER_TYPES.has(from.name) && NUMBER_TYPES.has(to.name) && (typeof v === 'number' || v instanceof Numeric)) {
    if (to.name === 'numeric') return to.precision === undefined ? toNumeric(v) : applyTypmod(v, to.precision, to.scale ?? 0)
    if (INTEGER_WIDTHS[to.name] === undefined) return Number(v)
    // numeric NaN and infinities have no integer (0A000); a float's are simply out of range (22003).
    const n = from.name === 'numeric' ? numericToInteger(v, typeDisplayName(to)) : roundHalfEven(v as number)
    checkIntRange(n, to)
    return n
  }
  const text = formatValue(v, from)
  return text === null ? null : parseValue(text, to)
}

function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

function expectLength(data: Buffer, n: number, t: SqlType): void {
  if (data.length !== n) throw badBinary(t)
}

/** An integer sent in binary, 2, 4 or 8 bytes wide, whatever integer type the statement expects. */
function decodeInteger(data: Buffer, t: SqlType): number {
  let n: number
  if (data.length === 2) n = data.readInt16BE(0)
  else if (data.length === 4) n = data.readInt32BE(0)
  else if (data.length === 8) n = Number(data.readBigInt64BE(0))
  else throw badBinary(t)
  checkIntRange(n, t)
  return n
}

/** Binary-format parameter decoding, as Postgres' *_recv functions define it. */
export function decodeBinary(data: Buffer, t: SqlType): Value {
  if (t.element) return decodeArray(data, t)
  switch (t.name) {
    case 'bool':
      expectLength(data, 1, t)
      return data[0] !== 0
    case 'int2':
    case 'int4':
    case 'int8':
      return decodeInteger(data, t)
    case 'float4':
      expectLength(data, 4, t)
      return data.readFloatBE(0)
    case 'float8':
      expectLength(data, 8, t)
      return data.readDoubleBE(0)
    case 'numeric':
      // A 2- or 4-byte value cannot be a numeric (its header alone is 8 bytes): an integer sent for one.
      return data.length === 2 || data.length === 4 ? toNumeric(decodeInteger(data, Types.int8)) : decodeNumeric(data, t)
    case 'text':
    case 'unknown':
    case 'json':
      return utf8Text(data)
    case 'jsonb':
      if (data.length < 1 || data[0] !== 1) throw badBinary(t)
      return parseValue(data.toString('utf8', 1), t)
    case 'bytea':
      return Buffer.from(data)
    case 'uuid': {
      // uuid_recv: the 16 bytes.
      expectLength(data, 16, t)
      const hex = data.toString('hex')
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    }
    case 'timestamptz':
    case 'timestamp':
      expectLength(data, 8, t)
      return timestampFromPg(data.readBigInt64BE(0))
    case 'date': {
      expectLength(data, 4, t)
      const days = data.readInt32BE(0)
      if (days === 0x7fffffff) return Number.POSITIVE_INFINITY
      if (days === -0x80000000) return Number.NEGATIVE_INFINITY
      return days * MICROS_PER_DAY + PG_EPOCH_MICROS
    }
    case 'time':
      // time_recv: microseconds since midnight as an int64.
      expectLength(data, 8, t)
      return Number(data.readBigInt64BE(0))
    case 'interval': {
      expectLength(data, 16, t)
      const interval: Interval = { micros: Number(data.readBigInt64BE(0)), days: data.readInt32BE(8), months: data.readInt32BE(12) }
      return interval
    }
  }
}

/**
 * array_recv: int32 ndim, int32 flags (has nulls), element type OID, then per dimension int32 size and
 * lower bound, then each element as int32 length (-1 for NULL) and its bytes. Elements are read as the
 * element type the array names and converted to the expected one (psycopg 3 sends a list of small ints as
 * int2[]). One dimension; more is refused with 0A000.
 */
function decodeArray(data: Buffer, t: SqlType): Value[] {
  const element = t.element!
  if (data.length < 12) throw badBinary(t)
  const ndim = data.readInt32BE(0)
  const flags = data.readInt32BE(4)
  const elementOid = data.readUInt32BE(8)
  if (ndim === 0) return []
  if (ndim > 1) throw multiDimensional()
  if (ndim < 0 || (flags !== 0 && flags !== 1) || data.length < 20) throw badBinary(t)
  const count = data.readInt32BE(12)
  if (count < 0) throw badBinary(t)
  const sent = typeFromOid(elementOid)
  const source = sent !== undefined && !sent.element ? sent : element
  const out: Value[] = []
  let at = 20
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) throw badBinary(t)
    const len = data.readInt32BE(at)
    at += 4
    if (len === -1) {
      out.push(null)
      continue
    }
    if (len < 0 || at + len > data.length) throw badBinary(t)
    out.push(convertParam(decodeBinary(data.subarray(at, at + len), source), source, element))
    at += len
  }
  if (at !== data.length) throw badBinary(t)
  return out
}

function timestampFromPg(v: bigint): number {
  if (v === INT64_MAX) return Number.POSITIVE_INFINITY
  if (v === INT64_MIN) return Number.NEGATIVE_INFINITY
  return Number(v) + PG_EPOCH_MICROS
}

/** numeric_recv: int16 ndigits, weight, sign, dscale, then base-10000 digits; decoded exactly, at dscale. */
function decodeNumeric(data: Buffer, t: SqlType): Numeric {
  if (data.length < 8) throw badBinary(t)
  const ndigits = data.readInt16BE(0)
  const weight = data.readInt16BE(2)
  const sign = data.readUInt16BE(4)
  if (ndigits < 0 || data.length !== 8 + ndigits * 2) throw badBinary(t)
  const dscale = data.readInt16BE(6)
  if (sign === NUMERIC_NAN) return NAN_VALUE
  if (sign === NUMERIC_PINF) return NUMERIC_POS_INF
  if (sign === NUMERIC_NINF) return NUMERIC_NEG_INF
  if (dscale < 0) throw badBinary(t)
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) throw badBinary(t)
  const groups: string[] = []
  for (let i = 0; i < ndigits; i++) {
    const d = data.readInt16BE(8 + i * 2)
    if (d < 0 || d > 9999) throw badBinary(t)
    groups.push(String(d).padStart(4, '0'))
  }
  // Group i has weight (weight - i): groups 0..weight are the integer part.
  let intPart = ''
  let fracPart = ''
  if (weight < 0) fracPart = '0000'.repeat(-weight - 1) + groups.join('')
  else {
    for (let i = 0; i <= weight; i++) intPart += groups[i] ?? '0000'
    fracPart = groups.slice(weight + 1).join('')
  }
  // The display scale says how many fraction digits the value has (PostgreSQL rounds to it on receipt).
  const frac = fracPart.length >= dscale ? fracPart.slice(0, dscale) : fracPart.padEnd(dscale, '0')
  const n = parseNumeric(`${sign === NUMERIC_NEG ? '-' : ''}${intPart || '0'}${dscale > 0 ? `.${frac}` : ''}`)
  return t.precision === undefined ? n : applyTypmod(n, t.precision, t.scale ?? 0)
}

/** Text-format cell for a DataRow; null for SQL NULL. */
export function encodeText(value: Value, type: SqlType): Buffer | null {
  const s = formatValue(value, type)
  return s === null ? null : Buffer.from(s, 'utf8')
}

/** Whether `encodeBinary` can produce the binary format of this type: every type Sluice has, arrays included. */
export function canEncodeBinary(_t: SqlType): boolean {
  return true
}

/** Binary-format cell for a DataRow (the *_send format); null for SQL NULL. */
export function encodeBinary(value: Value, t: SqlType): Buffer | null {
  if (value === null) return null
  if (t.element) return encodeArray(value, t)
  switch (t.name) {
    case 'bool':
      return Buffer.from([value ? 1 : 0])
    case 'int2': {
      const b = Buffer.allocUnsafe(2)
      b.writeInt16BE(Math.trunc(Number(value)))
      return b
    }
    case 'int4': {
      const b = Buffer.allocUnsafe(4)
      b.writeInt32BE(Math.trunc(Number(value)))
      return b
    }
    case 'int8': {
      const b = Buffer.allocUnsafe(8)
      b.writeBigInt64BE(BigInt(Math.trunc(Number(value))))
      return b
    }
    case 'float4': {
      const b = Buffer.allocUnsafe(4)
      b.writeFloatBE(Number(value))
      return b
    }
    case 'float8': {
      const b = Buffer.allocUnsafe(8)
      b.writeDoubleBE(Number(value))
      return b
    }
    case 'timestamptz':
    case 'timestamp': {
      const b = Buffer.allocUnsafe(8)
      b.writeBigInt64BE(timestampToPg(Number(value)))
      return b
    }
    case 'uuid':
      return Buffer.from(String(value).replace(/-/g, ''), 'hex')
    case 'date': {
      const b = Buffer.allocUnsafe(4)
      const micros = Number(value)
      const days = micros === Number.POSITIVE_INFINITY ? 0x7fffffff : micros === Number.NEGATIVE_INFINITY ? -0x80000000 : Math.floor((micros - PG_EPOCH_MICROS) / MICROS_PER_DAY)
      b.writeInt32BE(days)
      return b
    }
    case 'time': {
      const b = Buffer.allocUnsafe(8)
      b.writeBigInt64BE(BigInt(Math.trunc(Number(value))))
      return b
    }
    case 'interval': {
      if (!isInterval(value)) throw badBinary(t)
      const b = Buffer.allocUnsafe(16)
      b.writeBigInt64BE(BigInt(Math.trunc(value.micros)), 0)
      b.writeInt32BE(value.days, 8)
      b.writeInt32BE(value.months, 12)
      return b
    }
    case 'bytea':
      return Buffer.isBuffer(value) ? value : encodeText(value, t)
    case 'jsonb': {
      const text = encodeText(value, t)!
      return Buffer.concat([Buffer.from([1]), text])
    }
    case 'numeric':
      return encodeNumeric(toNumeric(value as Numeric | number))
    case 'json':
    case 'text':
    case 'unknown':
      return encodeText(value, t)
  }
}

const INT2VECTOR_OID = 22
const OIDVECTOR_OID = 30

/**
 * array_send: int32 ndim (0 for an empty array), int32 flags (1 when an element is NULL), element type OID,
 * then for the one dimension its size and lower bound 1, then each element as int32 length (-1 for NULL)
 * and its bytes.
 */
function encodeArray(value: Value, t: SqlType): Buffer {
  if (!Array.isArray(value)) throw badBinary(t)
  const element = t.element!
  const header = Buffer.allocUnsafe(value.length === 0 ? 12 : 20)
  header.writeInt32BE(value.length === 0 ? 0 : 1, 0)
  header.writeInt32BE(value.some((v) => v === null) ? 1 : 0, 4)
  header.writeUInt32BE(typeOid(element), 8)
  if (value.length === 0) return header
  header.writeInt32BE(value.length, 12)
  // The catalog's int2vector and oidvector (pg_index.indkey, pg_proc.proargtypes) count from 0.
  header.writeInt32BE(t.pgOid === INT2VECTOR_OID || t.pgOid === OIDVECTOR_OID ? 0 : 1, 16)
  const parts: Buffer[] = [header]
  for (const v of value) {
    if (Array.isArray(v)) throw multiDimensional()
    const cell = encodeBinary(v, element)
    const len = Buffer.allocUnsafe(4)
    len.writeInt32BE(cell === null ? -1 : cell.length)
    parts.push(len)
    if (cell !== null) parts.push(cell)
  }
  return Buffer.concat(parts)
}

/** numeric sign words: positive, negative, NaN, +Infinity, -Infinity (PostgreSQL 14+). */
const NUMERIC_POS = 0x0000
const NUMERIC_NEG = 0x4000
const NUMERIC_NAN = 0xc000
const NUMERIC_PINF = 0xd000
const NUMERIC_NINF = 0xf000
const INFINITY_DSCALE = 0x20

function numericHeader(ndigits: number, weight: number, sign: number, dscale: number): Buffer {
  const b = Buffer.allocUnsafe(8 + ndigits * 2)
  b.writeInt16BE(ndigits, 0)
  b.writeInt16BE(weight, 2)
  b.writeUInt16BE(sign, 4)
  b.writeInt16BE(dscale, 6)
  return b
}

/**
 * numeric_send: int16 ndigits, int16 weight (of the first digit, in powers of 10000), uint16 sign, int16
 * dscale (digits after the decimal point shown), then ndigits base-10000 digits, leading and trailing zero
 * digits stripped; zero is no digits with weight 0. The digits are those of the exact value.
 */
export function encodeNumeric(value: Numeric | number): Buffer {
  const n = toNumeric(value)
  if (n.k === NumKind.NaN) return numericHeader(0, 0, NUMERIC_NAN, 0)
  // PostgreSQL 14+ sends the infinities with a display scale of 32 (what their header word holds there).
  if (n.k === NumKind.PosInf) return numericHeader(0, 0, NUMERIC_PINF, INFINITY_DSCALE)
  if (n.k === NumKind.NegInf) return numericHeader(0, 0, NUMERIC_NINF, INFINITY_DSCALE)
  const text = formatNumeric(n)
  const negative = text.startsWith('-')
  const [intText = '', fracText = ''] = (negative ? text.slice(1) : text).split('.')
  const intDigits = intText.replace(/^0+/, '')
  const intPadded = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, '0')
  const fracPadded = fracText.padEnd(Math.ceil(fracText.length / 4) * 4, '0')
  const all = intPadded + fracPadded
  const digits: number[] = []
  for (let i = 0; i < all.length; i += 4) digits.push(Number(all.slice(i, i + 4)))
  let weight = intPadded.length / 4 - 1
  let first = 0
  while (first < digits.length && digits[first] === 0) {
    first++
    weight--
  }
  let last = digits.length
  while (last > first && digits[last - 1] === 0) last--
  const kept = digits.slice(first, last)
  if (kept.length === 0) return numericHeader(0, 0, NUMERIC_POS, fracText.length)
  const b = numericHeader(kept.length, weight, negative ? NUMERIC_NEG : NUMERIC_POS, fracText.length)
  kept.forEach((d, i) => b.writeInt16BE(d, 8 + i * 2))
  return b
}

function timestampToPg(micros: number): bigint {
  if (micros === Number.POSITIVE_INFINITY) return INT64_MAX
  if (micros === Number.NEGATIVE_INFINITY) return INT64_MIN
  return BigInt(Math.round(micros - PG_EPOCH_MICROS))
}

/**
 * A DataRow cell in the requested format: text as a string (the writer encodes it; timestamptz shown in the
 * session's zone), binary as bytes.
 */
export function encodeCell(value: Value, type: SqlType, format: number, zone: TimeZone = UTC_ZONE): string | Buffer | null {
  return format === 1 ? encodeBinary(value, type) : formatText(value, type, zone)
}

/** Rejects a requested binary result format the encoder cannot produce (SQLSTATE 0A000). */
export function checkResultFormat(type: SqlType, format: number, columnName: string): void {
  if (format === 1 && !canEncodeBinary(type)) {
    throw new SluiceError('unsupported', SqlState.featureNotSupported, `binary output format is not supported for column "${columnName}" of type ${typeDisplayName(type)}`, {
      hint: 'Request text format for this column.',
    })
  }
}
