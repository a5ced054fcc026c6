/**
 * Sluice on a real Kafka broker, in one run:
 *  1. throughput: consume + decode + windowed count of N events from a 4-partition topic, next to the bare
 *     consumer's rate (the same client, doing nothing but reading) measured in the same run;
 *  2. latency: events produced at a steady rate go through a Kafka stream and an exactly-once sink to an
 *     output topic, read with read_committed; produce-to-visible latency p50/p99, exactly-once at two checkpoint
 *     intervals and at-least-once; and, with BENCH_BYPASS=1, the harness alone (reading the input topic).
 * Usage:
 *   npm run bench:kafka                      # starts a broker from the cached Maven Central jars
 *   KAFKA_BROKERS=host:port npm run bench:kafka -- --events 1000000 --rate 20000 --seconds 20
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { Admin, Consumer, type Message } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'

const run = promisify(execFile)
const BROKER_SH = join(import.meta.dirname, '..', 'scripts', 'kafka', 'broker.sh')

async function broker(dir: string): Promise<{ brokers: string; stop: () => Promise<void> }> {
  const existing = process.env.KAFKA_BROKERS
  if (existing) return { brokers: existing, stop: async () => undefined }
  const { stdout } = await run('bash', [BROKER_SH, 'start', join(dir, 'broker')], { env: { ...process.env, SLUICE_KAFKA_WATCH_PID: String(process.pid) }, timeout: 300_000 })
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(stdout)![1]!
  return { brokers, stop: async () => void (await run('bash', [BROKER_SH, 'stop', join(dir, 'broker')]).catch(() => undefined)) }
}

async function createTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers.split(',') })
  await admin.createTopics({ topics: [topic], partitions, replicas: 1 })
  await new Promise<void>((r) => admin.close(() => r()))
}

function makeEvents(n: number): string[] {
  const start = Date.UTC(2026, 10, 23)
  const types = ['game_start', 'game_end', 'fight', 'login', 'transaction']
  return Array.from({ length: n }, (_, i) => JSON.stringify({ player_id: (i * 7919) % 100_000, game: 'chess', type: types[i % 5], level: i % 100, ts: new Date(start + i * 3).toISOString() }))
}

/** The bare consumer: @platformatic/kafka (the connector's client) reading every message, nothing else. */
async function bareConsume(brokers: string, topic: string, n: number): Promise<number> {
  const consumer = new Consumer({ clientId: 'bench-bare', groupId: `bench-bare-${Date.now()}`, bootstrapBrokers: brokers.split(','), autocreateTopics: false })
  const t0 = performance.now()
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100, maxBytes: 16 * 1024 * 1024 })
  let seen = 0
  let bytes = 0
  await new Promise<void>((resolve) => {
    stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
      bytes += (m.value as Buffer).toString('utf8').length
      if (++seen === n) resolve()
    })
  })
  const secs = (performance.now() - t0) / 1000
  await stream.close()
  await new Promise<void>((r) => consumer.close(true, () => r()))
  if (bytes < 0) console.log(bytes)
  return n / secs
}

async function ddl(engine: Engine, sql: string): Promise<void> {
  for (const p of parseStatements(sql)) {
    const s = p.statement
    if (s.kind === 'create_stream') await engine.createStream(s, p.text)
    else if (s.kind === 'create_view') await engine.createView(s, p.text)
    else if (s.kind === 'create_sink') await engine.createSink(s, p.text)
  }
}

