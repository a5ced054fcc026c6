/**
 * Reading a JSON record's members straight from its bytes, without JSON.parse's object: the values of the
 * stream's columns land in an array by column, and a column nobody reads keeps its text unmade (its value
 * is checked, not built). A Nexmark record has 21 members where a query reads 3 to 5; JSON.parse builds
 * them all, strings included, and the decoder then reads them back by name.
 *
 * The scanner takes only what it reads exactly as JSON.parse would: an ASCII object of members whose
 * names are plain (no escapes), each column named once, values that are strings without escapes or
 * control characters, numbers, true, false and null (objects and arrays only under names that are not
 * columns, checked and skipped), and, for columns whose type needs more (json, jsonb, arrays), only null.
 * Anything else returns false and the caller decodes the record the usual way, so rows and dead letters
 * are the same as JSON.parse and the decoder give.
 */

/** The value of a column nobody reads whose text the scanner checked but did not make. */
export const UNREAD = Symbol('unread')

/** A column as the scanner takes it: `plain` values are scanned; a non-null one of any other column is left to JSON.parse. */
export interface ScanColumn {
  readonly name: string
  readonly plain: boolean
  /** A numeric column: a number's text is kept too (`tokens`), for its digits as written. */
  readonly numeric?: boolean
  /** Whether a string value is made; false leaves UNREAD (for a text column nobody reads). */
  readonly text: boolean
}

/** Strings up to this many bytes are cached per column, in this many slots. */
const MAX_CACHED = 24
const CACHE_SLOTS = 64

/** Deepest nesting skipped under a name that is not a column; deeper records go to JSON.parse. */
const MAX_DEPTH = 64

const slicer = Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }

export class JsonScanner {
  private readonly names: Uint8Array[]
  private readonly plain: Uint8Array
  private readonly text: Uint8Array
  private readonly numeric: Uint8Array
  /**
   * A numeric column's number as written, where `values` has it as a double. Only while the record has no
   * object or array under another name: the decoder's search for those digits (decode.ts, numericFromJson)
   * could find the name in there first, so such a record goes to JSON.parse.
   */
  readonly tokens: (string | undefined)[]
  /** The record being scanned has an object or array under a name that is not a column. */
  private nested = false
  /** The record each column was last set in (duplicate names go to JSON.parse, which keeps the last). */
  private readonly setIn: Int32Array
  private record = 0
  /** Short strings made, CACHE_SLOTS per column, by a hash of their bytes. */
  private readonly cached: (string | undefined)[]
  private readonly hashes: Int32Array
  private bytes: Uint8Array = new Uint8Array(0)
  private end = 0

  constructor(columns: readonly ScanColumn[]) {
    this.names = columns.map((c) => Buffer.from(c.name, 'latin1'))
    this.plain = Uint8Array.from(columns, (c) => (c.plain ? 1 : 0))
    this.text = Uint8Array.from(columns, (c) => (c.text ? 1 : 0))
    this.numeric = Uint8Array.from(columns, (c) => (c.numeric === true ? 1 : 0))
    this.tokens = new Array<string | undefined>(columns.length).fill(undefined)
    this.setIn = new Int32Array(columns.length)
    this.cached = new Array<string | undefined>(columns.length * CACHE_SLOTS).fill(undefined)
    this.hashes = new Int32Array(columns.length * CACHE_SLOTS)
  }

  /** Whether the scanner can take a stream with these column names (ASCII, none inherited by every object). */
  static takes(names: readonly string[]): boolean {
    return names.every((n) => /^[\x20-\x7e]*$/.test(n) && !n.includes('"') && !n.includes('\\') && !(n in Object.prototype))
  }

