/** Rows of the system tables, read from the running engine. */
import { baseStreamName } from '../planner/view-source.ts'
import type { Row } from '../common/types.ts'
import { SqlState, planError } from '../common/errors.ts'
import type { Engine } from './engine.ts'
import { SYSTEM_TABLES } from '../planner/system-tables.ts'
import { redactSecrets } from './webhook-secrets.ts'
import { redactConnections } from './connectors/connection-secrets.ts'
import { describeLimits } from '../planner/query-limits.ts'
import { type ProgressRow, partitionEnd, progressRow, queryPosition } from './progress.ts'

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null)
/** A watermark as shown: NULL before the first event, `infinity` once time has ended. */
const started = (n: number): number | null => (n === Number.NEGATIVE_INFINITY ? null : n)

/** Columns that can show a webhook URL (a trigger's SQL and target, delivery errors). */
const SECRET_COLUMNS = new Set(['sql', 'target', 'last_error', 'reason'])

/**
 * The rows of system table `name`. Without `revealSecrets` (a read-only user), the secrets of webhook URLs
 * (user information, token-like parameters) are hidden wherever a URL can show.
 */
export async function systemTableRows(engine: Engine, name: string, revealSecrets: boolean): Promise<Row[]> {
  const rows = await allRows(engine, name)
  if (revealSecrets) return rows
  const hidden = (SYSTEM_TABLES[name] ?? []).flatMap((c, i) => (SECRET_COLUMNS.has(c.name) ? [i] : []))
  if (hidden.length === 0) return rows
  for (const row of rows) {
    for (const i of hidden) {
      const v = row[i]
      if (typeof v === 'string') row[i] = redactSecrets(v)
    }
  }
  return rows
}

/** Progress of every view and trigger whose stream is deployed (sluice_progress, /ready, progress NOTICEs). */
export function progressRows(engine: Engine): ProgressRow[] {
  const sampler = engine.metrics.progress
  const out: ProgressRow[] = []
  for (const q of engine.allQueries()) {
    const at = queryPosition(q, (name) => engine.streamRuntime(name))
    if (at !== undefined) out.push(progressRow(at, queryStatus(engine, q.status), sampler, q.rate()))
  }
  sampler.keepOnly(new Set(out.map((r) => r.query)))
  return out
}

/** A query's status as the system tables show it: a running one is `degraded` while checkpoints fail. */
export const queryStatus = (engine: Engine, status: string): string => (status === 'running' && engine.checkpointFailure !== null ? 'degraded' : status)

