/**
 * Bounded-size sketches for approximate aggregates, as small functions over plain number arrays: an
 * aggregate's accumulator slot holds the array itself, so the state store persists it with `rowCodec` like
 * any other value (numbers round-trip exactly, -0 and NaN included) and the hot path updates it in place.
 *
 * - HyperLogLog (`hll*`), for approx_count_distinct: exact while a group has few distinct values (a sorted
 *   list of 53-bit hashes), then 2^12 six-bit registers packed five to a number: about 4.1 KB per group,
 *   1.04 / sqrt(4096) = 1.6 % standard error, estimated with Ertl's improved raw estimator (no bias tables,
 *   no switch-over between linear counting and the raw estimate).
 * - A merging t-digest (`pct*`), for approx_percentile: exact while a group has at most 200 values, then at
 *   most 200 centroids (mean, weight; about 130 in practice) sized by the arcsine scale function, which
 *   keeps them small near the tails, plus up to 200 values not merged in yet: at most about 5 KB per group.
 *
 * `hllAdd` and `pctAdd` change the sketch they are given (and return it, or a new one for `null`); every
 * other function leaves its arguments alone.
 */
import { intervalMicros, isInterval, type Value } from '../common/types.ts'

// ---------------------------------------------------------------------------------------------------------
// Hashing

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const TWO_21 = 2 ** 21

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r))

/** The murmur3 finalizer: every input bit flips each output bit with probability about 1/2. */
function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/*
 * Two 32-bit lanes in the style of murmur3's x86 128-bit variant: every 32-bit block enters both lanes
 * through different multipliers and rotations, the lanes feed each other, and the result keeps 53 bits
 * (all of lane A, the top 21 of lane B) so that it is an exact integer in a double. The lanes are module
 * variables: hashing allocates nothing.
 */
let laneA = 0
let laneB = 0

function start(tag: number): void {
  laneA = 0x9747b28c
  laneB = 0x5bd1e995
  block(tag)
}

function block(k: number): void {
  let ka = Math.imul(k, 0x239b961b)
  ka = Math.imul(rotl(ka, 15), 0xab0e9789)
  laneA ^= ka
  laneA = (Math.imul(rotl(laneA, 19) + laneB, 5) + 0x561ccd1b) | 0
  let kb = Math.imul(k, 0xab0e9789)
  kb = Math.imul(rotl(kb, 16), 0x38b34ae5)
  laneB ^= kb
  laneB = (Math.imul(rotl(laneB, 17) + laneA, 5) + 0x0bcaa747) | 0
}

function finish(length: number): number {
  let a = laneA ^ length
  let b = laneB ^ length
  a = (a + b) | 0
  b = (b + a) | 0
  a = fmix(a)
  b = fmix(b)
  a = (a + b) | 0
  b = (b + a) | 0
  return (a >>> 0) * TWO_21 + (b >>> 11)
}

function hashString(s: string, tag: number): number {
  start(tag)
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) block(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16))
  if (i < n) block(s.charCodeAt(i))
  return finish(n * 2)
}

function hashNumber(x: number): number {
  start(0)
  // Equal numbers hash alike: -0 is 0, and every NaN is the same NaN.
  if (x !== x) {
    block(0x7ff80000)
    block(0)
  } else {
    f64[0] = x === 0 ? 0 : x
    block(u32[0]!)
    block(u32[1]!)
  }
  return finish(8)
}

/** A text that is equal for equal SQL values of one type (intervals compare by their length, as in PostgreSQL). */
function canonicalText(v: Value): string {
  if (v === null) return 'N'
  if (typeof v === 'string') return `s${JSON.stringify(v)}`
  if (typeof v === 'number') return `n${Object.is(v, -0) ? 0 : v}`
  if (typeof v === 'boolean') return v ? 't' : 'f'
  if (Buffer.isBuffer(v)) return `x${v.toString('hex')}`
  if (Array.isArray(v)) return `[${v.map(canonicalText).join(',')}]`
  if (isInterval(v)) return `i${intervalMicros(v)}`
  return `j${JSON.stringify(v)}`
}

/**
 * A 53-bit hash (an integer from 0 to 2^53 - 1) of a non-null SQL value. Numbers hash their float64 bits
 * and strings their UTF-16 code units, with no text conversion on the hot path; other values hash a
 * canonical text.
 */
