/**
 * Inserts of many events into a cluster stream, all or nothing (docs/cluster.md, "Streams are topics"). A
 * single process appends a multi-row INSERT, a COPY chunk or an HTTP ingest request to its log in one
 * commit (executor/log/stream-log.ts); in a cluster the events go to Kafka, to the partitions of their keys,
 * and one produce request per partition can succeed while another fails. So an insert of more than one
 * event is one Kafka transaction: every reader in Sluice reads read_committed (task engines, repartition
 * writers, the global task), so it sees all of the insert or none of it, and a failed insert leaves nothing
 * behind to be doubled by a retry.
 *
 * Transactional producers are pooled per node (`_sluice_<cluster>_ingest_<node>_<n>`): a producer holds one
 * open transaction at a time, and concurrent inserts each take their own. A node started again with the
 * same id fences its earlier life's producers, whose open transactions the coordinator aborts. A producer
 * whose transaction failed is thrown away (it may be fenced, or its connection gone) and a new one is made
 * for the next insert.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs'

/** Transactional producers of a node at most; further inserts wait for one. */
const POOL_SIZE = 4
/** A transaction's records are sent in requests of at most this many bytes (the broker's default is 1 MB). */
const SEND_BYTES = 512 * 1024

export interface IngestMessage {
  readonly partition: number
  readonly key: Buffer | null
  readonly value: Buffer
}

export class IngestTransactions {
  private readonly kafka: Kafka
  private readonly idle: Pooled[] = []
  private readonly waiting: (() => void)[] = []
  /** Slots of the pool without a producer: a slot's id is never held by two producers at once. */
  private readonly freeSlots: number[]
  private closed = false

  constructor(
    brokers: readonly string[],
    private readonly prefix: string,
    size = POOL_SIZE,
  ) {
    this.kafka = new Kafka({ clientId: prefix, brokers: [...brokers], logLevel: logLevel.NOTHING })
    this.freeSlots = Array.from({ length: size }, (_, i) => size - 1 - i)
  }

  /** Writes each topic's `messages` in one transaction: committed, or aborted and the error thrown. */
  async send(batches: readonly { readonly topic: string; readonly messages: readonly IngestMessage[] }[]): Promise<void> {
    const pooled = await this.take()
    let healthy = false
    try {
      const tx = await pooled.producer.transaction()
      try {
        for (const { topic, messages } of batches) {
          let chunk: IngestMessage[] = []
          let bytes = 0
          for (const m of messages) {
            chunk.push(m)
            bytes += m.value.length + (m.key?.length ?? 0) + 64
            if (bytes >= SEND_BYTES) {
              await tx.send({ topic, messages: chunk.map(kafkaMessage) })
              chunk = []
              bytes = 0
            }
          }
          if (chunk.length > 0) await tx.send({ topic, messages: chunk.map(kafkaMessage) })
        }
        await tx.commit()
        healthy = true
      } catch (err) {
        await tx.abort().catch(() => undefined)
        throw err
      }
    } finally {
      this.give(pooled, healthy)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const w of this.waiting.splice(0)) w()
    await Promise.all(this.idle.splice(0).map((p) => p.producer.disconnect().catch(() => undefined)))
  }

  private async take(): Promise<Pooled> {
    for (;;) {
      if (this.closed) throw new Error('the node is closing')
      const idle = this.idle.pop()
      if (idle !== undefined) return idle
      const slot = this.freeSlots.pop()
      if (slot !== undefined) {
        // Ids come from a small fixed set, so that a restarted node fences what its earlier life left open.
        const producer = this.kafka.producer({ transactionalId: `${this.prefix}_${slot}`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
        try {
          await producer.connect()
          return { slot, producer }
        } catch (err) {
          this.freeSlots.push(slot)
          await producer.disconnect().catch(() => undefined)
          throw err
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  private give(pooled: Pooled, healthy: boolean): void {
    if (healthy && !this.closed) this.idle.push(pooled)
    else {
      // Disconnected before its slot is free: a new producer of the same id must not race the old one.
      void pooled.producer.disconnect().catch(() => undefined).finally(() => {
        this.freeSlots.push(pooled.slot)
        this.waiting.shift()?.()
      })
      return
    }
    this.waiting.shift()?.()
  }
}

interface Pooled {
  readonly slot: number
  readonly producer: Producer
}

function kafkaMessage(m: IngestMessage): { partition: number; key: Buffer | null; value: Buffer } {
  return { partition: m.partition, key: m.key, value: m.value }
}
