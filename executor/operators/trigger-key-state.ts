/**
 * Triggers' per-key state: [firings so far, event time of the last one] per trigger and key that fired,
 * which `cooldown` and `max_fires` read. Only those options read it, so a trigger without them keeps none.
 *
 * All triggers of a stream keep it in ONE table of the stream (`StreamKeyState`), one entry per key
 * holding every trigger's part for that key, rather than each trigger in its own table: with a thousand
 * triggers on a stream, a thousand tables meant a thousand key filters probed at random and a thousand
 * tables' bookkeeping at every checkpoint, which was most of what a firing with a cooldown cost.
 *
 * Entry value: parts of STRIDE values, sorted by trigger id: [trigger id, tag, firings, last time]. The
 * tag names one period in which the trigger kept its state (drawn when it starts keeping it: at creation,
 * when ALTER adds an option that reads it, after an upgrade), so a part written in an earlier period, or
 * by a dropped trigger whose id a later one got, is never read: a part whose tag is not the trigger's is
 * absent. Parts of triggers no longer deployed are removed lazily, when a trigger adds its part to the
 * entry; the stream's drop deletes the whole table.
 *
 * The state can always be derived from the trigger's audit, which records every firing: when a trigger
 * starts keeping it, it is rebuilt from the audit under a new tag, and a marker in the trigger's own table
 * says from then on that the state is kept and under which tag. Rebuilt parts and marker go into the same
 * checkpoint (every table is in the one write batch).
 */
import type { Value } from '../../common/types.ts'
import type { TriggerSpec } from '../../planner/trigger-plan.ts'
import { isPositionKey } from '../state/layout.ts'
import { fired, firingsOf } from './trigger-audit.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { CheckpointedTable } from './operator.ts'
import type { Mutation } from '../state/rocks.ts'

/**
 * The key of the marker, under the trigger's own key encoding: [2, tag] while the state is kept in the
 * stream's table; [1] was the state kept in the trigger's own table (before the shared table; it is
 * rebuilt from the audit, and those entries are left to go with the trigger); [0] or none: not kept.
 */
export const KEY_STATE_MARKER = '\u0000keystate'

/** The marker's first value when the state is kept in the stream's table. */
const SHARED = 2

/** Values per trigger in an entry: trigger id, tag, firings, last time. */
const STRIDE = 4

/** Whether the trigger's options read per-key state (holdout is a hash of the key: it needs none). */
export const keepsKeyState = (spec: TriggerSpec): boolean => spec.cooldown !== null || spec.maxFires !== null

/** Reads the marker: the tag under which the trigger's state in the stream's table is complete, or null. */
export const keptUnder = (marker: readonly Value[] | undefined): number | null => (marker?.[0] === SHARED && typeof marker[1] === 'number' ? marker[1] : null)

/** The marker for state kept under `tag`. */
export const keptMarker = (tag: number): Value[] => [SHARED, tag]

/** The marker of a trigger that keeps no per-key state. */
export const NOT_KEPT: readonly Value[] = [0]

/** A new tag: random, so that no earlier period's parts (of this trigger or of one with its id) match. */
export const newTag = (): number => Math.floor(Math.random() * 2 ** 52)

/** Where a trigger's part is in an entry: its index, or -(insertion index) - 1 (binary search by id). */
function find(entry: readonly Value[], id: number): number {
  let lo = 0
  let hi = entry.length / STRIDE - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const at = entry[mid * STRIDE] as number
    if (at < id) lo = mid + 1
    else if (at > id) hi = mid - 1
    else return mid * STRIDE
  }
  return -(lo * STRIDE) - 1
}

/**
 * The per-key state of all triggers of one stream, in one table in a namespace of the stream. Triggers
 * are registered while deployed (so that parts of dropped ones can go); the table is created with the
 * first trigger that needs it, or on first use (an ALTER that adds an option reading it).
 */
export class StreamKeyState {
  private readonly live = new Set<number>()
  private opened: { readonly table: KeyedTable & CheckpointedTable; readonly encodeKey: (values: readonly Value[]) => string } | null = null

