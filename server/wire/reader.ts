/**
 * The frontend half of the PostgreSQL v3 wire protocol: cutting a byte stream into frames (the startup
 * packet has no type byte, every later message has one) and decoding frames into a typed union of
 * frontend messages. Anything malformed is a protocol violation (SQLSTATE 08P01): the connection reports
 * it and hangs up.
 */
import { SluiceError, SqlState } from '../../common/errors.ts'

/**
 * Default largest message after authentication (the length word's value, which counts itself). A server
 * option (`maxMessageBytes`, `--max-message-bytes`) changes it; PostgreSQL's own ceiling is 1 GB.
 */
export const DEFAULT_MAX_MESSAGE_LENGTH = 64 * 1024 * 1024
/** The most `max_message_bytes` may be: PostgreSQL's own limit for the longest messages (MaxAllocSize - 1). */
export const PG_MAX_MESSAGE_LENGTH = 0x3fffffff - 1
/** Largest startup packet accepted (Postgres uses the same limit); SSLRequest and CancelRequest are 8 and 16 bytes. */
export const MAX_STARTUP_LENGTH = 10_000
/**
 * Largest message accepted while authenticating (PasswordMessage, SASLInitialResponse, SASLResponse). A
 * SCRAM client-first message is `n,,n=,r=<nonce>` and the final one `c=biws,r=<nonce>,p=<44 chars>`, well
 * under 200 bytes with the usual 24-byte nonces; cleartext and MD5 passwords are shorter still. Nobody
 * unauthenticated gets to make the server hold more than this.
 */
export const MAX_AUTH_MESSAGE_LENGTH = 8192

export const PROTOCOL_3_0 = 196608
export const SSL_REQUEST_CODE = 80877103
export const GSSENC_REQUEST_CODE = 80877104
export const CANCEL_REQUEST_CODE = 80877102

/** One length-delimited unit cut from the stream; `body` excludes the type byte and the length word. */
export type Frame =
  | { readonly kind: 'startup'; readonly body: Buffer }
  | { readonly kind: 'message'; readonly type: number; readonly body: Buffer }

/** What a startup-format packet asked for. */
export type StartupPacket =
  | { readonly kind: 'ssl_request' }
  | { readonly kind: 'gssenc_request' }
  | { readonly kind: 'cancel_request'; readonly processId: number; readonly secretKey: number }
  | { readonly kind: 'startup'; readonly major: number; readonly minor: number; readonly params: ReadonlyMap<string, string> }

export type FrontendMessage =
  | { readonly type: 'query'; readonly sql: string }
  | { readonly type: 'parse'; readonly name: string; readonly sql: string; readonly paramTypeOids: readonly number[] }
  | {
      readonly type: 'bind'
      readonly portal: string
      readonly statement: string
      readonly paramFormats: readonly number[]
      readonly params: readonly (Buffer | null)[]
      readonly resultFormats: readonly number[]
    }
  | { readonly type: 'describe'; readonly target: 'S' | 'P'; readonly name: string }
  | { readonly type: 'execute'; readonly portal: string; readonly maxRows: number }
  | { readonly type: 'close'; readonly target: 'S' | 'P'; readonly name: string }
  | { readonly type: 'sync' }
  | { readonly type: 'flush' }
  | { readonly type: 'terminate' }
  | { readonly type: 'copy_data'; readonly data: Buffer }
  | { readonly type: 'copy_done' }
  | { readonly type: 'copy_fail'; readonly message: string }
  | { readonly type: 'password'; readonly data: Buffer }

export const protocolViolation = (message: string): SluiceError => new SluiceError('protocol', SqlState.protocolViolation, message)

/**
 * How long a typed message may be right now. Either way a longer one is answered as PostgreSQL answers a
 * length beyond what it allows a message: 08P01, and the connection is closed (the body that follows cannot
 * be skipped safely). `protocol`: the fixed limit while authenticating, with PostgreSQL's wording.
 * `configured`: the server's `max_message_bytes`, which the message names so that an operator sees the cause.
 */
export interface MessageLimit {
  readonly bytes: number
  readonly kind: 'protocol' | 'configured'
}

export const AUTH_MESSAGE_LIMIT: MessageLimit = { bytes: MAX_AUTH_MESSAGE_LENGTH, kind: 'protocol' }
export const DEFAULT_MESSAGE_LIMIT: MessageLimit = { bytes: DEFAULT_MAX_MESSAGE_LENGTH, kind: 'configured' }

