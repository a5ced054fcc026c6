/**
 * Sinks in cluster mode (docs/cluster.md, "Sinks"): where each sink runs, how a task engine's
 * sinks follow the catalog, the tag each task's part of a sink is known by to Kafka, which sinks are
 * refused, and a sink's counters summed over its tasks (sluice_sinks).
 *
 * - **Where.** A sink over a stream, or over a partitioned or repartitioned view, runs in every task engine,
 *   each writing the rows of its own task; a sink over a global view runs in the global task. A node's front
 *   engine keeps the sink in its catalog and only checks its topic at CREATE (executor/engine/deliveries.ts).
 * - **Exactly once per task.** Each task engine's sink is the single-process sink (executor/sink.ts): the
 *   records of a checkpoint become a numbered batch in the outbox, written with the state and offsets that
 *   produced them, and so, in cluster mode, in the task's changelog transaction; once committed the batch
 *   goes to the topic in a Kafka transaction that also commits its number for the sink's batch group. What
 *   is per task here is the tag (`<cluster>-<sink>-<task>-<id>`, `id` the sink's id in the task's catalog,
 *   which the changelog restores with it): the transactional id `sluice-sink-<tag>` and the batch group are
 *   the same on whichever node runs the task, so the new owner's registration fences the old owner's sink,
 *   and the batch group tells it which of the batches it restored from the changelog the topic has already.
 * - **Fencing.** A task engine's sinks register their ids when the engine starts or creates them, which the
 *   task's registration gate (task-fencing.ts) allowed. A failed sink transaction is tried again only while
 *   the group still confirms the task here (`mayRetry` in tasks.ts); a fence (another node registered the id)
 *   stops the sink and the task, as a changelog fence does.
 */
import { SqlState, planError } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import type { Row } from '../common/types.ts'
import type { Engine } from '../executor/engine.ts'
import type { ClusterSinkStats } from '../executor/engine/cluster-hooks.ts'
import type { SinkDef } from '../planner/sink-plan.ts'
import { placeCatalog, type Placement } from './placement.ts'
import { statementOf } from './commands.ts'
import { taskLabel } from './tasks.ts'

export type SinkPlacement = 'tasks' | 'global'

/** Where a sink runs: every task engine (a stream, a partitioned or repartitioned view) or the global task. */
export function placeSink(def: SinkDef, engine: Pick<Engine, 'catalog'>, views: ReadonlyMap<string, Placement>): SinkPlacement {
  if (engine.catalog.get(def.from)?.kind === 'stream') return 'tasks'
  return views.get(def.from) === 'global' ? 'global' : 'tasks'
}

/** The tag of task `task`'s part of a sink: its Kafka transactional id and batch group are made from it. */
export function sinkTag(cluster: string, task: number, def: SinkDef): string {
  return `${cluster}-${def.name}-${taskLabel(task)}-${def.id}`
}

/**
 * Brings a task engine's sinks to the front's, for those placed in its role (`global`: the global task):
 * gone or different ones dropped, missing ones created (in the front's order). Runs after the views.
 */
export async function reconcileSinks(front: Engine, engine: Engine, global: boolean): Promise<void> {
  const views = placeCatalog(front.catalog.views())
  const want = new Map(
    front
      .sinkRuntimes()
      .map((s) => s.def)
      .filter((d) => placeSink(d, front, views) === (global ? 'global' : 'tasks'))
      .map((d) => [d.name, d] as const),
  )
  for (const have of engine.sinkRuntimes()) {
    if (want.get(have.name)?.sql === have.def.sql) continue
    await engine.local.dropSink(have.name, true)
  }
  const present = new Set(engine.sinkRuntimes().map((s) => s.name))
  for (const d of want.values()) if (!present.has(d.name)) await engine.local.createSink(statementOf(d.sql, 'create_sink'), d.sql)
}

/**
 * CREATE SINK on a cluster, after planning: the sinks that are not exactly once per task in cluster mode
 * are refused (0A000) with the reason; null for those that run.
 */
export function sinkRefusal(def: SinkDef, changelogs: boolean, span: ast.Statement['span']): Error | null {
  const hint = 'Read the view with a pull query or SUBSCRIBE, sink it into a Kafka topic, or run the sink on a single-process Sluice reading the same topic; see docs/cluster.md.'
  switch (def.target.kind) {
    // Kafka, PostgreSQL and MySQL: exactly once per task (a batch and its number in one transaction of the
    // target, under the task's tag), given the changelog that carries the outbox to the task's next owner.
    case 'kafka':
    case 'postgres':
    case 'mysql':
      if (changelogs) return null
      return planError(
        SqlState.featureNotSupported,
        'CREATE SINK needs the tasks\' changelogs in cluster mode, and this node runs with --no-changelog: a task moved to another node would start its sink over and write its rows again',
        span,
        'Run the nodes without --no-changelog.',
      )
    case 'files':
      return planError(SqlState.featureNotSupported, 'CREATE SINK INTO FILES is not supported in cluster mode: each node writes under its own files directory, so a task that moves would go on writing its part of the sink on another machine', span, hint)
  }
}

/** A sink's status, last error and counters in one task engine: a row of the peers' answer. */
export function sinkStatsRow(engine: Engine, name: string): Row {
  const k = engine.sinkRuntimes().find((s) => s.name === name)
  if (k === undefined) return ['missing', null, 0, 0, 0, 0, 0]
  const lastError = k.lastError === null ? null : `${k.lastError.sqlstate}: ${k.lastError.message}`
  return [k.lastError === null ? k.status : 'retrying', lastError, k.recordsOut, k.batchesDelivered, k.pendingBatches, k.lagMs, k.writer.deadLetters]
}

/** Sums the rows of `sinkStatsRow` over the tasks (the lag: the largest). */
export function sumSinkStats(rows: readonly Row[]): ClusterSinkStats {
  let status = 'running'
  let lastError: string | null = null
  const sum = { recordsOut: 0, batchesDelivered: 0, pendingBatches: 0, lagMs: 0, deadLetters: 0 }
  for (const row of rows) {
    if (row[0] !== 'running' && status === 'running') status = String(row[0])
    if (typeof row[1] === 'string') lastError ??= row[1]
    sum.recordsOut += Number(row[2] ?? 0)
    sum.batchesDelivered += Number(row[3] ?? 0)
    sum.pendingBatches += Number(row[4] ?? 0)
    sum.lagMs = Math.max(sum.lagMs, Number(row[5] ?? 0))
    sum.deadLetters += Number(row[6] ?? 0)
  }
  return { status, lastError, ...sum }
}
