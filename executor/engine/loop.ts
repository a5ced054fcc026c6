/**
 * The loop: one round after another over every stream partition (the shared scan: read from the lowest
 * offset any query or sink still needs, decode each record once, hand the batch to each), then every
 * query's watermark step; between rounds, the DDL waiting for a pause (see EngineState.betweenRounds) and a
 * checkpoint when one is due. Sleeps when nothing moved until woken or the checkpoint interval passes.
 */
import type { Row } from '../../common/types.ts'
import { EnginePart, EngineState, sleep } from './state.ts'
import { type Checkpoints } from './checkpoints.ts'
import { type Deliveries } from './deliveries.ts'
import type { ContinuousQuery } from '../continuous-query.ts'
import { closedAndRead, slotBase } from '../query-slots.ts'
import { DecodeAhead } from './decode-ahead.ts'
import { unionRead } from '../columns-read.ts'

export class Loop extends EnginePart {
  /** Large batches decode on a second thread, the next one while the operators run on this one. */
  private readonly decodeAhead: DecodeAhead

  constructor(s: EngineState, private readonly checkpoints: Checkpoints, private readonly deliveries: Deliveries) {
    super(s)
    this.decodeAhead = new DecodeAhead(this.batchSize, s.options.decodeThread)
  }

  get batchesDecodedOnThread(): number {
    return this.decodeAhead.batches
  }

  /** Whether the engine is processing events now (a round moved records in the last 20 ms). */
  busy(): boolean {
    return performance.now() - this.lastMovedAt < 20
  }

  /** Runs the work that waited for a pause between rounds (EngineState.betweenRounds), in order. */
  async runInterludes(): Promise<void> {
    for (const i of this.interludes.splice(0)) {
      try {
        await i.fn()
        i.resolve()
      } catch (err) {
        i.reject(err)
      }
    }
  }

