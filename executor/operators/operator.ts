/**
 * The contract every stateful operator of a continuous query keeps (keyed and session aggregation, append
 * projection, window functions, MATCH_RECOGNIZE, trigger firing). The continuous query drives any of them the
 * same way: a batch of prepared rows in (`process`), the watermark moved (`onWatermark`), its state for
 * readers (`rows`, `lookup`, `follow`, `changes`) and for the views that read it (`attachReader`). The
 * engine builds them from plan nodes in one place (build.ts); nothing tells them apart by class.
 */
import type { Row, Value } from '../../common/types.ts'
import type { LateReporter } from './held-rows.ts'
import type { ViewFollower } from './view-follower.ts'
import type { Mutation } from '../state/rocks.ts'

/**
 * A micro-batch as an operator takes it: the rows of one source partition that passed window assignment,
 * the lateness check and the filter, with their source offsets.
 */
export interface OperatorBatch {
  readonly partition: number
  /** Source offset per row (rows of one event share it: HOP puts an event in several windows). */
  readonly offsets: readonly number[]
  readonly rows: readonly Row[]
  /** Over a view whose rows change: +1 for a row added, -1 for one withdrawn; undefined: all added. */
  readonly signs: readonly number[] | undefined
  /**
   * A windowed aggregation: each row's window (or slice) start. Rows of one event in several HOP windows
   * may be one shared array: the operator sets the window columns from this before it reads the row.
   */
  readonly windowStarts: readonly number[] | undefined
  /** The query's watermark before the batch (operators that hold rows by time judge lateness by it). */
  readonly watermark: number
  readonly late: LateReporter
}

/**
 * A micro-batch on its way to the operator, changed in place by the row stages in front of it (lateness,
 * window assignment, WHERE): rows of one source partition, each with its source offset.
 */
export interface RowBatch {
  readonly partition: number
  rows: Row[]
  offsets: number[]
  /** As in OperatorBatch (views over views whose rows change; never windowed). */
  signs: number[] | undefined
  /** Set by window assignment for a windowed aggregation (see OperatorBatch.windowStarts). */
  windowStarts: number[] | undefined
  /**
   * A windowed view with a lookup join: each row's joined view columns, which window assignment appends
   * after the window's (one copy of the row per window instead of two); unwindowed rows carry them already.
   */
  extras: (readonly Value[])[] | undefined
}

/**
 * A stateless step in front of the stateful operator: it keeps, drops (reporting late rows to `late`) or
 * expands the rows of a batch, in place and synchronously, once per batch.
 */
export interface RowStage {
  describe(): string
  /** `watermark`: the query's, before the batch. */
  apply(batch: RowBatch, watermark: number, late: LateReporter): void
}

/** Moves row `from` (with its offset, sign and window start) to `to`: how a stage keeps rows in place. */
export function moveRow(batch: RowBatch, from: number, to: number): void {
  batch.rows[to] = batch.rows[from]!
  batch.offsets[to] = batch.offsets[from]!
  if (batch.signs !== undefined) batch.signs[to] = batch.signs[from]!
  if (batch.windowStarts !== undefined) batch.windowStarts[to] = batch.windowStarts[from]!
  if (batch.extras !== undefined) batch.extras[to] = batch.extras[from]!
}

/** Keeps the first `n` rows of the batch. */
export function truncateRows(batch: RowBatch, n: number): void {
  batch.rows.length = n
  batch.offsets.length = n
  if (batch.signs !== undefined) batch.signs.length = n
  if (batch.windowStarts !== undefined) batch.windowStarts.length = n
  if (batch.extras !== undefined) batch.extras.length = n
}

/** Where an operator writes what a checkpoint changed in its table, for a sink reading the view. */
export interface ChangeSink {
  /** A keyed row now (`visible` false: the group is gone or hidden by HAVING; a delete downstream). */
  upsert(row: Row, visible: boolean): void
  /** An appended row. */
  append(row: Row): void
}

/** Retention / idle_ttl: what one pass over the state deleted, and when the next is due. */
export interface ExpiryPass {
  readonly deleted: number
  readonly next: number
  readonly scanned: number
}

/** A view kept by key (GROUP BY without a window): read by key for point queries and lookup joins. */
export interface KeyedReads {
  /** The view row of each key, null where there is none (or HAVING hides it). */
  lookup(keyValues: readonly Value[][]): Promise<(Row | null)[]>
  /** Takes a batch and gives each event's view row right after it (`passes[i]`: the row got through WHERE). */
  processTracked(rows: readonly Row[], passes: readonly boolean[]): Promise<(Row | null)[]>
}

/**
 * A state table as a checkpoint sees it: its entries written since the last checkpoint go into the
 * checkpoint's batch as puts and deletes, and count as clean from then on (state/table.ts).
 */
export interface CheckpointedTable {
  collectDirty(out: Mutation[]): void
}

