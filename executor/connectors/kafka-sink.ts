/**
 * Writing a sink's output to a Kafka topic exactly once. The engine hands over numbered batches that its
 * checkpoints have already made durable (the outbox); each batch is written in one Kafka transaction whose
 * records carry a `sluice-batch: <sink id>:<batch>` header, so readers with read_committed see a batch
 * entirely or not at all. The same transaction commits the batch number as a consumer-group offset, so after
 * a crash `lastDelivered` knows exactly which batches Kafka has, and the engine resends only later ones.
 * The producer's transactional id is stable per sink: a restarted Sluice fences off (and aborts) whatever
 * transaction the old one left open. The id is registered (InitProducerId) when the writer opens and again
 * after each failed transaction, before `lastDelivered` is read, so that no earlier holder of the id can
 * commit a batch after that answer. Producing is kafkajs's (see KafkaSinkWriter.producer).
 *
 * In cluster mode (cluster/sinks.ts) each task writes its own rows under an id of its own, and whether a
 * failed transaction may be tried again under the same id is the task's to say (`retry`): a fence means
 * another node owns the task now, and registering again would fence the rightful owner.
 */
import { Kafka, logLevel, type Producer as KafkaProducer, type Transaction } from 'kafkajs'
import type { SinkRecord, SinkTarget } from './sink-target.ts'
import { committedOffsets } from './kafka-resume.ts'

export type { SinkRecord } from './sink-target.ts'

export interface KafkaSinkOptions {
  readonly brokers: readonly string[]
  readonly topic: string
  /**
   * Stable across restarts and unique per installation and sink: the transactional id (fencing) and the
   * batch headers are made from it.
   */
  readonly sinkTag: string
  /** false: at-least-once, plain idempotent sends without transactions. */
  readonly transactional: boolean
  /**
   * Asked after a failed transaction, before the id is registered again: true to go on, false to stop for
   * good (the writer then fails every delivery with `stopped`). Absent: always go on.
   */
  readonly retry?: (err: Error) => Promise<boolean>
}

const BATCH_HEADER = 'sluice-batch'

/** A missing topic is looked for this many times, this far apart, before the sink says it does not exist. */
const METADATA_ATTEMPTS = 10
const METADATA_RETRY_MS = 300

export class KafkaSinkWriter implements SinkTarget {
  readonly deadLetters = 0
  /** Set when `retry` said no: every later delivery fails with it. */
  stopped: Error | null = null
  /** The transaction begun when the id was registered, used by the next delivery. */
  private pending: Transaction | null = null

  private constructor(
    private readonly kafka: Kafka,
    private producer: KafkaProducer,
    private readonly options: KafkaSinkOptions,
    readonly partitions: number,
  ) {}

  /**
   * The transactional producer is kafkajs's: on a restart after a crash it waits out the coordinator's
   * abort of the dead process's open transaction (CONCURRENT_TRANSACTIONS is retried), where
   * @platformatic/kafka 1.x gets PRODUCER_FENCED from InitProducerId and does not recover.
   */
  private static async producer(kafka: Kafka, options: KafkaSinkOptions): Promise<KafkaProducer> {
    const producer = options.transactional
      ? kafka.producer({ transactionalId: `sluice-sink-${options.sinkTag}`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
      : kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false })
    await producer.connect()
    return producer
  }

