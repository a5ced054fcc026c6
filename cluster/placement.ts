/**
 * Where a cluster runs a view (docs/cluster.md, "Tasks"):
 *
 * - *partitioned*: every group, window, session, match partition or OVER partition the view keeps lives in
 *   one partition of its stream, because it is keyed by the stream's key column (StreamDef.keyColumn)
 *   passed through unchanged, or the view keeps no state at all. Such a view runs in every task engine,
 *   each over its own partition, and the union of the tasks' rows is the whole answer.
 * - *repartitioned*: a GROUP BY of a stream by columns (or expressions of them) other than its key, with no
 *   join or subquery (a count per country of a stream keyed by player), also over TUMBLE or HOP windows (by
 *   its keys other than the window's), a SESSION window keyed by other columns, and OVER or MATCH_RECOGNIZE
 *   partitioned by other columns (by their PARTITION BY). Every task writes its
 *   partition's events to an internal topic keyed by the group key (repartition.ts), and the view runs in
 *   every task engine over its partition of that topic: partitioned again, by the group key. Its records
 *   carry their writers' watermarks, so that windows close there as they would in one process.
 * - An aggregation over *no key but its TUMBLE window, or none* (events per minute over all players), with
 *   aggregates whose partial results combine exactly, is repartitioned too, by two-phase aggregation
 *   (partials.ts): the writers fold their events into partial rows per window, merged per window in the tasks.
 * - An *interval join of two streams* (joins.ts) is partitioned when it joins on both streams' key columns
 *   (a key's events of both are in the same partition number), repartitioned when it joins on other
 *   columns (both streams are written to internal topics keyed by the join key), and a GROUP BY over it
 *   stays with it only when its groups contain the key it is split by.
 * - *global*: anything else (a per-minute count over all players, a view of a view that is not
 *   partitioned, OVER or a pattern without PARTITION BY). It runs in the one global task engine, which
 *   reads every partition.
 *
 * Decided per CREATE statement: a view and its hidden views (planner/hidden-views.ts) are placed together,
 * global if any of them is. Pure logic over the plans; the unit tests are beside this file.
 */
import type { BoundExpr } from '../expr/bound.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import { joinPlacement } from './joins.ts'
import { partialPlan } from './partials.ts'

export type Placement = 'partitioned' | 'repartitioned' | 'global'

/** The input row's column `index`, as it is (not an expression of it). */
export const isColumn = (e: BoundExpr, index: number): boolean => e.kind === 'column' && e.index === index

/**
 * The placement of one view (hidden or not) given those of the views it reads (`placed`, by name). The
 * stream key is `source.keyColumn`: for a view over a view, the read view's column that carries it.
 */
export function placeView(view: ViewDef, placed: (name: string) => Placement | undefined, viewOf?: (name: string) => ViewDef | undefined): Placement {
  const plan = view.plan
  if (plan.intervalJoin !== undefined) return joinPlacement(view)
  const source: StreamDef = plan.source
  if (source.source.kind === 'view') {
    if (placed(source.source.view) !== 'partitioned') return 'global'
  } else if (source.source.kind !== 'kafka') {
    // A file or embedded stream is not split into a cluster's tasks.
    return 'global'
  }
  // A lookup of a keyed view: as of each event (the same stream by the same key) of a partitioned view, or
  // of a partitioned view of another stream keyed alike by the stream's key (coPartitionedLookup).
  if (plan.join !== null && !(placed(plan.join.view) === 'partitioned' && (plan.join.asOfEvent || coPartitionedLookup(plan, viewOf?.(plan.join.view))))) return 'global'
  const key = source.keyColumn
  const body = plan.body
  const window = plan.window
  if (window?.kind === 'session' && (key === null || !window.keyIndexes.includes(key))) return windowedPlacement(view)
  switch (body.kind) {
    case 'project':
      return 'partitioned'
    case 'aggregate': {
      const at = key === null ? -1 : body.aggregation.keys.findIndex((k) => isColumn(k, key))
      // (No key at all: two-phase aggregation, partials.ts, when its aggregates combine.)
      if (at < 0) return window !== null ? windowedPlacement(view) : repartitionKeys(view) !== null || partialPlan(view) !== null ? 'repartitioned' : 'global'
      // ROLLUP / CUBE / GROUPING SETS: a set without the key adds up over every key.
      if (body.aggregation.groupingSets?.some((set) => !set.includes(at))) return 'global'
      return 'partitioned'
    }
    case 'over':
      return key !== null && body.partitionBy.some((e) => isColumn(e, key)) ? 'partitioned' : windowedPlacement(view)
    case 'pattern':
      return key !== null && body.pattern.partitionBy.includes(key) ? 'partitioned' : windowedPlacement(view)
  }
}

