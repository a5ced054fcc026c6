/**
 * A Kafka sink's writer handed from one owner to another under the same tag, against the real broker (what
 * a task's sink goes through when the task moves to another node: docs/cluster.md, "Sinks"):
 * the new owner's writer registers the id when it opens, which fences the old one; the batch group then
 * says which batches the topic has, so the new owner sends only the rest; the old owner's next transaction
 * fails as fenced, its `retry` is asked and, answering no, it stops for good. Read back with read_committed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { KafkaSinkWriter } from '../executor/connectors/kafka-sink.ts'
import type { SinkBatch } from '../executor/connectors/sink-target.ts'
import { classifyChangelogError } from '../cluster/task-fencing.ts'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'

/** As the sink runtime does: a failure that is not for good (a coordinator still loading the group) is tried again. */
async function deliver(writer: KafkaSinkWriter, batches: readonly SinkBatch[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await writer.deliver(batches)
    } catch (err) {
      if (writer.stopped !== null || attempt >= 20) throw err
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

const batch = (n: number): SinkBatch => ({ batch: n, records: [0, 1, 2].map((i) => ({ key: `k${i}`, value: JSON.stringify({ batch: n, i }) })) })

describe('a Kafka sink writer moved to a new owner', () => {
  let kafka: KafkaBroker
  const topic = `fence_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

  beforeAll(async () => {
    kafka = await sharedKafka()
    await kafka.createTopic(topic, 2)
  }, 120_000)

  afterAll(async () => {
    await kafka?.stop()
  })

  test('the new owner fences the old, skips what the topic has, and the old one stops', async () => {
    const fences: string[] = []
    const options = { brokers: kafka.brokers.split(','), topic, sinkTag: `${topic}-t3`, transactional: true }
    // As a task engine's hook: a fence stops the writer, anything else is tried again.
    const old = await KafkaSinkWriter.open({ ...options, retry: async (err) => (classifyChangelogError(err) === 'fenced' ? (fences.push(err.message), false) : true) })
    await deliver(old, [batch(0), batch(1)])

    // The new owner restored an outbox of batches 1 to 3 (1 delivered by the old owner after the checkpoint).
    const next = await KafkaSinkWriter.open({ ...options, retry: async () => true })
    expect(await next.lastDelivered()).toBe(1)
    await deliver(next, [batch(2), batch(3)])

    // The old owner, not knowing yet, tries to deliver batch 2 again: fenced, asked, stopped for good.
    await expect(deliver(old, [batch(2)])).rejects.toThrow()
    expect(fences).toHaveLength(1)
    expect(old.stopped).not.toBeNull()
    await expect(old.deliver([batch(3)])).rejects.toThrow()
    await expect(old.lastDelivered()).rejects.toThrow()
    expect(fences).toHaveLength(1)

    const read = kafka.consume(topic).map((r) => JSON.parse(r.value!) as { batch: number; i: number })
    expect(read.map((r) => `${r.batch}.${r.i}`).sort()).toEqual([0, 1, 2, 3].flatMap((b) => [0, 1, 2].map((i) => `${b}.${i}`)))
    expect(await next.lastDelivered()).toBe(3)
    await old.close()
    await next.close()

    // DROP SINK removes the batch group: a sink created again under the same tag (ids are reused) starts at
    // batch 0 and is not skipped; a sink that never delivered drops too.
    await next.drop()
    const again = await KafkaSinkWriter.open(options)
    expect(await again.lastDelivered()).toBe(-1)
    await again.close()
    await again.drop()
  }, 120_000)
})
