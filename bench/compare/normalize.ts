/**
 * How the orchestrator compares two answers (bench/compare/README.md): each cell normalized, the lines
 * sorted, then row counts and a SHA-256 of the sorted lines. Pure functions, so that the comparison itself
 * is unit-tested (test/bench-compare-normalize.test.ts).
 *
 * Numbers: integers are kept exactly (ids and epoch-ms timestamps must match to the unit). A non-integral
 * number is first rounded to 12 significant digits, which removes the noise of binary floating point (Sluice
 * keeps numeric as a double, Flink computes DECIMAL exactly: 1234.5649999999998 and 1234.565 become the same
 * value), and is then rounded to 6 significant digits; if the first step makes it integral it stays exact.
 */
import { createHash } from 'node:crypto'

/** Significant digits a non-integral number is compared at. */
export const SIGNIFICANT_DIGITS = 6
/** Significant digits that absorb floating-point noise before rounding. */
const NOISE_DIGITS = 12

/** One number as it is compared. */
export function normalizeNumber(x: number): number | null {
  if (!Number.isFinite(x)) return null
  if (Number.isInteger(x)) return x === 0 ? 0 : x
  const clean = Number(x.toPrecision(NOISE_DIGITS))
  if (Number.isInteger(clean)) return clean === 0 ? 0 : clean
  const rounded = Number(clean.toPrecision(SIGNIFICANT_DIGITS))
  return rounded === 0 ? 0 : rounded
}

/** One cell as it is compared: numbers normalized, everything else as it is. */
export function normalizeCell(v: unknown): unknown {
  return typeof v === 'number' ? normalizeNumber(v) : v
}

/** One output line (a JSON array) in its normal form; a line that is not an array is an error. */
export function normalizeLine(line: string): string {
  const cells: unknown = JSON.parse(line)
  if (!Array.isArray(cells)) throw new Error(`result line is not a JSON array: ${line.slice(0, 200)}`)
  return JSON.stringify(cells.map(normalizeCell))
}

/** The normalized lines of a result file's text, sorted (blank lines ignored). */
export function normalizeResult(text: string): string[] {
  const out: string[] = []
  for (const line of text.split('\n')) if (line.trim().length > 0) out.push(normalizeLine(line))
  return out.sort()
}

/** SHA-256 of sorted normalized lines (each followed by a newline). */
export function checksum(sorted: readonly string[]): string {
  const h = createHash('sha256')
  for (const line of sorted) h.update(`${line}\n`)
  return h.digest('hex')
}

export interface Difference {
  /** Lines (normalized) in the first answer and not the second, first `limit` of them. */
  readonly onlyA: string[]
  readonly onlyB: string[]
  /** How many lines differ on each side in all. */
  readonly countA: number
  readonly countB: number
}

/** The multiset difference of two sorted line lists: what each has that the other lacks. */
export function difference(a: readonly string[], b: readonly string[], limit = 5): Difference {
  const onlyA: string[] = []
  const onlyB: string[] = []
  let countA = 0
  let countB = 0
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) {
      if (onlyA.length < limit) onlyA.push(a[i]!)
      countA++
      i++
    } else if (i >= a.length || b[j]! < a[i]!) {
      if (onlyB.length < limit) onlyB.push(b[j]!)
      countB++
      j++
    } else {
      i++
      j++
    }
  }
  return { onlyA, onlyB, countA, countB }
}

/**
 * An order-independent digest of a multiset of result lines, built line by line: each normalized line's
 * SHA-256 is added into four 32-bit lanes (mod 2^32 each), so the same rows in any order give the same
 * digest without being held or sorted (results of millions of rows). Blank lines are ignored.
 */
export class MultisetDigest {
  private readonly lanes = new Uint32Array(4)
  rows = 0

  add(line: string): void {
    if (line.trim().length === 0) return
    const h = createHash('sha256').update(normalizeLine(line)).digest()
    for (let i = 0; i < 4; i++) this.lanes[i] = (this.lanes[i]! + h.readUInt32LE(i * 4)) >>> 0
    this.rows++
  }

  get digest(): string {
    return Buffer.from(this.lanes.buffer).toString('hex')
  }
}
