/**
 * DDL commands of a cluster: how a statement is checked on the node that took it before it is written to
 * the command topic, how CREATE STREAM becomes a stream backed by the cluster's Kafka topic, and how every
 * node applies a command to its own engine.
 */
import { SqlState, planError } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import { parseStatements } from '../parser/index.ts'
import { planStream } from '../planner/stream-plan.ts'
import { planSink } from '../planner/sink-plan.ts'
import { planTrigger } from '../planner/trigger-plan.ts'
import { sinkRefusal } from './sinks.ts'
import type { Engine } from '../executor/engine.ts'
import type { DdlCommand } from '../executor/engine/cluster-hooks.ts'

/** Partitions of a cluster stream's topic when CREATE STREAM does not say (`WITH (partitions = N)`). */
export const DEFAULT_STREAM_PARTITIONS = 6

/** A checked command: what to write, the topic it needs first, or the answer when there is nothing to write. */
export type Checked =
  | {
      readonly write: DdlCommand
      readonly topic?: { readonly name: string; readonly partitions: number }
      /** CREATE TRIGGER on a stream: the topic whose end offsets, now, the command carries as its start. */
      readonly startsAt?: string
      /** CREATE SINK into Kafka: the topic that must exist before the command is written. */
      readonly sinkTopic?: string
    }
  | { readonly answer: 'exists' }

export function statementOf<K extends ast.Statement['kind']>(sql: string, kind: K): Extract<ast.Statement, { kind: K }> {
  const [parsed] = parseStatements(sql)
  if (parsed === undefined || parsed.statement.kind !== kind) throw planError(SqlState.internalError, `command is not ${kind}: ${sql}`)
  return parsed.statement as Extract<ast.Statement, { kind: K }>
}

const lastPart = (n: ast.QualifiedName): string => n.parts[n.parts.length - 1]!

/**
 * Plans `cmd` against this node's catalog without deploying anything: a statement that cannot plan fails
 * here, for its client only, and is never written. Throws the planner's error (SQLSTATE and position).
 */
export function checkCommand(engine: Engine, cmd: DdlCommand, changelogs = true): Checked {
  switch (cmd.op) {
    case 'create_stream': {
      const stmt = statementOf(cmd.sql, 'create_stream')
      const name = lastPart(stmt.name)
      if (engine.catalog.has(name)) {
        if (stmt.ifNotExists) return { answer: 'exists' }
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span)
      }
      const backed = topicBacked(stmt, cmd.sql)
      planStream(statementOf(backed.sql, 'create_stream'), 0, backed.sql)
      return { write: { op: 'create_stream', sql: backed.sql }, ...(backed.topic === null ? {} : { topic: backed.topic }) }
    }
    case 'create_view': {
      const stmt = statementOf(cmd.sql, 'create_view')
      const name = lastPart(stmt.name)
      if (engine.catalog.has(name)) {
        if (stmt.ifNotExists) return { answer: 'exists' }
        throw planError(SqlState.duplicateTable, `relation "${name}" already exists`, stmt.name.span)
      }
      engine.viewDef(stmt, 0, cmd.sql)
      return { write: cmd }
    }
    case 'create_trigger': {
      const stmt = statementOf(cmd.sql, 'create_trigger')
      const name = lastPart(stmt.name)
      if (engine.triggerDefs().some((t) => t.name === name)) {
        if (stmt.ifNotExists) return { answer: 'exists' }
        throw planError(SqlState.duplicateObject, `trigger "${name}" already exists`, stmt.name.span)
      }
      const def = planTrigger(stmt, engine.catalog, 0, cmd.sql)
      // Fired in the task engines (cluster/outputs.ts); on a stream, from the topic's end as it is now.
      const source = def.plan.source
      return { write: cmd, ...(source.source.kind === 'kafka' ? { startsAt: source.source.topic } : {}) }
    }
    case 'create_sink': {
      const stmt = statementOf(cmd.sql, 'create_sink')
      const name = lastPart(stmt.name)
      if (engine.sinkRuntimes().some((s) => s.name === name)) {
        if (stmt.ifNotExists) return { answer: 'exists' }
        throw planError(SqlState.duplicateObject, `sink or relation "${name}" already exists`, stmt.name.span)
      }
      // Kafka sinks run in the task engines, exactly once per task (sinks.ts); the others are refused.
      const def = planSink(stmt, engine.catalog, 0, cmd.sql)
      const refused = sinkRefusal(def, changelogs, stmt.span)
      if (refused !== null) throw refused
      return { write: cmd, ...(def.target.kind === 'kafka' ? { sinkTopic: def.target.topic } : {}) }
    }
    default:
      // ALTER and DROP are checked where they are applied: the same on every node, and the node that took
      // the statement answers its client with its own result.
      return { write: cmd }
  }
}

