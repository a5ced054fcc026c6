/**
 * What every sink target offers the sink runtime (executor/sink.ts): numbered batches that checkpoints made
 * durable (the outbox) are handed over in order, and a target writes them so that each is applied exactly
 * once. Kafka commits the batch number in its transaction; a database commits it into a progress table in
 * the same transaction as the rows; files record it beside the file being written (see each target).
 *
 * Records are the sink's JSON records: `value` is the row as a JSON object by column name (null: the key's
 * row is gone), `key` the key columns (one column: its text; several: a JSON array).
 */
import { Types, type Column } from '../../common/types.ts'
import { numericFromJson } from '../decode.ts'

export interface SinkRecord {
  readonly key: string | null
  /** null: a tombstone (the key's row is gone). */
  readonly value: string | null
}

export interface SinkBatch {
  readonly batch: number
  readonly records: readonly SinkRecord[]
}

export interface SinkTarget {
  /** Writes consecutive batches; a batch the target already has (after a crash) is skipped, not written again. */
  deliver(batches: readonly SinkBatch[]): Promise<void>
  /** At-least-once sends (Kafka only; other targets are always exactly once). */
  send(records: readonly { readonly record: SinkRecord; readonly batch: number }[]): Promise<void>
  /** The highest batch the target holds, or -1 when it cannot tell before writing (it then skips inside deliver). */
  lastDelivered(): Promise<number>
  /** Rows the target refused and filed as dead letters since start. */
  readonly deadLetters: number
  /** Set when the target stopped for good (cluster mode: a fenced Kafka sink); deliveries then end. */
  readonly stopped?: Error | null
  close(): Promise<void>
  /**
   * DROP SINK, after `close`: removes what the target keeps for itself (its progress row, unfinished
   * hidden files); the delivered data stays. Not called on shutdown.
   */
  drop?(): Promise<void>
}

/**
 * A record's row as values in column order (JSON values: strings, numbers, booleans, objects, arrays,
 * null); numeric columns as the exact decimal text of the record (JSON.parse alone would round them).
 */
export function recordRow(record: SinkRecord, columns: readonly Column[], keyColumns: readonly number[]): unknown[] {
  if (record.value !== null) {
    const text = record.value
    const o = JSON.parse(text) as Record<string, unknown>
    return columns.map((c) => {
      const v = o[c.name] ?? null
      return typeof v === 'number' && c.type.name === 'numeric' && c.type.element === undefined ? exactNumber(v, text, c.name) : v
    })
  }
  // A tombstone: only the key's values are known.
  const row: unknown[] = new Array<unknown>(columns.length).fill(null)
  if (record.key === null) return row
  const keys = keyColumns.length === 1 ? [record.key] : (JSON.parse(record.key) as unknown[])
  keyColumns.forEach((k, i) => (row[k] = keys[i] ?? null))
  return row
}

/** A numeric column's JSON number as the exact digits written in the record `text`. */
export const exactNumber = (v: number, text: string, column: string): string => numericFromJson(v, text, column, Types.numeric).toString()

/**
 * Later records of a key replace earlier ones (in batch order), so a transaction writes each key once (in
 * the order keys first appeared; keys are independent of each other). Records without a key are kept.
 */
export function latestByKey(batches: readonly SinkBatch[]): SinkRecord[] {
  const byKey = new Map<string, SinkRecord>()
  const keyless: SinkRecord[] = []
  for (const b of batches) {
    for (const r of b.records) {
      if (r.key === null) keyless.push(r)
      else byKey.set(r.key, r)
    }
  }
  return keyless.length === 0 ? [...byKey.values()] : [...byKey.values(), ...keyless]
}

/**
 * A value as the text a database reads for the column's type (null stays null): booleans as t/f, JSON
 * values as JSON text, arrays as PostgreSQL array literals (MySQL: JSON text).
 */
export function valueText(v: unknown, column: Column, arrays: 'postgres' | 'json'): string | null {
  if (v === null || v === undefined) return null
  if (column.type.element !== undefined) return arrays === 'postgres' && Array.isArray(v) ? pgArray(v) : JSON.stringify(v)
  switch (column.type.name) {
    case 'json':
    case 'jsonb':
      return JSON.stringify(v)
    case 'bool':
      return v === true || v === 't' || v === 'true' ? 't' : 'f'
    default:
      return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
  }
}

function pgArray(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL'
    if (Array.isArray(v)) return pgArray(v)
    const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
    return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
  })
  return `{${items.join(',')}}`
}

/** Doubles a PostgreSQL identifier's quotes: `schema.table` → `"schema"."table"`. */
export function quotePgName(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.')
}

/** Backquotes a MySQL identifier: `db.table` → `` `db`.`table` ``. */
export function quoteMyName(name: string): string {
  return name
    .split('.')
    .map((p) => `\`${p.replace(/`/g, '``')}\``)
    .join('.')
}

/** Waits, for retries. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref())
}
