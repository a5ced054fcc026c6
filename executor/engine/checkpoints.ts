/**
 * Checkpoints: every query's dirty state, its offsets and watermark, sink outbox batches and progress, late
 * events and dead letters in one atomic RocksDB batch. The loop asks for one between rounds (maybeCheckpoint),
 * callers of checkpoint() wait for it; a failed one leaves the engine degraded until one lands again.
 */
import { statfs } from 'node:fs/promises'
import { SluiceError, SqlState } from '../../common/errors.ts'
import { storageError } from '../storage-error.ts'
import { type Mutation } from '../state/rocks.ts'
import { jsonCodec } from '../state/codec.ts'
import { DEAD_LETTER_PREFIX, EnginePart, EngineState, LATE_PREFIX, PROGRESS_PREFIX, RECOVERY_FREE_BYTES, SINK_DRAIN_MS, SINK_PROGRESS_PREFIX, outboxKey, replaceInfinity, sleep } from './state.ts'
import { type Deliveries } from './deliveries.ts'

export class Checkpoints extends EnginePart {
  constructor(s: EngineState, private readonly deliveries: Deliveries) {
    super(s)
  }

  /**
   * Writes all dirty state, offsets and watermarks in one atomic batch; resolves once it is durable.
   * While the loop runs, the batch is built by the loop between two rounds, where every query's state
   * and offsets agree; the write then overlaps with further processing.
   */
  checkpoint(): Promise<void> {
    if (this.loopDone === null || this.stopped) return this.checkpointNow()
    return new Promise<void>((resolve, reject) => {
      this.checkpointRequests.push({ resolve, reject })
      this.wake()
    })
  }

  async checkpointNow(): Promise<void> {
    await this.commitInFlight
    for (const sink of this.sinks.values()) await Promise.race([sink.drain(), sleep(SINK_DRAIN_MS)])
    for (const table of this.tables.values()) if (table.sizesSettled() !== null) await table.sizesSettled()
    if (!(await this.stateStoreReady())) throw this.checkpointFailure
    await this.commitBatch(this.buildCheckpoint())
  }

  /**
   * After a failed checkpoint: once the data directory has room again, RocksDB is opened anew (after a
   * failed write it refuses every other until then) so that the next checkpoint can land. False while
   * there is still no room, or the store would not open.
   */
  private async stateStoreReady(): Promise<boolean> {
    if (this.checkpointFailure === null) return true
    try {
      const { bavail, bsize } = await statfs(this.options.dataDir)
      if (bavail * bsize < RECOVERY_FREE_BYTES) return false
      await this.db.reopen()
      return true
    } catch (err) {
      console.error(`sluice: the state store could not be opened again: ${(err as Error).message}`)
      return false
    }
  }

  /** Called by the loop between rounds: starts a checkpoint when one is due or asked for. */
  async maybeCheckpoint(moved: boolean): Promise<void> {
    if (this.checkpointHolds > 0) return
    const requests = this.checkpointRequests.splice(0)
    const overBudget = this.budget.overBudgetDirty()
    const due = this.dirtySinceCheckpoint && (!moved || Date.now() - this.lastCheckpoint >= this.checkpointIntervalMs)
    if (requests.length === 0 && !overBudget && !due) return
    // At-least-once sinks: what they sent eagerly must be in Kafka before the offsets behind it commit.
    for (const sink of this.sinks.values()) await sink.drain()
    // One write in flight at a time; wait for it only when the checkpoint cannot be put off.
    if (this.budget.commitsInFlight > 0) {
      if (requests.length === 0 && !overBudget) return
      await this.commitInFlight
    }
    // Sizes of entries written without being read are looked up before the checkpoint replaces them (max_state).
    for (const table of this.tables.values()) if (table.sizesSettled() !== null) await table.sizesSettled()
    if (!(await this.stateStoreReady())) {
      requests.forEach((r) => r.reject(this.checkpointFailure))
      return
    }
    const write = this.commitBatch(this.buildCheckpoint())
    write.then(
      () => requests.forEach((r) => r.resolve()),
      (err: unknown) => {
        console.error(`sluice: checkpoint failed: ${(err as Error).stack ?? String(err)}`)
        requests.forEach((r) => r.reject(err))
      },
    )
  }

