/**
 * The engine: streams in embedded logs, materialized views as continuous queries, one state store, and one
 * loop that moves events from logs through queries and checkpoints them.
 *
 * - Shared scan: per stream partition the loop reads from the lowest offset any query still needs, decodes
 *   each record once, and hands the batch to every query; a query that is ahead skips what it has seen.
 * - Exactly-once state: a checkpoint writes every query's dirty state, its source offsets and watermark in
 *   one atomic RocksDB batch; on start each query resumes from what was committed.
 * - DDL deploys into the running loop; the catalog persists as the SQL of each entry, replayed on start.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, statfs } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { SluiceError, SqlState, internalError, planError, type Span } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import { parseStatements } from '../parser/index.ts'
import { Catalog, type StreamDef, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { planView, type ViewPlan } from '../planner/view-plan.ts'
import { LIMIT_OPTIONS, formatApproxSize, formatSize, onlyLimitOptions, queryLimits, type QueryLimits } from '../planner/query-limits.ts'
import { baseStreamName } from '../planner/view-source.ts'
import { sliceSpec } from '../planner/hop-slices.ts'
import type { LookupJoinSpec } from '../planner/lookup-join.ts'
import type { EvalContext } from '../planner/runtime.ts'
import { StreamLog, partitionFor } from './log/stream-log.ts'
import { storageError } from './storage-error.ts'
import { FileSource } from './connectors/file-source.ts'
import { KafkaSource } from './connectors/kafka-source.ts'
import type { StreamSource } from './source.ts'
import { StateDb, type Mutation } from './state/rocks.ts'
import { StateTable } from './state/table.ts'
import { CacheBudget } from './state/budget.ts'
import { rowCodec, jsonCodec } from './state/codec.ts'
import { tableKey, tableKeyString, positionKey, META_NAMESPACE } from './state/layout.ts'
import { DecodeError, checkRow, encodeRow } from './decode.ts'
import { streamDecoder, type StreamDecoder } from './record-decoder.ts'
import { recordText } from './record-text.ts'
import { IngestKeys } from './ingest-keys.ts'
import { resetStreamWatermarks, resetTarget } from './watermark-reset.ts'
import { ContinuousQuery, type QueryProgress, type ViewLookup, type ViewOperator } from './continuous-query.ts'
import { SinkRuntime, type SinkProgress } from './sink.ts'
import { KafkaSinkWriter, type SinkRecord } from './connectors/kafka-sink.ts'
import { planSink, type SinkDef } from '../planner/sink-plan.ts'
import type { SliceState } from './operators/keyed-aggregate.ts'
import { buildOperator } from './operators/build.ts'
import { viewPlanTree } from '../planner/view-plan-tree.ts'
import { NotificationHub } from './notifications.ts'
import { ChangeFeed } from './change-feed.ts'
import { PriorityArbiter, TriggerFire } from './operators/trigger-fire.ts'
import { type WebhookAllowList, parseAllowList, refusalOf } from './webhook-policy.ts'
import { redactSecrets } from './webhook-secrets.ts'
import { StreamKeyState, keepsKeyState } from './operators/trigger-key-state.ts'
import { alterTriggerOptions, planTrigger, type TriggerDef } from '../planner/trigger-plan.ts'
import { equalityKeys } from '../planner/index-key.ts'

export interface EngineOptions {
  readonly dataDir: string
  /** Time between checkpoints while events flow. */
  readonly checkpointIntervalMs?: number
  /** Records read per partition per loop round. */
  readonly batchSize?: number
  /** State cache budget in entries, shared by all queries. */
  readonly cacheEntries?: number
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
}

interface StreamRuntime {
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

interface CatalogRecord {
  readonly id: number
  readonly kind: 'stream' | 'view' | 'sink' | 'trigger'
  readonly name: string
  readonly sql: string
  /** ALTER STREAM ... CLOSE was run: the input is finished. */
  readonly closed?: boolean
  /** ALTER TRIGGER (ALTER MATERIALIZED VIEW) statements run after the CREATE, in order. */
  readonly alters?: readonly string[]
}

const DEFAULT_CHECKPOINT_MS = 500
const DEFAULT_BATCH = 2048
/** Namespaces of sliced HOP views' slice tables: this plus the view's id (catalog ids stay far below it). */
const SLICE_NAMESPACE = 0x40000000
/** Namespaces of the per-key state all triggers of a stream share: this plus the stream's id. */
const TRIGGER_KEY_NAMESPACE = 0x20000000
/** Rows of a view handed at a time to a new view that reads it. */
const READER_CHUNK = 4096
const DEFAULT_CACHE_ENTRIES = 2_000_000
const MAX_DEAD_LETTER_RAW = 1024
const CATALOG_PREFIX = 'catalog/'
const PROGRESS_PREFIX = 'progress/'
const DEAD_LETTER_PREFIX = 'dead/'
const LATE_PREFIX = 'late/'
const OUTBOX_PREFIX = 'outbox/'
const SINK_PROGRESS_PREFIX = 'progress/sink-'
/** How long a shutdown waits for sinks to hand their last batches to Kafka (they stay in the outbox otherwise). */
const SINK_DRAIN_MS = 5000

export class Engine {
  readonly catalog = new Catalog()
  /** LISTEN / NOTIFY channels of all sessions and triggers. */
  readonly notifications = new NotificationHub()
  /** Live results: SUBSCRIBE looks for changes after every loop pass. */
  readonly changes = new ChangeFeed()
  /** Triggers by name; each runs as a continuous query (in `queries`) whose operator fires. */
  private readonly triggers = new Map<string, { def: TriggerDef; readonly query: ContinuousQuery; readonly operator: TriggerFire }>()
  /** Per stream (by name): the per-key state of its triggers (cooldown, max_fires), one table for all. */
  private readonly triggerKeyStates = new Map<string, StreamKeyState>()
  private readonly streams = new Map<string, StreamRuntime>()
  private readonly queries = new Map<string, ContinuousQuery>()
  private readonly tables = new Map<number, StateTable<Value[]>>()
  private readonly sinks = new Map<string, SinkRuntime>()
  private readonly budget: CacheBudget
  private readonly checkpointIntervalMs: number
  private readonly batchSize: number
  private readonly ctx: EvalContext = { now: Date.now() * 1000, user: 'sluice', database: 'sluice' }
  private pendingMutations: Mutation[] = []
  /** The checkpoint write under way, if any (settles, never rejects). */
  private commitInFlight: Promise<void> = Promise.resolve()
  /** Callers of checkpoint() waiting for the loop to write one. */
  private readonly checkpointRequests: { resolve: () => void; reject: (err: unknown) => void }[] = []
  /** Checkpoints are put off while this is positive (a sink taking its snapshot). */
  private checkpointHolds = 0
  /** Set once the loop has exited (close). */
  private stopped = false
  private pendingDeadLetters: DeadLetter[] = []
  private wakeLoop: (() => void) | null = null
  private stopping = false
  private loopDone: Promise<void> | null = null
  private lastCheckpoint = Date.now()
  /** When a round last moved records (busy()). */
  private lastMovedAt = Number.NEGATIVE_INFINITY

  /** Whether the engine is processing events now (a round moved records in the last 20 ms). */
  busy(): boolean {
    return performance.now() - this.lastMovedAt < 20
  }

  /** Why the last checkpoint failed, until one succeeds (degraded: see checkpointFailed). */
  checkpointFailure: SluiceError | null = null
  private dirtySinceCheckpoint = false
  /** Serializes DDL with checkpoints, so a checkpoint never sees half a deployment. */
  private ddlChain: Promise<unknown> = Promise.resolve()
  private readonly progressWaiters: (() => void)[] = []
  /** Work that must run between two rounds of the loop (see betweenRounds). */
  private readonly interludes: { fn: () => Promise<void>; resolve: () => void; reject: (err: unknown) => void }[] = []
  deadLetterCount = 0
  /** Answers of HTTP ingest batches by their Idempotency-Key (see ingest-keys.ts); set by open. */
  ingestKeys!: IngestKeys

  private constructor(
    readonly options: EngineOptions,
    private readonly db: StateDb,
  ) {
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_MS
    this.batchSize = options.batchSize ?? DEFAULT_BATCH
    this.budget = new CacheBudget(options.cacheEntries ?? DEFAULT_CACHE_ENTRIES)
    this.webhookAllow = parseAllowList(options.webhookAllow ?? [])
  }

  /** Where trigger webhooks may go. */
  private readonly webhookAllow: WebhookAllowList

  static async open(options: EngineOptions): Promise<Engine> {
    await mkdir(join(options.dataDir, 'streams'), { recursive: true })
    const db = await StateDb.open(join(options.dataDir, 'state'))
    const engine = new Engine(options, db)
    engine.ingestKeys = await IngestKeys.open(db)
    await engine.replayCatalog()
    engine.loopDone = engine.loop()
    return engine
  }

  // ------------------------------------------------------------------------------------------------------
  // DDL