async function sluiceConsume(brokers: string, topic: string, n: number, dir: string): Promise<number> {
  const engine = await Engine.open({ dataDir: join(dir, 'throughput'), kafkaBrokers: brokers.split(','), checkpointIntervalMs: 1000 })
  try {
    const t0 = performance.now()
    await ddl(engine, `CREATE STREAM events (player_id BIGINT NOT NULL, game TEXT, type TEXT, level INT, ts TIMESTAMPTZ NOT NULL,
        WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (connector = 'kafka', topic = '${topic}');
      CREATE MATERIALIZED VIEW per_minute AS SELECT window_start, type, count(*) AS n
        FROM TUMBLE(events, ts, INTERVAL '1 minute') GROUP BY window_start, type`)
    const q = engine.query('per_minute')!
    while (q.eventsIn < n) await new Promise((r) => setTimeout(r, 20))
    return n / ((performance.now() - t0) / 1000)
  } finally {
    await engine.close()
  }
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** Steady produce at `rate`/s through a Kafka stream and an exactly-once sink; latency as read_committed sees it. */
async function latency(brokers: string, rate: number, seconds: number, checkpointMs: number, delivery: 'exactly_once' | 'at_least_once', dir: string): Promise<{ p50: number; p99: number; n: number }> {
  const tag = `${delivery}-${checkpointMs}-${Date.now()}`.replace(/_/g, '-')
  const input = `lat-in-${tag}`
  const output = `lat-out-${tag}`
  await createTopic(brokers, input, 4)
  await createTopic(brokers, output, 4)
  const engine = await Engine.open({ dataDir: join(dir, `latency-${tag}`), kafkaBrokers: brokers.split(','), checkpointIntervalMs: checkpointMs })
  const kafka = new Kafka({ clientId: 'bench-latency', brokers: brokers.split(','), logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  const consumer = kafka.consumer({ groupId: `bench-latency-${tag}`, readUncommitted: false, maxWaitTimeInMs: 20 })
  const latencies: number[] = []
  try {
    await ddl(engine, `CREATE STREAM clicks (id BIGINT NOT NULL, sent_at BIGINT NOT NULL) WITH (connector = 'kafka', topic = '${input}', start = 'latest');
      CREATE SINK clicks_out FROM clicks INTO KAFKA TOPIC '${output}' WITH (delivery = '${delivery}')`)
    await producer.connect()
    await consumer.connect()
    await consumer.subscribe({ topic: process.env.BENCH_BYPASS === '1' ? input : output, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now()
        for (const m of batch.messages) latencies.push(now - (JSON.parse(m.value!.toString()) as { sent_at: number }).sent_at)
      },
    })
    await new Promise((r) => setTimeout(r, 3000)) // consumer group joined, source started
    const perTick = Math.max(1, Math.round(rate / 100))
    const total = rate * seconds
    let id = 0
    const t0 = Date.now()
    while (id < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate))
      if (due > id) {
        const messages = []
        for (; id < due && messages.length < perTick * 10; id++) messages.push({ key: String(id), value: JSON.stringify({ id, sent_at: Date.now() }) })
        await producer.send({ topic: input, messages })
      } else {
        await new Promise((r) => setTimeout(r, 5))
      }
    }
    const deadline = Date.now() + 60_000
    while (latencies.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  } finally {
    await consumer.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
    await engine.close()
  }
  const sorted = [...latencies].sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } } })
  const n = Number(values.events ?? 1_000_000)
  const rate = Number(values.rate ?? 20_000)
  const seconds = Number(values.seconds ?? 20)
  await initParser()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-kafka-'))
  const b = await broker(dir)
  try {
    const topic = `bench-pipeline-${Date.now()}`
    await createTopic(b.brokers, topic, 4)
    const file = join(dir, 'events.jsonl')
    await writeFile(file, makeEvents(n).join('\n') + '\n')
    const produced = spawnSync('kcat', ['-b', b.brokers, '-t', topic, '-P', '-l', '-X', 'linger.ms=20', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=1000000', file])
    if (produced.status !== 0) throw new Error(`kcat failed: ${produced.stderr}`)
    // Alternate bare / Sluice twice; best of each (the machine is noisy).
    const bare: number[] = []
    const sluice: number[] = []
    for (let trial = 0; trial < 2; trial++) {
      bare.push(await bareConsume(b.brokers, topic, n))
      sluice.push(await sluiceConsume(b.brokers, topic, n, join(dir, `t${trial}`)))
    }
    const bestBare = Math.max(...bare)
    const bestSluice = Math.max(...sluice)
    console.log(`kafka pipeline: ${n.toLocaleString('en-US')} events, 4 partitions`)
    console.log(`  bare consumer        ${Math.round(bestBare).toLocaleString('en-US').padStart(10)} events/s  (trials ${bare.map((x) => Math.round(x)).join(', ')})`)
    console.log(`  consume+decode+count ${Math.round(bestSluice).toLocaleString('en-US').padStart(10)} events/s  (trials ${sluice.map((x) => Math.round(x)).join(', ')})`)
    console.log(`  ratio                ${(bestSluice / bestBare).toFixed(2)} of the bare consumer`)
    console.log(`RESULT kafka_consume_count events=${n} sluice_eps=${Math.round(bestSluice)} bare_eps=${Math.round(bestBare)} ratio=${(bestSluice / bestBare).toFixed(3)}`)
    for (const [delivery, checkpointMs] of [['at_least_once', 500], ['exactly_once', 100], ['exactly_once', 500]] as const) {
      const l = await latency(b.brokers, rate, seconds, checkpointMs, delivery, dir)
      console.log(`  ${delivery.replace(/_/g, '-')} sink, checkpoint ${checkpointMs} ms, ${rate.toLocaleString('en-US')} events/s: p50 ${l.p50} ms, p99 ${l.p99} ms (${l.n} events)`)
      console.log(`RESULT kafka_sink_latency mode=${delivery} checkpoint_ms=${checkpointMs} rate=${rate} p50_ms=${l.p50} p99_ms=${l.p99} events=${l.n}`)
    }
  } finally {
    await b.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
