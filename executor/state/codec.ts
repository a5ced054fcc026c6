/**
 * How values become bytes in the state store. `rowCodec` is a compact tagged binary format for rows and
 * accumulators (every Value round-trips: -0, NaN, ±Infinity, any Unicode, intervals, nested arrays, exact
 * numerics with their scale);
 * `jsonCodec` is JSON that keeps ±Infinity, for small records such as dead letters.
 */
import type { Value } from '../../common/types.ts'
import { Numeric } from '../../common/numeric.ts'

export interface Codec<V> {
  encode(v: V): Buffer
  decode(b: Buffer): V
}

const enum Tag {
  Null = 0,
  False = 1,
  True = 2,
  Int32 = 3,
  Float64 = 4,
  String = 5,
  Interval = 6,
  Array = 7,
  Json = 8,
  /** An exact numeric: kind byte, int32 scale, the unscaled digits as decimal text (sign included). */
  Numeric = 9,
  /** A bytea value (a Buffer), its length then its bytes: JSON would turn it into `{type, data}`. */
  Bytes = 10,
}

/** A growable output buffer reused across encodes (encode copies the result out). */
class Writer {
  buf = Buffer.allocUnsafe(4096)
  pos = 0

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  byte(b: number): void {
    this.reserve(1)
    this.buf[this.pos++] = b
  }

  uint32(n: number): void {
    this.reserve(4)
    this.buf.writeUInt32LE(n, this.pos)
    this.pos += 4
  }

  int32(n: number): void {
    this.reserve(4)
    this.buf.writeInt32LE(n, this.pos)
    this.pos += 4
  }

  float64(n: number): void {
    this.reserve(8)
    this.buf.writeDoubleLE(n, this.pos)
    this.pos += 8
  }

  string(s: string): void {
    const max = s.length * 3
    this.reserve(max + 4)
    const n = this.buf.write(s, this.pos + 4, 'utf8')
    this.buf.writeUInt32LE(n, this.pos)
    this.pos += 4 + n
  }
}

const writer = new Writer()

function writeValue(w: Writer, v: Value): void {
  if (v === null || v === undefined) w.byte(Tag.Null)
  else if (v === false) w.byte(Tag.False)
  else if (v === true) w.byte(Tag.True)
  else if (typeof v === 'number') {
    if ((v | 0) === v && !Object.is(v, -0)) {
      w.byte(Tag.Int32)
      w.int32(v)
    } else {
      w.byte(Tag.Float64)
      w.float64(v)
    }
  } else if (typeof v === 'string') {
    w.byte(Tag.String)
    w.string(v)
  } else if (Array.isArray(v)) {
    w.byte(Tag.Array)
    w.uint32(v.length)
    for (const item of v) writeValue(w, item as Value)
  } else if (v instanceof Numeric) {
    w.byte(Tag.Numeric)
    w.byte(v.k)
    w.int32(v.s)
    w.string(v.u.toString())
  } else if (Buffer.isBuffer(v)) {
    w.byte(Tag.Bytes)
    w.uint32(v.length)
    w.reserve(v.length)
    v.copy(w.buf, w.pos)
    w.pos += v.length
  } else if (isInterval(v)) {
    w.byte(Tag.Interval)
    w.float64(v.months)
    w.float64(v.days)
    w.float64(v.micros)
  } else {
    w.byte(Tag.Json)
    w.string(JSON.stringify(v))
  }
}

function isInterval(v: object): v is { months: number; days: number; micros: number } {
  const o = v as Record<string, unknown>
  return typeof o.months === 'number' && typeof o.days === 'number' && typeof o.micros === 'number' && Object.keys(o).length === 3
}

class Reader {
  pos = 0
  constructor(readonly buf: Buffer) {}

  value(): Value {
    const tag = this.buf[this.pos++]
    switch (tag) {
      case Tag.Null:
        return null
      case Tag.False:
        return false
      case Tag.True:
        return true
      case Tag.Int32: {
        const n = this.buf.readInt32LE(this.pos)
        this.pos += 4
        return n
      }
      case Tag.Float64: {
        const n = this.buf.readDoubleLE(this.pos)
        this.pos += 8
        return n
      }
      case Tag.String:
        return this.string()
      case Tag.Array: {
        const n = this.buf.readUInt32LE(this.pos)
        this.pos += 4
        const out = new Array<Value>(n)
        for (let i = 0; i < n; i++) out[i] = this.value()
        return out as Value
      }
      case Tag.Interval: {
        const months = this.buf.readDoubleLE(this.pos)
        const days = this.buf.readDoubleLE(this.pos + 8)
        const micros = this.buf.readDoubleLE(this.pos + 16)
        this.pos += 24
        return { months, days, micros } as Value
      }
      case Tag.Json:
        return JSON.parse(this.string()) as Value
      case Tag.Numeric: {
        const kind = this.buf[this.pos]!
        const scale = this.buf.readInt32LE(this.pos + 1)
        this.pos += 5
        return new Numeric(BigInt(this.string()), scale, kind)
      }
      case Tag.Bytes: {
        const n = this.buf.readUInt32LE(this.pos)
        this.pos += 4
        const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + n))
        this.pos += n
        return bytes
      }
      default:
        throw new Error(`corrupt state value: unknown tag ${tag} at byte ${this.pos - 1}`)
    }
  }

  string(): string {
    const n = this.buf.readUInt32LE(this.pos)
    const s = this.buf.toString('utf8', this.pos + 4, this.pos + 4 + n)
    this.pos += 4 + n
    return s
  }
}

export const rowCodec: Codec<Value[]> = {
  encode(row) {
    writer.pos = 0
    writer.uint32(row.length)
    for (const v of row) writeValue(writer, v)
    return Buffer.from(writer.buf.subarray(0, writer.pos))
  },
  decode(b) {
    const r = new Reader(b)
    const n = b.readUInt32LE(0)
    r.pos = 4
    const out = new Array<Value>(n)
    for (let i = 0; i < n; i++) out[i] = r.value()
    return out
  },
}

const INF = '\u0000Infinity'
const NEG_INF = '\u0000-Infinity'

export const jsonCodec: Codec<unknown> = {
  encode: (v) =>
    Buffer.from(
      JSON.stringify(v, (_k, x: unknown) => (x === Number.POSITIVE_INFINITY ? INF : x === Number.NEGATIVE_INFINITY ? NEG_INF : x)),
      'utf8',
    ),
  decode: (b) => JSON.parse(b.toString('utf8'), (_k, x: unknown) => (x === INF ? Number.POSITIVE_INFINITY : x === NEG_INF ? Number.NEGATIVE_INFINITY : x)),
}