  /** Collects every dirty entry, offsets, watermarks, late events and dead letters; synchronous. */
  private buildCheckpoint(): Mutation[] {
    const mutations: Mutation[] = this.pendingMutations
    this.pendingMutations = []
    this.deliveries.captureViewChanges()
    // Each operator writes its own state (its table, a sliced view's slices); the per-key state the
    // triggers of a stream share is the stream's. Together they are every table the engine opened.
    for (const q of this.queries.values()) q.operator.checkpoint(mutations)
    for (const keyStates of this.triggerKeyStates.values()) keyStates.checkpoint(mutations)
    for (const sink of this.sinks.values()) {
      const out = sink.takeBatch()
      if (out !== null) mutations.push({ kind: 'put', key: Buffer.from(outboxKey(sink.def.id, out.batch)), value: jsonCodec.encode(out.records) })
      mutations.push({ kind: 'put', key: Buffer.from(`${SINK_PROGRESS_PREFIX}${sink.def.id}`), value: jsonCodec.encode(sink.progress()) })
    }
    for (const q of this.queries.values()) {
      mutations.push({ kind: 'put', key: Buffer.from(`${PROGRESS_PREFIX}${q.view.id}`), value: Buffer.from(JSON.stringify(q.progress(), replaceInfinity)) })
      for (const late of q.pendingLate.splice(0)) {
        // (An interval join's late events name their stream: the same position may be in both.)
        const key = `${LATE_PREFIX}${q.view.id}/${late.stream === undefined ? '' : `${late.stream}/`}${String(late.partition).padStart(5, '0')}/${String(late.offset).padStart(16, '0')}`
        mutations.push({ kind: 'put', key: Buffer.from(key), value: jsonCodec.encode({ ...late, query: q.name, stream: late.stream ?? q.view.plan.source.name }) })
      }
    }
    for (const d of this.pendingDeadLetters.splice(0)) {
      const streamId = this.catalog.get(d.stream)?.id ?? this.triggers.get(d.stream)?.def.id ?? 0
      const key = `${DEAD_LETTER_PREFIX}${streamId}/${String(d.partition).padStart(5, '0')}/${String(d.offset).padStart(16, '0')}`
      mutations.push({ kind: 'put', key: Buffer.from(key), value: jsonCodec.encode(d) })
    }
    this.dirtySinceCheckpoint = false
    this.lastCheckpoint = Date.now()
    return mutations
  }

  private commitBatch(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve()
    this.budget.commitsInFlight++
    const started = performance.now()
    const write = this.db
      .commit(mutations)
      .then(
        () => {
          this.metrics.checkpointSeconds.observe((performance.now() - started) / 1000)
          if (this.checkpointFailure !== null) console.error('sluice: checkpoints are written again')
          this.checkpointFailure = null
        },
        (err: unknown) => {
          this.metrics.checkpointFailures++
          this.checkpointFailed(mutations, err)
          throw this.checkpointFailure ?? err
        },
      )
      .finally(() => {
        this.budget.commitsInFlight--
        // Landed: the tables forget the copies they kept of what it wrote (after a failure they keep them, to write again).
        if (this.checkpointFailure === null && this.budget.commitsInFlight === 0) for (const table of this.tables.values()) table.commitLanded()
      })
    this.commitInFlight = write.catch(() => undefined)
    // The outbox batches in this commit are durable once it lands: hand them to Kafka.
    void write.then(
      () => {
        for (const sink of this.sinks.values()) if (sink.pendingBatches > 0) void sink.deliver()
      },
      () => undefined,
    )
    return write
  }

  /**
   * Nothing of a failed checkpoint reached RocksDB (a write batch is all or nothing): its entries are dirty
   * again and its other writes (offsets, outbox batches, dead letters) go first in the next one, so a later
   * checkpoint that succeeds holds everything. Until one does, the engine is degraded: sluice_queries says
   * so, and ingest is refused, since events taken in now could only pile up in memory.
   */
  private checkpointFailed(mutations: Mutation[], err: unknown): void {
    for (const table of this.tables.values()) table.restoreUnflushed()
    this.pendingMutations = mutations.concat(this.pendingMutations)
    this.dirtySinceCheckpoint = true
    const failure = storageError('a checkpoint', err)
    const cause = (err as { cause?: { message?: string } }).cause?.message
    this.checkpointFailure =
      failure instanceof SluiceError ? failure : new SluiceError('execution', SqlState.ioError, `could not write a checkpoint: ${(err as Error).message}${cause ? `: ${cause}` : ''}`, { cause: err })
  }
}
