/**
 * Idleness of Kafka partitions against a real broker (test/helpers/kafka.ts), records produced by kcat.
 * A partition whose records are still in the broker must hold the watermark back however long it has been
 * since it last delivered one: a topic with a backlog, read slowly, loses no event as late, on the first
 * start, after a restart and for a view created later that reads the topic again from its start. A
 * partition that has really caught up and stays quiet still stops holding time back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
import { eventually } from './helpers/sluice-process.ts'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'
import { KafkaSource } from '../executor/connectors/kafka-source.ts'
import { Kafka, logLevel } from 'kafkajs'

const PARTITIONS = 6
const BASE = Date.UTC(2026, 11, 7, 0, 0, 0)

const streamSql = (topic: string) => `CREATE STREAM ticks (user_id INT NOT NULL, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = '${topic}', format = 'json', start = 'earliest')`

const viewSql = (name: string) => `CREATE MATERIALIZED VIEW ${name} AS
  SELECT window_start, count(*) AS n FROM TUMBLE(ticks, ts, INTERVAL '10 seconds') GROUP BY window_start`

interface Tick {
  readonly partition: number
  readonly user: number
  readonly at: number
}

/**
 * `n` events 10 ms apart in event time; half go to partition 0, the rest round robin over the others, so
 * partition 0 holds five times the records of each other partition over the same stretch of time. Within a
 * partition event time only grows: with the watermark at the event time, nothing is late if the watermark
 * waits for the partitions that still have records to deliver.
 */
function ticks(n: number): Tick[] {
  const out: Tick[] = []
  for (let i = 0; i < n; i++) {
    const partition = i % 2 === 0 ? 0 : 1 + (((i - 1) / 2) % (PARTITIONS - 1))
    out.push({ partition, user: (i * 7919) % 1000, at: BASE + i * 10 })
  }
  return out
}

const windowCounts = (events: readonly Tick[]): Map<string, number> => {
  const m = new Map<string, number>()
  for (const e of events) {
    const w = new Date(e.at - (e.at % 10_000)).toISOString()
    m.set(w, (m.get(w) ?? 0) + 1)
  }
  return m
}

async function produce(kafka: KafkaBroker, topic: string, events: readonly Tick[]): Promise<void> {
  for (let p = 0; p < PARTITIONS; p++) {
    const lines = events.filter((e) => e.partition === p).map((e) => `${e.user}\t${JSON.stringify({ user_id: e.user, ts: new Date(e.at).toISOString() })}`)
    await kafka.produce(topic, lines, { keyed: true, args: ['-p', String(p)] })
  }
}

/** Like `produce`, but the given partitions each by a kcat of its own, all at once, without blocking this process. */
async function produceConcurrently(kafka: KafkaBroker, topic: string, events: readonly Tick[], dir: string, partitions: readonly number[]): Promise<void> {
  await Promise.all(
    partitions.map(async (p) => {
      const file = join(dir, `part-${p}.txt`)
      await writeFile(file, events.filter((e) => e.partition === p).map((e) => `${e.user}\t${JSON.stringify({ user_id: e.user, ts: new Date(e.at).toISOString() })}`).join('\n') + '\n')
      await promisify(execFile)('kcat', ['-b', kafka.brokers, '-t', topic, '-P', '-l', '-K', '\t', '-p', String(p), '-X', 'linger.ms=20', file], { timeout: 120_000 })
    }),
  )
}

