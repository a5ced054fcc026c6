import { describe, expect, test } from 'vitest'
import { rowCodec } from '../executor/state/codec.ts'
import type { Value } from '../common/types.ts'
import {
  HLL_SPARSE_LIMIT,
  PCT_BUFFER,
  PCT_MAX_CENTROIDS,
  hashValue,
  hllAdd,
  hllCreate,
  hllEstimate,
  hllMerge,
  pctAdd,
  pctCentroids,
  pctCount,
  pctMerge,
  pctQuantile,
} from './sketches.ts'

/** A seeded xorshift32 generator of doubles in [0, 1): the same numbers on every run. */
function random(seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

const roundTrip = (s: number[]): number[] => rowCodec.decode(rowCodec.encode([s]))[0] as number[]
const encodedSize = (s: number[]): number => rowCodec.encode([s]).length

function hll(values: Iterable<Value>): number[] {
  let s: number[] | null = null
  for (const v of values) s = hllAdd(s, v)
  return s ?? hllCreate()
}

function* range(from: number, to: number): Generator<number> {
  for (let i = from; i < to; i++) yield i
}

describe('hashValue', () => {
  test('53-bit integers, equal for equal SQL values', () => {
    for (const v of [0, 1, -1, 0.5, 2 ** 60, 'a', '', 'héllo 🎲', true, false]) {
      const h = hashValue(v)
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 53).toBe(true)
      expect(hashValue(v)).toBe(h)
    }
    expect(hashValue(-0)).toBe(hashValue(0))
    expect(hashValue(Number.NaN)).toBe(hashValue(0 / 0))
    expect(hashValue({ months: 1, days: 0, micros: 0 })).toBe(hashValue({ months: 0, days: 30, micros: 0 }))
    expect(hashValue([1, null, 'x'])).toBe(hashValue([1, null, 'x']))
    expect(hashValue([1, null])).not.toBe(hashValue([1]))
    expect(hashValue('ab')).not.toBe(hashValue('ba'))
    expect(hashValue('a')).not.toBe(hashValue('a\u0000'))
  })

  test('no collisions among 200k similar keys, and the top 12 bits spread evenly', () => {
    const seen = new Set<number>()
    const buckets = new Array<number>(4096).fill(0)
    for (let i = 0; i < 100_000; i++) {
      for (const h of [hashValue(i), hashValue(`user-${i}`)]) {
        seen.add(h)
        buckets[Math.floor(h / 2 ** 41)]!++
      }
    }
    expect(seen.size).toBe(200_000)
    // Chi-square with 4095 degrees of freedom: mean 4095, standard deviation 90.5.
    const expected = 200_000 / 4096
    const chi2 = buckets.reduce((a, c) => a + (c - expected) ** 2 / expected, 0)
    expect(chi2).toBeLessThan(4095 + 4 * 90.5)
  })
})

