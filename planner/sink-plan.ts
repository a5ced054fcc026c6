/**
 * Plans CREATE SINK: what a sink reads (a stream: every event, appended; a view: its changes, upserted by key
 * with tombstones), where it writes (a Kafka topic) and how (JSON values, a key made of some columns).
 */
import type * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { Column } from '../common/types.ts'
import type { Catalog } from './catalog.ts'

export interface SinkDef {
  readonly kind: 'sink'
  readonly id: number
  readonly name: string
  /** The stream or view it reads. */
  readonly from: string
  readonly mode: 'append' | 'upsert'
  /** exactly_once: Kafka transactions tied to checkpoints; at_least_once: plain sends, as soon as possible. */
  readonly delivery: 'exactly_once' | 'at_least_once'
  readonly topic: string
  /** Columns of the source whose values make the Kafka key (JSON array of them; one column: its text). */
  readonly keyColumns: readonly number[]
  readonly columns: readonly Column[]
  readonly sql: string
}

const KNOWN_OPTIONS = new Set(['format', 'key', 'delivery'])

export function planSink(stmt: ast.CreateSink, catalog: Catalog, id: number, sql: string): SinkDef {
  const name = stmt.name.parts[stmt.name.parts.length - 1]!
  const fromName = stmt.from.parts[stmt.from.parts.length - 1]!
  const source = catalog.relation(fromName, stmt.from.span)
  const options: Record<string, string | number | boolean> = {}
  for (const o of stmt.options) {
    if (!KNOWN_OPTIONS.has(o.name)) {
      throw planError(SqlState.invalidParameterValue, `unrecognized sink option "${o.name}"`, o.span, `Known options: ${[...KNOWN_OPTIONS].join(', ')}.`)
    }
    if (typeof o.value === 'object') throw planError(SqlState.invalidParameterValue, `option "${o.name}" takes a constant`, o.span)
    options[o.name] = o.value
  }
  const format = String(options.format ?? 'json').toLowerCase()
  if (format !== 'json') throw unsupported(`sink format '${format}' is not supported yet; use 'json'`, stmt.options.find((o) => o.name === 'format')?.span)
  if (stmt.topic.trim() === '') throw planError(SqlState.invalidParameterValue, 'the topic name is empty', stmt.topicSpan)
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
  return { kind: 'sink', id, name, from: fromName, mode, delivery, topic: stmt.topic, keyColumns, columns, sql }
}
