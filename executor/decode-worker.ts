/**
 * Decoding a stream's records on a second thread. The engine's loop runs every operator on one thread;
 * decoding a JSON record (JSON.parse, the coercions, the row) costs as much as the rest of a simple view's
 * work on the Kafka and log paths. Here a worker thread decodes batches with the stream's own decoder
 * (record-decoder.ts, the same code as on the loop's thread, so the rows are the same) while the loop runs
 * the operators on the batch before.
 *
 * What crosses the threads, both ways in transferred buffers, never one object per record:
 * - to the worker: the records' bytes packed end to end (`packRecords`), with their partition, offsets and
 *   Kafka timestamps;
 * - back: the rows as columns (`DecodedColumns`): numbers as a Float64Array, booleans as bytes, text as
 *   codes into a table of the batch's distinct strings, numerics as their parts; then one status per
 *   record (a row, skipped, or a dead letter with its reason). `rowsFrom` turns them into rows.
 *
 * Only streams whose column types all cross as columns use it (`columnCodecs`); a batch that fails in the
 * worker (or a worker that died) is decoded on the loop's thread as before. Offsets, ordering and dead
 * letters stay the loop's (engine/decode-ahead.ts): the worker only computes.
 */
import { Worker } from 'node:worker_threads'
import { Numeric, type NumKind } from '../common/numeric.ts'
import type { Row, TypeName, Value } from '../common/types.ts'
import type { StreamDef } from '../planner/catalog.ts'
import { DecodeError } from './decode.ts'
import type { StreamDecoder } from './record-decoder.ts'

/** How a column's values cross the threads. */
export type ColumnCodec = 'number' | 'bool' | 'text' | 'numeric'

const CODECS: Partial<Record<TypeName, ColumnCodec>> = {
  int2: 'number',
  int4: 'number',
  int8: 'number',
  float4: 'number',
  float8: 'number',
  timestamptz: 'number',
  timestamp: 'number',
  date: 'number',
  bool: 'bool',
  text: 'text',
  json: 'text',
  jsonb: 'text',
  numeric: 'numeric',
}

/** Each column's codec, or null when one of the stream's types does not cross as a column (decoded in place). */
export function columnCodecs(def: Pick<StreamDef, 'columns'>): ColumnCodec[] | null {
  const out: ColumnCodec[] = []
  for (const c of def.columns) {
    const codec = c.type.element ? undefined : CODECS[c.type.name]
    if (codec === undefined) return null
    out.push(codec)
  }
  return out
}

/** Records end to end in one buffer; `text[i]` is 1 where record i was given as a string (UTF-8 here). */
export interface PackedRecords {
  readonly bytes: Uint8Array
  readonly ends: Int32Array
  readonly text: Uint8Array
}

/**
 * Packs records for the worker. Null when a string record is not well-formed UTF-16 (a lone surrogate would
 * not survive UTF-8): such a batch is decoded in place, so that its rows are exactly what they were.
 */
export function packRecords(records: readonly (Buffer | string)[]): PackedRecords | null {
  let size = 0
  for (const r of records) {
    if (typeof r === 'string') {
      if (!(r as unknown as { isWellFormed(): boolean }).isWellFormed()) return null
      size += Buffer.byteLength(r, 'utf8')
    } else size += r.length
  }
  const bytes = Buffer.allocUnsafeSlow(size)
  const ends = new Int32Array(records.length)
  const text = new Uint8Array(records.length)
  let at = 0
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    if (typeof r === 'string') {
      at += bytes.write(r, at, 'utf8')
      text[i] = 1
    } else {
      bytes.set(r, at)
      at += r.length
    }
    ends[i] = at
  }
  return { bytes, ends, text }
}

/** Record i of a packed batch, as it was given (a string, or a view of the bytes). */
export function packedRecord(p: PackedRecords, i: number): Buffer | string {
  const start = i === 0 ? 0 : p.ends[i - 1]!
  const view = Buffer.from(p.bytes.buffer, p.bytes.byteOffset + start, p.ends[i]! - start)
  return p.text[i] === 1 ? view.toString('utf8') : view
}

/** What a record became. */
export const enum RecordStatus {
  Row = 0,
  /** A record of another event type (the decoder returned null). */
  Skipped = 1,
  /** The decoder threw: `reasons` has the message, `decodeErrors` whether it was a DecodeError. */
  DeadLetter = 2,
}

export type EncodedColumn =
  | { readonly codec: 'number'; readonly values: Float64Array; readonly nulls: Uint8Array }
  | { readonly codec: 'bool'; readonly values: Uint8Array }
  | { readonly codec: 'text'; readonly codes: Int32Array; readonly dictionary: string[] }
  | { readonly codec: 'numeric'; readonly values: ({ u: bigint; s: number; k: NumKind } | null)[] }

