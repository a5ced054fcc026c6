/**
 * What the parts of the engine share: one EngineState object holds the runtime (streams, queries, state
 * tables, sinks, triggers), the state store, and the loop's coordination (wake-ups, pauses between rounds,
 * checkpoint requests). Each part (catalog-ddl.ts, deploy.ts, loop.ts, checkpoints.ts, deliveries.ts, ...)
 * extends EnginePart, which reaches that object under the names the engine has always used, so that code
 * moves between parts without changing.
 */
import type { SluiceError } from '../../common/errors.ts'
import type { Value } from '../../common/types.ts'
import type * as ast from '../../parser/ast.ts'
import { Catalog, type StreamDef, type ViewDef } from '../../planner/catalog.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import type { TriggerDef } from '../../planner/trigger-plan.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import { EngineMetrics } from '../metrics.ts'
import type { RecordEnvelope, StreamSource } from '../source.ts'
import type { CommitLog, StateDb, Mutation } from '../state/rocks.ts'
import type { StateTable } from '../state/table.ts'
import { CacheBudget } from '../state/budget.ts'
import type { StreamDecoder } from '../record-decoder.ts'
import type { IngestKeys } from '../ingest-keys.ts'
import type { ContinuousQuery } from '../continuous-query.ts'
import type { SinkRuntime } from '../sink.ts'
import { NotificationHub } from '../notifications.ts'
import { ChangeFeed } from '../change-feed.ts'
import type { PriorityArbiter, TriggerFire } from '../operators/trigger-fire.ts'
import { type WebhookAllowList, parseAllowList } from '../webhook-policy.ts'
import type { StreamKeyState } from '../operators/trigger-key-state.ts'
import type { ClusterIngest, ClusterReads, TaskOutputs, TaskSinks } from './cluster-hooks.ts'

export interface EngineOptions {
  readonly dataDir: string
  /** Time between checkpoints while events flow. */
  readonly checkpointIntervalMs?: number
  /** Records read per partition per loop round. */
  readonly batchSize?: number
  /** State cache budget in entries, shared by all queries. */
  readonly cacheEntries?: number
  /**
   * Decode large batches on a second thread (engine/decode-ahead.ts). Off when absent; a server turns it on
   * where there is a second core (decodeThreadByDefault).
   */
  readonly decodeThread?: boolean
  /** Kafka bootstrap brokers (`host:port`); Kafka streams need them. */
  readonly kafkaBrokers?: readonly string[]
  /**
   * The directory file streams (`connector = 'file'`) read from: a stream's path is taken relative to it
   * and must stay inside it, so that SQL clients read only the files the operator put there. Without it,
   * file streams are refused.
   */
  readonly fileDir?: string
  /**
   * Hosts trigger webhooks may reach (`host[:port]`, `*.domain[:port]`, `*`; see webhook-policy.ts). Empty
   * or absent: any host at a public address; loopback, private and other non-public addresses only when
   * the host is listed exactly.
   */
  readonly webhookAllow?: readonly string[]
  /**
   * Cluster mode (cluster/tasks.ts): the partitions of every Kafka stream this engine reads — a task
   * engine's one partition, or none for a node's front engine, which keeps the catalog and computes
   * nothing. The other partitions are empty and idle here. Absent: all of them.
   */
  readonly kafkaPartitions?: readonly number[]
  /** Cluster mode: a task engine's state changelog (cluster/changelog.ts), given every batch before RocksDB. */
  readonly commitLog?: CommitLog
  /**
   * Cluster mode: the envelope a Kafka stream's records are wrapped in, if any (a repartition topic's,
   * whose records carry their writers' watermarks: cluster/watermark-envelope.ts).
   */
  readonly recordEnvelope?: (def: StreamDef) => RecordEnvelope | undefined
  /**
   * Cluster mode, with recordEnvelope: where each partition of the stream the writers read ends, as the
   * broker last said (an idle mark holds only while its partition ends where its writer had read to).
   */
  readonly carriedSourceEnds?: (def: StreamDef) => ((partition: number) => number | undefined) | undefined
  /** Cluster mode: where a task engine's triggers NOTIFY and INSERT (cluster-hooks.ts), set before anything runs. */
  readonly taskOutputs?: TaskOutputs
  /** Cluster mode: a task engine's sinks' tag per sink and task, and their fencing (cluster-hooks.ts). */
  readonly taskSinks?: TaskSinks
}