  /**
   * Fills `values` (one per column: undefined when absent, UNREAD when not read) from the ASCII record
   * `bytes[start, end)`. False: the record is not one the scanner reads exactly; JSON.parse it.
   */
  scan(bytes: Uint8Array, start: number, end: number, values: unknown[]): boolean {
    const n = this.names.length
    for (let c = 0; c < n; c++) values[c] = undefined
    this.bytes = bytes
    this.end = end
    this.nested = false
    let digits = false
    // Kept in 32 bits, as setIn holds it: after 2^32 records a stale mark may look like a duplicate name,
    // which only sends that record to JSON.parse.
    const record = (this.record = (this.record + 1) | 0)
    let i = this.space(start)
    if (i >= end || bytes[i] !== 123 /* { */) return false
    i = this.space(i + 1)
    if (i < end && bytes[i] === 125 /* } */) return this.space(i + 1) === end
    let guess = 0
    for (;;) {
      if (i >= end || bytes[i] !== 34 /* " */) return false
      const nameStart = i + 1
      // Members mostly come in the order of the last record's: the name after the last one found is tried first.
      let col = guess < n ? this.namedAt(guess, nameStart) : -1
      let j = col < 0 ? nameStart : nameStart + this.names[col]!.length
      if (col < 0) {
        for (; j < end; j++) {
          const x = bytes[j]!
          if (x === 34) break
          if (x === 92 || x < 32) return false
        }
        if (j >= end) return false
        col = this.column(nameStart, j)
      }
      i = this.space(j + 1)
      if (i >= end || bytes[i] !== 58 /* : */) return false
      i = this.space(i + 1)
      if (i >= end) return false
      if (col < 0) {
        i = this.skipValue(i, 0)
        if (i < 0) return false
      } else {
        if (this.setIn[col] === record) return false
        this.setIn[col] = record
        guess = col + 1
        const x = bytes[i]!
        if (x === 110 /* n */) {
          if (!this.literal(i, 0x6c6c756e /* null */)) return false
          values[col] = null
          i += 4
        } else if (this.plain[col] === 0) {
          return false
        } else if (x === 34) {
          let k = i + 1
          let hash = 0
          for (; k < end; k++) {
            const y = bytes[k]!
            if (y === 34) break
            if (y === 92 || y < 32) return false
            hash = (Math.imul(hash, 31) + y) | 0
          }
          if (k >= end) return false
          values[col] = this.text[col] === 1 ? this.string(col, i + 1, k, hash) : UNREAD
          i = k + 1
        } else if (x === 116 /* t */) {
          if (!this.literal(i, 0x65757274 /* true */)) return false
          values[col] = true
          i += 4
        } else if (x === 102 /* f */) {
          if (i + 5 > end || !this.literal(i + 1, 0x65736c61 /* alse */)) return false
          values[col] = false
          i += 5
        } else {
          const from = i
          i = this.number(i, values, col)
          if (i < 0) return false
          if (this.numeric[col] === 1) {
            this.tokens[col] = slicer.latin1Slice.call(bytes, from, i)
            digits = true
          }
        }
      }
      i = this.space(i)
      if (i >= end) return false
      const sep = bytes[i]!
      if (sep === 125) return this.space(i + 1) === end && !(digits && this.nested)
      if (sep !== 44 /* , */) return false
      i = this.space(i + 1)
    }
  }

  /**
   * The text `bytes[start, end)` of column `col`: a short one as made before for the same bytes where the
   * column's cache has it (game names, event types, channels repeat; making each anew is a call into Node
   * and an allocation), else made now and cached.
   */
  private string(col: number, start: number, end: number, hash: number): string {
    const length = end - start
    if (length > MAX_CACHED) return slicer.latin1Slice.call(this.bytes, start, end)
    const slot = col * CACHE_SLOTS + (hash & (CACHE_SLOTS - 1))
    const cached = this.cached[slot]
    if (cached !== undefined && this.hashes[slot] === hash && cached.length === length) {
      const bytes = this.bytes
      let k = 0
      while (k < length && cached.charCodeAt(k) === bytes[start + k]) k++
      if (k === length) return cached
    }
    const made = slicer.latin1Slice.call(this.bytes, start, end)
    this.cached[slot] = made
    this.hashes[slot] = hash
    return made
  }

  /** `col` when its name and then a closing quote stand at `start`, else -1. */
  private namedAt(col: number, start: number): number {
    const name = this.names[col]!
    const bytes = this.bytes
    const close = start + name.length
    if (close >= this.end || bytes[close] !== 34) return -1
    for (let k = 0; k < name.length; k++) if (name[k] !== bytes[start + k]) return -1
    return col
  }

  /** The column named by `bytes[start, end)`, or -1. */
  private column(start: number, end: number): number {
    const names = this.names
    for (let c = 0; c < names.length; c++) if (this.named(names[c]!, start, end)) return c
    return -1
  }

