import { crc32 as zlibCrc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { SHORT_RECORD, crc32, crc32Loop } from './crc32.ts'

/** Deterministic bytes of every value (a multiplicative sequence), so failures reproduce. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    b[i] = x >>> 24
  }
  return b
}

describe('crc32', () => {
  it('has the standard check value', () => {
    const check = Buffer.from('123456789')
    expect(crc32Loop(check, 0, check.length)).toBe(0xcbf43926)
    expect(crc32(check, 0, check.length)).toBe(0xcbf43926)
    expect(crc32Loop(check, 0, 0)).toBe(0)
  })

  it('agrees with zlib at every length around the 8-byte steps and the native cut-over', () => {
    const data = bytes(3 * SHORT_RECORD + 64, 7)
    for (let start = 0; start < 9; start++) {
      for (let len = 0; len <= 2 * SHORT_RECORD + 17; len++) {
        const want = zlibCrc32(data.subarray(start, start + len))
        expect(crc32Loop(data, start, start + len)).toBe(want)
        expect(crc32(data, start, start + len)).toBe(want)
      }
    }
  })

  it('reads only its range of a Buffer that is a view into a larger one', () => {
    const backing = bytes(4096, 3)
    const view = backing.subarray(1000, 3000)
    for (const [s, e] of [[0, 10], [5, 150], [17, 1999], [0, 2000]] as const) {
      expect(crc32(view, s, e)).toBe(zlibCrc32(backing.subarray(1000 + s, 1000 + e)))
    }
  })
})
