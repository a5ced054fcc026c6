/**
 * The plan of a materialized view (or a trigger's query) as a tree of nodes, root first: what EXPLAIN prints
 * and what the executor builds its operators from (executor/operators/build.ts). Each kind says once, in an
 * exhaustive switch, its children, its output columns and its EXPLAIN line; a new operator is a new kind
 * here, a case in each switch, and a case in the builder.
 */
import { assertNever } from '../common/errors.ts'
import { formatInterval } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { BoundAggregation } from './select.ts'
import type { BoundWindowCall } from './window-functions.ts'
import type { LookupJoinSpec } from './lookup-join.ts'
import type { PatternPlan } from './pattern-plan.ts'
import type { StreamDef } from './catalog.ts'
import type { SliceSpec } from './hop-slices.ts'
import type { WindowSpec } from './view-plan.ts'
import type { QueryLimits } from './query-limits.ts'
import { describeLimits } from './query-limits.ts'
import { displayExpr } from './display.ts'
import { printRowPattern } from '../parser/match-recognize/print.ts'
import type { TriggerDef } from './trigger-plan.ts'
import type { SinkDef } from './sink-plan.ts'
import { intervalJoinLine, type IntervalJoinSpec } from './interval-join.ts'

export type StreamPlanNode =
  /** A trigger: its query's rows (WHEN passed) fire its action, subject to cooldown, max_fires and the rest. */
  | { readonly kind: 'trigger'; readonly def: TriggerDef; readonly input: StreamPlanNode }
  /**
   * A sink: writes what `input` gives (a stream's events, appended; a view's changes, taken at each
   * checkpoint) to its target. It has no operator: it reads the checkpoint batch, outside the pipeline.
   */
  | { readonly kind: 'sink'; readonly def: SinkDef; readonly input: StreamPlanNode }
  /** The view itself: how it emits, what it keeps and its limits. */
  | { readonly kind: 'materialized_view'; readonly name: string; readonly emit: 'on_update' | 'on_window_close'; readonly retention: number | null; readonly idleTtl: number | null; readonly limits: QueryLimits; readonly input: StreamPlanNode }
  /**
   * The output list over the rows of `input` (`names`: the columns it reads; `aggNames`: the aggregates or
   * window calls it reads). `append`: a view without aggregation, whose rows are kept as they come.
   */
  | { readonly kind: 'project'; readonly output: readonly BoundExpr[]; readonly columns: readonly string[]; readonly names: readonly string[]; readonly aggNames: readonly string[] | undefined; readonly append: boolean; readonly input: StreamPlanNode }
  /**
   * WHERE over the events (`role` 'where'), HAVING over the groups, the WHERE over MATCH_RECOGNIZE's rows, or
   * the WHERE of the subquery a SESSION window reads ('source': before the window, it decides which events exist).
   */
  | { readonly kind: 'filter'; readonly predicate: BoundExpr; readonly role: 'where' | 'having' | 'output' | 'source'; readonly names: readonly string[]; readonly aggNames: readonly string[] | undefined; readonly input: StreamPlanNode }
  /** GROUP BY, one accumulator per key (per session of a key when `session`) in the state store. */
  | { readonly kind: 'aggregate'; readonly aggregation: BoundAggregation; readonly keyNames: readonly string[]; readonly aggNames: readonly string[]; readonly session: boolean; readonly input: StreamPlanNode }
  /** Rows routed to key groups by the hash of the group key. */
  | { readonly kind: 'exchange'; readonly keyNames: readonly string[]; readonly input: StreamPlanNode }
  /** Window functions (OVER): rows wait per partition key for the watermark, in event-time order. */
  | { readonly kind: 'window_functions'; readonly windows: readonly BoundWindowCall[]; readonly windowNames: readonly string[]; readonly partitionBy: readonly BoundExpr[]; readonly timeIndex: number; readonly names: readonly string[]; readonly input: StreamPlanNode }
  /** MATCH_RECOGNIZE over the stream's rows, per partition key in event-time order. */
  | { readonly kind: 'pattern_recognize'; readonly pattern: PatternPlan; readonly streamNames: readonly string[]; readonly columns: readonly string[]; readonly input: StreamPlanNode }
  /** TUMBLE, HOP (possibly aggregated per slice) or SESSION: window_start and window_end follow the row. */
  | { readonly kind: 'window'; readonly window: WindowSpec; readonly slices: SliceSpec | null; readonly names: readonly string[]; readonly input: StreamPlanNode }
  /** Each event looks up a keyed view; its columns follow the event's. */
  | { readonly kind: 'lookup_join'; readonly join: LookupJoinSpec; readonly names: readonly string[]; readonly input: StreamPlanNode }
  /** Two streams joined within a time bound: each side's rows wait in state for the other's (planner/interval-join.ts). */
  | { readonly kind: 'interval_join'; readonly join: IntervalJoinSpec; readonly names: readonly string[]; readonly left: StreamPlanNode; readonly right: StreamPlanNode }
  /** The leaf: a stream's shared scan, or the rows of the view it reads (views over views). */
  | { readonly kind: 'scan'; readonly source: StreamDef }

