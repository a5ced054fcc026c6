/**
 * Bare consume throughput of two Kafka clients, kafkajs (2.x) and @platformatic/kafka (1.x), against the same
 * real broker in one run. A 4-partition topic is filled with N JSON events (by kcat), then each client reads all
 * N messages from the beginning of all partitions with a fresh consumer group, turning every value into a
 * string. Trials alternate (A B A B ...) and the best of each client is reported, as the machine is noisy.
 *
 * Each trial runs in its own child process (this file with `--child`), so that peak RSS, JIT and heap state are
 * per client and per trial. Throughput is measured from the moment the consumer has joined its group (each
 * client's own group-join event) to the last message, so it covers offset lookup, every fetch, record decoding
 * and delivery, but not connecting and joining, which are reported separately ("join").
 *
 * Usage:
 *   npm run bench:kafka-clients                              # 1M events, 2 trials per client
 *   npm run bench:kafka-clients -- --events 200000 --runs 3
 *   KAFKA_BROKERS=127.0.0.1:9092 npm run bench:kafka-clients  # use a running broker instead of starting one
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const HERE = dirname(fileURLToPath(import.meta.url))
const BROKER_SH = join(HERE, '..', 'scripts', 'kafka', 'broker.sh')
const PARTITIONS = 4
const CLIENTS = ['kafkajs', 'platformatic'] as const
type ClientName = (typeof CLIENTS)[number]

/**
 * Fetch tuning shared by both clients (flags --fetch-mb, --partition-mb): large fetches, no long polls (the topic
 * is complete before reading starts). Neither client pipelines fetches to one broker, so the per-partition size
 * trades round trips against the latency of decoding one big response.
 */
const FETCH = { maxBytes: 32 * 1024 * 1024, maxBytesPerPartition: 2 * 1024 * 1024, minBytes: 1, maxWaitMs: 100 }

interface TrialResult {
  readonly client: ClientName
  readonly messages: number
  readonly bytes: number
  /** from consume() / run() to the group-join event */
  readonly joinMs: number
  /** from the group join to the first delivered message */
  readonly firstMs: number
  /** from the group join to the last message */
  readonly consumeMs: number
  readonly eps: number
  readonly rssBaseMb: number
  readonly rssPeakMb: number
}

// ------------------------------------------------------------------------------------------------- child side

interface ChildArgs {
  readonly brokers: string
  readonly topic: string
  readonly events: number
  readonly group: string
  readonly timeoutMs: number
}

/** Tracks the count, the byte sum of the decoded values and the timings of one trial. */
class Meter {
  messages = 0
  bytes = 0
  started = 0
  joined = 0
  firstBatch = 0
  done = 0
  #resolve!: () => void
  readonly finished = new Promise<void>(resolve => (this.#resolve = resolve))

  constructor(readonly target: number) {}

  start(): void {
    this.started = performance.now()
  }

  /** Call when the consumer has joined its group (the last join if it joins more than once). */
  join(): void {
    this.joined = performance.now()
  }

  /** Call before decoding a delivered batch. */
  batch(): void {
    if (this.firstBatch === 0) this.firstBatch = performance.now()
  }

  /** Call after each decoded value. */
  add(value: Buffer | null | undefined): void {
    if (value) this.bytes += value.toString('utf8').length
    if (++this.messages === this.target) {
      this.done = performance.now()
      this.#resolve()
    }
  }
}

function withTimeout(p: Promise<void>, ms: number, what: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

async function consumeKafkajs(a: ChildArgs, m: Meter): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: a.brokers.split(','), logLevel: logLevel.ERROR })
  const consumer = kafka.consumer({
    groupId: a.group,
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    minBytes: FETCH.minBytes,
    maxWaitTimeInMs: FETCH.maxWaitMs,
  })
  consumer.on(consumer.events.GROUP_JOIN, () => m.join())
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [a.topic], fromBeginning: true })
    m.start()
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async ({ batch }) => {
        m.batch()
        for (const message of batch.messages) m.add(message.value)
      },
    })
    await withTimeout(m.finished, a.timeoutMs, () => `kafkajs consumed ${m.messages} of ${m.target}`)
  } finally {
    await consumer.disconnect()
  }
}

