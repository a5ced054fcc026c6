/**
 * Plans CREATE TRIGGER. A trigger is a continuous query over its stream, planned like a view:
 *
 *   CREATE TRIGGER t AFTER INSERT ON s JOIN p USING (k) FOR EACH ROW WHEN (cond) EXECUTE NOTIFY ch, payload
 *     ~  SELECT payload FROM s AS new JOIN p USING (k) WHERE cond
 *
 * so the join sees the keyed view as of each event (after the event's own update, see lookup-join.ts) and
 * WHEN is compiled once like any WHERE. Each row that comes out is a candidate firing; the options decide
 * whether it is delivered, kept back or suppressed, per key of the event (the join's key, else the
 * stream's key column).
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError } from '../common/errors.ts'
import type { Value } from '../common/types.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import type { Catalog } from './catalog.ts'
import { intervalOption } from './stream-plan.ts'
import { planView, type ViewPlan } from './view-plan.ts'
import { bodyNode } from './view-plan-tree.ts'
import { printPlanTree, type StreamPlanNode } from './stream-plan-nodes.ts'
import { LIMIT_OPTIONS, queryLimits, type QueryLimits } from './query-limits.ts'

/** What a delivered firing does. */
export type TriggerTarget =
  | { readonly kind: 'notify'; readonly channel: string }
  | { readonly kind: 'webhook'; readonly url: string; readonly timeoutMs: number; readonly retries: number; readonly backoffMs: number }
  /** Appends a row to `stream`: the plan's output is the row, in the stream's column order. */
  | { readonly kind: 'insert'; readonly stream: string }

export interface TriggerSpec {
  readonly action: TriggerTarget
  /** After a firing for a key, further firings within this much event time are suppressed (microseconds). */
  readonly cooldown: number | null
  /** At most this many firings per key. */
  readonly maxFires: number | null
  /** Firings only for events with a time in [activeFrom, activeUntil). */
  readonly activeFrom: number | null
  readonly activeUntil: number | null
  /** The share of keys held out: their firings are recorded but not delivered (deterministic by key). */
  readonly holdout: number
  /** Stream columns whose values key the per-key state (cooldown, caps, holdout). */
  readonly keyIndexes: readonly number[]
  /** The stream's event-time column, or null (then the time of processing is used). */
  readonly timeIndex: number | null
  /** At most one trigger of a priority group fires per event: the one with the highest priority. */
  readonly priorityGroup: string | null
  readonly priority: number
  /** WITH (max_state = ..., max_output_rate = ...): past either, the trigger is stopped (planner/query-limits.ts). */
  readonly limits: QueryLimits
}

export interface TriggerDef {
  readonly kind: 'trigger'
  readonly id: number
  readonly name: string
  /** The continuous query behind it: one output column, the payload. */
  readonly plan: ViewPlan
  readonly spec: TriggerSpec
  readonly sql: string
  /** ALTER TRIGGER statements run since, in order (replayed after the CREATE on a restart). */
  readonly alters: readonly string[]
  /** ALTER TRIGGER ... DISABLE: candidate firings are recorded as inactive and nothing is delivered. */
  readonly enabled: boolean
}

/** The trigger after `ALTER TRIGGER ... SET (...)`: the same query, its options merged (the new ones win). */
export function alterTriggerOptions(def: TriggerDef, create: ast.CreateTrigger, options: readonly ast.OptionDef[], catalog: Catalog): TriggerSpec {
  const names = new Set(options.map((o) => o.name))
  const merged = [...create.options.filter((o) => !names.has(o.name)), ...options]
  return planTrigger({ ...create, options: merged }, catalog, def.id, def.sql).spec
}

/**
 * A trigger's plan tree: the trigger node over its query, planned as a view's (the payload's projection over
 * WHEN, the lookup join and the scan). What EXPLAIN CREATE TRIGGER prints and the executor builds from.
 */
export function triggerPlanTree(def: TriggerDef): Extract<StreamPlanNode, { kind: 'trigger' }> {
  return { kind: 'trigger', def, input: bodyNode(def.plan) }
}

