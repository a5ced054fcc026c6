/**
 * The catalog and DDL of streams and views: CREATE / ALTER / DROP of streams and materialized views,
 * ALTER STREAM ... CLOSE and RESET WATERMARK, and the catalog's persistence. Every entry is kept as the SQL
 * that made it (plus its ALTERs) under catalog/<id>; on start replayCatalog plans and deploys them again in
 * id order, with each query's committed progress. All DDL runs one statement at a time (serialized).
 */
import { SluiceError, SqlState, internalError, planError, type Span } from '../../common/errors.ts'
import type * as ast from '../../parser/ast.ts'
import { parseStatements } from '../../parser/index.ts'
import { type ViewDef } from '../../planner/catalog.ts'
import { planStream } from '../../planner/stream-plan.ts'
import { type HiddenSlot, hiddenNames, planViewWithHidden } from '../../planner/hidden-views.ts'
import { formatApproxSize, formatSize, onlyLimitOptions, queryLimits } from '../../planner/query-limits.ts'
import { StreamLog } from '../log/stream-log.ts'
import { FileSource } from '../connectors/file-source.ts'
import { isKafkaLog } from '../connectors/kafka-log.ts'
import { jsonCodec } from '../state/codec.ts'
import { tableKey } from '../state/layout.ts'
import { resetStreamWatermarks, resetTarget } from '../watermark-reset.ts'
import { type QueryProgress } from '../continuous-query.ts'
import { type SinkProgress } from '../sink.ts'
import { planSink } from '../../planner/sink-plan.ts'
import { planTrigger } from '../../planner/trigger-plan.ts'
import { closedAndRead, offsetsIn, querySlots, streamsOf } from '../query-slots.ts'
import { CATALOG_PREFIX, type CatalogRecord, EnginePart, EngineState, PROGRESS_PREFIX, SINK_PROGRESS_PREFIX, TRIGGER_KEY_NAMESPACE, catalogValue, lastPart, prefixRange, reviveInfinity } from './state.ts'
import { type Deploy } from './deploy.ts'
import { type Deliveries } from './deliveries.ts'
import { type TriggerDdl } from './trigger-ddl.ts'
import { type Checkpoints } from './checkpoints.ts'

export class CatalogDdl extends EnginePart {
  constructor(s: EngineState, private readonly deploy: Deploy, private readonly deliveries: Deliveries, private readonly triggerDdl: TriggerDdl, private readonly checkpoints: Checkpoints) {
    super(s)
  }