export interface DecodedColumns {
  readonly count: number
  readonly status: Uint8Array
  readonly reasons: string[]
  readonly decodeErrors: boolean[]
  readonly columns: EncodedColumn[]
}

const BOOL_NULL = 2

/** Decodes a packed batch (the worker's part); rows of records that are dead letters or skipped hold nothing. */
export function decodeColumns(decode: StreamDecoder, codecs: readonly ColumnCodec[], p: PackedRecords, partition: number, offsets: Float64Array, timestamps: Float64Array | null): DecodedColumns {
  const count = p.ends.length
  const status = new Uint8Array(count)
  const reasons: string[] = []
  const decodeErrors: boolean[] = []
  const rows = new Array<Row | null>(count)
  for (let i = 0; i < count; i++) {
    let row: Row | null = null
    try {
      row = decode(packedRecord(p, i), partition, offsets[i]!, timestamps === null || Number.isNaN(timestamps[i]!) ? null : timestamps[i]!)
      if (row === null) status[i] = RecordStatus.Skipped
    } catch (err) {
      status[i] = RecordStatus.DeadLetter
      reasons.push((err as Error).message)
      decodeErrors.push(err instanceof DecodeError)
    }
    rows[i] = row
  }
  const columns = codecs.map((codec, c): EncodedColumn => {
    switch (codec) {
      case 'number': {
        const values = new Float64Array(count)
        const nulls = new Uint8Array(count)
        for (let i = 0; i < count; i++) {
          const v = rows[i]?.[c] ?? null
          if (v === null) nulls[i] = 1
          else values[i] = v as number
        }
        return { codec, values, nulls }
      }
      case 'bool': {
        const values = new Uint8Array(count)
        for (let i = 0; i < count; i++) {
          const v = rows[i]?.[c] ?? null
          values[i] = v === null ? BOOL_NULL : v ? 1 : 0
        }
        return { codec, values }
      }
      case 'text': {
        const codes = new Int32Array(count)
        const dictionary: string[] = []
        const seen = new Map<string, number>()
        for (let i = 0; i < count; i++) {
          const v = rows[i]?.[c] ?? null
          if (v === null) {
            codes[i] = -1
            continue
          }
          let code = seen.get(v as string)
          if (code === undefined) {
            code = dictionary.push(v as string) - 1
            seen.set(v as string, code)
          }
          codes[i] = code
        }
        return { codec, codes, dictionary }
      }
      case 'numeric':
        return { codec, values: rows.map((r) => (r?.[c] ?? null) as Numeric | null).map((n) => (n === null ? null : { u: n.u, s: n.s, k: n.k })) }
    }
  })
  return { count, status, reasons, decodeErrors, columns }
}

/** The buffers of a decoded batch, to transfer instead of copying. */
export function transferList(d: DecodedColumns): ArrayBuffer[] {
  const out: ArrayBuffer[] = [d.status.buffer as ArrayBuffer]
  for (const c of d.columns) {
    if (c.codec === 'number') out.push(c.values.buffer as ArrayBuffer, c.nulls.buffer as ArrayBuffer)
    else if (c.codec === 'bool') out.push(c.values.buffer as ArrayBuffer)
    else if (c.codec === 'text') out.push(c.codes.buffer as ArrayBuffer)
  }
  return out
}

/** A decoded batch as the loop takes it: a row per record (null: skipped or dead letter) and the errors by index. */
export interface DecodedRows {
  readonly rows: (Row | null)[]
  readonly errors: Map<number, Error>
}

/** The loop's side: the rows of a decoded batch, each as the decoder on this thread would have made it. */
export function rowsFrom(d: DecodedColumns): DecodedRows {
  const n = d.columns.length
  const rows = new Array<Row | null>(d.count)
  const errors = new Map<number, Error>()
  const numerics = d.columns.map((c) => (c.codec === 'numeric' ? c.values.map((v) => (v === null ? null : new Numeric(v.u, v.s, v.k))) : null))
  let e = 0
  for (let i = 0; i < d.count; i++) {
    const s = d.status[i]!
    if (s !== RecordStatus.Row) {
      rows[i] = null
      if (s === RecordStatus.DeadLetter) {
        errors.set(i, d.decodeErrors[e] ? new DecodeError(d.reasons[e]) : new Error(d.reasons[e]))
        e++
      }
      continue
    }
    const row = new Array<Value>(n)
    for (let c = 0; c < n; c++) {
      const col = d.columns[c]!
      switch (col.codec) {
        case 'number':
          row[c] = col.nulls[i] === 1 ? null : col.values[i]!
          break
        case 'bool': {
          const b = col.values[i]!
          row[c] = b === BOOL_NULL ? null : b === 1
          break
        }
        case 'text': {
          const code = col.codes[i]!
          row[c] = code < 0 ? null : col.dictionary[code]!
          break
        }
        case 'numeric':
          row[c] = numerics[c]![i]!
          break
      }
    }
    rows[i] = row
  }
  return { rows, errors }
}

