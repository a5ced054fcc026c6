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
import { isAscii } from 'node:buffer'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { Numeric, type NumKind } from '../common/numeric.ts'
import type { Row, TypeName } from '../common/types.ts'
import type { StreamDef } from '../planner/catalog.ts'
import { DecodeError } from './decode.ts'
import type { ByteStreamDecoder, StreamDecoder } from './record-decoder.ts'
import { readKey, type ColumnsRead } from './columns-read.ts'

/** How a column's values cross the threads; `none`: not at all (a column the stream's readers do not read, null). */
export type ColumnCodec = 'number' | 'bool' | 'text' | 'numeric' | 'none'

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

/**
 * Each column's codec, or null when one of the stream's types does not cross as a column (decoded in
 * place); `none` for a column outside `read` (columns-read.ts).
 */
export function columnCodecs(def: Pick<StreamDef, 'columns'>, read: ColumnsRead = null): ColumnCodec[] | null {
  const out: ColumnCodec[] = []
  for (let i = 0; i < def.columns.length; i++) {
    const c = def.columns[i]!
    const codec = c.type.element ? undefined : CODECS[c.type.name]
    if (codec === undefined) return null
    out.push(read === null || read.has(i) ? codec : 'none')
  }
  return out
}

/**
 * Records in one buffer: record i is `bytes[starts[i], ends[i])`; `text[i]` is 1 where it stands for text
 * (a string given, or a file's line: read as UTF-8, invalid sequences as U+FFFD, as the file stream does),
 * 0 for bytes (refused as a dead letter when they are not UTF-8, as the decoder on the loop's thread does).
 */
export interface PackedRecords {
  readonly bytes: Uint8Array
  readonly starts: Int32Array
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
  const starts = new Int32Array(records.length)
  const ends = new Int32Array(records.length)
  const text = new Uint8Array(records.length)
  let at = 0
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    starts[i] = at
    if (typeof r === 'string') {
      at += bytes.write(r, at, 'utf8')
      text[i] = 1
    } else {
      bytes.set(r, at)
      at += r.length
    }
    ends[i] = at
  }
  return { bytes, starts, ends, text }
}

/** The packed bytes as a Buffer (they arrive from the other thread as a plain Uint8Array). */
export function packedBuffer(p: PackedRecords): Buffer {
  return p.bytes instanceof Buffer ? p.bytes : Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength)
}

/** Buffer's own slicers, without toString's lookup of the encoding per call. */
const slicers = Buffer.prototype as unknown as { latin1Slice(this: Buffer, start: number, end: number): string; utf8Slice(this: Buffer, start: number, end: number): string }

/**
 * Record i of a packed batch as the decoder takes it: text as a string, bytes as a view. `ascii`: the whole
 * buffer is ASCII (checked once), so every record is read byte for byte, which is what the decoder would
 * make of it either way.
 */
export function packedRecord(p: PackedRecords, i: number, ascii = false, view = packedBuffer(p)): Buffer | string {
  const start = p.starts[i]!
  const end = p.ends[i]!
  if (ascii || asciiRange(view, start, end)) return slicers.latin1Slice.call(view, start, end)
  if (p.text[i] === 1) return slicers.utf8Slice.call(view, start, end)
  return view.subarray(start, end)
}

/**
 * Whether `bytes[start, end)` is ASCII, by a loop here: for one short record (a Kafka value between record
 * headers, where the whole buffer is not ASCII) cheaper than a view and a call into Node.
 */
function asciiRange(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start
  for (; i + 4 <= end; i += 4) if ((bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]!) >= 0x80) return false
  for (; i < end; i++) if (bytes[i]! >= 0x80) return false
  return true
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
  | {
      readonly codec: 'numeric'
      /** The digits (Numeric.u) where they fit a double exactly; `kinds` says which rows hold what. */
      readonly digits: Float64Array
      readonly scales: Int32Array
      /** NumKind, or NUMERIC_NULL, or NUMERIC_WIDE: the digits are in `wide` (as text), in row order. */
      readonly kinds: Uint8Array
      readonly wide: string[]
    }
  | { readonly codec: 'none' }

