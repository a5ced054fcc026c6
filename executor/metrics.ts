/**
 * What the engine counts for monitoring beyond what its queries, sinks and triggers already keep: how long
 * checkpoints and pull queries take, dead letters per stream, and when the loop last turned. The server
 * reads these (with the engine's own counters) into `/metrics` (server/metrics.ts); nothing here formats.
 */
import { ProgressSampler } from './progress.ts'

/** Upper bounds of checkpoint write times, in seconds (a RocksDB batch: milliseconds, seconds on a slow disk). */
export const CHECKPOINT_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Upper bounds of pull query times, in seconds (point lookups in microseconds, scans in seconds). */
export const PULL_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** A histogram with fixed upper bounds, as Prometheus keeps them: counts per bucket, their sum and count. */
export class Histogram {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound (+Inf). */
  private readonly counts: number[]
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must increase')
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    let i = 0
    while (i < this.bounds.length && value > this.bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }

  /** Cumulative counts per bound (observations <= bound), then +Inf's (= count). */
  cumulative(): number[] {
    const out: number[] = []
    let running = 0
    for (const c of this.counts) {
      running += c
      out.push(running)
    }
    return out
  }
}

export class EngineMetrics {
  /** Time from handing a checkpoint's batch to RocksDB until it was durable, for checkpoints that succeeded. */
  readonly checkpointSeconds = new Histogram(CHECKPOINT_BUCKETS)
  /** Checkpoints that failed (the engine is degraded until one succeeds). */
  checkpointFailures = 0
  /** Pull queries (SELECT) from their start until their rows were computed, successful or not. */
  readonly pullSeconds = new Histogram(PULL_BUCKETS)
  /** Dead letters filed since start, by stream (a trigger's webhook failures under the trigger's name). */
  readonly deadLetters = new Map<string, number>()
  /** performance.now() when the loop last completed a pass (a round, its checkpoint step, or an idle wait). */
  lastTurn = performance.now()
  /** Positions of the views over time, for their rate of progress (sluice_progress). */
  readonly progress = new ProgressSampler()

  /** The loop went round once more: it is alive. */
  turned(): void {
    this.lastTurn = performance.now()
  }

  /** Runs a pull query, counting its time in `pullSeconds` whether it succeeds or fails. */
  async timePull<T>(run: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await run()
    } finally {
      this.pullSeconds.observe((performance.now() - started) / 1000)
    }
  }

  deadLetter(stream: string): void {
    this.deadLetters.set(stream, (this.deadLetters.get(stream) ?? 0) + 1)
  }

  /** Seconds since the loop last went round. */
  sinceTurn(now = performance.now()): number {
    return (now - this.lastTurn) / 1000
  }
}
