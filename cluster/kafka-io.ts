/**
 * What a cluster node writes to Kafka: topics (created when absent) and records, with the Java client's
 * default partitioning (murmur2 of the key), so that a key lands on the same partition whether Sluice,
 * a Java producer or kcat with `-X partitioner=murmur2_random` wrote it.
 */
import { Admin, Consumer, FetchIsolationLevels, Producer, murmur2 } from '@platformatic/kafka'

/** Kafka's answer when a topic already exists. */
const TOPIC_ALREADY_EXISTS = 36

/** The partition of a key as Kafka's Java client (and librdkafka's murmur2 partitioners) choose it. */
export function partitionOfKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}

export class KafkaIo {
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>
  /** Only asks for offsets (it never joins its group). */
  private readonly offsets: Consumer<Buffer, Buffer, Buffer, Buffer>
  private roundRobin = 0

  constructor(private readonly brokers: readonly string[], clientId: string) {
    this.producer = new Producer({ clientId, bootstrapBrokers: [...brokers], idempotent: true, acks: -1, autocreateTopics: false, retries: 10 })
    this.offsets = new Consumer({ clientId: `${clientId}-offsets`, groupId: `${clientId}-offsets`, bootstrapBrokers: [...brokers], autocreateTopics: false, retries: 5 })
  }

  /**
   * The end offset of each partition of `topic`, as the broker says now, for a read_committed reader: the
   * last stable offset, before the first transaction still open (what such a reader can reach).
   */
  async endOffsets(topic: string): Promise<number[]> {
    const ends = await this.offsets.listOffsets({ topics: [topic], timestamp: -1n })
    return (ends.get(topic) ?? []).map(Number)
  }

  /**
   * The end of each partition's log now, open transactions included (the high watermark). A transaction's
   * commit returns to its producer before the coordinator has written the commit markers, so for a moment
   * after an insert was answered the last stable offset can still stand before its records: a reader that
   * must see everything committed before it asked waits for this end instead (read_committed, it cannot
   * pass an open transaction, so it gets there only once the markers are written).
   */
  async logEndOffsets(topic: string): Promise<number[]> {
    const ends = await this.offsets.listOffsets({ topics: [topic], timestamp: -1n, isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED })
    return (ends.get(topic) ?? []).map(Number)
  }

  /** Creates the topic unless it exists (with whatever partitions it has then). `configs`: topic settings. */
  async ensureTopic(name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
    const admin = new Admin({ clientId: 'sluice-cluster-admin', bootstrapBrokers: [...this.brokers], retries: 5 })
    try {
      await admin.createTopics({ topics: [name], partitions, replicas: 1, configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) })
    } catch (err) {
      if (!alreadyExists(err)) throw err
    } finally {
      await new Promise<void>((done) => admin.close(() => done()))
    }
  }

  /**
   * Produces records (idempotent, acknowledged by all in-sync replicas); resolves with the offset of the
   * first one per partition written. A keyed record goes to its key's partition, a keyless one round-robin.
   */
  async send(topic: string, partitions: number, records: readonly { key: string | undefined; value: string | Buffer }[], partition?: number): Promise<number> {
    const messages = this.place(partitions, records, partition).map((m) => ({ topic, partition: m.partition, ...(m.key === null ? {} : { key: m.key }), value: m.value }))
    const result = await this.producer.send({ messages })
    return Number(result.offsets?.[0]?.offset ?? -1)
  }

  /** Records as Kafka messages: each to its key's partition (or `partition`), keyless ones round-robin. */
  place(partitions: number, records: readonly { key: string | undefined; value: string | Buffer }[], partition?: number): { partition: number; key: Buffer | null; value: Buffer }[] {
    return records.map((r) => ({
      partition: partition ?? (r.key === undefined ? this.roundRobin++ % partitions : partitionOfKey(r.key, partitions)),
      key: r.key === undefined ? null : Buffer.from(r.key, 'utf8'),
      value: typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value,
    }))
  }

  async close(): Promise<void> {
    await new Promise<void>((done) => this.producer.close(() => done()))
    await new Promise<void>((done) => this.offsets.close(true, () => done()))
  }
}

/** Wakes a loop that reads a topic: `wait` resolves at the next `wake` (records arrived) or after `ms`. */
export class Arrivals {
  private waiting: (() => void) | null = null

  wake(): void {
    this.waiting?.()
  }

  async wait(ms = 200): Promise<void> {
    await new Promise<void>((resolve) => {
      this.waiting = resolve
      setTimeout(resolve, ms).unref()
    })
    this.waiting = null
  }
}

function alreadyExists(err: unknown): boolean {
  const e = err as { errors?: unknown[]; apiCode?: number; response?: { topics?: { errorCode?: number }[] } } | null
  if (e?.apiCode === TOPIC_ALREADY_EXISTS) return true
  if (e?.response?.topics?.some((t) => t.errorCode === TOPIC_ALREADY_EXISTS)) return true
  if (Array.isArray(e?.errors) && e.errors.some(alreadyExists)) return true
  return /already exists/i.test(String((err as Error)?.message ?? ''))
}