export interface DecodedColumns {
  readonly count: number
  readonly status: Uint8Array
  readonly reasons: string[]
  readonly decodeErrors: boolean[]
  readonly columns: EncodedColumn[]
}

const BOOL_NULL = 2
const NUMERIC_NULL = 254
const NUMERIC_WIDE = 255
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER)

/** Empty columns for `count` records. */
function emptyColumn(codec: ColumnCodec, count: number): EncodedColumn {
  switch (codec) {
    case 'number':
      return { codec, values: new Float64Array(count), nulls: new Uint8Array(count) }
    case 'bool':
      return { codec, values: new Uint8Array(count) }
    case 'text':
      return { codec, codes: new Int32Array(count), dictionary: [] }
    case 'numeric':
      return { codec, digits: new Float64Array(count), scales: new Int32Array(count), kinds: new Uint8Array(count), wide: [] }
    case 'none':
      return { codec }
  }
}

/** Writes a row's values into the columns at record i; `seen` maps each text column's values to their codes. */
type RowWriter = (columns: readonly EncodedColumn[], i: number, row: Row, seen: readonly Map<string, number>[]) => void

const writers = new Map<string, RowWriter>()

/** A row writer per column layout, generated (one straight-line statement per column), as `rowBuilder` below. */
function rowWriter(codecs: readonly ColumnCodec[]): RowWriter {
  const key = codecs.join(',')
  let w = writers.get(key)
  if (w !== undefined) return w
  const lines = codecs.map((codec, c) => {
    const col = `columns[${c}]`
    const v = `v${c}`
    const get = `const ${v} = row[${c}] ?? null;`
    switch (codec) {
      case 'number':
        return `${get} if (${v} === null) ${col}.nulls[i] = 1; else ${col}.values[i] = ${v};`
      case 'bool':
        return `${get} ${col}.values[i] = ${v} === null ? ${BOOL_NULL} : ${v} ? 1 : 0;`
      case 'text':
        return `${get} ${col}.codes[i] = ${v} === null ? -1 : code(${col}, seen[${c}], ${v});`
      case 'numeric':
        return `${get} numeric(${col}, i, ${v});`
      case 'none':
        return ''
    }
  })
  w = new Function('code', 'numeric', `return function write(columns, i, row, seen) {\n${lines.join('\n')}\n}`)(textCode, writeNumeric) as RowWriter
  writers.set(key, w)
  return w
}

/** A text value's code in its column's dictionary, added when new. */
function textCode(col: Extract<EncodedColumn, { codec: 'text' }>, seen: Map<string, number>, v: string): number {
  let code = seen.get(v)
  if (code === undefined) {
    code = col.dictionary.push(v) - 1
    seen.set(v, code)
  }
  return code
}

function writeNumeric(col: Extract<EncodedColumn, { codec: 'numeric' }>, i: number, v: Numeric | null): void {
  if (v === null) {
    col.kinds[i] = NUMERIC_NULL
    return
  }
  col.scales[i] = v.s
  if (v.u <= MAX_EXACT && v.u >= -MAX_EXACT) {
    col.digits[i] = Number(v.u)
    col.kinds[i] = v.k
  } else {
    col.kinds[i] = NUMERIC_WIDE
    col.wide.push(v.u.toString())
  }
}

/**
 * Decodes a packed batch (the worker's part) straight into columns, one record at a time; records that are
 * dead letters or skipped leave their rows empty. The buffer is checked for ASCII once, not per record;
 * ASCII records go through `bytes` where the stream has one (the scanner, no string per record).
 */
