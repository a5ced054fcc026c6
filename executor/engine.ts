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
import { mkdir } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { SluiceError, SqlState, internalError, planError, type Span } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import { parseStatements } from '../parser/index.ts'
import { type StreamDef, type ViewDef } from '../planner/catalog.ts'
import { planStream } from '../planner/stream-plan.ts'
import { planView, type ViewPlan } from '../planner/view-plan.ts'
import { LIMIT_OPTIONS, formatApproxSize, formatSize, onlyLimitOptions, queryLimits, type QueryLimits } from '../planner/query-limits.ts'
import { baseStreamName } from '../planner/view-source.ts'
import { sliceSpec } from '../planner/hop-slices.ts'
import type { LookupJoinSpec } from '../planner/lookup-join.ts'
import { StreamLog } from './log/stream-log.ts'
import { FileSource } from './connectors/file-source.ts'
import { KafkaSource } from './connectors/kafka-source.ts'
import type { StreamSource } from './source.ts'
import { StateDb } from './state/rocks.ts'
import { StateTable } from './state/table.ts'
import { rowCodec, jsonCodec } from './state/codec.ts'
import { tableKey, tableKeyString, positionKey, META_NAMESPACE } from './state/layout.ts'
import { streamDecoder, type StreamDecoder } from './record-decoder.ts'
import { IngestKeys } from './ingest-keys.ts'
import { resetStreamWatermarks, resetTarget } from './watermark-reset.ts'
import { ContinuousQuery, type QueryProgress, type ViewLookup, type ViewOperator } from './continuous-query.ts'
import { SinkRuntime, type SinkProgress } from './sink.ts'
import { planSink } from '../planner/sink-plan.ts'
import { KeyedAggregate, type SliceState } from './operators/keyed-aggregate.ts'
import { AppendProject } from './operators/append-project.ts'
import { SessionAggregate } from './operators/session-aggregate.ts'
import { OverWindow } from './operators/over-window.ts'
import { PriorityArbiter, TriggerFire } from './operators/trigger-fire.ts'
import { refusalOf } from './webhook-policy.ts'
import { redactSecrets } from './webhook-secrets.ts'
import { StreamKeyState, keepsKeyState } from './operators/trigger-key-state.ts'
import { alterTriggerOptions, planTrigger, type TriggerDef } from '../planner/trigger-plan.ts'
import { equalityKeys } from '../planner/index-key.ts'
import { PatternRecognize } from './operators/pattern-recognize.ts'
import { Deliveries } from './engine/deliveries.ts'
import { Checkpoints } from './engine/checkpoints.ts'
import { Loop } from './engine/loop.ts'
import { Inserts } from './engine/inserts.ts'
import { Reads } from './engine/reads.ts'
import { CATALOG_PREFIX, EnginePart, EngineState, MAX_DEAD_LETTER_RAW, PROGRESS_PREFIX, READER_CHUNK, SINK_DRAIN_MS, SINK_PROGRESS_PREFIX, SLICE_NAMESPACE, TRIGGER_KEY_NAMESPACE, catalogValue, lastPart, prefixRange, reviveInfinity, sleep, type DeadLetter, type EngineOptions, type StreamRuntime, type CatalogRecord } from './engine/state.ts'

export class Engine extends EnginePart {
  private readonly reads: Reads
  private readonly inserts: Inserts
  private readonly scanLoop: Loop
  private readonly checkpoints: Checkpoints
  private readonly deliveries: Deliveries
  busy(): boolean {
    return this.scanLoop.busy()
  }

  private constructor(options: EngineOptions, db: StateDb) {
    super(new EngineState(options, db))
    this.deliveries = new Deliveries(this.s)
    this.checkpoints = new Checkpoints(this.s, this.deliveries)
    this.scanLoop = new Loop(this.s, this.checkpoints, this.deliveries)
    this.inserts = new Inserts(this.s)
    this.reads = new Reads(this.s)
  }

