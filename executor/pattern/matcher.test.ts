/**
 * Matching semantics from one start row: preference order (greedy, reluctant, alternation, PERMUTE),
 * anchors, empty matches and empty loops, exclusion, DEFINE conditions that read the partial match, and the
 * cost guards. Expected results follow SQL:2016 as Trino's and Oracle's documentation and tests show it;
 * rows are 0-based here.
 */
import { describe, expect, it } from 'vitest'
import { SluiceError } from '../../common/errors.ts'
import { parseRowPattern } from '../../parser/match-recognize/parse-pattern.ts'
import {
  compilePattern,
  describeProgram,
  matchPartition,
  matchView,
  outputRows,
  type DefineResult,
  type MatchView,
  type PartitionRun,
  type PatternMatch,
  type PatternOptions,
} from './pattern.ts'
import { permutations } from './program.ts'
import { eventsText } from './events-text.ts'

type Condition = (row: number, ctx: MatchView) => DefineResult

function compile(pattern: string, define: Record<string, Condition> = {}, options: PatternOptions = {}) {
  return compilePattern(parseRowPattern(pattern), { ...options, defined: Object.keys(define) })
}

/** Runs `pattern` over `rowCount` rows, all known (final). */
function run(pattern: string, rowCount: number, define: Record<string, Condition> = {}, options: PatternOptions = {}): PartitionRun {
  return matchPartition(compile(pattern, define, options), { rowCount, final: true, define: (v, row, ctx) => define[v]!(row, ctx) })
}

/** `#n start: a b {c}` for a match (braces: excluded, `()`: empty), `- row` for an unmatched row. */
const show = eventsText


const events = (pattern: string, rowCount: number, define: Record<string, Condition> = {}, options: PatternOptions = {}): string[] =>
  show(run(pattern, rowCount, define, options).events)

/** Conditions comparing a row's value with the previous row's (false on the first row, as PREV is NULL there). */
const below = (v: readonly number[]): Condition => (r) => r > 0 && v[r]! < v[r - 1]!
const atMost = (v: readonly number[]): Condition => (r) => r > 0 && v[r]! <= v[r - 1]!
const above = (v: readonly number[]): Condition => (r) => r > 0 && v[r]! > v[r - 1]!

const FALLING = [90, 80, 70, 70]
const ZIGZAG = [90, 80, 70, 80, 90, 50, 40, 60]

