/**
 * Idempotency keys of HTTP ingest: the answer given to a batch sent with an `Idempotency-Key` header, kept
 * so that a retry of the batch (same stream, same key) is not appended again and gets the first answer.
 *
 * Bounded: at most MAX_KEYS keys, each for at most KEY_TTL_MS; the oldest are forgotten first.
 *
 * Durable with the batch itself: the key and its answer are a tag of the batch's append (`keyTag`), written
 * in the same commit record of the stream's log as the batch's records (log/commit-file.ts), so after a
 * kill -9 at any moment the batch and its key are both there or neither; on open the keys are read back
 * from the logs (`recover`). They are also kept in the state store (one entry per key, written once the
 * append is acknowledged), which is what remembers them for a stream whose events are not appended to an
 * embedded log here. A retried batch is therefore appended exactly once.
 */
import type { Mutation, StateDb } from './state/rocks.ts'

export const MAX_KEYS = 10_000
export const KEY_TTL_MS = 24 * 60 * 60 * 1000
const PREFIX = 'ingest-key/'
/**
 * Test-only fault injection: the probability (0 to 1) of killing the process with SIGKILL between a keyed
 * batch's append and the state store's write of its key, the moment a crash used to append retries twice.
 */
const KILL_BEFORE_KEY_SAVE = Number(process.env.SLUICE_TEST_KILL_BEFORE_KEY_SAVE ?? 0)

/** The tag committed with a keyed batch in its stream's log: the key and the answer, as JSON. */
export function keyTag(key: string, answer: IngestAnswer, at: number = Date.now()): Buffer {
  return Buffer.from(JSON.stringify({ idempotencyKey: key, status: answer.status, body: answer.body, at }))
}

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
  /** Cluster mode: reads every node's keys up to now before a key is looked up. */
  sync: (() => Promise<void>) | null = null
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
    // Cluster mode: the keys other nodes committed first (cluster/ingest-keys-topic.ts).
    if (this.sync !== null) await this.sync()
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
      if (answer.appended === true) {
        if (KILL_BEFORE_KEY_SAVE > 0 && Math.random() < KILL_BEFORE_KEY_SAVE) process.kill(process.pid, 'SIGKILL')
        await this.remember(id, answer)
      }
      return { ...answer, replayed: false }
    } finally {
      this.inFlight.delete(id)
    }
  }

  /**
   * Takes in the keys committed with their batches in `stream`'s log (its tags, oldest first): a key the
   * state store did not get before a crash is remembered from there. Tags that are not keys are skipped.
   */
  recover(stream: string, tags: readonly Buffer[]): void {
    let added = false
    for (const tag of tags) {
      let t: { idempotencyKey?: unknown; status?: unknown; body?: unknown; at?: unknown }
      try {
        t = JSON.parse(tag.toString('utf8')) as typeof t
      } catch {
        continue
      }
      if (typeof t.idempotencyKey !== 'string' || typeof t.status !== 'number' || typeof t.at !== 'number') continue
      const id = `${stream}/${t.idempotencyKey}`
      const known = this.known.get(id)
      if (known !== undefined && known.at >= t.at) continue
      this.known.set(id, { status: t.status, body: t.body, at: t.at })
      added = true
    }
    if (!added) return
    // Oldest first again, then at most MAX_KEYS unexpired (the state store's copies are trimmed on the next write).
    const now = this.now()
    const sorted = [...this.known].filter(([, r]) => now - r.at < KEY_TTL_MS).sort((a, b) => a[1].at - b[1].at).slice(-MAX_KEYS)
    this.known.clear()
    for (const [k, r] of sorted) this.known.set(k, r)
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
