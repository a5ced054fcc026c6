/**
 * The BackendKeyData of every connection, so that a CancelRequest arriving on another socket (the protocol
 * sends it on a new connection) reaches the session it names.
 */
import { randomInt } from 'node:crypto'

/** Finds connections by their BackendKeyData so a CancelRequest on another socket can reach them. */
export class CancelRegistry {
  private readonly byPid = new Map<number, { readonly secretKey: number; readonly cancel: () => void }>()

  /** Allocates an unused positive process id and registers its key. */
  register(cancel: () => void): { processId: number; secretKey: number } {
    let processId: number
    do processId = randomInt(1, 0x7fffffff)
    while (this.byPid.has(processId))
    const secretKey = randomInt(-0x80000000, 0x7fffffff)
    this.byPid.set(processId, { secretKey, cancel })
    return { processId, secretKey }
  }

  unregister(processId: number): void {
    this.byPid.delete(processId)
  }

  /** Cancels the matching session; a wrong key is ignored silently, as Postgres does. */
  cancel(processId: number, secretKey: number): boolean {
    const entry = this.byPid.get(processId)
    if (entry === undefined || entry.secretKey !== secretKey) return false
    entry.cancel()
    return true
  }
}