export interface StreamRuntime {
  readonly def: StreamDef
  /** The embedded log, or the Kafka topic. */
  readonly log: StreamSource
  /** Record -> row; null for a record that belongs to another stream of the topic (skipped). */
  readonly decode: StreamDecoder
  readonly queries: ContinuousQuery[]
  /** Decides, after each batch, which trigger of a priority group fires for an event. */
  readonly arbiter: PriorityArbiter
  /** Sinks that read this stream directly (append). */
  readonly sinks: SinkRuntime[]
  /** Next record to hand out as a dead letter, per partition, so replays do not file it twice. */
  readonly deadLetterMark: number[]
  /**
   * Appends under way. One INSERT writes to several partitions; while it is in flight a caught-up partition
   * is not idle (its part of the insert may still land), so the watermark cannot run ahead of it.
   */
  inFlightAppends: number
  /** The input is finished (ALTER STREAM ... CLOSE): inserts are refused; once read, time ends. */
  closed: boolean
}

export interface DeadLetter {
  readonly stream: string
  readonly partition: number
  readonly offset: number
  readonly reason: string
  readonly raw: string
  readonly receivedAt: number
}

/** A running trigger: its definition (ALTER TRIGGER replaces it), the query it runs as, and its operator. */
export interface TriggerRuntime {
  def: TriggerDef
  readonly query: ContinuousQuery
  readonly operator: TriggerFire
}

interface CatalogRecord {
  readonly id: number
  readonly kind: 'stream' | 'view' | 'sink' | 'trigger'
  readonly name: string
  readonly sql: string
  /** ALTER STREAM ... CLOSE was run: the input is finished. */
  readonly closed?: boolean
  /** ALTER TRIGGER (ALTER MATERIALIZED VIEW) statements run after the CREATE, in order. */
  readonly alters?: readonly string[]
  /** A view's hidden views (planner/hidden-views.ts), in creation order: their names and ids (state namespaces). */
  readonly hidden?: readonly { readonly name: string; readonly id: number }[]
}
export type { CatalogRecord }

const DEFAULT_CHECKPOINT_MS = 500
const DEFAULT_BATCH = 2048
/** Namespaces of sliced HOP views' slice tables: this plus the view's id (catalog ids stay far below it). */
export const SLICE_NAMESPACE = 0x40000000
/** Namespaces of the per-key state all triggers of a stream share: this plus the stream's id. */
export const TRIGGER_KEY_NAMESPACE = 0x20000000
/** Rows of a view handed at a time to a new view that reads it. */
export const READER_CHUNK = 4096
const DEFAULT_CACHE_ENTRIES = 2_000_000
export const MAX_DEAD_LETTER_RAW = 1024
export const CATALOG_PREFIX = 'catalog/'
export const PROGRESS_PREFIX = 'progress/'
export const DEAD_LETTER_PREFIX = 'dead/'
export const LATE_PREFIX = 'late/'
export const OUTBOX_PREFIX = 'outbox/'
export const SINK_PROGRESS_PREFIX = 'progress/sink-'
/** How long a shutdown waits for sinks to hand their last batches to Kafka (they stay in the outbox otherwise). */
export const SINK_DRAIN_MS = 5000

/** The engine's shared state: one per Engine, handed to every part. */
export class EngineState {
  readonly catalog = new Catalog()
  /** LISTEN / NOTIFY channels of all sessions and triggers. */
  readonly notifications = new NotificationHub()
  /** Live results: SUBSCRIBE looks for changes after every loop pass. */
  readonly changes = new ChangeFeed()
  /** Triggers by name; each runs as a continuous query (in `queries`) whose operator fires. */
  readonly triggers = new Map<string, TriggerRuntime>()
  /** Per stream (by name): the per-key state of its triggers (cooldown, max_fires), one table for all. */
  readonly triggerKeyStates = new Map<string, StreamKeyState>()
  readonly streams = new Map<string, StreamRuntime>()
  readonly queries = new Map<string, ContinuousQuery>()
  readonly tables = new Map<number, StateTable<Value[]>>()
  readonly sinks = new Map<string, SinkRuntime>()
  readonly budget: CacheBudget
  readonly checkpointIntervalMs: number
  readonly batchSize: number
  readonly ctx: EvalContext = { now: Date.now() * 1000, user: 'sluice', database: 'sluice' }
  pendingMutations: Mutation[] = []
  /** The checkpoint write under way, if any (settles, never rejects). */
  commitInFlight: Promise<void> = Promise.resolve()
  /** Callers of checkpoint() waiting for the loop to write one. */
  readonly checkpointRequests: { resolve: () => void; reject: (err: unknown) => void }[] = []
  /** Checkpoints are put off while this is positive (a sink taking its snapshot). */
  checkpointHolds = 0
  /** Set once the loop has exited (close). */
  stopped = false
  pendingDeadLetters: DeadLetter[] = []
  wakeLoop: (() => void) | null = null
  stopping = false
  loopDone: Promise<void> | null = null
  lastCheckpoint = Date.now()
  /** When a round last moved records (busy()). */
  lastMovedAt = Number.NEGATIVE_INFINITY
  /** Why the last checkpoint failed, until one succeeds (degraded: see checkpointFailed). */
  checkpointFailure: SluiceError | null = null
  dirtySinceCheckpoint = false
  /** Cluster mode: produces ingest into cluster streams to their topics (cluster-hooks.ts); null when embedded. */
  clusterIngest: ClusterIngest | null = null
  /** Cluster mode: where pull queries read views (the front engine computes none itself). */
  clusterReads: ClusterReads | null = null
  /** Cluster catch-up: streams created meanwhile, to start fetching once it is done (catalog-ddl.ts). */
  deferredSources: StreamRuntime[] | null = null
  /** Serializes DDL with checkpoints, so a checkpoint never sees half a deployment. */
  ddlChain: Promise<unknown> = Promise.resolve()
  readonly progressWaiters: (() => void)[] = []
  /** Work that must run between two rounds of the loop (see betweenRounds). */
  readonly interludes: { fn: () => Promise<void>; resolve: () => void; reject: (err: unknown) => void }[] = []
  deadLetterCount = 0
  /** Checkpoint and pull-query times, dead letters per stream, the loop's last turn (for /metrics and /health). */
  readonly metrics = new EngineMetrics()
  /** Answers of HTTP ingest batches by their Idempotency-Key (see ingest-keys.ts); set by open. */
  ingestKeys!: IngestKeys
  /** Where trigger webhooks may go. */
  readonly webhookAllow: WebhookAllowList