/** A stream as the worker learns it: what its decoder is built from. */
export interface WorkerStream {
  readonly columns: StreamDef['columns']
  readonly metadata: StreamDef['metadata']
  readonly format: StreamDef['format']
}

export type ToWorker =
  | { readonly kind: 'define'; readonly stream: number; readonly def: WorkerStream }
  | { readonly kind: 'decode'; readonly id: number; readonly stream: number; readonly partition: number; readonly records: PackedRecords; readonly offsets: Float64Array; readonly timestamps: Float64Array | null }

export type FromWorker = { readonly id: number; readonly decoded: DecodedColumns } | { readonly id: number; readonly error: string }

/** Starts the worker; under the TypeScript loader (development, tests) the worker registers it first. */
function startWorker(): Worker {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './decode-worker-thread.ts' : './decode-worker-thread.js', import.meta.url).href
  const loader = import.meta.url.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : null
  // An eval'd script, so that this works the same whatever flags the process was started with.
  const boot = `
    const { workerData } = require('node:worker_threads');
    (async () => {
      if (workerData.loader !== null) (await import(workerData.loader)).register();
      await import(workerData.entry);
    })();`
  return new Worker(boot, { eval: true, execArgv: [], workerData: { entry, loader } })
}

/**
 * The engine's decode thread: streams defined once, batches decoded in the order sent. Started on first
 * use; a worker that fails is not restarted (every later batch decodes in place) and says why once.
 */
export class DecodeWorker {
  private worker: Worker | null = null
  private failed: Error | null = null
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (d: DecodedColumns) => void; reject: (err: Error) => void }>()
  private nextStream = 1
  private readonly byDecoder = new WeakMap<object, number>()

  get usable(): boolean {
    return this.failed === null
  }

  /**
   * Decodes records on the worker with the decoder built from `def` (`key` stands for that decoder: the
   * stream runtime). Rejects when the worker cannot (the caller decodes in place).
   */
  decode(key: object, def: WorkerStream, records: readonly (Buffer | string)[], partition: number, offsets: readonly number[], timestamps: readonly number[] | undefined): Promise<DecodedColumns> {
    if (this.failed !== null) return Promise.reject(this.failed)
    const packed = packRecords(records)
    if (packed === null) return Promise.reject(new Error('a record is not well-formed text'))
    const w = this.start()
    let stream = this.byDecoder.get(key)
    if (stream === undefined) {
      stream = this.nextStream++
      this.byDecoder.set(key, stream)
      w.postMessage({ kind: 'define', stream, def: { columns: def.columns, metadata: def.metadata, format: def.format } } satisfies ToWorker)
    }
    const id = this.nextId++
    const offs = Float64Array.from(offsets)
    const stamps = timestamps === undefined ? null : Float64Array.from(timestamps, (t) => t ?? Number.NaN)
    const transfer = [packed.bytes.buffer, packed.ends.buffer, packed.text.buffer, offs.buffer, ...(stamps === null ? [] : [stamps.buffer])] as ArrayBuffer[]
    return new Promise<DecodedColumns>((resolve, reject) => {
      // Held while it has work, so that a process waiting only for an answer does not exit before it.
      if (this.pending.size === 0) w.ref()
      this.pending.set(id, { resolve, reject })
      w.postMessage({ kind: 'decode', id, stream, partition, records: packed, offsets: offs, timestamps: stamps } satisfies ToWorker, transfer)
    })
  }

  async close(): Promise<void> {
    const w = this.worker
    this.worker = null
    this.failed ??= new Error('the decode worker is closed')
    this.rejectAll(this.failed)
    if (w !== null) await w.terminate()
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker
    const w = startWorker()
    w.unref()
    w.on('message', (m: FromWorker) => {
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) w.unref()
      if ('error' in m) p.reject(new Error(m.error))
      else p.resolve(m.decoded)
    })
    const fail = (err: Error): void => {
      if (this.failed === null) console.error(`sluice: the decode thread stopped (${err.message}); records are decoded on the engine's thread`)
      this.failed ??= err
      this.worker = null
      this.rejectAll(err)
    }
    w.on('error', fail)
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)))
    this.worker = w
    return w
  }

  private rejectAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}
