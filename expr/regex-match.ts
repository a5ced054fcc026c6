/**
 * Where a regular expression matches and what its groups capture, as PostgreSQL's regexp_* functions report
 * it, in time linear in the input (no backtracking: a user's pattern must never stall the server).
 *
 * PostgreSQL's engine (Spencer's) picks the match that begins first; of the matches beginning there, the
 * longest when the RE as a whole is greedy, else the shortest. The RE's greediness is that of its first
 * quantified part (an alternation of several branches is greedy), §9.7.3.5. Here that span is found by one
 * pass of a Thompson automaton whose threads remember where they began (the earliest beginning wins a
 * state). Then the groups are fitted inside that exact span by a second pass that prefers, quantifier by
 * quantifier from the left, the longest (greedy) or shortest (lazy) part, as Spencer's rules give for
 * concatenations. Where those rules and this fitting could disagree (a captured group inside a repetition
 * that may match empty, or an alternation of branches of different lengths in a pattern with groups) the
 * pattern is refused with 0A000 rather than answered differently.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { compileRegex, type TextMatcher } from './regex.ts'
import { parseRegex, type ReNode } from './regex-syntax.ts'
import { OP_ASSERT, OP_JMP, OP_MATCH, OP_SAVE, OP_SET, OP_SPLIT, assertionHolds, buildProgram, type SetTester } from './regex-program.ts'

export interface Span {
  /** UTF-16 offsets: `text.slice(start, end)` is the match. */
  readonly start: number
  readonly end: number
}

export interface Match extends Span {
  /** Per group: its span, or undefined when it took part in no way. */
  readonly groups: readonly (Span | undefined)[]
}

/** Greedy, lazy, or neither (no quantifier decides it), by Spencer's rules. */
function greediness(n: ReNode): 'greedy' | 'lazy' | undefined {
  switch (n.kind) {
    case 'empty':
    case 'set':
    case 'assert':
      return undefined
    case 'alt':
      return 'greedy'
    case 'concat':
      for (const i of n.items) {
        const g = greediness(i)
        if (g !== undefined) return g
      }
      return undefined
    case 'repeat':
      // `{m}` takes the atom's own greediness, `{m,m}?` is non-greedy (`{m}?` is read as it).
      if (n.min === n.max) return n.lazy === true ? 'lazy' : greediness(n.body)
      return n.lazy === true ? 'lazy' : 'greedy'
  }
}

const nullable = (n: ReNode): boolean => {
  switch (n.kind) {
    case 'empty':
    case 'assert':
      return true
    case 'set':
      return false
    case 'concat':
      return n.items.every(nullable)
    case 'alt':
      return n.branches.some(nullable)
    case 'repeat':
      return n.min === 0 || nullable(n.body)
  }
}

/** The fixed length (in characters) of every match of `n`, or undefined when it varies. */
function fixedLength(n: ReNode): number | undefined {
  switch (n.kind) {
    case 'empty':
    case 'assert':
      return 0
    case 'set':
      return 1
    case 'concat': {
      let sum = 0
      for (const i of n.items) {
        const l = fixedLength(i)
        if (l === undefined) return undefined
        sum += l
      }
      return sum
    }
    case 'alt': {
      const ls = n.branches.map(fixedLength)
      return ls.every((l) => l !== undefined && l === ls[0]) ? ls[0] : undefined
    }
    case 'repeat': {
      const l = fixedLength(n.body)
      return l !== undefined && n.min === n.max ? l * n.min : l === 0 ? 0 : undefined
    }
  }
}

/** `n` with each repetition in it replaced by `f` of it (which maps the repetition's body itself if it wants). */
function mapRepeats(n: ReNode, f: (r: Extract<ReNode, { kind: 'repeat' }>) => ReNode): ReNode {
  switch (n.kind) {
    case 'empty':
    case 'set':
    case 'assert':
      return n
    case 'concat':
      return { ...n, items: n.items.map((i) => mapRepeats(i, f)) }
    case 'alt':
      return { ...n, branches: n.branches.map((b) => mapRepeats(b, f)) }
    case 'repeat':
      return f(n)
  }
}

