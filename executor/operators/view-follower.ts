/**
 * Live results without re-reading a view: a view's rows are a function of its table's entries (a group, a
 * session's groups, an output row under its source position), so what changed in a step is the rows of the
 * entries the table wrote in it. A follower opens the table's journal, gives the current rows per entry
 * once (the snapshot) and then, on each call of `changed`, the current rows of each entry written since.
 * The subscriber keeps what it sent per entry and diffs that small set.
 */
import type { Row, Value } from '../../common/types.ts'
import type { KeyedTable } from './keyed-table.ts'

export interface ViewFollower {
  /** Every entry with the rows it stands for now (entries that stand for no row are left out). */
  entries(): AsyncIterable<readonly [string, Row[]]>
  /**
   * The entries written since the journal was opened or last drained, with their rows now ([] = none).
   * With `maxRows` (where the follower supports it) it stops after the entry that reaches that many rows and
   * keeps the rest for the next calls, which hand them out before draining the journal again: a subscriber
   * that fell behind reads on from there without holding all the rows at once.
   */
  changed(maxRows?: number): Promise<(readonly [string, Row[]])[]>
  /** Entries drained and kept back by `maxRows`, not yet handed out (absent: never any). */
  readonly backlog?: number
  close(): void
}

/** The view rows one table entry stands for; `value` undefined means the entry is gone. */
export type EntryRows<V = Value[]> = (key: string, value: V | undefined) => Row[]

/** Entries loaded from the table at a time while handing out part of what was written. */
const LOAD_CHUNK = 64

/** Opens the table's journal first, so that no write between the snapshot and the first drain is missed. */
export function followTable<V>(table: KeyedTable<V>, rowsOf: EntryRows<V>): ViewFollower {
  const journal = table.journal()
  // Keys drained from the journal; those from `next` on were kept back by maxRows. An entry written again
  // meanwhile is in the journal too and comes again later, as its rows then (the subscriber diffs, so that
  // costs nothing).
  let drained: string[] = []
  let next = 0
  return {
    async *entries() {
      for await (const [key, value] of table.scan()) {
        const rows = rowsOf(key, value)
        if (rows.length > 0) yield [key, rows] as const
      }
    },
    async changed(maxRows = Number.POSITIVE_INFINITY) {
      if (next >= drained.length) {
        drained = journal.drain()
        next = 0
      }
      const out: (readonly [string, Row[]])[] = []
      let rows = 0
      while (next < drained.length && rows < maxRows) {
        const keys = maxRows === Number.POSITIVE_INFINITY ? drained.slice(next) : drained.slice(next, next + LOAD_CHUNK)
        await table.load(keys)
        for (const k of keys) {
          if (rows >= maxRows) break
          const entry = rowsOf(k, table.get(k))
          out.push([k, entry] as const)
          rows += entry.length
          next++
        }
      }
      if (next >= drained.length) {
        drained = []
        next = 0
      }
      return out
    },
    get backlog() {
      return drained.length - next
    },
    close: () => {
      journal.close()
      drained = []
      next = 0
    },
  }
}
