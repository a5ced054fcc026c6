/**
 * What a state changelog in Kafka would cost a node (cluster mode, docs/cluster.md stage 3), measured
 * rather than guessed for docs/scaling.md: state changes as records of a compacted topic, produced by this
 * process the way a task would (one Kafka transaction per checkpoint of dirty keys, or idempotent without
 * transactions), then read back from the start as a task restoring on another node would.
 *
 *   npm run bench:changelog -- [--changes 1000000] [--keys 200000] [--per-checkpoint 10000]
 *                              [--value-bytes 48] [--partitions 6]
 *
 * Prints, per way of writing, wall time and this process's CPU per record (the broker runs in its own JVM
 * on the same machine, so the wall time includes its share of the two cores):
 *   RESULT changelog mode=<transactional|idempotent> records=<n> per_s=<n> cpu_us_per_record=<n>
 *   RESULT changelog_restore records=<n> per_s=<n> cpu_us_per_record=<n>
 */
import { Producer } from '@platformatic/kafka'
import { startKafka } from '../test/helpers/kafka.ts'
import { KafkaIo, partitionOfKey } from '../cluster/kafka-io.ts'
import { KafkaSource } from '../executor/connectors/kafka-source.ts'

interface Options {
  readonly changes: number
  readonly keys: number
  readonly perCheckpoint: number
  readonly valueBytes: number
  readonly partitions: number
}

function parseArgs(argv: readonly string[]): Options {
  const num = (name: string, dflt: number): number => {
    const i = argv.indexOf(`--${name}`)
    const n = i < 0 ? dflt : Number(argv[i + 1]!.replace(/_/g, ''))
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`)
    return n
  }
  return { changes: num('changes', 1_000_000), keys: num('keys', 200_000), perCheckpoint: num('per-checkpoint', 10_000), valueBytes: num('value-bytes', 48), partitions: num('partitions', 6) }
}

const cpuMicros = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** The changes of one checkpoint: each dirty key's latest state (a key changed twice is written once). */
function checkpointRecords(opts: Options, topic: string, first: number, count: number, value: Buffer) {
  const latest = new Map<string, number>()
  for (let i = first; i < first + count; i++) latest.set(`p${(i * 7919) % opts.keys}`, i)
  return [...latest].map(([key, i]) => {
    const v = Buffer.from(value)
    v.writeUInt32BE(i >>> 0, 0)
    return { topic, partition: partitionOfKey(key, opts.partitions), key: Buffer.from(key), value: v }
  })
}

async function write(opts: Options, brokers: string[], topic: string, transactional: boolean): Promise<number> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `changelog-bench-${transactional ? 'tx' : 'idem'}`,
    bootstrapBrokers: brokers,
    idempotent: true,
    acks: -1,
    autocreateTopics: false,
    ...(transactional ? { transactionalId: `changelog-bench-${topic}` } : {}),
  })
  const value = Buffer.alloc(opts.valueBytes, 7)
  let records = 0
  const cpu0 = cpuMicros()
  const t0 = performance.now()
  try {
    for (let first = 0; first < opts.changes; first += opts.perCheckpoint) {
      const messages = checkpointRecords(opts, topic, first, Math.min(opts.perCheckpoint, opts.changes - first), value)
      records += messages.length
      if (transactional) {
        const tx = await producer.beginTransaction()
        await tx.send({ messages })
        await tx.commit()
      } else {
        await producer.send({ messages })
      }
    }
  } finally {
    await new Promise<void>((done) => producer.close(() => done()))
  }
  const seconds = (performance.now() - t0) / 1000
  const cpu = cpuMicros() - cpu0
  console.log(
    `RESULT changelog mode=${transactional ? 'transactional' : 'idempotent'} records=${records} per_s=${Math.round(records / seconds)} ` +
      `cpu_us_per_record=${(cpu / records).toFixed(2)}`,
  )
  return records
}

/** Reads every partition of the topic from its start to its end, as a restoring task would. */
async function restore(brokers: string[], topic: string, partitions: number): Promise<void> {
  const io = new KafkaIo(brokers, 'changelog-bench-ends')
  const ends = await io.endOffsets(topic)
  await io.close()
  const source = await KafkaSource.open({ brokers, topic, start: 'earliest', groupId: `changelog-bench-restore-${topic}` })
  const cpu0 = cpuMicros()
  const t0 = performance.now()
  let records = 0
  try {
    await source.start(Array.from({ length: partitions }, () => 0))
    const at = Array.from({ length: partitions }, () => 0)
    while (at.some((o, p) => o < ends[p]!)) {
      let moved = false
      for (let p = 0; p < partitions; p++) {
        if (at[p]! >= ends[p]!) continue
        const batch = await source.read(p, at[p]!, 10_000)
        if (batch.records.length > 0 || batch.nextOffset > at[p]!) moved = true
        records += batch.records.length
        // Nothing left to read: the source's end is past the transaction markers the fetch went over.
        at[p] = batch.records.length === 0 ? Math.max(batch.nextOffset, source.endOffset(p)) : batch.nextOffset
        source.release(p, at[p]!)
      }
      if (!moved) await new Promise((r) => setTimeout(r, 5))
    }
  } finally {
    await source.close()
  }
  const seconds = (performance.now() - t0) / 1000
  console.log(`RESULT changelog_restore records=${records} per_s=${Math.round(records / seconds)} cpu_us_per_record=${((cpuMicros() - cpu0) / records).toFixed(2)}`)
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const kafka = await startKafka()
  const brokers = kafka.brokers.split(',')
  try {
    const io = new KafkaIo(brokers, 'changelog-bench-admin')
    const stamp = Date.now().toString(36)
    const compacted = { 'cleanup.policy': 'compact' }
    for (const mode of ['idempotent', 'transactional'] as const) {
      const topic = `changelog_bench_${mode}_${stamp}`
      await io.ensureTopic(topic, opts.partitions, compacted)
      await write(opts, brokers, topic, mode === 'transactional')
      if (mode === 'transactional') await restore(brokers, topic, opts.partitions)
    }
    await io.close()
  } finally {
    await kafka.stop()
  }
}

await main()