/**
 * Whether windows and sessions keyed by another column than the stream's are repartitioned (over carried
 * watermarks, watermark-envelope.ts) or stay in the global task. Switched off for a while after a kill -9
 * round at 300,000 events (`npm run cluster:kills -- --events 300000 --seed 23`) was not exact: the
 * repartition writers read their committed position before registering their transactional id, so a
 * writer's last transaction could be written twice (kafka-resume.ts), and a dead writer's idle mark kept its
 * source partition out of the watermark while records it never wrote arrived there (carried-watermarks.ts).
 * Both fixed; the switch stays so that they can be sent back to the global task in one place.
 */
export const WINDOWS_BY_OTHER_KEY_REPARTITIONED = true

/** The placement of a window or session keyed by another column than the stream's (see above). */
export function windowedPlacement(view: ViewDef, repartitioned = WINDOWS_BY_OTHER_KEY_REPARTITIONED): Placement {
  return repartitioned && (repartitionKeys(view) !== null || partialPlan(view) !== null) ? 'repartitioned' : 'global'
}

/**
 * The key a repartitioned view's internal topic is keyed by, over the stream's own row: its GROUP BY
 * expressions; over TUMBLE or HOP, those of them that do not read the window's columns (every window of a
 * group then lives in one task); for SESSION, the session's key columns; for OVER and MATCH_RECOGNIZE, their
 * PARTITION BY. Null when the view cannot be repartitioned: OVER or a pattern without PARTITION BY, a join,
 * a SESSION over a subquery's filter, grouping sets, a window
 * grouped by its window columns alone; idle_ttl (not tried over an internal topic yet); or one that reads
 * the source record's partition or offset (which the internal topic's record does not keep).
 */
export function repartitionKeys(view: ViewDef): readonly BoundExpr[] | null {
  const plan = view.plan
  const body = plan.body
  if (body.kind === 'project' || plan.join !== null || plan.intervalJoin !== undefined || plan.sourceFilter !== undefined) return null
  if ((plan.hidden?.length ?? 0) > 0 || plan.idleTtl !== null || plan.source.source.kind !== 'kafka') return null
  if (plan.source.metadata.some((m) => m.key !== 'timestamp')) return null
  const column = (index: number): BoundExpr => ({ kind: 'column', index, name: plan.source.columns[index]!.name, type: plan.source.columns[index]!.type })
  // OVER and MATCH_RECOGNIZE: by their PARTITION BY (none: every row is one partition, global).
  if (body.kind === 'over') return body.partitionBy.length > 0 && body.partitionBy.every((e) => readsOnlyBelow(e, plan.source.columns.length)) ? body.partitionBy : null
  if (body.kind === 'pattern') return body.pattern.partitionBy.length > 0 ? body.pattern.partitionBy.map(column) : null
  if (body.aggregation.keys.length === 0 || body.aggregation.groupingSets !== undefined) return null
  const window = plan.window
  if (window === null) return body.aggregation.keys
  if (window.kind === 'session') return window.keyIndexes.length === 0 ? null : window.keyIndexes.map(column)
  // (The window's columns follow the stream's in the row the keys read.)
  const keys = body.aggregation.keys.filter((k) => readsOnlyBelow(k, plan.source.columns.length))
  return keys.length === 0 ? null : keys
}

