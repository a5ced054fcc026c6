/**
 * Result formats on the wire: the format codes a Bind asks for (text 0, binary 1) and the RowDescription
 * fields of a result's columns in them.
 */
import { Types, type SqlType, typeOid, typeSize } from '../common/types.ts'
import type { ResultColumn } from './backend.ts'
import { protocolViolation } from './wire/reader.ts'
import type * as W from './wire/writer.ts'

/** Expands Bind format codes (none = all text, one = all alike, else one per item) to one per item. */
export function expandFormats(codes: readonly number[], count: number, what: string): number[] {
  for (const c of codes) {
    if (c !== 0 && c !== 1) throw protocolViolation(`unsupported format code: ${c}`)
  }
  if (codes.length === 0) return new Array<number>(count).fill(0)
  if (codes.length === 1) return new Array<number>(count).fill(codes[0]!)
  if (codes.length !== count) throw protocolViolation(`bind message has ${codes.length} ${what} formats but ${count} ${what}s`)
  return [...codes]
}

/** Types we cannot name on the wire (unresolved literals) go out as text, which is how they are formatted. */
export const wireType = (t: SqlType): SqlType => (t.name === 'unknown' && !t.element ? Types.text : t)

export function fieldsOf(columns: readonly ResultColumn[], formats: readonly number[]): W.FieldDescription[] {
  return columns.map((c, i) => {
    const t = wireType(c.type)
    return {
      name: c.name,
      tableOid: c.tableOid,
      columnNumber: c.columnNumber,
      typeOid: typeOid(t),
      typeSize: typeSize(t),
      typeModifier: c.typeModifier,
      format: formats[i] ?? 0,
    }
  })
}
