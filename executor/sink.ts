/**
 * A running sink: what it owes the topic and how far it got. A stream sink reads the stream through the
 * shared scan (its own offsets, like a view) and turns every event into a record; a view sink turns the
 * groups a checkpoint writes into upserts (a tombstone when HAVING hides a group). Records collect until the
 * next checkpoint, which numbers them as one batch and stores it in the outbox in the same RocksDB batch as
 * the state and offsets that produced them; only then is the batch written to the target, in one transaction
 * that also records the batch number there (connectors/kafka-sink.ts, postgres-sink.ts, mysql-sink.ts,
 * file-sink.ts). A batch is deleted from the outbox once the target committed it.
 */
import { toSluiceError, type SluiceError } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import type { SinkDef } from '../planner/sink-plan.ts'
import type { DecodedBatch } from './continuous-query.ts'
import type { SinkRecord, SinkTarget } from './connectors/sink-target.ts'
import { JsonDecimal, rowJson, rowObject } from './decode.ts'

/** A backlog is sent in transactions of about this many records. */
const MAX_RECORDS_PER_TRANSACTION = 100_000

export interface SinkProgress {
  readonly offsets: readonly number[]
  readonly nextBatch: number
  readonly recordsOut: number
}

export class SinkRuntime {
  readonly offsets: number[]
  status: 'running' | 'failed' = 'running'
  lastError: SluiceError | null = null
  private pending: SinkRecord[] = []
  /** Batches made durable by a checkpoint and not yet committed to Kafka, by number. */
  readonly outbox = new Map<number, readonly SinkRecord[]>()
  private nextBatch: number
  recordsOut: number
  batchesDelivered = 0
  private delivering: Promise<void> | null = null
  /** When each outbox batch was made durable (ms), for the lag shown in sluice_sinks. */
  private readonly durableAt = new Map<number, number>()
  private closed = false
  /** At-least-once stream sinks: records sent as they come, before any checkpoint. */
  private eager: Promise<void> = Promise.resolve()

  constructor(
    readonly def: SinkDef,
    partitions: number,
    readonly writer: SinkTarget,
    /** Deletes a delivered batch from the outbox in RocksDB. */
    private readonly forget: (batch: number) => Promise<void>,
    progress?: SinkProgress,
  ) {
    this.offsets = progress ? progress.offsets.slice() : new Array<number>(partitions).fill(0)
    this.nextBatch = progress?.nextBatch ?? 0
    this.recordsOut = progress?.recordsOut ?? 0
  }

  get name(): string {
    return this.def.name
  }

  get pendingBatches(): number {
    return this.outbox.size
  }

  /** How long the oldest batch not yet in the target has waited (ms); 0 when none waits. */
  get lagMs(): number {
    let oldest = Infinity
    for (const t of this.durableAt.values()) oldest = Math.min(oldest, t)
    return oldest === Infinity ? 0 : Date.now() - oldest
  }

  /** Stream sinks: every event not seen yet becomes a record. */
  consume(batch: DecodedBatch, nextOffset: number): void {
    const from = this.offsets[batch.partition]!
    if (from >= nextOffset || this.status !== 'running') return
    for (let i = 0; i < batch.rows.length; i++) {
      const row = batch.rows[i]
      if (batch.offsets[i]! < from || row === null || row === undefined) continue
      this.pending.push(this.record(row, true))
    }
    this.offsets[batch.partition] = nextOffset
  }

  /** View sinks: a group's row as of this checkpoint; a hidden (or deleted) group becomes a tombstone. */
  upsert(row: Row, visible: boolean): void {
    const r = this.record(row, visible)
    this.pending.push(r)
  }

  /** Appended view rows (views without aggregation). */
  append(row: Row): void {
    this.pending.push(this.record(row, true))
  }

  private record(row: readonly Value[], visible: boolean): SinkRecord {
    const columns = this.def.columns
    const o = rowObject(row, columns, true)
    let key: string | null = null
    const keys = this.def.keyColumns
    if (keys.length === 1) {
      const v = o[columns[keys[0]!]!.name]
      key = v === null || v === undefined ? null : typeof v === 'string' ? v : v instanceof JsonDecimal ? v.text : JSON.stringify(v)
    } else if (keys.length > 1) {
      key = rowJson(keys.map((k) => o[columns[k]!.name] ?? null))
    }
    return { key, value: visible ? rowJson(o) : null }
  }

