/**
 * HTTP ingest's idempotency keys across a cluster (docs/cluster.md, "Streams are topics"). A client behind a
 * load balancer retries a batch on whichever node it reaches, so a key must be known to every node. The key
 * and the answer the batch got travel in the batch's own Kafka transaction (ingest-transactions.ts) as a
 * record of the compacted topic `_sluice_<cluster>_ingest_keys`: the events and their key are committed
 * together or not at all, as a single process commits them in one log record (executor/ingest-keys.ts).
 *
 * Every node follows the topic (read_committed) into its own IngestKeys. Before a keyed batch is looked up,
 * the node reads the topic up to its end as of that moment (`caughtUp`): a read_committed fetch cannot pass
 * a transaction still open, so a retry that arrives while the first attempt's transaction is under way on
 * another node waits for its outcome and then sees its key. Two attempts of one key that both look before
 * either has written (sent to two nodes within the same few milliseconds) can still both be appended: the
 * window is the time between the look and the start of the write, not the batch's whole life.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { KEY_TTL_MS, type IngestKeys } from '../executor/ingest-keys.ts'
import { KafkaSource } from '../executor/connectors/kafka-source.ts'
import { Arrivals, type KafkaIo } from './kafka-io.ts'
import type { IngestMessage } from './ingest-transactions.ts'

export const ingestKeysTopic = (cluster: string): string => `_sluice_${cluster}_ingest_keys`
/** How long a keyed batch waits for the keys topic before it is refused (503-like: retry later). */
const CATCH_UP_MS = 10_000

/** The record of a keyed batch's key and answer (the tag executor/ingest-keys.ts `keyTag` made). */
export function keyRecord(stream: string, tag: Buffer): IngestMessage {
  const t = JSON.parse(tag.toString('utf8')) as { idempotencyKey: string }
  // Keyed by stream and key (compaction keeps a key's last answer); the value is the tag and its stream.
  return { partition: 0, key: Buffer.from(JSON.stringify([stream, t.idempotencyKey]), 'utf8'), value: Buffer.from(JSON.stringify({ ...t, stream }), 'utf8') }
}

export class IngestKeysFollower {
  private next = 0
  private closed = false
  private readonly arrivals = new Arrivals()
  private loopDone: Promise<void> = Promise.resolve()

  private constructor(
    private readonly io: KafkaIo,
    private readonly topic: string,
    private readonly source: KafkaSource,
    private readonly keys: IngestKeys,
  ) {}

  static async start(cluster: string, brokers: readonly string[], io: KafkaIo, keys: IngestKeys): Promise<IngestKeysFollower> {
    const topic = ingestKeysTopic(cluster)
    // Compacted (a retried key's last answer) and deleted past the keys' lifetime.
    await io.ensureTopic(topic, 1, { 'cleanup.policy': 'compact,delete', 'retention.ms': String(KEY_TTL_MS) })
    let follower: IngestKeysFollower | null = null
    const source = await KafkaSource.open({ brokers, topic, start: 'earliest', groupId: `sluice-${cluster}-ingest-keys`, onArrival: () => follower?.arrivals.wake() })
    await source.start([0])
    follower = new IngestKeysFollower(io, topic, source, keys)
    follower.loopDone = follower.loop()
    return follower
  }

  /**
   * Waits until every key written before this call (committed or aborted) has been read: up to the log's
   * end, open transactions included (KafkaIo.logEndOffsets: an insert answered a moment ago on another node
   * may not have its commit markers written yet, and the last stable offset would stop before its key).
   */
  async caughtUp(): Promise<void> {
    const [end = 0] = await this.io.logEndOffsets(this.topic)
    const deadline = Date.now() + CATCH_UP_MS
    while (this.next < end && !this.closed) {
      if (Date.now() > deadline) {
        throw new SluiceError('execution', SqlState.objectNotInPrerequisiteState, `the cluster's idempotency keys could not be read up to date within ${CATCH_UP_MS} ms`, {
          hint: 'Nothing was appended; send the batch again with the same Idempotency-Key.',
        })
      }
      this.arrivals.wake()
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.arrivals.wake()
    await this.loopDone.catch(() => undefined)
    await this.source.close()
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let batch
      try {
        batch = await this.source.read(0, this.next, 500)
      } catch (err) {
        if (this.closed) return
        console.error(`sluice: reading ${this.topic} failed (${(err as Error).message}); retrying`)
        await new Promise((r) => setTimeout(r, 1000))
        continue
      }
      if (batch.records.length === 0 && batch.nextOffset <= this.next) {
        await this.arrivals.wait()
        continue
      }
      const byStream = new Map<string, Buffer[]>()
      for (const value of batch.records) {
        const tag = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')
        try {
          const { stream } = JSON.parse(tag.toString('utf8')) as { stream?: unknown }
          if (typeof stream !== 'string') continue
          const tags = byStream.get(stream)
          if (tags === undefined) byStream.set(stream, [tag])
          else tags.push(tag)
        } catch {
          // Not a key record of Sluice's: skipped.
        }
      }
      for (const [stream, tags] of byStream) this.keys.recover(stream, tags)
      this.next = Math.max(this.next, batch.nextOffset)
      this.source.release(0, this.next)
    }
  }
}