/** The error for a message whose length word exceeds `limit`; checked before any of its body is kept. */
export function messageTooLong(length: number, type: number, limit: MessageLimit): SluiceError {
  if (limit.kind === 'protocol' || length < 4) return protocolViolation(`invalid message length ${length} for message type 0x${hex(type)}`)
  return new SluiceError('protocol', SqlState.protocolViolation, `invalid message length ${length}: the server's limit is ${limit.bytes} bytes`, {
    hint: 'The limit is the server option max_message_bytes (sluice serve --max-message-bytes).',
  })
}

/**
 * Incremental framer. Feed it chunks as they arrive with `push`, take complete frames with `next`.
 * Chunks are kept as a list and only joined when a frame spans several, so a large message arriving in
 * many small chunks is copied once.
 */
export class FrameReader {
  private chunks: Buffer[] = []
  private total = 0
  /** Read offset into chunks[0]. */
  private offset = 0

  /**
   * `expectStartup`: the next frame has no type byte (true at connection start and after SSLRequest).
   * `limit`: how long a typed message may be; the connection changes it as authentication proceeds.
   */
  constructor(
    public expectStartup = true,
    public limit: MessageLimit = DEFAULT_MESSAGE_LIMIT,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.total += chunk.length
  }

  /** Drops everything buffered (the connection is gone: its memory goes with it). */
  clear(): void {
    this.chunks = []
    this.total = 0
    this.offset = 0
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.total
  }

  /**
   * The next complete frame, or null if more bytes are needed. Throws 08P01 on an impossible length or one
   * over the limit (see MessageLimit) as soon as the length word is in, so that the caller can hang up
   * instead of buffering the body.
   */
  next(): Frame | null {
    const headerSize = this.expectStartup ? 4 : 5
    if (this.total < headerSize) return null
    const header = this.peek(headerSize)
    if (this.expectStartup) {
      const length = header.readInt32BE(0)
      if (length < 8 || length > MAX_STARTUP_LENGTH) throw protocolViolation(`invalid length of startup packet: ${length}`)
      if (this.total < length) return null
      return { kind: 'startup', body: this.take(length).subarray(4) }
    }
    const type = header[0]!
    const length = header.readInt32BE(1)
    if (length < 4 || length > this.limit.bytes) throw messageTooLong(length, type, this.limit)
    if (this.total < length + 1) return null
    return { kind: 'message', type, body: this.take(length + 1).subarray(5) }
  }

  /** Copies the first n buffered bytes without consuming them (n is small: a header). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n)
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    let i = 0
    let start = this.offset
    while (filled < n) {
      const c = this.chunks[i++]!
      filled += c.copy(out, filled, start, Math.min(c.length, start + n - filled))
      start = 0
    }
    return out
  }

  /** Consumes and returns the first n buffered bytes (n <= total). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!
    const available = first.length - this.offset
    let out: Buffer
    if (available >= n) {
      out = first.subarray(this.offset, this.offset + n)
      this.offset += n
      if (this.offset === first.length) {
        this.chunks.shift()
        this.offset = 0
      }
    } else {
      out = Buffer.allocUnsafe(n)
      let filled = 0
      while (filled < n) {
        const c = this.chunks[0]!
        const copied = c.copy(out, filled, this.offset, Math.min(c.length, this.offset + n - filled))
        filled += copied
        this.offset += copied
        if (this.offset === c.length) {
          this.chunks.shift()
          this.offset = 0
        }
      }
    }
    this.total -= n
    return out
  }
}

const hex = (b: number): string => b.toString(16).toUpperCase().padStart(2, '0')

/** A bounds-checked cursor over a message body. */
class BodyReader {
  private pos = 0
  constructor(
    private readonly body: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.body.length) throw protocolViolation(`invalid ${this.what} message format`)
  }

  byte(): number {
    this.need(1)
    return this.body[this.pos++]!
  }

