/**
 * Inserts: rows and raw JSON records appended to a stream's embedded log (INSERT, COPY, HTTP ingest), each
 * to the partition of its key, all or nothing across partitions; refused while checkpoints fail or once the
 * stream is closed.
 */
import { SluiceError, SqlState, planError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { StreamLog, partitionFor } from '../log/stream-log.ts'
import { storageError } from '../storage-error.ts'
import { DecodeError, checkRow, encodeRow } from '../decode.ts'
import { recordText } from '../record-text.ts'
import { EnginePart, type StreamRuntime } from './state.ts'
import type { IngestRecord } from './cluster-hooks.ts'

export class Inserts extends EnginePart {
  /** Appends rows (in the stream's column order) to the stream's log. Returns the number of rows. */
  async insert(streamName: string, rows: readonly Row[]): Promise<number> {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const { def } = rt
    if (this.producesToTopic(rt)) {
      const records = rows.map((row) => {
        checkRow(row, def.columns)
        return { key: def.keyColumn === null ? undefined : keyText(row[def.keyColumn] ?? null), value: encodeRow(row, def.columns) }
      })
      return this.produce(rt, records)
    }
    const byPartition: string[][] = Array.from({ length: def.partitions }, () => [])
    let rr = 0
    for (const row of rows) {
      checkRow(row, def.columns)
      const p = def.keyColumn === null ? rr++ % def.partitions : partitionFor(keyText(row[def.keyColumn] ?? null), def.partitions)
      byPartition[p]!.push(encodeRow(row, def.columns))
    }
    return this.appendRaw(rt, byPartition, rows.length)
  }

  /**
   * Appends raw JSON records (HTTP ingest, COPY, a file's lines); malformed ones become dead letters when
   * read. A record given as bytes is stored as given: input read as bytes need not be decoded to text and
   * encoded back (only a keyed stream reads the key's text from it). `tag` is committed with the records
   * in one commit record of the log (stream-log.ts): HTTP ingest's Idempotency-Key and answer.
   */
  async insertJson(streamName: string, records: readonly (string | Buffer)[], tag?: Buffer): Promise<number> {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const { def } = rt
    const byPartition: (string | Buffer)[][] = Array.from({ length: def.partitions }, () => [])
    const keyOf = def.keyColumn === null ? null : jsonKeyExtractor(def.columns[def.keyColumn]!.name)
    if (this.producesToTopic(rt)) return this.produce(rt, records.map((value) => ({ key: keyOf === null ? undefined : keyOf(recordText(value)), value })), tag)
    let rr = 0
    for (const rec of records) {
      const k = keyOf === null ? undefined : keyOf(recordText(rec))
      // Keyless and malformed records go round-robin; the scan files malformed ones as dead letters.
      const p = k === undefined ? rr++ % def.partitions : partitionFor(k, def.partitions)
      byPartition[p]!.push(rec)
    }
    return this.appendRaw(rt, byPartition, records.length, tag)
  }

  /**
   * Which of these raw records the stream's decoder refuses, and why (by index): what HTTP ingest answers
   * before it appends them with insertJson. A refused record is still appended; the scan files it as a
   * dead letter with the same reason, so nothing sent is lost.
   */
  checkRecords(streamName: string, records: readonly (string | Buffer)[]): { index: number; reason: string }[] {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const refused: { index: number; reason: string }[] = []
    for (let i = 0; i < records.length; i++) {
      try {
        rt.decode(records[i]!, 0, 0, null)
      } catch (err) {
        refused.push({ index: i, reason: err instanceof DecodeError ? err.message : `decode failed: ${(err as Error).message}` })
      }
    }
    return refused
  }

  /** Cluster mode: a stream backed by a Kafka topic takes its inserts by producing to the topic (cluster-hooks.ts). */
  private producesToTopic(rt: StreamRuntime): boolean {
    return this.s.clusterIngest !== null && rt.def.source.kind === 'kafka'
  }

  private async produce(rt: StreamRuntime, records: readonly IngestRecord[], tag?: Buffer): Promise<number> {
    if (rt.closed) throw closedStream(rt)
    await this.s.clusterIngest!(rt.def, records, tag)
    return records.length
  }

  private async appendRaw(rt: StreamRuntime, byPartition: (Buffer | string)[][], count: number, tag?: Buffer): Promise<number> {
    const log = rt.log
    if (!(log instanceof StreamLog)) {
      const source = rt.def.source
      throw new SluiceError('plan', SqlState.featureNotSupported, `stream "${rt.def.name}" reads ${source.kind === 'kafka' ? `Kafka topic "${source.topic}"` : source.kind === 'file' ? `file "${source.path}"` : 'another source'}; events are not inserted here`, {
        hint: source.kind === 'file' ? 'Append the events to the file.' : 'Produce the events to the topic.',
      })
    }
    if (this.checkpointFailure !== null) {
      const f = this.checkpointFailure
      throw new SluiceError('execution', f.sqlstate, `${f.message}; events are refused until checkpoints are written again`, {
        hint: 'Free space on the data directory\'s file system: checkpoints are retried by themselves, and ingest resumes when one succeeds.',
      })
    }
    if (rt.closed) throw closedStream(rt)
    rt.inFlightAppends++
    try {
      // All or nothing across partitions (stream-log.ts): a failed append leaves no record behind.
      await log.appendBatch(byPartition, tag)
    } catch (err) {
      throw storageError(`to stream "${rt.def.name}"`, err)
    } finally {
      rt.inFlightAppends--
    }
    this.wake()
    return count
  }
}

/**
 * Finds a top-level key's value in a JSON record without parsing all of it: the text after the one
 * occurrence of `"name":` when it is a number or a plain string (what keys are); otherwise a full parse.
 * Returns the key as `keyText` would print the decoded value, or undefined for malformed records.
 */
export function jsonKeyExtractor(name: string): (record: string) => string | undefined {
  const needle = JSON.stringify(name)
  const plain = /^[\x20-\x7e]*$/.test(name) && !name.includes('"') && !name.includes('\\')
  const slow = (record: string): string | undefined => {
    try {
      const o = JSON.parse(record) as Record<string, unknown> | null
      const v = o !== null && typeof o === 'object' ? o[name] : undefined
      return v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v)
    } catch {
      return undefined
    }
  }
  if (!plain) return slow
  // Another occurrence (a duplicate key) goes the slow way. It is looked for without the opening quote:
  // JSON is full of quotes, and a search for a pattern that starts with one is several times slower.
  const tail = needle.slice(1)
  const occursAgain = (record: string, from: number): boolean => {
    for (let j = record.indexOf(tail, from + 1); j !== -1; j = record.indexOf(tail, j + 1)) if (record.charCodeAt(j - 1) === 34 /* " */) return true
    return false
  }
  return (record) => {
    const at = record.indexOf(needle)
    if (at === -1 || occursAgain(record, at + needle.length)) return slow(record)
    let i = at + needle.length
    while (record.charCodeAt(i) === 32) i++
    if (record.charCodeAt(i) !== 58 /* : */) return slow(record)
    i++
    while (record.charCodeAt(i) === 32) i++
    const c = record.charCodeAt(i)
    if (c === 34 /* " */) {
      const end = record.indexOf('"', i + 1)
      const text = end === -1 ? '' : record.slice(i + 1, end)
      return end === -1 || text.includes('\\') ? slow(record) : text
    }
    let end = i
    while (end < record.length) {
      const d = record.charCodeAt(end)
      if (d === 44 /* , */ || d === 125 /* } */ || d === 32 || d === 10 || d === 13 || d === 9) break
      end++
    }
    const token = record.slice(i, end)
    if (!/^-?\d+$/.test(token)) return slow(record)
    return String(Number(token))
  }
}

function closedStream(rt: StreamRuntime): SluiceError {
  return new SluiceError('execution', SqlState.objectNotInPrerequisiteState, `stream "${rt.def.name}" is closed: its input is finished`, {
    hint: 'A closed stream takes no more events; create a new stream for new input.',
  })
}

/** A key column value as the text Kafka partitions it by (what INSERT and JSON ingest send as the record key). */
export function keyText(v: Value): string {
  return v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
}
