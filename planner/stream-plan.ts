/** Plans CREATE STREAM: column types, the watermark, and the WITH options, checked against what we support. */
import { isAbsolute, normalize } from 'node:path'
import { textSpan } from '../parser/index.ts'
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import { intervalMicros, type Column, type Interval } from '../common/types.ts'
import { bindExpr, resolveType } from './bind-expr.ts'
import { Scope } from './scope.ts'
import type { MetadataColumn, MetadataKey, OptionValue, StreamDef, StreamFormat, StreamSourceDef } from './catalog.ts'

export const DEFAULT_PARTITIONS = 4
const MAX_PARTITIONS = 256

const KNOWN_OPTIONS = new Set(['topic', 'format', 'key', 'partitions', 'connector', 'allowed_lateness', 'start', 'group_id', 'type_column', 'type_id', 'path'])

export function planStream(stmt: ast.CreateStream, id: number, sql: string): StreamDef {
  const name = stmt.name.parts[stmt.name.parts.length - 1]!
  const columns: Column[] = []
  for (const c of stmt.columns) {
    if (columns.some((x) => x.name === c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`, c.span)
    columns.push({ name: c.name, type: resolveType(c.type), nullable: !c.notNull })
  }
  if (columns.length === 0) throw planError(SqlState.syntaxError, 'a stream needs at least one column', stmt.span)
  const scope = new Scope(columns.map((c) => ({ table: name, name: c.name, type: c.type, nullable: c.nullable })))

  const options: Record<string, OptionValue> = {}
  let allowedLateness = 0
  for (const o of stmt.options) {
    if (!KNOWN_OPTIONS.has(o.name)) {
      throw planError(SqlState.invalidParameterValue, `unrecognized stream option "${o.name}"`, o.span, `Known options: ${[...KNOWN_OPTIONS].join(', ')}.`)
    }
    if (o.name === 'allowed_lateness') {
      allowedLateness = intervalOption(o)
      continue
    }
    if (typeof o.value === 'object') throw planError(SqlState.invalidParameterValue, `option "${o.name}" takes a constant`, o.span)
    options[o.name] = o.value
  }
  const source = planSource(options, stmt, name)
  const format = planFormat(options, stmt, source, columns.length)
  const metadata = planMetadata(stmt, columns, source)
  const partitions = source.kind === 'file' ? 1 : Number(options.partitions ?? DEFAULT_PARTITIONS)
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw planError(SqlState.invalidParameterValue, `partitions must be an integer from 1 to ${MAX_PARTITIONS}`, stmt.span)
  }
  let keyColumn: number | null = null
  if (options.key !== undefined) {
    keyColumn = columns.findIndex((c) => c.name === String(options.key).toLowerCase())
    if (keyColumn === -1) throw planError(SqlState.undefinedColumn, `key column "${options.key}" does not exist`, stmt.options.find((o) => o.name === 'key')?.span)
  }

  let watermark: StreamDef['watermark'] = null
  if (stmt.watermark) {
    const wm = stmt.watermark
    const columnIndex = scope.resolve([], wm.column, wm.span)
    const t = columns[columnIndex]!.type
    if (t.name !== 'timestamptz' && t.name !== 'timestamp') {
      throw planError(SqlState.datatypeMismatch, `WATERMARK FOR needs a timestamp column; "${wm.column}" is ${t.name}`, wm.span)
    }
    const expr = bindExpr(wm.expr, { scope, params: [], clause: 'WATERMARK' })
    if (expr.type.name !== 'timestamptz' && expr.type.name !== 'timestamp') {
      throw planError(SqlState.datatypeMismatch, 'the watermark expression must be a timestamp', wm.expr.span)
    }
    const text = textSpan(wm.expr)
    watermark = { columnIndex, expr, sql: sql.slice(text.start, text.end) }
  }
  return { kind: 'stream', id, name, columns, watermark, options, partitions, keyColumn, allowedLateness, source, format, metadata, sql }
}

export function intervalOption(o: ast.OptionDef): number {
  const v = o.value
  const text = typeof v === 'object' ? undefined : String(v)
  const bound =
    typeof v === 'object'
      ? bindExpr(v, { scope: Scope.empty(), params: [], clause: 'WITH' })
      : bindExpr({ kind: 'literal', value: text!, literalType: 'string', typeName: { kind: 'type_ref', name: 'interval', modifiers: [], isArray: false, span: o.span }, span: o.span }, { scope: Scope.empty(), params: [], clause: 'WITH' })
  if (bound.kind !== 'const' || bound.type.name !== 'interval') throw planError(SqlState.invalidParameterValue, `option "${o.name}" must be an interval`, o.span)
  const micros = intervalMicros(bound.value as Interval)
  if (micros < 0) throw planError(SqlState.invalidParameterValue, `option "${o.name}" must not be negative`, o.span)
  return micros
}


const optionSpan = (stmt: ast.CreateStream, name: string) => stmt.options.find((o) => o.name === name)?.span

/**
 * Where the events come from: the embedded log, a Kafka topic (`connector = 'kafka'`), or the lines of a
 * file (`connector = 'file'`, `path`).
 */
function planSource(options: Record<string, OptionValue>, stmt: ast.CreateStream, name: string): StreamSourceDef {
  const connector = String(options.connector ?? 'embedded')
  if (connector !== 'kafka') {
    for (const o of ['start', 'group_id']) {
      if (options[o] !== undefined) throw planError(SqlState.invalidParameterValue, `option "${o}" applies to Kafka streams only`, optionSpan(stmt, o))
    }
  }
  if (connector !== 'file' && options.path !== undefined) {
    throw planError(SqlState.invalidParameterValue, 'option "path" applies to file streams only', optionSpan(stmt, 'path'), "Add connector = 'file'.")
  }
  if (connector === 'embedded') return { kind: 'embedded' }
  if (connector === 'file') {
    if (typeof options.path !== 'string' || options.path === '') throw planError(SqlState.invalidParameterValue, "a file stream needs the option path (a file name, as a string)", optionSpan(stmt, 'path') ?? stmt.span)
    if (options.partitions !== undefined && options.partitions !== 1) {
      throw planError(SqlState.invalidParameterValue, 'a file stream has one partition', optionSpan(stmt, 'partitions'), 'Leave out the partitions option.')
    }
    if (isAbsolute(options.path) || normalize(options.path).split(/[\\/]/)[0] === '..') {
      throw planError(SqlState.insufficientPrivilege, `file "${options.path}" is outside the server's file directory`, optionSpan(stmt, 'path'), 'Give a path relative to the file directory the server was started with (sluice --files).')
    }
    return { kind: 'file', path: options.path }
  }
  if (connector !== 'kafka') {
    throw planError(SqlState.invalidParameterValue, `unknown connector '${connector}'`, optionSpan(stmt, 'connector'), "Use 'embedded' (the default), 'kafka' or 'file'.")
  }
  if (options.topic === undefined) throw planError(SqlState.invalidParameterValue, 'a Kafka stream needs the option topic', stmt.span)
  if (options.partitions !== undefined) {
    throw planError(SqlState.invalidParameterValue, "a Kafka stream has its topic's partitions", optionSpan(stmt, 'partitions'), 'Leave out the partitions option.')
  }
  const start = String(options.start ?? 'earliest')
  if (start !== 'earliest' && start !== 'latest') {
    throw planError(SqlState.invalidParameterValue, `option start must be 'earliest' or 'latest', not '${start}'`, optionSpan(stmt, 'start'))
  }
  return { kind: 'kafka', topic: String(options.topic), start, groupId: String(options.group_id ?? `sluice-${name}`) }
}

/** The record format: JSON objects, or CSV / TSV lines (Kafka streams), optionally selecting one event type. */
function planFormat(options: Record<string, OptionValue>, stmt: ast.CreateStream, source: StreamSourceDef, columnCount: number): StreamFormat {
  const format = String(options.format ?? 'json').toLowerCase()
  const typeColumn = options.type_column
  const typeId = options.type_id
  if (format === 'json') {
    for (const o of ['type_column', 'type_id']) {
      if (options[o] !== undefined) throw planError(SqlState.invalidParameterValue, `option "${o}" applies to the csv and tsv formats`, optionSpan(stmt, o))
    }
    return { kind: 'json' }
  }
  if (format !== 'csv' && format !== 'tsv') {
    throw planError(SqlState.invalidParameterValue, `unknown format '${format}'`, optionSpan(stmt, 'format'), "Use 'json', 'csv' or 'tsv'.")
  }
  if (source.kind === 'embedded') {
    throw unsupported(`format '${format}' is for Kafka and file streams; the embedded log stores JSON`, optionSpan(stmt, 'format'))
  }
  if ((typeColumn === undefined) !== (typeId === undefined)) {
    throw planError(SqlState.invalidParameterValue, 'type_column and type_id go together', optionSpan(stmt, typeColumn === undefined ? 'type_id' : 'type_column'))
  }
  if (typeColumn === undefined) return { kind: format }
  if (typeof typeColumn !== 'number' || !Number.isInteger(typeColumn) || typeColumn < 1) {
    throw planError(SqlState.invalidParameterValue, 'type_column is the 1-based position of the field holding the type id', optionSpan(stmt, 'type_column'))
  }
  if (typeColumn > columnCount + 64) throw planError(SqlState.invalidParameterValue, `type_column ${typeColumn} is far beyond the ${columnCount} columns`, optionSpan(stmt, 'type_column'))
  return { kind: format, typeColumn, typeId: String(typeId) }
}

/** Types each metadata key can fill. */
const METADATA_TYPES: Record<MetadataKey, readonly string[]> = {
  partition: ['int2', 'int4', 'int8'],
  offset: ['int8'],
  timestamp: ['timestamptz', 'timestamp'],
}

/** `col type METADATA [FROM 'key']`: the record's partition, offset or Kafka timestamp. */
function planMetadata(stmt: ast.CreateStream, columns: readonly Column[], source: StreamSourceDef): MetadataColumn[] {
  const out: MetadataColumn[] = []
  stmt.columns.forEach((c, index) => {
    if (c.metadata === undefined) return
    const key = c.metadata.toLowerCase()
    if (!(key in METADATA_TYPES)) {
      throw planError(SqlState.invalidParameterValue, `unknown metadata key '${c.metadata}'`, c.span, "Use 'partition', 'offset' or 'timestamp'.")
    }
    if (source.kind !== 'kafka') throw unsupported('metadata columns are for Kafka streams', c.span)
    const allowed = METADATA_TYPES[key as MetadataKey]
    if (!allowed.includes(columns[index]!.type.name)) {
      throw planError(SqlState.datatypeMismatch, `metadata '${key}' needs a column of type ${allowed.join(' or ')}`, c.span)
    }
    out.push({ index, key: key as MetadataKey })
  })
  return out
}
