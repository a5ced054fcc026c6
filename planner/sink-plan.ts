/**
 * Plans CREATE SINK: what a sink reads (a stream: every event, appended; a view: its changes, upserted by key
 * with tombstones), where it writes (a Kafka topic, a PostgreSQL or MySQL table, files; see sink-target-plan.ts)
 * and how (JSON values, a key made of some columns).
 */
import type * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { Column } from '../common/types.ts'
import type { Catalog } from './catalog.ts'
import { printPlanTree, type StreamPlanNode } from './stream-plan-nodes.ts'
import { viewPlanTree } from './view-plan-tree.ts'
import { planSinkTarget, sinkTargetOptions, type SinkTargetDef } from './sink-target-plan.ts'

export interface SinkDef {
  readonly kind: 'sink'
  readonly id: number
  readonly name: string
  /** The stream or view it reads. */
  readonly from: string
  readonly mode: 'append' | 'upsert'
  /** exactly_once: Kafka transactions tied to checkpoints; at_least_once: plain sends, as soon as possible. */
  readonly delivery: 'exactly_once' | 'at_least_once'
  /** The topic, table or directory, as written (for display). */
  readonly topic: string
  readonly target: SinkTargetDef
  /** Columns of the source whose values make the Kafka key (JSON array of them; one column: its text). */
  readonly keyColumns: readonly number[]
  readonly columns: readonly Column[]
  readonly sql: string
}

/**
 * A sink's plan tree: the sink over what it reads, a stream's scan or the view's whole plan (whose changes
 * it takes at each checkpoint). What EXPLAIN CREATE SINK prints; a sink has no operator (build.ts).
 */
export function sinkPlanTree(def: SinkDef, catalog: Catalog): StreamPlanNode {
  const source = catalog.relation(def.from)
  const input: StreamPlanNode = source.kind === 'view' ? viewPlanTree(source.name, source.plan) : { kind: 'scan', source }
  return { kind: 'sink', def, input }
}

/** EXPLAIN CREATE SINK: the sink over what it reads, planned as CREATE SINK plans it (nothing is created). */
export function explainSink(stmt: ast.CreateSink, catalog: Catalog): string[] {
  return printPlanTree(sinkPlanTree(planSink(stmt, catalog, 0, ''), catalog))
}

const KNOWN_OPTIONS = new Set(['format', 'key', 'delivery'])

