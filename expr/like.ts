/**
 * LIKE and ILIKE without a regular expression engine. A pattern is its `%`-separated pieces; the first must
 * match at the start, the last at the end, and each one between at its leftmost place after the previous
 * (taking the leftmost place never loses a match, since what follows may only have more room). So a test
 * costs at most input length × pattern length, whatever the pattern: `'%a%a%a%a%b'` cannot stall the server
 * as the backtracking RegExp it used to become did.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { TextMatcher } from './regex.ts'

/** One class, no repetition: a linear scan. */
const SURROGATE = /[\uD800-\uDFFF]/

/** `_` in a piece: any one character. */
const ANY = -1

class LikeMatcher implements TextMatcher {
  /** Pieces as code points (ANY for `_`); there is a `%` between each two. */
  private readonly pieces: readonly Int32Array[]
  /** The same pieces as strings, when no piece has a `_`: then the native string search does the work. */
  private readonly literal: readonly string[] | undefined
  private readonly anchors: readonly Anchor[]
  private danglingEscape = false

  constructor(
    pattern: string,
    private readonly caseInsensitive: boolean,
  ) {
    const pieces: number[][] = [[]]
    const cps = Array.from(caseInsensitive ? pattern.toLowerCase() : pattern, (c) => c.codePointAt(0)!)
    for (let i = 0; i < cps.length; i++) {
      const c = cps[i]!
      if (c === 92) {
        if (i + 1 >= cps.length) {
          // PostgreSQL fails only when its matcher reaches the dangling escape with text left, that is when
          // the text matches the pattern before it followed by `_%`; other texts simply do not match.
          this.danglingEscape = true
          pieces[pieces.length - 1]!.push(ANY)
          pieces.push([])
        } else pieces[pieces.length - 1]!.push(cps[++i]!)
      } else if (c === 37) pieces.push([])
      else pieces[pieces.length - 1]!.push(c === 95 ? ANY : c)
    }
    this.pieces = pieces.map((p) => Int32Array.from(p))
    this.anchors = pieces.map(longestRun)
    this.literal = pieces.every((p) => !p.includes(ANY)) ? pieces.map((p) => String.fromCodePoint(...p)) : undefined
  }

  test(input: string): boolean {
    const text = this.caseInsensitive ? input.toLowerCase() : input
    // `_` is one character: without surrogate pairs in the text, UTF-16 units are characters already.
    const matched =
      this.literal !== undefined
        ? matchLiteral(this.literal, text)
        : SURROGATE.test(text)
          ? matchPieces(this.pieces, Array.from(text, (c) => c.codePointAt(0)!))
          : matchPiecesUnits(this.pieces, this.anchors, text)
    if (matched && this.danglingEscape) throw new SluiceError('execution', SqlState.invalidEscapeSequence, 'LIKE pattern must not end with escape character')
    return matched && !this.danglingEscape
  }
}

function matchLiteral(pieces: readonly string[], text: string): boolean {
  const first = pieces[0]!
  if (pieces.length === 1) return text === first
  const last = pieces[pieces.length - 1]!
  if (!text.startsWith(first)) return false
  let at = first.length
  for (let i = 1; i < pieces.length - 1; i++) {
    const found = text.indexOf(pieces[i]!, at)
    if (found < 0) return false
    at = found + pieces[i]!.length
  }
  return text.length - last.length >= at && text.endsWith(last)
}

/** The longest run of characters without `_` in a piece, and where in the piece it starts. */
interface Anchor {
  readonly run: string
  readonly offset: number
}

function longestRun(piece: readonly number[]): Anchor {
  let best: Anchor = { run: '', offset: 0 }
  let start = 0
  for (let i = 0; i <= piece.length; i++) {
    if (i < piece.length && piece[i] !== ANY) continue
    // Runs are counted in UTF-16 units, which is what the text offsets are in when anchors are used.
    const run = String.fromCodePoint(...piece.slice(start, i))
    if (i - start > [...best.run].length && run.length === i - start) best = { run, offset: start }
    start = i + 1
  }
  return best
}

/** Whether `piece` matches `text` (its code points) at `at`. */
function pieceAt(piece: Int32Array, text: readonly number[], at: number): boolean {
  if (at + piece.length > text.length) return false
  for (let j = 0; j < piece.length; j++) if (piece[j] !== ANY && piece[j] !== text[at + j]) return false
  return true
}

/** `pieceAt` over a text without surrogates, whose UTF-16 units are its code points (no copy made). */
function pieceAtUnits(piece: Int32Array, text: string, at: number): boolean {
  if (at + piece.length > text.length) return false
  for (let j = 0; j < piece.length; j++) if (piece[j] !== ANY && piece[j] !== text.charCodeAt(at + j)) return false
  return true
}

/** First piece at the start, last at the end, each between at its leftmost place after the one before. */
function matchPieces(pieces: readonly Int32Array[], text: readonly number[]): boolean {
  const first = pieces[0]!
  if (pieces.length === 1) return text.length === first.length && pieceAt(first, text, 0)
  if (!pieceAt(first, text, 0)) return false
  let at = first.length
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!
    let k = at
    while (k + piece.length <= text.length && !pieceAt(piece, text, k)) k++
    if (k + piece.length > text.length) return false
    at = k + piece.length
  }
  const last = pieces[pieces.length - 1]!
  return text.length - last.length >= at && pieceAt(last, text, text.length - last.length)
}

/** `matchPieces` over a text whose UTF-16 units are its code points; the same steps, kept apart to stay monomorphic. */
function matchPiecesUnits(pieces: readonly Int32Array[], anchors: readonly Anchor[], text: string): boolean {
  const first = pieces[0]!
  if (pieces.length === 1) return text.length === first.length && pieceAtUnits(first, text, 0)
  if (!pieceAtUnits(first, text, 0)) return false
  let at = first.length
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!
    const { run, offset } = anchors[i]!
    let k = at
    for (;;) {
      if (run !== '') {
        // Candidates only where the piece's longest literal run occurs: native search between them.
        const found = text.indexOf(run, k + offset)
        if (found < 0) return false
        k = found - offset
      }
      if (k + piece.length > text.length) return false
      if (pieceAtUnits(piece, text, k)) break
      k++
    }
    at = k + piece.length
  }
  const last = pieces[pieces.length - 1]!
  return text.length - last.length >= at && pieceAtUnits(last, text, text.length - last.length)
}

/** The matcher of a LIKE (or, lower-casing both sides as PostgreSQL does, ILIKE) pattern with `\` as escape. */
export function compileLike(pattern: string, caseInsensitive: boolean): TextMatcher {
  return new LikeMatcher(pattern, caseInsensitive)
}
