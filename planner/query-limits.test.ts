import { describe, expect, test } from 'vitest'
import { formatApproxSize, formatSize, parseSize } from './query-limits.ts'
import { OutputRate } from '../executor/query-limit-enforcement.ts'

describe('parseSize', () => {
  test('reads sizes as PostgreSQL memory settings, units of 1024', () => {
    expect(parseSize('64MB')).toBe(64 * 1024 * 1024)
    expect(parseSize('1 GB')).toBe(1024 ** 3)
    expect(parseSize('512kB')).toBe(512 * 1024)
    expect(parseSize('1.5MB')).toBe(1.5 * 1024 * 1024)
    expect(parseSize('2TB')).toBe(2 * 1024 ** 4)
    expect(parseSize('100')).toBe(100)
    expect(parseSize('100B')).toBe(100)
  })
  test('refuses what is not a size', () => {
    for (const t of ['', 'lots', '12 parsecs', '-1MB', '1e3MB', 'MB', '1 2 MB']) expect(parseSize(t), t).toBeUndefined()
  })
  test('prints in the largest unit that divides', () => {
    expect(formatSize(1024 * 1024)).toBe('1MB')
    expect(formatSize(1536 * 1024)).toBe('1536kB')
    expect(formatSize(1000)).toBe('1000B')
    expect(formatApproxSize(2_468_400)).toBe('2.4MB')
    expect(formatApproxSize(900)).toBe('900B')
  })
})

describe('OutputRate', () => {
  test('a burst right after the start counts in full; old seconds fall out of the window', () => {
    const t0 = 1_000_000_000
    const r = new OutputRate(t0)
    r.add(500, t0 + 100)
    expect(r.perSecond(t0 + 200)).toBe(500)
    r.add(500, t0 + 1500)
    expect(r.perSecond(t0 + 1600)).toBe(500)
    // Five seconds later the burst is gone.
    expect(r.perSecond(t0 + 5_500)).toBe(100)
    expect(r.perSecond(t0 + 6_500)).toBe(0)
    expect(r.perSecond(t0 + 60_000)).toBe(0)
  })
})
