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
  scan(): AsyncIterable<readonly [string, V]>
  readonly size?: number
}