export type StreamPlanKind = StreamPlanNode['kind']

/** The nodes a node reads from (none for a scan). */
export function children(node: StreamPlanNode): readonly StreamPlanNode[] {
  switch (node.kind) {
    case 'scan':
      return []
    case 'trigger':
    case 'sink':
    case 'materialized_view':
    case 'project':
    case 'filter':
    case 'aggregate':
    case 'exchange':
    case 'window_functions':
    case 'pattern_recognize':
    case 'window':
    case 'lookup_join':
      return [node.input]
    case 'interval_join':
      return [node.left, node.right]
    default:
      return assertNever(node)
  }
}

const WINDOW_COLUMNS = ['window_start', 'window_end']

/** The names of the columns a node puts out, in order. */
export function schema(node: StreamPlanNode): readonly string[] {
  switch (node.kind) {
    case 'scan':
      return node.source.columns.map((c) => c.name)
    case 'lookup_join':
      return [...schema(node.input), ...node.join.columns.map((c) => c.name)]
    case 'window':
      return [...schema(node.input), ...WINDOW_COLUMNS]
    case 'interval_join':
      return [...schema(node.left), ...schema(node.right)]
    case 'materialized_view':
    case 'filter':
    case 'exchange':
    case 'trigger':
    case 'sink':
      return schema(node.input)
    case 'aggregate':
      return [...node.keyNames, ...node.aggNames]
    case 'window_functions':
      return [...node.names, ...node.windowNames]
    case 'pattern_recognize':
      return node.columns
    case 'project':
      return node.columns
    default:
      return assertNever(node)
  }
}

const DAY_MICROS = 86_400_000_000
const fmtMicros = (micros: number) => formatInterval({ months: 0, days: Math.floor(micros / DAY_MICROS), micros: micros % DAY_MICROS })
const fmt = (micros: number) => formatInterval({ months: 0, days: 0, micros })

/** The node's line in EXPLAIN (without the tree's indentation). */
export function explainLine(node: StreamPlanNode): string {
  switch (node.kind) {
    case 'trigger':
      return triggerLine(node.def)
    case 'sink':
      return sinkLine(node.def, node.input.kind === 'scan')
    case 'materialized_view': {
      const keep = node.retention !== null ? `, retention ${fmtMicros(node.retention)}` : node.idleTtl !== null ? `, idle_ttl ${fmtMicros(node.idleTtl)}` : ''
      const limits = describeLimits(node.limits)
      return `MaterializedView ${node.name} (emit ${node.emit === 'on_update' ? 'on update' : 'on window close'}${keep}${limits === '' ? '' : `, ${limits}`})`
    }
    case 'project':
      return `Project ${node.output.map((o, i) => `${displayExpr(o, node.names, node.aggNames)} AS ${node.columns[i]}`).join(', ')}${node.append ? ' (append)' : ''}`
    case 'filter':
      return `Filter${node.role === 'having' ? ' (having)' : node.role === 'source' ? ' (subquery)' : ''} ${displayExpr(node.predicate, node.names, node.aggNames)}`
    case 'aggregate':
      return `${node.session ? 'SessionAggregate' : 'KeyedAggregate'} keys=[${node.keyNames.join(', ')}] aggregates=[${node.aggNames.join(', ')}] state=rocksdb(cache)`
    case 'exchange':
      return `Exchange hash(${node.keyNames.join(', ')}) -> key groups`
    case 'window_functions':
      return `OverWindow partition=[${node.partitionBy.map((p) => displayExpr(p, node.names)).join(', ')}] order=${node.names[node.timeIndex]} state=rocksdb(cache) (rows wait for the watermark)`
    case 'pattern_recognize':
      return patternLine(node.pattern, node.streamNames)
    case 'window':
      return windowLine(node.window, node.slices, node.names)
    case 'lookup_join': {
      const j = node.join
      return `LookupJoin ${j.type} view=${j.view} key=[${j.keyIndexes.map((i) => node.names[i]).join(', ')}] ${j.asOfEvent ? '(as of each event, after its own update)' : '(current state)'}`
    }
    case 'interval_join':
      return intervalJoinLine(node.join, node.names)
    case 'scan':
      return scanLine(node.source)
    default:
      return assertNever(node)
  }
}

