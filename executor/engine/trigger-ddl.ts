/**
 * Trigger DDL: CREATE TRIGGER (its webhook URL checked against the allow list, deployed to fire from now
 * on, in step with the view it reads or joins), ALTER TRIGGER (ENABLE / DISABLE, SET options merged over its
 * own, replayed from the catalog on start) and DROP TRIGGER.
 */
import { SqlState, internalError, planError, type Span } from '../../common/errors.ts'
import type * as ast from '../../parser/ast.ts'
import { parseStatements } from '../../parser/index.ts'
import { LIMIT_OPTIONS } from '../../planner/query-limits.ts'
import { rowCodec } from '../state/codec.ts'
import { isKafkaLog } from '../connectors/kafka-log.ts'
import { refusalOf } from '../webhook-policy.ts'
import { redactSecrets } from '../webhook-secrets.ts'
import { alterTriggerOptions, planTrigger, type TriggerDef } from '../../planner/trigger-plan.ts'
import { CATALOG_PREFIX, EnginePart, EngineState, catalogValue, lastPart } from './state.ts'
import { type Deploy } from './deploy.ts'

export class TriggerDdl extends EnginePart {
  constructor(s: EngineState, private readonly deploy: Deploy) {
    super(s)
  }

  /**
   * CREATE TRIGGER: deployed at once, next to the running queries; survives restarts. `from` (cluster mode,
   * a trigger on a stream): the stream topic's end offsets when the statement was taken, where it starts to
   * fire in every task engine whenever each applies the command (cluster/outputs.ts).
   */
  createTrigger(stmt: ast.CreateTrigger, sql: string, from?: readonly number[]): Promise<'created' | 'exists'> {
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
      const upstream = this.deploy.upstreamOf(def.plan)
      if (upstream !== null) {
        // Priority groups decide per event of a stream; a view's rows are not events of one.
        if (def.spec.priorityGroup !== null) throw planError(SqlState.featureNotSupported, 'priority_group is for triggers on a stream', stmt.span, 'Put the campaigns of a group on the stream, joined to the view.')
        // On a view: it fires for the view's rows written from now on, in step with the view.
        await this.betweenRounds(async () => {
          this.deploy.deployTrigger(def, undefined)
          await this.deploy.startReading(this.queries.get(def.name)!, upstream, 'new_trigger')
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
      const here = Array.from({ length: rt.def.partitions }, (_, p) => rt.log.endOffset(p))
      const end = from !== undefined && from.length === here.length ? from.slice() : here
      const partner = def.plan.join?.asOfEvent ? this.queries.get(def.plan.join.view) : undefined
      // From where the statement was taken, or from what was read here if that is earlier.
      const offsets = partner?.offsets.slice() ?? end.map((o, p) => Math.min(o, here[p]!))
      const watermark = partner?.watermark.snapshot() ?? { partitions: end.map(() => Number.NEGATIVE_INFINITY), current: Number.NEGATIVE_INFINITY }
      const progress = { offsets, watermark, eventsIn: 0, lateEvents: 0 }
      if (partner === undefined && isKafkaLog(rt.log) && offsets.some((o, p) => o < here[p]!)) {
        // Events the other queries read (and released) since the statement was taken: fetched again, in the
        // same pause as the deployment, as a new view's are (catalog-ddl.ts).
        const log = rt.log
        await this.betweenRounds(async () => {
          this.deploy.deployTrigger(def, progress)
          await log.rewind(offsets)
        })
      } else {
        this.deploy.deployTrigger(def, progress)
      }
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
      if (stmt.action.kind === 'set' && stmt.action.options.some((o) => LIMIT_OPTIONS.includes(o.name))) await this.deploy.resumeQuery(t.query, def.plan)
    })
  }

  /** The trigger definition after one ALTER (also used when the catalog is replayed). */
  applyAlter(def: TriggerDef, stmt: ast.AlterTrigger, sql: string): TriggerDef {
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

  /** DROP TRIGGER: stops it at once; its state and audit rows go with it. */
  dropTrigger(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.serialized(async () => {
      const t = this.triggers.get(name)
      if (t === undefined) {
        if (ifExists) return false
        throw planError(SqlState.undefinedObject, `trigger "${name}" does not exist`, span)
      }
      await this.deploy.undeployTrigger(t.def)
      return true
    })
  }

  /** Triggers reading the stream, joining the view, or inserting into the stream called `name`. */
  triggersOn(name: string): TriggerDef[] {
    return [...this.triggers.values()].map((t) => t.def).filter((d) => d.plan.source.name === name || d.plan.join?.view === name || (d.spec.action.kind === 'insert' && d.spec.action.stream === name))
  }
}