export function hashValue(v: Value): number {
  if (typeof v === 'number') return hashNumber(v)
  if (typeof v === 'string') return hashString(v, 1)
  if (typeof v === 'boolean') return hashNumber(v ? 1 : 0)
  if (isInterval(v)) return hashNumber(intervalMicros(v))
  return hashString(canonicalText(v), 2)
}

// ---------------------------------------------------------------------------------------------------------
// HyperLogLog

/** Registers are addressed by the top P bits of the hash: m = 2^P registers. */
export const HLL_PRECISION = 12
const M = 1 << HLL_PRECISION
/** Bits left for the rank after the register index: 32 - P from the high half, 21 from the low. */
const Q = 32 - HLL_PRECISION + 21
const LOW_BITS = 32 - HLL_PRECISION
const PER_WORD = 5
const WORDS = Math.ceil(M / PER_WORD)
/** First element of a sketch: its form. */
const SPARSE = 0
const DENSE = 1
/**
 * A sparse sketch keeps up to this many distinct hashes (9 bytes each in the state store, about the size
 * of the dense form): counts up to here are exact, barring a 53-bit hash collision (probability < 1e-10).
 */
export const HLL_SPARSE_LIMIT = 400

/** An empty sketch: `[0]`, the sparse form with no hashes. */
export const hllCreate = (): number[] => [SPARSE]

/** Folds one hash into a dense sketch. */
function denseAdd(s: number[], h: number): void {
  const hi = Math.floor(h / TWO_21)
  const lo = h - hi * TWO_21
  const index = hi >>> LOW_BITS
  const rest = hi & ((1 << LOW_BITS) - 1)
  // Rank: position of the first 1 bit in the Q bits after the index (1-based); Q + 1 when all are zero.
  const rank = rest !== 0 ? Math.clz32(rest) - HLL_PRECISION + 1 : lo !== 0 ? LOW_BITS + Math.clz32(lo) - 11 + 1 : Q + 1
  const w = 1 + ((index / PER_WORD) | 0)
  const shift = (index % PER_WORD) * 6
  const word = s[w]!
  if (rank > ((word >>> shift) & 63)) s[w] = (word & ~(63 << shift)) | (rank << shift)
}

/** The index of `h` in the sorted hashes `s[1..]`, or the bitwise complement of where it belongs. */
function sparseFind(s: readonly number[], h: number): number {
  let lo = 1
  let hi = s.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const x = s[mid]!
    if (x < h) lo = mid + 1
    else if (x > h) hi = mid - 1
    else return mid
  }
  return ~lo
}

/** Turns a sparse sketch into the dense form, in place. */
function densify(s: number[]): void {
  const hashes = s.slice(1)
  s.length = 1 + WORDS
  s[0] = DENSE
  s.fill(0, 1)
  for (const h of hashes) denseAdd(s, h)
}

/** Adds a hash to a sketch in place. */
export function hllAddHash(s: number[], h: number): void {
  if (s[0] === DENSE) {
    denseAdd(s, h)
    return
  }
  const at = sparseFind(s, h)
  if (at >= 0) return
  s.splice(~at, 0, h)
  if (s.length - 1 > HLL_SPARSE_LIMIT) densify(s)
}

/** Adds a non-null value to the sketch (a new one when `s` is null); returns the sketch. */
export function hllAdd(s: number[] | null, v: Value): number[] {
  const sketch = s ?? hllCreate()
  hllAddHash(sketch, hashValue(v))
  return sketch
}

/** The register values of a dense sketch. */
function registers(s: readonly number[]): Uint8Array {
  const out = new Uint8Array(M)
  for (let i = 0; i < M; i++) out[i] = (s[1 + ((i / PER_WORD) | 0)]! >>> ((i % PER_WORD) * 6)) & 63
  return out
}

/** A sketch holding everything either holds (what one sketch fed both inputs would be). */
export function hllMerge(a: readonly number[], b: readonly number[]): number[] {
  if (a[0] === SPARSE && b[0] === SPARSE) {
    const out = a.slice()
    for (let i = 1; i < b.length; i++) hllAddHash(out, b[i]!)
    return out
  }
  const [dense, other] = a[0] === DENSE ? [a, b] : [b, a]
  const out = dense.slice()
  if (other[0] === SPARSE) {
    for (let i = 1; i < other.length; i++) denseAdd(out, other[i]!)
    return out
  }
  const x = registers(out)
  const y = registers(other)
  out.fill(0, 1)
  for (let i = 0; i < M; i++) {
    const r = Math.max(x[i]!, y[i]!)
    const word = 1 + ((i / PER_WORD) | 0)
    out[word] = out[word]! | (r << ((i % PER_WORD) * 6))
  }
  return out
}