/** A fresh embedded engine on the broker for the duration of `fn`, then gone with its data directory. */
async function withEngine(brokers: string, fn: (engine: Engine, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-idle-'))
  const engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 200, kafkaBrokers: [brokers] })
  try {
    await fn(engine, dir)
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** A Kafka source fetching the whole topic for the duration of `fn`. */
async function withSource(brokers: string, topic: string, fn: (source: KafkaSource) => Promise<void>): Promise<void> {
  const source = await KafkaSource.open({ brokers: [brokers], topic, start: 'earliest', groupId: 'idle-test' })
  try {
    await source.start([])
    await fn(source)
  } finally {
    await source.close()
  }
}

async function run(engine: Engine, sql: string): Promise<void> {
  for (const p of parseStatements(sql)) {
    const st = p.statement
    if (st.kind === 'create_stream') await engine.createStream(st, p.text)
    else if (st.kind === 'create_view') await engine.createView(st, p.text)
    else throw new Error(`unexpected statement ${st.kind}`)
  }
}

async function viewCounts(engine: Engine, view: string): Promise<Map<string, number>> {
  const m = new Map<string, number>()
  for await (const row of engine.viewRows(view)) {
    const r = row as unknown as unknown[]
    const start = r[0] as number | Date | string
    const iso = typeof start === 'number' ? new Date(start / 1000).toISOString() : new Date(start as string).toISOString()
    m.set(iso, Number(r[1]))
  }
  return m
}

/** Waits until the view has read every event (counted or late), then checks that none was late. */
async function expectExact(engine: Engine, view: string, events: readonly Tick[]): Promise<void> {
  await eventually(async () => engine.query(view)!.eventsIn, (n) => n >= events.length, 240_000)
  const q = engine.query(view)!
  const late = (await engine.lateEvents()).filter((e) => e.query === view || e.view === view)
  expect({ view, lateEvents: q.lateEvents, lateRows: late.length }).toEqual({ view, lateEvents: 0, lateRows: 0 })
  expect(await viewCounts(engine, view)).toEqual(windowCounts(events))
}

describe('Kafka partition idleness', () => {
  let kafka: KafkaBroker
  beforeAll(async () => {
    await initParser()
    kafka = await sharedKafka()
  }, 300_000)
  afterAll(async () => {
    await kafka?.stop()
  })

  test('a backlog read slowly over 6 skewed partitions: no event late, every window exact, also after a restart and for a later view', async () => {
    const topic = `idle-backlog-${Date.now()}`
    await kafka.createTopic(topic, PARTITIONS)
    const events = ticks(50_000)
    await produce(kafka, topic, events)
    const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-idle-'))
    // Small rounds (32 records per partition) and several views: partitions are read long after others.
    const open = () => Engine.open({ dataDir: dir, checkpointIntervalMs: 200, kafkaBrokers: [kafka.brokers], batchSize: 32 })
    let engine = await open()
    try {
      await run(engine, `${streamSql(topic)}; ${viewSql('w1')}; ${viewSql('w2')}; ${viewSql('w3')}`)
      // Part of the way, then a restart: before its first fetch no partition may count as idle.
      await eventually(async () => engine.query('w1')!.eventsIn, (n) => n >= 10_000, 240_000)
      await engine.close()
      engine = await open()
      for (const v of ['w1', 'w2', 'w3']) await expectExact(engine, v, events)
      // A view created now reads the topic again from its start while the others are caught up.
      await run(engine, viewSql('w4'))
      await expectExact(engine, 'w4', events)
    } finally {
      await engine.close()
      await rm(dir, { recursive: true, force: true })
    }
  }, 600_000)

  test('an end offset the broker gave before a record came in does not make the partition idle when it is read late', async () => {
    // A loaded machine, simulated on the real client: the answer to a question about the partition's end
    // is read a couple of seconds after the broker gave it, and the fetch of the record produced meanwhile
    // is slower still. The partition was quiet and caught up before; now it has a record in the broker, so
    // it must not count as idle, whatever the stale answer says.
    const topic = `idle-stale-${Date.now()}`
    await kafka.createTopic(topic, 2)
    await kafka.produce(topic, ['a'], { args: ['-p', '0'] })
    await withSource(kafka.brokers, topic, async (source) => {
      // Quiet and caught up: idle after a second or two (the mechanism for really quiet partitions).
      await eventually(async () => source.idle(0, source.endOffset(0)) && source.idle(1, source.endOffset(1)), (b) => b, 30_000)
      const inner = source as unknown as { consumer: { listOffsets: (o: unknown) => Promise<Map<string, bigint[]>> }; stream: { pause(): void; resume(): void } }
      const consumer = inner.consumer
      const ask = consumer.listOffsets.bind(consumer)
      // Every answer from now on is held; the first is read only when the test says so.
      const held: { answer: Promise<Map<string, bigint[]>>; release: () => void }[] = []
      consumer.listOffsets = (o) => {
        const answer = ask(o)
        let release = () => {}
        const gate = new Promise<void>((r) => (release = r))
        held.push({ answer, release })
        return gate.then(() => answer)
      }
      await eventually(async () => held.length, (n) => n >= 1, 10_000)
      await held[0]!.answer // the broker has answered: the end it gave is from before the record below
      inner.stream.pause() // and the record's fetch is slow
      await kafka.produce(topic, ['b'], { args: ['-p', '0'] })
      await new Promise((r) => setTimeout(r, 1600))
      held[0]!.release()
      await held[0]!.answer
      await new Promise((r) => setTimeout(r, 50))
      expect(source.endOffset(0)).toBe(1) // the record is not fetched yet
      expect(source.idle(0, 1)).toBe(false)
      // Later answers (asked after the record was produced) are read; then the fetch resumes and the record
      // comes in: the partition is idle again only a second after it was read.
      for (const h of held) h.release()
      consumer.listOffsets = ask
      expect(source.idle(0, 1)).toBe(false)
      inner.stream.resume()
      await eventually(async () => source.endOffset(0), (n) => n === 2, 30_000)
      expect(source.idle(0, 2)).toBe(false)
      await eventually(async () => source.idle(0, 2), (b) => b, 30_000)
    })
  }, 120_000)

  test('an end asked just after the topic woke, read a second later, does not make a partition idle that was written meanwhile', async () => {
    // The broker said partition 0 was unchanged a moment after partition 1 woke the topic; by the time
    // the answer is read (a loaded machine), a second after the wake, partition 0 has a record in the
    // broker. The answer vouches for the moment it was asked, not for a second of quiet after the wake.
    const topic = `idle-woke-${Date.now()}`
    await kafka.createTopic(topic, 2)
    await kafka.produce(topic, ['a'], { args: ['-p', '0'] })
    await kafka.produce(topic, ['x'], { args: ['-p', '1'] })
    const producer = new Kafka({ clientId: 'idle-test', brokers: kafka.brokers.split(','), logLevel: logLevel.NOTHING }).producer()
    await producer.connect()
    try {
      await withSource(kafka.brokers, topic, async (source) => {
        await eventually(async () => source.idle(0, 1) && source.idle(1, 1), (b) => b, 30_000)
        const inner = source as unknown as { wokeAt: number; consumer: { listOffsets: (o: unknown) => Promise<Map<string, bigint[]>> }; stream: { pause(): void; resume(): void } }
        const ask = inner.consumer.listOffsets.bind(inner.consumer)
        const held: { at: number; answer: Promise<Map<string, bigint[]>>; release: () => void }[] = []
        inner.consumer.listOffsets = (o) => {
          const at = Date.now()
          const answer = ask(o)
          let release = () => {}
          const gate = new Promise<void>((r) => (release = r))
          held.push({ at, answer, release })
          return gate.then(() => answer)
        }
        const before = inner.wokeAt
        await producer.send({ topic, messages: [{ partition: 1, value: 'y' }] })
        const woke = await eventually(async () => inner.wokeAt, (w) => w > before, 10_000)
        const h = await eventually(async () => held.find((x) => x.at >= woke), (x) => x !== undefined, 10_000)
        await h!.answer // partition 0 unchanged as of this question
        inner.stream.pause() // and the record below is fetched late
        await producer.send({ topic, messages: [{ partition: 0, value: 'b' }] })
        await new Promise((r) => setTimeout(r, Math.max(0, woke + 1050 - Date.now())))
        h!.release()
        await h!.answer
        await new Promise((r) => setTimeout(r, 20))
        expect(source.endOffset(0)).toBe(1)
        expect(source.idle(0, 1)).toBe(false)
        for (const x of held) x.release()
        inner.consumer.listOffsets = ask
        inner.stream.resume()
        await eventually(async () => source.endOffset(0), (n) => n === 2, 30_000)
        await eventually(async () => source.idle(0, 2), (b) => b, 30_000)
      })
    } finally {
      await producer.disconnect()
    }
  }, 120_000)

  test('records produced while the views read, on a loaded machine: no event late, every window exact', async () => {
    // The load is simulated on the real client, as it shows on a machine running far more than it has
    // cores for: answers about the partitions' ends are read 1.4 s after the broker gave them, and the
    // records of the largest partition come through the fetch 3 s after the others. The topic is written
    // in two parts; between them it is quiet, so every partition is idle once the first part is read.
    // Each part is in the broker on every partition before it can wake the topic: a partition that really
    // gets nothing for a second while the others get records is idle by design (that is what idleness is
    // for), and its records written later are rightly late. On a loaded machine starting one kcat takes
    // a good part of a second, so writing partitions one after another while the view reads would make
    // the last ones really quiet that long.
    const topic = `idle-live-${Date.now()}`
    await kafka.createTopic(topic, PARTITIONS)
    const events = ticks(20_000)
    const first = events.slice(0, 10_000)
    const second = events.slice(10_000)
    await produce(kafka, topic, first)
    await withEngine(kafka.brokers, async (engine, dir) => {
      await run(engine, `${streamSql(topic)}; ${viewSql('live')}`)
      await eventually(async () => engine.query('live')!.eventsIn, (n) => n >= first.length, 120_000)
      const source = engine.streamRuntime('ticks')!.log as KafkaSource
      await eventually(async () => [...Array(PARTITIONS).keys()].every((p) => source.idle(p, source.endOffset(p))), (b) => b, 30_000)
      type FetchResponse = { responses: { partitions: { partitionIndex: number; records?: unknown }[] }[] }
      type Fetch = (o: unknown, cb: (err: unknown, r: FetchResponse) => void) => void
      const inner = source as unknown as { consumer: { listOffsets: (o: unknown) => Promise<unknown>; fetch: Fetch } }
      const ask = inner.consumer.listOffsets.bind(inner.consumer)
      inner.consumer.listOffsets = async (o) => {
        const answer = await ask(o)
        await new Promise((r) => setTimeout(r, 1400))
        return answer
      }
      // Until 3 s after the other partitions start being written, fetch responses come without partition
      // 0's records (the client asks again from the same offset), as when a response is filled by the
      // other partitions. Partition 0 is written first: its records are in the broker, unread, while the
      // others wake the topic and are read.
      let slowUntil = Number.POSITIVE_INFINITY
      const fetch = inner.consumer.fetch.bind(inner.consumer)
      inner.consumer.fetch = (o, cb) =>
        fetch(o, (err, r) => {
          if (err === null && Date.now() < slowUntil) for (const t of r?.responses ?? []) for (const part of t.partitions) if (part.partitionIndex === 0) part.records = undefined
          cb(err, r)
        })
      await produceConcurrently(kafka, topic, second, dir, [0])
      const writing = produceConcurrently(kafka, topic, second, dir, [1, 2, 3, 4, 5])
      slowUntil = Date.now() + 3000
      await writing
      await expectExact(engine, 'live', events)
    })
  }, 300_000)

  test('a partition that receives nothing does not stop the windows of the others from closing', async () => {
    const topic = `idle-quiet-${Date.now()}`
    await kafka.createTopic(topic, 3)
    await withEngine(kafka.brokers, async (engine) => {
      await run(engine, `${streamSql(topic)}; CREATE MATERIALIZED VIEW closed AS SELECT window_start, count(*) AS n
        FROM TUMBLE(ticks, ts, INTERVAL '10 seconds') GROUP BY window_start EMIT ON WINDOW CLOSE`)
      // Partitions 0 and 1 get 35 s of event time; partition 2 nothing at all.
      const events = [...Array(36).keys()].map((i): Tick => ({ partition: i % 2, user: i, at: BASE + i * 1000 }))
      await produce(kafka, topic, events)
      const closedWindows = await eventually(() => viewCounts(engine, 'closed'), (m) => m.size >= 3, 60_000)
      expect(closedWindows).toEqual(new Map([...windowCounts(events)].filter(([w]) => Date.parse(w) + 10_000 <= BASE + 35_000)))
    })
  }, 120_000)

  test('a quiet partition written in transactions (a Sluice sink topic) becomes idle: the commit markers do not count as records to read', async () => {
    // Each committed transaction ends with a marker at the partition's last offset: the fetch never gets a
    // record there, so a reader stopping at the last record was one short of the end forever.
    const topic = `idle-tx-${Date.now()}`
    await kafka.createTopic(topic, 2)
    const producer = new Kafka({ clientId: 'idle-test', brokers: kafka.brokers.split(','), logLevel: logLevel.NOTHING }).producer({ transactionalId: `idle-test-${Date.now()}`, idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      for (let i = 0; i < 3; i++) {
        const tx = await producer.transaction()
        await tx.send({ topic, messages: [{ partition: 0, value: `a${i}` }, { partition: 1, value: `b${i}` }] })
        await tx.commit()
      }
    } finally {
      await producer.disconnect()
    }
    await withSource(kafka.brokers, topic, async (source) => {
      // Six records and three markers per partition: read to the end, past the last marker, and idle.
      await eventually(async () => [source.endOffset(0), source.endOffset(1)], (e) => e[0] === 6 && e[1] === 6, 30_000)
      const batch = await source.read(0, 0, 100)
      expect(batch.records.map(String)).toEqual(['a0', 'a1', 'a2'])
      await eventually(async () => source.idle(0, 6) && source.idle(1, 6), (b) => b, 30_000)
    })
  }, 120_000)
})
