/**
 * `/metrics`: the engine's streams, views, triggers, sinks, checkpoints, pull queries and connections, and
 * the process, in the Prometheus text format (prometheus-text.ts). Everything is read when scraped from
 * what the engine keeps anyway (the counters behind the sluice_* system tables, executor/metrics.ts), so a
 * scrape costs a walk over the queries and nothing while nobody scrapes. docs/operations.md lists them.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Engine } from '../executor/engine.ts'
import { TriggerFire } from '../executor/operators/trigger-fire.ts'
import { partitionEnd } from '../executor/progress.ts'
import { baseStreamName } from '../planner/view-source.ts'
import { Exposition, type Sample } from './prometheus-text.ts'
import type { SessionRegistry } from './sessions.ts'

/** The event-loop delay is reported over windows of this length (then the histogram starts again). */
const LOOP_DELAY_WINDOW_MS = 5000
/** How finely the event-loop delay is sampled (a timer of this period, in milliseconds). */
const LOOP_DELAY_RESOLUTION_MS = 20

/** Trigger outcomes as labels, with the counter of sluice_triggers behind each. */
const TRIGGER_OUTCOMES = [
  ['delivered', 'delivered'],
  ['held_out', 'held_out'],
  ['cooldown', 'suppressed_cooldown'],
  ['cap', 'suppressed_cap'],
  ['priority', 'suppressed_priority'],
  ['inactive', 'inactive'],
  ['failed', 'failed'],
] as const

interface LoopDelay {
  readonly mean: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** The process's event-loop delay over the last complete window (nanoseconds in, seconds out). */
class LoopDelayMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
  private last: LoopDelay | null = null
  private readonly timer: NodeJS.Timeout

  constructor() {
    this.histogram.enable()
    this.timer = setInterval(() => {
      this.last = this.read()
      this.histogram.reset()
    }, LOOP_DELAY_WINDOW_MS)
    this.timer.unref()
  }

  private read(): LoopDelay {
    const h = this.histogram
    const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0)
    // The histogram counts from the timer's period: what is above it is the delay.
    const lag = (ns: number) => Math.max(0, s(ns) - LOOP_DELAY_RESOLUTION_MS / 1000)
    return h.count === 0 ? { mean: 0, p50: 0, p99: 0, max: 0 } : { mean: lag(h.mean), p50: lag(h.percentile(50)), p99: lag(h.percentile(99)), max: lag(h.max) }
  }

  current(): LoopDelay {
    return this.last ?? this.read()
  }

  close(): void {
    clearInterval(this.timer)
    this.histogram.disable()
  }
}

/** Gathers the exposition from an engine and the server's sessions. */
export class MetricsRegistry {
  private readonly loopDelay = new LoopDelayMonitor()
  private readonly startedAt = Date.now() / 1000 - process.uptime()

  constructor(
    private readonly engine: Engine,
    private readonly sessions: SessionRegistry,
  ) {}

  async render(): Promise<string> {
    const out = new Exposition()
    this.engineFamilies(out)
    this.streamFamilies(out)
    this.queryFamilies(out)
    await this.triggerFamilies(out)
    this.sinkFamilies(out)
    this.connectionFamilies(out)
    this.processFamilies(out)
    return out.text()
  }

  close(): void {
    this.loopDelay.close()
  }

  private engineFamilies(out: Exposition): void {
    const m = this.engine.metrics
    out.single('sluice_engine_loop_seconds_since_turn', 'gauge', 'Seconds since the engine loop last went round (it turns at least every checkpoint interval).', m.sinceTurn())
    out.single('sluice_engine_degraded', 'gauge', '1 while checkpoints cannot be written (storage degraded: events are refused with 53100), else 0.', this.engine.checkpointFailure === null ? 0 : 1)
    out.histogram('sluice_checkpoint_duration_seconds', 'Time to write one checkpoint (every dirty state entry, offsets and watermarks in one atomic RocksDB batch).', [{ labels: {}, histogram: m.checkpointSeconds }])
    out.single('sluice_checkpoint_failures_total', 'counter', 'Checkpoints that failed since start (a full or failing disk).', m.checkpointFailures)
    out.single('sluice_decode_thread_batches_total', 'counter', 'Batches of events decoded on the second thread since start (0 with the thread off: --no-decode-thread, one core, or a cluster node).', this.engine.batchesDecodedOnThread)
    out.histogram('sluice_pull_query_duration_seconds', 'Time of pull queries (SELECT) from start until their rows were computed, failed ones included.', [{ labels: {}, histogram: m.pullSeconds }])
  }

