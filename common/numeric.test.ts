import { describe, expect, it } from 'vitest'
import { Numeric, applyTypmod, divScale, numAdd, numCmp, numDiv, numSumStep, numericFromNumber, numericKey, parseNumeric, roundScale } from './numeric.ts'
import { Types, formatValue, numericType, parseValue } from './types.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { tableKeyString } from '../executor/state/layout.ts'
import { compileDecoder, encodeRow, numericFromJson } from '../executor/decode.ts'
import { recordRow } from '../executor/connectors/sink-target.ts'

const n = parseNumeric

describe('numeric values', () => {
  it('keeps the digits and the scale of its text', () => {
    for (const t of ['0', '1.50', '-0.001', '12345678901234567.89', '99999999999999999999999999.999999', '0.0000000001']) expect(String(n(t))).toBe(t)
    expect(String(n('1e3'))).toBe('1000')
    expect(String(n('1.5e-3'))).toBe('0.0015')
    expect(String(n(' +2.50 '))).toBe('2.50')
    expect(String(n('.5'))).toBe('0.5')
    expect(String(n('inf'))).toBe('Infinity')
    expect(String(n('-Infinity'))).toBe('-Infinity')
    expect(String(n('nan'))).toBe('NaN')
    expect(() => n('1.2.3')).toThrow(expect.objectContaining({ sqlstate: '22P02' }))
    expect(() => n('')).toThrow(expect.objectContaining({ sqlstate: '22P02' }))
  })

  it('adds amounts exactly, and a million cents make 10000.00', () => {
    let acc: Numeric | null = null
    const cent = n('0.01')
    for (let i = 0; i < 1_000_000; i++) acc = numSumStep(acc, cent)
    expect(String(acc)).toBe('10000.00')
    expect(String(numAdd(n('0.1'), n('0.2')))).toBe('0.3')
    expect(String(numAdd(n('1.5'), 2))).toBe('3.5')
  })

  it('divides at PostgreSQL scale (select_div_scale) and rounds half away from zero', () => {
    expect(String(numDiv(1, n('3')))).toBe('0.33333333333333333333')
    expect(String(numDiv(n('10'), 4))).toBe('2.5000000000000000')
    expect(divScale(n('1'), n('3'))).toBe(20)
    expect(String(numDiv(n('-2'), 3))).toBe('-0.66666666666666666667')
    expect(String(roundScale(n('-2.5'), 0))).toBe('-3')
    expect(String(roundScale(n('1234.5'), -2))).toBe('1200')
  })

  it('orders -Infinity < finite < Infinity < NaN and treats 1.5 and 1.50 as equal', () => {
    const sorted = ['NaN', '1.50', '-Infinity', 'Infinity', '-3', '1.4'].map(n).sort(numCmp).map(String)
    expect(sorted).toEqual(['-Infinity', '-3', '1.4', '1.50', 'Infinity', 'NaN'])
    expect(numCmp(n('1.5'), n('1.50'))).toBe(0)
    expect(numericKey(n('1.50'))).toBe(numericKey(n('1.5')))
  })

  it('numeric(p, s): rounds to the scale, 22003 past the precision', () => {
    expect(String(applyTypmod(n('123.456'), 5, 2))).toBe('123.46')
    expect(() => applyTypmod(n('999.995'), 5, 2)).toThrow(expect.objectContaining({ sqlstate: '22003', message: 'numeric field overflow' }))
    expect(String(parseValue('0.5', numericType(12, 2)))).toBe('0.50')
    expect(formatValue(n('1.50'), Types.numeric)).toBe('1.50')
  })

  it('float8 values convert as PostgreSQL casts them (15 significant digits)', () => {
    expect(String(numericFromNumber(0.1))).toBe('0.1')
    expect(String(numericFromNumber(1 / 3))).toBe('0.333333333333333')
    expect(String(numericFromNumber(1e20))).toBe('100000000000000000000')
  })
})

describe('numeric through state, keys, JSON records and sinks', () => {
  it('round-trips through the state codec with its scale and special values', () => {
    const row = ['a', n('12345678901234567.89'), n('0.00'), n('NaN'), n('-Infinity'), [n('1.50'), null]]
    const back = rowCodec.decode(rowCodec.encode(row))
    expect(back.map((v) => (Array.isArray(v) ? v.map(String) : String(v)))).toEqual(['a', '12345678901234567.89', '0.00', 'NaN', '-Infinity', ['1.50', 'null']])
    expect(back[1]).toBeInstanceOf(Numeric)
  })

  it('groups equal numerics under one state key', () => {
    expect(tableKeyString(3, [n('1.5')])).toBe(tableKeyString(3, [n('1.50')]))
    expect(tableKeyString(3, [n('1.5')])).not.toBe(tableKeyString(3, [n('1.05')]))
  })

  it('decodes a JSON number with the digits of the record, not a double', () => {
    const cols = [
      { name: 'amount', type: Types.numeric, nullable: true },
      { name: 'price', type: numericType(12, 2), nullable: true },
    ]
    const decode = compileDecoder(cols)
    const row = decode('{"nested": {"amount": 1}, "amount" : 12345678901234567.89, "price": 0.1}')
    expect(row.map(String)).toEqual(['12345678901234567.89', '0.10'])
    expect(decode('{"amount": 0.10, "price": "7"}').map(String)).toEqual(['0.10', '7.00'])
    expect(() => decode('{"price": 1e11}')).toThrow(/numeric field overflow/)
    // The log writes numerics as bare JSON numbers with every digit, and reads them back the same.
    const line = encodeRow([n('12345678901234567.89'), n('0.10')], cols)
    expect(line).toBe('{"amount":12345678901234567.89,"price":0.10}')
    expect(decode(line).map(String)).toEqual(['12345678901234567.89', '0.10'])
    expect(String(numericFromJson(0.5, '{"a":0.50}', 'a', Types.numeric))).toBe('0.50')
    // The member of the record, not a nested one of the same name; a name written with escapes falls back
    // to the double's shortest digits.
    expect(String(numericFromJson(0.1, '{"x":{"a":7},"a":0.10}', 'a', Types.numeric))).toBe('0.10')
    expect(String(numericFromJson(5.5, '{"\\u0061":5.50,"x":{"a":7}}', 'a', Types.numeric))).toBe('5.5')
    expect(String(numericFromJson(-1e-7, '{"a":-1.0E-7}', 'a', Types.numeric))).toBe('-0.00000010')
  })

  it('hands sinks the exact digits of a record', () => {
    const cols = [{ name: 'amount', type: Types.numeric, nullable: true }, { name: 'n', type: Types.int8, nullable: true }]
    expect(recordRow({ key: null, value: '{"amount":12345678901234567.89,"n":3}' }, cols, [])).toEqual(['12345678901234567.89', 3])
  })
})
