/**
 * Rows an operator holds per key until the watermark has passed them (window functions, MATCH_RECOGNIZE):
 * what they share is how a micro-batch is admitted (late rows reported, the rest keyed) and how the
 * earliest held time of a key is found.
 */
import type { Row, Value } from '../../common/types.ts'
import { isPositionKey } from '../state/layout.ts'
import type { KeyedTable } from './keyed-table.ts'
import { followTable, type ViewFollower } from './view-follower.ts'
import { AppendingOperator } from './operator.ts'

/** A held row: [event time, source partition, source offset, row]. */
export type Held = [number, number, number, Row]

export type LateReporter = (partition: number, offset: number, eventTime: number | null, reason: string) => void

/**
 * The rows of a micro-batch an operator can still take in time order: a row whose time plus the lateness
 * is behind the watermark (`watermark`: the query's, before the batch) comes after rows of its key that
 * were already given out, and is reported late with `lateReason`; a row without a time is late too.
 */
export function admit(
  partition: number,
  offsets: readonly number[],
  rows: readonly Row[],
  timeIndex: number,
  lateness: number,
  watermark: number,
  keyOf: (row: Row) => string,
  late: LateReporter,
  lateReason: string,
): { keys: string[]; accepted: number[] } {
  const keys: string[] = []
  const accepted: number[] = []
  for (let i = 0; i < rows.length; i++) {
    const ts = rows[i]![timeIndex]
    if (typeof ts !== 'number') {
      late(partition, offsets[i]!, null, 'event time is NULL')
      continue
    }
    if (ts + lateness <= watermark) {
      late(partition, offsets[i]!, ts, lateReason)
      continue
    }
    keys.push(keyOf(rows[i]!))
    accepted.push(i)
  }
  return { keys, accepted }
}

/** The earliest time among held rows (a loop: a key may hold more rows than a spread call can pass). */
export function earliestOf(held: readonly Held[]): number {
  let t = Number.POSITIVE_INFINITY
  for (const h of held) if (h[0] < t) t = h[0]
  return t
}

/** Follows such an operator's output rows: entries under source positions, one row each. */
export function followPositions(table: KeyedTable): ViewFollower {
  return followTable(table, (key, value) => (value !== undefined && isPositionKey(key) ? [value] : []))
}

/** The output rows of such an operator: its table's entries under source positions (the rest is state). */
export async function* positionRows(table: KeyedTable): AsyncGenerator<Value[]> {
  for await (const [key, value] of table.scan()) if (isPositionKey(key)) yield value
}

/**
 * An operator holding rows until the watermark passes them: each time the watermark moves on it releases
 * what became final (`release`), once per watermark; a watermark moved back releases again from there.
 */
export abstract class HeldRowsOperator extends AppendingOperator {
  /** The watermark up to which rows were released. */
  private released = Number.NEGATIVE_INFINITY

  /** Computes the held rows the watermark made final; they reach readers through `onOutput`. */
  abstract release(watermark: number): Promise<void>

  override async onWatermark(watermark: number): Promise<Row[]> {
    if (watermark <= this.released) return []
    await this.release(watermark)
    this.released = watermark
    return []
  }

  override rewindWatermark(watermark: number): void {
    if (this.released > watermark) this.released = watermark
  }
}
