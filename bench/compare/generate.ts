/**
 * The input of the Sluice-vs-Flink benchmark (bench/compare/README.md): `game_events.jsonl` and
 * `nexmark.jsonl`, JSON lines with epoch-ms timestamps strictly increasing along each file, each ending in
 * an end marker one day after the last event, so that both engines close every event-time window.
 *
 * Deterministic by seed: the same seed and sizes give the same bytes, so the files are cached in a
 * directory named after them and a rerun reuses them.
 *
 *   node --import tsx bench/compare/generate.ts [--seed 1] [--game-events N] [--nexmark-events N] [--dir D]
 *   node --import tsx bench/compare/generate.ts ... --kafka host:port   # also produce to the spec's topics (topicsFor)
 *
 * Game events: players with Zipf-like activity (the k-th most active player has about 1/k of the top
 * player's events), logins, game starts with levels, fights won or lost, game ends, transactions.
 * Nexmark: the model of the standard Nexmark generator (person : auction : bid = 1 : 3 : 46 per 50 events,
 * ids derived from the event number as Nexmark does, hot auctions, sellers and bidders, log-uniform
 * prices, the auction expiry horizon), with one event per millisecond of event time (Nexmark's default is
 * 10,000 per second; one per millisecond keeps every timestamp distinct). Random numbers come from a small
 * PRNG seeded per event (Nexmark seeds java.util.Random per event), so values differ from Nexmark's own
 * generator while their distributions are the same.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

export interface DataSpec {
  readonly seed: number
  readonly gameEvents: number
  readonly nexmarkEvents: number
}

export const GAME_FILE = 'game_events.jsonl'
export const NEXMARK_FILE = 'nexmark.jsonl'
/** Written last: a directory without it is a generation that did not finish. */
const DONE_FILE = 'done.json'
export const DAY_MS = 86_400_000
/** 2026-11-18 04:26:40 UTC, the contract's example; a multiple of 10 s, so windows line up with the data. */
export const BASE_TS = 1_795_000_000_000

/** Where generated files live: SLUICE_BENCH_DATA, else ~/.cache/sluice/bench-compare. */
export const DATA_ROOT = process.env.SLUICE_BENCH_DATA ?? join(homedir(), '.cache', 'sluice', 'bench-compare')

/** Where the files of a spec live: one directory per seed and sizes, under DATA_ROOT. */
export function dataDirFor(spec: DataSpec, root = DATA_ROOT): string {
  return join(root, `seed${spec.seed}-game${spec.gameEvents}-nexmark${spec.nexmarkEvents}`)
}

// ---------------------------------------------------------------------------------------------------------
// Randomness