  int16(): number {
    this.need(2)
    const v = this.body.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(): number {
    this.need(4)
    const v = this.body.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  uint32(): number {
    this.need(4)
    const v = this.body.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  bytes(n: number): Buffer {
    this.need(n)
    const v = this.body.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.pos)
    if (end < 0) throw protocolViolation(`invalid string in ${this.what} message`)
    const v = this.body.toString('utf8', this.pos, end)
    this.pos = end + 1
    return v
  }

  rest(): Buffer {
    const v = this.body.subarray(this.pos)
    this.pos = this.body.length
    return v
  }

  /** Postgres rejects trailing garbage in a message; so do we. */
  end(): void {
    if (this.pos !== this.body.length) throw protocolViolation(`invalid ${this.what} message format`)
  }
}

/** Decodes a startup-format packet body (after the length word). */
export function decodeStartup(body: Buffer): StartupPacket {
  const r = new BodyReader(body, 'startup packet')
  const code = r.int32()
  if (code === SSL_REQUEST_CODE) return { kind: 'ssl_request' }
  if (code === GSSENC_REQUEST_CODE) return { kind: 'gssenc_request' }
  if (code === CANCEL_REQUEST_CODE) {
    const processId = r.int32()
    // Protocol 3.2 allows longer keys; we only ever hand out 4-byte ones, so the first 4 bytes decide.
    const secretKey = r.int32()
    return { kind: 'cancel_request', processId, secretKey }
  }
  const major = code >>> 16
  const minor = code & 0xffff
  const params = new Map<string, string>()
  if (major === 3) {
    for (;;) {
      const name = r.cstring()
      if (name === '') break
      params.set(name, r.cstring())
    }
    r.end()
  }
  return { kind: 'startup', major, minor, params }
}

/** Decodes a typed frontend message; throws 08P01 for unknown types and malformed bodies. */
export function decodeFrontend(type: number, body: Buffer): FrontendMessage {
  switch (String.fromCharCode(type)) {
    case 'Q': {
      const r = new BodyReader(body, 'Query')
      const sql = r.cstring()
      r.end()
      return { type: 'query', sql }
    }
    case 'P': {
      const r = new BodyReader(body, 'Parse')
      const name = r.cstring()
      const sql = r.cstring()
      const n = r.int16()
      if (n < 0) throw protocolViolation('invalid Parse message format')
      const paramTypeOids: number[] = []
      for (let i = 0; i < n; i++) paramTypeOids.push(r.uint32())
      r.end()
      return { type: 'parse', name, sql, paramTypeOids }
    }
    case 'B':
      return decodeBind(body)
    case 'D':
    case 'C': {
      const what = type === 0x44 ? 'Describe' : 'Close'
      const r = new BodyReader(body, what)
      const target = String.fromCharCode(r.byte())
      if (target !== 'S' && target !== 'P') throw protocolViolation(`invalid ${what} message subtype ${target.charCodeAt(0)}`)
      const name = r.cstring()
      r.end()
      return { type: type === 0x44 ? 'describe' : 'close', target, name }
    }
    case 'E': {
      const r = new BodyReader(body, 'Execute')
      const portal = r.cstring()
      const maxRows = r.int32()
      r.end()
      return { type: 'execute', portal, maxRows: Math.max(0, maxRows) }
    }
    case 'S':
      return empty(body, 'Sync', { type: 'sync' })
    case 'H':
      return empty(body, 'Flush', { type: 'flush' })
    case 'X':
      return empty(body, 'Terminate', { type: 'terminate' })
    case 'd':
      return { type: 'copy_data', data: body }
    case 'c':
      return empty(body, 'CopyDone', { type: 'copy_done' })
    case 'f': {
      const r = new BodyReader(body, 'CopyFail')
      const message = r.cstring()
      r.end()
      return { type: 'copy_fail', message }
    }
    case 'p':
      return { type: 'password', data: body }
    default:
      throw protocolViolation(`invalid frontend message type ${type}`)
  }
}

function empty<M extends FrontendMessage>(body: Buffer, what: string, message: M): M {
  if (body.length !== 0) throw protocolViolation(`invalid ${what} message format`)
  return message
}

function decodeBind(body: Buffer): FrontendMessage {
  const r = new BodyReader(body, 'Bind')
  const portal = r.cstring()
  const statement = r.cstring()
  const paramFormats = readInt16List(r)
  const n = r.int16()
  if (n < 0) throw protocolViolation('invalid Bind message format')
  const params: (Buffer | null)[] = []
  for (let i = 0; i < n; i++) {
    const len = r.int32()
    if (len < -1) throw protocolViolation(`invalid length ${len} of bind parameter ${i + 1}`)
    params.push(len === -1 ? null : r.bytes(len))
  }
  const resultFormats = readInt16List(r)
  r.end()
  return { type: 'bind', portal, statement, paramFormats, params, resultFormats }
}

function readInt16List(r: BodyReader): number[] {
  const n = r.int16()
  if (n < 0) throw protocolViolation('invalid Bind message format')
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(r.int16())
  return out
}
