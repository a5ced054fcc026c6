/**
 * The backend half of the PostgreSQL v3 wire protocol: one small function per backend message, each
 * returning the complete framed bytes (type byte, int32 length, body). The connection queues these and
 * writes them to the socket in batches.
 */
import type { SluiceError } from '../../common/errors.ts'
import type { TransactionStatus } from '../backend.ts'

/** Growable buffer for building one message; the length word is patched in by `finish`. */
class MessageBuilder {
  private buf: Buffer
  private pos = 0

  constructor(type: string, sizeHint = 64) {
    this.buf = Buffer.allocUnsafe(Math.max(16, sizeHint + 5))
    this.buf[0] = type.charCodeAt(0)
    this.pos = 5
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  int8(v: number): this {
    this.ensure(1)
    this.buf.writeUInt8(v & 0xff, this.pos)
    this.pos += 1
    return this
  }

  int16(v: number): this {
    this.ensure(2)
    this.buf.writeInt16BE(v, this.pos)
    this.pos += 2
    return this
  }

  int32(v: number): this {
    this.ensure(4)
    this.buf.writeInt32BE(v | 0, this.pos)
    this.pos += 4
    return this
  }

  cstring(s: string): this {
    const len = Buffer.byteLength(s, 'utf8')
    this.ensure(len + 1)
    this.buf.write(s, this.pos, 'utf8')
    this.pos += len
    this.buf[this.pos++] = 0
    return this
  }

  bytes(b: Buffer): this {
    this.ensure(b.length)
    b.copy(this.buf, this.pos)
    this.pos += b.length
    return this
  }

  finish(): Buffer {
    this.buf.writeInt32BE(this.pos - 1, 1)
    return this.buf.subarray(0, this.pos)
  }
}

/** A message with an empty body; shared instances are safe because nobody mutates them. */
const bare = (type: string): Buffer => new MessageBuilder(type, 0).finish()

const PARSE_COMPLETE = bare('1')
const BIND_COMPLETE = bare('2')
const CLOSE_COMPLETE = bare('3')
const NO_DATA = bare('n')
const PORTAL_SUSPENDED = bare('s')
const EMPTY_QUERY = bare('I')
const COPY_DONE = bare('c')
const AUTH_OK = new MessageBuilder('R', 4).int32(0).finish()

export const authenticationOk = (): Buffer => AUTH_OK
export const parseComplete = (): Buffer => PARSE_COMPLETE
export const bindComplete = (): Buffer => BIND_COMPLETE
export const closeComplete = (): Buffer => CLOSE_COMPLETE
export const noData = (): Buffer => NO_DATA
export const portalSuspended = (): Buffer => PORTAL_SUSPENDED
export const emptyQueryResponse = (): Buffer => EMPTY_QUERY
export const copyDone = (): Buffer => COPY_DONE

export const parameterStatus = (name: string, value: string): Buffer => new MessageBuilder('S').cstring(name).cstring(value).finish()

export const backendKeyData = (processId: number, secretKey: number): Buffer => new MessageBuilder('K', 8).int32(processId).int32(secretKey).finish()

export const readyForQuery = (status: TransactionStatus): Buffer => new MessageBuilder('Z', 1).int8(status.charCodeAt(0)).finish()

export const commandComplete = (tag: string): Buffer => new MessageBuilder('C', tag.length + 1).cstring(tag).finish()

/** Sent after startup when the client asked for a newer minor version or `_pq_.` options we do not know. */
export function negotiateProtocolVersion(newestMinor: number, unrecognized: readonly string[]): Buffer {
  const b = new MessageBuilder('v').int32(newestMinor).int32(unrecognized.length)
  for (const name of unrecognized) b.cstring(name)
  return b.finish()
}

/** One RowDescription field, already resolved to wire values. */
export interface FieldDescription {
  readonly name: string
  readonly tableOid: number
  readonly columnNumber: number
  readonly typeOid: number
  readonly typeSize: number
  readonly typeModifier: number
  /** 0 = text, 1 = binary. */
  readonly format: number
}

export function rowDescription(fields: readonly FieldDescription[]): Buffer {
  const b = new MessageBuilder('T', 2 + fields.length * 32).int16(fields.length)
  for (const f of fields) {
    b.cstring(f.name).int32(f.tableOid).int16(f.columnNumber).int32(f.typeOid).int16(f.typeSize).int32(f.typeModifier).int16(f.format)
  }
  return b.finish()
}

export function parameterDescription(typeOids: readonly number[]): Buffer {
  const b = new MessageBuilder('t', 2 + typeOids.length * 4).int16(typeOids.length)
  for (const oid of typeOids) b.int32(oid)
  return b.finish()
}

/**
 * DataRow. A cell is text (written as UTF-8), raw bytes (binary format or preformatted), or null.
 * Sizes are computed first so the message is built in one allocation.
 */
export function dataRow(cells: readonly (string | Buffer | null)[]): Buffer {
  let size = 4 + 2
  const lengths = new Array<number>(cells.length)
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]
    const len = c === null || c === undefined ? -1 : typeof c === 'string' ? Buffer.byteLength(c, 'utf8') : c.length
    lengths[i] = len
    size += 4 + (len > 0 ? len : 0)
  }
  const buf = Buffer.allocUnsafe(size + 1)
  buf[0] = 0x44 // 'D'
  buf.writeInt32BE(size, 1)
  buf.writeInt16BE(cells.length, 5)
  let pos = 7
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]
    const len = lengths[i]!
    buf.writeInt32BE(len, pos)
    pos += 4
    if (len <= 0) continue
    if (typeof c === 'string') pos += buf.write(c, pos, 'utf8')
    else pos += (c as Buffer).copy(buf, pos)
  }
  return buf
}

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG'

