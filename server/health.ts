/**
 * `/health` and `/ready`, for orchestrators' probes (open even when authentication is on, so they say
 * nothing about the data: no SQL, no errors, no user names).
 *
 * - health: the process answers and the engine loop turns (it goes round at least every checkpoint
 *   interval), and checkpoints are being written. 503 when the loop has not turned for STALL_SECONDS (or ten
 *   checkpoint intervals, if longer), or while storage is degraded (a checkpoint failed; executor/storage-error.ts).
 * - ready: the catalog is replayed (the HTTP port opens only after that) and every view and trigger that
 *   existed at start has processed its stream up to where it ended at start: what was appended while the
 *   server was down and what was not yet checkpointed before it stopped. A query that reached it stays
 *   ready; one that failed does not hold readiness back (sluice_queries says why it failed); views created
 *   later are not waited for.
 */
import type { Engine } from '../executor/engine.ts'
import { partitionEnd, queryPosition } from '../executor/progress.ts'

/** The loop is stalled when it has not turned for this long (seconds). */
export const STALL_SECONDS = 30

export interface ProbeAnswer {
  readonly status: 200 | 503
  readonly body: Record<string, unknown>
}

export class HealthProbes {
  /** Per query not yet ready: where each partition of its stream ended at start. */
  private readonly targets = new Map<string, number[]>()
  private readonly stallSeconds: number

  constructor(private readonly engine: Engine) {
    this.stallSeconds = Math.max(STALL_SECONDS, (10 * (engine.options.checkpointIntervalMs ?? 0)) / 1000)
    for (const q of engine.allQueries()) {
      const at = queryPosition(q, (name) => engine.streamRuntime(name))
      if (at !== undefined) this.targets.set(q.name, at.ends.slice())
    }
  }

  health(): ProbeAnswer {
    const since = this.engine.metrics.sinceTurn()
    const loop = { loop_seconds_since_turn: Math.round(since * 1000) / 1000 }
    if (since > this.stallSeconds) return { status: 503, body: { status: 'stalled', ...loop } }
    // Only that storage fails, not why: the reason (paths, errors) is for sluice_queries and the log.
    if (this.engine.checkpointFailure !== null) return { status: 503, body: { status: 'degraded', reason: 'checkpoints cannot be written', ...loop } }
    return { status: 200, body: { status: 'ok', ...loop } }
  }

  ready(): ProbeAnswer {
    const waiting: { query: string; position: number; target: number }[] = []
    for (const [name, target] of this.targets) {
      const q = this.engine.query(name)
      const at = q === undefined ? undefined : queryPosition(q, (s) => this.engine.streamRuntime(s))
      // Dropped, failed, or its stream gone: nothing to wait for.
      if (q === undefined || q.status !== 'running' || at === undefined) {
        this.targets.delete(name)
        continue
      }
      // A Kafka topic's end is known once the broker first answered: until then, take it as it comes.
      const rt = this.engine.streamRuntime(at.stream)!
      target.forEach((t, p) => {
        if (t === 0 && rt.log.highWatermark !== undefined) target[p] = partitionEnd(rt.log, p)
      })
      if (at.positions.every((o, p) => o >= target[p]!)) {
        this.targets.delete(name)
        continue
      }
      const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0)
      waiting.push({ query: name, position: sum(at.positions.map((o, p) => Math.min(o, target[p]!))), target: sum(target) })
    }
    if (waiting.length > 0) return { status: 503, body: { status: 'catching_up', not_ready: waiting } }
    return { status: 200, body: { status: 'ready' } }
  }
}