export function planSink(stmt: ast.CreateSink, catalog: Catalog, id: number, sql: string): SinkDef {
  const name = stmt.name.parts[stmt.name.parts.length - 1]!
  const fromName = stmt.from.parts[stmt.from.parts.length - 1]!
  const source = catalog.relation(fromName, stmt.from.span)
  const options: Record<string, string | number | boolean> = {}
  const known = stmt.into === 'kafka' ? KNOWN_OPTIONS : sinkTargetOptions(stmt.into)
  for (const o of stmt.options) {
    if (!known.has(o.name)) {
      throw planError(SqlState.invalidParameterValue, `unrecognized sink option "${o.name}"`, o.span, `Known options: ${[...known].join(', ')}.`)
    }
    options[o.name] = optionConstant(o)
  }
  if (stmt.into === 'kafka') {
    const format = String(options.format ?? 'json').toLowerCase()
    if (format !== 'json') throw unsupported(`sink format '${format}' is not supported yet; use 'json'`, stmt.options.find((o) => o.name === 'format')?.span)
  }
  if (stmt.topic.trim() === '') throw planError(SqlState.invalidParameterValue, `the ${stmt.into === 'kafka' ? 'topic' : stmt.into === 'files' ? 'directory' : 'table'} name is empty`, stmt.topicSpan)
  const columns = source.columns
  let keyColumns: number[]
  if (options.key !== undefined) {
    keyColumns = String(options.key)
      .split(',')
      .map((k) => k.trim().toLowerCase())
      .map((k) => {
        const i = columns.findIndex((c) => c.name === k)
        if (i === -1) throw planError(SqlState.undefinedColumn, `key column "${k}" does not exist in ${fromName}`, stmt.options.find((o) => o.name === 'key')?.span)
        return i
      })
  } else if (source.kind === 'view' && source.plan.body.kind === 'aggregate') {
    // A view's group: the output columns that are GROUP BY keys.
    keyColumns = source.plan.body.output.flatMap((o, i) => (o.kind === 'column' ? [i] : []))
  } else if (source.kind === 'stream' && source.keyColumn !== null) {
    keyColumns = [source.keyColumn]
  } else {
    keyColumns = []
  }
  const delivery = String(options.delivery ?? 'exactly_once').toLowerCase()
  if (stmt.into !== 'kafka' && delivery !== 'exactly_once') {
    throw planError(SqlState.invalidParameterValue, 'sinks into tables and files are always exactly once', stmt.options.find((o) => o.name === 'delivery')?.span)
  }
  if (delivery !== 'exactly_once' && delivery !== 'at_least_once') {
    throw planError(SqlState.invalidParameterValue, `delivery must be 'exactly_once' or 'at_least_once'`, stmt.options.find((o) => o.name === 'delivery')?.span)
  }
  let mode: SinkDef['mode'] = 'append'
  if (source.kind === 'view') {
    // Their rows appear without their state entries changing; a view that reads them (views over views)
    // gets each row once, as written, and can be sunk.
    const viaView = `Sink a view that reads it: CREATE MATERIALIZED VIEW ${fromName}_rows AS SELECT * FROM ${fromName}; CREATE SINK ... FROM ${fromName}_rows.`
    if (source.plan.body.kind === 'over' || source.plan.body.kind === 'pattern') {
      throw unsupported('sinks from views with window functions or MATCH_RECOGNIZE are not supported yet', stmt.from.span, viaView)
    }
    if (source.plan.window?.kind === 'session') {
      throw unsupported('sinks from SESSION views are not supported yet', stmt.from.span, source.plan.emit === 'on_window_close' ? viaView : undefined)
    }
    if (source.plan.emit === 'on_window_close') {
      throw unsupported('sinks from EMIT ON WINDOW CLOSE views are not supported yet', stmt.from.span, `${viaView} Or sink the view without EMIT ON WINDOW CLOSE: it is upserted by key.`)
    }
    if (source.plan.body.kind === 'aggregate') {
      mode = 'upsert'
      if (keyColumns.length === 0) throw planError(SqlState.invalidParameterValue, `view ${fromName} has no group key column to upsert by`, stmt.from.span, "Name one with WITH (key = 'column').")
    }
  }
  if (options.mode !== undefined) {
    const asked = String(options.mode).toLowerCase()
    const span = stmt.options.find((o) => o.name === 'mode')?.span
    if (asked !== 'append' && asked !== 'upsert') throw planError(SqlState.invalidParameterValue, "mode must be 'upsert' or 'append'", span)
    if (asked === 'upsert' && keyColumns.length === 0) throw planError(SqlState.invalidParameterValue, `an upsert sink needs a key: ${fromName} has none`, span, 'Name one with WITH (key = (column, ...)).')
    mode = asked
  }
  const target = planSinkTarget(stmt, options, mode, keyColumns)
  return { kind: 'sink', id, name, from: fromName, mode, delivery, topic: stmt.topic, target, keyColumns, columns, sql }
}

/**
 * An option's value as a constant. `key = (a, b)` and `roll = INTERVAL '1 hour'` arrive as expressions:
 * the first becomes 'a,b', the second its literal's text.
 */
function optionConstant(o: ast.OptionDef): string | number | boolean {
  if (typeof o.value !== 'object') return o.value
  const words = exprWords(o.value)
  if (words.length > 0) return words.join(',')
  throw planError(SqlState.invalidParameterValue, `option "${o.name}" takes a constant`, o.span)
}

/** Column names, or string literals, found in an option's expression, in order. */
function exprWords(e: unknown): string[] {
  if (e === null || typeof e !== 'object') return []
  const node = e as Record<string, unknown>
  if (node.kind === 'column_ref' && typeof node.name === 'string') return [node.name]
  if (node.kind === 'literal' && typeof node.value === 'string') return [node.value]
  if (node.kind === 'literal' && typeof node.value === 'number') return [String(node.value)]
  return Object.entries(node).flatMap(([k, v]) => (k === 'span' ? [] : Array.isArray(v) ? v.flatMap(exprWords) : exprWords(v)))
}