/** EXPLAIN CREATE TRIGGER: the tree it would run, planned as CREATE TRIGGER plans it (nothing is created). */
export function explainTrigger(stmt: ast.CreateTrigger, catalog: Catalog): string[] {
  return printPlanTree(triggerPlanTree(planTrigger(stmt, catalog, 0, '')))
}

const TRIGGER_OPTIONS = new Set(['cooldown', 'max_fires', 'active_from', 'active_until', 'holdout', 'priority_group', 'priority', 'timeout', 'retries', 'backoff', ...LIMIT_OPTIONS])
const WEBHOOK_OPTIONS = new Set(['timeout', 'retries', 'backoff'])

export function planTrigger(stmt: ast.CreateTrigger, catalog: Catalog, id: number, sql: string): TriggerDef {
  const name = stmt.name.parts[stmt.name.parts.length - 1]!
  const query: ast.Select = {
    kind: 'select',
    distinct: false,
    targets: triggerTargets(stmt, catalog),
    from: [stmt.from],
    ...(stmt.when === undefined ? {} : { where: stmt.when }),
    groupBy: [],
    orderBy: [],
    span: stmt.span,
  }
  const view: ast.CreateView = { kind: 'create_view', name: stmt.name, ifNotExists: false, query, queryText: '', options: [], span: stmt.span }
  const plan = planView(view, catalog, true)
  if (plan.body.kind !== 'project' || plan.window !== null) throw planError(SqlState.featureNotSupported, 'a trigger fires for each event of a stream', stmt.span)
  const stream = plan.source
  if (stmt.action.kind === 'insert' && lastName(stmt.action.insert.table) === stream.name) {
    throw planError(SqlState.featureNotSupported, 'a trigger cannot insert into the stream it fires on', stmt.action.insert.table.span)
  }
  const keyIndexes = plan.join !== null ? plan.join.keyIndexes : stream.keyColumn !== null ? [stream.keyColumn] : []

  let cooldown: number | null = null
  let maxFires: number | null = null
  let activeFrom: number | null = null
  let activeUntil: number | null = null
  let holdout = 0
  let priorityGroup: string | null = null
  let priority = 0
  let timeoutMs = 5000
  let retries = 5
  let backoffMs = 200
  for (const o of stmt.options) {
    if (!TRIGGER_OPTIONS.has(o.name)) {
      throw planError(SqlState.invalidParameterValue, `unrecognized trigger option "${o.name}"`, o.span, `Known options: ${[...TRIGGER_OPTIONS].join(', ')}.`)
    }
    if (WEBHOOK_OPTIONS.has(o.name) && stmt.action.kind !== 'webhook') throw planError(SqlState.invalidParameterValue, `option "${o.name}" is for webhooks`, o.span)
    switch (o.name) {
      case 'priority_group':
        if (typeof o.value !== 'string' || o.value === '') throw planError(SqlState.invalidParameterValue, "priority_group is a name, such as 'offers'", o.span)
        priorityGroup = o.value
        break
      case 'priority':
        if (typeof o.value !== 'number' || !Number.isFinite(o.value)) throw planError(SqlState.invalidParameterValue, 'priority is a number (higher wins)', o.span)
        priority = o.value
        break
      case 'timeout':
        timeoutMs = Math.max(1, Math.round(intervalOption(o) / 1000))
        break
      case 'backoff':
        backoffMs = Math.max(1, Math.round(intervalOption(o) / 1000))
        break
      case 'retries':
        if (typeof o.value !== 'number' || !Number.isInteger(o.value) || o.value < 0 || o.value > 20) throw planError(SqlState.invalidParameterValue, 'retries is an integer from 0 to 20', o.span)
        retries = o.value
        break
      case 'cooldown':
        cooldown = intervalOption(o)
        break
      case 'max_fires':
        if (typeof o.value !== 'number' || !Number.isInteger(o.value) || o.value < 1) throw planError(SqlState.invalidParameterValue, 'max_fires must be a positive integer', o.span)
        maxFires = o.value
        break
      case 'holdout':
        if (typeof o.value !== 'number' || !(o.value >= 0 && o.value < 1)) throw planError(SqlState.invalidParameterValue, 'holdout is a fraction from 0 to below 1, such as 0.1', o.span)
        holdout = o.value
        break
      case 'active_from':
      case 'active_until': {
        const t = timestampOption(o)
        if (o.name === 'active_from') activeFrom = t
        else activeUntil = t
        break
      }
    }
  }
  if (keyIndexes.length === 0 && (cooldown !== null || maxFires !== null || holdout > 0)) {
    throw planError(SqlState.invalidParameterValue, 'cooldown, max_fires and holdout work per key: join a keyed view or give the stream a key', stmt.span, "Declare the stream WITH (key = 'player_id').")
  }
  return {
    kind: 'trigger',
    id,
    name,
    plan,
    spec: {
      action:
        stmt.action.kind === 'notify'
          ? { kind: 'notify', channel: stmt.action.channel }
          : stmt.action.kind === 'webhook'
            ? { kind: 'webhook', url: stmt.action.url, timeoutMs, retries, backoffMs }
            : { kind: 'insert', stream: lastName(stmt.action.insert.table) },
      cooldown,
      maxFires,
      activeFrom,
      activeUntil,
      holdout,
      keyIndexes,
      timeIndex: stream.watermark?.columnIndex ?? null,
      priorityGroup,
      priority,
      limits: queryLimits(stmt.options),
    },
    sql,
    alters: [],
    enabled: true,
  }
}