describe('preference order', () => {
  it('concatenates, with greedy quantifiers taking as many rows as they can', () => {
    expect(events('A B+ C+', ZIGZAG.length, { b: below(ZIGZAG), c: above(ZIGZAG) })).toEqual(['#1 0: a b b c c', '#2 5: a b c'])
  })

  it('prefers the left branch of an alternation', () => {
    expect(events('B | C | A', FALLING.length, { b: below(FALLING), c: atMost(FALLING) })).toEqual(['#1 0: a', '#2 1: b', '#3 2: b', '#4 3: c'])
  })

  it('tries the orders of PERMUTE lexicographically in the listed items', () => {
    expect(events('PERMUTE(B, C)', FALLING.length, { b: below(FALLING), c: below(FALLING) })).toEqual(['- 0', '#1 1: b c', '- 3'])
    const letters = ['B', 'A', 'C']
    const is = (l: string): Condition => (r) => letters[r] === l
    expect(events('PERMUTE(A, B, C)', 3, { a: is('A'), b: is('B'), c: is('C') })).toEqual(['#1 0: b a c'])
    expect(events('PERMUTE(A, B, C)', 3)).toEqual(['#1 0: a b c'])
    expect(events('PERMUTE(C, A)', 2)).toEqual(['#1 0: c a'])
    const cab = ['C', 'A', 'B']
    const at = (l: string): Condition => (r) => cab[r] === l
    expect(events('PERMUTE(A B, C)', 3, { a: at('A'), b: at('B'), c: at('C') })).toEqual(['#1 0: c a b'])
    expect([...permutations(3)]).toEqual([
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ])
  })

  it('matches groups like their contents', () => {
    expect(events('((A) (B (C)))', FALLING.length, { b: below(FALLING), c: (r) => r > 0 && FALLING[r] === FALLING[r - 1] })).toEqual(['- 0', '#1 1: a b c'])
  })

  // Trino's quantifier table over values 90, 80, 70, 70 with B AS value <= PREV(value).
  it.each([
    ['B*', ['#1 0: ()', '#2 1: b b b']],
    ['B*?', ['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()']],
    ['B+', ['- 0', '#1 1: b b b']],
    ['B+?', ['- 0', '#1 1: b', '#2 2: b', '#3 3: b']],
    ['B?', ['#1 0: ()', '#2 1: b', '#3 2: b', '#4 3: b']],
    ['B??', ['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()']],
    ['B{,}', ['#1 0: ()', '#2 1: b b b']],
    ['B{,}?', ['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()']],
    ['B{1,}?', ['- 0', '#1 1: b', '#2 2: b', '#3 3: b']],
    ['B{2,}', ['- 0', '#1 1: b b b']],
    ['B{2,}?', ['- 0', '#1 1: b b', '- 3']],
    ['B{5,}', ['- 0', '- 1', '- 2', '- 3']],
    ['B{,1}', ['#1 0: ()', '#2 1: b', '#3 2: b', '#4 3: b']],
    ['B{,2}', ['#1 0: ()', '#2 1: b b', '#3 3: b']],
    ['B{,2}?', ['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()']],
    ['B{1,5}', ['- 0', '#1 1: b b b']],
    ['B{1,5}?', ['- 0', '#1 1: b', '#2 2: b', '#3 3: b']],
    ['B{5,7}', ['- 0', '- 1', '- 2', '- 3']],
    ['B{2}', ['- 0', '#1 1: b b', '- 3']],
    ['B{2}?', ['- 0', '#1 1: b b', '- 3']],
    ['B{0}', ['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()']],
  ])('quantifier %s', (pattern, expected) => {
    expect(events(pattern, FALLING.length, { b: atMost(FALLING) })).toEqual(expected)
  })

  it('lets a reluctant quantifier grow only as far as the rest needs', () => {
    // Oracle's deep dive: A+? B+ takes one A and leaves the rest to B; A+ B+ takes all but the last row.
    const v = [1, 2, 3, 4, 5]
    const up: Condition = (r) => r === 0 || v[r]! > v[r - 1]!
    expect(events('A+? B+', 5, { a: up, b: up })).toEqual(['#1 0: a b b b b'])
    expect(events('A+ B+', 5, { a: up, b: up })).toEqual(['#1 0: a a a a b'])
    expect(events('A*? B{2}', 5, { a: up, b: up })).toEqual(['#1 0: b b', '#2 2: b b', '- 4'])
    expect(events('(A | B)+? C', 4, { c: (r) => r === 3 })).toEqual(['#1 0: a a a c'])
  })
})

