/**
 * COPY ... TO STDOUT output: the options PostgreSQL's COPY TO takes (FORMAT text | csv | binary, HEADER,
 * DELIMITER, NULL, QUOTE, ESCAPE, FORCE_QUOTE), checked in the order and with the errors of PostgreSQL's
 * ProcessCopyOptions, and the bytes of each row as its copyto.c writes them. Every row is one CopyData
 * message, as PostgreSQL sends them: psycopg 3's `copy.rows()` reads one row per message.
 */
import { SluiceError, SqlState, planError } from '../common/errors.ts'
import type { Row, SqlType } from '../common/types.ts'
import type { CopyTo, OptionDef } from '../parser/ast.ts'
import type { RowCursor } from './backend.ts'
import type { QueryGuard } from '../executor/query-budget.ts'
import { type TimeZone, formatText } from './wire/timezone.ts'
import { encodeBinary } from './wire/values.ts'

export interface CopyToFormat {
  readonly kind: 'text' | 'csv' | 'binary'
  readonly delimiter: string
  readonly nullString: string
  readonly header: boolean
  readonly quote: string
  readonly escape: string
  /** Per column: always quote it (CSV FORCE_QUOTE). */
  readonly forceQuote: readonly boolean[]
}

export interface CopyColumn {
  readonly name: string
  readonly type: SqlType
}

const KNOWN_OPTIONS = new Set(['format', 'delimiter', 'null', 'header', 'quote', 'escape', 'force_quote', 'force_not_null', 'force_null', 'encoding', 'freeze'])

const optionSyntax = (message: string, o?: OptionDef): SluiceError => new SluiceError('plan', SqlState.syntaxError, message, o === undefined ? {} : { span: o.span })
const optionUnsupported = (message: string, o?: OptionDef): SluiceError => new SluiceError('plan', SqlState.featureNotSupported, message, o === undefined ? {} : { span: o.span })
const optionInvalid = (message: string, o?: OptionDef): SluiceError => new SluiceError('plan', SqlState.invalidParameterValue, message, o === undefined ? {} : { span: o.span })

