/**
 * Writing a sink's output to a Kafka topic exactly once. The engine hands over numbered batches that its
 * checkpoints have already made durable (the outbox); each batch is written in one Kafka transaction whose
 * records carry a `sluice-batch: <sink id>:<batch>` header, so readers with read_committed see a batch
 * entirely or not at all. The same transaction commits the batch number as a consumer-group offset, so after
 * a crash `lastDelivered` knows exactly which batches Kafka has, and the engine resends only later ones.
 * The producer's transactional id is stable per sink: a restarted Sluice fences off (and aborts) whatever
 * transaction the old one left open. Producing is kafkajs's (see KafkaSinkWriter.producer).
 */
import { Kafka, logLevel, type Producer as KafkaProducer } from 'kafkajs'
import type { SinkRecord, SinkTarget } from './sink-target.ts'
import { committedOffsets, registerTransactionalId } from './kafka-resume.ts'

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
}

const BATCH_HEADER = 'sluice-batch'

export class KafkaSinkWriter implements SinkTarget {
  readonly deadLetters = 0

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
    // The id registered now, before lastDelivered reads the position: a transaction of the process before
    // (kill -9) cannot commit after it (kafka-resume.ts).
    if (options.transactional) await registerTransactionalId(producer)
    return producer
  }

  static async open(options: KafkaSinkOptions): Promise<KafkaSinkWriter> {
    const kafka = new Kafka({ clientId: `sluice-sink-${options.sinkTag}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    let partitions: number
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [options.topic] }).catch(() => null)
      const topic = metadata?.topics.find((t) => t.name === options.topic)
      if (topic === undefined) throw new Error(`Kafka topic "${options.topic}" does not exist`)
      partitions = topic.partitions.length
    } finally {
      await admin.disconnect()
    }
    return new KafkaSinkWriter(kafka, await KafkaSinkWriter.producer(kafka, options), options, partitions)
  }

  /**
   * Writes consecutive batches in one transaction (a backlog is caught up with one commit, not one per
   * batch); each record's header names its own batch, and the highest batch is committed with them.
   */
  async deliver(batches: readonly { readonly batch: number; readonly records: readonly SinkRecord[] }[]): Promise<void> {
    if (batches.length === 0) return
    if (!this.options.transactional) return this.send(batches.flatMap((b) => b.records.map((r) => ({ record: r, batch: b.batch }))))
    let tx: Awaited<ReturnType<KafkaProducer['transaction']>> | null = null
    try {
      tx = await this.producer.transaction()
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
      // After a failed transaction the producer's state is not to be trusted: start over with a new one,
      // which re-registers the transactional id. The caller retries the batches.
      await this.producer.disconnect().catch(() => undefined)
      this.producer = await KafkaSinkWriter.producer(this.kafka, this.options).catch(() => this.producer)
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
    // Stable (kafka-resume.ts): the producer registered its transactional id when it connected.
    const committed = (await committedOffsets(this.options.brokers, this.batchGroup, this.options.topic, [0])).get(0) ?? -1
    return committed <= 0 ? -1 : committed - 1
  }

  private get batchGroup(): string {
    return `sluice-sink-${this.options.sinkTag}-batches`
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined)
  }
}