/** σ(x) of Ertl's estimator: the contribution of the registers still at zero. */
function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY
  let y = 1
  let z = x
  for (;;) {
    x *= x
    const prev = z
    z += x * y
    y += y
    if (z === prev) return z
  }
}

/** τ(x) of Ertl's estimator: the contribution of the registers at the maximum rank Q + 1. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0
  let y = 1
  let z = 1 - x
  for (;;) {
    x = Math.sqrt(x)
    const prev = z
    y *= 0.5
    z -= (1 - x) * (1 - x) * y
    if (z === prev) return z / 3
  }
}

/**
 * The number of distinct values: exact for a sparse sketch, else the improved raw estimate of O. Ertl,
 * "New cardinality estimation algorithms for HyperLogLog sketches" (2017), which stays unbiased from a
 * handful of values up to 2^Q·m without empirical corrections.
 */
export function hllEstimate(s: readonly number[]): number {
  if (s[0] === SPARSE) return s.length - 1
  const counts = new Array<number>(Q + 2).fill(0)
  for (let w = 0; w < WORDS; w++) {
    const word = s[1 + w]!
    const n = Math.min(PER_WORD, M - w * PER_WORD)
    for (let j = 0; j < n; j++) counts[(word >>> (j * 6)) & 63]!++
  }
  let z = M * tau(1 - counts[Q + 1]! / M)
  for (let k = Q; k >= 1; k--) z = 0.5 * (z + counts[k]!)
  z += M * sigma(counts[0]! / M)
  return Math.round((M * M) / (2 * Math.LN2) / z)
}

// ---------------------------------------------------------------------------------------------------------
// Percentiles: a merging t-digest

/** Values held as they came before a merge; a sketch of at most this many values is exact. */
export const PCT_BUFFER = 200
/**
 * The compression δ of the arcsine scale function k(q) = δ/2π · asin(2q - 1), whose range is δ/2: a
 * centroid spans at most one unit of k, and two neighbours always more than one, so a merge leaves at most
 * δ centroids (about 0.65 δ in practice), and a centroid near quantile q holds at most about
 * 2π·sqrt(q(1-q))/δ of the values (1.6 % at the median, far less in the tails).
 */
export const PCT_COMPRESSION = 200
/** The bound on centroids for finite values (infinities and NaN, which never blend with numbers, add up to 3). */
export const PCT_MAX_CENTROIDS = PCT_COMPRESSION

/*
 * Layout: [n, min, max, c, mean_1, weight_1, ..., mean_c, weight_c, buffered values...]. Centroids are
 * sorted by mean; buffered values are in arrival order.
 */
const N = 0
const MIN = 1
const MAX = 2
const C = 3
const HEAD = 4

/** Total order on doubles with NaN above everything, as PostgreSQL sorts float8. */
const before = (a: number, b: number): boolean => a < b || (b !== b && a === a)

/** Adds a number to the sketch (a new one when `s` is null); returns the sketch. */
export function pctAdd(s: number[] | null, x: number): number[] {
  if (s === null) return [1, x, x, 0, x]
  s[N]!++
  if (before(x, s[MIN]!)) s[MIN] = x
  if (before(s[MAX]!, x)) s[MAX] = x
  s.push(x)
  if (s.length - HEAD - 2 * s[C]! > PCT_BUFFER) compress(s)
  return s
}

/** The centroids and buffered values of a sketch as one list sorted by mean (buffered values weigh 1). */
function sortedItems(s: readonly number[]): { means: Float64Array; weights: Float64Array } {
  const c = s[C]!
  const start = HEAD + 2 * c
  const buffered = Float64Array.from(s.slice(start)).sort()
  const total = c + buffered.length
  const means = new Float64Array(total)
  const weights = new Float64Array(total)
  let i = 0
  let j = 0
  for (let k = 0; k < total; k++) {
    if (j >= buffered.length || (i < c && !before(buffered[j]!, s[HEAD + 2 * i]!))) {
      means[k] = s[HEAD + 2 * i]!
      weights[k] = s[HEAD + 2 * i + 1]!
      i++
    } else {
      means[k] = buffered[j]!
      weights[k] = 1
      j++
    }
  }
  return { means, weights }
}