function triggerLine(def: TriggerDef): string {
  const s = def.spec
  const a = s.action
  const action = a.kind === 'notify' ? `notify channel=${a.channel}` : a.kind === 'webhook' ? `webhook url=${a.url} timeout=${a.timeoutMs}ms retries=${a.retries}` : `insert into ${a.stream}`
  const opts: string[] = []
  if (s.keyIndexes.length > 0) opts.push(`key=[${s.keyIndexes.map((i) => def.plan.inputNames[i]).join(', ')}]`)
  if (s.cooldown !== null) opts.push(`cooldown ${fmtMicros(s.cooldown)}`)
  if (s.maxFires !== null) opts.push(`max_fires ${s.maxFires}`)
  if (s.holdout > 0) opts.push(`holdout ${s.holdout}`)
  if (s.priorityGroup !== null) opts.push(`priority_group ${s.priorityGroup} priority ${s.priority}`)
  const limits = describeLimits(s.limits)
  if (limits !== '') opts.push(limits)
  return `Trigger ${def.name} ${action}${opts.length === 0 ? '' : ` (${opts.join(', ')})`}`
}

function sinkLine(def: SinkDef, ofStream: boolean): string {
  const t = def.target
  const into = t.kind === 'kafka' ? `kafka topic=${t.topic}` : t.kind === 'files' ? `files dir=${t.dir} format=${t.format}` : `${t.kind} table=${t.table}`
  const key = def.keyColumns.length === 0 ? '' : ` key=[${def.keyColumns.map((i) => def.columns[i]?.name).join(', ')}]`
  const reads = ofStream ? 'each event, as its offsets are checkpointed' : def.mode === 'upsert' ? "the view's changes at each checkpoint" : "the view's rows at each checkpoint"
  return `Sink ${def.name} into ${into} (${def.mode}${key}, ${def.delivery.replace(/_/g, ' ')}; ${reads}, no operator of its own)`
}

function patternLine(pp: PatternPlan, names: readonly string[]): string {
  const src = pp.clause
  const s = src.afterMatchSkip
  const skip = s === undefined ? 'past last row' : s.kind === 'to_first' || s.kind === 'to_last' ? `${s.kind.replace('_', ' ')} ${s.variable}` : s.kind.replace(/_/g, ' ')
  const within = pp.within !== null ? `, within ${fmtMicros(pp.within)}` : ''
  return `PatternRecognize partition=[${pp.partitionBy.map((i) => names[i]).join(', ')}] order=${names[pp.timeIndex]} pattern=(${printRowPattern(src.pattern)}) ${pp.rowsPerMatch === 'one_row' ? 'one row' : 'all rows'} per match, skip ${skip}${within} state=rocksdb(cache) (rows wait for the watermark)`
}

function windowLine(w: WindowSpec, slices: SliceSpec | null, names: readonly string[]): string {
  switch (w.kind) {
    case 'session':
      return `SessionWindow time=${names[w.timeIndex]} gap=${fmt(w.gap)} key=[${w.keyIndexes.map((i) => names[i]).join(', ')}] (merging)`
    case 'tumble':
      return `TumbleWindow time=${names[w.timeIndex]} size=${fmt(w.size)}`
    case 'hop':
      return `HopWindow time=${names[w.timeIndex]} slide=${fmt(w.slide)} size=${fmt(w.size)}${slices === null ? '' : ` (aggregated per ${fmt(slices.length)} slice, windows put together when they close)`}`
    default:
      return assertNever(w)
  }
}

/** A stream's shared scan, or the view it reads (views over views). */
function scanLine(s: StreamDef): string {
  if (s.source.kind === 'view') {
    const time = s.watermark ? `, time=${s.watermark.sql}` : ''
    return `ViewRows ${s.name} (${s.source.changes ? 'its changes: old rows withdrawn, new rows added' : 'each row once, as written'}; in step with it${time})`
  }
  const wm = s.watermark ? ` watermark=${s.watermark.sql}` : ''
  return `StreamScan ${s.name} (shared, ${s.partitions} partitions)${wm}`
}

/** The tree as EXPLAIN prints it: one node per line, children below their parent and indented (as PostgreSQL). */
export function printPlanTree(root: StreamPlanNode): string[] {
  const lines: string[] = []
  const visit = (node: StreamPlanNode, depth: number): void => {
    lines.push(`${depth === 0 ? '' : `${'  '.repeat(depth - 1)}->  `}${explainLine(node)}`)
    for (const c of children(node)) visit(c, depth + 1)
  }
  visit(root, 0)
  return lines
}

/** The first node of `kind` on the way down from `node` (following first children), or null. */
export function findNode<K extends StreamPlanKind>(node: StreamPlanNode, kind: K): Extract<StreamPlanNode, { kind: K }> | null {
  for (let n: StreamPlanNode | undefined = node; n !== undefined; n = children(n)[0]) {
    if (n.kind === kind) return n as Extract<StreamPlanNode, { kind: K }>
  }
  return null
}
