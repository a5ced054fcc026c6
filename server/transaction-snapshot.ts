/**
 * Transaction snapshots: what `pg_dump -j N` needs to dump one database from N + 1 connections that all
 * see the same rows. The leader runs `SELECT pg_export_snapshot()` in its REPEATABLE READ transaction;
 * each worker runs `SET TRANSACTION SNAPSHOT '<id>'` first in its own, then COPYs its tables.
 *
 * A Sluice snapshot is the committed end of every stream's log, partition by partition, at one moment:
 * appends commit atomically per stream (executor/log/stream-log.ts) and offsets only grow, so reading each
 * partition up to those ends gives exactly the events committed then, however many were appended since.
 * A REPEATABLE READ or SERIALIZABLE transaction block takes its snapshot at its first read of a stream (or
 * at pg_export_snapshot()) and reads every stream as of it until it ends; a transaction that imports a
 * snapshot reads the exporter's. Read committed reads go to the current end, as before. Materialized views
 * are maintained continuously and are read as they are now in either case (a dump recreates them with
 * REFRESH, from the dumped rows, so their dumped contents agree with the streams'). A stream created after
 * the snapshot is read whole.
 *
 * An exported snapshot can be imported until the exporting transaction ends (as in PostgreSQL), or its
 * session closes; at most MAX_EXPORTED are held at once, the oldest forgotten first.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Engine } from '../executor/engine.ts'

export { TRANSACTION_SNAPSHOT } from '../parser/translate/settings.ts'

/** Per stream, the committed end of each partition. */
export type StreamEnds = ReadonlyMap<string, readonly number[]>

const MAX_EXPORTED = 1000

/** Exported snapshots by id, per engine. */
const exported = new WeakMap<Engine, Map<string, StreamEnds>>()
let exports = 0

function registry(engine: Engine): Map<string, StreamEnds> {
  let m = exported.get(engine)
  if (m === undefined) exported.set(engine, (m = new Map()))
  return m
}

/** Every stream's committed ends now. */
function currentEnds(engine: Engine): StreamEnds {
  const ends = new Map<string, number[]>()
  for (const def of engine.catalog.streams()) {
    const rt = engine.streamRuntime(def.name)
    if (rt !== undefined) ends.set(def.name, Array.from({ length: def.partitions }, (_, p) => rt.log.endOffset(p)))
  }
  return ends
}

/** What the snapshot needs to know of its session's transaction. */
export interface TransactionState {
  /** Inside a transaction block (BEGIN). */
  readonly inBlock: boolean
  /** transaction_isolation as set now. */
  readonly isolation: string
}

export class TransactionSnapshot {
  private pinned: StreamEnds | null = null
  /** Ids this session exported in the open transaction. */
  private readonly mine: string[] = []

  constructor(
    private readonly engine: Engine,
    private readonly pid: number,
    private readonly transaction: () => TransactionState,
  ) {}

  /** Ends to read `stream` to under the transaction's snapshot; undefined: to its current end. */
  ends(stream: string): readonly number[] | undefined {
    const t = this.transaction()
    if (!t.inBlock || !repeatable(t.isolation)) return undefined
    this.pinned ??= currentEnds(this.engine)
    return this.pinned.get(stream)
  }

  /**
   * pg_export_snapshot(): the id of the transaction's snapshot, taken now if it has none yet. Outside a
   * transaction block the snapshot ends with the statement, as in PostgreSQL: nothing can import it.
   */
  export(): string {
    const id = `${hex(this.pid)}-${hex(++exports)}-1`
    if (!this.transaction().inBlock) return id
    this.pinned ??= currentEnds(this.engine)
    const all = registry(this.engine)
    all.set(id, this.pinned)
    this.mine.push(id)
    while (all.size > MAX_EXPORTED) all.delete(all.keys().next().value!)
    return id
  }

  /** A statement that reads (a query, COPY TO) begins: a REPEATABLE READ transaction takes its snapshot now. */
  statement(): void {
    const t = this.transaction()
    if (t.inBlock && repeatable(t.isolation)) this.pinned ??= currentEnds(this.engine)
  }

  /** SET TRANSACTION SNAPSHOT 'id', with PostgreSQL's errors. */
  import(id: string): void {
    const t = this.transaction()
    if (!t.inBlock || !repeatable(t.isolation)) {
      throw new SluiceError('plan', SqlState.featureNotSupported, 'a snapshot-importing transaction must have isolation level SERIALIZABLE or REPEATABLE READ', {
        hint: 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ before SET TRANSACTION SNAPSHOT.',
      })
    }
    if (this.pinned !== null) throw new SluiceError('execution', SqlState.activeSqlTransaction, 'SET TRANSACTION SNAPSHOT must be called before any query')
    // An id that is not (or no longer) exported is as invalid as one of the wrong form, as in PostgreSQL.
    const ends = registry(this.engine).get(id)
    if (ends === undefined) throw new SluiceError('execution', SqlState.invalidParameterValue, `invalid snapshot identifier: "${id}"`)
    this.pinned = ends
  }

  /** The transaction ended (COMMIT, ROLLBACK) or the session closed: its snapshot and exports go. */
  end(): void {
    this.pinned = null
    const all = registry(this.engine)
    for (const id of this.mine.splice(0)) all.delete(id)
  }
}

const repeatable = (isolation: string): boolean => {
  const i = isolation.toLowerCase()
  return i === 'repeatable read' || i === 'serializable'
}

const hex = (n: number): string => (n >>> 0).toString(16).toUpperCase().padStart(8, '0')
