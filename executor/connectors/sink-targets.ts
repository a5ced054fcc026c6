/**
 * Opens the target a sink writes to, by the kind its plan names. At CREATE (`prepare`) a table target
 * creates or checks its table, so that a mismatch is an error of the statement; on a restart the target
 * opens without reaching the database (it may be down: the sink then retries, as when it goes down later).
 */
import { resolve, sep } from 'node:path'
import { SluiceError, SqlState, assertNever, planError } from '../../common/errors.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import { PostgresSinkTarget } from './postgres-sink.ts'
import { MysqlSinkTarget } from './mysql-sink.ts'
import { FileSinkTarget } from './file-sink.ts'
import type { SinkTarget } from './sink-target.ts'

export interface SinkTargetContext {
  readonly kafkaBrokers: readonly string[]
  /** Stable across restarts, unique per installation and sink. */
  readonly sinkTag: string
  /** The server's files directory: file sinks write under it. */
  readonly filesDir: string
  /** At CREATE: check (and create) the target now. */
  readonly prepare: boolean
  /**
   * Cluster mode, a node's front engine (it computes nothing: the task engines write the sink): at CREATE
   * the target is only checked, and what the engine hands it is dropped.
   */
  readonly checkOnly?: boolean
  /** Cluster mode, a task engine: whether a failed Kafka transaction may be tried again (kafka-sink.ts). */
  readonly retry?: (err: Error) => Promise<boolean>
}

/** The target of a sink whose rows this engine never has (a cluster node's front engine). */
const NO_TARGET: SinkTarget = {
  deadLetters: 0,
  deliver: () => Promise.resolve(),
  send: () => Promise.resolve(),
  lastDelivered: () => Promise.resolve(-1),
  close: () => Promise.resolve(),
}

export async function openSinkTarget(def: SinkDef, ctx: SinkTargetContext): Promise<SinkTarget> {
  const target = def.target
  switch (target.kind) {
    case 'kafka': {
      if (ctx.kafkaBrokers.length === 0) {
        throw new SluiceError('plan', SqlState.featureNotSupported, `sink "${def.name}" writes Kafka topic "${target.topic}", but no Kafka cluster is configured`, {
          hint: 'Start sluice with --kafka host:port (or set SLUICE_KAFKA).',
        })
      }
      if (ctx.checkOnly === true) {
        if (ctx.prepare) await (await (await kafkaSink()).open({ brokers: ctx.kafkaBrokers, topic: target.topic, sinkTag: ctx.sinkTag, transactional: false })).close()
        return NO_TARGET
      }
      return (await kafkaSink()).open({ brokers: ctx.kafkaBrokers, topic: target.topic, sinkTag: ctx.sinkTag, transactional: def.delivery === 'exactly_once', ...(ctx.retry === undefined ? {} : { retry: ctx.retry }) })
    }
    // A cluster node's front engine: at CREATE, the table is created or checked there (errors to the user).
    case 'postgres':
      if (ctx.checkOnly === true) {
        if (ctx.prepare) await (await PostgresSinkTarget.open(def, target.connection, ctx.sinkTag, true)).close()
        return NO_TARGET
      }
      return PostgresSinkTarget.open(def, target.connection, ctx.sinkTag, ctx.prepare)
    case 'mysql':
      if (ctx.checkOnly === true) {
        if (ctx.prepare) await (await MysqlSinkTarget.open(def, target.connection, ctx.sinkTag, true)).close()
        return NO_TARGET
      }
      return MysqlSinkTarget.open(def, target.connection, ctx.sinkTag, ctx.prepare)
    case 'files':
      if (ctx.checkOnly === true) return NO_TARGET
      return FileSinkTarget.open(def, sinkDirectory(ctx.filesDir, target.dir), ctx.prepare)
    default:
      return assertNever(target, 'sink target')
  }
}

/** The sink's directory inside the files directory; a path that leaves it is refused. */
export function sinkDirectory(filesDir: string, dir: string): string {
  const root = resolve(filesDir)
  const full = resolve(root, dir)
  if (full !== root && !full.startsWith(root + sep)) {
    throw planError(SqlState.insufficientPrivilege, `sink directory "${dir}" is outside the server's files directory`, undefined, 'Give a path relative to the files directory (--files).')
  }
  return full
}

/** The Kafka sink's writer, loaded with its client only when a Kafka sink is opened (kafka-log.ts says why). */
const kafkaSink = async () => (await import('./kafka-sink.ts')).KafkaSinkWriter