/** COPY TO's options as PostgreSQL reads and checks them, for the result columns given. */
export function copyToFormat(s: Pick<CopyTo, 'options' | 'forceQuote'>, columns: readonly CopyColumn[]): CopyToFormat {
  const given = new Map<string, OptionDef>()
  for (const o of s.options) {
    const name = o.name.toLowerCase()
    if (!KNOWN_OPTIONS.has(name)) throw optionSyntax(`option "${o.name}" not recognized`, o)
    if (given.has(name)) throw optionSyntax('conflicting or redundant options', o)
    given.set(name, o)
  }
  const text = (name: string): string | undefined => {
    const o = given.get(name)
    if (o === undefined) return undefined
    if (typeof o.value !== 'string') throw optionSyntax(`${name} requires a string value`, o)
    return o.value
  }
  const formatOption = given.get('format')
  let kind: CopyToFormat['kind'] = 'text'
  if (formatOption !== undefined) {
    const f = String(formatOption.value).toLowerCase()
    if (f !== 'text' && f !== 'csv' && f !== 'binary') throw optionInvalid(`COPY format "${String(formatOption.value)}" not recognized`, formatOption)
    kind = f
  }
  const csv = kind === 'csv'
  if (kind === 'binary' && given.has('delimiter')) throw optionSyntax('cannot specify DELIMITER in BINARY mode', given.get('delimiter'))
  if (kind === 'binary' && given.has('null')) throw optionSyntax('cannot specify NULL in BINARY mode', given.get('null'))
  const delimiter = text('delimiter') ?? (csv ? ',' : '\t')
  const nullString = text('null') ?? (csv ? '' : '\\N')
  const quote = text('quote') ?? '"'
  const escape = text('escape') ?? quote
  if (Buffer.byteLength(delimiter) !== 1) throw optionUnsupported('COPY delimiter must be a single one-byte character', given.get('delimiter'))
  if (delimiter === '\r' || delimiter === '\n') throw optionInvalid('COPY delimiter cannot be newline or carriage return', given.get('delimiter'))
  if (/[\r\n]/.test(nullString)) throw optionInvalid('COPY null representation cannot use newline or carriage return', given.get('null'))
  if (!csv && '\\.abcdefghijklmnopqrstuvwxyz0123456789'.includes(delimiter)) throw optionInvalid(`COPY delimiter cannot be "${delimiter}"`, given.get('delimiter'))
  const header = headerChoice(given.get('header'))
  if (kind === 'binary' && header) throw optionUnsupported('cannot specify HEADER in BINARY mode', given.get('header'))
  if (!csv && given.has('quote')) throw optionUnsupported('COPY quote available only in CSV mode', given.get('quote'))
  if (csv && Buffer.byteLength(quote) !== 1) throw optionUnsupported('COPY quote must be a single one-byte character', given.get('quote'))
  if (csv && delimiter === quote) throw optionInvalid('COPY delimiter and quote must be different', given.get('quote') ?? given.get('delimiter'))
  if (!csv && given.has('escape')) throw optionUnsupported('COPY escape available only in CSV mode', given.get('escape'))
  if (csv && Buffer.byteLength(escape) !== 1) throw optionUnsupported('COPY escape must be a single one-byte character', given.get('escape'))
  if (!csv && given.has('force_quote')) throw optionUnsupported('COPY force quote available only in CSV mode', given.get('force_quote'))
  if (given.has('force_not_null')) throw optionUnsupported(csv ? 'COPY force not null only available using COPY FROM' : 'COPY force not null available only in CSV mode', given.get('force_not_null'))
  if (given.has('force_null')) throw optionUnsupported(csv ? 'COPY force null only available using COPY FROM' : 'COPY force null available only in CSV mode', given.get('force_null'))
  if (given.has('freeze')) throw optionUnsupported('COPY FREEZE is only available using COPY FROM', given.get('freeze'))
  if (kind !== 'binary' && nullString.includes(delimiter)) throw optionUnsupported('COPY delimiter must not appear in the NULL specification', given.get('null'))
  if (csv && nullString.includes(quote)) throw optionUnsupported('CSV quote character must not appear in the NULL specification', given.get('null'))
  const encoding = text('encoding')
  if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) throw optionUnsupported(`COPY encoding "${encoding}" is not supported`, given.get('encoding'))
  return { kind, delimiter, nullString, header, quote, escape, forceQuote: forceQuoteFlags(s.forceQuote, columns, given.get('force_quote')) }
}

/** HEADER takes a Boolean; `match` only makes sense for COPY FROM. */
function headerChoice(o: OptionDef | undefined): boolean {
  if (o === undefined) return false
  const v = o.value
  if (typeof v === 'boolean') return v
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1
  if (typeof v === 'string') {
    const s = v.toLowerCase()
    if (['true', 'on', 't', 'yes', 'y', '1'].includes(s)) return true
    if (['false', 'off', 'f', 'no', 'n', '0'].includes(s)) return false
    if (s === 'match') throw optionUnsupported('cannot use "match" with HEADER in COPY TO', o)
  }
  throw optionSyntax('header requires a Boolean value or "match"', o)
}

function forceQuoteFlags(list: CopyTo['forceQuote'], columns: readonly CopyColumn[], o: OptionDef | undefined): boolean[] {
  if (list === undefined) return columns.map(() => false)
  if (list === '*') return columns.map(() => true)
  const flags = columns.map(() => false)
  for (const name of list) {
    const i = columns.findIndex((c) => c.name === name)
    if (i < 0) throw planError(SqlState.undefinedColumn, `column "${name}" does not exist`, o?.span)
    flags[i] = true
  }
  return flags
}

/** The binary format's 11-byte signature, then flags and header extension length (both 0). */
export const BINARY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)])
/** The binary format's trailer: a field count of -1. */
export const BINARY_TRAILER = Buffer.from([0xff, 0xff])

/** Formats rows for COPY TO: the header (if any), one row, and the trailer (if any), each as its bytes. */
export class CopyToWriter {
  constructor(
    private readonly format: CopyToFormat,
    private readonly columns: readonly CopyColumn[],
    private readonly zone: TimeZone,
  ) {}

