import { describe, expect, test } from 'vitest'
import { KeyFilter } from './key-filter.ts'

/** Share of `absent` keys the filter wrongly says it may contain. */
function falsePositives(f: KeyFilter, absent: number): number {
  let hits = 0
  for (let i = 0; i < absent; i++) if (f.mayContain(`absent:${i}`)) hits++
  return hits / absent
}

describe('KeyFilter', () => {
  test.each([10, 1_000, 5_000, 70_000, 300_000])('with %i keys: every key added is found, few absent ones are', (n) => {
    const f = new KeyFilter(true)
    for (let i = 0; i < n; i++) f.add(`key:${i}`)
    for (let i = 0; i < n; i++) if (!f.mayContain(`key:${i}`)) throw new Error(`key:${i} lost`)
    // 10 bits per key in the large stages (about 0.8% each when full), 20 in the small ones.
    expect(falsePositives(f, 100_000)).toBeLessThan(n < 65_536 ? 0.002 : 0.03)
  })

  test('a table of a few keys holds a few kilobytes, not the large first stage', () => {
    const f = new KeyFilter(true)
    for (let i = 0; i < 10; i++) f.add(`trigger:${i}`)
    expect(f.bytes).toBeLessThanOrEqual(4096)
  })

  test('says maybe for everything until it is complete', () => {
    const f = new KeyFilter(false)
    expect(f.mayContain('never added')).toBe(true)
    f.complete = true
    expect(f.mayContain('never added')).toBe(false)
  })
})
