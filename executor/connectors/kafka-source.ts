/**
 * A stream whose events live in a Kafka topic. The engine reads it like the embedded log, by partition and
 * offset; this module keeps a fetcher (kafka-fetch.ts) fetching ahead into bounded per-partition buffers,
 * decoding record batches straight into them (kafka-records.ts).
 *
 * Exactly-once state: Sluice does not rely on the consumer group's committed offsets. Each view's offsets
 * per partition are committed in its checkpoint, in the same RocksDB batch as its state; on start the
 * consumer is positioned at the lowest offset any view of the stream still needs (or at the topic's start
 * or end, per `start`, when no view has committed anything). Records a view has already counted are
 * skipped by offset, so a replay after a crash counts nothing twice.
 *
 * The client is `@platformatic/kafka` (see docs/benchmarks.md for the comparison with kafkajs), for its
 * connections, metadata and offsets; fetches are this module's own, from explicit offsets and without a
 * consumer group, and records never become one object each (docs/benchmarks.md, "Kafka source").
 */
import { Consumer } from '@platformatic/kafka'
import type { PackedBatch, RecordEnvelope, SourceBatch, StreamSource } from '../source.ts'
import type { PackedRecords } from '../decode-worker.ts'
import { CorruptBatchError, readRecordBatches } from './kafka-records.ts'
import { KafkaFetchError, OFFSET_OUT_OF_RANGE, PartitionFetcher, type FetchedPartition } from './kafka-fetch.ts'

export interface KafkaSourceOptions {
  readonly brokers: readonly string[]
  readonly topic: string
  /** Where to start a partition no view has a position in. */
  readonly start: 'earliest' | 'latest'
  /** Consumer group name prefix; Sluice keeps its own offsets, in its checkpoints. */
  readonly groupId: string
  readonly clientId?: string
  /**
   * Called as records arrive: the engine's loop, asleep once it has read everything, wakes at once rather
   * than at its next checkpoint (which left Kafka events up to a checkpoint interval late). Cheap: it only
   * resolves the loop's wait when there is one.
   */
  readonly onArrival?: () => void
  /**
   * Cluster mode (a task engine, cluster/tasks.ts): the only partitions of the topic this source fetches.
   * The others keep their numbers but stay empty and idle, so that offsets, watermarks and `_partition`
   * keep the topic's own numbering and a task's engine holds no time back for partitions it never reads.
   * Absent: every partition. Empty: none (a node's front engine, which keeps the catalog only).
   */
  readonly partitions?: readonly number[]
  /** The records are wrapped by their writer (a cluster's repartition topic): `read` opens them. */
  readonly envelope?: RecordEnvelope
  /** With envelope: where each partition of the writers' source ends (StreamSource.carriedSourceEnd). */
  readonly sourceEnds?: (partition: number) => number | undefined
}

/** Records buffered (all partitions) before fetching is paused. */
const MAX_BUFFERED = 200_000
/** Bytes of record values buffered (all partitions) before fetching is paused. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024
/** How often the topic's end offsets are asked for (idleness and lag). */
const HIGH_WATER_REFRESH_MS = 500
/**
 * A partition stops holding the watermark back once the reader has all of it, nothing arrived for this
 * long, and the broker's end offset for it stayed the same over this long (see `idle`).
 */
const IDLE_AFTER_MS = 1000
/** Data waiting in the broker and nothing fetched for this long: the fetch is restarted. */
const STALL_AFTER_MS = 10_000
/** Closing a client that lost its broker may never call back; it is abandoned after this long. */
const CLOSE_TIMEOUT_MS = 3000

interface PartitionBuffer {
  /** Kafka offsets of the records, ascending. */
  offsets: number[]
  /** Record i's value is `spans.chunks[i][spans.starts[i], spans.ends[i])`: no view made until it is read. */
  spans: { chunks: Buffer[]; starts: number[]; ends: number[] }
  /** Kafka timestamps in microseconds. */
  timestamps: number[]
  /** Index of the first live entry (entries before it were released). */
  head: number
  /** One past the last offset seen; the position to resume from. */
  next: number
  lastArrival: number
  /** The lowest offset the buffer can still serve: where fetching began, raised by `release`. */
  floor: number
}

