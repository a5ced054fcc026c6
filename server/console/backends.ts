/**
 * Sessions for the console's requests: each request (a statement, a page of the overview, a live feed) runs
 * in a session of its own, opened by the server's BackendFactory as the logged-in user with its role, and
 * closed when the request ends. They show in pg_stat_activity as application `sluice console`.
 */
import { randomInt } from 'node:crypto'
import type { Backend, BackendFactory } from '../backend.ts'
import type { ConsoleUser } from './logins.ts'

export const CONSOLE_APPLICATION = 'sluice console'

export function openBackend(factory: BackendFactory, user: ConsoleUser, remoteAddress: string): Backend {
  return factory.open({
    user: user.name,
    database: 'sluice',
    applicationName: CONSOLE_APPLICATION,
    options: new Map(),
    // Drawn at random as connections' are (server/cancel-registry.ts): a clash is as unlikely as between two connections.
    processId: randomInt(1, 0x7fffffff),
    remoteAddress,
    role: user.role,
  })
}

/** Runs `work` in a fresh session, closing it afterwards whatever happens. */
export async function withBackend<T>(factory: BackendFactory, user: ConsoleUser, remoteAddress: string, work: (b: Backend) => Promise<T>): Promise<T> {
  const backend = openBackend(factory, user, remoteAddress)
  try {
    return await work(backend)
  } finally {
    backend.close()
  }
}
