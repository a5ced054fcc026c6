/**
 * A minimal PostgreSQL protocol client for tests that must see bytes: pg-protocol's serializer builds the
 * frontend messages; backend frames are split here and kept raw, so that binary DataRow cells arrive as
 * the exact bytes the server sent (pg-protocol's own parser decodes every cell as UTF-8 text).
 */
import { connect, type Socket } from 'node:net'
import { serialize } from 'pg-protocol'

export interface BackendMessage {
  /** The message type byte as a character: 'D' DataRow, 'T' RowDescription, 's' PortalSuspended, ... */
  readonly type: string
  readonly body: Buffer
}

export class RawPg {
  readonly messages: BackendMessage[] = []
  private pending = Buffer.alloc(0)
  private waiter: (() => void) | null = null
  closed = false
  /** BackendKeyData from startup, for CancelRequest. */
  key = { processId: 0, secretKey: 0 }

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk])
      while (this.pending.length >= 5) {
        const len = this.pending.readInt32BE(1)
        if (this.pending.length < 1 + len) break
        this.messages.push({ type: String.fromCharCode(this.pending[0]!), body: this.pending.subarray(5, 1 + len) })
        this.pending = this.pending.subarray(1 + len)
      }
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = null
    w?.()
  }

  /** Connects and completes startup (trust authentication) up to the first ReadyForQuery. */
  static async open(port: number, user: string, database: string): Promise<RawPg> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const c = new RawPg(socket)
    c.send(serialize.startup({ user, database }))
    const k = (await c.until('Z')).find((m) => m.type === 'K')
    if (k !== undefined) c.key = { processId: k.body.readInt32BE(0), secretKey: k.body.readInt32BE(4) }
    return c
  }

  /** Sends a CancelRequest for this session on a new connection, as libpq does. */
  async cancel(): Promise<void> {
    const s = connect(this.socket.remotePort!, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve)
      s.once('error', reject)
    })
    s.end(serialize.cancel(this.key.processId, this.key.secretKey))
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs))
  }

  /** Messages up to and including the next one of `type`, removed from the log; fails after `ms`. */
  async until(type: string, ms = 10_000): Promise<BackendMessage[]> {
    const deadline = Date.now() + ms
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type)
      if (i >= 0) return this.messages.splice(0, i + 1)
      if (this.closed) throw new Error(`connection closed before '${type}'; got ${this.messages.map((m) => m.type).join('')}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no '${type}' within ${ms} ms; got ${this.messages.map((m) => m.type).join('')}`)
      await new Promise<void>((resolve) => {
        this.waiter = resolve
        setTimeout(resolve, left).unref()
      })
    }
  }

  close(): void {
    this.socket.end(serialize.end())
  }
}

/** The cells of a DataRow, raw (null for SQL NULL). */
export function dataRowCells(m: BackendMessage): (Buffer | null)[] {
  const n = m.body.readInt16BE(0)
  const out: (Buffer | null)[] = []
  let at = 2
  for (let i = 0; i < n; i++) {
    const len = m.body.readInt32BE(at)
    at += 4
    if (len < 0) out.push(null)
    else {
      out.push(m.body.subarray(at, at + len))
      at += len
    }
  }
  return out
}

/** RowDescription fields: name, type OID and format code. */
export function rowDescription(m: BackendMessage): { name: string; typeOid: number; format: number }[] {
  const n = m.body.readInt16BE(0)
  const out: { name: string; typeOid: number; format: number }[] = []
  let at = 2
  for (let i = 0; i < n; i++) {
    const end = m.body.indexOf(0, at)
    const name = m.body.toString('utf8', at, end)
    at = end + 1
    const typeOid = m.body.readInt32BE(at + 6)
    const format = m.body.readInt16BE(at + 16)
    at += 18
    out.push({ name, typeOid, format })
  }
  return out
}

/** The fields of an ErrorResponse or NoticeResponse by code ('C' SQLSTATE, 'M' message). */
export function errorFields(m: BackendMessage): Record<string, string> {
  const out: Record<string, string> = {}
  let at = 0
  while (at < m.body.length && m.body[at] !== 0) {
    const code = String.fromCharCode(m.body[at]!)
    const end = m.body.indexOf(0, at + 1)
    out[code] = m.body.toString('utf8', at + 1, end)
    at = end + 1
  }
  return out
}

/** The tag of a CommandComplete. */
export const commandTag = (m: BackendMessage): string => m.body.toString('utf8', 0, m.body.length - 1)