  private async replayCatalog(): Promise<void> {
    const records: CatalogRecord[] = []
    for await (const [, value] of this.db.scan(prefixRange(CATALOG_PREFIX))) records.push(JSON.parse(value.toString('utf8')) as CatalogRecord)
    records.sort((a, b) => a.id - b.id)
    for (const rec of records) {
      const [parsed] = parseStatements(rec.sql)
      if (parsed === undefined) throw internalError(`catalog entry ${rec.name} has no statement`)
      const stmt = parsed.statement
      try {
        if (rec.kind === 'stream' && stmt.kind === 'create_stream') {
          const rt = await this.deployStream(planStream(stmt, rec.id, rec.sql), rec.closed === true)
          rt.closed = rec.closed === true
        } else if (rec.kind === 'sink' && stmt.kind === 'create_sink') {
          const raw = await this.db.get(Buffer.from(`${SINK_PROGRESS_PREFIX}${rec.id}`))
          const progress = raw ? (jsonCodec.decode(raw) as SinkProgress) : undefined
          await this.deploySink(planSink(stmt, this.catalog, rec.id, rec.sql), progress, true)
        } else if (rec.kind === 'trigger' && stmt.kind === 'create_trigger') {
          const progressRaw = await this.db.get(Buffer.from(`${PROGRESS_PREFIX}${rec.id}`))
          const progress = progressRaw ? (JSON.parse(progressRaw.toString('utf8'), reviveInfinity) as QueryProgress) : undefined
          this.catalog.reserveId(rec.id)
          let def = planTrigger(stmt, this.catalog, rec.id, rec.sql)
          for (const a of rec.alters ?? []) {
            const [p] = parseStatements(a)
            if (p?.statement.kind === 'alter_trigger') def = this.applyAlter(def, p.statement, a)
          }
          this.deployTrigger(def, progress)
          const upstream = this.upstreamOf(def.plan)
          if (upstream !== null) await this.startReading(this.queries.get(def.name)!, upstream, progress === undefined ? 'new_trigger' : 'resume')
        } else if (rec.kind === 'view' && stmt.kind === 'create_view') {
          const progressRaw = await this.db.get(Buffer.from(`${PROGRESS_PREFIX}${rec.id}`))
          const progress = progressRaw ? (JSON.parse(progressRaw.toString('utf8'), reviveInfinity) as QueryProgress) : undefined
          const def = this.alteredView(this.viewDef(stmt, rec.id, rec.sql), stmt, rec.alters ?? [])
          this.deployView(def, progress)
          // Over a view: a view that never reached a checkpoint starts again from the read view's rows.
          const upstream = this.upstreamOf(def.plan)
          if (upstream !== null) await this.startReading(this.queries.get(def.name)!, upstream, progress === undefined ? 'new_view' : 'resume')
        } else {
          throw internalError(`catalog entry ${rec.name} does not match its SQL`)
        }
      } catch (err) {
        // One entry that cannot start (a Kafka stream without a cluster) must not keep the rest down.
        // It stays in the catalog and comes back on a start where it can.
        console.error(`sluice: ${rec.kind} ${rec.name} not started: ${(err as Error).message}`)
        this.catalog.reserveId(rec.id)
      }
    }
    for (const rt of this.streams.values()) await this.startSource(rt, true)
  }

  /**
   * Starts fetching a Kafka stream: at the lowest offset its views committed, per partition (or per its
   * `start` option where none has).
   */
  private async startSource(rt: StreamRuntime, resume: boolean): Promise<void> {
    if (!(rt.log instanceof KafkaSource)) return
    const withProgress = resume ? rt.queries.filter((q) => q.eventsIn > 0 || q.offsets.some((o) => o > 0)) : []
    // A view that never reached a checkpoint starts from the stream's beginning (its `start` option).
    const fresh = withProgress.length < rt.queries.length && rt.def.source.kind === 'kafka' && rt.def.source.start === 'earliest'
    const positions = Array.from({ length: rt.def.partitions }, (_, p) => (withProgress.length === 0 || fresh ? undefined : Math.min(...withProgress.map((q) => q.offsets[p]!))))
    await rt.log.start(positions)
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ddlChain.then(fn, fn)
    this.ddlChain = run.catch(() => undefined)
    return run
  }