export interface StreamOperator {
  /** What it is, for EXPLAIN-like descriptions and error messages (the plan node's name). */
  describe(): string
  /** Views are read back; triggers fire (they count output and name themselves differently). */
  readonly role: 'view' | 'trigger'
  /** Takes one prepared micro-batch into its state. */
  process(batch: OperatorBatch): Promise<void>
  /**
   * `process`, without a promise where nothing has to wait: null when the batch was taken in at once, else
   * what `process` returns. (Triggers: a thousand of them see every batch, and the promises and turns of
   * the async path were a good part of what each cost.)
   */
  processNow?(batch: OperatorBatch): Promise<void> | null
  /**
   * The watermark moved to `watermark`: rows it made final are computed (window functions, patterns) and
   * windows it closed are returned when `forReaders` (views read this one) or when the operator must put
   * them together anyway (sliced HOP windows).
   */
  onWatermark(watermark: number, forReaders: boolean): Promise<Row[]>
  /** True where onWatermark never has work or rows (a trigger): the query's watermark step then waits for nothing. */
  readonly idleOnWatermark?: boolean
  /** The watermark was moved back (ALTER STREAM ... RESET WATERMARK): rows past it are released again. */
  rewindWatermark(watermark: number): void
  /** After a restart: the checkpointed watermark, up to which its windows were put together before. */
  resumeAt(watermark: number): void
  /** Retention and idle_ttl: deletes what the watermark made due; null for operators without them. */
  expire(watermark: number): Promise<ExpiryPass> | null
  /** The view's rows now (windowed on-window-close views: the windows `watermark` closed). */
  rows(watermark: number): AsyncGenerator<Row>
  /** Reads by key; null for operators that keep rows otherwise (and must be read whole). */
  readonly keyed: KeyedReads | null
  /** Live results by table entry (SUBSCRIBE); null where only a full re-read is right. */
  follow(watermark: () => number): ViewFollower | null
  /** The rows one table entry written by a checkpoint stands for, to `sink` (view sinks). */
  changes(key: string, value: Value[], sink: ChangeSink): void
  /** A view (or trigger) reads this one from now on: appending operators give it each row they write. */
  attachReader(collect: (row: Row) => void): void
  /**
   * What a new reader starts from: the rows so far (windowed on-window-close views: the closed windows'); from
   * here on keyed operators keep their changes for `takeChanges` and closed windows for `onWatermark`.
   */
  rowsForReader(watermark: number): Promise<Row[]>
  /** No view reads this one any more. */
  detachReader(): void
  /** Keyed operators read by views: the group changes since the last call, as withdrawals and additions. */
  takeChanges(rows: Row[], signs: number[]): void
  /** Rows held in state waiting for the watermark (window functions, MATCH_RECOGNIZE), else 0. */
  bufferedRows(): number
  /**
   * A checkpoint is being built (between rounds, synchronously): the writes to its state since the last
   * one go into the checkpoint's batch `out`, which also holds every query's offsets and watermark.
   */
  checkpoint(out: Mutation[]): void
}

/**
 * The parts of the contract most operators leave as they are: no rows released by the watermark, no
 * retention, no readers to prepare for. An operator extends this and overrides what it does.
 */
export abstract class OperatorDefaults {
  /** The tables holding its state (given by the builder, build.ts): what its checkpoint writes. */
  private stateTables: readonly CheckpointedTable[] = []

  /** The builder says where the operator's state is (its table, and a sliced HOP view's slices). */
  keepsStateIn(tables: readonly CheckpointedTable[]): this {
    this.stateTables = tables
    return this
  }

  /** The same for every operator: each of its tables' dirty entries (see StreamOperator.checkpoint). */
  checkpoint(out: Mutation[]): void {
    for (const table of this.stateTables) table.collectDirty(out)
  }

  onWatermark(_watermark: number, _forReaders: boolean): Promise<Row[]> {
    return Promise.resolve([])
  }

  rewindWatermark(_watermark: number): void {}

  resumeAt(_watermark: number): void {}

  expire(_watermark: number): Promise<ExpiryPass> | null {
    return null
  }

  attachReader(_collect: (row: Row) => void): void {}

  detachReader(): void {}

  takeChanges(_rows: Row[], _signs: number[]): void {}

  bufferedRows(): number {
    return 0
  }
}

/**
 * An appending operator: readers get each row as it is written, and start from every row so far. A change
 * captured for a sink is the entry as a record (subclasses with batched entries override `changes`).
 */
export abstract class AppendingOperator extends OperatorDefaults {
  protected onOutput: ((row: Row) => void) | null = null

  abstract rows(watermark: number): AsyncGenerator<Row>

  override attachReader(collect: (row: Row) => void): void {
    this.onOutput = collect
  }

  override detachReader(): void {
    this.onOutput = null
  }

  async rowsForReader(watermark: number): Promise<Row[]> {
    const out: Row[] = []
    for await (const r of this.rows(watermark)) out.push(r)
    return out
  }

  changes(_key: string, value: Value[], sink: ChangeSink): void {
    sink.append(value)
  }
}
