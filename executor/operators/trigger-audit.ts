/**
 * A trigger's audit: every candidate firing with its event (source position and time), key, and outcome
 * (the decision and its reason). The firings a trigger decides are kept in few entries of its state table
 * rather than one entry each: with many triggers on a stream the entries (their keys, cache slots and
 * encodings at a checkpoint) were most of what a firing cost. A firing is encoded as it is decided, into
 * the bytes of its partition's chunk, so that no object per firing or batch lives on (they are what the
 * garbage collector had to copy and promote with a thousand triggers); a partition's chunk waits for the
 * next checkpoint (or a read of the audit) and becomes one entry, under the source position of its first
 * firing. The entry
 * is written with the trigger's per-key state and offsets in the same checkpoint, so after a crash the
 * events are decided again from the last checkpoint and none is lost or doubled. Entries written in the
 * earlier layouts (one firing each; one batch of flat values) are still read.
 *
 * Entry value: [AUDIT_PACKED, chunk, chunk, ...]; a chunk is the rowCodec bytes of [key column count n,
 * then per firing: offset, event time, n key values, outcome code, payload].
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { rowCodec } from '../state/codec.ts'
import { isPositionKey, positionPartition } from '../state/layout.ts'
import type { KeyedTable } from './keyed-table.ts'

/**
 * What became of a candidate firing. A webhook firing is decided `pending` (handed to delivery) and ends
 * `delivered` (the receiver answered 2xx) or `failed` (refused, redirected, or out of retries); that end is
 * kept apart from the batch's entry (see TriggerFire) and shown in its place.
 */
export type FiringOutcome = 'delivered' | 'held_out' | 'suppressed_cooldown' | 'suppressed_cap' | 'suppressed_priority' | 'inactive' | 'pending' | 'failed'

/** Outcome codes as stored: the index in this list. Only ever append (stored entries keep their codes). */
export const OUTCOMES: readonly FiringOutcome[] = ['delivered', 'held_out', 'suppressed_cooldown', 'suppressed_cap', 'suppressed_priority', 'inactive', 'pending', 'failed']

export const enum Outcome {
  Delivered = 0,
  HeldOut = 1,
  SuppressedCooldown = 2,
  SuppressedCap = 3,
  SuppressedPriority = 4,
  Inactive = 5,
  Pending = 6,
  Failed = 7,
}

/** Marks an entry of flat firings of one batch (entries of the first layout begin with the event time, a number). */
export const AUDIT_BATCH = 'audit/1'
/** Marks an entry of encoded chunks of firings (the layout written now). */
export const AUDIT_PACKED = 'audit/2'

/** Values per firing in an entry besides its key values: offset, time, outcome, payload. */
const FIXED = 4

/** One decided firing, as the audit gives it back. */
export interface AuditedFiring {
  /** Source offset of the event (null in entries of the earlier layout, which kept it in the key only). */
  readonly offset: number | null
  readonly time: number
  readonly key: Value[]
  readonly outcome: FiringOutcome
  readonly payload: Value
}

/**
 * The firings of one partition since the last checkpoint, written straight into the bytes of an encoded chunk
 * (rowCodec's format: the count of values, then each value tagged) as they are decided: no array of values
 * per batch and no buffer per batch, the buffer reused from checkpoint to checkpoint. A chunk holds one
 * count of key columns; a firing with another count (an ALTER between batches) starts a new chunk.
 */
class ChunkWriter {
  buf = Buffer.allocUnsafe(256)
  pos = 0
  /** Values written, the count of key columns first. */
  count = 0
  /** The count of key columns of the chunk under way (-1: none under way). */
  n = -1
  /** The source offset of the first firing waiting. */
  first = -1
  /** Chunks done, waiting for the checkpoint. */
  readonly done: Buffer[] = []

  start(n: number): void {
    if (this.n >= 0) this.finish()
    this.n = n
    this.pos = 4
    this.count = 0
    this.number(n)
  }

  /** The chunk under way as a buffer of its own (the count of values written into its head). */
  finish(): void {
    if (this.n < 0) return
    this.buf.writeUInt32LE(this.count, 0)
    this.done.push(Buffer.from(this.buf.subarray(0, this.pos)))
    this.n = -1
    // A burst of firings does not keep its large buffer for good.
    if (this.buf.length > 1 << 16) this.buf = Buffer.allocUnsafe(256)
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  number(v: number): void {
    this.count++
    this.reserve(9)
    if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
      const buf = this.buf
      const at = this.pos
      buf[at] = TAG_INT32
      buf[at + 1] = v & 0xff
      buf[at + 2] = (v >>> 8) & 0xff
      buf[at + 3] = (v >>> 16) & 0xff
      buf[at + 4] = v >>> 24
      this.pos = at + 5
    } else {
      this.buf[this.pos] = TAG_FLOAT64
      this.buf.writeDoubleLE(v, this.pos + 1)
      this.pos += 9
    }
  }

  value(v: Value): void {
    if (typeof v === 'number') return this.number(v)
    if (typeof v === 'string') return this.string(v)
    this.count++
    if (v === null || v === undefined || v === false || v === true) {
      this.reserve(1)
      this.buf[this.pos++] = v === true ? TAG_TRUE : v === false ? TAG_FALSE : TAG_NULL
      return
    }
    // Anything else as the codec writes it (its bytes after the count of a one-value row).
    const bytes = rowCodec.encode([v]).subarray(4)
    this.reserve(bytes.length)
    bytes.copy(this.buf, this.pos)
    this.pos += bytes.length
  }

