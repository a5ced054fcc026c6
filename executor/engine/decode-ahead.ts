/**
 * The loop's reads, decoded ahead on the decode thread (executor/decode-worker.ts). After the loop has
 * taken a large batch of a partition, the next batch (from where that one ended) is read and sent to the
 * decode thread at once, so that it decodes while the loop runs the operators on this one and on the
 * other partitions. The next round takes it if it reads from that same offset (records at an offset never
 * change: the log and Kafka only append), and otherwise drops it and reads again. So the offsets the
 * queries hold, and checkpoint, stay those of batches the loop has processed; at most one batch per
 * partition is ahead; small batches (a few INSERTs) are decoded in place, and a stream whose column types
 * do not cross as columns never uses the thread. A source that can read its records packed in one buffer
 * (a file stream, Kafka) hands that buffer over whole: no string or view per record on the loop's thread.
 *
 * The loop does not decode a batch itself while it waits for the thread: tried, with two batches on the
 * thread, it was slower on two cores (docs/benchmarks.md), the loop's decoding taking the core the thread
 * and the garbage collector's helpers use.
 */
import { DecodeWorker, columnCodecs, packedRecord, rowsFrom, type DecodedRows, type PackedRecords } from '../decode-worker.ts'
import { covers, readKey, type ColumnsRead } from '../columns-read.ts'
import { readingDecoder, type StreamDecoder } from '../record-decoder.ts'
import type { CarriedMark, SourceBatch } from '../source.ts'
import type { StreamRuntime } from './state.ts'

/** Fewer records than this are decoded in place: the round trip would cost more than it saves. */
export const DECODE_AHEAD_MIN_BATCH = 512
/**
 * Batches read ahead at once, over every stream and partition: what waits for the loop stays bounded with
 * hundreds of partitions (a batch of Nexmark records is about a megabyte, with its rows). Past it, a
 * partition's batch is read and sent to the thread when the loop comes to it.
 */
export const MAX_AHEAD = 4

/** A batch as the loop takes it: its records by index (a source's list, or one packed buffer), and their rows. */
export interface TakenBatch {
  readonly count: number
  /** Record i as read (for a dead letter, or to decode in place). */
  record(i: number): Buffer | string
  /** The offset of each record; absent when they are `from, from + 1, ...`. */
  readonly offsets?: readonly number[]
  readonly timestamps?: readonly number[]
  readonly nextOffset: number
  readonly marks?: readonly CarriedMark[]
  /** The rows decoded on the thread, or null: decode them in place. */
  readonly decoded: Promise<DecodedRows | null>
  /** The columns those rows hold (the others are null). */
  readonly read: ColumnsRead
}

interface Ahead {
  readonly from: number
  readonly taken: Promise<TakenBatch>
}

export class DecodeAhead {
  private readonly worker = new DecodeWorker()
  private readonly ahead = new Map<StreamRuntime, Map<number, Ahead>>()
  private readonly usable = new WeakMap<StreamRuntime, boolean>()
  private readonly inFlight = new Set<Promise<unknown>>()
  /** Batches decoded on the thread so far. */
  batches = 0
  /**
   * Off unless asked for (EngineOptions.decodeThread): the thread saves the loop's thread a fifth of its
   * time but costs more CPU in all than it saves (docs/benchmarks.md), which only pays where a core is free.
   */
  private readonly enabled: boolean

  constructor(
    private readonly batchSize: number,
    enabled: boolean | undefined,
  ) {
    this.enabled = enabled ?? false
  }

  /**
   * The batch of partition `p` from `from` for readers of the columns `read`: the one read ahead if it
   * starts there (decoded again in place if its rows lack a column now read: a view was added meanwhile),
   * else read now.
   */
  async read(rt: StreamRuntime, p: number, from: number, read: ColumnsRead): Promise<TakenBatch> {
    const parts = this.ahead.get(rt)
    const a = parts?.get(p)
    if (a !== undefined) {
      parts!.delete(p)
      // Awaited even when it is not the one wanted, so that reads of a partition never overlap.
      const got = await a.taken.catch(() => null)
      if (got !== null && a.from === from) return covers(got.read, read) ? got : { ...got, decoded: Promise.resolve(null), read }
    }
    return this.take(rt, p, from, read)
  }

  /** The decoder of records for readers of `read`, for the batches decoded in place (json-scan.ts, unread columns null). */
  inPlace(rt: StreamRuntime, read: ColumnsRead): StreamDecoder {
    const key = readKey(read)
    let d = this.decoders.get(rt)
    if (d === undefined || d.key !== key) this.decoders.set(rt, (d = { key, decode: readingDecoder(rt.def, read, rt.decode) }))
    return d.decode
  }