  private streamFamilies(out: Exposition): void {
    const events: Sample[] = []
    const ends: Sample[] = []
    const dead = new Map(this.engine.metrics.deadLetters)
    for (const def of this.engine.catalog.streams()) {
      const rt = this.engine.streamRuntime(def.name)
      if (!dead.has(def.name)) dead.set(def.name, 0)
      if (rt === undefined) continue
      let total = 0
      for (let p = 0; p < def.partitions; p++) {
        const end = partitionEnd(rt.log, p)
        total += end
        ends.push({ labels: { stream: def.name, partition: String(p) }, value: end })
      }
      events.push({ labels: { stream: def.name }, value: total })
    }
    out.family('sluice_stream_events_in_total', 'counter', 'Records in the stream: the sum of its partitions\' end offsets (appended to the embedded log, or the Kafka topic\'s end).', events)
    out.family('sluice_stream_end_offset', 'gauge', 'Where each partition of the stream ends now.', ends)
    out.family('sluice_dead_letters_total', 'counter', 'Records that could not be decoded (and webhook firings that failed for good, under the trigger\'s name) since start.', [...dead].map(([stream, value]) => ({ labels: { stream }, value })))
  }

  private queryFamilies(out: Exposition): void {
    const running: Sample[] = []
    const eventsIn: Sample[] = []
    const eventsOut: Sample[] = []
    const lag: Sample[] = []
    const delay: Sample[] = []
    const late: Sample[] = []
    const bytes: Sample[] = []
    const keys: Sample[] = []
    const nowMicros = Date.now() * 1000
    for (const q of this.engine.allQueries()) {
      const stream = baseStreamName(q.view.plan.source)
      const labels = { query: q.name, stream }
      running.push({ labels: { ...labels, kind: q.operator instanceof TriggerFire ? 'trigger' : 'view' }, value: q.status === 'running' ? 1 : 0 })
      eventsIn.push({ labels, value: q.eventsIn })
      eventsOut.push({ labels, value: q.eventsOut() })
      late.push({ labels, value: q.lateEvents })
      bytes.push({ labels, value: q.stateBytes() })
      keys.push({ labels, value: this.engine.tableStats(q.view.id).entries })
      const w = q.watermark.current
      if (Number.isFinite(w)) delay.push({ labels, value: Math.max(0, (nowMicros - w) / 1e6) })
      const rt = this.engine.streamRuntime(stream)
      if (rt !== undefined) q.offsets.forEach((o, p) => lag.push({ labels: { ...labels, partition: String(p) }, value: Math.max(0, partitionEnd(rt.log, p) - o) }))
    }
    out.family('sluice_query_running', 'gauge', '1 while the view or trigger runs, 0 once it failed or was stopped by a limit.', running)
    out.family('sluice_query_events_in_total', 'counter', 'Events the view or trigger has taken in (kept across restarts by its checkpoints).', eventsIn)
    out.family('sluice_query_events_out_total', 'counter', 'Rows the view put out (row changes) or candidate firings of the trigger, since start.', eventsOut)
    out.family('sluice_query_lag_events', 'gauge', 'Offsets between the view\'s position in a partition and where the partition ends.', lag)
    out.family('sluice_query_watermark_delay_seconds', 'gauge', 'Wall-clock time minus the view\'s watermark (absent before its first event and once its stream is closed and read).', delay)
    out.family('sluice_query_late_events_total', 'counter', 'Events that arrived behind the view\'s watermark (sluice_late_events).', late)
    out.family('sluice_query_state_bytes', 'gauge', 'Bytes of state (keys and values as stored) as of the last checkpoint: what max_state is held to.', bytes)
    out.family('sluice_query_state_keys', 'gauge', 'State entries the view holds in memory (sluice_queries.state_keys).', keys)
  }