export class KafkaSource implements StreamSource {
  /** The topic read (what isKafkaLog in kafka-log.ts looks for). */
  get kafkaTopic(): string {
    return this.options.topic
  }

  private stream: PartitionFetcher | null = null
  private paused = false
  private buffered = 0
  private bufferedBytes = 0
  private closed = false
  /**
   * The topic's end offset per partition (the last stable offset: the fetch is read_committed), from the
   * latest-asked answer of the broker applied so far.
   */
  private readonly highWater: number[]
  private refresh: NodeJS.Timeout | null = null
  /**
   * When the answer in `highWater` was asked for: the broker's ends are at least that recent. The time of
   * the question, not of the answer, because on a loaded machine an answer can sit unread for seconds while
   * the partition grows; and an answer to an older question never replaces that of a newer one.
   */
  private highWaterAt = 0
  /**
   * Per partition, since when its end has been `highWater[p]`: the time the first answer with that end was
   * read (later than the broker gave it, so the span counted is never longer than the real one), or the
   * arrival of a record past it.
   */
  private readonly endSince: number[]
  /** When any partition last received a record. */
  private lastArrival = 0
  /** When the topic last woke up: the first record after a quiet spell of IDLE_AFTER_MS on every partition. */
  private wokeAt = 0
  /** When the fetch last delivered a record or was (re)started, for stall detection. */
  private lastProgress = 0

  /** Per partition, where this run began fetching: the beginning of a `start = 'latest'` stream. */
  private origin: number[] = []
  /** Counts fetches: records of a fetch that was replaced (see `rewind`) are not taken. */
  private generation = 0
  /** Per partition, the topic's first offset as last asked of the broker (retention moves it on). */
  private logStart: number[] = []
  /** Per partition, the lowest offset a reader asked for below what the buffer still holds (see `read`). */
  private readonly wanted = new Map<number, number>()
  /** A fetch again from `wanted` under way: readers asking meanwhile only add to `wanted`. */
  private refetching: Promise<void> | null = null

  /** The last error of the connection (cleared once fetching works again), for sluice_partitions users. */
  lastError: Error | null = null
  private reconnecting = false
  /** The broker answered that a fetch position lies outside the partition (retention passed it). */
  private outOfRange = false

  /** Per partition: whether this source fetches it (`partitions` option). */
  private readonly owned: boolean[]

  private constructor(
    private consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
    private readonly options: KafkaSourceOptions,
    private readonly buffers: PartitionBuffer[],
  ) {
    this.highWater = buffers.map(() => Number.POSITIVE_INFINITY)
    this.endSince = buffers.map(() => Number.POSITIVE_INFINITY)
    const only = options.partitions === undefined ? null : new Set(options.partitions)
    this.owned = buffers.map((_, p) => only === null || only.has(p))
  }

  /** The positions to fetch from: each owned partition's, none of the others. */
  private fetchPositions(at: (b: PartitionBuffer, p: number) => number): Map<number, number> {
    return new Map(this.buffers.flatMap((b, p) => (this.owned[p] ? [[p, at(b, p)] as const] : [])))
  }

  /** Connects and learns the topic's partition count; call `start` to begin fetching. */
  static async open(options: KafkaSourceOptions): Promise<KafkaSource> {
    const consumer = newConsumer(options)
    try {
      const metadata = await consumer.metadata({ topics: [options.topic] })
      const topic = metadata.topics.get(options.topic)
      if (topic === undefined) throw new Error(`Kafka topic "${options.topic}" does not exist`)
      const buffers = Array.from({ length: topic.partitionsCount }, (): PartitionBuffer => ({ offsets: [], spans: emptySpans(), timestamps: [], head: 0, next: 0, lastArrival: 0, floor: 0 }))
      return new KafkaSource(consumer, options, buffers)
    } catch (err) {
      await closeConsumer(consumer)
      throw err
    }
  }

  get partitionCount(): number {
    return this.buffers.length
  }