  private readonly decoders = new WeakMap<StreamRuntime, { readonly key: string; readonly decode: StreamDecoder }>()

  /** After a batch of `taken` records: reads the next one from `from` and starts decoding it for readers of `read`. */
  readAhead(rt: StreamRuntime, p: number, from: number, taken: number, read: ColumnsRead): void {
    if (!this.threaded(rt) || taken < DECODE_AHEAD_MIN_BATCH || from >= rt.log.endOffset(p)) return
    let parts = this.ahead.get(rt)
    if (parts?.has(p) === true || this.aheadCount() >= MAX_AHEAD) return
    const taken$ = this.take(rt, p, from, read)
    if (parts === undefined) this.ahead.set(rt, (parts = new Map()))
    parts.set(p, { from, taken: taken$ })
    this.track(taken$)
  }

  /** Forgets what was read ahead for streams no longer read (dropped): the loop passes the ones it reads. */
  keepOnly(streams: ReadonlySet<StreamRuntime>): void {
    for (const rt of this.ahead.keys()) if (!streams.has(rt)) this.ahead.delete(rt)
  }

  private aheadCount(): number {
    let n = 0
    for (const parts of this.ahead.values()) n += parts.size
    return n
  }

  /** Waits for reads ahead still running, then stops the thread. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight])
    await this.worker.close()
  }

  /** Reads a batch and starts its decoding on the thread (packed by the source where it can be). */
  private async take(rt: StreamRuntime, p: number, from: number, read: ColumnsRead): Promise<TakenBatch> {
    if (rt.log.readPacked !== undefined && this.threaded(rt)) {
      const packed = await rt.log.readPacked(p, from, this.batchSize)
      if (packed !== null) {
        const { records, offsets, timestamps, nextOffset } = packed
        const record = (i: number): Buffer | string => packedRecord(records, i)
        return { count: offsets.length, record, offsets, timestamps, nextOffset, decoded: this.decodePacked(rt, p, read, records, offsets, timestamps), read }
      }
    }
    const batch = await rt.log.read(p, from, this.batchSize)
    return this.taken(batch, this.decode(rt, p, from, read, batch), read)
  }

  private taken(batch: SourceBatch, decoded: Promise<DecodedRows | null>, read: ColumnsRead): TakenBatch {
    const { records, offsets, timestamps, nextOffset, marks } = batch
    return { count: records.length, record: (i: number) => records[i]!, offsets, timestamps, nextOffset, marks, decoded, read }
  }

  private decode(rt: StreamRuntime, p: number, from: number, read: ColumnsRead, batch: SourceBatch): Promise<DecodedRows | null> {
    const n = batch.records.length
    if (!this.threaded(rt) || n < DECODE_AHEAD_MIN_BATCH) return Promise.resolve(null)
    const offsets = batch.offsets ?? Array.from({ length: n }, (_, i) => from + i)
    return this.decoding(this.worker.decode(rt, rt.def, read, batch.records, p, offsets, batch.timestamps))
  }

  /** A packed batch goes to the thread as a copy of its buffers, so that its records stay readable here. */
  private decodePacked(rt: StreamRuntime, p: number, read: ColumnsRead, records: PackedRecords, offsets: readonly number[], timestamps: readonly number[] | undefined): Promise<DecodedRows | null> {
    if (offsets.length < DECODE_AHEAD_MIN_BATCH) return Promise.resolve(null)
    const copy = { bytes: Buffer.from(records.bytes), starts: records.starts.slice(), ends: records.ends.slice(), text: records.text.slice() }
    return this.decoding(this.worker.decodePacked(rt, rt.def, read, copy, p, offsets, timestamps))
  }

  private decoding(d: ReturnType<DecodeWorker['decode']>): Promise<DecodedRows | null> {
    const decoded = d.then(
      (columns) => {
        this.batches++
        return rowsFrom(columns)
      },
      () => null,
    )
    this.track(decoded)
    return decoded
  }

  /** Whether this stream's batches go to the thread: it is on, alive, and the stream's columns cross as columns. */
  private threaded(rt: StreamRuntime): boolean {
    if (!this.enabled || !this.worker.usable) return false
    let ok = this.usable.get(rt)
    if (ok === undefined) this.usable.set(rt, (ok = columnCodecs(rt.def) !== null))
    return ok
  }

  private track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    )
    this.inFlight.add(settled)
    void settled.then(() => this.inFlight.delete(settled))
  }
}

