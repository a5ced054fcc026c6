/**
 * Connection slots and limits at the listener, over real sockets with node-postgres and raw bytes; the
 * session behind each connection is a stub (every statement a no-op, `sleep` waits until cancelled).
 */
import { connect, type Socket } from 'node:net'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import type { Backend, BackendFactory, Outcome, PreparedStatement, StartupInfo } from './backend.ts'
import { checkConnectionLimits, startListener, type Listener } from './listener.ts'
import { UserDirectory } from './users.ts'

class StubBackend implements Backend {
  private wake: (() => void) | null = null
  constructor(readonly startup: StartupInfo) {}
  prepare(sql: string): PreparedStatement[] {
    return sql.trim() === '' ? [] : [{ sql, paramTypes: [], columns: null }]
  }
  async execute(statement: PreparedStatement): Promise<Outcome> {
    if (statement.sql.trim() === 'sleep') {
      await new Promise<void>((resolve) => (this.wake = resolve))
      throw new SluiceError('execution', '57014', 'canceling statement due to user request')
    }
    return { kind: 'command', tag: 'OK' }
  }
  transactionStatus() {
    return 'I' as const
  }
  statementFailed(): void {}
  takeParameterChanges(): ReadonlyMap<string, string> {
    return new Map()
  }
  onAsync(): void {}
  cancel(): void {
    this.wake?.()
  }
  close(): void {}
}

const factory: BackendFactory = { open: (s) => new StubBackend(s), initialParameters: () => new Map([['server_version', '15.0']]) }

let listener: Listener | null = null
const clients: pg.Client[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => {})
  await listener?.close()
  listener = null
})

async function attempt(port: number, user = 'alice'): Promise<pg.Client | { code?: string; message: string }> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, database: 'sluice' })
  c.on('error', () => {})
  try {
    await c.connect()
    clients.push(c)
    return c
  } catch (err) {
    return err as { code?: string; message: string }
  }
}

/** Waits until `cond` holds, polling, failing after `ms`: never a fixed sleep. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Everything the server sends on `socket` until it closes. */
function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('error', () => {})
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))))
}

describe('connection slots', () => {
  it('refuses past max_connections after reading the startup packet, and still routes a CancelRequest', async () => {
    listener = await startListener({ host: '127.0.0.1', port: 0, factory, maxConnections: 1, reservedConnections: 0 })
    const first = await attempt(listener.port)
    expect(first).toBeInstanceOf(pg.Client)
    expect(await attempt(listener.port)).toMatchObject({ code: '53300', message: 'sorry, too many clients already' })
    // Once the refused socket is gone (past twice the limit nothing is read), a full server still reads a
    // CancelRequest, which comes on a connection of its own as libpq sends it.
    await until(() => listener!.connectionCount() === 1)
    const session = first as pg.Client
    const sleeping = session.query('sleep').catch((e: { code?: string }) => e.code)
    const { processID, secretKey } = session as unknown as { processID: number; secretKey: number }
    const s = connect(listener.port, '127.0.0.1')
    s.on('error', () => {})
    s.end(serialize.cancel(processID, secretKey))
    expect(await sleeping).toBe('57014')
  })

  it('answers sockets past twice the limit at once, without waiting for a startup packet', async () => {
    listener = await startListener({ host: '127.0.0.1', port: 0, factory, maxConnections: 1, reservedConnections: 0 })
    expect(await attempt(listener.port)).toBeInstanceOf(pg.Client)
    // The second socket is being refused (it sends nothing, so it waits for a startup packet) ...
    const pending = connect(listener.port, '127.0.0.1')
    const pendingReply = collect(pending)
    await new Promise<void>((resolve) => pending.once('connect', () => resolve()))
    // ... and a third one, past twice the limit, gets the error without sending anything.
    const third = connect(listener.port, '127.0.0.1')
    const reply = await collect(third)
    expect(reply[0]).toBe(0x45)
    expect(reply.toString('latin1')).toContain('C53300\0')
    expect(reply.toString('latin1')).toContain('Msorry, too many clients already\0')
    pending.destroy()
    await pendingReply
  })

  it('keeps reserved slots for admins; a refusal frees its slot at once', async () => {
    const users = new UserDirectory([
      { name: 'alice', role: 'admin', secret: 'a' },
      { name: 'rita', role: 'readonly', secret: 'r' },
    ])
    listener = await startListener({ host: '127.0.0.1', port: 0, factory, security: { tls: null, auth: 'trust', users }, maxConnections: 2, reservedConnections: 1 })
    expect(await attempt(listener.port, 'rita')).toBeInstanceOf(pg.Client)
    for (let i = 0; i < 3; i++) {
      expect(await attempt(listener.port, 'rita')).toMatchObject({ code: '53300', message: 'remaining connection slots are reserved for admin users' })
    }
    expect(await attempt(listener.port, 'alice')).toBeInstanceOf(pg.Client)
    expect(listener.connectionCount()).toBeLessThanOrEqual(3)
  })

  it('refuses settings that would leave no usable slot', () => {
    expect(() => checkConnectionLimits(0, 0)).toThrow(/max_connections must be a positive integer/)
    expect(() => checkConnectionLimits(3, 3)).toThrow(/reserved connections/)
    expect(() => checkConnectionLimits(3, 2)).not.toThrow()
  })
})
