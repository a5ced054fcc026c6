/**
 * A trigger's audit: every candidate firing with its event (source position and time), key, and outcome
 * (the decision and its reason). The firings a trigger decides in one micro-batch are kept as one entry
 * of its state table, under the source position of the first of them, rather than one entry each: with
 * many triggers on a stream the entries (their keys, cache slots and encodings at a checkpoint) were most
 * of what a firing cost. The entry is written with the trigger's per-key state and offsets in the same
 * checkpoint, so after a crash the batch is decided again from the last checkpoint and none is lost or
 * doubled. Entries written before this layout (one firing each) are still read.
 *
 * Entry value: [AUDIT_BATCH, key column count n, then per firing: offset, event time, n key values,
 * outcome code, payload]. Flat, so that encoding it makes no array per firing.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
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

/** Marks an entry of many firings (entries of the earlier layout begin with the event time, a number). */
export const AUDIT_BATCH = 'audit/1'

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

/** The firings of one batch while it is being decided: appended as one entry when the batch is done. */
export class AuditBatch {
  private partition = -1
  private first = -1
  private values: Value[] = []

  get size(): number {
    return this.values.length
  }

  /**
   * Records a firing: `row[keyIndexes[i]]` are its key values. Firings of another partition than those
   * recorded so far start a new entry (`flush` first); the caller flushes once per batch.
   */
  add(partition: number, offset: number, time: number, row: Row, keyIndexes: readonly number[], outcome: Outcome, payload: Value): void {
    const v = this.values
    if (v.length === 0) {
      this.partition = partition
      this.first = offset
      v.push(AUDIT_BATCH, keyIndexes.length)
    }
    v.push(offset, time)
    for (let k = 0; k < keyIndexes.length; k++) v.push(row[keyIndexes[k]!] ?? null)
    v.push(outcome, payload)
  }

  /** Whether firings of `partition` can join the entry being built. */
  accepts(partition: number): boolean {
    return this.values.length === 0 || this.partition === partition
  }

  /** Appends the entry (if any firing was recorded) under the first firing's position, and starts anew. */
  flush(table: Pick<KeyedTable, 'append'>, encodePosition: (partition: number, offset: number) => string): void {
    if (this.values.length === 0) return
    table.append(encodePosition(this.partition, this.first), this.values)
    this.values = []
  }
}

/** The firings of one stored entry, in order: a batch entry, or a single firing of the earlier layout. */
export function* firingsOf(value: readonly Value[]): Generator<AuditedFiring> {
  if (value[0] !== AUDIT_BATCH) {
    const [time, key, outcome, payload] = value
    yield { offset: null, time: time as number, key: Array.isArray(key) ? (key as Value[]) : [], outcome: outcome as FiringOutcome, payload: payload ?? null }
    return
  }
  const n = value[1] as number
  const stride = FIXED + n
  for (let i = 2; i + stride <= value.length; i += stride) {
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
