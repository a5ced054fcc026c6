/**
 * The TCP listener for the Postgres protocol: accepts sockets, gives each one a Connection, routes
 * CancelRequests between them, and on close stops accepting and drops every live connection.
 *
 * Connection slots work as PostgreSQL's: at most `maxConnections` sessions (authenticated or still
 * authenticating), of which the last `reservedConnections` only admins may take. A connection past the
 * limit still has its startup packet read (so SSLRequest and CancelRequest work on a full server) and is
 * then refused with 53300; past twice the limit, sockets are refused at once without reading anything.
 */
import { createServer, type Socket } from 'node:net'
import { SluiceError, SqlState } from '../common/errors.ts'
import type { BackendFactory } from './backend.ts'
import { CancelRegistry } from './cancel-registry.ts'
import { Connection, type ConnectionGate, type ConnectionSecurity } from './connection.ts'
import type { LoginThrottle } from './login-throttle.ts'
import type { Role } from './users.ts'
import { DEFAULT_MESSAGE_LIMIT, type MessageLimit } from './wire/reader.ts'
import * as W from './wire/writer.ts'

/** PostgreSQL's defaults for max_connections and superuser_reserved_connections. */
export const DEFAULT_MAX_CONNECTIONS = 100
export const DEFAULT_RESERVED_CONNECTIONS = 3
/** How long a socket refused at once may linger for its error to be read. */
const REFUSED_LINGER_MS = 2000

export interface ListenerOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly factory: BackendFactory
  /** TLS and authentication; absent: plain text, trust. */
  readonly security?: ConnectionSecurity
  /** Sessions at most (default 100). */
  readonly maxConnections?: number
  /** Of those, how many only admins may take (default 3; PostgreSQL's superuser_reserved_connections). */
  readonly reservedConnections?: number
  /** Largest message after authentication. */
  readonly messageLimit?: MessageLimit
  readonly throttle?: LoginThrottle | null
}

export interface Listener {
  /** The port actually bound. */
  readonly port: number
  /** Number of live connections. */
  connectionCount(): number
  /** Stops accepting, destroys live connections, and resolves once all are torn down. */
  close(): Promise<void>
}

export const tooManyClients = (): SluiceError => new SluiceError('auth', SqlState.tooManyConnections, 'sorry, too many clients already')

const reservedForAdmins = (): SluiceError =>
  new SluiceError('auth', SqlState.tooManyConnections, 'remaining connection slots are reserved for admin users')

/** Checks the slot options at start, so that a bad value is a configuration error and not a server nobody can reach. */
export function checkConnectionLimits(max: number, reserved: number): void {
  if (!Number.isInteger(max) || max < 1) throw new SluiceError('auth', SqlState.invalidParameterValue, `max_connections must be a positive integer, not ${max}`)
  if (!Number.isInteger(reserved) || reserved < 0 || reserved >= max) {
    throw new SluiceError('auth', SqlState.invalidParameterValue, `reserved connections must be an integer from 0 to max_connections - 1 (${max - 1}), not ${reserved}`)
  }
}

export async function startListener(options: ListenerOptions): Promise<Listener> {
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const reserved = options.reservedConnections ?? DEFAULT_RESERVED_CONNECTIONS
  checkConnectionLimits(maxConnections, reserved)
  const registry = new CancelRegistry()
  const live = new Set<Connection>()
  /** Connections holding a slot; the others are being refused. */
  let admitted = 0
  const server = createServer((socket: Socket) => {
    if (live.size >= 2 * maxConnections) {
      // Not even the startup packet is read: the error goes out and the socket closes.
      socket.on('error', () => {})
      socket.end(W.errorResponse(W.errorFieldsOf(tooManyClients(), 'FATAL')))
      setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref()
      return
    }
    const full = admitted >= maxConnections
    let holdsSlot = !full
    if (holdsSlot) admitted++
    const release = () => {
      if (holdsSlot) admitted--
      holdsSlot = false
    }
    const gate: ConnectionGate = {
      messageLimit: options.messageLimit ?? DEFAULT_MESSAGE_LIMIT,
      refusal: full ? tooManyClients() : null,
      admit: (role: Role) => {
        // `admitted` counts this connection: non-admins may fill all but the reserved slots.
        if (role === 'admin' || admitted <= maxConnections - reserved) return null
        // Refused: the slot is free again now, not when the client gets round to closing its socket.
        release()
        return reservedForAdmins()
      },
      throttle: options.throttle ?? null,
    }
    const connection = new Connection(socket, options.factory, registry, options.security, gate)
    live.add(connection)
    void connection.done.then(() => {
      live.delete(connection)
      release()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error(`listener bound to an unexpected address: ${String(address)}`)
  let closing: Promise<void> | null = null
  return {
    port: address.port,
    connectionCount: () => live.size,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        const all = [...live]
        for (const c of all) c.destroy()
        await Promise.all(all.map((c) => c.done))
        await stopped
      })()
      return closing
    },
  }
}