  private string(s: string): void {
    this.count++
    const len = s.length
    this.reserve(5 + len * 3)
    const buf = this.buf
    const at = this.pos + 5
    // Short ASCII text (ids, most payloads) byte by byte; the rest through Buffer's UTF-8 encoder.
    let n = 0
    if (len <= 64) {
      for (; n < len; n++) {
        const c = s.charCodeAt(n)
        if (c >= 0x80) break
        buf[at + n] = c
      }
    }
    if (n < len) n = buf.write(s, at, 'utf8')
    buf[this.pos] = TAG_STRING
    buf.writeUInt32LE(n, this.pos + 1)
    this.pos = at + n
  }
}

/** rowCodec's tags (executor/state/codec.ts) for the values a firing mostly has. */
const TAG_NULL = 0
const TAG_FALSE = 1
const TAG_TRUE = 2
const TAG_INT32 = 3
const TAG_FLOAT64 = 4
const TAG_STRING = 5

/**
 * The firings decided since the last checkpoint, encoded as they are added, per source partition. `add` per
 * firing, `seal` at the end of each batch, `flush` into the table before a checkpoint collects it (and
 * before the audit is read).
 */
export class AuditLog {
  /** Per partition, its firings waiting. */
  private readonly pending = new Map<number, ChunkWriter>()
  /** The partition of the last firing, and its writer. */
  private partition = -1
  private writer: ChunkWriter | null = null

  /** Firings' values and chunks waiting (0: nothing to flush; for tests and stats). */
  get size(): number {
    let n = 0
    for (const w of this.pending.values()) n += w.done.length + (w.n >= 0 ? w.count : 0)
    return n
  }

  /** Records a firing: `row[keyIndexes[i]]` are its key values. */
  add(partition: number, offset: number, time: number, row: Row, keyIndexes: readonly number[], outcome: Outcome, payload: Value): void {
    let w = this.writer
    if (w === null || partition !== this.partition) {
      w = this.pending.get(partition) ?? null
      if (w === null) this.pending.set(partition, (w = new ChunkWriter()))
      this.partition = partition
      this.writer = w
    }
    const n = keyIndexes.length
    if (w.n !== n) {
      if (w.n < 0 && w.done.length === 0) w.first = offset
      w.start(n)
    }
    w.number(offset)
    w.number(time)
    for (let k = 0; k < n; k++) w.value(row[keyIndexes[k]!] ?? null)
    w.number(outcome)
    w.value(payload)
  }

  /** The batch is done. (Its firings are encoded already; kept so that callers mark the end of a batch.) */
  seal(): void {}

  /** Appends one entry per partition with firings waiting, under its first firing's position, and starts anew. */
  flush(table: Pick<KeyedTable, 'append'>, encodePosition: (partition: number, offset: number) => string): void {
    for (const [partition, w] of this.pending) {
      w.finish()
      if (w.done.length === 0) continue
      table.append(encodePosition(partition, w.first), [AUDIT_PACKED, ...w.done])
      w.done.length = 0
    }
  }
}

/** The firings of one stored entry, in order: packed chunks, a batch of flat values, or a single firing of the first layout. */
export function* firingsOf(value: readonly Value[]): Generator<AuditedFiring> {
  if (value[0] === AUDIT_PACKED) {
    for (let c = 1; c < value.length; c++) yield* flatFirings(rowCodec.decode(value[c] as Buffer), 0)
    return
  }
  if (value[0] !== AUDIT_BATCH) {
    const [time, key, outcome, payload] = value
    yield { offset: null, time: time as number, key: Array.isArray(key) ? (key as Value[]) : [], outcome: outcome as FiringOutcome, payload: payload ?? null }
    return
  }
  yield* flatFirings(value, 1)
}

/** Firings as flat values from `at`: key column count n, then per firing offset, time, n keys, outcome, payload. */
function* flatFirings(value: readonly Value[], at: number): Generator<AuditedFiring> {
  const n = value[at] as number
  const stride = FIXED + n
  for (let i = at + 1; i + stride <= value.length; i += stride) {
    yield {
      offset: value[i] as number,
      time: value[i + 1] as number,
      key: value.slice(i + 2, i + 2 + n) as Value[],
      outcome: outcomeOf(value[i + 2 + n] ?? null),
      payload: value[i + 3 + n] ?? null,
    }
  }
}

function outcomeOf(code: Value): FiringOutcome {
  const o = OUTCOMES[code as number]
  if (o === undefined) throw internalError(`unknown trigger outcome code ${String(code)} in the audit`)
  return o
}

/**
 * Audit rows, [event time, key values, outcome, payload], in source position order. A `pending` firing
 * shows its end when `ends` has one (keyed `partition:offset`).
 */
export async function* auditRows(table: KeyedTable, ends: ReadonlyMap<string, FiringOutcome> = new Map()): AsyncGenerator<Row> {
  for await (const [key, value] of table.scan()) {
    if (!isPositionKey(key)) continue
    const partition = positionPartition(key)
    for (const f of firingsOf(value)) {
      const outcome = f.outcome === 'pending' && f.offset !== null ? (ends.get(`${partition}:${f.offset}`) ?? 'pending') : f.outcome
      yield [f.time, f.key, outcome, f.payload]
    }
  }
}

/**
 * Whether an outcome counts as a firing for cooldown and caps (it went out, or would have but for the
 * holdout): a webhook that then failed was still fired.
 */
export const fired = (o: FiringOutcome): boolean => o === 'delivered' || o === 'held_out' || o === 'pending' || o === 'failed'