export function decodeColumns(decode: StreamDecoder, bytes: ByteStreamDecoder | null, codecs: readonly ColumnCodec[], p: PackedRecords, partition: number, offsets: Float64Array, timestamps: Float64Array | null): DecodedColumns {
  const count = p.ends.length
  const status = new Uint8Array(count)
  const reasons: string[] = []
  const decodeErrors: boolean[] = []
  const columns = codecs.map((codec) => emptyColumn(codec, count))
  const write = rowWriter(codecs)
  const seen = codecs.map(() => new Map<string, number>())
  const view = packedBuffer(p)
  const ascii = isAscii(view)
  for (let i = 0; i < count; i++) {
    let row: Row | null = null
    try {
      const stamp = timestamps === null || Number.isNaN(timestamps[i]!) ? null : timestamps[i]!
      const start = p.starts[i]!
      const end = p.ends[i]!
      row = bytes !== null && (ascii || asciiRange(view, start, end)) ? bytes(view, start, end, partition, offsets[i]!, stamp) : decode(packedRecord(p, i, ascii, view), partition, offsets[i]!, stamp)
      if (row === null) status[i] = RecordStatus.Skipped
    } catch (err) {
      status[i] = RecordStatus.DeadLetter
      reasons.push((err as Error).message)
      decodeErrors.push(err instanceof DecodeError)
    }
    if (row !== null) write(columns, i, row, seen)
  }
  return { count, status, reasons, decodeErrors, columns }
}

/** The buffers of a decoded batch, to transfer instead of copying. */
export function transferList(d: DecodedColumns): ArrayBuffer[] {
  const out: ArrayBuffer[] = [d.status.buffer as ArrayBuffer]
  for (const c of d.columns) {
    if (c.codec === 'number') out.push(c.values.buffer as ArrayBuffer, c.nulls.buffer as ArrayBuffer)
    else if (c.codec === 'bool') out.push(c.values.buffer as ArrayBuffer)
    else if (c.codec === 'text') out.push(c.codes.buffer as ArrayBuffer)
    else if (c.codec === 'numeric') out.push(c.digits.buffer as ArrayBuffer, c.scales.buffer as ArrayBuffer, c.kinds.buffer as ArrayBuffer)
  }
  return out
}

/** A decoded batch as the loop takes it: a row per record (null: skipped or dead letter) and the errors by index. */
export interface DecodedRows {
  readonly rows: (Row | null)[]
  readonly errors: Map<number, Error>
}

/** One row of a decoded batch: the columns' values at record i. */
type RowBuilder = (columns: readonly EncodedColumn[], i: number, wide: readonly (readonly bigint[] | null)[], wideAt: Int32Array) => Row

/**
 * A row builder per column layout, generated like the decoder (decode.ts): one array literal with a
 * straight-line expression per column, so that its rows have the shape of the decoder's own (operators
 * downstream see one kind of array, not a holey one filled in a loop).
 */
const builders = new Map<string, RowBuilder>()

function rowBuilder(codecs: readonly ColumnCodec[]): RowBuilder {
  const key = codecs.join(',')
  let b = builders.get(key)
  if (b !== undefined) return b
  const cell = codecs.map((codec, c) => {
    const col = `columns[${c}]`
    switch (codec) {
      case 'number':
        return `(${col}.nulls[i] === 1 ? null : ${col}.values[i])`
      case 'bool':
        return `(${col}.values[i] === ${BOOL_NULL} ? null : ${col}.values[i] === 1)`
      case 'text':
        return `(${col}.codes[i] < 0 ? null : ${col}.dictionary[${col}.codes[i]])`
      case 'numeric':
        return `numeric(${col}, i, wide[${c}], wideAt, ${c})`
      case 'none':
        return 'null'
    }
  })
  b = new Function('numeric', `return function row(columns, i, wide, wideAt) { return [${cell.join(', ')}] }`)(numericAt) as RowBuilder
  builders.set(key, b)
  return b
}

/** The numeric of column `c` at record i (a column's wide values are taken in row order: `wideAt[c]` counts them). */
function numericAt(col: Extract<EncodedColumn, { codec: 'numeric' }>, i: number, wide: readonly bigint[] | null, wideAt: Int32Array, c: number): Numeric | null {
  const k = col.kinds[i]!
  if (k === NUMERIC_NULL) return null
  if (k === NUMERIC_WIDE) return new Numeric(wide![wideAt[c]!++]!, col.scales[i]!)
  return new Numeric(BigInt(col.digits[i]!), col.scales[i]!, k as NumKind)
}

