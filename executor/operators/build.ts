/**
 * Builds a view's or a trigger's operators from its plan tree (planner/stream-plan-nodes.ts): the one place
 * that knows which class a node becomes. A sink's node becomes none (it reads the checkpoint batch). The stateful operator (buildOperator) computes the nodes above it too (the
 * output projection, HAVING); the nodes below it become the row stages the continuous query runs in front
 * of it, bottom up (buildRowStages): lateness and window assignment for a window, a filter for WHERE. The
 * scan and the lookup join are the query's own (it reads the batch and looks the joined view up per event).
 */
import { assertNever, internalError } from '../../common/errors.ts'
import type { Value } from '../../common/types.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import { children, type StreamPlanNode } from '../../planner/stream-plan-nodes.ts'
import { entryTable } from '../state/entries.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { CheckpointedTable, StreamOperator } from './operator.ts'
import { TriggerFire, type DeadLetterSink, type StreamInserter, type TriggerEntry } from './trigger-fire.ts'
import type { StreamKeyState } from './trigger-key-state.ts'
import type { NotificationHub } from '../notifications.ts'
import type { WebhookAllowList } from '../webhook-policy.ts'
import { AppendProject, type AppendEntry, type PositionEncoder } from './append-project.ts'
import { KeyedAggregate, type GroupEntry, type KeyEncoder, type SliceState } from './keyed-aggregate.ts'
import { SessionAggregate, type SessionEntry } from './session-aggregate.ts'
import { OverWindow, type OverWindowEntry } from './over-window.ts'
import { PatternRecognize, type PatternEntry } from './pattern-recognize.ts'
import { compilePredicate } from '../../expr/compile.ts'
import { sliceSpec } from '../../planner/hop-slices.ts'
import type { RowStage } from './operator.ts'
import { Lateness } from './lateness.ts'
import { WindowAssign } from './window-assign.ts'
import { RowFilter } from './filter.ts'
import { IntervalJoin, type JoinedEntry, type WaitingEntry } from './interval-join.ts'
import { JoinedAggregate } from './joined-aggregate.ts'

export interface OperatorDeps {
  readonly plan: ViewPlan
  /** The operator's table in the state store (typed here by the operator's entries); its checkpoint writes it. */
  readonly table: KeyedTable<Value[]> & CheckpointedTable
  readonly keyOf: KeyEncoder
  readonly positionOf: PositionEncoder
  readonly ctx: EvalContext
  /** Opens the table of a sliced HOP view's slices (called only for such a view). */
  readonly slices: () => (SliceState & { readonly stored: CheckpointedTable }) | undefined
  /** Opens the table of an interval join's waiting rows and its key encoder (called only for such a view). */
  readonly joinBuffer?: () => { readonly table: KeyedTable<Value[]> & CheckpointedTable; readonly keyOf: KeyEncoder }
  /** What a trigger's firing reaches in the engine (given for a trigger's tree only). */
  readonly trigger?: TriggerDeps
}

/** The engine's side of a trigger's actions: notifications, dead letters, inserts, per-key state, webhooks. */
export interface TriggerDeps {
  readonly hub: NotificationHub
  readonly deadLetter: DeadLetterSink
  readonly insert: StreamInserter
  readonly keyStates: StreamKeyState
  readonly webhookAllow: WebhookAllowList
  /** A webhook's end changed the trigger's table outside a batch. */
  readonly touched: () => void
}

type TriggerNode = Extract<StreamPlanNode, { kind: 'trigger' }>

/** A trigger's tree gives its TriggerFire (the engine keeps it to arbitrate, resume and close it). */
export function buildOperator(node: TriggerNode, deps: OperatorDeps & { readonly trigger: TriggerDeps }): TriggerFire
export function buildOperator(node: StreamPlanNode, deps: OperatorDeps): StreamOperator
export function buildOperator(node: StreamPlanNode, deps: OperatorDeps): StreamOperator {
  switch (node.kind) {
    case 'trigger': {
      const t = deps.trigger
      if (t === undefined) throw internalError(`trigger ${node.def.name} was built without its actions`)
      const fire = new TriggerFire(node.def, entryTable<TriggerEntry>(deps.table), deps.keyOf, deps.positionOf, t.hub, deps.ctx, t.deadLetter, t.insert, t.keyStates, t.webhookAllow, t.touched)
      return fire.keepsStateIn([deps.table])
    }
    case 'sink':
      // A sink runs outside the operator pipeline: at each checkpoint it takes the changes the view's operator
      // wrote (or the stream's events) from the checkpoint batch (executor/engine/deliveries.ts, sink.ts).
      throw internalError(`sink ${node.def.name} has no operator: it reads the checkpoint batch`)
    case 'materialized_view':
    case 'filter':
      // HAVING and the filter over MATCH_RECOGNIZE's rows are the operator's own (a WHERE is below it).
      return buildOperator(node.input, deps)
    case 'project': {
      const stateful = statefulBelow(node.input)
      return stateful === null ? new AppendProject(deps.plan, entryTable<AppendEntry>(deps.table), deps.positionOf, deps.ctx).keepsStateIn([deps.table]) : buildOperator(stateful, deps)
    }
    case 'aggregate': {
      if (deps.plan.intervalJoin !== undefined) return joinedAggregate(deps)
      if (node.session) return new SessionAggregate(deps.plan, entryTable<SessionEntry>(deps.table), deps.keyOf, deps.ctx).keepsStateIn([deps.table])
      const slices = deps.slices()
      return new KeyedAggregate(deps.plan, entryTable<GroupEntry>(deps.table), deps.keyOf, deps.ctx, slices).keepsStateIn(slices === undefined ? [deps.table] : [slices.stored, deps.table])
    }
    case 'window_functions':
      return new OverWindow(deps.plan, entryTable<OverWindowEntry>(deps.table), deps.keyOf, deps.positionOf, deps.ctx).keepsStateIn([deps.table])
    case 'interval_join': {
      const waiting = deps.joinBuffer?.()
      if (waiting === undefined) throw internalError('an interval join was built without the table of its waiting rows')
      return new IntervalJoin(deps.plan, entryTable<JoinedEntry>(deps.table), entryTable<WaitingEntry>(waiting.table), waiting.keyOf, deps.positionOf, deps.ctx).keepsStateIn([waiting.table, deps.table])
    }
    case 'pattern_recognize':
      return new PatternRecognize(deps.plan, entryTable<PatternEntry>(deps.table), deps.keyOf, deps.positionOf, deps.ctx).keepsStateIn([deps.table])
    case 'exchange':
    case 'window':
    case 'lookup_join':
    case 'scan':
      throw internalError(`a view's plan has no operator above its ${node.kind} node`)
    default:
      return assertNever(node, 'plan node')
  }
}