  createStream(stmt: ast.CreateStream, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.catalog.has(name)) {
        if (stmt.ifNotExists) return 'exists'
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span)
      }
      const def = planStream(stmt, this.catalog.allocateId(), sql)
      if (def.source.kind === 'file') this.filePath(def.source.path, stmt.options.find((o) => o.name === 'connector')?.span)
      const rt = await this.deployStream(def)
      try {
        await this.startSource(rt, false)
        await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
      } catch (err) {
        this.streams.delete(def.name)
        this.catalog.remove(def.name)
        await rt.log.close()
        throw err
      }
      return 'created'
    })
  }

  createView(stmt: ast.CreateView, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.catalog.has(name)) {
        if (stmt.ifNotExists) return 'exists'
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span)
      }
      const def = this.viewDef(stmt, this.catalog.allocateId(), sql)
      const upstream = this.upstreamOf(def.plan)
      if (upstream !== null) {
        // A view over a view starts from the read view's rows so far and moves in step with it.
        await this.betweenRounds(async () => {
          this.deployView(def, undefined)
          await this.startReading(this.queries.get(def.name)!, upstream, 'new_view')
        })
        // The rows it took in are checkpointed (and reach its sinks) without waiting for new events.
        this.dirtySinceCheckpoint = true
      } else {
        // A view that sees a keyed view as of each event starts where that view is, and moves in step with it.
        const partner = def.plan.join?.asOfEvent ? this.queries.get(def.plan.join.view) : undefined
        const progress = partner === undefined ? undefined : { offsets: partner.offsets.slice(), watermark: partner.watermark.snapshot(), eventsIn: 0, lateEvents: 0 }
        const rt = this.streams.get(def.plan.source.name)
        if (partner === undefined && rt?.log instanceof KafkaSource) {
          // A view starts from the beginning of its stream. Deployed between rounds, so that no round
          // under way releases records it still needs; then a fetcher that the other views moved past
          // (releasing what they read) fetches the topic again from the beginning.
          await this.betweenRounds(async () => this.deployView(def, progress))
          await rt.log.rewind(this.queries.get(def.name)!.offsets)
        } else {
          this.deployView(def, progress)
        }
      }
      await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
      this.wake()
      return 'created'
    })
  }

  /** CREATE TRIGGER: deployed at once, next to the running queries; survives restarts. */
  createTrigger(stmt: ast.CreateTrigger, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.triggers.has(name)) {
        if (stmt.ifNotExists) return 'exists'
        throw planError(SqlState.duplicateObject, `trigger "${name}" already exists`, stmt.name.span)
      }
      if (this.catalog.has(name) || this.sinks.has(name)) throw planError(SqlState.duplicateObject, `"${name}" already names a relation or sink`, stmt.name.span)
      if (stmt.action.kind === 'webhook') {
        // A URL the policy refuses before resolving anything is refused here, with its position, rather
        // than failing every delivery (delivery checks again: the list may change, names may resolve anew).
        const refused = refusalOf(this.webhookAllow, stmt.action.url)
        if (refused !== null) {
          const span = stmt.action.urlSpan ?? stmt.action.span
          if (refused.malformed) throw planError(SqlState.invalidParameterValue, `invalid webhook URL: ${redactSecrets(refused.message)}`, span)
          throw planError(SqlState.insufficientPrivilege, `webhook URL refused: ${redactSecrets(refused.message)}`, span)
        }
      }
      const def = planTrigger(stmt, this.catalog, this.catalog.allocateId(), sql)
      const upstream = this.upstreamOf(def.plan)
      if (upstream !== null) {
        // Priority groups decide per event of a stream; a view's rows are not events of one.
        if (def.spec.priorityGroup !== null) throw planError(SqlState.featureNotSupported, 'priority_group is for triggers on a stream', stmt.span, 'Put the campaigns of a group on the stream, joined to the view.')
        // On a view: it fires for the view's rows written from now on, in step with the view.
        await this.betweenRounds(async () => {
          this.deployTrigger(def, undefined)
          await this.startReading(this.queries.get(def.name)!, upstream, 'new_trigger')
        })
        const startKey = this.triggers.get(def.name)!.operator.startFrom([0])
        await this.db.commit([
          { kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) },
          { kind: 'put', key: Buffer.from(startKey, 'latin1'), value: rowCodec.encode([0]) },
        ])
        return 'created'
      }
      const rt = this.streams.get(def.plan.source.name)!
      await this.waitForAppends(rt)
      // It fires for events that arrive from now on. Joined to a keyed view of the same stream, it reads
      // in step with the view (from the view's position, skipping what is older than now); otherwise it
      // starts reading at the stream's end.
      const end = Array.from({ length: rt.def.partitions }, (_, p) => rt.log.endOffset(p))
      const partner = def.plan.join?.asOfEvent ? this.queries.get(def.plan.join.view) : undefined
      const offsets = partner?.offsets.slice() ?? end
      const watermark = partner?.watermark.snapshot() ?? { partitions: end.map(() => Number.NEGATIVE_INFINITY), current: Number.NEGATIVE_INFINITY }
      this.deployTrigger(def, { offsets, watermark, eventsIn: 0, lateEvents: 0 })
      const startKey = this.triggers.get(def.name)!.operator.startFrom(end)
      // Durable with the catalog entry: a trigger replayed before its first checkpoint skips history too.
      await this.db.commit([
        { kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) },
        { kind: 'put', key: Buffer.from(startKey, 'latin1'), value: rowCodec.encode(end) },
      ])
      this.wake()
      return 'created'
    })
  }

  /**
   * ALTER TRIGGER: ENABLE / DISABLE, or SET (options) merged over the trigger's own (cooldown, caps,
   * holdout, active period, webhook settings). The trigger keeps its position and per-key state; the
   * change applies from the next event on and survives restarts.
   */
  alterTrigger(stmt: ast.AlterTrigger, sql: string): Promise<void> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      const t = this.triggers.get(name)
      if (t === undefined) throw planError(SqlState.undefinedObject, `trigger "${name}" does not exist`, stmt.name.span)
      const def = this.applyAlter(t.def, stmt, sql)
      await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
      t.def = def
      t.operator.def = def
      t.query.limits = def.spec.limits
      // Raising a limit runs a trigger it stopped again, where it stopped; the next checkpoint keeps that.
      if (stmt.action.kind === 'set' && stmt.action.options.some((o) => LIMIT_OPTIONS.includes(o.name))) await this.resumeQuery(t.query, def.plan)
    })
  }

  /** The trigger definition after one ALTER (also used when the catalog is replayed). */
  private applyAlter(def: TriggerDef, stmt: ast.AlterTrigger, sql: string): TriggerDef {
    const alters = [...def.alters, sql]
    if (stmt.action.kind !== 'set') return { ...def, alters, enabled: stmt.action.kind === 'enable' }
    const [create] = parseStatements(def.sql)
    if (create === undefined || create.statement.kind !== 'create_trigger') throw internalError(`trigger ${def.name} has no CREATE TRIGGER statement`)
    const earlier = def.alters.flatMap((a) => {
      const [p] = parseStatements(a)
      return p?.statement.kind === 'alter_trigger' && p.statement.action.kind === 'set' ? p.statement.action.options : []
    })
    const options = [...earlier, ...stmt.action.options]
    // Later options win over earlier ones of the same name.
    const latest = [...new Map(options.map((o) => [o.name, o])).values()]
    return { ...def, alters, spec: alterTriggerOptions(def, create.statement, latest, this.catalog) }
  }

  /**
   * ALTER MATERIALIZED VIEW ... SET (max_state, max_output_rate): the view's new limits, from its next step
   * on and across restarts. A view its limit stopped runs again where it stopped, with the views that
   * stopped because it did.
   */
  alterView(stmt: ast.AlterView, sql: string): Promise<void> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      const entry = this.catalog.get(name)
      const query = this.queries.get(name)
      if (entry !== undefined && entry.kind !== 'view') throw planError(SqlState.wrongObjectType, `"${name}" is not a materialized view`, stmt.name.span)
      if (entry === undefined || query === undefined) throw planError(SqlState.undefinedTable, `materialized view "${name}" does not exist`, stmt.name.span)
      onlyLimitOptions(stmt.options, 'ALTER MATERIALIZED VIEW')
      const [create] = parseStatements(entry.sql)
      if (create === undefined || create.statement.kind !== 'create_view') throw internalError(`view ${name} has no CREATE MATERIALIZED VIEW statement`)
      const def = this.alteredView(entry, create.statement, [...(entry.alters ?? []), sql])
      const maxState = def.plan.limits.maxStateBytes
      if (maxState !== null && query.stateBytes() > maxState) {
        const span = stmt.options.find((o) => o.name === 'max_state')?.span ?? stmt.span
        throw planError(SqlState.invalidParameterValue, `max_state = '${formatSize(maxState)}' is below the state the view holds (${formatApproxSize(query.stateBytes())})`, span, 'Give a larger size, or drop and create the view.')
      }
      await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
      this.catalog.remove(name)
      this.catalog.add(def)
      query.limits = def.plan.limits
      await this.resumeQuery(query, def.plan)
    })
  }

  /**
   * Runs a query its own limit stopped again, from where it stopped (with the readers it stopped), between
   * rounds: a round under way has chosen its readers and where to read from. The next checkpoint keeps it.
   */
  private async resumeQuery(query: ContinuousQuery, plan: ViewPlan): Promise<void> {
    if (query.stopped === null || query.stopped.upstream !== undefined) return
    await this.betweenRounds(async () => {
      query.resume()
    })
    // A Kafka fetcher that the other views moved past fetches again from where this one is.
    const rt = this.upstreamOf(plan) === null ? this.streams.get(plan.source.name) : undefined
    if (rt?.log instanceof KafkaSource) await rt.log.rewind(query.offsets)
    this.dirtySinceCheckpoint = true
    this.wake()
  }

  /** A view's definition after the ALTER ... SET statements `alters`: the CREATE's limits, each ALTER's over them. */
  private alteredView(def: ViewDef, create: ast.CreateView, alters: readonly string[]): ViewDef {
    if (alters.length === 0) return def
    const options = [...create.options]
    for (const a of alters) {
      const [p] = parseStatements(a)
      if (p?.statement.kind === 'alter_view') options.push(...p.statement.options)
    }
    return { ...def, alters, plan: { ...def.plan, limits: queryLimits(options) } }
  }

  /** DROP TRIGGER: stops it at once; its state and audit rows go with it. */
  dropTrigger(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.serialized(async () => {
      const t = this.triggers.get(name)
      if (t === undefined) {
        if (ifExists) return false
        throw planError(SqlState.undefinedObject, `trigger "${name}" does not exist`, span)
      }
      await this.undeployTrigger(t.def)
      return true
    })
  }

  private deployTrigger(def: TriggerDef, progress: QueryProgress | undefined): void {
    const upstream = this.upstreamOf(def.plan)
    const rt = this.streams.get(baseStreamName(def.plan.source))
    if (rt === undefined) throw internalError(`stream ${baseStreamName(def.plan.source)} of trigger ${def.name} is not deployed`)
    const table = new StateTable<Value[]>(this.db, def.id, rowCodec, this.budget, progress === undefined)
    const operator = new TriggerFire(def, table, (values) => tableKeyString(def.id, values), (p, o) => positionKey(def.id, p, o), this.notifications, this.ctx, (trigger, partition, offset, body, reason) => {
      this.deadLetterCount++
      this.pendingDeadLetters.push({ stream: trigger, partition, offset, reason, raw: body.slice(0, MAX_DEAD_LETTER_RAW), receivedAt: Date.now() * 1000 })
      this.dirtySinceCheckpoint = true
    }, async (stream, row) => {
      await this.insert(stream, [row])
    }, this.triggerKeyStatesOf(rt), this.webhookAllow, () => {
      // A webhook's end changed the outbox and counters: the next checkpoint keeps them.
      this.dirtySinceCheckpoint = true
      this.wake()
    })
    operator.arbiter = upstream === null ? rt.arbiter : null
    void operator.resume()
    // The query runs like a view's; it is no relation, so it is not in the catalog.
    const asView: ViewDef = { kind: 'view', id: def.id, name: def.name, columns: def.plan.columns, plan: def.plan, sql: def.sql }
    const query = new ContinuousQuery(asView, operator, this.ctx, progress)
    this.limitQuery(query, def.spec.limits, table, undefined, progress)
    if (def.plan.join !== null) query.lookup = this.viewLookup(def.plan.join)
    // (Not on a view whose rows change: the index would pass its withdrawn rows to the trigger too.)
    const src = def.plan.source.source
    if (!(src.kind === 'view' && src.changes)) query.indexKeys = equalityKeys(def.plan.filter, def.plan.source.columns.length)
    this.tables.set(def.id, table)
    this.queries.set(def.name, query)
    this.triggers.set(def.name, { def, query, operator })
    // Registered before anything runs, so that another trigger's write does not prune its part as a dropped
    // one's; the stream's table is created with the first trigger that needs it (or an ALTER that does).
    if (keepsKeyState(def.spec)) {
      operator.keyStates.register(def.id)
      operator.keyStates.create()
    }
    if (upstream !== null) upstream.attach(query)
    else rt.queries.push(query)
  }

  private async undeployTrigger(def: TriggerDef): Promise<void> {
    const t = this.triggers.get(def.name)
    t?.operator.close()
    // Its parts of the stream's per-key state go lazily (trigger-key-state.ts); a new trigger never reads them.
    t?.operator.keyStates.unregister(def.id)
    this.triggers.delete(def.name)
    await this.retire(def)
  }

  /**
   * What dropping a view or a trigger shares: its query leaves the stream's scan, the view it joined stops
   * keeping per-event rows when nothing else joins it, and its catalog entry, progress and state go.
   */
  private async retire(def: ViewDef | TriggerDef): Promise<void> {
    const q = this.queries.get(def.name)
    this.queries.delete(def.name)
    if (q !== undefined) {
      const upstream = def.plan.source.source.kind === 'view' ? this.queries.get(def.plan.source.source.view) : undefined
      const rt = this.streams.get(def.plan.source.name)
      if (upstream !== undefined) await this.betweenRounds(async () => upstream.detach(q))
      else if (rt) rt.queries.splice(rt.queries.indexOf(q), 1)
    }
    const joined = def.plan.join?.asOfEvent ? this.queries.get(def.plan.join.view) : undefined
    const stillJoined = (name: string) =>
      this.catalog.views().some((v) => v.plan.join?.view === name && v.plan.join.asOfEvent) || [...this.triggers.values()].some((x) => x.def.plan.join?.view === name && x.def.plan.join.asOfEvent)
    if (joined !== undefined && !stillJoined(joined.name)) joined.trackSnapshots = false
    const table = this.tables.get(def.id)
    this.tables.delete(def.id)
    table?.clear()
    const slices = this.tables.get(SLICE_NAMESPACE + def.id)
    this.tables.delete(SLICE_NAMESPACE + def.id)
    slices?.clear()
    const prefix = tableKey(def.id, [])
    const slicePrefix = tableKey(SLICE_NAMESPACE + def.id, [])
    await this.db.commit([
      { kind: 'delete', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`) },
      { kind: 'delete', key: Buffer.from(`${PROGRESS_PREFIX}${def.id}`) },
      { kind: 'deleteRange', start: prefix.start, end: prefix.end },
      { kind: 'deleteRange', start: slicePrefix.start, end: slicePrefix.end },
    ])
  }

  /**
   * The per-key state of the triggers of a stream (or of views over it): one table for all, in a
   * namespace of the stream's own, created when a trigger first needs it and checkpointed with the rest.
   */
  private triggerKeyStatesOf(rt: StreamRuntime): StreamKeyState {
    let states = this.triggerKeyStates.get(rt.def.name)
    if (states === undefined) {
      const id = TRIGGER_KEY_NAMESPACE + rt.def.id
      states = new StreamKeyState(() => {
        // Not known to be empty: triggers of an earlier run may have kept state there.
        const table = new StateTable<Value[]>(this.db, id, rowCodec, this.budget, false)
        this.tables.set(id, table)
        return { table, encodeKey: (values) => tableKeyString(id, values) }
      })
      this.triggerKeyStates.set(rt.def.name, states)
    }
    return states
  }

  /** Triggers reading the stream, joining the view, or inserting into the stream called `name`. */
  private triggersOn(name: string): TriggerDef[] {
    return [...this.triggers.values()].map((t) => t.def).filter((d) => d.plan.source.name === name || d.plan.join?.view === name || (d.spec.action.kind === 'insert' && d.spec.action.stream === name))
  }

  /** Name, stream, channel, status and counters of every trigger (sluice_triggers). */
  async triggerStats(): Promise<{ def: TriggerDef; status: string; lastError: string | null; counters: Awaited<ReturnType<TriggerFire['stats']>> }[]> {
    const out = []
    for (const t of this.triggers.values()) {
      out.push({ def: t.def, status: t.query.status, lastError: t.query.lastError ? `${t.query.lastError.sqlstate}: ${t.query.lastError.message}` : null, counters: await t.operator.stats() })
    }
    return out
  }

  /**
   * ALTER STREAM name CLOSE: the stream's input is finished. Inserts are refused from now on; once every
   * view has read all of it, their watermark moves to the end of time and every open window finalizes,
   * as batch SQL over the same rows would. Survives restarts. Closing a closed stream does nothing.
   */
  closeStream(name: string, span?: Span): Promise<void> {
    return this.serialized(async () => {
      const rt = this.streams.get(name)
      if (rt === undefined) {
        const entry = this.catalog.get(name)
        if (entry?.kind === 'view') throw planError(SqlState.wrongObjectType, `"${name}" is not a stream`, span)
        throw planError(SqlState.undefinedTable, `stream "${name}" does not exist`, span)
      }
      if (rt.def.source.kind === 'kafka') {
        throw new SluiceError('plan', SqlState.featureNotSupported, `closing a Kafka stream is not supported yet`, { span, hint: 'Close streams on the embedded log or on a file.' })
      }
      if (rt.closed) return
      await this.waitForAppends(rt)
      // A file is finished: its last line counts without a newline.
      if (rt.log instanceof FileSource) await rt.log.finish()
      rt.closed = true
      await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${rt.def.id}`), value: catalogValue(rt.def, true) }])
      // Views that have read everything finalize now, so a SELECT right after sees it; between rounds, so
      // that no batch or watermark step of the loop runs through the same views at the same time.
      await this.betweenRounds(async () => {
        for (const q of rt.queries) {
          if (!q.offsets.every((o, p) => o >= rt.log.endOffset(p))) continue
          q.watermark.close()
          await q.afterWatermark()
          q.settle()
        }
      })
      this.wake()
    })
  }

  /**
   * ALTER STREAM name RESET WATERMARK [TO time] (see watermark-reset.ts): every view and trigger over the
   * stream gets its watermark anew, the views reading them follow; checkpointed before it returns, so it
   * holds across a restart. Refused for a closed stream (its time has ended) and while a sliced HOP view
   * would move back (it would put windows it already closed together again from fewer slices).
   */
  resetWatermark(name: string, to: { readonly text: string; readonly span: Span } | undefined, span?: Span): Promise<void> {
    return this.serialized(async () => {
      const rt = this.streams.get(name)
      if (rt === undefined) {
        const entry = this.catalog.get(name)
        if (entry?.kind === 'view') throw planError(SqlState.wrongObjectType, `"${name}" is not a stream`, span)
        throw planError(SqlState.undefinedTable, `stream "${name}" does not exist`, span)
      }
      const spec = rt.def.watermark
      if (spec === null) throw planError(SqlState.objectNotInPrerequisiteState, `stream "${name}" has no WATERMARK: its views have no watermark to reset`, span)
      if (rt.closed) throw planError(SqlState.objectNotInPrerequisiteState, `stream "${name}" is closed: its time has ended`, span)
      const target = to === undefined ? null : resetTarget(to)
      await this.waitForAppends(rt)
      await this.betweenRounds(async () => {
        await resetStreamWatermarks({ name, span, source: rt.log, decode: rt.decode, spec, queries: rt.queries, partitions: rt.def.partitions, target, ctx: this.ctx, batchSize: this.batchSize })
        this.dirtySinceCheckpoint = true
      })
      this.wake()
      await this.checkpoint()
    })
  }

  private async waitForAppends(rt: StreamRuntime): Promise<void> {
    while (rt.inFlightAppends > 0) await sleep(5)
  }

  /** CREATE SINK: starts writing the stream's events, or the view's changes, to a Kafka topic. */
  createSink(stmt: ast.CreateSink, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.sinks.has(name) || this.catalog.has(name)) {
        if (stmt.ifNotExists && this.sinks.has(name)) return 'exists'
        throw planError(SqlState.duplicateObject, `sink or relation "${name}" already exists`, stmt.name.span)
      }
      const def = planSink(stmt, this.catalog, this.catalog.allocateId(), sql)
      // No checkpoint between the snapshot and the sink's first capture: changes made meanwhile stay
      // dirty and reach the sink after the snapshot's rows, never before them.
      this.checkpointHolds++
      let sink: SinkRuntime
      try {
        sink = await this.deploySink(def, undefined, false)
      } catch (err) {
        this.checkpointHolds--
        throw err
      }
      try {
        // A view sink starts with the view as it is: every current group, then its changes.
        // Groups (or rows) written since the last checkpoint are left out: the sink's first checkpoint
        // captures them as changes, after these rows.
        const view = this.catalog.get(def.from)
        const q = view?.kind === 'view' ? this.queries.get(view.name) : undefined
        const table = view?.kind === 'view' ? this.tables.get(view.id) : undefined
        if (q !== undefined && table !== undefined) {
          const dirty = new Set([...table.changes()].map(([k]) => k))
          for await (const [key, value] of table.scan()) {
            if (dirty.has(key)) continue
            // Only visible groups; an entry of an appending view can hold a batch of rows (the rows a view
            // over a view takes in at once): each is a record, as when the checkpoint captures them.
            q.operator.changes(key, value, {
              upsert: (row, visible) => {
                if (visible) sink.upsert(row, true)
              },
              append: (row) => sink.append(row),
            })
          }
        }
        await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
        // The view's rows go out with the next checkpoint, without waiting for new events to make one.
        this.dirtySinceCheckpoint = true
        this.wake()
      } catch (err) {
        await this.undeploySink(sink)
        throw err
      } finally {
        this.checkpointHolds--
      }
      this.wake()
      return 'created'
    })
  }

  private async deploySink(def: SinkDef, progress: SinkProgress | undefined, recover: boolean): Promise<SinkRuntime> {
    const brokers = this.options.kafkaBrokers ?? []
    if (brokers.length === 0) {
      throw new SluiceError('plan', SqlState.featureNotSupported, `sink "${def.name}" writes Kafka topic "${def.topic}", but no Kafka cluster is configured`, {
        hint: 'Start sluice with --kafka host:port (or set SLUICE_KAFKA).',
      })
    }
    const writer = await KafkaSinkWriter.open({ brokers, topic: def.topic, sinkTag: `${await this.installationId()}-${def.id}`, transactional: def.delivery === 'exactly_once' })
    const source = this.catalog.get(def.from)
    const rt = source?.kind === 'stream' ? this.streams.get(source.name) : undefined
    const forget = (batch: number) => this.db.commit([{ kind: 'delete', key: Buffer.from(outboxKey(def.id, batch)) }])
    const sink = new SinkRuntime(def, rt?.def.partitions ?? 0, writer, forget, progress)
    if (recover) {
      for await (const [k, v] of this.db.scan(prefixRange(`${OUTBOX_PREFIX}${def.id}/`))) {
        sink.restore(Number(k.toString('utf8').split('/')[2]), jsonCodec.decode(v) as SinkRecord[])
      }
      if (sink.outbox.size > 0) {
        await sink.skipDelivered(await writer.lastDelivered())
        void sink.deliver()
      }
    }
    this.sinks.set(def.name, sink)
    rt?.sinks.push(sink)
    return sink
  }

  private async undeploySink(sink: SinkRuntime): Promise<void> {
    this.sinks.delete(sink.name)
    const rt = this.streams.get(sink.def.from)
    if (rt) rt.sinks.splice(rt.sinks.indexOf(sink), 1)
    await sink.close()
    const outbox = prefixRange(`${OUTBOX_PREFIX}${sink.def.id}/`)
    await this.db.commit([
      { kind: 'delete', key: Buffer.from(`${CATALOG_PREFIX}${sink.def.id}`) },
      { kind: 'delete', key: Buffer.from(`${SINK_PROGRESS_PREFIX}${sink.def.id}`) },
      { kind: 'deleteRange', start: outbox.gte, end: outbox.lt },
    ])
  }

  /** DROP SINK: stops it; batches not yet in Kafka are discarded. */
  dropSink(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.serialized(async () => {
      const sink = this.sinks.get(name)
      if (sink === undefined) {
        if (ifExists) return false
        throw planError(SqlState.undefinedObject, `sink "${name}" does not exist`, span)
      }
      await this.undeploySink(sink)
      return true
    })
  }

  private installation: string | null = null

  /** A random id made on first start and kept in the state store: names this Sluice to Kafka. */
  private async installationId(): Promise<string> {
    if (this.installation !== null) return this.installation
    const key = Buffer.from('meta/installation')
    const stored = await this.db.get(key)
    if (stored !== null) return (this.installation = stored.toString('utf8'))
    const id = randomBytes(6).toString('hex')
    await this.db.commit([{ kind: 'put', key, value: Buffer.from(id) }])
    return (this.installation = id)
  }

  sinkRuntimes(): SinkRuntime[] {
    return [...this.sinks.values()]
  }

  /** Plans a view without deploying it (EXPLAIN, and the first step of CREATE). */
  viewDef(stmt: ast.CreateView, id: number, sql: string): ViewDef {
    const plan = planView(stmt, this.catalog)
    return { kind: 'view', id, name: lastPart(stmt.name), columns: plan.columns, plan, sql }
  }

  drop(kind: 'stream' | 'view', name: string, ifExists: boolean, cascade: boolean, span?: Span): Promise<boolean> {
    return this.serialized(async () => {
      const entry = this.catalog.get(name)
      if (entry === undefined) {
        if (ifExists) return false
        throw planError(SqlState.undefinedTable, `${kind === 'stream' ? 'stream' : 'materialized view'} "${name}" does not exist`, span)
      }
      if (entry.kind !== kind) {
        throw planError(SqlState.datatypeMismatch, `"${name}" is not a ${kind === 'stream' ? 'stream' : 'materialized view'}`, span, kind === 'stream' ? 'Use DROP MATERIALIZED VIEW.' : 'Use DROP STREAM.')
      }
      // Everything that reads it, directly or through views over views, each after what it reads.
      const allDependents = this.catalog.allDependents(name)
      const sinkDependents = [...this.sinks.values()].filter((k) => k.def.from === name || allDependents.some((v) => v.name === k.def.from))
      if (sinkDependents.length > 0 && !cascade) {
        throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop ${name} because other objects depend on it`, {
          span,
          detail: sinkDependents.map((k) => `sink ${k.name} depends on ${k.def.from}`).join('\n'),
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        })
      }
      for (const k of sinkDependents) await this.undeploySink(k)
      // Triggers on the stream (or on any of its views), or joining this view.
      const affected = [name, ...allDependents.map((v) => v.name)]
      const triggers = [...new Set(affected.flatMap((n) => this.triggersOn(n)))]
      if (triggers.length > 0 && !cascade) {
        throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop ${name} because other objects depend on it`, {
          span,
          detail: triggers.map((t) => `trigger ${t.name} depends on ${t.plan.join?.view === name ? name : t.plan.source.name}`).join('\n'),
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        })
      }
      for (const t of triggers) await this.undeployTrigger(t)
      if (entry.kind === 'stream') {
        const dependents = this.catalog.dependents(name)
        if (dependents.length > 0 && !cascade) {
          throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop stream ${name} because other objects depend on it`, {
            span,
            detail: dependents.map((d) => `materialized view ${d.name} depends on stream ${name}`).join('\n'),
            hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
          })
        }
        // Views that read or join other views go before them.
        for (const d of allDependents.slice().reverse()) if (this.catalog.get(d.name) !== undefined) await this.undeployView(d)
        const rt = this.streams.get(name)
        this.streams.delete(name)
        this.catalog.remove(name)
        await rt?.log.close()
        if (entry.source.kind === 'embedded') await StreamLog.destroy(this.streamDir(entry.id))
        // The per-key state its triggers shared goes with it.
        this.triggerKeyStates.delete(name)
        const keyStates = tableKey(TRIGGER_KEY_NAMESPACE + entry.id, [])
        this.tables.get(TRIGGER_KEY_NAMESPACE + entry.id)?.clear()
        this.tables.delete(TRIGGER_KEY_NAMESPACE + entry.id)
        await this.db.commit([
          { kind: 'delete', key: Buffer.from(`${CATALOG_PREFIX}${entry.id}`) },
          { kind: 'deleteRange', start: keyStates.start, end: keyStates.end },
        ])
      } else {
        const dependents = this.catalog.dependents(name)
        if (dependents.length > 0 && !cascade) {
          throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop materialized view ${name} because other objects depend on it`, {
            span,
            detail: dependents.map((d) => `materialized view ${d.name} ${d.plan.source.name === name ? 'reads' : 'joins'} ${name}`).join('\n'),
            hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
          })
        }
        for (const d of allDependents.slice().reverse()) if (this.catalog.get(d.name) !== undefined) await this.undeployView(d)
        await this.undeployView(entry)
      }
      return true
    })
  }

  private async undeployView(def: ViewDef): Promise<void> {
    this.catalog.remove(def.name)
    await this.retire(def)
  }

  /** A file stream's file: `path` within the file directory (42501 outside it, 0A000 without one). */
  private filePath(path: string, span?: Span): string {
    const root = this.options.fileDir
    if (root === undefined) {
      throw new SluiceError('plan', SqlState.featureNotSupported, 'file streams are not enabled on this server', {
        span,
        hint: 'Start sluice with --files <directory> (or SLUICE_FILES); file streams read files inside it.',
      })
    }
    const base = resolve(root)
    const full = resolve(base, path)
    if (full !== base && full.startsWith(base + sep)) return full
    throw new SluiceError('plan', SqlState.insufficientPrivilege, `file "${path}" is outside the server's file directory`, {
      span,
      hint: 'Give a path relative to the file directory (sluice --files).',
    })
  }

  private streamDir(id: number): string {
    return join(this.options.dataDir, 'streams', String(id))
  }

  private async deployStream(planned: StreamDef, closed = false): Promise<StreamRuntime> {
    let def = planned
    let log: StreamSource
    if (def.source.kind === 'kafka') {
      const brokers = this.options.kafkaBrokers ?? []
      if (brokers.length === 0) {
        throw new SluiceError('plan', SqlState.featureNotSupported, `stream "${def.name}" reads Kafka topic "${def.source.topic}", but no Kafka cluster is configured`, {
          hint: 'Start sluice with --kafka host:port (or set SLUICE_KAFKA).',
        })
      }
      const source = await KafkaSource.open({ brokers, topic: def.source.topic, start: def.source.start, groupId: def.source.groupId })
      def = { ...def, partitions: source.partitionCount }
      log = source
    } else if (def.source.kind === 'file') {
      log = await FileSource.open(this.filePath(def.source.path), def.source.path, () => this.wake(), closed)
    } else {
      log = await StreamLog.open(this.streamDir(def.id), def.partitions)
    }
    this.catalog.add(def)
    const rt: StreamRuntime = { def, log, decode: streamDecoder(def), queries: [], arbiter: new PriorityArbiter(), sinks: [], deadLetterMark: new Array<number>(def.partitions).fill(0), inFlightAppends: 0, closed: false }
    this.streams.set(def.name, rt)
    return rt
  }

  private deployView(def: ViewDef, progress: QueryProgress | undefined): void {
    const upstream = this.upstreamOf(def.plan)
    const rt = this.streams.get(baseStreamName(def.plan.source))
    if (rt === undefined) throw internalError(`stream ${baseStreamName(def.plan.source)} of view ${def.name} is not deployed`)
    const table = new StateTable<Value[]>(this.db, def.id, rowCodec, this.budget, progress === undefined)
    const keyOf = (values: readonly Value[]) => tableKeyString(def.id, values)
    const positionOf = (p: number, o: number) => positionKey(def.id, p, o)
    const operator: ViewOperator = buildOperator(viewPlanTree(def.name, def.plan), { plan: def.plan, table, keyOf, positionOf, ctx: this.ctx, slices: () => this.sliceTable(def, progress === undefined) })
    const query = new ContinuousQuery(def, operator, this.ctx, progress)
    this.limitQuery(query, def.plan.limits, table, this.tables.get(SLICE_NAMESPACE + def.id), progress)
    if (def.plan.join !== null) query.lookup = this.viewLookup(def.plan.join)
    this.catalog.add(def)
    this.tables.set(def.id, table)
    this.queries.set(def.name, query)
    if (upstream !== null) upstream.attach(query)
    else rt.queries.push(query)
  }

  /** WITH (max_state, max_output_rate): the query's limits, and its state size (as checkpointed, then kept up). */
  private limitQuery(query: ContinuousQuery, limits: QueryLimits, table: StateTable<Value[]>, slices: StateTable<Value[]> | undefined, progress: QueryProgress | undefined): void {
    table.storedBytes = progress?.stateBytes ?? 0
    query.limits = limits
    query.stateBytes = () => Math.max(0, table.storedBytes + (slices?.storedBytes ?? 0))
  }

  /** A HOP view aggregated per slice (planner/hop-slices.ts): the table of its slices, in a namespace of its own. */
  private sliceTable(def: ViewDef, fresh: boolean): SliceState | undefined {
    const spec = sliceSpec(def.plan)
    if (spec === null) return undefined
    const id = SLICE_NAMESPACE + def.id
    const table = new StateTable<Value[]>(this.db, id, rowCodec, this.budget, fresh)
    this.tables.set(id, table)
    return { table, spec, encodeKey: (values) => tableKeyString(id, values) }
  }

  /** The running query a view or trigger over a view reads (views over views); null for one over a stream. */
  private upstreamOf(plan: ViewPlan): ContinuousQuery | null {
    const src = plan.source.source
    if (src.kind !== 'view') return null
    const upstream = this.queries.get(src.view)
    if (upstream === undefined) throw internalError(`view ${src.view} is not deployed`)
    return upstream
  }

  /**
   * A view or trigger over a view joins it where it is: in step with its position and watermark; a new
   * view first takes in the read view's rows so far, a new trigger fires only for rows written from now
   * on, and one resumed from a checkpoint is already where the read view is. Runs where no batch is half
   * done (between rounds, or before the loop starts).
   */
  private async startReading(query: ContinuousQuery, upstream: ContinuousQuery, start: 'new_view' | 'new_trigger' | 'resume'): Promise<void> {
    const rows = await upstream.rowsForReader()
    if (start !== 'resume') query.offsets.splice(0, query.offsets.length, ...upstream.offsets)
    if (start === 'new_view') {
      for (let i = 0; i < rows.length; i += READER_CHUNK) await query.consumeRows(rows.slice(i, i + READER_CHUNK))
    }
    query.followUpstream(upstream.watermark.current)
    await query.afterWatermark()
    query.settled = query.offsets.slice()
  }

  /** Runs `fn` between two rounds of the loop, where no query is in the middle of a batch. */
  private betweenRounds(fn: () => Promise<void>): Promise<void> {
    if (this.loopDone === null || this.stopping) return fn()
    return new Promise<void>((resolve, reject) => {
      this.interludes.push({ fn, resolve, reject })
      this.wake()
    })
  }

  private async runInterludes(): Promise<void> {
    for (const i of this.interludes.splice(0)) {
      try {
        await i.fn()
        i.resolve()
      } catch (err) {
        i.reject(err)
      }
    }
  }

  /**
   * How a lookup join reads its keyed view: as of each event from the view's per-batch rows when it reads
   * the same stream in step, otherwise the view's current row of the key.
   */
  private viewLookup(join: LookupJoinSpec): ViewLookup {
    const target = this.queries.get(join.view)
    const operator = target?.operator.keyed
    if (target === undefined || operator === undefined || operator === null) throw internalError(`view ${join.view} of a lookup join is not deployed`)
    if (join.asOfEvent) target.trackSnapshots = true
    return {
      async rows(batch, keys) {
        const out = new Array<Row | null>(keys.length).fill(null)
        const missing: number[] = []
        const snap = join.asOfEvent && target.snapshot?.partition === batch.partition ? target.snapshot : null
        keys.forEach((k, i) => {
          if (k === null) return
          const hit = snap?.rows.get(batch.offsets[i]!)
          if (hit !== undefined) out[i] = hit
          else missing.push(i)
        })
        if (missing.length > 0) {
          const found = await operator.lookup(missing.map((i) => keys[i]!))
          missing.forEach((i, j) => (out[i] = found[j]!))
        }
        return out
      },
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Ingest

  /** Appends rows (in the stream's column order) to the stream's log. Returns the number of rows. */
  async insert(streamName: string, rows: readonly Row[]): Promise<number> {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const { def } = rt
    const byPartition: string[][] = Array.from({ length: def.partitions }, () => [])
    let rr = 0
    for (const row of rows) {
      checkRow(row, def.columns)
      const p = def.keyColumn === null ? rr++ % def.partitions : partitionFor(keyText(row[def.keyColumn] ?? null), def.partitions)
      byPartition[p]!.push(encodeRow(row, def.columns))
    }
    return this.appendRaw(rt, byPartition, rows.length)
  }

  /**
   * Appends raw JSON records (HTTP ingest, COPY, a file's lines); malformed ones become dead letters when
   * read. A record given as bytes is stored as given: input read as bytes need not be decoded to text and
   * encoded back (only a keyed stream reads the key's text from it).
   */
  async insertJson(streamName: string, records: readonly (string | Buffer)[]): Promise<number> {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const { def } = rt
    const byPartition: (string | Buffer)[][] = Array.from({ length: def.partitions }, () => [])
    const keyOf = def.keyColumn === null ? null : jsonKeyExtractor(def.columns[def.keyColumn]!.name)
    let rr = 0
    for (const rec of records) {
      const k = keyOf === null ? undefined : keyOf(recordText(rec))
      // Keyless and malformed records go round-robin; the scan files malformed ones as dead letters.
      const p = k === undefined ? rr++ % def.partitions : partitionFor(k, def.partitions)
      byPartition[p]!.push(rec)
    }
    return this.appendRaw(rt, byPartition, records.length)
  }

  /**
   * Which of these raw records the stream's decoder refuses, and why (by index): what HTTP ingest answers
   * before it appends them with insertJson. A refused record is still appended; the scan files it as a
   * dead letter with the same reason, so nothing sent is lost.
   */
  checkRecords(streamName: string, records: readonly (string | Buffer)[]): { index: number; reason: string }[] {
    const rt = this.streams.get(streamName)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${streamName}" does not exist`)
    const refused: { index: number; reason: string }[] = []
    for (let i = 0; i < records.length; i++) {
      try {
        rt.decode(records[i]!, 0, 0, null)
      } catch (err) {
        refused.push({ index: i, reason: err instanceof DecodeError ? err.message : `decode failed: ${(err as Error).message}` })
      }
    }
    return refused
  }

  private async appendRaw(rt: StreamRuntime, byPartition: (Buffer | string)[][], count: number): Promise<number> {
    const log = rt.log
    if (!(log instanceof StreamLog)) {
      const source = rt.def.source
      throw new SluiceError('plan', SqlState.featureNotSupported, `stream "${rt.def.name}" reads ${source.kind === 'kafka' ? `Kafka topic "${source.topic}"` : source.kind === 'file' ? `file "${source.path}"` : 'another source'}; events are not inserted here`, {
        hint: source.kind === 'file' ? 'Append the events to the file.' : 'Produce the events to the topic.',
      })
    }
    if (this.checkpointFailure !== null) {
      const f = this.checkpointFailure
      throw new SluiceError('execution', f.sqlstate, `${f.message}; events are refused until checkpoints are written again`, {
        hint: 'Free space on the data directory\'s file system: checkpoints are retried by themselves, and ingest resumes when one succeeds.',
      })
    }
    if (rt.closed) {
      throw new SluiceError('execution', SqlState.objectNotInPrerequisiteState, `stream "${rt.def.name}" is closed: its input is finished`, {
        hint: 'A closed stream takes no more events; create a new stream for new input.',
      })
    }
    rt.inFlightAppends++
    try {
      // All or nothing across partitions (stream-log.ts): a failed append leaves no record behind.
      await log.appendBatch(byPartition)
    } catch (err) {
      throw storageError(`to stream "${rt.def.name}"`, err)
    } finally {
      rt.inFlightAppends--
    }
    this.wake()
    return count
  }

  // ------------------------------------------------------------------------------------------------------
  // The loop

  private wake(): void {
    const w = this.wakeLoop
    this.wakeLoop = null
    w?.()
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let moved = false
      try {
        moved = await this.round()
        if (moved) this.lastMovedAt = performance.now()
        await this.runInterludes()
        await this.maybeCheckpoint(moved)
      } catch (err) {
        // A failure here is not one query's fault (the state store or a log failed): report and retry.
        console.error(`sluice: engine loop error: ${(err as Error).stack ?? String(err)}`)
        await sleep(200)
      }
      this.notifyProgress()
      // Rounds that move records may follow each other at once (a new view's backfill, a burst): the
      // event loop is given back between them, so that sessions and clients are served meanwhile.
      if (moved) await new Promise<void>((resolve) => setImmediate(resolve))
      if (!moved && !this.stopping && this.checkpointRequests.length === 0 && this.interludes.length === 0) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve
          // Degraded (checkpoints failing): try again within a second, not a whole interval later.
          setTimeout(resolve, this.checkpointFailure === null ? this.checkpointIntervalMs : Math.min(1000, this.checkpointIntervalMs)).unref()
        })
      }
    }
  }

  /** One pass over every stream partition. Returns whether any records moved. */
  private async round(): Promise<boolean> {
    let moved = false
    for (const rt of [...this.streams.values()]) {
      const running = rt.queries.filter((q) => q.status === 'running')
      const sinks = rt.sinks.filter((k) => k.status === 'running')
      for (let p = 0; p < rt.def.partitions; p++) {
        const end = rt.log.endOffset(p)
        let from = Number.POSITIVE_INFINITY
        for (const q of running) from = Math.min(from, q.offsets[p]!)
        for (const k of sinks) from = Math.min(from, k.offsets[p]!)
        if (from >= end) continue
        const { records, nextOffset, offsets: given, timestamps } = await rt.log.read(p, from, this.batchSize)
        if (records.length === 0) {
          if (nextOffset > from) {
            // Offsets without records (Kafka transaction markers): move every query past them.
            for (const q of running) if (q.offsets[p]! < nextOffset) q.offsets[p] = nextOffset
            for (const k of sinks) if (k.offsets[p]! < nextOffset) k.offsets[p] = nextOffset
            moved = true
          }
          continue
        }
        moved = true
        const offsets = new Array<number>(records.length)
        const rows = new Array<Row | null>(records.length)
        for (let i = 0; i < records.length; i++) {
          const offset = given === undefined ? from + i : given[i]!
          offsets[i] = offset
          try {
            rows[i] = rt.decode(records[i]!, p, offset, timestamps === undefined ? null : timestamps[i]!)
          } catch (err) {
            rows[i] = null
            if (offset >= rt.deadLetterMark[p]!) this.fileDeadLetter(rt, p, offset, records[i]!, err)
          }
        }
        if (nextOffset > rt.deadLetterMark[p]!) rt.deadLetterMark[p] = nextOffset
        const batch = { partition: p, offsets, rows }
        for (const q of running) await q.consume(batch, nextOffset)
        await rt.arbiter.settle()
        for (const k of sinks) {
          k.consume(batch, nextOffset)
          k.flushEager()
        }
        this.dirtySinceCheckpoint = true
        if (rt.log.release !== undefined && running.length + sinks.length > 0) {
          rt.log.release(p, Math.min(...running.map((q) => q.offsets[p]!), ...sinks.map((k) => k.offsets[p]!)))
        }
      }
      const settled = rt.inFlightAppends === 0
      const idle = (o: number, p: number) => (rt.log.idle !== undefined ? rt.log.idle(p, o) : o >= rt.log.endOffset(p))
      for (const q of running) {
        q.watermark.advance(q.offsets.map((o, p) => settled && idle(o, p)))
        if (rt.closed && q.offsets.every((o, p) => o >= rt.log.endOffset(p))) q.watermark.close()
        await q.afterWatermark()
        q.settle()
      }
    }
    return moved
  }

  private fileDeadLetter(rt: StreamRuntime, partition: number, offset: number, record: Buffer | string, err: unknown): void {
    const reason = err instanceof DecodeError ? err.message : `decode failed: ${(err as Error).message}`
    const raw = recordText(typeof record === 'string' ? record : record.subarray(0, MAX_DEAD_LETTER_RAW)).slice(0, MAX_DEAD_LETTER_RAW)
    this.deadLetterCount++
    this.pendingDeadLetters.push({ stream: rt.def.name, partition, offset, reason, raw, receivedAt: Date.now() * 1000 })
  }

  /**
   * Writes all dirty state, offsets and watermarks in one atomic batch; resolves once it is durable.
   * While the loop runs, the batch is built by the loop between two rounds, where every query's state
   * and offsets agree; the write then overlaps with further processing.
   */
  checkpoint(): Promise<void> {
    if (this.loopDone === null || this.stopped) return this.checkpointNow()
    return new Promise<void>((resolve, reject) => {
      this.checkpointRequests.push({ resolve, reject })
      this.wake()
    })
  }

  private async checkpointNow(): Promise<void> {
    await this.commitInFlight
    for (const sink of this.sinks.values()) await Promise.race([sink.drain(), sleep(SINK_DRAIN_MS)])
    for (const table of this.tables.values()) if (table.sizesSettled() !== null) await table.sizesSettled()
    if (!(await this.stateStoreReady())) throw this.checkpointFailure
    await this.commitBatch(this.buildCheckpoint())
  }

  /**
   * After a failed checkpoint: once the data directory has room again, RocksDB is opened anew (after a
   * failed write it refuses every other until then) so that the next checkpoint can land. False while
   * there is still no room, or the store would not open.
   */
  private async stateStoreReady(): Promise<boolean> {
    if (this.checkpointFailure === null) return true
    try {
      const { bavail, bsize } = await statfs(this.options.dataDir)
      if (bavail * bsize < RECOVERY_FREE_BYTES) return false
      await this.db.reopen()
      return true
    } catch (err) {
      console.error(`sluice: the state store could not be opened again: ${(err as Error).message}`)
      return false
    }
  }

  /** Called by the loop between rounds: starts a checkpoint when one is due or asked for. */
  private async maybeCheckpoint(moved: boolean): Promise<void> {
    if (this.checkpointHolds > 0) return
    const requests = this.checkpointRequests.splice(0)
    const overBudget = this.budget.overBudgetDirty()
    const due = this.dirtySinceCheckpoint && (!moved || Date.now() - this.lastCheckpoint >= this.checkpointIntervalMs)
    if (requests.length === 0 && !overBudget && !due) return
    // At-least-once sinks: what they sent eagerly must be in Kafka before the offsets behind it commit.
    for (const sink of this.sinks.values()) await sink.drain()
    // One write in flight at a time; wait for it only when the checkpoint cannot be put off.
    if (this.budget.commitsInFlight > 0) {
      if (requests.length === 0 && !overBudget) return
      await this.commitInFlight
    }
    // Sizes of entries written without being read are looked up before the checkpoint replaces them (max_state).
    for (const table of this.tables.values()) if (table.sizesSettled() !== null) await table.sizesSettled()
    if (!(await this.stateStoreReady())) {
      requests.forEach((r) => r.reject(this.checkpointFailure))
      return
    }
    const write = this.commitBatch(this.buildCheckpoint())
    write.then(
      () => requests.forEach((r) => r.resolve()),
      (err: unknown) => {
        console.error(`sluice: checkpoint failed: ${(err as Error).stack ?? String(err)}`)
        requests.forEach((r) => r.reject(err))
      },
    )
  }

  /** Collects every dirty entry, offsets, watermarks, late events and dead letters; synchronous. */
  private buildCheckpoint(): Mutation[] {
    const mutations: Mutation[] = this.pendingMutations
    this.pendingMutations = []
    this.captureViewChanges()
    for (const table of this.tables.values()) table.collectDirty(mutations)
    for (const sink of this.sinks.values()) {
      const out = sink.takeBatch()
      if (out !== null) mutations.push({ kind: 'put', key: Buffer.from(outboxKey(sink.def.id, out.batch)), value: jsonCodec.encode(out.records) })
      mutations.push({ kind: 'put', key: Buffer.from(`${SINK_PROGRESS_PREFIX}${sink.def.id}`), value: jsonCodec.encode(sink.progress()) })
    }
    for (const q of this.queries.values()) {
      mutations.push({ kind: 'put', key: Buffer.from(`${PROGRESS_PREFIX}${q.view.id}`), value: Buffer.from(JSON.stringify(q.progress(), replaceInfinity)) })
      for (const late of q.pendingLate.splice(0)) {
        const key = `${LATE_PREFIX}${q.view.id}/${String(late.partition).padStart(5, '0')}/${String(late.offset).padStart(16, '0')}`
        mutations.push({ kind: 'put', key: Buffer.from(key), value: jsonCodec.encode({ ...late, query: q.name, stream: q.view.plan.source.name }) })
      }
    }
    for (const d of this.pendingDeadLetters.splice(0)) {
      const streamId = this.catalog.get(d.stream)?.id ?? this.triggers.get(d.stream)?.def.id ?? 0
      const key = `${DEAD_LETTER_PREFIX}${streamId}/${String(d.partition).padStart(5, '0')}/${String(d.offset).padStart(16, '0')}`
      mutations.push({ kind: 'put', key: Buffer.from(key), value: jsonCodec.encode(d) })
    }
    this.dirtySinceCheckpoint = false
    this.lastCheckpoint = Date.now()
    return mutations
  }

  /** View sinks: the groups this checkpoint writes become their upserts (before collectDirty clears them). */
  private captureViewChanges(): void {
    for (const sink of this.sinks.values()) {
      const view = this.catalog.get(sink.def.from)
      if (view?.kind !== 'view') continue
      const q = this.queries.get(view.name)
      const table = this.tables.get(view.id)
      if (q === undefined || table === undefined) continue
      for (const [key, value] of table.changes()) {
        if (value === undefined) continue
        q.operator.changes(key, value, sink)
      }
    }
  }

  private commitBatch(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve()
    this.budget.commitsInFlight++
    const write = this.db
      .commit(mutations)
      .then(
        () => {
          if (this.checkpointFailure !== null) console.error('sluice: checkpoints are written again')
          this.checkpointFailure = null
        },
        (err: unknown) => {
          this.checkpointFailed(mutations, err)
          throw this.checkpointFailure ?? err
        },
      )
      .finally(() => {
        this.budget.commitsInFlight--
      })
    this.commitInFlight = write.catch(() => undefined)
    // The outbox batches in this commit are durable once it lands: hand them to Kafka.
    void write.then(
      () => {
        for (const sink of this.sinks.values()) if (sink.pendingBatches > 0) void sink.deliver()
      },
      () => undefined,
    )
    return write
  }

  /**
   * Nothing of a failed checkpoint reached RocksDB (a write batch is all or nothing): its entries are dirty
   * again and its other writes (offsets, outbox batches, dead letters) go first in the next one, so a later
   * checkpoint that succeeds holds everything. Until one does, the engine is degraded: sluice_queries says
   * so, and ingest is refused, since events taken in now could only pile up in memory.
   */
  private checkpointFailed(mutations: Mutation[], err: unknown): void {
    for (const table of this.tables.values()) table.restoreUnflushed()
    this.pendingMutations = mutations.concat(this.pendingMutations)
    this.dirtySinceCheckpoint = true
    const failure = storageError('a checkpoint', err)
    const cause = (err as { cause?: { message?: string } }).cause?.message
    this.checkpointFailure =
      failure instanceof SluiceError ? failure : new SluiceError('execution', SqlState.ioError, `could not write a checkpoint: ${(err as Error).message}${cause ? `: ${cause}` : ''}`, { cause: err })
  }

  // ------------------------------------------------------------------------------------------------------
  // Reading

  query(name: string): ContinuousQuery | undefined {
    return this.queries.get(name)
  }

  allQueries(): ContinuousQuery[] {
    return [...this.queries.values()]
  }

  streamRuntime(name: string): { readonly def: StreamDef; readonly log: StreamSource; readonly decode: StreamDecoder; readonly closed: boolean } | undefined {
    return this.streams.get(name)
  }

  /**
   * Waits (up to `timeoutMs`) until the view has processed everything appended to its stream before this
   * call, so a SELECT after an INSERT sees the inserted events.
   */
  async waitCaughtUp(viewName: string, timeoutMs = 2000): Promise<void> {
    const q = this.queries.get(viewName)
    if (q === undefined) return
    const rt = this.streams.get(baseStreamName(q.view.plan.source))
    if (rt === undefined) return
    const targets = q.offsets.map((_, p) => rt.log.endOffset(p))
    const deadline = Date.now() + timeoutMs
    while (q.status === 'running' && q.settled.some((o, p) => o < targets[p]!) && Date.now() < deadline) {
      this.wake()
      await new Promise<void>((resolve) => {
        this.progressWaiters.push(resolve)
        setTimeout(resolve, 50).unref()
      })
    }
  }

  private notifyProgress(): void {
    for (const w of this.progressWaiters.splice(0)) w()
    this.changes.stepped()
  }

  /**
   * The view row of one group, got by key from a GROUP BY view's state ([] when there is none or HAVING
   * hides it); null when the view keeps its rows otherwise and must be read whole.
   */
  async viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null> {
    const q = this.queries.get(name)
    if (q === undefined) throw planError(SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    const keyed = q.operator.keyed
    if (keyed === null) return null
    const [row] = await keyed.lookup([[...keyValues]])
    return row === null || row === undefined ? [] : [row]
  }

  async *viewRows(name: string): AsyncGenerator<Row> {
    const q = this.queries.get(name)
    if (q === undefined) throw planError(SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    yield* q.rows()
  }

  /** Every event currently in a stream's log, decoded (dead letters skipped). */
  async *streamRows(name: string): AsyncGenerator<Row> {
    const rt = this.streams.get(name)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${name}" does not exist`)
    for (let p = 0; p < rt.def.partitions; p++) {
      const end = rt.log.endOffset(p)
      let offset = 0
      while (offset < end) {
        const { records, nextOffset, offsets, timestamps } = await rt.log.read(p, offset, this.batchSize)
        if (records.length === 0) break
        for (let i = 0; i < records.length; i++) {
          try {
            const row = rt.decode(records[i]!, p, offsets?.[i] ?? offset + i, timestamps?.[i] ?? null)
            if (row !== null) yield row
          } catch {
            // Dead letters are listed in sluice_dead_letters, not here.
          }
        }
        offset = nextOffset
      }
    }
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = []
    for await (const [, v] of this.db.scan(prefixRange(DEAD_LETTER_PREFIX))) out.push(jsonCodec.decode(v) as DeadLetter)
    out.push(...this.pendingDeadLetters)
    return out
  }

  async lateEvents(): Promise<(Record<string, unknown>)[]> {
    const out: Record<string, unknown>[] = []
    for await (const [, v] of this.db.scan(prefixRange(LATE_PREFIX))) out.push(jsonCodec.decode(v) as Record<string, unknown>)
    for (const q of this.queries.values()) for (const l of q.pendingLate) out.push({ ...l, query: q.name, stream: q.view.plan.source.name })
    return out
  }

  tableStats(id: number): { entries: number } {
    return { entries: this.tables.get(id)?.stats().cached ?? 0 }
  }

  async close(): Promise<void> {
    for (const t of this.triggers.values()) t.operator.close()
    this.stopping = true
    this.wake()
    await this.loopDone
    // DDL waiting for a pause between rounds gets it now (later ones run at once: the loop is stopping).
    await this.runInterludes()
    await this.ddlChain
    this.stopped = true
    const waiting = this.checkpointRequests.splice(0)
    try {
      await this.checkpointNow()
      for (const r of waiting) r.resolve()
    } catch (err) {
      // A full disk at shutdown is what a crash is: the next start resumes at the last checkpoint and reads
      // the rest again from the log. The stop itself goes on, so the process exits cleanly.
      if (!(err instanceof SluiceError) || this.checkpointFailure === null) throw err
      console.error(`sluice: the final checkpoint failed (${err.message}); the next start resumes from the last one`)
      for (const r of waiting) r.reject(err)
    }
    for (const sink of this.sinks.values()) {
      await Promise.race([sink.deliver(), sleep(SINK_DRAIN_MS)])
      await sink.close()
    }
    for (const rt of this.streams.values()) await rt.log.close()
    await this.db.close()
  }
}

/** Free bytes on the data directory's file system before a failed state store is opened again. */
const RECOVERY_FREE_BYTES = 16 * 1024 * 1024

const outboxKey = (sinkId: number, batch: number) => `${OUTBOX_PREFIX}${sinkId}/${String(batch).padStart(12, '0')}`

function lastPart(name: ast.QualifiedName): string {
  return name.parts[name.parts.length - 1]!
}

function catalogValue(def: StreamDef | ViewDef | SinkDef | TriggerDef, closed = false): Buffer {
  const base = { id: def.id, kind: def.kind, name: def.name, sql: def.sql }
  const alters = def.kind === 'trigger' || def.kind === 'view' ? (def.alters ?? []) : []
  const rec: CatalogRecord = closed ? { ...base, closed } : alters.length > 0 ? { ...base, alters } : base
  return Buffer.from(JSON.stringify(rec))
}

function prefixRange(prefix: string): { gte: Buffer; lt: Buffer } {
  const start = Buffer.from(prefix)
  const end = Buffer.from(prefix)
  end[end.length - 1]!++
  return { gte: start, lt: end }
}

/**
 * Finds a top-level key's value in a JSON record without parsing all of it: the text after the one
 * occurrence of `"name":` when it is a number or a plain string (what keys are); otherwise a full parse.
 * Returns the key as `keyText` would print the decoded value, or undefined for malformed records.
 */
export function jsonKeyExtractor(name: string): (record: string) => string | undefined {
  const needle = JSON.stringify(name)
  const plain = /^[\x20-\x7e]*$/.test(name) && !name.includes('"') && !name.includes('\\')
  const slow = (record: string): string | undefined => {
    try {
      const o = JSON.parse(record) as Record<string, unknown> | null
      const v = o !== null && typeof o === 'object' ? o[name] : undefined
      return v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v)
    } catch {
      return undefined
    }
  }
  if (!plain) return slow
  // Another occurrence (a duplicate key) goes the slow way. It is looked for without the opening quote:
  // JSON is full of quotes, and a search for a pattern that starts with one is several times slower.
  const tail = needle.slice(1)
  const occursAgain = (record: string, from: number): boolean => {
    for (let j = record.indexOf(tail, from + 1); j !== -1; j = record.indexOf(tail, j + 1)) if (record.charCodeAt(j - 1) === 34 /* " */) return true
    return false
  }
  return (record) => {
    const at = record.indexOf(needle)
    if (at === -1 || occursAgain(record, at + needle.length)) return slow(record)
    let i = at + needle.length
    while (record.charCodeAt(i) === 32) i++
    if (record.charCodeAt(i) !== 58 /* : */) return slow(record)
    i++
    while (record.charCodeAt(i) === 32) i++
    const c = record.charCodeAt(i)
    if (c === 34 /* " */) {
      const end = record.indexOf('"', i + 1)
      const text = end === -1 ? '' : record.slice(i + 1, end)
      return end === -1 || text.includes('\\') ? slow(record) : text
    }
    let end = i
    while (end < record.length) {
      const d = record.charCodeAt(end)
      if (d === 44 /* , */ || d === 125 /* } */ || d === 32 || d === 10 || d === 13 || d === 9) break
      end++
    }
    const token = record.slice(i, end)
    if (!/^-?\d+$/.test(token)) return slow(record)
    return String(Number(token))
  }
}

function keyText(v: Value): string {
  return v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function replaceInfinity(_key: string, v: unknown): unknown {
  if (v === Number.POSITIVE_INFINITY) return 'Infinity'
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity'
  return v
}

function reviveInfinity(_key: string, v: unknown): unknown {
  if (v === 'Infinity') return Number.POSITIVE_INFINITY
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY
  return v
}

export { META_NAMESPACE }