/** The loop's side: the rows of a decoded batch, each as the decoder on this thread would have made it. */
export function rowsFrom(d: DecodedColumns): DecodedRows {
  const rows = new Array<Row | null>(d.count)
  const errors = new Map<number, Error>()
  const build = rowBuilder(d.columns.map((c) => c.codec))
  const wide = d.columns.map((c) => (c.codec === 'numeric' && c.wide.length > 0 ? c.wide.map((t) => BigInt(t)) : null))
  const wideAt = new Int32Array(d.columns.length)
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
    rows[i] = build(d.columns, i, wide, wideAt)
  }
  return { rows, errors }
}

/**
 * Whether a server decodes on a second thread unless told otherwise: where the machine has a second core.
 * On two cores it made a view over a file stream or the embedded log 10-40 % faster (one with costly
 * operators, such as SESSION or HOP windows, gains less) for 5-20 % more CPU and 70-160 MiB more memory
 * (docs/benchmarks.md, "Decoding on a second thread, on by default"). A cluster node leaves it off: its
 * task engines already spread over the cores, and each would start a thread of its own.
 */
export function decodeThreadByDefault(): boolean {
  return availableParallelism() >= 2
}

/** What a stream's decoder is built from. */
export type StreamShape = Pick<StreamDef, 'columns' | 'metadata' | 'format'>

/** A stream as the worker learns it: what its decoder is built from, and the columns its readers read. */
export interface WorkerStream {
  readonly columns: StreamDef['columns']
  readonly metadata: StreamDef['metadata']
  readonly format: StreamDef['format']
  /** The columns the stream's readers read (columns-read.ts); null for all. */
  readonly read: readonly number[] | null
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
  // SLUICE_DECODE_THREAD_PROF=<dir>: the thread writes a CPU profile there (node's --cpu-prof does not reach it).
  const profile = process.env.SLUICE_DECODE_THREAD_PROF
  return new Worker(boot, { eval: true, execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [], workerData: { entry, loader } })
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
  /** The streams defined on the thread: per decoder (`key`), per set of columns read. */
  private readonly byDecoder = new WeakMap<object, Map<string, number>>()

  get usable(): boolean {
    return this.failed === null
  }

  /**
   * Decodes records on the worker with the decoder built from `def` (`key` stands for that decoder: the
   * stream runtime), the columns outside `read` left null. Rejects when the worker cannot (the caller
   * decodes in place).
   */
  decode(key: object, def: StreamShape, read: ColumnsRead, records: readonly (Buffer | string)[], partition: number, offsets: readonly number[], timestamps: readonly number[] | undefined): Promise<DecodedColumns> {
    if (this.failed !== null) return Promise.reject(this.failed)
    const packed = packRecords(records)
    if (packed === null) return Promise.reject(new Error('a record is not well-formed text'))
    return this.decodePacked(key, def, read, packed, partition, offsets, timestamps)
  }

  /**
   * The same for records already packed (a file stream's lines as read). The packed buffers are
   * transferred: the caller keeps no use of them.
   */
  decodePacked(key: object, def: StreamShape, read: ColumnsRead, packed: PackedRecords, partition: number, offsets: readonly number[], timestamps: readonly number[] | undefined): Promise<DecodedColumns> {
    if (this.failed !== null) return Promise.reject(this.failed)
    const w = this.start()
    let sets = this.byDecoder.get(key)
    if (sets === undefined) this.byDecoder.set(key, (sets = new Map()))
    const setKey = readKey(read)
    let stream = sets.get(setKey)
    if (stream === undefined) {
      stream = this.nextStream++
      sets.set(setKey, stream)
      const shape: WorkerStream = { columns: def.columns, metadata: def.metadata, format: def.format, read: read === null ? null : [...read] }
      w.postMessage({ kind: 'define', stream, def: shape } satisfies ToWorker)
    }
    const id = this.nextId++
    const offs = Float64Array.from(offsets)
    let stamps: Float64Array | null = null
    if (timestamps !== undefined) {
      stamps = new Float64Array(timestamps.length)
      for (let i = 0; i < timestamps.length; i++) stamps[i] = timestamps[i] ?? Number.NaN
    }
    const transfer = [packed.bytes.buffer, packed.starts.buffer, packed.ends.buffer, packed.text.buffer, offs.buffer, ...(stamps === null ? [] : [stamps.buffer])] as ArrayBuffer[]
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