async function consumePlatformatic(a: ChildArgs, m: Meter): Promise<void> {
  const { Consumer, MessagesStreamModes } = await import('@platformatic/kafka')
  const consumer = new Consumer({
    clientId: 'bench-platformatic',
    groupId: a.group,
    bootstrapBrokers: a.brokers.split(','),
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    minBytes: FETCH.minBytes,
    maxWaitTime: FETCH.maxWaitMs,
  })
  consumer.on('consumer:group:join', () => m.join())
  try {
    m.start()
    const stream = await consumer.consume({
      topics: [a.topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    })
    // Messages are pushed one by one; the stream has no batch boundary, so `batch()` only marks the first one.
    const failed = new Promise<never>((_, reject) => stream.once('error', reject))
    stream.on('data', message => {
      m.batch()
      m.add(message.value)
    })
    try {
      await withTimeout(
        Promise.race([m.finished, failed]),
        a.timeoutMs,
        () => `platformatic consumed ${m.messages} of ${m.target}`,
      )
    } finally {
      await stream.close()
    }
  } finally {
    await consumer.close(true)
  }
}

async function child(client: ClientName, a: ChildArgs): Promise<void> {
  const m = new Meter(a.events)
  const rssBase = process.memoryUsage.rss()
  if (client === 'kafkajs') await consumeKafkajs(a, m)
  else await consumePlatformatic(a, m)
  if (m.joined === 0) throw new Error(`${client}: no group-join event seen`)
  const consumeMs = m.done - m.joined
  const result: TrialResult = {
    client,
    messages: m.messages,
    bytes: m.bytes,
    joinMs: m.joined - m.started,
    firstMs: m.firstBatch - m.joined,
    consumeMs,
    eps: (m.messages / consumeMs) * 1000,
    rssBaseMb: rssBase / 2 ** 20,
    rssPeakMb: process.resourceUsage().maxRSS / 1024,
  }
  if (m.messages !== a.events) throw new Error(`${client}: consumed ${m.messages} of ${a.events} messages`)
  process.stdout.write(`CHILD_RESULT ${JSON.stringify(result)}\n`)
}

// ------------------------------------------------------------------------------------------------ parent side

function makeEvent(i: number): string {
  const types = ['game_start', 'game_end', 'fight', 'login', 'transaction']
  const ts = new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + i).toISOString()
  return JSON.stringify({ player_id: (i * 7919) % 100_000, game: 'chess', type: types[i % 5], level: i % 100, ts })
}

/** Writes events round-robin into one file per partition; returns the files. */
async function writeEventFiles(dir: string, n: number): Promise<string[]> {
  const files = Array.from({ length: PARTITIONS }, (_, p) => join(dir, `events-p${p}.jsonl`))
  const outs = files.map(f => createWriteStream(f))
  const CHUNK = 10_000
  for (let start = 0; start < n; start += CHUNK) {
    const lines: string[][] = outs.map(() => [])
    for (let i = start; i < Math.min(n, start + CHUNK); i++) lines[i % PARTITIONS]!.push(makeEvent(i))
    for (let p = 0; p < PARTITIONS; p++) {
      if (lines[p]!.length === 0) continue
      if (!outs[p]!.write(lines[p]!.join('\n') + '\n')) await new Promise<void>(r => outs[p]!.once('drain', () => r()))
    }
  }
  await Promise.all(outs.map(o => new Promise<void>((resolve, reject) => o.end((e?: Error | null) => (e ? reject(e) : resolve())))))
  return files
}