  constructor(
    readonly options: EngineOptions,
    readonly db: StateDb,
  ) {
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_MS
    this.batchSize = options.batchSize ?? DEFAULT_BATCH
    this.budget = new CacheBudget(options.cacheEntries ?? DEFAULT_CACHE_ENTRIES)
    this.webhookAllow = parseAllowList(options.webhookAllow ?? [])
    if (options.taskOutputs !== undefined) {
      this.clusterIngest = options.taskOutputs.ingest
      this.notifications.relay = options.taskOutputs.notify
    }
  }

  /** Wakes the loop if it waits for work. */
  wake(): void {
    const w = this.wakeLoop
    this.wakeLoop = null
    w?.()
  }

  /** Runs `fn` between two rounds of the loop, where no query is in the middle of a batch. */
  betweenRounds(fn: () => Promise<void>): Promise<void> {
    if (this.loopDone === null || this.stopping) return fn()
    return new Promise<void>((resolve, reject) => {
      this.interludes.push({ fn, resolve, reject })
      this.wake()
    })
  }

  /** Runs DDL one statement at a time (see ddlChain). */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ddlChain.then(fn, fn)
    this.ddlChain = run.catch(() => undefined)
    return run
  }

  /** Waits until no INSERT into the stream is half written. */
  async waitForAppends(rt: StreamRuntime): Promise<void> {
    while (rt.inFlightAppends > 0) await sleep(5)
  }
}

/**
 * A part of the engine. Its methods reach the shared state by the names the engine's code has always used
 * (`this.streams`, `this.dirtySinceCheckpoint`, `this.wake()`); every one of them reads or writes `s`.
 */
export abstract class EnginePart {
  constructor(protected readonly s: EngineState) {}

