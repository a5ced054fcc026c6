/**
 * Converting single values between their wire representations and Sluice's runtime values: Bind
 * parameters in (text or binary format) and DataRow cells out (text, or binary for every scalar type: the
 * *_send / *_recv formats of PostgreSQL, byte for byte).
 */
import { SluiceError, SqlState, unsupported } from '../../common/errors.ts'
import { type Interval, type SqlType, type Value, checkIntRange, formatNumeric, formatValue, isInterval, parseValue, typeDisplayName, utf8Text } from '../../common/types.ts'
import type { BoundParam } from '../backend.ts'

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000
const MICROS_PER_DAY = 86_400_000_000
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

const badBinary = (t: SqlType): SluiceError =>
  new SluiceError('execution', '22P03', `incorrect binary data format for type ${typeDisplayName(t)}`)

/** The runtime value of a Bind parameter of the given type. */
export function decodeParam(param: BoundParam, type: SqlType): Value {
  if (param.data === null) return null
  // Text that is not UTF-8 (or holds a NUL) is refused as PostgreSQL refuses it (22021), not patched with U+FFFD.
  if (param.format === 0) return parseValue(utf8Text(param.data), type)
  return decodeBinary(param.data, type)
}

function expectLength(data: Buffer, n: number, t: SqlType): void {
  if (data.length !== n) throw badBinary(t)
}

/** Binary-format parameter decoding, as Postgres' *_recv functions define it. */
export function decodeBinary(data: Buffer, t: SqlType): Value {
  if (t.element) throw unsupported(`binary format parameters of type ${typeDisplayName(t)} are not supported`, undefined, 'Send array parameters in text format.')
  switch (t.name) {
    case 'bool':
      expectLength(data, 1, t)
      return data[0] !== 0
    case 'int2':
      expectLength(data, 2, t)
      return data.readInt16BE(0)
    case 'int4':
      expectLength(data, 4, t)
      return data.readInt32BE(0)
    case 'int8': {
      expectLength(data, 8, t)
      const n = Number(data.readBigInt64BE(0))
      checkIntRange(n, t)
      return n
    }
    case 'float4':
      expectLength(data, 4, t)
      return data.readFloatBE(0)
    case 'float8':
      expectLength(data, 8, t)
      return data.readDoubleBE(0)
    case 'numeric':
      return decodeNumeric(data, t)
    case 'text':
    case 'unknown':
    case 'json':
      return utf8Text(data)
    case 'jsonb':
      if (data.length < 1 || data[0] !== 1) throw badBinary(t)
      return parseValue(data.toString('utf8', 1), t)
    case 'bytea':
      return Buffer.from(data)
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
    case 'interval': {
      expectLength(data, 16, t)
      const interval: Interval = { micros: Number(data.readBigInt64BE(0)), days: data.readInt32BE(8), months: data.readInt32BE(12) }
      return interval
    }
  }
}

function timestampFromPg(v: bigint): number {
  if (v === INT64_MAX) return Number.POSITIVE_INFINITY
  if (v === INT64_MIN) return Number.NEGATIVE_INFINITY
  return Number(v) + PG_EPOCH_MICROS
}

/** numeric_recv: int16 ndigits, weight, sign, dscale, then base-10000 digits; decoded via decimal text. */
function decodeNumeric(data: Buffer, t: SqlType): number {
  if (data.length < 8) throw badBinary(t)
  const ndigits = data.readInt16BE(0)
  const weight = data.readInt16BE(2)
  const sign = data.readUInt16BE(4)
  if (ndigits < 0 || data.length !== 8 + ndigits * 2) throw badBinary(t)
  if (sign === NUMERIC_NAN) return Number.NaN
  if (sign === NUMERIC_PINF) return Number.POSITIVE_INFINITY
  if (sign === NUMERIC_NINF) return Number.NEGATIVE_INFINITY
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
  const n = Number(`${intPart || '0'}.${fracPart || '0'}`)
  return sign === NUMERIC_NEG ? -n : n
}

/** Text-format cell for a DataRow; null for SQL NULL. */
export function encodeText(value: Value, type: SqlType): Buffer | null {
  const s = formatValue(value, type)
  return s === null ? null : Buffer.from(s, 'utf8')
}

/** Whether `encodeBinary` can produce the binary format of this type (every scalar type; arrays not yet). */
export function canEncodeBinary(t: SqlType): boolean {
  return !t.element
}

/** Binary-format cell for a DataRow (the *_send format); null for SQL NULL. Check `canEncodeBinary` first. */
export function encodeBinary(value: Value, t: SqlType): Buffer | null {
  if (value === null) return null
  if (!canEncodeBinary(t)) throw unsupported(`binary output format is not supported for type ${typeDisplayName(t)}`)
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
    case 'date': {
      const b = Buffer.allocUnsafe(4)
      const micros = Number(value)
      const days = micros === Number.POSITIVE_INFINITY ? 0x7fffffff : micros === Number.NEGATIVE_INFINITY ? -0x80000000 : Math.floor((micros - PG_EPOCH_MICROS) / MICROS_PER_DAY)
      b.writeInt32BE(days)
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
      return encodeNumeric(Number(value))
    case 'json':
    case 'text':
    case 'unknown':
      return encodeText(value, t)
  }
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
 * digits stripped; zero is no digits with weight 0. Sluice's numerics are doubles: the value is sent as its
 * text form says (the same digits and display scale as `formatNumeric`).
 */
export function encodeNumeric(n: number): Buffer {
  if (Number.isNaN(n)) return numericHeader(0, 0, NUMERIC_NAN, 0)
  // PostgreSQL 14+ sends the infinities with a display scale of 32 (what their header word holds there).
  if (n === Number.POSITIVE_INFINITY) return numericHeader(0, 0, NUMERIC_PINF, INFINITY_DSCALE)
  if (n === Number.NEGATIVE_INFINITY) return numericHeader(0, 0, NUMERIC_NINF, INFINITY_DSCALE)
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

/** A DataRow cell in the requested format: text as a string (the writer encodes it), binary as bytes. */
export function encodeCell(value: Value, type: SqlType, format: number): string | Buffer | null {
  return format === 1 ? encodeBinary(value, type) : formatValue(value, type)
}

/** Rejects a requested binary result format the encoder cannot produce (SQLSTATE 0A000). */
export function checkResultFormat(type: SqlType, format: number, columnName: string): void {
  if (format === 1 && !canEncodeBinary(type)) {
    throw new SluiceError('unsupported', SqlState.featureNotSupported, `binary output format is not supported for column "${columnName}" of type ${typeDisplayName(type)}`, {
      hint: 'Request text format for this column.',
    })
  }
}
