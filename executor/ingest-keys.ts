/**
 * Idempotency keys of HTTP ingest: the answer given to a batch sent with an `Idempotency-Key` header, kept
 * so that a retry of the batch (same stream, same key) is not appended again and gets the first answer.
 *
 * Bounded: at most MAX_KEYS keys, each for at most KEY_TTL_MS; the oldest are forgotten first. Kept in the
 * state store (one entry per key, written right after the batch's append is acknowledged), so a restart
 * remembers them. A crash between the append and that write forgets the key: the retry is then appended
 * again (at least once, never lost).
 */
import type { Mutation, StateDb } from './state/rocks.ts'

export const MAX_KEYS = 10_000
export const KEY_TTL_MS = 24 * 60 * 60 * 1000
const PREFIX = 'ingest-key/'

/** What a batch was answered: the HTTP status and the JSON body; only answers of appended batches are kept. */
export interface IngestAnswer {
  readonly status: number
  readonly body: unknown
  readonly appended?: boolean
}

interface Remembered extends IngestAnswer {
  /** When the answer was given (ms since 1970). */
  readonly at: number
}

export class IngestKeys {
  /** By `stream/key`, in the order remembered (a Map keeps insertion order): the oldest first. */
  private readonly known = new Map<string, Remembered>()
  /** Batches under way, so that a retry sent before the first answer waits for it. */
  private readonly inFlight = new Map<string, Promise<IngestAnswer>>()

  private constructor(
    private readonly db: StateDb,
    private readonly now: () => number,
  ) {}

  static async open(db: StateDb, now: () => number = Date.now): Promise<IngestKeys> {
    const keys = new IngestKeys(db, now)
    const loaded: [string, Remembered][] = []
    for await (const [k, v] of db.scan({ gte: Buffer.from(PREFIX), lt: Buffer.from(PREFIX.slice(0, -1) + String.fromCharCode(PREFIX.charCodeAt(PREFIX.length - 1) + 1)) })) {
      loaded.push([k.toString('utf8').slice(PREFIX.length), JSON.parse(v.toString('utf8')) as Remembered])
    }
    loaded.sort((a, b) => a[1].at - b[1].at)
    for (const [k, r] of loaded) keys.known.set(k, r)
    return keys
  }

  /**
   * The answer for a batch: the remembered one when `key` was seen for `stream` within the window, else
   * the one `run` gives (then remembered). Concurrent calls with one key run `run` once.
   */
  async answer(stream: string, key: string, run: () => Promise<IngestAnswer>): Promise<IngestAnswer & { replayed: boolean }> {
    const id = `${stream}/${key}`
    const known = this.known.get(id)
    if (known !== undefined && this.now() - known.at < KEY_TTL_MS) return { status: known.status, body: known.body, replayed: true }
    const running = this.inFlight.get(id)
    if (running !== undefined) return { ...(await running), replayed: true }
    const work = run()
    this.inFlight.set(id, work)
    try {
      const answer = await work
      // A batch that was not appended (unknown stream, a body that is not JSON lines) may be sent again.
      if (answer.appended === true) await this.remember(id, answer)
      return { ...answer, replayed: false }
    } finally {
      this.inFlight.delete(id)
    }
  }

  /** How many keys are remembered (expired ones included until the next write drops them). */
  get size(): number {
    return this.known.size
  }

  private async remember(id: string, answer: IngestAnswer): Promise<void> {
    const now = this.now()
    const mutations: Mutation[] = []
    this.known.delete(id)
    for (const [k, r] of this.known) {
      if (this.known.size < MAX_KEYS && now - r.at < KEY_TTL_MS) break
      this.known.delete(k)
      mutations.push({ kind: 'delete', key: Buffer.from(PREFIX + k) })
    }
    const entry: Remembered = { status: answer.status, body: answer.body, at: now }
    this.known.set(id, entry)
    mutations.push({ kind: 'put', key: Buffer.from(PREFIX + id), value: Buffer.from(JSON.stringify(entry)) })
    await this.db.commit(mutations)
  }
}
