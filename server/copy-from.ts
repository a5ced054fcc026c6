/**
 * COPY stream [(columns)] FROM STDIN: bulk ingest in PostgreSQL's text and CSV formats. Data arrives in
 * CopyData chunks cut anywhere (inside a record, a quoted field or a UTF-8 character); records are split
 * out as they complete and parsed into typed rows. As in PostgreSQL, a COPY is all or nothing: the rows
 * are appended to the stream only at CopyDone, after every record parsed, and a bad record fails the whole
 * COPY with the line and column it was found at (22P02, 22P04, 23502).
 *
 * Text format: one record per line, fields separated by the delimiter (a tab), `\N` for NULL, backslash
 * escapes (`\t`, `\n`, `\\`, octal `\123`, hex `\x41`, ...). CSV: RFC 4180 quoting with `"` doubled inside
 * quotes, an unquoted empty field for NULL, newlines allowed inside quotes, an optional header line. In
 * both, a line holding only `\.` ends the data.
 *
 * Input is checked as PostgreSQL checks it: bytes that are not UTF-8, or a NUL (raw or as an escape),
 * fail the COPY with 22021; timestamps must also be event times (see common/types.ts, 22008).
 */
import { isUtf8 } from 'node:buffer'
import { SluiceError, SqlState, planError, type SqlStateCode } from '../common/errors.ts'
import { eventTimeError, invalidEncodingError, invalidUtf8At, parseValue, typeDisplayName, utf8Text, type Column, type Row, type Value } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import type { OptionDef } from '../parser/ast.ts'
import type { Engine } from '../executor/engine.ts'
import type { CopyInSink, Outcome } from './backend.ts'

export interface CopyFormat {
  readonly kind: 'text' | 'csv'
  readonly delimiter: string
  /** The field text that stands for NULL (text: `\N`, CSV: an unquoted empty field). */
  readonly nullString: string
  readonly header: boolean
  readonly quote: string
  readonly escape: string
}

/** The format COPY's options ask for, checked as PostgreSQL checks them. */
export function copyFormat(options: readonly OptionDef[]): CopyFormat {
  let kind: 'text' | 'csv' = 'text'
  const given = new Map<string, OptionDef>()
  for (const o of options) {
    const name = o.name.toLowerCase()
    if (given.has(name)) throw optionError(`conflicting or redundant options: ${name}`, o)
    given.set(name, o)
  }
  const text = (name: string): string | undefined => {
    const o = given.get(name)
    if (o === undefined) return undefined
    if (typeof o.value !== 'string') throw optionError(`COPY ${name} must be a string`, o)
    return o.value
  }
  const format = text('format')
  if (format !== undefined) {
    const f = format.toLowerCase()
    if (f === 'binary') throw new SluiceError('unsupported', SqlState.featureNotSupported, 'COPY FROM in binary format is not supported', { hint: 'Use FORMAT text or FORMAT csv.' })
    if (f !== 'text' && f !== 'csv') throw optionError(`COPY format "${format}" not recognized`, given.get('format')!)
    kind = f
  }
  for (const name of given.keys()) {
    if (!['format', 'delimiter', 'null', 'header', 'quote', 'escape'].includes(name)) throw optionError(`option "${name}" not recognized`, given.get(name)!)
  }
  const delimiter = text('delimiter') ?? (kind === 'csv' ? ',' : '\t')
  if (delimiter.length !== 1) throw optionError('COPY delimiter must be a single one-byte character', given.get('delimiter')!)
  const quote = text('quote') ?? '"'
  const escape = text('escape') ?? quote
  if (kind === 'text' && (given.has('quote') || given.has('escape'))) throw optionError('COPY quote and escape are available only in CSV mode', given.get('quote') ?? given.get('escape')!)
  if (quote.length !== 1 || escape.length !== 1) throw optionError('COPY quote and escape must be a single one-byte character', given.get('quote') ?? given.get('escape')!)
  if (delimiter === quote && kind === 'csv') throw optionError('COPY delimiter and quote must be different', given.get('delimiter') ?? given.get('quote')!)
  if (delimiter === '\n' || delimiter === '\r' || (kind === 'text' && delimiter === '\\')) throw optionError('COPY delimiter cannot be newline, carriage return or backslash', given.get('delimiter')!)
  const h = given.get('header')
  const header = h === undefined ? false : h.value === true || (typeof h.value === 'string' && ['true', 'on', '1'].includes(h.value.toLowerCase()))
  return { kind, delimiter, nullString: text('null') ?? (kind === 'csv' ? '' : '\\N'), header, quote, escape }
}

const optionError = (message: string, o: OptionDef): SluiceError => new SluiceError('plan', SqlState.syntaxError, message, { span: o.span })

