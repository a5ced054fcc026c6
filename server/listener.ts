/**
 * The TCP listener for the Postgres protocol: accepts sockets, gives each one a Connection, routes
 * CancelRequests between them, and on close stops accepting and drops every live connection.
 */
import { createServer, type Socket } from 'node:net'
import type { BackendFactory } from './backend.ts'
import { CancelRegistry, Connection, type ConnectionSecurity } from './connection.ts'

export interface ListenerOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly factory: BackendFactory
  /** TLS and authentication; absent: plain text, trust. */
  readonly security?: ConnectionSecurity
}

export interface Listener {
  /** The port actually bound. */
  readonly port: number
  /** Number of live connections. */
  connectionCount(): number
  /** Stops accepting, destroys live connections, and resolves once all are torn down. */
  close(): Promise<void>
}

export async function startListener(options: ListenerOptions): Promise<Listener> {
  const registry = new CancelRegistry()
  const live = new Set<Connection>()
  const server = createServer((socket: Socket) => {
    const connection = new Connection(socket, options.factory, registry, options.security)
    live.add(connection)
    void connection.done.then(() => live.delete(connection))
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