/** Applies a command to this node's engine (its own commands and everyone else's, in the topic's order). */
export function applyCommand(engine: Engine, cmd: DdlCommand): Promise<unknown> {
  const ddl = engine.local
  switch (cmd.op) {
    case 'create_stream':
      return ddl.createStream(statementOf(cmd.sql, 'create_stream'), cmd.sql)
    case 'create_view':
      return ddl.createView(statementOf(cmd.sql, 'create_view'), cmd.sql)
    case 'create_trigger':
      return ddl.createTrigger(statementOf(cmd.sql, 'create_trigger'), cmd.sql)
    case 'create_sink':
      return ddl.createSink(statementOf(cmd.sql, 'create_sink'), cmd.sql)
    case 'alter_trigger':
      return ddl.alterTrigger(statementOf(cmd.sql, 'alter_trigger'), cmd.sql)
    case 'alter_view':
      return ddl.alterView(statementOf(cmd.sql, 'alter_view'), cmd.sql)
    case 'drop':
      return ddl.drop(cmd.kind, cmd.name, cmd.ifExists, cmd.cascade)
    case 'drop_trigger':
      return ddl.dropTrigger(cmd.name, cmd.ifExists)
    case 'drop_sink':
      return ddl.dropSink(cmd.name, cmd.ifExists)
    case 'close_stream':
      return ddl.closeStream(cmd.name)
    case 'reset_watermark':
      return ddl.resetWatermark(cmd.name, cmd.to === null ? undefined : { text: cmd.to, span: { start: 0, end: 0 } })
  }
}

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`

/**
 * CREATE STREAM in a cluster: a stream with no connector (what would be an embedded log) becomes a stream
 * of a Kafka topic that every node reads: `topic` (default: the stream's name) with `partitions`
 * (default 6) partitions, created when absent. Other connectors (an existing Kafka topic, a file) are
 * kept as written. Returns the SQL that the command topic carries and the topic to create first.
 */
export function topicBacked(stmt: ast.CreateStream, sql: string): { sql: string; topic: { name: string; partitions: number } | null } {
  // Spans are those of `sql` only when it is the statement alone; parse it again to be sure.
  const own = statementOf(sql, 'create_stream')
  const option = (name: string) => own.options.find((o) => o.name === name)
  const connector = option('connector')
  if (connector !== undefined && String(connector.value) !== 'embedded') return { sql, topic: null }
  const partitionsOpt = option('partitions')
  const partitions = partitionsOpt === undefined ? DEFAULT_STREAM_PARTITIONS : Number(partitionsOpt.value)
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
    throw planError(SqlState.invalidParameterValue, 'partitions must be an integer from 1 to 1024', partitionsOpt?.span ?? stmt.span)
  }
  const topic = option('topic') === undefined ? lastPart(own.name) : String(option('topic')!.value)
  const kept = own.options.filter((o) => !['partitions', 'connector', 'topic'].includes(o.name)).map((o) => sql.slice(o.span.start, o.span.end))
  const options = [...kept, `connector = 'kafka'`, `topic = ${quote(topic)}`].join(', ')
  let head: string
  if (own.options.length === 0) {
    head = sql.replace(/[\s;]*$/, '')
  } else {
    const first = Math.min(...own.options.map((o) => o.span.start))
    const before = sql.slice(0, first)
    const m = /with\s*\(\s*$/i.exec(before)
    if (m === null) throw planError(SqlState.internalError, 'cannot find the WITH of CREATE STREAM', stmt.span)
    const closeAt = sql.indexOf(')', Math.max(...own.options.map((o) => o.span.end)))
    head = before.slice(0, m.index).replace(/\s*$/, '') + sql.slice(closeAt + 1).replace(/[\s;]*$/, '')
  }
  return { sql: `${head} WITH (${options})`, topic: { name: topic, partitions } }
}