  static async open(options: KafkaSinkOptions): Promise<KafkaSinkWriter> {
    const kafka = new Kafka({ clientId: `sluice-sink-${options.sinkTag}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    let partitions: number
    try {
      // A topic created a moment ago may not be in the broker's metadata yet: asked again for a few seconds.
      let topic: { partitions: unknown[] } | undefined
      for (let attempt = 0; topic === undefined && attempt < METADATA_ATTEMPTS; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, METADATA_RETRY_MS))
        const metadata = await admin.fetchTopicMetadata({ topics: [options.topic] }).catch(() => null)
        topic = metadata?.topics.find((t) => t.name === options.topic)
      }
      if (topic === undefined) throw new Error(`Kafka topic "${options.topic}" does not exist`)
      partitions = topic.partitions.length
    } finally {
      await admin.disconnect()
    }
    const writer = new KafkaSinkWriter(kafka, await KafkaSinkWriter.producer(kafka, options), options, partitions)
    if (options.transactional) await writer.register()
    return writer
  }

  /** Registers the transactional id now (fencing any earlier holder), keeping the transaction it begins. */
  private async register(): Promise<void> {
    this.pending = await this.producer.transaction()
  }

  /**
   * Writes consecutive batches in one transaction (a backlog is caught up with one commit, not one per
   * batch); each record's header names its own batch, and the highest batch is committed with them.
   */
  async deliver(batches: readonly { readonly batch: number; readonly records: readonly SinkRecord[] }[]): Promise<void> {
    if (batches.length === 0) return
    if (!this.options.transactional) return this.send(batches.flatMap((b) => b.records.map((r) => ({ record: r, batch: b.batch }))))
    if (this.stopped !== null) throw this.stopped
    let tx: Transaction | null = this.pending
    this.pending = null
    try {
      tx ??= await this.producer.transaction()
      for (const { batch, records } of batches) {
        const header = `${this.options.sinkTag}:${batch}`
        for (let i = 0; i < records.length; i += 5000) {
          await tx.send({
            topic: this.options.topic,
            messages: records.slice(i, i + 5000).map((r) => ({ key: r.key, value: r.value, headers: { [BATCH_HEADER]: header } })),
          })
        }
      }
      // The batch number, committed in the same transaction (see lastDelivered).
      const last = batches[batches.length - 1]!.batch
      await tx.sendOffsets({ consumerGroupId: this.batchGroup, topics: [{ topic: this.options.topic, partitions: [{ partition: 0, offset: String(last + 1) }] }] })
      await tx.commit()
    } catch (err) {
      if (tx?.isActive()) await tx.abort().catch(() => undefined)
      if (this.options.retry !== undefined && !(await this.options.retry(err as Error).catch(() => false))) {
        this.stopped = err as Error
        await this.producer.disconnect().catch(() => undefined)
        throw err
      }
      // After a failed transaction the producer's state is not to be trusted: start over with a new one,
      // which registers the transactional id again (at the latest in lastDelivered, which the caller asks
      // before it retries the batches: a commit whose answer was lost is not written twice).
      await this.producer.disconnect().catch(() => undefined)
      this.producer = await KafkaSinkWriter.producer(this.kafka, this.options).catch(() => this.producer)
      await this.register().catch(() => undefined)
      throw err
    }
  }

  /** At-least-once: plain sends (retried by the caller as a whole on failure, so duplicates may appear). */
  async send(records: readonly { readonly record: SinkRecord; readonly batch: number }[]): Promise<void> {
    const sends: Promise<unknown>[] = []
    for (let i = 0; i < records.length; i += 5000) {
      sends.push(
        this.producer.send({
          topic: this.options.topic,
          messages: records.slice(i, i + 5000).map(({ record, batch }) => ({ key: record.key, value: record.value, headers: { [BATCH_HEADER]: `${this.options.sinkTag}:${batch}` } })),
        }),
      )
    }
    await Promise.all(sends)
  }

  /**
   * The highest batch of this sink committed to the topic, or -1. Each transaction also commits, for the
   * consumer group `<transactional id>-batches`, an offset of batch + 1 on the topic's partition 0: Kafka
   * writes that atomically with the records, so it is exactly the last batch readers can see.
   */
  async lastDelivered(): Promise<number> {
    if (!this.options.transactional) return -1 // at-least-once: resend whatever the outbox holds
    if (this.stopped !== null) throw this.stopped
    // Registered first: no earlier holder of the id can commit after the answer; read stable (kafka-resume.ts).
    if (this.pending === null) await this.register()
    const committed = (await committedOffsets(this.options.brokers, this.batchGroup, this.options.topic, [0])).get(0) ?? -1
    return committed <= 0 ? -1 : committed - 1
  }

  /**
   * DROP SINK: the batch group goes. A sink created again later may get the same id (ids are reused after
   * a restart when the dropped one was the highest) and so the same tag: it must not find the old sink's
   * batch number and skip its own first batches. The records written stay.
   */
  async drop(): Promise<void> {
    if (!this.options.transactional) return
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      await admin.deleteGroups([this.batchGroup])
    } catch (err) {
      // No such group (the sink never delivered): nothing to remove.
      const codes = ((err as { groups?: { errorCode?: number }[] }).groups ?? []).map((g) => g.errorCode)
      if (!(codes.length > 0 && codes.every((c) => c === 69))) throw err
    } finally {
      await admin.disconnect()
    }
  }

  private get batchGroup(): string {
    return `sluice-sink-${this.options.sinkTag}-batches`
  }

  async close(): Promise<void> {
    if (this.pending?.isActive()) await this.pending.abort().catch(() => undefined)
    await this.producer.disconnect().catch(() => undefined)
  }
}