  /**
   * On start: plans and deploys every catalog entry again in id order (so what an entry reads is there
   * before it), each query with its committed progress, then starts the Kafka fetchers.
   */
  async replayCatalog(): Promise<void> {
    const records: CatalogRecord[] = []
    for await (const [, value] of this.db.scan(prefixRange(CATALOG_PREFIX))) records.push(JSON.parse(value.toString('utf8')) as CatalogRecord)
    records.sort((a, b) => a.id - b.id)
    // Ids whose progress outlived their entry (a hidden view whose owner's DROP a crash cut short) stay taken.
    for await (const [key] of this.db.scan(prefixRange(PROGRESS_PREFIX))) {
      const id = Number(key.toString('utf8').slice(PROGRESS_PREFIX.length))
      if (Number.isSafeInteger(id)) this.catalog.reserveId(id)
    }
    for (const rec of records) {
      const [parsed] = parseStatements(rec.sql)
      if (parsed === undefined) throw internalError(`catalog entry ${rec.name} has no statement`)
      const stmt = parsed.statement
      try {
        if (rec.kind === 'stream' && stmt.kind === 'create_stream') {
          const rt = await this.deploy.deployStream(planStream(stmt, rec.id, rec.sql), rec.closed === true)
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
            if (p?.statement.kind === 'alter_trigger') def = this.triggerDdl.applyAlter(def, p.statement, a)
          }
          this.deploy.deployTrigger(def, progress)
          const upstream = this.deploy.upstreamOf(def.plan)
          if (upstream !== null) await this.deploy.startReading(this.queries.get(def.name)!, upstream, progress === undefined ? 'new_trigger' : 'resume')
        } else if (rec.kind === 'view' && stmt.kind === 'create_view') {
          for (const h of rec.hidden ?? []) this.catalog.reserveId(h.id)
          const def = this.alteredView(this.viewDef(stmt, rec.id, rec.sql, rec.hidden ?? []), stmt, rec.alters ?? [])
          await this.withHidden(def, (d) => this.restartView(d))
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
    for (const rt of this.streams.values()) await this.deploy.startSource(rt, true)
  }

  /**
   * Cluster catch-up (cluster/node.ts): streams created until `startDeferredSources` start fetching only
   * then, from their beginning, with every view created meanwhile already reading; a view created on a
   * stream that is already fetching a backlog would instead fetch it again beside the others.
   */
  deferSourceStarts(): void {
    this.s.deferredSources ??= []
  }

  async startDeferredSources(): Promise<void> {
    const deferred = this.s.deferredSources ?? []
    this.s.deferredSources = null
    for (const rt of deferred) if (this.streams.get(rt.def.name) === rt) await this.deploy.startSource(rt, false)
  }

  createStream(stmt: ast.CreateStream, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.catalog.has(name)) {
        if (stmt.ifNotExists) return 'exists'
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span, this.hiddenHint(name))
      }
      const def = planStream(stmt, this.catalog.allocateId(), sql)
      if (def.source.kind === 'file') this.deploy.filePath(def.source.path, stmt.options.find((o) => o.name === 'connector')?.span)
      const rt = await this.deploy.deployStream(def)
      try {
        // A cluster node catching up on its commands starts its new streams once all their views are there.
        if (this.s.deferredSources !== null) this.s.deferredSources.push(rt)
        else await this.deploy.startSource(rt, false)
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
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span, this.hiddenHint(name))
      }
      // Its hidden views (aggregating subqueries) first, each before the views reading it; one record for all.
      const def = planViewWithHidden(stmt, this.catalog, sql, { outer: () => this.catalog.allocateId(), hidden: hiddenNames(name, this.catalog, () => this.catalog.allocateId()) })
      await this.withHidden(def, (d) => this.startNewView(d))
      await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
      this.wake()
      return 'created'
    })
  }

  /** For a name a hidden view has: whose it is. */
  private hiddenHint(name: string): string | undefined {
    const owner = (this.catalog.get(name) as ViewDef | undefined)?.owner
    return owner === undefined ? undefined : `"${name}" is a hidden view of ${owner} (one of its subqueries); choose another name.`
  }

  /** A new view deployed: from the start of its stream, or from the rows so far of the view it reads. */
  private async startNewView(def: ViewDef): Promise<void> {
    const upstream = this.deploy.upstreamOf(def.plan)
    if (upstream !== null) {
      // A view over a view starts from the read view's rows so far and moves in step with it.
      await this.betweenRounds(async () => {
        this.deploy.deployView(def, undefined)
        await this.deploy.startReading(this.queries.get(def.name)!, upstream, 'new_view')
      })
      // The rows it took in are checkpointed (and reach its sinks) without waiting for new events.
      this.dirtySinceCheckpoint = true
    } else {
      // A view that sees a keyed view as of each event starts where that view is, and moves in step with it.
      const partner = def.plan.join?.asOfEvent ? this.queries.get(def.plan.join.view) : undefined
      const progress = partner === undefined ? undefined : { offsets: partner.offsets.slice(), watermark: partner.watermark.snapshot(), eventsIn: 0, lateEvents: 0 }
      // (An interval join reads two streams: each Kafka one is fetched again.)
      const kafka = partner === undefined ? streamsOf(querySlots(def.plan)).filter((stream) => isKafkaLog(this.streams.get(stream)?.log)) : []
      if (kafka.length > 0) {
        // A view starts from the beginning of its stream. Deployed between rounds, so that no round
        // under way releases records it still needs; then a fetcher that the other views moved past
        // (releasing what they read) fetches the topic again from the beginning. Both in the same pause:
        // a round between them would find the records gone and move the new view past them.
        await this.betweenRounds(async () => {
          this.deploy.deployView(def, progress)
          const q = this.queries.get(def.name)!
          for (const stream of kafka) {
            const log = this.streams.get(stream)!.log
            if (isKafkaLog(log)) await log.rewind(offsetsIn(q.slots, q.offsets, stream))
          }
        })
      } else {
        this.deploy.deployView(def, progress)
      }
    }
  }

  /** A view of the catalog deployed again on start, with its committed progress. */
  private async restartView(def: ViewDef): Promise<void> {
    const progressRaw = await this.db.get(Buffer.from(`${PROGRESS_PREFIX}${def.id}`))
    const progress = progressRaw ? (JSON.parse(progressRaw.toString('utf8'), reviveInfinity) as QueryProgress) : undefined
    this.deploy.deployView(def, progress)
    // Over a view: a view that never reached a checkpoint starts again from the read view's rows.
    const upstream = this.deploy.upstreamOf(def.plan)
    if (upstream !== null) await this.deploy.startReading(this.queries.get(def.name)!, upstream, progress === undefined ? 'new_view' : 'resume')
  }

  /** `start` of each hidden view of `def`, then of `def`; if one fails, the ones started are undeployed. */
  private async withHidden(def: ViewDef, start: (d: ViewDef) => Promise<void>): Promise<void> {
    const started: ViewDef[] = []
    try {
      for (const d of [...(def.plan.hidden ?? []), def]) {
        await start(d)
        started.push(d)
      }
    } catch (err) {
      for (const d of started.reverse()) await this.deploy.undeployView(d)
      throw err
    }
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
      if (entry.owner !== undefined) throw planError(SqlState.wrongObjectType, `"${name}" is a hidden view of ${entry.owner}`, stmt.name.span, `ALTER MATERIALIZED VIEW ${entry.owner} instead.`)
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
      await this.deploy.resumeQuery(query, def.plan)
    })
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
          if (!closedAndRead(q.slots, q.offsets, (n) => this.streams.get(n))) continue
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
      const joined = rt.queries.find((q) => q.slots.some((slot) => slot.stream !== name))
      if (joined !== undefined) throw planError(SqlState.featureNotSupported, `materialized view "${joined.name}" joins stream "${name}" with another stream: resetting the watermark of an interval join is not supported yet`, span)
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

  /** Plans a view without deploying it (EXPLAIN, and the first step of CREATE). */
  viewDef(stmt: ast.CreateView, id: number, sql: string, hidden?: readonly HiddenSlot[]): ViewDef {
    const slots = hidden?.slice()
    const next = slots === undefined ? hiddenNames(lastPart(stmt.name), this.catalog, () => id) : () => slots.shift() ?? internalFail(`view ${lastPart(stmt.name)} has more hidden views than its catalog entry`)
    return planViewWithHidden(stmt, this.catalog, sql, { outer: () => id, hidden: next })
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
      if (entry.kind === 'view' && entry.owner !== undefined) {
        throw planError(SqlState.dependentObjectsStillExist, `cannot drop materialized view ${name} because materialized view ${entry.owner} requires it`, span, `It is a subquery of ${entry.owner}, kept as a hidden view; DROP MATERIALIZED VIEW ${entry.owner} drops it.`)
      }
      // Everything that reads it (or one of its hidden views), directly or through views over views, each after what it reads.
      const hidden = entry.kind === 'view' ? (entry.plan.hidden ?? []) : []
      const family = new Set([name, ...hidden.map((h) => h.name)])
      const allDependents = [...new Map([...family].flatMap((n) => this.catalog.allDependents(n)).filter((d) => !family.has(d.name)).map((d) => [d.name, d])).values()].sort((a, b) => a.id - b.id)
      const sinkDependents = [...this.sinks.values()].filter((k) => family.has(k.def.from) || allDependents.some((v) => v.name === k.def.from))
      if (sinkDependents.length > 0 && !cascade) {
        throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop ${name} because other objects depend on it`, {
          span,
          detail: sinkDependents.map((k) => `sink ${k.name} depends on ${k.def.from}`).join('\n'),
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        })
      }
      for (const k of sinkDependents) await this.deliveries.undeploySink(k)
      // Triggers on the stream (or on any of its views), or joining this view.
      const affected = [...family, ...allDependents.map((v) => v.name)]
      const triggers = [...new Set(affected.flatMap((n) => this.triggerDdl.triggersOn(n)))]
      if (triggers.length > 0 && !cascade) {
        throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop ${name} because other objects depend on it`, {
          span,
          detail: triggers.map((t) => `trigger ${t.name} depends on ${t.plan.join?.view === name ? name : t.plan.source.name}`).join('\n'),
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        })
      }
      for (const t of triggers) await this.deploy.undeployTrigger(t)
      if (entry.kind === 'stream') {
        const dependents = this.catalog.dependents(name)
        if (dependents.length > 0 && !cascade) {
          throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop stream ${name} because other objects depend on it`, {
            span,
            detail: [...new Set(dependents.map((d) => d.owner ?? d.name))].map((d) => `materialized view ${d} depends on stream ${name}`).join('\n'),
            hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
          })
        }
        // Views that read or join other views go before them.
        for (const d of allDependents.slice().reverse()) if (this.catalog.get(d.name) !== undefined) await this.deploy.undeployView(d)
        const rt = this.streams.get(name)
        this.streams.delete(name)
        this.catalog.remove(name)
        await rt?.log.close()
        if (entry.source.kind === 'embedded') await StreamLog.destroy(this.deploy.streamDir(entry.id))
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
        const dependents = [...family].flatMap((n) => this.catalog.dependents(n)).filter((d) => !family.has(d.name))
        if (dependents.length > 0 && !cascade) {
          throw new SluiceError('plan', SqlState.dependentObjectsStillExist, `cannot drop materialized view ${name} because other objects depend on it`, {
            span,
            detail: dependents.map((d) => `materialized view ${d.name} ${family.has(d.plan.source.name) ? `reads ${d.plan.source.name}` : `joins ${d.plan.join?.view ?? name}`}`).join('\n'),
            hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
          })
        }
        for (const d of allDependents.slice().reverse()) if (this.catalog.get(d.name) !== undefined) await this.deploy.undeployView(d)
        await this.deploy.undeployView(entry)
        for (const h of hidden.slice().reverse()) await this.deploy.undeployView(h)
      }
      return true
    })
  }
}

function internalFail(message: string): never {
  throw internalError(message)
}