/** The fields of an ErrorResponse or NoticeResponse that Sluice fills in. */
export interface ErrorFields {
  readonly severity: Severity
  readonly code: string
  readonly message: string
  readonly detail?: string | undefined
  readonly hint?: string | undefined
  /** 1-based character position in the query string. */
  readonly position?: number | undefined
}

function errorOrNotice(type: 'E' | 'N', f: ErrorFields): Buffer {
  const b = new MessageBuilder(type, 32 + f.message.length)
  b.int8(0x53).cstring(f.severity) // S (localized severity; we do not localize)
  b.int8(0x56).cstring(f.severity) // V
  b.int8(0x43).cstring(f.code) // C
  b.int8(0x4d).cstring(f.message) // M
  if (f.detail !== undefined) b.int8(0x44).cstring(f.detail) // D
  if (f.hint !== undefined) b.int8(0x48).cstring(f.hint) // H
  if (f.position !== undefined) b.int8(0x50).cstring(String(f.position)) // P
  return b.int8(0).finish()
}

export const errorResponse = (f: ErrorFields): Buffer => errorOrNotice('E', f)
export const noticeResponse = (f: ErrorFields): Buffer => errorOrNotice('N', f)

/**
 * Postgres reports positions in characters (code points), 1-based; spans are UTF-16 offsets, 0-based.
 * Falls back to offset + 1 when the offset does not fall inside `sql`.
 */
export function characterPosition(sql: string | undefined, utf16Offset: number): number {
  if (sql === undefined || utf16Offset < 0 || utf16Offset > sql.length) return utf16Offset + 1
  let chars = 0
  for (let i = 0; i < utf16Offset; i++) {
    const c = sql.charCodeAt(i)
    // A high surrogate followed by a low one is one character.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < utf16Offset) {
      const d = sql.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    chars++
  }
  return chars + 1
}

/** ErrorResponse fields for a SluiceError; `sql` is the text the error's span points into. */
export function errorFieldsOf(err: SluiceError, severity: Severity = 'ERROR', sql?: string): ErrorFields {
  return {
    severity,
    code: err.sqlstate,
    message: err.message,
    detail: err.detail,
    hint: err.hint,
    position: err.span === undefined ? undefined : characterPosition(sql, err.span.start),
  }
}

export const notificationResponse = (processId: number, channel: string, payload: string): Buffer =>
  new MessageBuilder('A').int32(processId).cstring(channel).cstring(payload).finish()

function copyResponse(type: 'G' | 'H', format: 0 | 1, columnCount: number): Buffer {
  const b = new MessageBuilder(type, 3 + 2 * columnCount).int8(format).int16(columnCount)
  for (let i = 0; i < columnCount; i++) b.int16(format)
  return b.finish()
}

export const copyInResponse = (format: 0 | 1, columnCount: number): Buffer => copyResponse('G', format, columnCount)
export const copyOutResponse = (format: 0 | 1, columnCount: number): Buffer => copyResponse('H', format, columnCount)

export function copyData(chunk: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(5 + chunk.length)
  buf[0] = 0x64 // 'd'
  buf.writeInt32BE(4 + chunk.length, 1)
  chunk.copy(buf, 5)
  return buf
}