/** A 32-bit mix of two integers (murmur3's finalizer over a combination): per-event seeds. */
function mix(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** mulberry32: small, fast, and good enough for benchmark data. */
export class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Game events

const GAMES = ['chess', 'poker', 'tetris', 'racing', 'puzzle']
/** Cumulative weights of the event types: login 10 %, game_start 15 %, fight 45 %, game_end 15 %, transaction 15 %. */
const TYPE_CDF: readonly [number, string][] = [
  [0.1, 'login'],
  [0.25, 'game_start'],
  [0.7, 'fight'],
  [0.85, 'game_end'],
  [1, 'transaction'],
]

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

/** A multiplier coprime to n: rank * m mod n is a permutation, so activity is not sorted by player id. */
export function scrambler(n: number): number {
  let m = 7919
  while (gcd(m, n) !== 1) m += 2
  return m
}

/** The players for `events` events: ten events per player on average (at least 100 players). */
export const playersFor = (events: number): number => Math.max(100, Math.floor(events / 10))

/**
 * Writes the game events, one line each, through `write`. Player ids run from 1; player 0 is the end
 * marker's alone. Timestamps step 1 to 40 ms (about 20 ms on average).
 */
export function generateGameEvents(seed: number, events: number, write: (line: string) => void): void {
  const rng = new Rng(mix(seed, 0x6a6d65))
  const players = playersFor(events)
  const scramble = scrambler(players)
  const logRange = Math.log(players + 1)
  let ts = BASE_TS
  for (let i = 0; i < events; i++) {
    ts += 1 + rng.int(40)
    // P(rank = k) = ln((k + 2) / (k + 1)) / ln(players + 1), about 1/k: a few players are very active.
    const rank = Math.min(players - 1, Math.floor(Math.exp(rng.next() * logRange)) - 1)
    const player = 1 + ((rank * scramble) % players)
    const u = rng.next()
    let type = 'transaction'
    for (const [p, t] of TYPE_CDF) {
      if (u < p) {
        type = t
        break
      }
    }
    const game = GAMES[rng.int(GAMES.length)]!
    const result = type === 'fight' ? (rng.next() < 0.5 ? 'loss' : 'win') : null
    const level = type === 'game_start' ? 1 + rng.int(150) : null
    const amount = type === 'transaction' ? (1 + rng.int(9999)) / 100 : null
    write(JSON.stringify({ player_id: player, game, type, result, level, amount, ts }))
  }
  write(JSON.stringify({ player_id: 0, game: 'eof', type: 'eof', result: null, level: null, amount: null, ts: ts + DAY_MS }))
}

// ---------------------------------------------------------------------------------------------------------
// Nexmark

/** The standard generator's configuration (GeneratorConfig and NexmarkConfiguration defaults). */
const NX = {
  personProportion: 1,
  auctionProportion: 3,
  bidProportion: 46,
  firstPersonId: 1000,
  firstAuctionId: 1000,
  firstCategoryId: 10,
  numCategories: 5,
  numActivePeople: 1000,
  numInFlightAuctions: 100,
  personIdLead: 10,
  auctionIdLead: 10,
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
  hotAuctionRatioFixed: 100,
  hotSellerRatioFixed: 100,
  hotBidderRatioFixed: 100,
  hotChannelsRatio: 100,
  channelsNumber: 10_000,
} as const
const NX_TOTAL = NX.personProportion + NX.auctionProportion + NX.bidProportion
/** Event-time gap between consecutive events (ms). */
const NX_DELAY_MS = 1

const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter']
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris']
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY']
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne']
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple']
const HOT_URLS = HOT_CHANNELS.map((c) => `https://www.nexmark.com/${c.toLowerCase()}/item.htm?query=1`)

/** The last person id (base 0) created at or before event `eventId`. */
export function lastBase0PersonId(eventId: number): number {
  const epoch = Math.floor(eventId / NX_TOTAL)
  let offset = eventId % NX_TOTAL
  if (offset >= NX.personProportion) offset = NX.personProportion - 1
  return epoch * NX.personProportion + offset
}

/** The last auction id (base 0) created at or before event `eventId`. */
export function lastBase0AuctionId(eventId: number): number {
  let epoch = Math.floor(eventId / NX_TOTAL)
  let offset = eventId % NX_TOTAL
  if (offset < NX.personProportion) {
    epoch--
    offset = NX.auctionProportion - 1
  } else if (offset >= NX.personProportion + NX.auctionProportion) {
    offset = NX.auctionProportion - 1
  } else {
    offset -= NX.personProportion
  }
  return epoch * NX.auctionProportion + offset
}

/** A recent person (base 0), among the active ones plus a small lead of people not created yet. */
function nextBase0PersonId(eventId: number, rng: Rng): number {
  const numPeople = lastBase0PersonId(eventId) + 1
  const active = Math.min(numPeople, NX.numActivePeople)
  return numPeople - active + rng.int(active + NX.personIdLead)
}

/** A recent auction (base 0), among those in flight plus a small lead. */
function nextBase0AuctionId(eventId: number, rng: Rng): number {
  const max = lastBase0AuctionId(eventId)
  const min = Math.max(max - NX.numInFlightAuctions, 0)
  return min + rng.int(max - min + 1 + NX.auctionIdLead)
}

/** Log-uniform from 1 to 10^8 cents, as Nexmark's nextPrice. */
const nextPrice = (rng: Rng): number => Math.round(Math.pow(10, rng.next() * 6) * 100)

/** Lower-case letters with the odd `special` character, 3 to maxLength - 1 long (Nexmark's nextString). */
function nextString(rng: Rng, maxLength: number, special = ' '): string {
  const len = 3 + rng.int(maxLength - 3)
  let s = ''
  for (let i = 0; i < len; i++) s += rng.int(13) === 0 ? special : String.fromCharCode(97 + rng.int(26))
  return s
}

const pad4 = (n: number): string => String(n).padStart(4, '0')

/** Nexmark's auction length: up to twice the time until numInFlightAuctions more auctions have started. */
function auctionLengthMs(rng: Rng): number {
  const horizonMs = Math.floor((NX.numInFlightAuctions * NX_TOTAL) / NX.auctionProportion) * NX_DELAY_MS
  return 1 + rng.int(Math.max(horizonMs * 2, 1))
}

const NX_NULLS = {
  event_type: 0,
  p_id: null as number | null,
  p_name: null as string | null,
  p_email: null as string | null,
  p_credit_card: null as string | null,
  p_city: null as string | null,
  p_state: null as string | null,
  a_id: null as number | null,
  a_item_name: null as string | null,
  a_description: null as string | null,
  a_initial_bid: null as number | null,
  a_reserve: null as number | null,
  a_expires: null as number | null,
  a_seller: null as number | null,
  a_category: null as number | null,
  b_auction: null as number | null,
  b_bidder: null as number | null,
  b_price: null as number | null,
  b_channel: null as string | null,
  b_url: null as string | null,
  ts: 0,
}

/** Event `eventId` of the Nexmark stream as the contract's flat object (fields in the contract's order). */
export function nexmarkEvent(seed: number, eventId: number): typeof NX_NULLS {
  const rng = new Rng(mix(seed, eventId))
  const ts = BASE_TS + eventId * NX_DELAY_MS
  const rem = eventId % NX_TOTAL
  const e = { ...NX_NULLS, ts }
  if (rem < NX.personProportion) {
    e.event_type = 0
    e.p_id = lastBase0PersonId(eventId) + NX.firstPersonId
    e.p_name = `${FIRST_NAMES[rng.int(FIRST_NAMES.length)]} ${LAST_NAMES[rng.int(LAST_NAMES.length)]}`
    e.p_email = `${nextString(rng, 7)}@${nextString(rng, 5)}.com`
    e.p_credit_card = [rng.int(10000), rng.int(10000), rng.int(10000), rng.int(10000)].map(pad4).join(' ')
    e.p_city = US_CITIES[rng.int(US_CITIES.length)]!
    e.p_state = US_STATES[rng.int(US_STATES.length)]!
  } else if (rem < NX.personProportion + NX.auctionProportion) {
    e.event_type = 1
    e.a_id = lastBase0AuctionId(eventId) + NX.firstAuctionId
    const seller = rng.int(NX.hotSellersRatio) > 0
      ? Math.floor(lastBase0PersonId(eventId) / NX.hotSellerRatioFixed) * NX.hotSellerRatioFixed
      : nextBase0PersonId(eventId, rng)
    e.a_seller = seller + NX.firstPersonId
    e.a_category = NX.firstCategoryId + rng.int(NX.numCategories)
    e.a_initial_bid = nextPrice(rng)
    e.a_expires = ts + auctionLengthMs(rng)
    e.a_item_name = nextString(rng, 20)
    e.a_description = nextString(rng, 100)
    e.a_reserve = e.a_initial_bid + nextPrice(rng)
  } else {
    e.event_type = 2
    const auction = rng.int(NX.hotAuctionRatio) > 0
      ? Math.floor(lastBase0AuctionId(eventId) / NX.hotAuctionRatioFixed) * NX.hotAuctionRatioFixed
      : nextBase0AuctionId(eventId, rng)
    e.b_auction = auction + NX.firstAuctionId
    const bidder = rng.int(NX.hotBiddersRatio) > 0
      ? Math.floor(lastBase0PersonId(eventId) / NX.hotBidderRatioFixed) * NX.hotBidderRatioFixed + 1
      : nextBase0PersonId(eventId, rng)
    e.b_bidder = bidder + NX.firstPersonId
    e.b_price = nextPrice(rng)
    if (rng.int(NX.hotChannelsRatio) > 0) {
      const c = rng.int(HOT_CHANNELS.length)
      e.b_channel = HOT_CHANNELS[c]!
      e.b_url = HOT_URLS[c]!
    } else {
      const channel = rng.int(NX.channelsNumber)
      e.b_channel = `channel-${channel}`
      e.b_url = `https://www.nexmark.com/${nextString(rng, 5, '_')}/${nextString(rng, 5, '_')}/item.htm?query=1&channel_id=${channel}`
    }
  }
  return e
}

/** Writes `events` Nexmark events and the end marker (event_type 3, one day after the last event). */
export function generateNexmark(seed: number, events: number, write: (line: string) => void): void {
  for (let i = 0; i < events; i++) write(JSON.stringify(nexmarkEvent(seed, i)))
  write(JSON.stringify({ ...NX_NULLS, event_type: 3, ts: BASE_TS + (events - 1) * NX_DELAY_MS + DAY_MS }))
}

// ---------------------------------------------------------------------------------------------------------
// Files

/** Writes lines to a file through a 1 MiB buffer (synchronous: the generator has nothing else to do). */
function writeLines(path: string, generate: (write: (line: string) => void) => void): void {
  const fd = openSync(path, 'w')
  let buf: string[] = []
  let size = 0
  const flush = (): void => {
    writeSync(fd, buf.join(''))
    buf = []
    size = 0
  }
  try {
    generate((line) => {
      buf.push(line, '\n')
      size += line.length + 1
      if (size >= 1 << 20) flush()
    })
    flush()
  } finally {
    closeSync(fd)
  }
}

/**
 * `dir` with the given files, generated first unless a finished generation is there (DONE_FILE, holding
 * `meta`). Files are written under a temporary name and renamed, so an interrupted run leaves nothing that
 * looks complete. Returns the seconds spent generating, or null when the files were there.
 */
export function ensureFiles(dir: string, files: readonly { readonly name: string; readonly generate: (write: (line: string) => void) => void }[], meta: object): number | null {
  if (existsSync(join(dir, DONE_FILE))) return null
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const t0 = performance.now()
  for (const f of files) {
    writeLines(join(dir, `${f.name}.tmp`), f.generate)
    renameSync(join(dir, `${f.name}.tmp`), join(dir, f.name))
  }
  const seconds = (performance.now() - t0) / 1000
  writeFileSync(join(dir, DONE_FILE), JSON.stringify({ ...meta, seconds }))
  return seconds
}

/** The data directory of `spec`, generated first unless a finished generation is there (ensureFiles). */
export function ensureData(spec: DataSpec, dir = dataDirFor(spec), log: (msg: string) => void = () => {}): string {
  const seconds = ensureFiles(
    dir,
    [
      { name: GAME_FILE, generate: (w) => generateGameEvents(spec.seed, spec.gameEvents, w) },
      { name: NEXMARK_FILE, generate: (w) => generateNexmark(spec.seed, spec.nexmarkEvents, w) },
    ],
    spec,
  )
  if (seconds !== null) log(`generated ${spec.gameEvents + 1} game events and ${spec.nexmarkEvents + 1} Nexmark events in ${seconds.toFixed(1)} s into ${dir}`)
  return dir
}

/** The Kafka topics of a data directory: named after it, so that each seed and size has its own. */
export function topicsFor(dir: string): { readonly game: string; readonly nexmark: string } {
  const base = basename(dir).replace(/[^A-Za-z0-9._-]/g, '_')
  return { game: `bench-${base}-game_events`, nexmark: `bench-${base}-nexmark` }
}

/** Lines of a file as strings, `size` at a time, without holding the file (the xl files pass 4 GiB). */
async function* lineBatches(path: string, size: number): AsyncGenerator<string[]> {
  const rl = createInterface({ input: createReadStream(path, { highWaterMark: 1 << 20 }), crlfDelay: Number.POSITIVE_INFINITY })
  let batch: string[] = []
  for await (const line of rl) {
    if (line.length === 0) continue
    batch.push(line)
    if (batch.length === size) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}

/** Lines in a file (a last line without a newline counts). */
export function countFileLines(path: string): number {
  const fd = openSync(path, 'r')
  const buf = Buffer.allocUnsafe(1 << 20)
  let lines = 0
  let last = 10
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) {
      for (let nl = buf.indexOf(10); nl !== -1 && nl < n; nl = buf.indexOf(10, nl + 1)) lines++
      last = buf[n - 1]!
    }
  } finally {
    closeSync(fd)
  }
  return last === 10 ? lines : lines + 1
}