const lastName = (n: ast.QualifiedName): string => n.parts[n.parts.length - 1]!

/**
 * What the trigger's query selects: the payload as text (NOTIFY, WEBHOOK), or the inserted row in the
 * target stream's column order, each value cast to its column's type (NULL where no value is given).
 */
function triggerTargets(stmt: ast.CreateTrigger, catalog: Catalog): ast.SelectItem[] {
  const action = stmt.action
  const typeRef = (name: string): ast.TypeRef => ({ kind: 'type_ref', name, modifiers: [], isArray: false, span: action.span })
  if (action.kind !== 'insert') {
    const payload: ast.Expr = action.payload ?? { kind: 'literal', value: '', literalType: 'string', span: action.span }
    return [{ expr: { kind: 'cast', expr: payload, type: typeRef('text'), span: action.span }, alias: 'payload', span: action.span }]
  }
  const insert = action.insert
  const target = catalog.stream(lastName(insert.table), insert.table.span)
  const names = insert.columns ?? target.columns.map((c) => c.name)
  const values = insert.source.kind === 'values' ? insert.source.rows[0]! : []
  if (values.length !== names.length) throw planError(SqlState.syntaxError, `INSERT has ${values.length} expressions for ${names.length} target columns`, insert.span)
  for (const n of names) {
    if (!target.columns.some((c) => c.name === n)) throw planError(SqlState.undefinedColumn, `column "${n}" of stream "${target.name}" does not exist`, insert.table.span)
  }
  return target.columns.map((c) => {
    const i = names.indexOf(c.name)
    const value: ast.Expr = i === -1 ? { kind: 'literal', value: null, literalType: 'null', span: insert.span } : values[i]!
    return { expr: { kind: 'cast', expr: value, type: typeRef(c.type.name), span: value.span }, alias: c.name, span: value.span }
  })
}

/** A constant timestamp option: `TIMESTAMPTZ '2027-02-15'` or a string. */
function timestampOption(o: ast.OptionDef): number {
  const v = o.value
  const expr: ast.Expr =
    typeof v === 'object'
      ? v
      : { kind: 'cast', expr: { kind: 'literal', value: String(v), literalType: 'string', span: o.span }, type: { kind: 'type_ref', name: 'timestamptz', modifiers: [], isArray: false, span: o.span }, span: o.span }
  const b = bindExpr(expr, { scope: Scope.empty(), params: [], clause: 'WITH' })
  const value: Value = b.kind === 'const' ? b.value : null
  if (typeof value !== 'number' || (b.type.name !== 'timestamptz' && b.type.name !== 'timestamp')) {
    throw planError(SqlState.invalidParameterValue, `option "${o.name}" must be a timestamp such as TIMESTAMPTZ '2027-02-15'`, o.span)
  }
  return value
}
