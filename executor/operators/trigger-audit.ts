/**
 * A trigger's audit: every candidate firing with its event (source position and time), key, and outcome
 * (the decision and its reason). The firings a trigger decides are kept in few entries of its state table
 * rather than one entry each: with many triggers on a stream the entries (their keys, cache slots and
 * encodings at a checkpoint) were most of what a firing cost. A batch's firings are encoded as one chunk
 * when the batch is done, so that no object per firing lives on (they are what the garbage collector had
 * to copy and promote with a thousand triggers); the chunks of a partition wait for the next checkpoint (or
 * a read of the audit) and become one entry, under the source position of their first firing. The entry
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
 * The firings decided since the last checkpoint: those of the batch under way as values, the earlier ones
 * encoded, per source partition. `add` per firing, `seal` at the end of each batch, `flush` into the table
 * before a checkpoint collects it (and before the audit is read).
 */
export class AuditLog {
  /** The batch under way: [n, then per firing its values], reused from batch to batch. */
  private readonly values: Value[] = []
  private partition = -1
  private first = -1
  /** Per partition: the offset of the first firing waiting, and the encoded chunks. */
  private readonly pending = new Map<number, { first: number; chunks: Value[] }>()

  /** Firings of the batch under way plus encoded chunks waiting (for tests and stats). */
  get size(): number {
    let n = this.values.length
    for (const p of this.pending.values()) n += p.chunks.length
    return n
  }

  /** Records a firing: `row[keyIndexes[i]]` are its key values. */
  add(partition: number, offset: number, time: number, row: Row, keyIndexes: readonly number[], outcome: Outcome, payload: Value): void {
    const v = this.values
    if (v.length > 0 && partition !== this.partition) this.seal()
    if (v.length === 0) {
      this.partition = partition
      this.first = offset
      v.push(keyIndexes.length)
    }
    v.push(offset, time)
    for (let k = 0; k < keyIndexes.length; k++) v.push(row[keyIndexes[k]!] ?? null)
    v.push(outcome, payload)
  }

  /** The batch is done: its firings become one encoded chunk of their partition's entry-to-be. */
  seal(): void {
    const v = this.values
    if (v.length === 0) return
    const chunk = rowCodec.encode(v)
    v.length = 0
    const p = this.pending.get(this.partition)
    if (p === undefined) this.pending.set(this.partition, { first: this.first, chunks: [AUDIT_PACKED, chunk] })
    else p.chunks.push(chunk)
  }

  /** Appends one entry per partition with firings waiting, under its first firing's position, and starts anew. */
  flush(table: Pick<KeyedTable, 'append'>, encodePosition: (partition: number, offset: number) => string): void {
    this.seal()
    if (this.pending.size === 0) return
    for (const [partition, p] of this.pending) table.append(encodePosition(partition, p.first), p.chunks)
    this.pending.clear()
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