  static async open(options: EngineOptions): Promise<Engine> {
    await mkdir(join(options.dataDir, 'streams'), { recursive: true })
    const db = await StateDb.open(join(options.dataDir, 'state'))
    const engine = new Engine(options, db)
    engine.ingestKeys = await IngestKeys.open(db)
    await engine.replayCatalog()
    engine.loopDone = engine.scanLoop.loop()
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
          await this.deliveries.deploySink(planSink(stmt, this.catalog, rec.id, rec.sql), progress, true)
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
      await this.inserts.insert(stream, [row])
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

  triggerStats(): Promise<{ def: TriggerDef; status: string; lastError: string | null; counters: Awaited<ReturnType<TriggerFire['stats']>> }[]> {
    return this.reads.triggerStats()
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
      await this.checkpoints.checkpoint()
    })
  }

  createSink(stmt: ast.CreateSink, sql: string): Promise<'created' | 'exists'> {
    return this.deliveries.createSink(stmt, sql)
  }

  dropSink(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.deliveries.dropSink(name, ifExists, span)
  }

  sinkRuntimes(): SinkRuntime[] {
    return this.deliveries.sinkRuntimes()
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
      for (const k of sinkDependents) await this.deliveries.undeploySink(k)
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
    const operator: ViewOperator =
      def.plan.body.kind === 'project'
        ? new AppendProject(def.plan, table, positionOf, this.ctx)
        : def.plan.body.kind === 'over'
          ? new OverWindow(def.plan, table, keyOf, positionOf, this.ctx)
          : def.plan.body.kind === 'pattern'
            ? new PatternRecognize(def.plan, table, keyOf, positionOf, this.ctx)
          : def.plan.window?.kind === 'session'
          ? new SessionAggregate(def.plan, table, keyOf, this.ctx)
          : new KeyedAggregate(def.plan, table, keyOf, this.ctx, this.sliceTable(def, progress === undefined))
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

  /**
   * How a lookup join reads its keyed view: as of each event from the view's per-batch rows when it reads
   * the same stream in step, otherwise the view's current row of the key.
   */
  private viewLookup(join: LookupJoinSpec): ViewLookup {
    const target = this.queries.get(join.view)
    if (target === undefined || !(target.operator instanceof KeyedAggregate)) throw internalError(`view ${join.view} of a lookup join is not deployed`)
    const operator = target.operator
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

  insert(streamName: string, rows: readonly Row[]): Promise<number> {
    return this.inserts.insert(streamName, rows)
  }

  insertJson(streamName: string, records: readonly (string | Buffer)[]): Promise<number> {
    return this.inserts.insertJson(streamName, records)
  }

  checkRecords(streamName: string, records: readonly (string | Buffer)[]): { index: number; reason: string }[] {
    return this.inserts.checkRecords(streamName, records)
  }

  checkpoint(): Promise<void> {
    return this.checkpoints.checkpoint()
  }

  query(name: string): ContinuousQuery | undefined {
    return this.reads.query(name)
  }

  allQueries(): ContinuousQuery[] {
    return this.reads.allQueries()
  }

  streamRuntime(name: string): { readonly def: StreamDef; readonly log: StreamSource; readonly decode: StreamDecoder; readonly closed: boolean } | undefined {
    return this.reads.streamRuntime(name)
  }

  waitCaughtUp(viewName: string, timeoutMs = 2000): Promise<void> {
    return this.reads.waitCaughtUp(viewName, timeoutMs)
  }

  viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null> {
    return this.reads.viewPoint(name, keyValues)
  }

  viewRows(name: string): AsyncGenerator<Row> {
    return this.reads.viewRows(name)
  }

  streamRows(name: string): AsyncGenerator<Row> {
    return this.reads.streamRows(name)
  }

  deadLetters(): Promise<DeadLetter[]> {
    return this.deliveries.deadLetters()
  }

  lateEvents(): Promise<(Record<string, unknown>)[]> {
    return this.reads.lateEvents()
  }

  tableStats(id: number): { entries: number } {
    return this.reads.tableStats(id)
  }

  async close(): Promise<void> {
    for (const t of this.triggers.values()) t.operator.close()
    this.stopping = true
    this.wake()
    await this.loopDone
    // DDL waiting for a pause between rounds gets it now (later ones run at once: the loop is stopping).
    await this.scanLoop.runInterludes()
    await this.ddlChain
    this.stopped = true
    const waiting = this.checkpointRequests.splice(0)
    try {
      await this.checkpoints.checkpointNow()
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

export { META_NAMESPACE }
export { jsonKeyExtractor } from './engine/inserts.ts'
export type { DeadLetter, EngineOptions }
