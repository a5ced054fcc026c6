/**
 * What an operator needs from its state: the typed, cached table of the state store (executor/state).
 * Keys are the string form of the encoded key; `load` fetches all missing keys of a micro-batch at once.
 */
import type { Value } from '../../common/types.ts'

export interface KeyedTable<V = Value[]> {
  load(keys: readonly string[]): Promise<void>
  get(key: string): V | undefined
  set(key: string, value: V): void
  delete(key: string): void
  /**
   * Writes a key the operator never reads back with `get` (a record of what it did, such as an audit row):
   * it skips the cache and goes to the next checkpoint as it is; `scan` still sees it. `rows`: how many
   * rows the value holds (a batch's), which is what the engine's limit on such writes counts.
   */
  append(key: string, value: V, rows?: number): void
  scan(): AsyncIterable<readonly [string, V]>
  /** Starts recording which keys are written from now on (for live results); see TableJournal. */
  journal(): TableJournal
  readonly size?: number
}

/**
 * The keys a table wrote since the journal was last drained: what a subscriber to a view re-reads instead
 * of the whole table. Costs nothing while no journal is open.
 */
export interface TableJournal {
  /** The keys written (set, deleted or appended) since the last drain, each once. */
  drain(): string[]
  close(): void
}