function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.once('error', reject)
    p.once('close', code =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`)),
    )
  })
}

async function produce(brokers: string, topic: string, files: readonly string[]): Promise<void> {
  // One kcat per partition, two at a time (the broker shares the 2 cores).
  const tasks = files.map((file, p) => () =>
    run('kcat', [
      '-q', '-b', brokers, '-t', topic, '-p', String(p), '-P', '-l', file,
      '-X', 'linger.ms=50', '-X', 'batch.num.messages=10000', '-X', 'batch.size=4000000',
      '-X', 'queue.buffering.max.messages=1000000', '-X', 'queue.buffering.max.kbytes=1048576',
    ]),
  )
  for (let i = 0; i < tasks.length; i += 2) await Promise.all(tasks.slice(i, i + 2).map(t => t()))
}

async function runTrial(client: ClientName, a: ChildArgs): Promise<TrialResult> {
  const args = [
    ...process.execArgv, fileURLToPath(import.meta.url), '--child', client, '--brokers', a.brokers,
    '--topic', a.topic, '--events', String(a.events), '--group', a.group, '--timeout', String(a.timeoutMs),
    '--fetch-mb', String(FETCH.maxBytes / 2 ** 20), '--partition-mb', String(FETCH.maxBytesPerPartition / 2 ** 20),
  ]
  const out = await run(process.execPath, args)
  const line = out.split('\n').find(l => l.startsWith('CHILD_RESULT '))
  if (!line) throw new Error(`${client} trial printed no result:\n${out}`)
  return JSON.parse(line.slice('CHILD_RESULT '.length)) as TrialResult
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

async function parent(events: number, runs: number, timeoutMs: number): Promise<void> {
  const { Admin } = await import('@platformatic/kafka')
  const t0 = performance.now()
  const work = await mkdtemp(join(tmpdir(), 'sluice-kafka-bench-'))
  let brokerDir: string | undefined
  let brokers = process.env.KAFKA_BROKERS ?? ''
  const topic = `bench-clients-${randomUUID().slice(0, 8)}`
  const groups: string[] = []
  let admin: InstanceType<typeof Admin> | undefined
  let topicCreated = false
  try {
    if (!brokers) {
      brokerDir = join(work, 'broker')
      // The watchdog stops the broker even if this process dies without running `finally`.
      const out = await run('bash', [BROKER_SH, 'start', brokerDir], { ...process.env, SLUICE_KAFKA_WATCH_PID: String(process.pid) })
      brokers = /KAFKA_BROKERS=(\S+)/.exec(out)?.[1] ?? ''
      if (!brokers) throw new Error(`broker.sh start printed no KAFKA_BROKERS line: ${out}`)
    }
    admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers.split(',') })
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 })
    topicCreated = true

    const tGen = performance.now()
    const files = await writeEventFiles(work, events)
    const tProduce = performance.now()
    await produce(brokers, topic, files)
    const tProduced = performance.now()
    for (const f of files) await rm(f, { force: true })

    const listed = await admin.listOffsets({
      topics: [{ name: topic, partitions: Array.from({ length: PARTITIONS }, (_, p) => ({ partitionIndex: p, timestamp: -1n })) }],
    })
    const ends = listed[0]!.partitions.sort((x, y) => x.partitionIndex - y.partitionIndex).map(p => Number(p.offset))
    const total = ends.reduce((s, e) => s + e, 0)
    if (total !== events) throw new Error(`topic holds ${total} messages, expected ${events}`)
    console.log(
      `broker ${brokers}${brokerDir ? ' (started by the bench)' : ' (KAFKA_BROKERS)'}, topic ${topic}: ${fmt(events)} events ` +
        `over ${PARTITIONS} partitions [${ends.join(', ')}]; generated in ${fmt((tProduce - tGen) / 1000, 1)} s, ` +
        `produced by kcat in ${fmt((tProduced - tProduce) / 1000, 1)} s (${fmt(events / ((tProduced - tProduce) / 1000))} msg/s)`,
    )
    console.log(
      `fetch: maxBytes ${FETCH.maxBytes / 2 ** 20} MiB, per partition ${FETCH.maxBytesPerPartition / 2 ** 20} MiB, ` +
        `minBytes ${FETCH.minBytes}, maxWait ${FETCH.maxWaitMs} ms; no commits; read_committed (both defaults)\n`,
    )

    const results: TrialResult[] = []
    for (let r = 0; r < runs; r++) {
      for (const client of CLIENTS) {
        const group = `bench-${client}-${randomUUID().slice(0, 8)}`
        groups.push(group)
        const res = await runTrial(client, { brokers, topic, events, group, timeoutMs })
        results.push(res)
        console.log(
          `  trial ${r + 1} ${client.padEnd(12)} ${fmt(res.eps).padStart(10)} msg/s  ` +
            `(${fmt(res.consumeMs / 1000, 2)} s after join, first message after ${fmt(res.firstMs)} ms; ` +
            `join ${fmt(res.joinMs)} ms; peak RSS ${fmt(res.rssPeakMb)} MB)`,
        )
      }
    }

    const header = ['client', 'best msg/s', 'MB/s', 'all trials msg/s', 'join ms', 'RSS base MB', 'RSS peak MB', 'RSS delta MB']
    const rows = CLIENTS.map(client => {
      const mine = results.filter(x => x.client === client)
      const best = mine.reduce((b, x) => (x.eps > b.eps ? x : b))
      return {
        client,
        best,
        cells: [
          client,
          fmt(best.eps),
          fmt(best.bytes / 2 ** 20 / (best.consumeMs / 1000), 1),
          mine.map(x => fmt(x.eps)).join(' / '),
          fmt(best.joinMs),
          fmt(best.rssBaseMb),
          fmt(best.rssPeakMb),
          fmt(best.rssPeakMb - best.rssBaseMb),
        ],
      }
    })
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r.cells[i]!.length)))
    const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
    console.log(`\nkafka consume: ${fmt(events)} messages, ${PARTITIONS} partitions, best of ${runs} trials each`)
    console.log(line(header))
    console.log(line(widths.map(w => '-'.repeat(w))))
    for (const r of rows) console.log(line(r.cells))
    const [a, b] = rows
    console.log(`ratio platformatic / kafkajs: ${(b!.best.eps / a!.best.eps).toFixed(2)}x`)
    console.log(`total run ${fmt((performance.now() - t0) / 1000, 1)} s\n`)
    for (const r of rows) console.log(`RESULT kafka_consume client=${r.client} eps=${Math.round(r.best.eps)}`)
  } finally {
    if (admin) {
      // Only needed on a broker that outlives the bench; a broker we started is thrown away with its data.
      if (!brokerDir) {
        if (topicCreated) await admin.deleteTopics({ topics: [topic] }).catch((e: unknown) => console.error(`delete topic ${topic}: ${String(e)}`))
        if (groups.length) await admin.deleteGroups({ groups }).catch((e: unknown) => console.error(`delete groups: ${String(e)}`))
      }
      await admin.close().catch(() => {})
    }
    if (brokerDir) spawnSync('bash', [BROKER_SH, 'stop', brokerDir], { stdio: ['ignore', 'ignore', 'inherit'] })
    await rm(work, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------------------------------------------------- main

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '600000' },
    'fetch-mb': { type: 'string' },
    'partition-mb': { type: 'string' },
    child: { type: 'string' },
    brokers: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string' },
  },
})
const events = Number(values.events)
const runs = Number(values.runs)
const timeoutMs = Number(values.timeout)
if (!Number.isInteger(events) || events <= 0) throw new Error(`--events must be a positive integer, got ${values.events}`)
if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs must be a positive integer, got ${values.runs}`)
if (values['fetch-mb']) FETCH.maxBytes = Math.round(Number(values['fetch-mb']) * 2 ** 20)
if (values['partition-mb']) FETCH.maxBytesPerPartition = Math.round(Number(values['partition-mb']) * 2 ** 20)

if (values.child !== undefined) {
  const client = values.child as ClientName
  if (!CLIENTS.includes(client)) throw new Error(`unknown client ${client}`)
  await child(client, { brokers: values.brokers!, topic: values.topic!, events, group: values.group!, timeoutMs })
  process.exit(0)
} else {
  await parent(events, runs, timeoutMs)
}
