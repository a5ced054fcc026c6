/**
 * Which keys a table may have in RocksDB: a scalable Bloom filter over every key ever committed. A miss
 * in the cache whose key the filter has never seen is known to be absent without a read, which is most
 * keys of a windowed aggregation (each new window is a new key). False positives only cost a read.
 *
 * The filter grows in stages, so it never needs the old keys again. It is rebuilt from a keys-only scan
 * when a table is reopened; until that finishes it says "maybe".
 *
 * Stages start small: many tables hold a few keys (each trigger has its own), and a thousand tables with a
 * first stage of 64k keys held 128 MB of zeros that every checkpoint touched. Stages below 64k keys grow
 * fourfold and spend twice the bits per key (a false positive rate of about 0.02% each, against 0.8% at
 * 10 bits), so that the small stages a large table passes through add almost nothing to its false
 * positives; from 64k keys on, each stage is twice the last at 10 bits per key, as before.
 */

const BITS_PER_KEY = 10
const SMALL_BITS_PER_KEY = 20
const HASHES = 7
const FIRST_STAGE_KEYS = 1 << 10
const LARGE_STAGE_KEYS = 1 << 16

interface Stage {
  readonly bits: Uint32Array
  readonly mask: number
  readonly capacity: number
  count: number
}

function stage(capacity: number): Stage {
  const bitsPerKey = capacity < LARGE_STAGE_KEYS ? SMALL_BITS_PER_KEY : BITS_PER_KEY
  let size = 32
  while (size < capacity * bitsPerKey) size *= 2
  return { bits: new Uint32Array(size >>> 5), mask: size - 1, capacity, count: 0 }
}

/** The two hashes of the last key passed to `hash` (module scratch: no array per call on the hot path). */
let H1 = 0
let H2 = 0

/** Two independent 32-bit hashes of a string's UTF-16 code units (FNV-1a and a multiply-xorshift), into H1 and H2. */
function hash(key: string): void {
  let h1 = 0x811c9dc5
  let h2 = 0x9e3779b9
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    h2 ^= h2 >>> 15
  }
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35)
  H1 = h1 >>> 0
  H2 = (h2 ^ (h2 >>> 16)) | 1
}

export class KeyFilter {
  private readonly stages: Stage[] = [stage(FIRST_STAGE_KEYS)]
  /** False until every committed key has been added (after a reopen, once the scan finished). */
  complete: boolean

  constructor(complete: boolean) {
    this.complete = complete
  }

  add(key: string): void {
    let s = this.stages[this.stages.length - 1]!
    if (s.count >= s.capacity) {
      s = stage(s.capacity < LARGE_STAGE_KEYS ? s.capacity * 4 : s.capacity * 2)
      this.stages.push(s)
    }
    hash(key)
    const h1 = H1
    const h2 = H2
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & s.mask
      s.bits[bit >>> 5]! |= 1 << (bit & 31)
    }
    s.count++
  }

  /** False only when the key was certainly never added (and the filter is complete). */
  mayContain(key: string): boolean {
    if (!this.complete) return true
    hash(key)
    const h1 = H1
    const h2 = H2
    for (const s of this.stages) {
      let all = true
      for (let i = 0; i < HASHES; i++) {
        const bit = (h1 + Math.imul(i, h2)) & s.mask
        if ((s.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) {
          all = false
          break
        }
      }
      if (all) return true
    }
    return false
  }

  get bytes(): number {
    return this.stages.reduce((n, s) => n + s.bits.byteLength, 0)
  }
}
