/**
 * Builds the stateful operator of a view from its plan tree (planner/stream-plan-nodes.ts): the one place
 * that knows which operator class a node becomes. The nodes below the operator (WHERE, window assignment,
 * lookup join, scan) are row stages the continuous query runs in front of it; the ones above it (the output
 * projection, HAVING) are computed by the operator itself.
 */
import { assertNever, internalError } from '../../common/errors.ts'
import type { Value } from '../../common/types.ts'
import type { EvalContext } from '../../planner/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import { children, type StreamPlanNode } from '../../planner/stream-plan-nodes.ts'
import { entryTable } from '../state/entries.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { StreamOperator } from './operator.ts'
import { AppendProject, type AppendEntry, type PositionEncoder } from './append-project.ts'
import { KeyedAggregate, type GroupEntry, type KeyEncoder, type SliceState } from './keyed-aggregate.ts'
import { SessionAggregate, type SessionEntry } from './session-aggregate.ts'
import { OverWindow, type OverWindowEntry } from './over-window.ts'
import { PatternRecognize, type PatternEntry } from './pattern-recognize.ts'

export interface OperatorDeps {
  readonly plan: ViewPlan
  /** The operator's table in the state store (typed here by the operator's entries). */
  readonly table: KeyedTable<Value[]>
  readonly keyOf: KeyEncoder
  readonly positionOf: PositionEncoder
  readonly ctx: EvalContext
  /** Opens the table of a sliced HOP view's slices (called only for such a view). */
  readonly slices: () => SliceState | undefined
}

export function buildOperator(node: StreamPlanNode, deps: OperatorDeps): StreamOperator {
  switch (node.kind) {
    case 'materialized_view':
    case 'filter':
      // HAVING and the filter over MATCH_RECOGNIZE's rows are the operator's own (a WHERE is below it).
      return buildOperator(node.input, deps)
    case 'project': {
      const stateful = statefulBelow(node.input)
      return stateful === null ? new AppendProject(deps.plan, entryTable<AppendEntry>(deps.table), deps.positionOf, deps.ctx) : buildOperator(stateful, deps)
    }
    case 'aggregate':
      return node.session
        ? new SessionAggregate(deps.plan, entryTable<SessionEntry>(deps.table), deps.keyOf, deps.ctx)
        : new KeyedAggregate(deps.plan, entryTable<GroupEntry>(deps.table), deps.keyOf, deps.ctx, deps.slices())
    case 'window_functions':
      return new OverWindow(deps.plan, entryTable<OverWindowEntry>(deps.table), deps.keyOf, deps.positionOf, deps.ctx)
    case 'pattern_recognize':
      return new PatternRecognize(deps.plan, entryTable<PatternEntry>(deps.table), deps.keyOf, deps.positionOf, deps.ctx)
    case 'exchange':
    case 'window':
    case 'lookup_join':
    case 'scan':
      throw internalError(`a view's plan has no operator above its ${node.kind} node`)
    default:
      return assertNever(node, 'plan node')
  }
}

/** The stateful node a projection reads from (through HAVING or an output filter), or null: rows as they come. */
function statefulBelow(node: StreamPlanNode): StreamPlanNode | null {
  for (let n: StreamPlanNode | undefined = node; n !== undefined; n = children(n)[0]) {
    if (n.kind === 'aggregate' || n.kind === 'window_functions' || n.kind === 'pattern_recognize') return n
    if (n.kind !== 'filter' || n.role === 'where') return null
  }
  return null
}