const scale = (q: number): number => (PCT_COMPRESSION / (2 * Math.PI)) * Math.asin(2 * q - 1)
const unscale = (k: number): number => (Math.sin((k * 2 * Math.PI) / PCT_COMPRESSION) + 1) / 2

/**
 * Fuses sorted items greedily into centroids that each span at most one unit of the scale function.
 * Returns the centroids as [mean, weight, ...].
 */
function fuse(means: Float64Array, weights: Float64Array, n: number): number[] {
  const out: number[] = []
  if (means.length === 0) return out
  let mean = means[0]!
  let weight = weights[0]!
  let soFar = 0
  let limit = n * unscale(scale(0) + 1)
  for (let i = 1; i < means.length; i++) {
    const x = means[i]!
    const w = weights[i]!
    // Only finite numbers blend; an infinity or NaN fuses only with its equals (its mean stays what it is).
    const blendable = (Number.isFinite(x) && Number.isFinite(mean)) || mean === x || (x !== x && mean !== mean)
    if (blendable && soFar + weight + w <= limit) {
      weight += w
      if (mean !== x) mean += ((x - mean) * w) / weight
    } else {
      out.push(mean, weight)
      soFar += weight
      limit = n * unscale(scale(soFar / n) + 1)
      mean = x
      weight = w
    }
  }
  out.push(mean, weight)
  return out
}

/** Merges the buffered values into the centroids, in place. */
function compress(s: number[]): void {
  const { means, weights } = sortedItems(s)
  const centroids = fuse(means, weights, s[N]!)
  s.length = HEAD
  s[C] = centroids.length / 2
  for (const v of centroids) s.push(v)
}

/** A sketch of everything both sketches saw; exact when both are exact and hold at most PCT_BUFFER values together. */
export function pctMerge(a: readonly number[], b: readonly number[]): number[] {
  const n = a[N]! + b[N]!
  const min = before(a[MIN]!, b[MIN]!) ? a[MIN]! : b[MIN]!
  const max = before(a[MAX]!, b[MAX]!) ? b[MAX]! : a[MAX]!
  if (a[C] === 0 && b[C] === 0 && n <= PCT_BUFFER) return [n, min, max, 0, ...a.slice(HEAD), ...b.slice(HEAD)]
  const x = sortedItems(a)
  const y = sortedItems(b)
  const means = new Float64Array(x.means.length + y.means.length)
  const weights = new Float64Array(means.length)
  let i = 0
  let j = 0
  for (let k = 0; k < means.length; k++) {
    if (j >= y.means.length || (i < x.means.length && !before(y.means[j]!, x.means[i]!))) {
      means[k] = x.means[i]!
      weights[k] = x.weights[i++]!
    } else {
      means[k] = y.means[j]!
      weights[k] = y.weights[j++]!
    }
  }
  const centroids = fuse(means, weights, n)
  return [n, min, max, centroids.length / 2, ...centroids]
}

/** The number of values the sketch has seen. */
export const pctCount = (s: readonly number[]): number => s[N]!

/** The number of centroids (not counting buffered values). */
export const pctCentroids = (s: readonly number[]): number => s[C]!

/**
 * The value at `fraction` (0 to 1) of the sorted values, interpolated linearly between neighbours as
 * PostgreSQL's percentile_cont does: exact while every item weighs 1. A centroid of weight w stands for w
 * values spread evenly around its mean, so it sits at position cum + (w - 1)/2 (0-based); the smallest and
 * largest values are known exactly and sit at positions 0 and n - 1.
 */
export function pctQuantile(s: readonly number[], fraction: number): number {
  const n = s[N]!
  const min = s[MIN]!
  const max = s[MAX]!
  const target = fraction * (n - 1)
  if (target <= 0) return min
  if (target >= n - 1) return max
  const { means, weights } = sortedItems(s)
  let prevAt = 0
  let prevMean = min
  let cum = 0
  for (let i = 0; i < means.length; i++) {
    const w = weights[i]!
    const at = cum + (w - 1) / 2
    cum += w
    if (at < target) {
      prevAt = at
      prevMean = means[i]!
      continue
    }
    return interpolate(prevAt, prevMean, at, means[i]!, target)
  }
  return interpolate(prevAt, prevMean, n - 1, max, target)
}

function interpolate(x0: number, y0: number, x1: number, y1: number, x: number): number {
  if (x >= x1 || y0 === y1) return y1
  if (x <= x0) return y0
  return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0)
}