describe('HyperLogLog', () => {
  test('exact while sparse: duplicates and NULL-free inputs of any type', () => {
    expect(hllEstimate(hllCreate())).toBe(0)
    expect(hllEstimate(hll([1, 1, 2, 2, 3]))).toBe(3)
    expect(hllEstimate(hll(['a', 'b', 'a', '']))).toBe(3)
    expect(hllEstimate(hll([true, false, true]))).toBe(2)
    expect(hllEstimate(hll([0, -0, 0.0]))).toBe(1)
    for (const n of [1, 10, 100, HLL_SPARSE_LIMIT]) {
      const twice = [...range(0, n), ...range(0, n)]
      expect(hllEstimate(hll(twice))).toBe(n)
    }
  })

  test('turns dense past the sparse limit, about 4 KB of state', () => {
    const s = hll(range(0, HLL_SPARSE_LIMIT + 1))
    expect(s[0]).toBe(1)
    expect(Math.abs(hllEstimate(s) / (HLL_SPARSE_LIMIT + 1) - 1)).toBeLessThan(0.05)
    expect(encodedSize(s)).toBeLessThan(4200)
    expect(encodedSize(hll(range(0, HLL_SPARSE_LIMIT)))).toBeLessThan(4200)
    const big = hll(range(0, 1_000_000))
    expect(encodedSize(big)).toBe(encodedSize(s))
  })

  test('within 3 % on 100k distinct values (integers, strings, doubles), each seen twice', () => {
    const r = random(42)
    const offset = Math.floor(r() * 1e9)
    const gens: ((i: number) => Value)[] = [(i) => offset + i, (i) => `player-${offset + i}`, (i) => (offset + i) / 7]
    for (const gen of gens) {
      let s: number[] | null = null
      for (let i = 0; i < 100_000; i++) s = hllAdd(s, gen(i))
      for (let i = 0; i < 100_000; i++) s = hllAdd(s, gen(i))
      expect(Math.abs(hllEstimate(s!) / 100_000 - 1)).toBeLessThan(0.03)
    }
  })

  test('root mean square error near 1.04/sqrt(4096) = 1.6 % over 20 sets, no bias', () => {
    const errors: number[] = []
    for (let t = 0; t < 20; t++) {
      const base = t * 1_000_000
      errors.push(hllEstimate(hll(range(base, base + 20_000))) / 20_000 - 1)
    }
    const rms = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length)
    const mean = errors.reduce((a, e) => a + e, 0) / errors.length
    expect(rms).toBeLessThan(0.025)
    expect(Math.abs(mean)).toBeLessThan(0.01)
  })

  test('merge equals one sketch fed both inputs (sparse + sparse, sparse + dense, dense + dense)', () => {
    const cases: [number, number, number, number][] = [
      [0, 100, 50, 200],
      [0, 300, 200, 500],
      [0, 100, 1000, 6000],
      [0, 5000, 3000, 20_000],
    ]
    for (const [a0, a1, b0, b1] of cases) {
      const a = hll(range(a0, a1))
      const b = hll(range(b0, b1))
      const all = hll([...range(a0, a1), ...range(b0, b1)])
      const merged = hllMerge(a, b)
      expect(merged).toEqual(all)
      expect(hllMerge(b, a)).toEqual(all)
      // Inputs unchanged.
      expect(a).toEqual(hll(range(a0, a1)))
    }
  })

  test('state round-trips through rowCodec, and keeps counting afterwards', () => {
    for (const n of [0, 5, HLL_SPARSE_LIMIT, 50_000]) {
      const s = hll(range(0, n))
      const back = roundTrip(s)
      expect(back).toEqual(s)
      expect(hllEstimate(back)).toBe(hllEstimate(s))
      for (let i = n; i < n + 1000; i++) {
        hllAdd(back, i)
        hllAdd(s, i)
      }
      expect(back).toEqual(s)
    }
  })
})

/** PostgreSQL's percentile_cont over the sorted values. */
function percentileCont(sorted: ArrayLike<number>, f: number): number {
  const pos = f * (sorted.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  const a = sorted[lo]!
  return lo === hi ? a : a + (sorted[hi]! - a) * (pos - lo)
}

/** How far (as a fraction of n) the estimate's rank range lies from the wanted rank. */
function rankError(sorted: Float64Array, estimate: number, f: number): number {
  const n = sorted.length
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < estimate) lo = mid + 1
    else hi = mid
  }
  const below = lo
  hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= estimate) lo = mid + 1
    else hi = mid
  }
  const wanted = f * n
  if (wanted >= below && wanted <= lo) return 0
  return Math.min(Math.abs(wanted - below), Math.abs(wanted - lo)) / n
}

const FRACTIONS = [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]

function pct(values: Iterable<number>): number[] {
  let s: number[] | null = null
  for (const v of values) s = pctAdd(s, v)
  return s!
}