  get options(): EngineOptions {
    return this.s.options
  }
  get catalog(): Catalog {
    return this.s.catalog
  }
  get notifications(): NotificationHub {
    return this.s.notifications
  }
  get changes(): ChangeFeed {
    return this.s.changes
  }
  get checkpointFailure(): SluiceError | null {
    return this.s.checkpointFailure
  }
  set checkpointFailure(f: SluiceError | null) {
    this.s.checkpointFailure = f
  }
  get metrics(): EngineMetrics {
    return this.s.metrics
  }
  get deadLetterCount(): number {
    return this.s.deadLetterCount
  }
  set deadLetterCount(n: number) {
    this.s.deadLetterCount = n
  }
  get ingestKeys(): IngestKeys {
    return this.s.ingestKeys
  }
  set ingestKeys(k: IngestKeys) {
    this.s.ingestKeys = k
  }
  protected get db(): StateDb {
    return this.s.db
  }
  protected get triggers(): Map<string, TriggerRuntime> {
    return this.s.triggers
  }
  protected get triggerKeyStates(): Map<string, StreamKeyState> {
    return this.s.triggerKeyStates
  }
  protected get streams(): Map<string, StreamRuntime> {
    return this.s.streams
  }
  protected get queries(): Map<string, ContinuousQuery> {
    return this.s.queries
  }
  protected get tables(): Map<number, StateTable<Value[]>> {
    return this.s.tables
  }
  protected get sinks(): Map<string, SinkRuntime> {
    return this.s.sinks
  }
  protected get budget(): CacheBudget {
    return this.s.budget
  }
  protected get checkpointIntervalMs(): number {
    return this.s.checkpointIntervalMs
  }
  protected get batchSize(): number {
    return this.s.batchSize
  }
  protected get ctx(): EvalContext {
    return this.s.ctx
  }
  protected get webhookAllow(): WebhookAllowList {
    return this.s.webhookAllow
  }
  protected get pendingMutations(): Mutation[] {
    return this.s.pendingMutations
  }
  protected set pendingMutations(m: Mutation[]) {
    this.s.pendingMutations = m
  }
  protected get commitInFlight(): Promise<void> {
    return this.s.commitInFlight
  }
  protected set commitInFlight(p: Promise<void>) {
    this.s.commitInFlight = p
  }
  protected get checkpointRequests(): EngineState['checkpointRequests'] {
    return this.s.checkpointRequests
  }
  protected get checkpointHolds(): number {
    return this.s.checkpointHolds
  }
  protected set checkpointHolds(n: number) {
    this.s.checkpointHolds = n
  }
  protected get stopped(): boolean {
    return this.s.stopped
  }
  protected set stopped(b: boolean) {
    this.s.stopped = b
  }
  protected get pendingDeadLetters(): DeadLetter[] {
    return this.s.pendingDeadLetters
  }
  protected get wakeLoop(): (() => void) | null {
    return this.s.wakeLoop
  }
  protected set wakeLoop(w: (() => void) | null) {
    this.s.wakeLoop = w
  }
  protected get stopping(): boolean {
    return this.s.stopping
  }
  protected set stopping(b: boolean) {
    this.s.stopping = b
  }
  protected get loopDone(): Promise<void> | null {
    return this.s.loopDone
  }
  protected set loopDone(p: Promise<void> | null) {
    this.s.loopDone = p
  }
  protected get lastCheckpoint(): number {
    return this.s.lastCheckpoint
  }
  protected set lastCheckpoint(t: number) {
    this.s.lastCheckpoint = t
  }
  protected get lastMovedAt(): number {
    return this.s.lastMovedAt
  }
  protected set lastMovedAt(t: number) {
    this.s.lastMovedAt = t
  }
  protected get dirtySinceCheckpoint(): boolean {
    return this.s.dirtySinceCheckpoint
  }
  protected set dirtySinceCheckpoint(b: boolean) {
    this.s.dirtySinceCheckpoint = b
  }
  protected get ddlChain(): Promise<unknown> {
    return this.s.ddlChain
  }
  protected get progressWaiters(): (() => void)[] {
    return this.s.progressWaiters
  }
  protected get interludes(): EngineState['interludes'] {
    return this.s.interludes
  }
  protected wake(): void {
    this.s.wake()
  }
  protected betweenRounds(fn: () => Promise<void>): Promise<void> {
    return this.s.betweenRounds(fn)
  }
  protected serialized<T>(fn: () => Promise<T>): Promise<T> {
    return this.s.serialized(fn)
  }
  protected waitForAppends(rt: StreamRuntime): Promise<void> {
    return this.s.waitForAppends(rt)
  }
}

/** Free bytes on the data directory's file system before a failed state store is opened again. */
export const RECOVERY_FREE_BYTES = 16 * 1024 * 1024

export const outboxKey = (sinkId: number, batch: number) => `${OUTBOX_PREFIX}${sinkId}/${String(batch).padStart(12, '0')}`

export function lastPart(name: ast.QualifiedName): string {
  return name.parts[name.parts.length - 1]!
}

export function catalogValue(def: StreamDef | ViewDef | SinkDef | TriggerDef, closed = false): Buffer {
  const base = { id: def.id, kind: def.kind, name: def.name, sql: def.sql }
  const alters = def.kind === 'trigger' || def.kind === 'view' ? (def.alters ?? []) : []
  const hidden = def.kind === 'view' && def.plan.hidden !== undefined ? { hidden: def.plan.hidden.map((h) => ({ name: h.name, id: h.id })) } : {}
  const rec: CatalogRecord = closed ? { ...base, closed } : { ...base, ...(alters.length > 0 ? { alters } : {}), ...hidden }
  return Buffer.from(JSON.stringify(rec))
}

export function prefixRange(prefix: string): { gte: Buffer; lt: Buffer } {
  const start = Buffer.from(prefix)
  const end = Buffer.from(prefix)
  end[end.length - 1]!++
  return { gte: start, lt: end }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function replaceInfinity(_key: string, v: unknown): unknown {
  if (v === Number.POSITIVE_INFINITY) return 'Infinity'
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity'
  return v
}

export function reviveInfinity(_key: string, v: unknown): unknown {
  if (v === 'Infinity') return Number.POSITIVE_INFINITY
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY
  return v
}