  /**
   * Starts fetching. `positions[p]` is the offset to resume partition p from, or undefined to use the
   * `start` option there.
   */
  async start(positions: readonly (number | undefined)[]): Promise<void> {
    // Fetching nothing (a cluster node's front engine): nothing to ask the broker either.
    if (!this.owned.includes(true)) return
    const askedAt = Date.now()
    const ends = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: -1n })
    const starts = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: -2n })
    const endOf = ends.get(this.options.topic) ?? []
    const startOf = starts.get(this.options.topic) ?? []
    this.observeEnds(endOf, askedAt)
    this.refresh = setInterval(() => void this.refreshHighWater(), HIGH_WATER_REFRESH_MS)
    this.refresh.unref()
    this.logStart = this.buffers.map((_, p) => Number(startOf[p] ?? 0n))
    const offsets = this.fetchPositions((b, p) => {
      const earliest = Number(startOf[p] ?? 0n)
      const given = positions[p]
      const at = given !== undefined ? Math.max(given, earliest) : this.options.start === 'latest' ? Number(endOf[p] ?? 0n) : earliest
      b.next = at
      b.floor = at
      this.origin[p] = given !== undefined || this.options.start === 'latest' ? at : earliest
      return at
    })
    for (let attempt = 1; ; attempt++) {
      try {
        await this.fetchFrom(offsets)
        return
      } catch (err) {
        // A topic created a moment ago may not have settled its leaders and group coordinator yet.
        if (attempt >= 5) throw err
        await closeConsumer(this.consumer)
        this.consumer = newConsumer(this.options)
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt))
      }
    }
  }

  /** Fetches every partition from the given offsets (read_committed); a failure of the fetch reconnects. */
  private async fetchFrom(positions: Map<number, number>): Promise<void> {
    const generation = ++this.generation
    const stream = await PartitionFetcher.start({
      consumer: this.consumer,
      topic: this.options.topic,
      positions,
      deliver: (part, from) => {
        if (generation === this.generation) this.accept(part, from)
      },
      failed: (err) => {
        if (generation !== this.generation) return
        this.lastError = err
        if (err instanceof KafkaFetchError && err.errorCode === OFFSET_OUT_OF_RANGE) this.outOfRange = true
        void this.reconnect()
      },
    })
    if (generation !== this.generation || this.closed) {
      await stream.close()
      return
    }
    this.stream = stream
    this.lastProgress = Date.now()
  }

  /**
   * The broker went away (restart, network): drop the client and fetch again from where each partition's
   * buffer ends, retrying with backoff until the cluster answers. Nothing is lost or read twice: positions
   * are the buffers' own.
   */
  private async reconnect(): Promise<void> {
    if (this.reconnecting || this.closed) return
    this.reconnecting = true
    const old = this.stream
    this.stream = null
    this.generation++ // answers of the old fetch still on their way are dropped
    if (old !== null) await withTimeout(old.close(), CLOSE_TIMEOUT_MS)
    await closeConsumer(this.consumer)
    let backoff = 200
    while (!this.closed) {
      this.consumer = newConsumer(this.options)
      try {
        if (this.outOfRange) {
          // Retention removed records the buffer had not reached: go on from the topic's first offset, as a
          // reader starting below it would (`firstServable`).
          const starts = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: -2n })
          ;(starts.get(this.options.topic) ?? []).forEach((e, p) => (this.logStart[p] = Number(e)))
          for (const [p, b] of this.buffers.entries()) b.next = Math.max(b.next, this.logStart[p] ?? 0)
          this.outOfRange = false
        }
        await this.fetchFrom(this.fetchPositions((b) => b.next))
        if (this.paused) (this.stream as PartitionFetcher | null)?.pause()
        this.lastError = null
        break
      } catch (err) {
        this.lastError = err as Error
        await closeConsumer(this.consumer)
        await new Promise((r) => setTimeout(r, backoff).unref())
        backoff = Math.min(backoff * 2, 5000)
      }
    }
    this.reconnecting = false
  }

  /**
   * A new reader needs records from `positions` on (a view created on a stream that others already read
   * starts at the stream's beginning): partitions whose buffer no longer reaches back that far are
   * fetched again from there (for `start = 'latest'`, from where this run began). Readers further on skip
   * by offset what they have, so nothing is counted twice. Returns whether anything is fetched again.
   * `read` asks for the same by itself when a reader is behind; both go through one queue, so that two
   * fetches again never replace each other's client halfway.
   */
  async rewind(positions: readonly number[]): Promise<boolean> {
    let any = false
    positions.forEach((from, p) => {
      if (p < this.buffers.length && this.want(p, from)) any = true
    })
    if (this.refetching !== null) await this.refetching
    return any
  }

  /** Queues partition p to be fetched again from `from` when the buffer no longer reaches back there. */
  private want(p: number, from: number): boolean {
    const need = this.firstServable(p, from)
    if (!this.owned[p] || this.closed || this.origin.length === 0 || need >= this.buffers[p]!.floor) return false
    this.wanted.set(p, Math.min(this.wanted.get(p) ?? need, need))
    if (this.refetching === null) {
      this.refetching = (async () => {
        while (this.wanted.size > 0 && !this.closed) {
          const wanted = this.buffers.map((_, q) => this.wanted.get(q) ?? Number.POSITIVE_INFINITY)
          this.wanted.clear()
          try {
            await this.refetch(wanted)
          } catch (err) {
            // The broker did not answer: readers ask again on their next read, a moment later.
            this.lastError = err as Error
            await new Promise((r) => setTimeout(r, 500).unref())
          }
        }
      })().finally(() => {
        this.refetching = null
        this.options.onArrival?.()
      })
    }
    return true
  }

  /** Fetches the partitions whose `positions` lie below their buffers again from there. */
  private async refetch(positions: readonly number[]): Promise<void> {
    if (this.closed || this.origin.length === 0) return
    const starts = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: -2n })
    const earliest = starts.get(this.options.topic) ?? []
    earliest.forEach((e, p) => (this.logStart[p] = Number(e)))
    const targets = this.buffers.map((b, p) => {
      const from = this.firstServable(p, positions[p] ?? 0)
      return from < b.floor ? from : null
    })
    if (targets.every((t) => t === null)) return
    const old = this.stream
    this.stream = null
    this.generation++ // records of the old fetch still on their way are dropped
    if (old !== null) await withTimeout(old.close(), CLOSE_TIMEOUT_MS)
    await closeConsumer(this.consumer)
    this.buffers.forEach((b, p) => {
      const from = targets[p]
      if (from === null || from === undefined) return
      this.buffered -= b.offsets.length - b.head
      for (let i = b.head; i < b.offsets.length; i++) this.bufferedBytes -= b.spans.ends[i]! - b.spans.starts[i]!
      b.offsets = []
      b.spans = emptySpans()
      b.timestamps = []
      b.head = 0
      b.next = from
      b.floor = from
    })
    if (this.paused && !this.overBudget(2)) this.paused = false
    this.consumer = newConsumer(this.options)
    try {
      await this.fetchFrom(this.fetchPositions((b) => b.next))
      if (this.paused) (this.stream as PartitionFetcher | null)?.pause()
    } catch (err) {
      // The broker did not take the new fetch: fetching goes on as after any lost connection.
      this.lastError = err as Error
      void this.reconnect()
    }
  }

  /** Takes one partition's part of a fetch answer, fetched from `from`, into its buffer. */
  private accept(part: FetchedPartition, from: number): void {
    const p = part.partition
    const b = this.buffers[p]
    if (b === undefined || !this.owned[p]) return
    // A fetch from below the buffer's end (a refetch, a retry) yields nothing twice: records below b.next are skipped.
    const start = Math.max(from, b.next)
    const before = b.offsets.length
    let next: number
    try {
      next = part.records === null ? start : readRecordBatches(part.records, start, part.aborted, b)
    } catch (err) {
      if (!(err instanceof CorruptBatchError)) throw err
      // Bytes that are not record batches cannot be made into records, not even dead letters: the partition
      // stops here (the error shows in sluice_partitions), and the stall check fetches it again.
      b.offsets.length = b.timestamps.length = b.spans.chunks.length = b.spans.starts.length = b.spans.ends.length = before
      this.lastError = new Error(`Kafka topic "${this.options.topic}" partition ${p} at offset ${start}: ${err.message}`)
      return
    }
    // Past transaction markers and aborted records too, which yield no record: a quiet partition written in
    // transactions (a Sluice sink's) reaches its end and can be idle.
    if (next > b.next) b.next = next
    const added = b.offsets.length - before
    if (added === 0) return
    for (let i = before; i < b.offsets.length; i++) this.bufferedBytes += b.spans.ends[i]! - b.spans.starts[i]!
    const now = Date.now()
    // A record past the end the broker last told: the partition grew since, whatever older answers say.
    if (b.next > this.highWater[p]!) this.endSince[p] = now
    if (now - this.lastArrival >= IDLE_AFTER_MS) {
      // The topic wakes up after a quiet spell: every partition gets a fresh grace period before it counts
      // as idle, so that one partition's first records do not push the watermark past the others'.
      for (const other of this.buffers) other.lastArrival = now
      this.wokeAt = now
    }
    this.lastArrival = now
    b.lastArrival = now
    this.lastProgress = now
    this.buffered += added
    this.options.onArrival?.()
    if (this.overBudget(1) && !this.paused && this.stream !== null) {
      this.paused = true
      this.stream.pause()
    }
  }

  /** Whether the buffers hold more than 1/`share` of what they may (records or bytes). */
  private overBudget(share: number): boolean {
    return this.buffered >= MAX_BUFFERED / share || this.bufferedBytes >= MAX_BUFFERED_BYTES / share
  }

  endOffset(partition: number): number {
    return this.buffers[partition]?.next ?? 0
  }

  /**
   * The first offset a reader at `from` can be given: the topic's first (retention removed what came
   * before) and, for a `start = 'latest'` stream, where this run began.
   */
  private firstServable(partition: number, from: number): number {
    return Math.max(from, this.logStart[partition] ?? 0, this.options.start === 'latest' ? (this.origin[partition] ?? 0) : 0)
  }

  carriedSourceEnd(partition: number): number | undefined {
    return this.options.sourceEnds?.(partition)
  }

  /** The records carry their writers' watermarks (an envelope opened by `read`). */
  get carriesWatermarks(): boolean {
    return this.options.envelope !== undefined
  }

  /**
   * A reader behind what the buffer holds (a view or sink created after the others read and released
   * records, or one that stopped and runs again) gets nothing until those records are fetched again:
   * answering with the buffer's later records, or with an empty batch that ends past them, would move
   * the reader over records it never saw. The fetch again starts at once; whoever created the reader need
   * not remember to ask for it, and a round that runs before they do cannot skip anything.
   */
  async read(partition: number, from: number, max: number): Promise<SourceBatch> {
    const batch = this.readRaw(partition, from, max)
    return this.options.envelope === undefined ? batch : this.options.envelope(batch)
  }

  private readRaw(partition: number, from: number, max: number): SourceBatch {
    const b = this.buffers[partition]
    if (b === undefined) throw new Error(`partition ${partition} does not exist in topic ${this.options.topic}`)
    if (this.want(partition, from)) return { records: [], nextOffset: from }
    const [lo, end] = this.range(b, from, max)
    if (lo >= end) return { records: [], nextOffset: Math.max(from, b.next) }
    const { chunks, starts, ends } = b.spans
    const records = new Array<Buffer>(end - lo)
    for (let i = lo; i < end; i++) records[i - lo] = chunks[i]!.subarray(starts[i]!, ends[i]!)
    const offsets = b.offsets.slice(lo, end)
    const timestamps = b.timestamps.slice(lo, end)
    const nextOffset = end < b.offsets.length ? b.offsets[end]! : b.next
    return { records, offsets, timestamps, nextOffset }
  }

  /**
   * The same records packed in one buffer for the decode thread (StreamSource.readPacked): the values
   * copied a run at a time (the values of one fetched chunk lie in order, with their record headers in
   * between, which are copied along and skipped by the bounds). Null for an enveloped stream (its records
   * are opened by `read`).
   */
  async readPacked(partition: number, from: number, max: number): Promise<PackedBatch | null> {
    if (this.options.envelope !== undefined) return null
    const b = this.buffers[partition]
    if (b === undefined) throw new Error(`partition ${partition} does not exist in topic ${this.options.topic}`)
    if (this.want(partition, from)) return { records: packOf(Buffer.alloc(0), 0), offsets: [], nextOffset: from }
    const [lo, end] = this.range(b, from, max)
    if (lo >= end) return { records: packOf(Buffer.alloc(0), 0), offsets: [], nextOffset: Math.max(from, b.next) }
    const { chunks, starts, ends } = b.spans
    // Runs of records in one chunk, in order: each run's bytes, headers between its values included, are
    // copied at once. runEnds[r]: one past the last record of run r.
    const runEnds: number[] = []
    let size = 0
    for (let i = lo; i < end; ) {
      let j = i + 1
      while (j < end && chunks[j] === chunks[i] && starts[j]! >= ends[j - 1]!) j++
      size += ends[j - 1]! - starts[i]!
      runEnds.push(j)
      i = j
    }
    const bytes = Buffer.allocUnsafeSlow(size)
    const packed = packOf(bytes, end - lo)
    let at = 0
    let i = lo
    for (const j of runEnds) {
      const base = starts[i]!
      chunks[i]!.copy(bytes, at, base, ends[j - 1]!)
      for (let k = i; k < j; k++) {
        packed.starts[k - lo] = at + starts[k]! - base
        packed.ends[k - lo] = at + ends[k]! - base
      }
      at += ends[j - 1]! - base
      i = j
    }
    const nextOffset = end < b.offsets.length ? b.offsets[end]! : b.next
    return { records: packed, offsets: b.offsets.slice(lo, end), timestamps: b.timestamps.slice(lo, end), nextOffset }
  }

  /** The live entries of `b` to read from `from`, at most `max`: [first at or after `from`, end). */
  private range(b: PartitionBuffer, from: number, max: number): [number, number] {
    let lo = b.head
    let hi = b.offsets.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (b.offsets[mid]! < from) lo = mid + 1
      else hi = mid
    }
    return [lo, Math.min(b.offsets.length, lo + max)]
  }

  /**
   * Idle: the partition has really caught up and stays quiet. The reader has everything fetched; the fetch
   * has reached the partition's end as the broker gave it in an answer asked for moments ago; that end had
   * not moved for IDLE_AFTER_MS when the answer was asked, counted from the topic's last wake-up at the
   * earliest (the broker got nothing for the partition meanwhile); and nothing arrived for as long. A partition with records still in the broker (a backlog,
   * a fetch slowed by a loaded machine, a reader fetching again from the start) is never idle, however long
   * since its last record; nor is one before the broker first answered (start, restart).
   */
  idle(partition: number, offset: number): boolean {
    // A partition this source does not fetch is another task's: it never holds this one's time back.
    if (this.owned[partition] === false) return true
    const b = this.buffers[partition]
    if (b === undefined || offset < b.next || b.next < this.highWater[partition]!) return false
    const now = Date.now()
    // The end must be recent: on a starved event loop the refresh runs late, and a stale end would call a
    // partition idle whose records are already in the broker.
    if (now - this.highWaterAt > 3 * HIGH_WATER_REFRESH_MS) return false
    // The end must have stood still for IDLE_AFTER_MS as of the question, and after the topic last woke up:
    // the producer that woke it may write this partition a moment later. Counted in the broker's time (when
    // the answer was asked), not in ours when a late answer is read: an answer asked just after the wake and
    // read over a second later vouches for no more than the moment it was asked, and the partition's
    // records may be in the broker by then.
    const stillSince = Math.max(this.endSince[partition]!, this.wokeAt)
    return now - b.lastArrival >= IDLE_AFTER_MS && this.highWaterAt - stillSince >= IDLE_AFTER_MS
  }

  /**
   * Takes the broker's end offsets from an answer to a question asked at `askedAt`, unless a later
   * question's answer came first.
   */
  private observeEnds(ends: readonly bigint[], askedAt: number): void {
    if (askedAt <= this.highWaterAt) return
    const now = Date.now()
    ends.forEach((e, p) => {
      const end = Number(e)
      if (end !== this.highWater[p]) {
        this.highWater[p] = end
        this.endSince[p] = now
      }
    })
    this.highWaterAt = askedAt
  }

  /** The topic's end offset for the partition as last reported by the broker (for lag). */
  highWatermark(partition: number): number {
    if (this.owned[partition] === false) return 0
    const h = this.highWater[partition] ?? 0
    return Number.isFinite(h) ? Math.max(h, this.buffers[partition]?.next ?? 0) : (this.buffers[partition]?.next ?? 0)
  }

  private async refreshHighWater(): Promise<void> {
    try {
      const askedAt = Date.now()
      const ends = await this.consumer.listOffsets({ topics: [this.options.topic], timestamp: -1n })
      this.observeEnds(ends.get(this.options.topic) ?? [], askedAt)
    } catch {
      // Keep the last known ends; the next refresh tries again.
    }
    if (this.stalled()) {
      this.lastError = new Error(`no records fetched for ${STALL_AFTER_MS / 1000} s while the topic has more; fetching again`)
      console.error(`sluice: Kafka topic "${this.options.topic}": ${this.lastError.message}`)
      void this.reconnect()
    }
  }

  /** The broker holds records past what was fetched, the consumer is not paused, and nothing came in a while. */
  private stalled(): boolean {
    if (this.closed || this.reconnecting || this.paused || this.stream === null) return false
    if (Date.now() - this.lastProgress < STALL_AFTER_MS) return false
    return this.buffers.some((b, p) => this.owned[p] && this.highWater[p]! > b.next)
  }

  release(partition: number, offset: number): void {
    const b = this.buffers[partition]
    if (b === undefined) return
    if (offset > b.floor) b.floor = Math.min(offset, b.next)
    let head = b.head
    while (head < b.offsets.length && b.offsets[head]! < offset) {
      this.bufferedBytes -= b.spans.ends[head]! - b.spans.starts[head]!
      head++
    }
    this.buffered -= head - b.head
    b.head = head
    if (b.head > 4096 && b.head * 2 > b.offsets.length) {
      b.offsets = b.offsets.slice(b.head)
      b.spans = { chunks: b.spans.chunks.slice(b.head), starts: b.spans.starts.slice(b.head), ends: b.spans.ends.slice(b.head) }
      b.timestamps = b.timestamps.slice(b.head)
      b.head = 0
    }
    if (this.paused && !this.overBudget(2) && this.stream !== null) {
      this.paused = false
      this.stream.resume()
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.refresh !== null) clearInterval(this.refresh)
    await this.stream?.close().catch(() => undefined)
    await closeConsumer(this.consumer)
  }

}