/** A GROUP BY over an interval join in one view: the join hands its rows to the aggregation (joined-aggregate.ts). */
function joinedAggregate(deps: OperatorDeps): StreamOperator {
  const waiting = deps.joinBuffer?.()
  if (waiting === undefined) throw internalError('an interval join was built without the table of its waiting rows')
  const aggregate = new KeyedAggregate(deps.plan, entryTable<GroupEntry>(deps.table), deps.keyOf, deps.ctx).keepsStateIn([deps.table])
  let operator: JoinedAggregate | null = null
  const join = new IntervalJoin(deps.plan, entryTable<JoinedEntry>(deps.table), entryTable<WaitingEntry>(waiting.table), waiting.keyOf, deps.positionOf, deps.ctx, (rows) => operator!.take(rows))
  operator = new JoinedAggregate(join.keepsStateIn([waiting.table]), aggregate)
  return operator
}

/** The stateful node a projection reads from (through HAVING or an output filter), or null: rows as they come. */
function statefulBelow(node: StreamPlanNode): StreamPlanNode | null {
  for (let n: StreamPlanNode | undefined = node; n !== undefined; n = children(n)[0]) {
    if (n.kind === 'aggregate' || n.kind === 'window_functions' || n.kind === 'pattern_recognize' || n.kind === 'interval_join') return n
    if (n.kind !== 'filter' || n.role === 'where') return null
  }
  return null
}

/** The row stages in front of a view's operator, bottom up, and its WHERE (read by the query's fast paths). */
export interface RowStages {
  readonly stages: readonly RowStage[]
  readonly where: RowFilter | null
}

export function buildRowStages(root: StreamPlanNode, deps: Pick<OperatorDeps, 'plan' | 'ctx'>): RowStages {
  const stages: RowStage[] = []
  let where: RowFilter | null = null
  const plan = deps.plan
  const width = plan.source.columns.length
  const visit = (node: StreamPlanNode): void => {
    for (const c of children(node)) visit(c)
    switch (node.kind) {
      case 'trigger':
      case 'sink':
      case 'materialized_view':
      case 'project':
      case 'aggregate':
      case 'exchange':
      case 'window_functions':
      case 'pattern_recognize':
      case 'lookup_join':
      case 'interval_join':
      case 'scan':
        return
      case 'filter': {
        // The WHERE of a subquery under SESSION drops events before the window: they shape no session.
        if (node.role === 'source') {
          stages.push(new RowFilter(compilePredicate(node.predicate), deps.ctx, null))
          return
        }
        // HAVING and the filter over MATCH_RECOGNIZE's rows are the operator's; so is a SESSION view's WHERE:
        // every event of a key shapes its sessions, WHERE only decides which are counted.
        if (node.role !== 'where' || plan.window?.kind === 'session') return
        const w = plan.window
        const slice = sliceSpec(plan)
        const length = w === null ? null : (slice?.length ?? w.size)
        where = new RowFilter(compilePredicate(node.predicate), deps.ctx, length === null ? null : { column: width, length })
        stages.push(where)
        return
      }
      case 'window': {
        const w = node.window
        if (w.kind === 'session') {
          stages.push(new Lateness(w.timeIndex, { kind: 'time_required' }))
          return
        }
        const lateness = plan.source.allowedLateness
        const slices = node.slices
        stages.push(new Lateness(w.timeIndex, slices === null ? { kind: 'fixed', window: w, lateness } : { kind: 'sliced', window: w, lateness }))
        stages.push(new WindowAssign(w, width, lateness, slices?.length ?? null, plan.body.kind === 'aggregate'))
        return
      }
      default:
        assertNever(node, 'plan node')
    }
  }
  visit(root)
  return { stages, where }
}
