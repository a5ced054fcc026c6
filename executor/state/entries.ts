/**
 * An operator's table, typed by its entries. The engine opens every operator table with the row codec,
 * which writes any nesting of Values and reads it back as written; every entry type of an operator is such
 * a nesting (a tuple or array of Values). So the table of Value arrays the engine opens is, to the operator,
 * a table of its entries: this is the one place that says so.
 */
import type { Value } from '../../common/types.ts'
import type { KeyedTable } from '../operators/keyed-table.ts'

export function entryTable<E extends Value[]>(table: KeyedTable<Value[]>): KeyedTable<E> {
  return table as KeyedTable<Value[]> as KeyedTable<E>
}