function emptySpans(): PartitionBuffer['spans'] {
  return { chunks: [], starts: [], ends: [] }
}

/** Packed records of bytes (Kafka values: refused as dead letters when not UTF-8, as `read`'s are). */
function packOf(bytes: Buffer, n: number): PackedRecords {
  return { bytes, starts: new Int32Array(n), ends: new Int32Array(n), text: new Uint8Array(n) }
}

/**
 * A client for the topic's metadata and offsets (the fetches go on connections of their own, see
 * kafka-fetch.ts). It never joins its group: Sluice keeps its positions itself and fetches the partitions
 * it owns directly, so a killed process leaves no session behind to wait out. The client requires a group
 * name all the same; it is unique per connection.
 */
function newConsumer(options: KafkaSourceOptions): Consumer<Buffer, Buffer, Buffer, Buffer> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: options.clientId ?? `sluice-${options.groupId}`,
    groupId: `${options.groupId}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    bootstrapBrokers: [...options.brokers],
    autocreateTopics: false,
    retries: 5,
  })
  // An 'error' event unheard would end the process; fetching goes on or is restarted by the stall check.
  consumer.on('error', (err: Error) => {
    if (!consumer.closed) console.error(`sluice: Kafka topic "${options.topic}": ${err.message}`)
  })
  return consumer
}

function closeConsumer(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => consumer.close(true, () => resolve())), CLOSE_TIMEOUT_MS)
}

/** Waits for `p` at most `ms`; a rejection or a timeout both just end the wait. */
function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    timer.unref()
    p.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    )
  })
}
