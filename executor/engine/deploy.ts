/**
 * Deployment: putting streams, views and triggers into the running engine and taking them out again. A
 * stream gets its log (embedded, Kafka or a file); a view or trigger gets its state table, its operator and a
 * continuous query, placed on its stream's scan or behind the view it reads; retiring one removes its query,
 * state and progress. Used by DDL (catalog-ddl.ts, trigger-ddl.ts) and by the catalog's replay on start.
 */
import { join, resolve, sep } from 'node:path'
import { SluiceError, SqlState, internalError, type Span } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { type StreamDef, type ViewDef } from '../../planner/catalog.ts'
import { type ViewPlan } from '../../planner/view-plan.ts'
import { type QueryLimits } from '../../planner/query-limits.ts'
import { baseStreamName } from '../../planner/view-source.ts'
import { sliceSpec } from '../../planner/hop-slices.ts'
import type { LookupJoinSpec } from '../../planner/lookup-join.ts'
import { StreamLog } from '../log/stream-log.ts'
import { FileSource } from '../connectors/file-source.ts'
import { isKafkaLog } from '../connectors/kafka-log.ts'
import type { StreamSource } from '../source.ts'
import { StateTable } from '../state/table.ts'
import { rowCodec } from '../state/codec.ts'
import { tableKey, tableKeyString, positionKey } from '../state/layout.ts'
import { streamDecoder } from '../record-decoder.ts'
import { ContinuousQuery, type QueryProgress, type ViewLookup, type ViewOperator } from '../continuous-query.ts'
import type { SliceState } from '../operators/keyed-aggregate.ts'
import type { KeyedReads } from '../operators/operator.ts'
import { buildOperator } from '../operators/build.ts'
import { viewPlanTree } from '../../planner/view-plan-tree.ts'
import { PriorityArbiter } from '../operators/trigger-fire.ts'
import { StreamKeyState, keepsKeyState } from '../operators/trigger-key-state.ts'
import { type TriggerDef, triggerPlanTree } from '../../planner/trigger-plan.ts'
import { offsetsIn, slotBase, streamsOf } from '../query-slots.ts'
import { conditionKeys, keysCover } from '../../planner/index-key.ts'
import { CATALOG_PREFIX, EnginePart, EngineState, MAX_DEAD_LETTER_RAW, PROGRESS_PREFIX, READER_CHUNK, SLICE_NAMESPACE, type StreamRuntime, TRIGGER_KEY_NAMESPACE } from './state.ts'
import { type Inserts } from './inserts.ts'

export class Deploy extends EnginePart {
  constructor(s: EngineState, private readonly inserts: Inserts) {
    super(s)
  }

  /**
   * Starts fetching a Kafka stream: at the lowest offset its views committed, per partition (or per its
   * `start` option where none has).
   */
  async startSource(rt: StreamRuntime, resume: boolean): Promise<void> {
    if (!isKafkaLog(rt.log)) return
    const withProgress = resume ? rt.queries.filter((q) => q.eventsIn > 0 || q.offsets.some((o) => o > 0)) : []
    // A view that never reached a checkpoint starts from the stream's beginning (its `start` option).
    const fresh = withProgress.length < rt.queries.length && rt.def.source.kind === 'kafka' && rt.def.source.start === 'earliest'
    const positions = Array.from({ length: rt.def.partitions }, (_, p) => (withProgress.length === 0 || fresh ? undefined : Math.min(...withProgress.map((q) => q.offsets[slotBase(q.slots, rt.def.name) + p]!))))
    await rt.log.start(positions)
  }

  /**
   * Runs a query its own limit stopped again, from where it stopped (with the readers it stopped), between
   * rounds: a round under way has chosen its readers and where to read from. The next checkpoint keeps it.
   */
  async resumeQuery(query: ContinuousQuery, plan: ViewPlan): Promise<void> {
    if (query.stopped === null || query.stopped.upstream !== undefined) return
    await this.betweenRounds(async () => {
      query.resume()
    })
    // A Kafka fetcher that the other views moved past fetches again from where this one is.
    if (this.upstreamOf(plan) === null) {
      for (const stream of streamsOf(query.slots)) {
        const log = this.streams.get(stream)?.log
        if (isKafkaLog(log)) await log.rewind(offsetsIn(query.slots, query.offsets, stream))
      }
    }
    this.dirtySinceCheckpoint = true
    this.wake()
  }