/** Whether the expression reads input columns below `width` only (and no aggregate or subquery). */
export function readsOnlyBelow(e: BoundExpr, width: number): boolean {
  const ok = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.every(ok)
    if (v === null || typeof v !== 'object') return true
    const o = v as Record<string, unknown>
    if (o.kind === 'column') return typeof o.index === 'number' && o.index < width
    if (o.kind === 'agg_ref' || (typeof o.kind === 'string' && o.kind.includes('subquery'))) return false
    return Object.entries(o).every(([k, x]) => k === 'type' || ok(x))
  }
  return ok(e)
}

/**
 * Whether a lookup (not as of each event) of `looked` from a view over its own stream finds every row it
 * can find in the same task: the looked-up view is grouped by its stream's key column, the join gives that
 * key column the stream's own key column, and both streams are Kafka topics of as many partitions with key
 * columns of one type (a key's events of both are in one partition number). Each task then sees the view's
 * current row as one process does, for the keys of its partition.
 */
function coPartitionedLookup(plan: ViewDef['plan'], looked: ViewDef | undefined): boolean {
  const join = plan.join
  const body = looked?.plan.body
  if (join === null || looked === undefined || body?.kind !== 'aggregate') return false
  const s = plan.source
  const t = looked.plan.source
  if (s.source.kind !== 'kafka' || t.source.kind !== 'kafka' || s.keyColumn === null || t.keyColumn === null || s.partitions !== t.partitions) return false
  if (s.columns[s.keyColumn]!.type.name !== t.columns[t.keyColumn]!.type.name) return false
  return body.aggregation.keys.some((k, i) => isColumn(k, t.keyColumn!) && join.keyIndexes[i] === s.keyColumn)
}

/** The placement of a CREATE statement's views: its hidden views first (in order), then the view itself. */
export function placeStatement(view: ViewDef, placed: (name: string) => Placement | undefined, viewOf?: (name: string) => ViewDef | undefined): Placement {
  const local = new Map<string, Placement>()
  const lookup = (name: string) => local.get(name) ?? placed(name)
  let all: Placement = 'partitioned'
  for (const d of [...(view.plan.hidden ?? []), view]) {
    const p = placeView(d, lookup, viewOf)
    local.set(d.name, p)
    if (p !== 'partitioned') all = all === 'partitioned' && d === view ? p : 'global'
  }
  return all
}

/** The views a view reads: its source view, the view it looks up, the right side of an interval join. */
export function inputsOf(view: ViewDef): string[] {
  const plan = view.plan
  const out: string[] = []
  if (plan.source.source.kind === 'view') out.push(plan.source.source.view)
  if (plan.join !== null) out.push(plan.join.view)
  if (plan.intervalJoin !== undefined) for (const side of [plan.intervalJoin.left, plan.intervalJoin.right]) if (side.source.kind === 'view') out.push(side.source.view)
  for (const h of plan.hidden ?? []) out.push(...inputsOf(h))
  return out
}

/** Where each CREATE statement of a catalog runs: user views (statement heads) in creation order. */
export function placeCatalog(views: readonly ViewDef[]): Map<string, Placement> {
  const out = new Map<string, Placement>()
  // Hidden views are placed with their owner; a reader of one follows that owner's placement.
  const ownerOf = new Map<string, string>()
  for (const v of views) if (v.owner !== undefined) ownerOf.set(v.name, v.owner)
  const placed = (name: string) => out.get(ownerOf.get(name) ?? name)
  const byName = new Map(views.map((v) => [v.name, v]))
  for (const v of [...views].sort((a, b) => a.id - b.id)) if (v.owner === undefined) out.set(v.name, placeStatement(v, placed, (name) => byName.get(name)))
  return out
}

/**
 * The statements the global task engine runs: every global one, and every partitioned one a global one
 * reads (directly or through others), since the global engine computes its inputs itself.
 */
export function globalStatements(views: readonly ViewDef[], placement: ReadonlyMap<string, Placement>): Set<string> {
  const byName = new Map(views.map((v) => [v.name, v]))
  const ownerOf = (name: string) => byName.get(name)?.owner ?? name
  const out = new Set<string>()
  const need = (name: string) => {
    const head = ownerOf(name)
    if (out.has(head)) return
    out.add(head)
    const v = byName.get(head)
    if (v !== undefined) for (const i of inputsOf(v)) need(i)
  }
  for (const [name, p] of placement) if (p === 'global') need(name)
  return out
}