/** COPY stream FROM STDIN: the connection feeds the data to a sink that appends the rows at the end. */
export function copyFromStdin(engine: Engine, s: ast.CopyFrom): Outcome {
  const name = s.stream.parts.at(-1) ?? ''
  const entry = engine.catalog.get(name)
  if (entry === undefined) throw planError(SqlState.undefinedTable, `relation "${s.stream.parts.join('.')}" does not exist`, s.stream.span)
  if (entry.kind !== 'stream') throw new SluiceError('plan', SqlState.wrongObjectType, `cannot copy to materialized view "${name}"`, { span: s.stream.span, hint: 'COPY FROM STDIN appends events to a stream.' })
  const columns = entry.columns
  const targets = (s.columns ?? columns.map((c) => c.name)).map((c) => {
    const i = columns.findIndex((col) => col.name === c)
    if (i < 0) throw planError(SqlState.undefinedColumn, `column "${c}" of relation "${name}" does not exist`, s.span)
    return i
  })
  if (new Set(targets).size !== targets.length) throw planError(SqlState.duplicateColumn, 'column specified more than once', s.span)
  const format = copyFormat(s.options)
  const sink = new CopyFromSink(name, columns, targets, format, (rows) => engine.insert(name, rows))
  return { kind: 'copy_in', columnCount: targets.length, format: 0, sink }
}

/**
 * The sink the connection feeds in copy-in mode. `columns` are the stream's, `targets` the column index
 * each field fills (the COPY column list, or every column in order); `insert` appends rows to the stream.
 */
export class CopyFromSink implements CopyInSink {
  /** The bytes of a UTF-8 character cut by the end of the last chunk. */
  private carry: Buffer = Buffer.alloc(0)
  private pending = ''
  private line = 0
  private readonly rows: Row[] = []
  private done = false
  private aborted = false
  private skipHeader: boolean

  constructor(
    private readonly stream: string,
    private readonly columns: readonly Column[],
    private readonly targets: readonly number[],
    private readonly format: CopyFormat,
    private readonly insert: (rows: readonly Row[]) => Promise<number>,
  ) {
    this.skipHeader = format.header
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done || this.aborted) return
    const bytes = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk])
    const cut = completeUtf8End(bytes)
    this.carry = Buffer.from(bytes.subarray(cut))
    this.pending += this.text(bytes.subarray(0, cut))
    this.takeRecords(false)
  }

  async end(): Promise<string> {
    if (this.aborted) throw new SluiceError('execution', SqlState.queryCanceled, 'COPY was aborted')
    // A character the data ends inside of is as invalid as any other bad sequence.
    if (this.carry.length > 0) this.pending += this.text(this.carry)
    this.takeRecords(true)
    // One append: a COPY is all or nothing, across partitions and a crash or a full disk.
    const n = await this.insert(this.rows)
    this.rows.length = 0
    return `COPY ${n}`
  }

  abort(): void {
    this.aborted = true
    this.rows.length = 0
  }

  /** Bytes as text, or 22021 naming the line (counted from the records taken so far) of the first bad byte. */
  private text(bytes: Buffer): string {
    if (isUtf8(bytes) && !bytes.includes(0)) return bytes.toString('utf8')
    const at = invalidUtf8At(bytes)
    if (at < 0) return bytes.toString('utf8')
    let lines = 0
    for (let i = this.pending.indexOf('\n'); i >= 0; i = this.pending.indexOf('\n', i + 1)) lines++
    for (let i = bytes.indexOf(10); i >= 0 && i < at; i = bytes.indexOf(10, i + 1)) lines++
    this.line += lines
    throw this.error(SqlState.characterNotInRepertoire, invalidEncodingError(bytes, at).message, undefined, undefined, 1)
  }

  /** Parses every complete record in `pending` (and, at the end, the last one without a newline). */
  private takeRecords(final: boolean): void {
    let start = 0
    for (;;) {
      if (this.done) {
        this.pending = ''
        return
      }
      const end = this.format.kind === 'csv' ? csvRecordEnd(this.pending, start, this.format) : this.pending.indexOf('\n', start)
      if (end < 0) break
      this.record(this.pending.slice(start, end))
      start = end + 1
    }
    this.pending = this.pending.slice(start)
    if (final && this.pending.length > 0) {
      if (this.format.kind === 'csv' && csvRecordEnd(this.pending + '\n', 0, this.format) < 0) {
        throw this.error(SqlState.badCopyFileFormat, 'unterminated CSV quoted field')
      }
      const last = this.pending
      this.pending = ''
      this.record(last)
    }
  }

  private record(raw: string): void {
    this.line++
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (text === '\\.') {
      this.done = true
      return
    }
    if (this.skipHeader) {
      this.skipHeader = false
      return
    }
    let fields: (string | null)[]
    try {
      fields = this.format.kind === 'csv' ? splitCsvRecord(text, this.format) : splitTextRecord(text, this.format)
    } catch (err) {
      if (err instanceof SluiceError) throw this.error(err.sqlstate, err.message)
      throw err
    }
    if (fields.length > this.targets.length) throw this.error(SqlState.badCopyFileFormat, 'extra data after last expected column')
    if (fields.length < this.targets.length) {
      const missing = this.columns[this.targets[fields.length]!]!
      throw this.error(SqlState.badCopyFileFormat, `missing data for column "${missing.name}"`)
    }
    const row = new Array<Value>(this.columns.length).fill(null)
    for (let i = 0; i < fields.length; i++) {
      const c = this.columns[this.targets[i]!]!
      const f = fields[i]!
      if (f === null) {
        if (!c.nullable) throw this.error(SqlState.notNullViolation, `null value in column "${c.name}" violates not-null constraint`)
        continue
      }
      let value: Value
      try {
        value = parseValue(f, c.type)
      } catch (err) {
        const code = err instanceof SluiceError ? err.sqlstate : SqlState.invalidTextRepresentation
        throw this.error(code, err instanceof Error ? err.message : `invalid input syntax for type ${typeDisplayName(c.type)}: "${f}"`, c.name, f)
      }
      if (typeof value === 'number' && !c.type.element && (c.type.name === 'timestamptz' || c.type.name === 'timestamp' || c.type.name === 'date')) {
        const bad = eventTimeError(value, c.name)
        if (bad !== null) throw this.error(bad.sqlstate, bad.message, c.name, f, 0, bad.hint)
      }
      row[this.targets[i]!] = value
    }
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!
      if (!c.nullable && row[i] === null) throw this.error(SqlState.notNullViolation, `null value in column "${c.name}" violates not-null constraint`)
    }
    this.rows.push(row)
  }

  private error(code: SqlStateCode, message: string, column?: string, value?: string, ahead = 0, hint?: string): SluiceError {
    const where = column === undefined ? '' : `, column ${column}${value === undefined ? '' : `: "${value.length > 60 ? `${value.slice(0, 60)}...` : value}"`}`
    return new SluiceError('execution', code, message, { detail: `COPY ${this.stream}, line ${this.line + ahead}${where}`, hint })
  }
}

