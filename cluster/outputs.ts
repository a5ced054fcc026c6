/**
 * Task outputs in cluster mode (docs/cluster.md, "Triggers"): where each trigger fires, how a task
 * engine's triggers follow the catalog, and a trigger's counters summed over the tasks that run it.
 *
 * - **One firing per event.** A trigger runs in the engines that see each of its events once: a trigger on
 *   a stream (alone, or joined as of each event to a partitioned view) in every task engine, each firing for
 *   the events of its own partition; a trigger on a view where that view's rows are (every task for a
 *   partitioned or repartitioned view, the global task for a global one); any other join (a global or
 *   repartitioned view, or a lookup of a view's current row) in the global task, which then also runs the
 *   view it joins. Triggers of one priority group go together: globally if one of them must.
 * - **Where it starts.** The node that takes CREATE TRIGGER on a stream puts the topic's end offsets in the
 *   command; each task engine fires for the events from there on, whenever it applies the command, so an
 *   event produced after the statement's answer fires even on a node that applied it a moment later. A
 *   task engine that gets the trigger later (it starts for a task new to the node with no state of its own)
 *   starts it at the topic's end at that moment ("from now", as a single process starts a trigger), not at
 *   the beginning it re-reads its views from: the task's earlier owner fired for that history. A task
 *   engine that resumes from its own checkpoint, or from its changelog, has the trigger with its offsets,
 *   and fires again what came after that checkpoint: at least once.
 * - **Outputs** go through the node (EngineOptions.taskOutputs): NOTIFY to the notify relay, so that every
 *   node's LISTEN sessions get it; INSERT to the target stream's topic.
 */
import type { Engine } from '../executor/engine.ts'
import type { ClusterTriggerStats, DdlCommand } from '../executor/engine/cluster-hooks.ts'
import type { TriggerCounters } from '../executor/operators/trigger-fire.ts'
import type { Row } from '../common/types.ts'
import type { TriggerDef } from '../planner/trigger-plan.ts'
import type { ViewDef } from '../planner/catalog.ts'
import { baseStreamName } from '../planner/view-source.ts'
import { globalStatements, placeCatalog, type Placement } from './placement.ts'
import { statementOf } from './commands.ts'

/** Where a trigger runs: in every task engine, or in the global task. */
export type TriggerPlacement = 'tasks' | 'global'

/** The view a trigger reads its rows from (a trigger ON a view), or null for a trigger on a stream. */
const sourceView = (def: TriggerDef): string | null => (def.plan.source.source.kind === 'view' ? def.plan.source.name : null)

function placeOne(def: TriggerDef, views: ReadonlyMap<string, Placement>): TriggerPlacement {
  const on = sourceView(def)
  if (on !== null) return views.get(on) === 'global' ? 'global' : 'tasks'
  const join = def.plan.join
  if (join === null) return 'tasks'
  // As of each event of a partitioned view: the event and the view's row of its key are in one task.
  return join.asOfEvent && views.get(join.view) === 'partitioned' ? 'tasks' : 'global'
}

/** Every trigger's placement, given the views'. */
export function placeTriggers(triggers: readonly TriggerDef[], views: ReadonlyMap<string, Placement>): Map<string, TriggerPlacement> {
  const out = new Map(triggers.map((t) => [t.name, placeOne(t, views)] as const))
  // A priority group decides per event among its triggers: they must be in one engine.
  const globalGroups = new Set(triggers.filter((t) => t.spec.priorityGroup !== null && out.get(t.name) === 'global').map((t) => `${baseStreamName(t.plan.source)}\u0000${t.spec.priorityGroup}`))
  for (const t of triggers) if (t.spec.priorityGroup !== null && globalGroups.has(`${baseStreamName(t.plan.source)}\u0000${t.spec.priorityGroup}`)) out.set(t.name, 'global')
  return out
}

/**
 * The statements the global task runs: the global views and what they read (placement.ts), plus the views
 * that the triggers placed there read or join.
 */
export function globalRuns(front: Engine, views: readonly ViewDef[], placement: ReadonlyMap<string, Placement>): Set<string> {
  const triggers = front.triggerDefs()
  const places = placeTriggers(triggers, placement)
  const widened = new Map(placement)
  for (const t of triggers) {
    if (places.get(t.name) !== 'global') continue
    const read = sourceView(t) ?? t.plan.join?.view
    if (read !== undefined && widened.has(read)) widened.set(read, 'global')
  }
  return globalStatements(views, widened)
}