/** `n` with every quantifier in it non-greedy. */
const lazified = (n: ReNode): ReNode => mapRepeats(n, (r) => ({ ...r, body: lazified(r.body), lazy: true }))

/**
 * Spencer's rule where a non-greedy `{m,m}?` wraps greedy parts (SIMILAR TO's `#"` markers become such
 * groups): the whole part takes the shortest length, so its parts are fitted shortest first too.
 */
const preferShortParts = (n: ReNode): ReNode =>
  mapRepeats(n, (r) => (r.lazy === true && r.min === r.max ? { ...r, body: lazified(r.body) } : { ...r, body: preferShortParts(r.body) }))

const refuse = (what: string): SluiceError =>
  new SluiceError('unsupported', SqlState.featureNotSupported, `${what} are not supported in patterns whose groups are reported`, {
    hint: 'Sluice reports submatches only where PostgreSQL\'s rules for them are followed exactly; use (?:...) for groups you do not need reported.',
  })

/** Refuses the constructs whose submatches this matcher could report differently from PostgreSQL. */
function checkGroups(n: ReNode, inRepeat: boolean): void {
  switch (n.kind) {
    case 'empty':
    case 'set':
    case 'assert':
      return
    case 'concat':
      if (n.capture !== undefined && inRepeat) throw refuse('captured groups inside a repetition that can match the empty string')
      for (const i of n.items) checkGroups(i, inRepeat)
      return
    case 'alt':
      if (fixedLength(n) === undefined) throw refuse('alternatives of different lengths')
      for (const b of n.branches) checkGroups(b, inRepeat)
      return
    case 'repeat':
      checkGroups(n.body, inRepeat || (nullable(n.body) && n.max > 1))
      return
  }
}

const groupCount = (n: ReNode): number => {
  switch (n.kind) {
    case 'empty':
    case 'set':
    case 'assert':
      return 0
    case 'concat':
      return Math.max(n.capture ?? 0, ...n.items.map(groupCount))
    case 'alt':
      return Math.max(0, ...n.branches.map(groupCount))
    case 'repeat':
      return groupCount(n.body)
  }
}

/** A compiled pattern: the automaton with group marks, its greediness and group count. */
export class SpanMatcher {
  readonly groups: number
  private readonly op: Uint8Array
  private readonly x: Int32Array
  private readonly y: Int32Array
  private readonly sets: SetTester[]
  private readonly lazy: boolean
  /** The same pattern for `~`: whether there is a match at all. */
  private readonly quick: TextMatcher
  // Work space of the span pass, reused by every call (a call never re-enters another).
  private readonly mark: Int32Array
  private generation = 0
  private readonly stack: Int32Array
  private readonly curPc: Int32Array
  private readonly nxtPc: Int32Array
  private readonly curStart: Float64Array
  private readonly nxtStart: Float64Array

  constructor(pattern: string, caseInsensitive: boolean) {
    const parsed = parseRegex(pattern, caseInsensitive)
    this.quick = compileRegex(pattern, caseInsensitive)
    const ci = parsed.caseInsensitive
    const node = preferShortParts(parsed.node)
    this.groups = groupCount(node)
    if (this.groups > 0) checkGroups(node, false)
    this.lazy = greediness(parsed.node) === 'lazy'
    const { op, x, y, sets } = buildProgram(node, ci, true)
    this.op = op
    this.x = x
    this.y = y
    this.sets = sets
    const n = op.length
    this.mark = new Int32Array(n)
    this.stack = new Int32Array(2 * n + 2)
    this.curPc = new Int32Array(n)
    this.nxtPc = new Int32Array(n)
    this.curStart = new Float64Array(n)
    this.nxtStart = new Float64Array(n)
  }