  private async triggerFamilies(out: Exposition): Promise<void> {
    const firings: Sample[] = []
    const pending: Sample[] = []
    const retried: Sample[] = []
    for (const t of await this.engine.triggerStats()) {
      const labels = { query: t.def.name, stream: baseStreamName(t.def.plan.source) }
      for (const [outcome, counter] of TRIGGER_OUTCOMES) firings.push({ labels: { ...labels, outcome }, value: t.counters[counter] })
      pending.push({ labels, value: t.counters.pending })
      retried.push({ labels, value: t.counters.retried })
    }
    out.family('sluice_trigger_firings_total', 'counter', 'Candidate firings of the trigger by outcome: delivered, held_out, cooldown, cap, priority, inactive, failed (webhooks that failed for good).', firings)
    out.family('sluice_trigger_pending_firings', 'gauge', 'Webhook firings sent and not yet answered 2xx (nor failed).', pending)
    out.family('sluice_trigger_webhook_retries_total', 'counter', 'Webhook attempts that failed and were tried again.', retried)
  }

  private sinkFamilies(out: Exposition): void {
    const sinks = this.engine.sinkRuntimes()
    const labelsOf = (k: (typeof sinks)[number]) => ({ sink: k.name, source: k.def.from })
    out.family('sluice_sink_running', 'gauge', '1 while the sink delivers (0: failed; a sink retrying after an error still counts as 1).', sinks.map((k) => ({ labels: labelsOf(k), value: k.status === 'running' ? 1 : 0 })))
    out.family('sluice_sink_records_total', 'counter', 'Records the sink has handed to Kafka.', sinks.map((k) => ({ labels: labelsOf(k), value: k.recordsOut })))
    out.family('sluice_sink_batches_delivered_total', 'counter', 'Outbox batches committed to Kafka since start.', sinks.map((k) => ({ labels: labelsOf(k), value: k.batchesDelivered })))
    out.family('sluice_sink_pending_batches', 'gauge', 'Checkpointed outbox batches not yet committed to Kafka.', sinks.map((k) => ({ labels: labelsOf(k), value: k.pendingBatches })))
  }

  private connectionFamilies(out: Exposition): void {
    const byUser = new Map<string, number>()
    for (const s of this.sessions.all()) byUser.set(s.user, (byUser.get(s.user) ?? 0) + 1)
    out.family('sluice_connections', 'gauge', 'Open Postgres-protocol sessions (authenticated), by user.', [...byUser].map(([user, value]) => ({ labels: { user }, value })))
  }

  private processFamilies(out: Exposition): void {
    const mem = process.memoryUsage()
    const cpu = process.cpuUsage()
    const delay = this.loopDelay.current()
    out.single('process_resident_memory_bytes', 'gauge', 'Resident set size in bytes.', mem.rss)
    out.single('process_cpu_seconds_total', 'counter', 'User and system CPU time in seconds.', (cpu.user + cpu.system) / 1e6)
    out.single('process_start_time_seconds', 'gauge', 'Start time of the process in seconds since the Unix epoch.', Math.round(this.startedAt))
    out.single('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes.', mem.heapUsed)
    out.single('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap allocated, in bytes.', mem.heapTotal)
    out.single('nodejs_external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JavaScript (buffers, RocksDB), in bytes.', mem.external)
    out.single('nodejs_eventloop_lag_mean_seconds', 'gauge', `Mean event-loop delay over the last ${LOOP_DELAY_WINDOW_MS / 1000}-second window.`, delay.mean)
    out.single('nodejs_eventloop_lag_p50_seconds', 'gauge', `Median event-loop delay over the last ${LOOP_DELAY_WINDOW_MS / 1000}-second window.`, delay.p50)
    out.single('nodejs_eventloop_lag_p99_seconds', 'gauge', `99th percentile of the event-loop delay over the last ${LOOP_DELAY_WINDOW_MS / 1000}-second window.`, delay.p99)
    out.single('nodejs_eventloop_lag_max_seconds', 'gauge', `Largest event-loop delay over the last ${LOOP_DELAY_WINDOW_MS / 1000}-second window.`, delay.max)
  }
}
