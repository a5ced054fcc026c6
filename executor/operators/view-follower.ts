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
  /** The entries written since the journal was opened or last drained, with their rows now ([] = none). */
  changed(): Promise<(readonly [string, Row[]])[]>
  close(): void
}

/** The view rows one table entry stands for; `value` undefined means the entry is gone. */
export type EntryRows = (key: string, value: Value[] | undefined) => Row[]

/** Opens the table's journal first, so that no write between the snapshot and the first drain is missed. */
export function followTable(table: KeyedTable, rowsOf: EntryRows): ViewFollower {
  const journal = table.journal()
  return {
    async *entries() {
      for await (const [key, value] of table.scan()) {
        const rows = rowsOf(key, value)
        if (rows.length > 0) yield [key, rows] as const
      }
    },
    async changed() {
      const keys = journal.drain()
      if (keys.length === 0) return []
      await table.load(keys)
      return keys.map((k) => [k, rowsOf(k, table.get(k))] as const)
    },
    close: () => journal.close(),
  }
}