describe('percentile sketch', () => {
  test(`exact (percentile_cont) up to ${PCT_BUFFER} values`, () => {
    const r = random(7)
    for (const n of [1, 2, 3, 10, 199, PCT_BUFFER]) {
      const values = Array.from({ length: n }, () => Math.round(r() * 1000) / 10)
      const s = pct(values)
      const sorted = Float64Array.from(values).sort()
      for (const f of [...FRACTIONS, 0.333, 0.5001]) expect(pctQuantile(s, f)).toBe(percentileCont(sorted, f))
    }
    expect(pctQuantile(pct([5]), 0.5)).toBe(5)
    expect(pctQuantile(pct([1, 2]), 0.5)).toBe(1.5)
    expect(pctQuantile(pct([0.1, 0.3]), 1)).toBe(0.3)
  })

  const distributions: Record<string, (r: () => number, i: number) => number> = {
    uniform: (r) => r(),
    normal: (r) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()),
    exponential: (r) => -Math.log(1 - r()),
    'heavy-tailed': (r) => Math.exp(3 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())),
    ascending: (_r, i) => i,
    descending: (_r, i) => -i,
    'integers 0-999': (r) => Math.floor(r() * 1000),
  }
  test.each(Object.keys(distributions))('%s: within 1 percent rank error on 100k values, at most 200 centroids', (name) => {
    const gen = distributions[name]!
    for (const seed of [1, 2, 3]) {
      const r = random(seed * 7919)
      const data = new Float64Array(100_000)
      let s: number[] | null = null
      for (let i = 0; i < data.length; i++) {
        data[i] = gen(r, i)
        s = pctAdd(s, data[i]!)
      }
      data.sort()
      expect(pctCount(s!)).toBe(100_000)
      expect(pctCentroids(s!)).toBeLessThanOrEqual(PCT_MAX_CENTROIDS)
      expect(pctQuantile(s!, 0)).toBe(data[0])
      expect(pctQuantile(s!, 1)).toBe(data[data.length - 1])
      for (const f of FRACTIONS) expect(rankError(data, pctQuantile(s!, f), f)).toBeLessThan(0.01)
    }
  })

  test('state stays bounded: at most about 5 KB in the store after a million values', () => {
    const r = random(11)
    let s: number[] | null = null
    let largest = 0
    for (let i = 0; i < 1_000_000; i++) {
      s = pctAdd(s, r())
      if (i % 997 === 0) largest = Math.max(largest, s.length)
    }
    expect(largest).toBeLessThanOrEqual(4 + 2 * PCT_MAX_CENTROIDS + PCT_BUFFER + 1)
    expect(encodedSize(s!)).toBeLessThan(6000)
  })

  test('infinities and NaN sort as in PostgreSQL (NaN above everything) and do not spread', () => {
    const values = [Number.NEGATIVE_INFINITY, ...range(0, 1000), Number.POSITIVE_INFINITY, Number.NaN, Number.NaN]
    const s = pct(values)
    expect(pctQuantile(s, 0)).toBe(Number.NEGATIVE_INFINITY)
    expect(pctQuantile(s, 1)).toBeNaN()
    expect(Math.abs(pctQuantile(s, 0.5) - 500)).toBeLessThan(10)
    // Many NaN values fuse into few centroids.
    const nan = pct([...range(0, 1000), ...Array.from({ length: 5000 }, () => Number.NaN)])
    expect(pctCentroids(nan)).toBeLessThanOrEqual(PCT_MAX_CENTROIDS + 3)
    expect(Math.abs(pctQuantile(nan, 0.1) - 599.9)).toBeLessThan(6)
    expect(pctQuantile(nan, 0.9)).toBeNaN()
  })

  test('merge: exact for small inputs, within 1 % for ten sketches of 10k values', () => {
    const a = pct([3, 1, 2])
    const b = pct([10, 4])
    const m = pctMerge(a, b)
    expect(pctCount(m)).toBe(5)
    expect(pctQuantile(m, 0.5)).toBe(3)
    expect(pctQuantile(m, 0.75)).toBe(4)
    expect(pctQuantile(m, 1)).toBe(10)
    expect(a).toEqual(pct([3, 1, 2]))

    const r = random(99)
    const all: number[] = []
    let merged: number[] | null = null
    for (let p = 0; p < 10; p++) {
      const part: number[] = []
      for (let i = 0; i < 10_000; i++) part.push(r() * 100)
      all.push(...part)
      merged = merged === null ? pct(part) : pctMerge(merged, pct(part))
    }
    const sorted = Float64Array.from(all).sort()
    expect(pctCount(merged!)).toBe(100_000)
    expect(pctCentroids(merged!)).toBeLessThanOrEqual(PCT_MAX_CENTROIDS)
    for (const f of FRACTIONS) expect(rankError(sorted, pctQuantile(merged!, f), f)).toBeLessThan(0.01)
  })

  test('state round-trips through rowCodec (exact, buffered and compressed), and keeps going afterwards', () => {
    const r = random(5)
    for (const n of [1, 150, 5000]) {
      const s = pct(Array.from({ length: n }, () => r() * 10 - 5).concat([-0]))
      const back = roundTrip(s)
      expect(back).toEqual(s)
      for (const f of FRACTIONS) expect(pctQuantile(back, f)).toBe(pctQuantile(s, f))
      for (let i = 0; i < 777; i++) {
        const x = r()
        pctAdd(back, x)
        pctAdd(s, x)
      }
      expect(back).toEqual(s)
    }
  })
})
