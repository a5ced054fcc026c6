/**
 * A trigger's per-key state: [firings so far, event time of the last one] for each key that fired, which
 * `cooldown` and `max_fires` read. Only those options read it, so a trigger without them keeps none: with
 * a thousand triggers on a stream, reading and writing it for every firing was a third of their cost.
 * It can always be derived from the audit, which records every firing: when an option that reads it is
 * added (ALTER TRIGGER ... SET, or the first batch of a trigger created with one, or of a trigger whose
 * state predates this marker), the state is rebuilt from the audit, and a marker in the table says from
 * then on that the state is kept. The rebuilt entries and the marker go into the same checkpoint.
 */
import type { Value } from '../../common/types.ts'
import type { TriggerSpec } from '../../planner/trigger-plan.ts'
import { isPositionKey } from '../state/layout.ts'
import { fired, firingsOf } from './trigger-audit.ts'
import type { KeyedTable } from './keyed-table.ts'

/** The key of the marker, under the trigger's key encoding: [1] while the per-key state is kept, else [0]. */
export const KEY_STATE_MARKER = '\u0000keystate'

/** Whether the trigger's options read per-key state (holdout is a hash of the key: it needs none). */
export const keepsKeyState = (spec: TriggerSpec): boolean => spec.cooldown !== null || spec.maxFires !== null

/** Reads the marker: whether the table's per-key state is complete. */
export const keptIn = (marker: readonly Value[] | undefined): boolean => marker?.[0] === 1

/**
 * Rewrites every key's state from the audit, as deciding the audited firings again in order would leave
 * it: per key the number of firings and the time of the last one (in source position order; a key's
 * events are in one partition unless the trigger joins on another key). Sets the marker.
 */
export async function rebuildKeyState(table: KeyedTable, encodeKey: (values: readonly Value[]) => string, markerKey: string): Promise<number> {
  const state = new Map<string, [number, number | null]>()
  for await (const [key, value] of table.scan()) {
    if (!isPositionKey(key)) continue
    for (const f of firingsOf(value)) {
      if (!fired(f.outcome)) continue
      const k = encodeKey(f.key)
      const s = state.get(k)
      if (s === undefined) state.set(k, [1, f.time])
      else {
        s[0]++
        s[1] = f.time
      }
    }
  }
  for (const [k, s] of state) table.set(k, s)
  table.set(markerKey, [1])
  return state.size
}

/** Stops keeping the state (its entries go stale; a later rebuild overwrites every key that ever fired). */
export function dropKeyState(table: KeyedTable, markerKey: string): void {
  table.set(markerKey, [0])
}
