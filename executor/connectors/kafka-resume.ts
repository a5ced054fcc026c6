/**
 * How an exactly-once Kafka writer resumes: register its transactional id, then read its committed position
 * *stable*.
 *
 * Sluice's exactly-once writers (the Kafka sink's batches, a cluster's repartition writers) commit their
 * position with sendOffsetsToTransaction, in the same transaction as their records. A writer that starts
 * (after kill -9, a move, a retry) must first register its transactional id (InitProducerId): that fences
 * any other holder of the id and waits out (or aborts) the transaction it had open, so no transaction of the
 * previous holder can commit after the position is read. kafkajs registers the id only at a producer's
 * first `transaction()`, not at `connect()` (which takes a plain idempotent producer id): reading the
 * position between the two let the previous holder commit one more transaction after it, whose records the
 * new writer then wrote again. Seen in a cluster kill round: 5,000 records of a repartition topic committed
 * twice, back to back, by the same transactional id.
 *
 * Then the position is read with OffsetFetch's require_stable (KIP-447): the group coordinator takes a
 * committed transaction's offsets in when the transaction's marker reaches it, which can be a moment after
 * the new producer was let in, and a plain fetch in that moment answers the position before the last
 * transaction. With require_stable the broker answers UNSTABLE_OFFSET_COMMIT while offsets are pending, and
 * the read is asked again until they are not.
 */
import { Admin } from '@platformatic/kafka'
import type { Producer } from 'kafkajs'

/**
 * Registers a kafkajs transactional producer's id (InitProducerId) now: fences other holders and waits out
 * their open transaction. An empty transaction begun and aborted sends nothing else to the broker.
 */
export async function registerTransactionalId(producer: Producer): Promise<void> {
  await (await producer.transaction()).abort()
}

/** Asked again every 100 ms, for at most this long, while the broker says the offsets are unstable. */
const UNSTABLE_RETRY_MS = 100
const UNSTABLE_RETRIES = 300

/**
 * Per partition of `partitions` of `topic`, the offset `groupId` committed there (absent: none), read
 * stable: call it after registerTransactionalId, or an open transaction of a dead holder keeps the offsets
 * unstable until the broker's transaction timeout aborts it. The partitions are named: asked for all of a
 * group's topics, the broker leaves pending offsets out of the answer rather than report them unstable.
 */
export async function committedOffsets(brokers: readonly string[], groupId: string, topic: string, partitions: readonly number[]): Promise<Map<number, number>> {
  const admin = new Admin({ clientId: 'sluice-committed-offsets', bootstrapBrokers: [...brokers], retries: UNSTABLE_RETRIES, retryDelay: UNSTABLE_RETRY_MS })
  try {
    const groups = await admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes: [...partitions] }] }], requireStable: true })
    const out = new Map<number, number>()
    for (const g of groups) {
      if (g.groupId !== groupId) continue
      for (const t of g.topics) {
        if (t.name !== topic) continue
        for (const p of t.partitions) {
          const offset = Number(p.committedOffset)
          if (offset >= 0) out.set(p.partitionIndex, offset)
        }
      }
    }
    return out
  } finally {
    await new Promise<void>((done) => admin.close(() => done()))
  }
}