async function allRows(engine: Engine, name: string): Promise<Row[]> {
  switch (name) {
    case 'sluice_cluster':
    case 'sluice_tasks':
      // Empty on a single process; a cluster node fills them (cluster/node.ts).
      return engine.clusterTables === null ? [] : engine.clusterTables(name)
    case 'sluice_streams':
      return engine.catalog.streams().map((s) => {
        const rt = engine.streamRuntime(s.name)
        let events = 0
        if (rt) for (let p = 0; p < s.partitions; p++) events += rt.log.endOffset(p)
        return [s.name, s.partitions, s.keyColumn === null ? null : s.columns[s.keyColumn]!.name, s.watermark?.sql ?? null, events, s.sql, rt?.closed ?? false]
      })
    case 'sluice_queries':
      return engine.allQueries().map((q) => {
        let lag = 0
        q.slots.forEach((slot, i) => {
          const rt = engine.streamRuntime(slot.stream)
          if (rt) lag += Math.max(0, partitionEnd(rt.log, slot.partition) - q.offsets[i]!)
        })
        const join = q.view.plan.intervalJoin
        return [
          q.name,
          join === undefined ? q.view.plan.source.name : `${join.left.name}, ${join.right.name}`,
          // A running view whose state cannot be checkpointed answers from memory, ahead of what is durable.
          queryStatus(engine, q.status),
          q.eventsIn,
          q.rate(),
          lag,
          finite(q.watermark.current),
          engine.tableStats(q.view.id).entries,
          q.lateEvents,
          q.expired,
          q.bufferedRows(),
          q.lastError ? `${q.lastError.sqlstate}: ${q.lastError.message}` : engine.checkpointFailure ? `${engine.checkpointFailure.sqlstate}: ${engine.checkpointFailure.message}` : null,
          q.view.sql,
          q.stateBytes(),
          Math.round(q.outputPerSecond()),
          describeLimits(q.limits) || null,
          q.view.owner ?? null,
        ]
      })
    case 'sluice_partitions':
      return engine.allQueries().flatMap((q) => {
        return q.slots.flatMap((slot, i): Row[] => {
          const rt = engine.streamRuntime(slot.stream)
          if (rt === undefined) return []
          const position = q.offsets[i]!
          const end = partitionEnd(rt.log, slot.partition)
          return [[q.name, rt.def.name, rt.def.source.kind, slot.partition, position, end, Math.max(0, end - position)]]
        })
      })
    case 'sluice_triggers':
      return (await engine.triggerStats()).map((t) => [
        t.def.name,
        t.def.plan.source.name,
        t.def.spec.action.kind === 'notify' ? t.def.spec.action.channel : t.def.spec.action.kind === 'webhook' ? t.def.spec.action.url : `stream ${t.def.spec.action.stream}`,
        t.status,
        t.counters.fires,
        t.counters.delivered,
        t.counters.held_out,
        t.counters.suppressed_cooldown,
        t.counters.suppressed_cap,
        t.counters.suppressed_priority,
        t.counters.inactive,
        t.counters.pending,
        t.counters.failed,
        t.counters.retried,
        t.counters.last_fire,
        t.lastError,
        t.def.sql,
      ])
    case 'sluice_trigger_audit': {
      const out: Row[] = []
      for (const t of await engine.triggerStats()) {
        for await (const [time, key, outcome, payload] of engine.viewRows(t.def.name)) {
          out.push([t.def.name, time ?? null, Array.isArray(key) ? key.map((k) => (k === null ? 'NULL' : String(k))).join(',') : null, outcome ?? null, payload ?? null])
        }
      }
      return out
    }
    case 'sluice_sinks': {
      const out: Row[] = []
      for (const k of engine.sinkRuntimes()) {
        // Cluster mode: the front engine writes nothing; the counters are the tasks' (cluster/sinks.ts).
        const c = (await engine.clusterSinkStats(k.name)) ?? {
          status: k.lastError === null ? k.status : 'retrying',
          lastError: k.lastError ? `${k.lastError.sqlstate}: ${k.lastError.message}` : null,
          recordsOut: k.recordsOut,
          batchesDelivered: k.batchesDelivered,
          pendingBatches: k.pendingBatches,
          lagMs: k.lagMs,
          deadLetters: k.writer.deadLetters,
        }
        out.push([k.name, k.def.from, k.def.topic, k.def.mode, c.status, c.recordsOut, c.batchesDelivered, c.pendingBatches, c.lastError === null ? null : redactConnections(c.lastError), redactConnections(k.def.sql), k.def.target.kind, c.lagMs, c.deadLetters])
      }
      return out
    }
    case 'sluice_dead_letters':
      return (await engine.deadLetters()).map((d) => [d.stream, d.partition, d.offset, d.reason, d.raw, d.receivedAt])
    case 'sluice_late_events':
      return (await engine.lateEvents()).map((l) => [
        l.query as string,
        l.stream as string,
        l.partition as number,
        l.offset as number,
        (l.eventTime as number | null) ?? null,
        finite(l.watermark as number),
        l.reason as string,
      ])
    case 'sluice_progress':
      return progressRows(engine).map((r) => [r.query, r.stream, r.status, r.position, r.end, r.end - r.position, r.fraction, r.rate, r.secondsLeft])
    case 'sluice_watermarks':
      return engine.allQueries().flatMap((q) => {
        const stream = baseStreamName(q.view.plan.source)
        const current = q.watermark.current
        return q.watermark.partitionWatermarks().map((w, p): Row => [q.name, stream, p, started(w), started(current)])
      })
    default:
      throw planError(SqlState.undefinedTable, `relation "${name}" does not exist`)
  }
}
