/**
 * The loop's reads, decoded ahead on the decode thread (executor/decode-worker.ts). After the loop has
 * taken a large batch of a partition, the next batch (from where that one ended) is read and sent to the
 * decode thread at once, so that it decodes while the loop runs the operators on this one and on the
 * other partitions. The next round takes it if it reads from that same offset (records at an offset never
 * change: the log and Kafka only append), and otherwise drops it and reads again. So the offsets the
 * queries hold, and checkpoint, stay those of batches the loop has processed; at most one batch per
 * partition is ahead; small batches (a few INSERTs) are decoded in place, and a stream whose column types
 * do not cross as columns never uses the thread.
 */
import { DecodeWorker, columnCodecs, rowsFrom, type DecodedRows } from '../decode-worker.ts'
import type { SourceBatch } from '../source.ts'
import type { StreamRuntime } from './state.ts'

/** Fewer records than this are decoded in place: the round trip would cost more than it saves. */
export const DECODE_AHEAD_MIN_BATCH = 512

export interface TakenBatch {
  readonly batch: SourceBatch
  /** The rows decoded on the thread, or null: decode them in place. */
  readonly decoded: Promise<DecodedRows | null>
}

interface Ahead {
  readonly from: number
  readonly taken: Promise<TakenBatch>
}

export class DecodeAhead {
  private readonly worker = new DecodeWorker()
  private readonly ahead = new WeakMap<StreamRuntime, Map<number, Ahead>>()
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

  /** The batch of partition `p` from `from`: the one read ahead if it starts there, else read now. */
  async read(rt: StreamRuntime, p: number, from: number): Promise<TakenBatch> {
    const parts = this.ahead.get(rt)
    const a = parts?.get(p)
    if (a !== undefined) {
      parts!.delete(p)
      // Awaited even when it is not the one wanted, so that reads of a partition never overlap.
      const got = await a.taken.catch(() => null)
      if (got !== null && a.from === from) return got
    }
    const batch = await rt.log.read(p, from, this.batchSize)
    return { batch, decoded: this.decode(rt, p, from, batch) }
  }

  /** After a batch of `taken` records: reads the next one from `from` and starts decoding it. */
  readAhead(rt: StreamRuntime, p: number, from: number, taken: number): void {
    if (!this.enabled || !this.worker.usable || taken < DECODE_AHEAD_MIN_BATCH || !this.fits(rt) || from >= rt.log.endOffset(p)) return
    const taken$ = (async (): Promise<TakenBatch> => {
      const batch = await rt.log.read(p, from, this.batchSize)
      return { batch, decoded: this.decode(rt, p, from, batch) }
    })()
    let parts = this.ahead.get(rt)
    if (parts === undefined) this.ahead.set(rt, (parts = new Map()))
    parts.set(p, { from, taken: taken$ })
    this.track(taken$)
  }

  /** Waits for reads ahead still running, then stops the thread. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight])
    await this.worker.close()
  }

  private decode(rt: StreamRuntime, p: number, from: number, batch: SourceBatch): Promise<DecodedRows | null> {
    const n = batch.records.length
    if (!this.enabled || !this.worker.usable || n < DECODE_AHEAD_MIN_BATCH || !this.fits(rt)) return Promise.resolve(null)
    const offsets = batch.offsets ?? Array.from({ length: n }, (_, i) => from + i)
    const decoded = this.worker.decode(rt, rt.def, batch.records, p, offsets, batch.timestamps).then(
      (d) => {
        this.batches++
        return rowsFrom(d)
      },
      () => null,
    )
    this.track(decoded)
    return decoded
  }

  private fits(rt: StreamRuntime): boolean {
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
