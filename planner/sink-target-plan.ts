/**
 * Where a sink writes, and the options that say how: a Kafka topic, a PostgreSQL or MySQL/MariaDB table
 * (`connection`, `mode`, `key`), or rolling files in a directory (`format`, `roll`, `size`).
 *
 *   CREATE SINK profile_out FROM profile INTO POSTGRES TABLE 'public.profile'
 *     WITH (connection = 'postgresql://bi@db/analytics', mode = 'upsert', key = (player_id))
 *   CREATE SINK minutes_out FROM closed_minutes INTO FILES 'minutes' WITH (format = 'parquet', roll = INTERVAL '1 hour')
 */
import type * as ast from '../parser/ast.ts'
import { SqlState, assertNever, planError } from '../common/errors.ts'
import { parseInterval } from '../common/types.ts'
import { parseSize } from './query-limits.ts'

export type SinkFileFormat = 'jsonl' | 'csv' | 'parquet'

export type SinkTargetDef =
  | { readonly kind: 'kafka'; readonly topic: string }
  | { readonly kind: 'postgres'; readonly table: string; readonly connection: string }
  | { readonly kind: 'mysql'; readonly table: string; readonly connection: string }
  | {
      readonly kind: 'files'
      /** Relative to the server's files directory (checked to stay inside it when the sink starts). */
      readonly dir: string
      readonly format: SinkFileFormat
      /** A file is completed once it has been open this long (and, when `rollBytes` > 0, once it is this big). */
      readonly rollMs: number
      readonly rollBytes: number
    }

const TABLE_OPTIONS = new Set(['connection', 'mode', 'key', 'delivery'])
const FILE_OPTIONS = new Set(['format', 'roll', 'size', 'mode', 'key', 'delivery'])
const DEFAULT_ROLL_MS = 3_600_000

export function sinkTargetOptions(into: Exclude<ast.SinkTargetKind, 'kafka'>): ReadonlySet<string> {
  return into === 'files' ? FILE_OPTIONS : TABLE_OPTIONS
}

export function planSinkTarget(stmt: ast.CreateSink, options: Readonly<Record<string, string | number | boolean>>, mode: 'append' | 'upsert', keyColumns: readonly number[]): SinkTargetDef {
  const span = (name: string) => stmt.options.find((o) => o.name === name)?.span
  switch (stmt.into) {
    case 'kafka':
      return { kind: 'kafka', topic: stmt.topic }
    case 'postgres':
    case 'mysql': {
      if (typeof options.connection !== 'string' || options.connection.trim() === '') {
        const example = stmt.into === 'postgres' ? 'postgresql://user:password@host:5432/db' : 'mysql://user:password@host:3306/db'
        throw planError(SqlState.invalidParameterValue, `a ${stmt.into === 'postgres' ? 'PostgreSQL' : 'MySQL'} sink needs a connection`, stmt.topicSpan, `Add WITH (connection = '${example}').`)
      }
      const scheme = stmt.into === 'postgres' ? /^postgres(ql)?:\/\//i : /^(mysql|mariadb):\/\//i
      if (!scheme.test(options.connection)) {
        throw planError(SqlState.invalidParameterValue, `connection must be a ${stmt.into === 'postgres' ? 'postgresql://' : 'mysql://'} URL`, span('connection'))
      }
      if (mode === 'upsert' && keyColumns.length === 0) throw planError(SqlState.invalidParameterValue, 'an upsert sink needs a key', stmt.from.span)
      const parts = stmt.topic.split('.')
      if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(p))) {
        throw planError(SqlState.invalidParameterValue, `invalid table name "${stmt.topic}"`, stmt.topicSpan, "Write 'table' or 'schema.table' with plain identifiers.")
      }
      return { kind: stmt.into, table: stmt.topic, connection: options.connection }
    }
    case 'files': {
      const format = String(options.format ?? 'jsonl').toLowerCase()
      if (format !== 'jsonl' && format !== 'csv' && format !== 'parquet') throw planError(SqlState.invalidParameterValue, "format must be 'jsonl', 'csv' or 'parquet'", span('format'))
      let rollMs = DEFAULT_ROLL_MS
      if (options.roll !== undefined) {
        const i = rollInterval(String(options.roll))
        if (i === null || i <= 0) throw planError(SqlState.invalidParameterValue, `invalid roll interval "${String(options.roll)}"`, span('roll'), "Give an interval such as INTERVAL '1 hour'.")
        rollMs = i
      }
      let rollBytes = 0
      if (options.size !== undefined) {
        const b = typeof options.size === 'number' ? options.size : parseSize(String(options.size).replace(/\s+/g, ''))
        if (b === undefined || b <= 0) throw planError(SqlState.invalidParameterValue, `invalid size "${String(options.size)}"`, span('size'), "Give a size such as '256 MB'.")
        rollBytes = b
        if (options.roll === undefined) rollMs = 0
      }
      return { kind: 'files', dir: stmt.topic, format, rollMs, rollBytes }
    }
    default:
      return assertNever(stmt.into, 'sink target')
  }
}

function rollInterval(text: string): number | null {
  try {
    const i = parseInterval(text)
    return (i.months * 30 + i.days) * 86_400_000 + i.micros / 1000
  } catch {
    return null
  }
}