  /** Runs until close: a round, the interludes, a checkpoint when due; waits for work when nothing moved. */
  async loop(): Promise<void> {
    while (!this.stopping) {
      this.metrics.turned()
      let moved = false
      try {
        moved = await this.round()
        if (moved) this.lastMovedAt = performance.now()
        await this.runInterludes()
        await this.checkpoints.maybeCheckpoint(moved)
      } catch (err) {
        // A failure here is not one query's fault (the state store or a log failed): report and retry.
        console.error(`sluice: engine loop error: ${(err as Error).stack ?? String(err)}`)
        await sleep(200)
      }
      this.notifyProgress()
      // Rounds that move records may follow each other at once (a new view's backfill, a burst): the
      // event loop is given back between them, so that sessions and clients are served meanwhile.
      if (moved) await new Promise<void>((resolve) => setImmediate(resolve))
      if (!moved && !this.stopping && this.checkpointRequests.length === 0 && this.interludes.length === 0) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve
          // Degraded (checkpoints failing): try again within a second, not a whole interval later.
          setTimeout(resolve, this.checkpointFailure === null ? this.checkpointIntervalMs : Math.min(1000, this.checkpointIntervalMs)).unref()
        })
      }
    }
    await this.decodeAhead.close()
  }

  /** One pass over every stream partition. Returns whether any records moved. */
  private async round(): Promise<boolean> {
    let moved = false
    const streams = [...this.streams.values()]
    this.decodeAhead.keepOnly(new Set(streams))
    for (const rt of streams) {
      const running = rt.queries.filter((q) => q.status === 'running')
      // Where this stream's partitions are among each query's (after the left stream's, for an interval join's right side).
      const bases = running.map((q) => slotBase(q.slots, rt.def.name))
      const sinks = rt.sinks.filter((k) => k.status === 'running')
      // The columns this round's readers read: the others are left null in the rows (columns-read.ts).
      const read = unionRead([...running.map((q) => q.columnsRead), ...(sinks.length > 0 ? [null] : [])])
      const decode = this.decodeAhead.inPlace(rt, read)
      for (let p = 0; p < rt.def.partitions; p++) {
        const end = rt.log.endOffset(p)
        let from = Number.POSITIVE_INFINITY
        for (let i = 0; i < running.length; i++) from = Math.min(from, running[i]!.offsets[bases[i]! + p]!)
        for (const k of sinks) from = Math.min(from, k.offsets[p]!)
        if (from >= end) continue
        const taken = await this.decodeAhead.read(rt, p, from, read)
        const { count, nextOffset, offsets: given, timestamps, marks, decoded } = taken
        // Carried watermarks (a repartition topic's) first: each query takes those past its own offset.
        if (marks !== undefined && marks.length > 0) running.forEach((q, i) => q.takeMarks(bases[i]! + p, marks))
        if (count === 0) {
          if (nextOffset > from) {
            // Offsets without records (Kafka transaction markers): move every query past them.
            running.forEach((q, i) => {
              if (q.offsets[bases[i]! + p]! < nextOffset) q.offsets[bases[i]! + p] = nextOffset
            })
            for (const k of sinks) if (k.offsets[p]! < nextOffset) k.offsets[p] = nextOffset
            moved = true
          }
          continue
        }
        moved = true
        // The next batch is read and decoding on the other thread while the operators take this one.
        this.decodeAhead.readAhead(rt, p, nextOffset, count, read)
        const offsets = new Array<number>(count)
        const ready = await decoded
        const rows = ready === null ? new Array<Row | null>(count) : ready.rows
        for (let i = 0; i < count; i++) {
          const offset = given === undefined ? from + i : given[i]!
          offsets[i] = offset
          if (ready !== null) {
            const err = ready.errors.get(i)
            if (err !== undefined && offset >= rt.deadLetterMark[p]!) this.deliveries.fileDeadLetter(rt, p, offset, taken.record(i), err)
            continue
          }
          const record = taken.record(i)
          try {
            rows[i] = decode(record, p, offset, timestamps === undefined ? null : timestamps[i]!)
          } catch (err) {
            rows[i] = null
            if (offset >= rt.deadLetterMark[p]!) this.deliveries.fileDeadLetter(rt, p, offset, record, err)
          }
        }
        if (nextOffset > rt.deadLetterMark[p]!) rt.deadLetterMark[p] = nextOffset
        const batch = { partition: p, offsets, rows }
        for (let i = 0; i < running.length; i++) {
          // Most triggers take the batch at once (consumeNow): no promise to wait for.
          const pending = running[i]!.consumeNow(bases[i] === 0 ? batch : { ...batch, partition: bases[i]! + p }, nextOffset)
          if (pending !== null) await pending
        }
        await rt.arbiter.settle()
        for (const k of sinks) {
          k.consume(batch, nextOffset)
          k.flushEager()
        }
        this.dirtySinceCheckpoint = true
        if (rt.log.release !== undefined && running.length + sinks.length > 0) {
          rt.log.release(p, Math.min(...running.map((q, i) => q.offsets[bases[i]! + p]!), ...sinks.map((k) => k.offsets[p]!)))
        }
      }
      for (const q of running) {
        q.watermark.advance(this.idleFlags(q))
        if (closedAndRead(q.slots, q.offsets, (name) => this.streams.get(name))) q.watermark.close()
        const pending = q.afterWatermarkNow()
        if (pending !== null) await pending
        q.settle()
      }
    }
    return moved
  }

  /** Per partition of the query: whether it has no unread data (and no append in flight to its stream). */
  private idleFlags(q: ContinuousQuery): boolean[] {
    return q.slots.map((slot, i) => {
      const rt = this.streams.get(slot.stream)
      // Carried watermarks: a slot is a source partition, idle as its writer last said while the source
      // partition still ends where the writer had read to.
      if (q.carried !== null) return q.carried.isIdle(i, rt?.log.carriedSourceEnd?.(slot.partition))
      if (rt === undefined || rt.inFlightAppends > 0) return false
      const o = q.offsets[i]!
      return rt.log.idle !== undefined ? rt.log.idle(slot.partition, o) : o >= rt.log.endOffset(slot.partition)
    })
  }

  private notifyProgress(): void {
    for (const w of this.progressWaiters.splice(0)) w()
    this.changes.stepped()
  }
}