  /**
   * At-least-once stream sinks, after each round: send what came in right away. A checkpoint waits for
   * these sends (`drain`) before it commits the offsets that produced them, so nothing is lost; a crash in
   * between sends them again.
   */
  flushEager(): void {
    if (this.def.delivery !== 'at_least_once' || this.pending.length === 0 || this.status !== 'running') return
    const records = this.pending
    this.pending = []
    this.recordsOut += records.length
    const batch = this.nextBatch
    this.eager = this.eager.then(async () => {
      let backoff = 200
      while (!this.closed) {
        try {
          await this.writer.send(records.map((record) => ({ record, batch })))
          this.lastError = null
          return
        } catch (err) {
          this.lastError = toSluiceError(err)
          await new Promise((r) => setTimeout(r, backoff).unref())
          backoff = Math.min(backoff * 2, 10_000)
        }
      }
    })
  }

  /** Resolves when every eager send has reached Kafka. */
  drain(): Promise<void> {
    return this.eager
  }

  /** At a checkpoint: the records since the last one, numbered as one batch (null when there are none). */
  takeBatch(): { readonly batch: number; readonly records: readonly SinkRecord[] } | null {
    if (this.pending.length === 0) return null
    const batch = this.nextBatch++
    const records = this.pending
    this.pending = []
    this.outbox.set(batch, records)
    this.durableAt.set(batch, Date.now())
    this.recordsOut += records.length
    return { batch, records }
  }

  progress(): SinkProgress {
    return { offsets: this.offsets.slice(), nextBatch: this.nextBatch, recordsOut: this.recordsOut }
  }

  /** Recovery: batches found in the outbox after a restart. */
  restore(batch: number, records: readonly SinkRecord[]): void {
    this.outbox.set(batch, records)
    this.durableAt.set(batch, Date.now())
  }

  /** Drops outbox batches Kafka already has (found by reading the topic back after a restart). */
  async skipDelivered(last: number): Promise<void> {
    for (const batch of [...this.outbox.keys()].sort((a, b) => a - b)) {
      if (batch > last) break
      this.outbox.delete(batch)
      this.durableAt.delete(batch)
      await this.forget(batch)
    }
  }

  /** Writes every durable batch to Kafka in order; called after each checkpoint commit. Retries failures. */
  deliver(): Promise<void> {
    this.delivering ??= this.deliverAll().finally(() => {
      this.delivering = null
    })
    return this.delivering
  }

  private async deliverAll(): Promise<void> {
    let backoff = 200
    while (!this.closed && this.outbox.size > 0) {
      // Everything durable so far, in order, in one transaction (at most ~100k records).
      const numbers = [...this.outbox.keys()].sort((a, b) => a - b)
      const batches: { batch: number; records: readonly SinkRecord[] }[] = []
      let size = 0
      for (const batch of numbers) {
        const records = this.outbox.get(batch)!
        if (batches.length > 0 && size + records.length > MAX_RECORDS_PER_TRANSACTION) break
        batches.push({ batch, records })
        size += records.length
      }
      try {
        await this.writer.deliver(batches)
        for (const { batch } of batches) {
          this.outbox.delete(batch)
          this.durableAt.delete(batch)
          this.batchesDelivered++
          await this.forget(batch)
        }
        this.status = 'running'
        this.lastError = null
        backoff = 200
      } catch (err) {
        this.lastError = toSluiceError(err)
        // Stopped for good (cluster mode: another node registered this task's sink id): nothing more is sent.
        if (this.writer.stopped != null) {
          this.status = 'failed'
          return
        }
        // The target unavailable or refusing: the batches stay in the outbox (durable) and are retried.
        await new Promise((r) => setTimeout(r, backoff).unref())
        backoff = Math.min(backoff * 2, 10_000)
        // A commit whose answer was lost, or batches delivered whose outbox entry was not deleted: what the
        // target has now is asked again, so that they are not sent twice.
        await this.writer
          .lastDelivered()
          .then((last) => this.skipDelivered(last))
          .catch(() => undefined)
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.delivering
    await this.eager
    await this.writer.close()
  }

  /**
   * DROP SINK: closes it, then the target removes what it keeps for itself. A target out of reach keeps
   * that (one progress row, a hidden file): the drop goes on, and the warning names what stayed.
   */
  async drop(): Promise<void> {
    await this.close()
    try {
      await this.writer.drop?.()
    } catch (err) {
      console.error(`sluice: DROP SINK ${this.name}: could not remove its progress from the target: ${(err as Error).message}`)
    }
  }
}