  private named(name: Uint8Array, start: number, end: number): boolean {
    if (name.length !== end - start) return false
    const bytes = this.bytes
    for (let k = 0; k < name.length; k++) if (name[k] !== bytes[start + k]) return false
    return true
  }

  /** Whether the four bytes at `i` are `word` (little-endian: its first letter in the low byte). */
  private literal(i: number, word: number): boolean {
    const b = this.bytes
    return i + 4 <= this.end && (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) === word
  }

  private space(i: number): number {
    const b = this.bytes
    const end = this.end
    while (i < end) {
      const x = b[i]!
      if (x !== 32 && x !== 10 && x !== 13 && x !== 9) break
      i++
    }
    return i
  }

  /**
   * A JSON number at `i` (its grammar checked: no leading zeros, digits after a point and in an exponent)
   * into `values[col]`: whole numbers of up to 15 digits summed here, others by Number() over their text,
   * which rounds as JSON.parse does. Returns the index after it, or -1.
   */
  private number(i: number, values: unknown[] | null, col: number): number {
    const b = this.bytes
    const end = this.end
    const start = i
    let negative = false
    if (b[i] === 45 /* - */) {
      negative = true
      i++
    }
    if (i >= end) return -1
    let x = b[i]!
    let whole = 0
    const digits = i
    if (x === 48) i++
    else if (x >= 49 && x <= 57) {
      for (; i < end; i++) {
        x = b[i]!
        if (x < 48 || x > 57) break
        whole = whole * 10 + (x - 48)
      }
    } else return -1
    let simple = i - digits <= 15
    if (i < end && b[i] === 46 /* . */) {
      simple = false
      i++
      const from = i
      while (i < end && b[i]! >= 48 && b[i]! <= 57) i++
      if (i === from) return -1
    }
    if (i < end && (b[i] === 101 || b[i] === 69) /* e E */) {
      simple = false
      i++
      if (i < end && (b[i] === 43 || b[i] === 45)) i++
      const from = i
      while (i < end && b[i]! >= 48 && b[i]! <= 57) i++
      if (i === from) return -1
    }
    if (values !== null) values[col] = simple ? (negative ? -whole : whole) : Number(slicer.latin1Slice.call(b, start, i))
    return i
  }

  /** Checks and skips any JSON value at `i` (under a name that is not a column); -1 when it is not one. */
  private skipValue(i: number, depth: number): number {
    const b = this.bytes
    const end = this.end
    const x = b[i]!
    if (x === 34) {
      for (i++; i < end; i++) {
        const y = b[i]!
        if (y === 34) return i + 1
        if (y < 32) return -1
        if (y === 92) {
          i++
          if (i >= end) return -1
          const e = b[i]!
          if (e === 117 /* u */) {
            if (i + 4 >= end) return -1
            for (let h = 1; h <= 4; h++) if (!isHex(b[i + h]!)) return -1
            i += 4
          } else if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) return -1
        }
      }
      return -1
    }
    if (x === 123 || x === 91) {
      if (depth >= MAX_DEPTH) return -1
      this.nested = true
      const close = x === 123 ? 125 : 93
      i = this.space(i + 1)
      if (i < end && b[i] === close) return i + 1
      for (;;) {
        if (x === 123) {
          if (i >= end || b[i] !== 34) return -1
          i = this.skipValue(i, depth + 1)
          if (i < 0) return -1
          i = this.space(i)
          if (i >= end || b[i] !== 58) return -1
          i = this.space(i + 1)
        }
        if (i >= end) return -1
        i = this.skipValue(i, depth + 1)
        if (i < 0) return -1
        i = this.space(i)
        if (i >= end) return -1
        if (b[i] === close) return i + 1
        if (b[i] !== 44) return -1
        i = this.space(i + 1)
      }
    }
    if (x === 110) return this.literal(i, 0x6c6c756e) ? i + 4 : -1
    if (x === 116) return this.literal(i, 0x65757274) ? i + 4 : -1
    if (x === 102) return i + 5 <= end && this.literal(i + 1, 0x65736c61) ? i + 5 : -1
    return this.number(i, null, 0)
  }
}

const isHex = (x: number): boolean => (x >= 48 && x <= 57) || (x >= 65 && x <= 70) || (x >= 97 && x <= 102)