/** How many leading bytes of `bytes` end on a character boundary: a character cut at the end waits for more. */
export function completeUtf8End(bytes: Uint8Array): number {
  const n = bytes.length
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const b = bytes[i]!
    if ((b & 0xc0) === 0x80) continue
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    return len > n - i ? i : n
  }
  return n
}

/**
 * Where the CSV record starting at `from` ends: the index of its newline outside quotes, or -1 when the
 * text holds no complete record yet.
 */
export function csvRecordEnd(text: string, from: number, f: CopyFormat): number {
  let quoted = false
  for (let i = from; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === f.escape && f.escape !== f.quote && i + 1 < text.length && (text[i + 1] === f.quote || text[i + 1] === f.escape)) i++
      else if (ch === f.quote) quoted = false
    } else if (ch === f.quote) quoted = true
    else if (ch === '\n') return i
  }
  return -1
}

/** One CSV record's fields: an unquoted field equal to the NULL string is NULL; a quoted one never is. */
export function splitCsvRecord(text: string, f: CopyFormat): (string | null)[] {
  const fields: (string | null)[] = []
  let value = ''
  let quotedAny = false
  let quoted = false
  for (let i = 0; i <= text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === undefined) throw new SluiceError('execution', SqlState.badCopyFileFormat, 'unterminated CSV quoted field')
      if (ch === f.escape && i + 1 < text.length && (text[i + 1] === f.quote || text[i + 1] === f.escape) && (f.escape !== f.quote || text[i + 1] === f.quote)) {
        value += text[i + 1]
        i++
      } else if (ch === f.quote) quoted = false
      else value += ch
      continue
    }
    if (ch === undefined || ch === f.delimiter) {
      fields.push(!quotedAny && value === f.nullString ? null : value)
      value = ''
      quotedAny = false
      continue
    }
    if (ch === f.quote) {
      quoted = true
      quotedAny = true
    } else value += ch
  }
  return fields
}

/** One text-format record's fields, backslash escapes decoded; the NULL string (before decoding) is NULL. */
export function splitTextRecord(text: string, f: CopyFormat): (string | null)[] {
  return text.split(f.delimiter).map((raw) => (raw === f.nullString ? null : unescapeText(raw)))
}

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }

/**
 * Decodes a field's backslash escapes. Octal and hex escapes stand for bytes, as in PostgreSQL: `\xc3\xa9`
 * is one character, and bytes that are not UTF-8 (or a NUL) are refused with 22021.
 */
function unescapeText(raw: string): string {
  if (!raw.includes('\\')) return raw
  let out = ''
  let bytes: number[] | null = null
  const flush = () => {
    if (bytes !== null) out += utf8Text(Buffer.from(bytes))
    bytes = null
  }
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!
    if (ch !== '\\' || i + 1 >= raw.length) {
      flush()
      out += ch
      continue
    }
    const next = raw[++i]!
    if (next >= '0' && next <= '7') {
      let digits = next
      while (digits.length < 3 && raw[i + 1] !== undefined && raw[i + 1]! >= '0' && raw[i + 1]! <= '7') digits += raw[++i]
      ;(bytes ??= []).push(parseInt(digits, 8) & 0xff)
    } else if (next === 'x' && /[0-9a-fA-F]/.test(raw[i + 1] ?? '')) {
      let digits = raw[++i]!
      if (/[0-9a-fA-F]/.test(raw[i + 1] ?? '')) digits += raw[++i]
      ;(bytes ??= []).push(parseInt(digits, 16))
    } else {
      flush()
      out += SIMPLE_ESCAPES[next] ?? next
    }
  }
  flush()
  return out
}