/**
 * CREATE TRIGGER's start offsets, from the command that carried them, for the reconciliation that follows
 * that command only: a task engine that gets the trigger later starts it at the topic's end then.
 */
export class TriggerStarts {
  private noted: { readonly sql: string; readonly start: readonly number[] } | null = null

  note(cmd: DdlCommand): void {
    this.noted = cmd.op === 'create_trigger' && cmd.start !== undefined ? { sql: cmd.sql, start: cmd.start } : null
  }

  clear(): void {
    this.noted = null
  }

  of(def: TriggerDef): readonly number[] | undefined {
    return this.noted !== null && this.noted.sql === def.sql ? this.noted.start : undefined
  }
}

/**
 * Brings a task engine's triggers to the front's, for those placed in its role (`global`: the global task):
 * gone or different ones dropped, missing ones created (in catalog order), missing ALTERs applied.
 */
export async function reconcileTriggers(front: Engine, engine: Engine, global: boolean, starts: TriggerStarts, endOffsets: (topic: string) => Promise<number[]>): Promise<void> {
  const wanted = front.triggerDefs()
  const places = placeTriggers(wanted, placeCatalog(front.catalog.views()))
  const want = new Map(wanted.filter((t) => places.get(t.name) === (global ? 'global' : 'tasks')).map((t) => [t.name, t] as const))
  for (const have of engine.triggerDefs()) {
    const w = want.get(have.name)
    if (w !== undefined && w.sql === have.sql && have.alters.every((a, i) => w.alters[i] === a)) continue
    await engine.local.dropTrigger(have.name, true)
  }
  const present = new Map(engine.triggerDefs().map((t) => [t.name, t] as const))
  for (const t of want.values()) {
    const have = present.get(t.name)
    if (have === undefined) await engine.local.createTrigger(statementOf(t.sql, 'create_trigger'), t.sql, await startOf(t, starts, endOffsets))
    for (const a of t.alters.slice(have?.alters.length ?? 0)) await engine.local.alterTrigger(statementOf(a, 'alter_trigger'), a)
  }
}

/**
 * Where a trigger new to a task engine starts: where its statement was taken (the command that created it),
 * or else the topic's end now. Not the engine's own read position: a task engine that starts for a task
 * new to its node reads its partition from the beginning, and its triggers must not fire for the history
 * the task's earlier owner fired for.
 */
async function startOf(def: TriggerDef, starts: TriggerStarts, endOffsets: (topic: string) => Promise<number[]>): Promise<readonly number[] | undefined> {
  const noted = starts.of(def)
  if (noted !== undefined) return noted
  const source = def.plan.source.source
  return source.kind === 'kafka' ? endOffsets(source.topic) : undefined
}

/** A trigger's status, last error and counters in one task engine: a row of the peers' answer. */
export async function triggerStatsRow(engine: Engine, name: string): Promise<Row> {
  const stats = (await engine.triggerStats()).find((s) => s.def.name === name)
  if (stats === undefined) return ['missing', null, ...COUNTER_FIELDS.map(() => 0), null]
  return [stats.status, stats.lastError, ...COUNTER_FIELDS.map((f) => stats.counters[f]), stats.counters.last_fire]
}

const COUNTER_FIELDS = ['fires', 'delivered', 'held_out', 'suppressed_cooldown', 'suppressed_cap', 'suppressed_priority', 'inactive', 'pending', 'failed', 'retried'] as const

/** Sums the rows of `triggerStatsRow` over the tasks. */
export function sumTriggerStats(rows: readonly Row[]): ClusterTriggerStats {
  const counters: TriggerCounters = { fires: 0, delivered: 0, held_out: 0, suppressed_cooldown: 0, suppressed_cap: 0, suppressed_priority: 0, inactive: 0, pending: 0, failed: 0, retried: 0, last_fire: null }
  let status = 'running'
  let lastError: string | null = null
  for (const row of rows) {
    if (row[0] !== 'running' && status === 'running') status = String(row[0])
    if (typeof row[1] === 'string') lastError ??= row[1]
    COUNTER_FIELDS.forEach((f, i) => (counters[f] += Number(row[2 + i] ?? 0)))
    const last = row[2 + COUNTER_FIELDS.length]
    if (typeof last === 'number' && (counters.last_fire === null || last > counters.last_fire)) counters.last_fire = last
  }
  return { counters, status, lastError }
}