  /**
   * What goes before the rows: the header line of text and CSV (its own message, as PostgreSQL sends it),
   * or for binary the signature, which PostgreSQL sends in one message with the first row (or the trailer).
   */
  header(): Buffer | null {
    if (this.format.kind === 'binary') return BINARY_HEADER
    if (!this.format.header) return null
    const one = this.columns.length === 1
    const cells = this.columns.map((c) => (this.format.kind === 'csv' ? this.csvField(c.name, false, one) : this.textField(c.name)))
    return Buffer.from(`${cells.join(this.format.delimiter)}\n`, 'utf8')
  }

  row(row: Row): Buffer {
    if (this.format.kind === 'binary') return this.binaryRow(row)
    const one = this.columns.length === 1
    let line = ''
    for (let i = 0; i < this.columns.length; i++) {
      if (i > 0) line += this.format.delimiter
      const s = formatText(row[i] ?? null, this.columns[i]!.type, this.zone)
      if (s === null) line += this.format.nullString
      else line += this.format.kind === 'csv' ? this.csvField(s, this.format.forceQuote[i]!, one) : this.textField(s)
    }
    return Buffer.from(`${line}\n`, 'utf8')
  }

  trailer(): Buffer | null {
    return this.format.kind === 'binary' ? BINARY_TRAILER : null
  }

  /** Text format: backslash escapes for backslash, the delimiter and the control characters with a letter. */
  private textField(s: string): string {
    const d = this.format.delimiter
    let out = ''
    for (const ch of s) {
      const escaped = TEXT_ESCAPES[ch]
      if (escaped !== undefined) out += escaped
      else if (ch === d) out += `\\${ch}`
      else out += ch
    }
    return out
  }

  /**
   * CSV: quoted when forced, when equal to the NULL string, when it holds the delimiter, the quote, CR or LF,
   * or (a lone column) when it is `\.`; inside quotes the quote and escape characters get the escape before.
   */
  private csvField(s: string, force: boolean, onlyColumn: boolean): string {
    const { delimiter, quote, escape, nullString } = this.format
    const needs = force || s === nullString || (onlyColumn && s === '\\.') || s.includes(delimiter) || s.includes(quote) || s.includes('\n') || s.includes('\r')
    if (!needs) return s
    let out = quote
    for (const ch of s) out += ch === quote || ch === escape ? `${escape}${ch}` : ch
    return out + quote
  }

  /** Binary: int16 field count, then per field int32 length (-1 for NULL) and the *_send bytes. */
  private binaryRow(row: Row): Buffer {
    const parts: Buffer[] = []
    const count = Buffer.allocUnsafe(2)
    count.writeInt16BE(this.columns.length)
    parts.push(count)
    for (let i = 0; i < this.columns.length; i++) {
      const cell = encodeBinary(row[i] ?? null, this.columns[i]!.type)
      const len = Buffer.allocUnsafe(4)
      len.writeInt32BE(cell === null ? -1 : cell.length)
      parts.push(len)
      if (cell !== null) parts.push(cell)
    }
    return Buffer.concat(parts)
  }
}

const TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }

/** How many rows the cursor is asked for at a time. */
const COPY_BATCH_ROWS = 1024

/**
 * The CopyData payloads of COPY TO: one per row (the binary signature rides with the first row, as in
 * PostgreSQL), with a running row count for the CommandComplete tag.
 */
export function copyToChunks(cursor: RowCursor, writer: CopyToWriter, guard?: QueryGuard): { chunks: AsyncIterable<Buffer>; rowCount: () => number } {
  let count = 0
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      let pending = writer.header()
      if (pending !== null && writer.trailer() === null) {
        // Text and CSV send the header line as a message of its own.
        yield pending
        pending = null
      }
      for (;;) {
        const { rows, done } = await cursor.next(COPY_BATCH_ROWS)
        for (const row of rows) {
          // Formatting runs under the statement's limits: 57014 on cancel or timeout, a slice at a time.
          if (guard?.tick() === true) await guard.pause()
          const bytes = writer.row(row)
          count++
          if (pending !== null) {
            yield Buffer.concat([pending, bytes])
            pending = null
          } else yield bytes
        }
        if (done) break
      }
      const trailer = writer.trailer()
      if (trailer !== null) yield pending === null ? trailer : Buffer.concat([pending, trailer])
    } finally {
      cursor.close()
    }
  }
  return { chunks: chunks(), rowCount: () => count }
}