describe('anchors', () => {
  it('matches ^ only at the first row of the partition and $ only after the last', () => {
    expect(events('^A', 4)).toEqual(['#1 0: a', '- 1', '- 2', '- 3'])
    expect(events('A$', 4)).toEqual(['- 0', '- 1', '- 2', '#1 3: a'])
    for (const never of ['A^', '^A^', '$A', '$A$']) expect(events(never, 4).every((e) => e.startsWith('-'))).toBe(true)
    expect(events('^A+$', 3)).toEqual(['#1 0: a a a'])
  })

  it('quantifies anchors as zero-width items (Trino)', () => {
    const b = { b: below(FALLING) }
    expect(events('^* | B', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('^+ | B', 4, b)).toEqual(['#1 0: ()', '#2 1: b', '#3 2: b', '- 3'])
    expect(events('^* A B', 4, b)).toEqual(['#1 0: a b', '- 2', '- 3'])
    expect(events('$* | B', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('$+ | B', 4, b)).toEqual(['- 0', '#1 1: b', '#2 2: b', '- 3'])
    expect(events('B A $+', 4, { b: atMost(FALLING) })).toEqual(['- 0', '- 1', '#1 2: b a'])
  })
})

describe('empty matches and empty loops', () => {
  const b = { b: below(FALLING) }

  it('stops loops whose body matches no row (Trino)', () => {
    expect(events('()* | B', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('()+ | B', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('(){5,} | B', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('B | ()*', 4, b)).toEqual(['#1 0: ()', '#2 1: b', '#3 2: b', '#4 3: ()'])
    expect(events('(B ()*)*', 4, b)).toEqual(['#1 0: ()', '#2 1: b b', '#3 3: ()'])
    expect(events('(B ()*)*?', 4, b)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()', '#4 3: ()'])
    expect(events('(B? C?)* D', 4, { b: below(FALLING), c: () => false, d: (r) => r === 3 })).toEqual(['- 0', '#1 1: b b d'])
  })

  it('prefers the empty branch of () | A, as written', () => {
    expect(events('() | A', 3)).toEqual(['#1 0: ()', '#2 1: ()', '#3 2: ()'])
  })
})

describe('exclusion', () => {
  // Trino's exclusion tests over 90, 80, 70, 80, 90, 50, 40, 60 with B falling and C rising.
  const define = { b: below(ZIGZAG), c: above(ZIGZAG) }
  const shown = (pattern: string): number[] =>
    outputRows(run(pattern, ZIGZAG.length, define).events, { kind: 'all_rows', mode: 'show_empty_matches' }).flatMap((o) => (o.kind === 'match_row' ? [o.row] : []))

  it('marks excluded rows and leaves them out of ALL ROWS PER MATCH', () => {
    expect(events('A {- B+ -} C+', ZIGZAG.length, define)).toEqual(['#1 0: a {b} {b} c c', '#2 5: a {b} c'])
    expect(shown('A B+ C+')).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(shown('A {- B+ -} C+')).toEqual([0, 3, 4, 5, 7])
    expect(shown('{- A -} {- B+ -} C+')).toEqual([3, 4, 7])
    expect(shown('A {- {- B+ -} C+ -}')).toEqual([0, 5])
    expect(shown('{- A B+ C+ -}')).toEqual([])
    expect(shown('A B+ {- ()* -} C+')).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(shown('A {- B -}+ {- C -}+')).toEqual([0, 5])
    expect(shown('A {- B -}* {- C -}*')).toEqual([0, 5])
    expect(shown('A {- B -}{1,2} {- C -}{1,2}')).toEqual([0, 5])
    expect(shown('A {- C -}{2,3} {- B -}{2,3}')).toEqual([2])
    expect(events('A {- C -}{2,3} {- B -}{2,3}', ZIGZAG.length, define)).toEqual(['- 0', '- 1', '#1 2: a {c} {c} {b} {b}', '- 7'])
  })
})

describe('DEFINE conditions that read the match', () => {
  it('sees the row under test already mapped to its variable, and only the rows before it', () => {
    const seen: string[] = []
    const b: Condition = (row, ctx) => {
      seen.push(`${row}:${ctx.rowsOf('b').join(',')}|${ctx.rowsOf('a').join(',')}|${ctx.rowsOf().join(',')}|${ctx.classifier()}|${ctx.current}`)
      return row < 3
    }
    expect(events('A B+', 4, { b })).toEqual(['#1 0: a b b', '- 3'])
    // CLASSIFIER() gives the name as written in the pattern.
    expect(seen).toEqual(['1:1|0|0,1|B|1', '2:1,2|0|0,1,2|B|2', '3:1,2,3|0|0,1,2,3|B|3'])
  })

  it('navigates back to other variables (Trino back references)', () => {
    const one = [1, 1]
    const equalsLast = (variable: string): Condition => (r, ctx) => {
      const last = ctx.last(variable)
      return last !== undefined && one[r] === one[last]
    }
    expect(events('(A | B)* X', 2, { x: equalsLast('a') })).toEqual(['#1 0: a x'])
    expect(events('(A | B)* X', 2, { x: equalsLast('b') })).toEqual(['#1 0: b x'])

    // X AS value = PREV(LAST(A.value), 3) + FIRST(A.value) + PREV(LAST(B.value), 2) over values 1..6.
    const value = (row: number | undefined): number | undefined => (row === undefined || row < 0 ? undefined : row + 1)
    const x: Condition = (r, ctx) => {
      const la = ctx.last('a')
      const lb = ctx.last('b')
      const terms = [value(la === undefined ? undefined : la - 3), value(ctx.first('a')), value(lb === undefined ? undefined : lb - 2)]
      return terms.every((t) => t !== undefined) && value(r) === terms.reduce((s, t) => s! + t!, 0)
    }
    expect(events('(A | B)* X', 6, { x })).toEqual(['#1 0: b a a a b x'])
  })

  it('reads union variables and classifiers (Trino back references with SUBSET)', () => {
    // X AS PREV(CLASSIFIER(U), 1) = 'A' AND LAST(CLASSIFIER(), 3) = 'B' AND FIRST(CLASSIFIER(U)) = 'B'
    const x: Condition = (_r, ctx) => {
      const lastU = ctx.last('u')
      return lastU !== undefined && ctx.classifier(lastU - 1) === 'A' && ctx.classifier(ctx.last(undefined, 3)) === 'B' && ctx.classifier(ctx.first('u')) === 'B'
    }
    expect(events('(A | B)* X $', 5, { x }, { subsets: { u: ['a', 'b'] } })).toEqual(['#1 0: b b a a x'])
  })

  it('gives MEASURES a view of a match, FINAL or RUNNING up to a row', () => {
    // Trino's union variable test: PATTERN ((L | H) A), SUBSET U = (L, H), W = (A, L, H).
    const v = [90, 80, 70, 80]
    const compiled = compile('(L | H) A', { a: (r) => v[r] === 80, l: (r) => v[r]! < 80, h: (r) => v[r]! > 80 }, { subsets: { u: ['l', 'h'], w: ['a', 'l', 'h'] } })
    const result = matchPartition(compiled, { rowCount: 4, final: true, define: (name, r) => ({ a: v[r] === 80, l: v[r]! < 80, h: v[r]! > 80 })[name]! })
    const matches = result.events.filter((e): e is PatternMatch => e.kind === 'match')
    const perRow = matches.flatMap((m) =>
      [m.start, m.start + 1].map((row) => {
        const view = matchView(compiled, m, row)
        return [row, m.number, view.classifier(view.last('u')), view.classifier(view.last('w'))]
      }),
    )
    expect(perRow).toEqual([
      [0, 1, 'H', 'H'],
      [1, 1, 'H', 'A'],
      [2, 2, 'L', 'L'],
      [3, 2, 'L', 'A'],
    ])
    const final = matchView(compiled, matches[0]!)
    expect([final.count(), final.count('a'), final.first('w'), final.last('w', 1), final.first('a', 1), final.matchNumber]).toEqual([2, 1, 0, 0, undefined, 1])
    expect(() => final.rowsOf('nope')).toThrow(SluiceError)
  })
})

describe('cost guards', () => {
  it('does not repeat failed sub-searches when conditions do not read the match', () => {
    // (A | B)* C with A and B always true and C never: 2^n paths without memoization.
    const calls = { c: 0 }
    const result = run('(A | B)* C', 300, { c: () => (calls.c++, false) }, { maxStepsPerStart: 200_000 })
    expect(result.events).toHaveLength(300)
    expect(result.events.every((e) => e.kind === 'unmatched')).toBe(true)
    // Each (row, variable) condition result that does not depend on the match is computed once per run.
    expect(calls.c).toBe(300)
  })

  it('stops a search that exceeds its step budget with SQLSTATE 54001', () => {
    const reading: Condition = (_r, ctx) => ctx.count() >= 0
    let error: unknown
    try {
      run('(A | B)* C', 40, { a: reading, b: reading, c: () => false }, { maxStepsPerStart: 50_000 })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(SluiceError)
    expect(error).toMatchObject({ sqlstate: '54001', category: 'execution' })
  })

  it('limits the size of the expanded program', () => {
    expect(() => compile('A{200000}')).toThrow(expect.objectContaining({ sqlstate: '54001' }))
    expect(() => compile('PERMUTE(A, B, C, D, E, F, G, H, I)')).toThrow(expect.objectContaining({ sqlstate: '54001' }))
    expect(() => compile('A{2,5}', {}, { maxInstructions: 4 })).toThrow(/more than 4 instructions/)
  })

  it('compiles to a readable program', () => {
    // Loops close with a split back to their body, as Trino lays them out.
    expect(describeProgram(compile('A B* | (C?)*?')).split('\n')).toEqual([
      '0: split 1, 6',
      '1: row a',
      '2: split 3, 5',
      '3: row b',
      '4: split 3, 5',
      '5: jump 10',
      '6: split 10, 7',
      '7: split 8, 9',
      '8: row c',
      '9: split 10, 7',
      '10: accept',
    ])
    expect(describeProgram(compile('{- A -} ^ $'))).toBe('0: row a (excluded)\n1: partition_start\n2: partition_end\n3: accept')
  })

  it('rejects options that do not fit the pattern', () => {
    expect(() => compile('A', {}, { skip: { kind: 'to_first', variable: 'z' } })).toThrow(expect.objectContaining({ sqlstate: '42P10' }))
    expect(() => compile('A', {}, { subsets: { u: ['z'] } })).toThrow(expect.objectContaining({ sqlstate: '42P10' }))
    expect(() => compilePattern(parseRowPattern('A'), { defined: ['z'] })).toThrow(expect.objectContaining({ sqlstate: '42P10' }))
    expect(() => compile('A', {}, { within: 0 })).toThrow(expect.objectContaining({ sqlstate: '22023' }))
  })
})

describe('events', () => {
  it('are plain data', () => {
    const e = run('A B+ C+', ZIGZAG.length, { b: below(ZIGZAG), c: above(ZIGZAG) }).events
    expect(JSON.parse(JSON.stringify(e))).toEqual(e)
  })
})
