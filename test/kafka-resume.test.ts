/**
 * Stable reads of a group's committed offsets (executor/connectors/kafka-resume.ts) on a real broker: a
 * transaction that commits offsets and is still open is waited out, never answered with the offset before
 * it, which a writer resuming from it would turn into the same records written twice.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Kafka, logLevel } from 'kafkajs'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
import { committedOffsets, registerTransactionalId } from '../executor/connectors/kafka-resume.ts'

describe('committed offsets, read stable', () => {
  let kafka: KafkaBroker
  let client: Kafka
  const topic = `committed_${process.pid}_${Date.now()}`
  const group = `${topic}_writers`

  beforeAll(async () => {
    kafka = await sharedKafka()
    await kafka.createTopic(topic, 3)
    client = new Kafka({ clientId: 'committed-test', brokers: [kafka.brokers], logLevel: logLevel.NOTHING })
  }, 240_000)

  afterAll(async () => {
    await kafka?.stop()
  })

  const transactional = async (id: string) => {
    const producer = client.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    return producer
  }
  const commitOffset = async (tx: Awaited<ReturnType<Awaited<ReturnType<typeof transactional>>['transaction']>>, partition: number, offset: number) => {
    await tx.send({ topic, messages: [{ partition, value: `to ${offset}` }] })
    await tx.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition, offset: String(offset) }] }] })
  }

  test('a group that committed nothing has no offsets', async () => {
    expect((await committedOffsets([kafka.brokers], `${group}_none`, topic, [0, 1, 2])).size).toBe(0)
  })

  test('a committed transaction\'s offsets, and an open one waited out rather than answered with the offset before it', async () => {
    const producer = await transactional(`${topic}_p1`)
    try {
      const first = await producer.transaction()
      await commitOffset(first, 1, 10)
      await first.commit()
      expect(await committedOffsets([kafka.brokers], group, topic, [0, 1, 2])).toEqual(new Map([[1, 10]]))

      // Offsets sent in a transaction not yet committed: a plain fetch would answer 10 now.
      const second = await producer.transaction()
      await commitOffset(second, 1, 20)
      let answered: Map<number, number> | null = null
      const reading = committedOffsets([kafka.brokers], group, topic, [0, 1, 2]).then((m) => (answered = m))
      // The read is still waiting while the transaction is open (no fixed wait: it stays unanswered for as
      // long as the broker reports the offset unstable, checked a few times).
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setImmediate(r))
        await new Promise((r) => setTimeout(r, 100))
        expect(answered).toBeNull()
      }
      await second.commit()
      await reading
      expect(answered).toEqual(new Map([[1, 20]]))
    } finally {
      await producer.disconnect()
    }
  }, 120_000)

  test('after a new producer of the same id fences an open transaction, its offsets are gone', async () => {
    const old = await transactional(`${topic}_p2`)
    const tx = await old.transaction()
    await commitOffset(tx, 2, 7)
    // The new owner registers (aborting the old owner's transaction), then reads: no offset for partition 2;
    // and the old owner can no longer commit.
    const next = await transactional(`${topic}_p2`)
    try {
      await registerTransactionalId(next)
      expect((await committedOffsets([kafka.brokers], group, topic, [0, 1, 2])).get(2)).toBeUndefined()
      await expect(tx.commit()).rejects.toThrow()
    } finally {
      await next.disconnect()
      await old.disconnect().catch(() => undefined)
    }
  }, 120_000)
})