  /** `open` creates the table; called at most once. */
  constructor(private readonly open: () => { table: KeyedTable & CheckpointedTable; encodeKey: (values: readonly Value[]) => string }) {}

  /**
   * A checkpoint is being built: the table's writes since the last one go into its batch. Asked once per
   * stream by the engine, not by each trigger, since the triggers of a stream share the table.
   */
  checkpoint(out: Mutation[]): void {
    this.opened?.table.collectDirty(out)
  }

  register(triggerId: number): void {
    this.live.add(triggerId)
  }

  unregister(triggerId: number): void {
    this.live.delete(triggerId)
  }

  /** Creates the table now (else on first use), so that its key filter is rebuilt before events come. */
  create(): void {
    this.opened ??= this.open()
  }

  get table(): KeyedTable {
    return (this.opened ??= this.open()).table
  }

  encodeKey(values: readonly Value[]): string {
    return (this.opened ??= this.open()).encodeKey(values)
  }

  /** Makes the entries of `keys` readable: call before `read` / `record`, with nothing in between that loads others. */
  load(keys: readonly string[]): Promise<void> {
    return this.table.load(keys)
  }

  /** What `read` found: the firings of the trigger for the key (0 when none) and the time of the last one. */
  firings = 0
  lastFire: number | null = null

  /** Reads trigger `id`'s part (period `tag`) of the key's entry into `firings` and `lastFire`: one lookup for both. */
  read(key: string, id: number, tag: number): void {
    const e = this.table.get(key)
    const i = e === undefined ? -1 : find(e, id)
    if (i >= 0 && e![i + 1] === tag) {
      this.firings = e![i + 2] as number
      this.lastFire = e![i + 3] as number | null
    } else {
      this.firings = 0
      this.lastFire = null
    }
  }

  /** Writes trigger `id`'s part of the key's entry (in place: the entry is the table's cached value). */
  record(key: string, id: number, tag: number, firings: number, last: number | null): void {
    const table = this.table
    let e = table.get(key)
    if (e === undefined) e = [id, tag, firings, last]
    else {
      const i = find(e, id)
      if (i >= 0) {
        e[i + 1] = tag
        e[i + 2] = firings
        e[i + 3] = last
      } else e = this.pruned(e, -i - 1, id, tag, firings, last)
    }
    table.set(key, e)
  }

  /** The entry with a new part inserted at `at`, without the parts of triggers no longer deployed. */
  private pruned(e: Value[], at: number, id: number, tag: number, firings: number, last: number | null): Value[] {
    let dead = false
    for (let i = 0; i < e.length && !dead; i += STRIDE) dead = !this.live.has(e[i] as number)
    if (!dead) {
      e.splice(at, 0, id, tag, firings, last)
      return e
    }
    const out: Value[] = []
    for (let i = 0; i <= e.length; i += STRIDE) {
      if (i === at) out.push(id, tag, firings, last)
      if (i < e.length && this.live.has(e[i] as number)) out.push(e[i]!, e[i + 1]!, e[i + 2]!, e[i + 3]!)
    }
    return out
  }
}

/**
 * Rewrites trigger `id`'s state from its audit (in `own`, the trigger's table) under a new tag, as
 * deciding the audited firings again in order would leave it: per key the number of firings and the time
 * of the last one (in source position order; a key's events are in one partition unless the trigger joins
 * on another key). Returns the tag; the caller writes the marker.
 */
export async function rebuildKeyState(own: KeyedTable, shared: StreamKeyState, id: number): Promise<{ tag: number; keys: number }> {
  const state = new Map<string, [number, number | null]>()
  for await (const [key, value] of own.scan()) {
    if (!isPositionKey(key)) continue
    for (const f of firingsOf(value)) {
      if (!fired(f.outcome)) continue
      const k = shared.encodeKey(f.key)
      const s = state.get(k)
      if (s === undefined) state.set(k, [1, f.time])
      else {
        s[0]++
        s[1] = f.time
      }
    }
  }
  const tag = newTag()
  await shared.load([...state.keys()])
  for (const [k, s] of state) shared.record(k, id, tag, s[0], s[1])
  return { tag, keys: state.size }
}
