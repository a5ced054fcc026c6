/**
 * Parquet files for file sinks, through @dsnp/parquetjs (the maintained fork of parquetjs: pure JavaScript,
 * streaming row groups, no native build). A Parquet file cannot be appended to once closed, so a file sink
 * collects a Parquet file's rows in a staging file of JSON lines (appended and checkpointed like the other
 * formats) and writes the Parquet file from it in one go when the file rolls.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import parquet from '@dsnp/parquetjs'
import type { Column } from '../../common/types.ts'
import { NumKind, parseNumeric, roundScale } from '../../common/numeric.ts'

/** Sluice types as Parquet types (every column optional). */
const PARQUET_TYPES: Readonly<Record<string, string>> = {
  bool: 'BOOLEAN',
  int2: 'INT32',
  int4: 'INT32',
  int8: 'INT64',
  float4: 'FLOAT',
  float8: 'DOUBLE',
  numeric: 'UTF8',
  text: 'UTF8',
  timestamptz: 'TIMESTAMP_MICROS',
  timestamp: 'TIMESTAMP_MICROS',
  date: 'DATE',
  interval: 'UTF8',
  json: 'JSON',
  jsonb: 'JSON',
  bytea: 'UTF8',
}

export function parquetType(c: Column): string {
  if (decimalOf(c) !== undefined) return 'DECIMAL'
  return c.type.element !== undefined ? 'JSON' : (PARQUET_TYPES[c.type.name] ?? 'UTF8')
}

/**
 * numeric(p, s) columns are Parquet DECIMAL(p, s), stored as fixed-length big-endian two's complement
 * bytes of the unscaled value (exact; the library's INT64 form multiplies doubles). A numeric without a
 * typmod has no fixed scale and is written as its exact text (UTF8); so are NaN and the infinities.
 */
function decimalOf(c: Column): { precision: number; scale: number; typeLength: number } | undefined {
  const t = c.type
  if (t.element !== undefined || t.name !== 'numeric' || t.precision === undefined || (t.scale ?? 0) < 0 || (t.scale ?? 0) > t.precision) return undefined
  return { precision: t.precision, scale: t.scale ?? 0, typeLength: Math.ceil((t.precision * Math.log2(10) + 1) / 8) }
}

function decimalBytes(v: unknown, d: { scale: number; typeLength: number }): Buffer | null {
  const n = parseNumeric(String(v))
  if (n.k !== NumKind.Finite) return null
  let u = roundScale(n, d.scale).u
  const out = Buffer.alloc(d.typeLength, u < 0n ? 0xff : 0)
  for (let i = d.typeLength - 1; i >= 0 && u !== 0n && u !== -1n; i--) {
    out[i] = Number(u & 0xffn)
    u >>= 8n
  }
  return out
}

const ROW_GROUP_SIZE = 65_536

/**
 * Writes `path` from the staging file's lines (each a JSON array of the row's values in column order).
 * `extra` names further boolean columns at the end of each line (an upsert's `sluice_deleted`).
 */
export async function writeParquet(stagingPath: string, path: string, columns: readonly Column[], extra: readonly string[]): Promise<number> {
  const fields: Record<string, { type: string; optional: boolean }> = {}
  for (const c of columns) fields[c.name] = { type: parquetType(c), optional: true, ...decimalOf(c) }
  for (const e of extra) fields[e] = { type: 'BOOLEAN', optional: true }
  const writer = await parquet.ParquetWriter.openFile(new parquet.ParquetSchema(fields as never), path, { rowGroupSize: ROW_GROUP_SIZE })
  let rows = 0
  try {
    const lines = createInterface({ input: createReadStream(stagingPath, 'utf8'), crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      const values = JSON.parse(line) as unknown[]
      const row: Record<string, unknown> = {}
      columns.forEach((c, i) => {
        const v = parquetValue(values[i], c)
        if (v !== null) row[c.name] = v
      })
      extra.forEach((e, i) => {
        const v = values[columns.length + i]
        if (v !== null && v !== undefined) row[e] = v
      })
      await writer.appendRow(row)
      rows++
    }
  } finally {
    await writer.close()
  }
  return rows
}

function parquetValue(v: unknown, c: Column): unknown {
  if (v === null || v === undefined) return null
  switch (parquetType(c)) {
    case 'DECIMAL':
      return decimalBytes(v, decimalOf(c)!)
    case 'INT64':
      return BigInt(typeof v === 'number' ? Math.trunc(v) : String(v))
    case 'INT32':
      return Number(v)
    case 'FLOAT':
    case 'DOUBLE':
      return Number(v)
    case 'BOOLEAN':
      return v === true || v === 't' || v === 'true'
    case 'TIMESTAMP_MICROS':
      return isoMicros(String(v))
    case 'DATE':
      return new Date(String(v))
    case 'JSON':
      return v
    default:
      return typeof v === 'string' ? v : JSON.stringify(v)
  }
}

/** `2026-01-01T00:00:00.123456Z` (Sluice's JSON timestamps) as microseconds since the epoch. */
function isoMicros(text: string): bigint {
  const m = /\.(\d{3})(\d{3})Z$/.exec(text)
  const ms = Date.parse(m === null ? text : text.replace(/\.(\d{3})\d{3}Z$/, '.$1Z'))
  return BigInt(ms) * 1000n + (m === null ? 0n : BigInt(m[2]!))
}