  deployTrigger(def: TriggerDef, progress: QueryProgress | undefined): void {
    const upstream = this.upstreamOf(def.plan)
    const rt = this.streams.get(baseStreamName(def.plan.source))
    if (rt === undefined) throw internalError(`stream ${baseStreamName(def.plan.source)} of trigger ${def.name} is not deployed`)
    const table = new StateTable<Value[]>(this.db, def.id, rowCodec, this.budget, progress === undefined)
    const operator = buildOperator(triggerPlanTree(def), {
      plan: def.plan,
      table,
      keyOf: (values) => tableKeyString(def.id, values),
      positionOf: (p, o) => positionKey(def.id, p, o),
      ctx: this.ctx,
      slices: () => undefined,
      trigger: {
        hub: this.notifications,
        deadLetter: (trigger, partition, offset, body, reason) => {
          this.deadLetterCount++
          this.metrics.deadLetter(trigger)
          this.pendingDeadLetters.push({ stream: trigger, partition, offset, reason, raw: body.slice(0, MAX_DEAD_LETTER_RAW), receivedAt: Date.now() * 1000 })
          this.dirtySinceCheckpoint = true
        },
        insert: async (stream, row) => {
          await this.inserts.insert(stream, [row])
        },
        keyStates: this.triggerKeyStatesOf(rt),
        webhookAllow: this.webhookAllow,
        touched: () => {
          // A webhook's end changed the outbox and counters: the next checkpoint keeps them.
          this.dirtySinceCheckpoint = true
          this.wake()
        },
      },
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
    if (!(src.kind === 'view' && src.changes)) {
      const width = def.plan.source.columns.length
      const joined = def.plan.join?.columns.length ?? 0
      query.indexKeys = conditionKeys(def.plan.filter, width, joined)
      query.indexCovers = query.indexKeys.length > 0 && keysCover(def.plan.filter, width, joined)
    }
    this.tables.set(def.id, table)
    this.queries.set(def.name, query)
    this.triggers.set(def.name, { def, query, operator })
    // Registered before anything runs, so that another trigger's write does not prune its part as a dropped
    // one's; the stream's table is created with the first trigger that needs it (or an ALTER that does).
    if (keepsKeyState(def.spec)) {
      operator.keyStates.register(def.id)
      operator.keyStates.create()
    }
    if (upstream !== null) {
      upstream.attach(query)
      query.slots = upstream.slots
    } else rt.queries.push(query)
  }

  async undeployTrigger(def: TriggerDef): Promise<void> {
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
      if (upstream !== undefined) await this.betweenRounds(async () => upstream.detach(q))
      else {
        for (const s of streamsOf(q.slots)) {
          const rt = this.streams.get(s)
          const i = rt?.queries.indexOf(q) ?? -1
          if (i !== -1) rt!.queries.splice(i, 1)
        }
      }
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

  async undeployView(def: ViewDef): Promise<void> {
    this.catalog.remove(def.name)
    await this.retire(def)
  }

  /** A file stream's file: `path` within the file directory (42501 outside it, 0A000 without one). */
  filePath(path: string, span?: Span): string {
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

  streamDir(id: number): string {
    return join(this.options.dataDir, 'streams', String(id))
  }

  async deployStream(planned: StreamDef, closed = false): Promise<StreamRuntime> {
    let def = planned
    let log: StreamSource
    if (def.source.kind === 'kafka') {
      const brokers = this.options.kafkaBrokers ?? []
      if (brokers.length === 0) {
        throw new SluiceError('plan', SqlState.featureNotSupported, `stream "${def.name}" reads Kafka topic "${def.source.topic}", but no Kafka cluster is configured`, {
          hint: 'Start sluice with --kafka host:port (or set SLUICE_KAFKA).',
        })
      }
      const envelope = this.options.recordEnvelope?.(def)
      const sourceEnds = envelope === undefined ? undefined : this.options.carriedSourceEnds?.(def)
      const { KafkaSource } = await import('../connectors/kafka-source.ts')
      const source = await KafkaSource.open({ brokers, topic: def.source.topic, start: def.source.start, groupId: def.source.groupId, onArrival: () => this.wake(), ...(this.options.kafkaPartitions === undefined ? {} : { partitions: this.options.kafkaPartitions }), ...(envelope === undefined ? {} : { envelope }), ...(sourceEnds === undefined ? {} : { sourceEnds }) })
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

  deployView(def: ViewDef, progress: QueryProgress | undefined): void {
    const upstream = this.upstreamOf(def.plan)
    const rt = this.streams.get(baseStreamName(def.plan.source))
    if (rt === undefined) throw internalError(`stream ${baseStreamName(def.plan.source)} of view ${def.name} is not deployed`)
    const table = new StateTable<Value[]>(this.db, def.id, rowCodec, this.budget, progress === undefined)
    const keyOf = (values: readonly Value[]) => tableKeyString(def.id, values)
    const positionOf = (p: number, o: number) => positionKey(def.id, p, o)
    const operator: ViewOperator = buildOperator(viewPlanTree(def.name, def.plan), {
      plan: def.plan,
      table,
      keyOf,
      positionOf,
      ctx: this.ctx,
      slices: () => this.sliceTable(def, progress === undefined),
      joinBuffer: () => this.secondTable(def, progress === undefined),
    })
    const query = new ContinuousQuery(def, operator, this.ctx, progress)
    // A view read straight off a stream whose records carry their writers' watermarks (a repartition topic).
    // An interval join: both of its streams' (a repartitioned join's internal streams), or neither's.
    if (upstream === null && streamsOf(query.slots).every((s) => this.streams.get(s)?.log.carriesWatermarks === true)) query.carryWatermarks()
    this.limitQuery(query, def.plan.limits, table, this.tables.get(SLICE_NAMESPACE + def.id), progress)
    if (def.plan.join !== null) query.lookup = this.viewLookup(def.plan.join)
    this.catalog.add(def)
    this.tables.set(def.id, table)
    this.queries.set(def.name, query)
    if (upstream !== null) {
      upstream.attach(query)
      query.slots = upstream.slots
    } else for (const s of streamsOf(query.slots)) this.streams.get(s)?.queries.push(query)
  }

  /** WITH (max_state, max_output_rate): the query's limits, and its state size (as checkpointed, then kept up). */
  private limitQuery(query: ContinuousQuery, limits: QueryLimits, table: StateTable<Value[]>, slices: StateTable<Value[]> | undefined, progress: QueryProgress | undefined): void {
    table.storedBytes = progress?.stateBytes ?? 0
    query.limits = limits
    query.stateBytes = () => Math.max(0, table.storedBytes + (slices?.storedBytes ?? 0))
  }

  /**
   * A view's second table, in the namespace of sliced HOP views' slices (a view has slices or an interval
   * join's waiting rows, never both): its waiting rows, with their keys. Dropped with the view (retire).
   */
  private secondTable(def: ViewDef, fresh: boolean): { table: StateTable<Value[]>; keyOf: (values: readonly Value[]) => string } {
    const id = SLICE_NAMESPACE + def.id
    const table = new StateTable<Value[]>(this.db, id, rowCodec, this.budget, fresh)
    this.tables.set(id, table)
    return { table, keyOf: (values) => tableKeyString(id, values) }
  }

  /** A HOP view aggregated per slice (planner/hop-slices.ts): the table of its slices, in a namespace of its own. */
  private sliceTable(def: ViewDef, fresh: boolean): (SliceState & { readonly stored: StateTable<Value[]> }) | undefined {
    const spec = sliceSpec(def.plan)
    if (spec === null) return undefined
    const id = SLICE_NAMESPACE + def.id
    const table = new StateTable<Value[]>(this.db, id, rowCodec, this.budget, fresh)
    this.tables.set(id, table)
    return { table, stored: table, spec, encodeKey: (values) => tableKeyString(id, values) }
  }

  /** The running query a view or trigger over a view reads (views over views); null for one over a stream. */
  upstreamOf(plan: ViewPlan): ContinuousQuery | null {
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
  async startReading(query: ContinuousQuery, upstream: ContinuousQuery, start: 'new_view' | 'new_trigger' | 'resume'): Promise<void> {
    const rows = await upstream.rowsForReader()
    if (start !== 'resume') query.offsets.splice(0, query.offsets.length, ...upstream.offsets)
    if (start === 'new_view') {
      for (let i = 0; i < rows.length; i += READER_CHUNK) await query.consumeRows(rows.slice(i, i + READER_CHUNK))
    }
    query.followUpstream(upstream.watermark.current)
    await query.afterWatermark()
    query.settled = query.offsets.slice()
  }

  /**
   * How a lookup join reads its keyed view: as of each event from the view's per-batch rows when it reads
   * the same stream in step, otherwise the view's current row of the key. Queries joining the same view the
   * same way get the same object, by which the batch index shares the view rows that triggers' conditions
   * on the view's columns are indexed by (batch-index.ts).
   */
  private viewLookup(join: LookupJoinSpec): ViewLookup {
    const target = this.queries.get(join.view)
    const operator = target?.operator.keyed
    if (target === undefined || operator === undefined || operator === null) throw internalError(`view ${join.view} of a lookup join is not deployed`)
    // Every time: a drop of the last query joining it as of each event turned the per-event rows off.
    if (join.asOfEvent) target.trackSnapshots = true
    let ways = this.lookups.get(target)
    if (ways === undefined) this.lookups.set(target, (ways = new Map()))
    const known = ways.get(join.asOfEvent)
    if (known !== undefined) return known
    const made = this.makeViewLookup(join, target, operator)
    ways.set(join.asOfEvent, made)
    return made
  }

  /** Per keyed view's query, its lookup as of each event (true) or current (false): see viewLookup. */
  private readonly lookups = new WeakMap<ContinuousQuery, Map<boolean, ViewLookup>>()

  private makeViewLookup(join: LookupJoinSpec, target: ContinuousQuery, operator: KeyedReads): ViewLookup {
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
}