type KafkaAdmin = ReturnType<InstanceType<(typeof import('kafkajs'))['Kafka']>['admin']>

/**
 * Waits until the broker serves every partition of a new topic: a fresh KRaft broker answers "unknown topic"
 * for a while after creating one (kafkajs' own wait for leaders gives up on that).
 */
async function untilServed(admin: KafkaAdmin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    try {
      if ((await admin.fetchTopicOffsets(topic)).length === partitions) return
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * Produces the two files to their topics (topicsFor), each line one record, in file order. The game events
 * go to 4 partitions keyed by player_id (the Sluice stream's partitions and key: a player's events stay in
 * order), the Nexmark events to one partition (the Sluice stream has one; arrival order is time order, as
 * in the file). A topic that already holds exactly the file's records is kept; any other is made anew.
 */
export async function produceToKafka(dir: string, bootstrap: string, log: (msg: string) => void = console.log): Promise<{ readonly game: string; readonly nexmark: string }> {
  const { Kafka, logLevel, CompressionTypes } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'sluice-bench-compare', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 10 } })
  const topics = topicsFor(dir)
  const plan = [
    { file: GAME_FILE, topic: topics.game, partitions: 4, key: 'player_id' },
    { file: NEXMARK_FILE, topic: topics.nexmark, partitions: 1, key: null },
  ] as const
  const admin = kafka.admin()
  const todo: (typeof plan)[number][] = []
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    for (const t of plan) {
      const lines = countFileLines(join(dir, t.file))
      if (existing.has(t.topic)) {
        const offsets = await admin.fetchTopicOffsets(t.topic)
        const held = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0)
        if (held === lines && offsets.length === t.partitions) continue
        await admin.deleteTopics({ topics: [t.topic] })
        // Deletion is asynchronous in the broker: wait until the name is free.
        for (let i = 0; i < 100 && (await admin.listTopics()).includes(t.topic); i++) await new Promise((r) => setTimeout(r, 200))
      }
      await admin.createTopics({ topics: [{ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 }], waitForLeaders: false })
      await untilServed(admin, t.topic, t.partitions)
      todo.push(t)
    }
  } finally {
    await admin.disconnect()
  }
  if (todo.length === 0) return topics
  const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (const t of todo) {
      const t0 = performance.now()
      let n = 0
      for await (const lines of lineBatches(join(dir, t.file), 2000)) {
        const messages = lines.map((value) => ({ key: t.key === null ? null : String((JSON.parse(value) as Record<string, unknown>)[t.key]), value }))
        await producer.send({ topic: t.topic, messages, compression: CompressionTypes.None })
        n += lines.length
      }
      log(`produced ${n} records to ${t.topic} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    }
  } finally {
    await producer.disconnect()
  }
  return topics
}

/**
 * The default sizes of `npm run bench:compare`: the whole run (eleven workloads, each in both engines, with
 * the JVM and MiniCluster start of every Flink run) must stay within 15 minutes on the 2-core machine.
 */
export const DEFAULT_SPEC: DataSpec = { seed: 1, gameEvents: 500_000, nexmarkEvents: 500_000 }

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, 'game-events': { type: 'string' }, 'nexmark-events': { type: 'string' }, dir: { type: 'string' }, kafka: { type: 'string' } },
  })
  const spec: DataSpec = {
    seed: Number(values.seed ?? DEFAULT_SPEC.seed),
    gameEvents: Number(values['game-events'] ?? DEFAULT_SPEC.gameEvents),
    nexmarkEvents: Number(values['nexmark-events'] ?? DEFAULT_SPEC.nexmarkEvents),
  }
  const dir = ensureData(spec, values.dir ?? dataDirFor(spec), console.log)
  console.log(dir)
  if (values.kafka !== undefined) console.log(JSON.stringify(await produceToKafka(dir, values.kafka)))
}

if (process.argv[1] === import.meta.filename) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
