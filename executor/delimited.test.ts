import { describe, expect, it } from 'vitest'
import { Types, type Column } from '../common/types.ts'
import { DecodeError } from './decode.ts'
import { compileDelimitedDecoder, splitCsv, splitTsv } from './delimited.ts'

const columns: Column[] = [
  { name: 'player_id', type: Types.int8, nullable: false },
  { name: 'type_id', type: Types.int4, nullable: true },
  { name: 'name', type: Types.text, nullable: true },
  { name: 'amount', type: Types.float8, nullable: true },
  { name: 'ts', type: Types.timestamptz, nullable: false },
]

describe('delimited records', () => {
  it('splits CSV with RFC 4180 quoting; empty is NULL, "" is the empty string', () => {
    expect(splitCsv('1,"a,b",,"say ""hi""",""')).toEqual(['1', 'a,b', null, 'say "hi"', ''])
    expect(splitCsv('x')).toEqual(['x'])
    expect(splitCsv('a,')).toEqual(['a', null])
    expect(() => splitCsv('"open')).toThrow(DecodeError)
    expect(() => splitCsv('"a"b,c')).toThrow(DecodeError)
  })

  it('splits TSV on every tab; empty and \\N are NULL', () => {
    expect(splitTsv('1\t\t\\N\tx y')).toEqual(['1', null, null, 'x y'])
  })

  it('decodes fields by column position and type, and selects one event type', () => {
    const tsv = compileDelimitedDecoder(columns, { kind: 'tsv', typeColumn: 2, typeId: '10005' })
    expect(tsv('42\t10005\tbob\t9.5\t2026-11-23T10:00:00Z\n')).toEqual([42, 10005, 'bob', 9.5, Date.UTC(2026, 10, 23, 10) * 1000])
    expect(tsv('42\t10006\tbob\t9.5\t2026-11-23T10:00:00Z')).toBeNull()
    // Epoch milliseconds are accepted for timestamps, as in JSON.
    expect(tsv(`7\t10005\t\t\t${Date.UTC(2026, 10, 23)}`)).toEqual([7, 10005, null, null, Date.UTC(2026, 10, 23) * 1000])
    const csv = compileDelimitedDecoder(columns, { kind: 'csv' })
    expect(csv('1,2,"x, y",,2026-11-23 10:00:00+00')).toEqual([1, 2, 'x, y', null, Date.UTC(2026, 10, 23, 10) * 1000])
  })

  it('rejects what does not fit, with a reason for the dead-letter table', () => {
    const csv = compileDelimitedDecoder(columns, { kind: 'csv' })
    expect(() => csv('1,2,x')).toThrow(/expected 5 fields, got 3/)
    expect(() => csv('one,2,x,1,2026-11-23T10:00:00Z')).toThrow(/player_id/)
    expect(() => csv(',2,x,1,2026-11-23T10:00:00Z')).toThrow(/not-null/)
    expect(() => csv('1,2,x,lots,2026-11-23T10:00:00Z')).toThrow(/amount/)
  })
})
