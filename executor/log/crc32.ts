/**
 * CRC-32 (IEEE 802.3, the checksum zlib computes) of a byte range, as the log frames each record with it.
 *
 * zlib's native crc32 is fast per byte, but every call pays a fixed cost of about a hundred nanoseconds
 * (the binding, and a view of the range to hand it), which is most of the price of a short record. A table
 * driven loop in JavaScript (slicing by 8: eight bytes per step through eight 256-entry tables) has no such
 * cost and is faster below SHORT_RECORD bytes; longer ranges go to zlib.
 */
import { crc32 as zlibCrc32 } from 'node:zlib'

/** Below this many bytes the loop here beats a call into zlib (measured on 32- to 1600-byte records). */
export const SHORT_RECORD = 160

/** TABLES[k * 256 + b]: the CRC of byte b followed by k zero bytes; k = 0 is the classic byte table. */
const TABLES = buildTables()

function buildTables(): Int32Array {
  const t = new Int32Array(256 * 8)
  for (let b = 0; b < 256; b++) {
    let c = b
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[b] = c
  }
  for (let b = 0; b < 256; b++) {
    let c = t[b]!
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[k * 256 + b] = c
    }
  }
  return t
}

/** The CRC-32 of `bytes[start, end)`, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array, start: number, end: number): number {
  if (end - start >= SHORT_RECORD) return zlibCrc32(new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start))
  return crc32Loop(bytes, start, end)
}

/** The table loop alone (exported for tests, which compare it with zlib at every length). */
export function crc32Loop(bytes: Uint8Array, start: number, end: number): number {
  const t = TABLES
  let c = -1
  let i = start
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
