import { describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import { decodeText, encodeBytes } from './bytea-encoding.ts'
import { MAX_STRING_BYTES, initcap, leftChars, pad, repeatText, rightChars, splitPart, stringToArray, strpos, translate } from './string-functions.ts'

const sqlstate = (f: () => unknown): string | undefined => {
  try {
    f()
    return undefined
  } catch (err) {
    return err instanceof SluiceError ? err.sqlstate : String(err)
  }
}

describe('string functions', () => {
  it('count characters beyond the BMP as one', () => {
    expect(leftChars('a👍b', 2)).toBe('a👍')
    expect(rightChars('a👍b', -1)).toBe('👍b')
    expect(strpos('👍👍x', 'x')).toBe(3)
    expect(pad('👍', 3, '🎉', 'left')).toBe('🎉🎉👍')
    expect(translate('a👍', '👍', 'b')).toBe('ab')
  })

  it('split_part counts negative fields from the end and refuses field 0', () => {
    expect(splitPart('a/b/c', '/', -1)).toBe('c')
    expect(splitPart('a/b/c', '/', -4)).toBe('')
    expect(sqlstate(() => splitPart('a', '/', 0))).toBe('22023')
  })

  it('initcap starts a word after anything not a letter or digit', () => {
    expect(initcap("o'neil mcDONALD 2nd")).toBe("O'Neil Mcdonald 2nd")
  })

  it('string_to_array splits into characters on a NULL delimiter and maps the null string', () => {
    expect(stringToArray('ab', null, null)).toEqual(['a', 'b'])
    expect(stringToArray('a,-,b', ',', '-')).toEqual(['a', null, 'b'])
    expect(stringToArray('', ',', null)).toEqual([])
  })

  it('refuses results over the bound with 54000 before building them', () => {
    expect(sqlstate(() => repeatText('x', MAX_STRING_BYTES + 1))).toBe('54000')
    expect(repeatText('x', 1000).length).toBe(1000)
    expect(sqlstate(() => pad('', MAX_STRING_BYTES / 2, '👍', 'right'))).toBe('54000')
  })

  it('encode and decode round-trip every byte in each format', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    for (const f of ['hex', 'base64', 'escape']) expect(decodeText(encodeBytes(all, f), f)).toEqual(all)
    expect(sqlstate(() => decodeText('abc', 'rot13'))).toBe('22023')
  })
})