  /** The first match at or after `from` (a UTF-16 offset), with its groups; undefined when there is none. */
  exec(text: string, from = 0): Match | undefined {
    // Most texts do not match: the yes/no matcher (a required literal, skipping characters that cannot start
    // a match) says so faster than the span pass.
    if (from === 0 && !this.quick.test(text)) return undefined
    const span = this.span(text, from)
    if (span === undefined) return undefined
    return { ...span, groups: this.groups === 0 ? [] : this.fit(text, span) }
  }

  /**
   * The leftmost match, longest or shortest as the RE's greediness says. Threads carry their start; a state
   * reached twice at one position keeps the earlier start, so the work per character is bounded by the
   * number of states.
   */
  private span(text: string, from: number): Span | undefined {
    const { x, y, mark } = this
    let curPc = this.curPc
    let curStart = this.curStart
    let nxtPc = this.nxtPc
    let nxtStart = this.nxtStart
    let curLen = 0
    this.best = undefined
    let best: Span | undefined
    let pos = from
    let prev = from > 0 ? text.codePointAt(from - 1 - (from >= 2 && isLowSurrogate(text.charCodeAt(from - 1)) ? 1 : 0))! : -1
    if (this.generation > 0x3fffffff) {
      mark.fill(0)
      this.generation = 0
    }
    let g = ++this.generation
    const lazy = this.lazy
    for (;;) {
      const c = pos < text.length ? text.codePointAt(pos)! : -1
      if (best === undefined) {
        // A thread beginning here; states the earlier threads hold at this offset (marked with `g`) stay theirs.
        curLen = this.add(0, pos, curPc, curStart, curLen, pos, prev, c, g)
        best = this.best
      } else {
        // Threads begun after the match found cannot be leftmost; a lazy RE's match is final once found.
        let kept = 0
        for (let i = 0; i < curLen; i++) {
          const st = curStart[i]!
          if (st > best.start || (lazy && st >= best.start)) continue
          curPc[kept] = curPc[i]!
          curStart[kept++] = st
        }
        curLen = kept
      }
      if (c < 0 || (curLen === 0 && best !== undefined)) return best
      const nextPos = pos + (c > 0xffff ? 2 : 1)
      const after = nextPos < text.length ? text.codePointAt(nextPos)! : -1
      g = ++this.generation
      let nxtLen = 0
      for (let i = 0; i < curLen; i++) {
        const pc = curPc[i]!
        if (this.sets[x[pc]!]!.test(c)) nxtLen = this.add(y[pc]!, curStart[i]!, nxtPc, nxtStart, nxtLen, nextPos, c, after, g)
      }
      best = this.best
      const tp = curPc
      curPc = nxtPc
      nxtPc = tp
      const ts = curStart
      curStart = nxtStart
      nxtStart = ts
      curLen = nxtLen
      pos = nextPos
      prev = c
    }
  }

  /** The best match the span pass has found so far. */
  private best: Span | undefined

  /** Adds the closure of `pc0` for a thread begun at `start`, at offset `at` between `prevCp` and `nextCp`. */
  private add(pc0: number, start: number, into: Int32Array, intoStart: Float64Array, len: number, at: number, prevCp: number, nextCp: number, g: number): number {
    const { op, x, y, mark, stack } = this
    let sp = 0
    stack[sp++] = pc0
    while (sp > 0) {
      const pc = stack[--sp]!
      if (mark[pc] === g) continue
      mark[pc] = g
      switch (op[pc]) {
        case OP_SET:
          into[len] = pc
          intoStart[len++] = start
          break
        case OP_SPLIT:
          stack[sp++] = y[pc]!
          stack[sp++] = x[pc]!
          break
        case OP_JMP:
          stack[sp++] = x[pc]!
          break
        case OP_SAVE:
          stack[sp++] = y[pc]!
          break
        case OP_ASSERT:
          if (assertionHolds(x[pc]!, prevCp, nextCp)) stack[sp++] = y[pc]!
          break
        case OP_MATCH: {
          const best = this.best
          if (best === undefined || start < best.start || (start === best.start && !this.lazy && at > best.end)) this.best = { start, end: at }
          break
        }
      }
    }
    return len
  }

  /**
   * The groups of the match `span`: a pass over exactly its characters whose threads are kept in preference
   * order (each quantifier from the left as long, or short, as the rest allows), the first thread to end at
   * the span's end giving the groups. Threads carry their group offsets; linear in the span's length.
   */
  private fit(text: string, span: Span): (Span | undefined)[] {
    const x = this.x
    const slots = 2 * (this.groups + 1)
    let cur: FitThread[] = []
    this.found = undefined
    this.fitEnd = span.end
    let pos = span.start
    const prev = pos > 0 ? text.codePointAt(pos - 1 - (pos >= 2 && isLowSurrogate(text.charCodeAt(pos - 1)) ? 1 : 0))! : -1
    let c = pos < text.length ? text.codePointAt(pos)! : -1
    this.follow(0, new Int32Array(slots).fill(-1), cur, pos, prev, c, ++this.generation)
    while (this.found === undefined && pos < span.end) {
      const nextPos = pos + (c > 0xffff ? 2 : 1)
      const after = nextPos < text.length ? text.codePointAt(nextPos)! : -1
      const g = ++this.generation
      const nxt: FitThread[] = []
      for (const t of cur) if (this.sets[x[t.pc]!]!.test(c)) this.follow(this.y[t.pc]!, t.caps, nxt, nextPos, c, after, g)
      cur = nxt
      pos = nextPos
      c = after
    }
    const caps = this.found ?? new Int32Array(slots).fill(-1)
    const out: (Span | undefined)[] = []
    for (let g = 1; g <= this.groups; g++) {
      const s = caps[2 * g]!
      const e = caps[2 * g + 1]!
      out.push(s < 0 || e < 0 ? undefined : { start: s, end: e })
    }
    return out
  }

  /** The groups of the thread that first ends the fitting pass at the match's end. */
  private found: Int32Array | undefined
  private fitEnd = 0

  /** Follows the empty moves from `pc0` in preference order, threads reaching character states into `out`. */
  private follow(pc0: number, caps0: Int32Array, out: FitThread[], at: number, prevCp: number, nextCp: number, g: number): void {
    const { op, x, y, mark } = this
    const stack: FitThread[] = [{ pc: pc0, caps: caps0 }]
    while (stack.length > 0) {
      const t = stack.pop()!
      const pc = t.pc
      if (mark[pc] === g) continue
      mark[pc] = g
      switch (op[pc]) {
        case OP_SET:
          out.push(t)
          break
        case OP_SPLIT:
          stack.push({ pc: y[pc]!, caps: t.caps }, { pc: x[pc]!, caps: t.caps })
          break
        case OP_JMP:
          stack.push({ pc: x[pc]!, caps: t.caps })
          break
        case OP_SAVE: {
          const copy = t.caps.slice()
          copy[x[pc]!] = at
          stack.push({ pc: y[pc]!, caps: copy })
          break
        }
        case OP_ASSERT:
          if (assertionHolds(x[pc]!, prevCp, nextCp)) stack.push({ pc: y[pc]!, caps: t.caps })
          break
        case OP_MATCH:
          if (at === this.fitEnd && this.found === undefined) this.found = t.caps
          break
      }
    }
  }

}

const isLowSurrogate = (u: number): boolean => u >= 0xdc00 && u <= 0xdfff

/** A thread of the fitting pass: its state and the group offsets it has recorded. */
interface FitThread {
  readonly pc: number
  readonly caps: Int32Array
}

const cache = new Map<string, SpanMatcher>()

/** The matcher of a pattern, cached (patterns are mostly constants of a statement). */
export function spanMatcher(pattern: string, caseInsensitive: boolean): SpanMatcher {
  const key = (caseInsensitive ? 'i:' : 's:') + pattern
  let m = cache.get(key)
  if (m === undefined) {
    m = new SpanMatcher(pattern, caseInsensitive)
    if (cache.size > 1000) cache.clear()
    cache.set(key, m)
  }
  return m
}
