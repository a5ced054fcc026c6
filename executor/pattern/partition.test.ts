/**
 * Matching over a partition: AFTER MATCH SKIP, ROWS PER MATCH output, worked examples from the Oracle,
 * Trino and Snowflake documentation, incremental (streaming) input and WITHIN with timeouts. Rows are
 * 0-based; `#n start: vars` is a match, `- row` an unmatched row, `~ start: vars @deadline` a timeout.
 */
import { describe, expect, it } from 'vitest'
import { parseMatchRecognizeText } from '../../parser/match-recognize/parse.ts'
import { parseRowPattern } from '../../parser/match-recognize/parse-pattern.ts'
import {
  compileMatchRecognize,
  compilePattern,
  INITIAL_PARTITION_STATE,
  matchPartition,
  matchView,
  outputRows,
  type CompiledPattern,
  type DefineFn,
  type DefineResult,
  type MatchView,
  type OutputRow,
  type PartitionInput,
  type PatternEvent,
  type PatternMatch,
  type PatternOptions,
  type RowsPerMatchMode,
} from './pattern.ts'
import { eventsText } from './events-text.ts'

type Condition = (row: number, ctx: MatchView) => DefineResult

function compile(pattern: string, define: Record<string, Condition> = {}, options: PatternOptions = {}): CompiledPattern {
  return compilePattern(parseRowPattern(pattern), { ...options, defined: Object.keys(define) })
}

const defineFn = (define: Record<string, Condition>): DefineFn => (v, row, ctx) => define[v]!(row, ctx)

const show = eventsText


function events(pattern: string, rowCount: number, define: Record<string, Condition> = {}, options: PatternOptions = {}): string[] {
  return show(matchPartition(compile(pattern, define, options), { rowCount, final: true, define: defineFn(define) }).events)
}

/** `row:match:classifier` per output row (`-` where there is none), as an ALL ROWS PER MATCH listing. */
function listing(rows: readonly OutputRow[]): string[] {
  return rows.map((o) => {
    switch (o.kind) {
      case 'summary':
        return `summary:${o.match.number}:${o.match.end - o.match.start}`
      case 'match_row':
        return `${o.row}:${o.match.number}:${o.match.classifiers[o.row - o.match.start]}`
      case 'empty_match':
        return `${o.row}:${o.match.number}:-`
      case 'unmatched':
        return `${o.row}:-:-`
    }
  })
}

/**
 * Feeds rows one at a time (final only at the end), carrying the state, and returns every event: what a
 * streaming operator would emit.
 */
function incremental(compiled: CompiledPattern, rowCount: number, define: DefineFn, extra: Partial<PartitionInput> = {}): PatternEvent[] {
  const out: PatternEvent[] = []
  let state = INITIAL_PARTITION_STATE
  for (let known = 1; known <= rowCount; known++) {
    const run = matchPartition(compiled, { rowCount: known, final: false, define, ...extra }, state)
    out.push(...run.events)
    state = run.state
  }
  out.push(...matchPartition(compiled, { rowCount, final: true, define, ...extra }, state).events)
  return out
}

const below = (v: readonly number[]): Condition => (r) => r > 0 && v[r]! < v[r - 1]!
const above = (v: readonly number[]): Condition => (r) => r > 0 && v[r]! > v[r - 1]!

describe('AFTER MATCH SKIP', () => {
  // Trino's test: 90, 80, 70, 80, 70, 80; PATTERN (A B+ C+ D?) SUBSET U = (C, D); B falls, C rises, D never.
  const v = [90, 80, 70, 80, 70, 80]
  const define = { b: below(v), c: above(v), d: () => false }
  const skipped = (skip: PatternOptions['skip']) => events('A B+ C+ D?', v.length, define, { skip, subsets: { u: ['c', 'd'] } })

  it('PAST LAST ROW resumes after the match; rows passed over are not unmatched', () => {
    expect(skipped({ kind: 'past_last_row' })).toEqual(['#1 0: a b b c', '- 4', '- 5'])
  })

  it('TO NEXT ROW resumes at the second row of the match', () => {
    expect(skipped({ kind: 'to_next_row' })).toEqual(['#1 0: a b b c', '#2 1: a b c', '#3 3: a b c'])
  })

  it('TO FIRST / TO LAST resume at a row of a primary or union variable', () => {
    expect(skipped({ kind: 'to_first', variable: 'c' })).toEqual(['#1 0: a b b c', '#2 3: a b c'])
    expect(skipped({ kind: 'to_last', variable: 'b' })).toEqual(['#1 0: a b b c', '#2 3: a b c'])
    expect(skipped({ kind: 'to_last', variable: 'u' })).toEqual(['#1 0: a b b c', '#2 3: a b c'])
  })

  it('fails on resuming at the first row of the match (2202L) or at a variable with no row (2202K)', () => {
    expect(() => skipped({ kind: 'to_last', variable: 'a' })).toThrow(expect.objectContaining({ sqlstate: '2202L', category: 'execution' }))
    expect(() => skipped({ kind: 'to_first', variable: 'd' })).toThrow(expect.objectContaining({ sqlstate: '2202K', category: 'execution' }))
  })

  it('moves one row on after an empty match whatever the mode, and numbers empty matches', () => {
    const b = { b: below([90, 80, 70, 70]) }
    expect(events('B*', 4, b, { skip: { kind: 'to_next_row' } })).toEqual(['#1 0: ()', '#2 1: b b', '#3 2: b', '#4 3: ()'])
    expect(events('B*', 4, b, { skip: { kind: 'past_last_row' } })).toEqual(['#1 0: ()', '#2 1: b b', '#3 3: ()'])
    // SKIP TO applies to non-empty matches only: the empty ones move on, the non-empty one fails (2202L).
    expect(() => events('B*', 4, b, { skip: { kind: 'to_first', variable: 'b' } })).toThrow(expect.objectContaining({ sqlstate: '2202L' }))
  })
})

describe('ROWS PER MATCH output', () => {
  // Trino's output mode tests: 90, 80, 70, 70 with B AS value < PREV(value).
  const v = [90, 80, 70, 70]
  const out = (pattern: string, mode?: RowsPerMatchMode) => listing(outputRows(matchPartition(compile(pattern, { b: below(v) }), { rowCount: 4, final: true, define: defineFn({ b: below(v) }) }).events, mode))

  it('ONE ROW PER MATCH: one row per match, empty matches included, no unmatched rows', () => {
    expect(out('B*')).toEqual(['summary:1:0', 'summary:2:2', 'summary:3:0'])
    expect(out('B*', { kind: 'one_row' })).toEqual(['summary:1:0', 'summary:2:2', 'summary:3:0'])
    expect(out('B+')).toEqual(['summary:1:2'])
  })

  it('ALL ROWS PER MATCH: SHOW EMPTY MATCHES by default, OMIT EMPTY MATCHES, WITH UNMATCHED ROWS', () => {
    expect(out('B*', { kind: 'all_rows', mode: 'show_empty_matches' })).toEqual(['0:1:-', '1:2:b', '2:2:b', '3:3:-'])
    expect(out('B+', { kind: 'all_rows', mode: 'show_empty_matches' })).toEqual(['1:1:b', '2:1:b'])
    expect(out('B*', { kind: 'all_rows', mode: 'omit_empty_matches' })).toEqual(['1:2:b', '2:2:b'])
    expect(out('B+', { kind: 'all_rows', mode: 'with_unmatched_rows' })).toEqual(['0:-:-', '1:1:b', '2:1:b', '3:-:-'])
  })

  it('counts rows of overlapping matches as matched, not unmatched (Trino empty-match test)', () => {
    const w = [100, 100, 90, 80, 70, 100]
    const compiled = compile('A B{2}', { b: below(w) }, { skip: { kind: 'to_next_row' } })
    const run = matchPartition(compiled, { rowCount: w.length, final: true, define: defineFn({ b: below(w) }) })
    expect(listing(outputRows(run.events, { kind: 'all_rows', mode: 'with_unmatched_rows' }))).toEqual(['0:-:-', '1:1:a', '2:1:b', '3:1:b', '2:2:a', '3:2:b', '4:2:b', '5:-:-'])
  })

  it('takes its mode from the parsed clause', () => {
    const clause = parseMatchRecognizeText('(ALL ROWS PER MATCH OMIT EMPTY MATCHES PATTERN (b*) DEFINE b AS value < PREV(value))')
    const compiled = compileMatchRecognize(clause)
    const run = matchPartition(compiled, { rowCount: 4, final: true, define: defineFn({ b: below(v) }) })
    expect(listing(outputRows(run.events, clause.rowsPerMatch))).toEqual(['1:2:b', '2:2:b'])
  })
})

/** Oracle's Ticker table, symbol ACME, 1-20 April 2011 (one row per day). */
const ACME = [12, 17, 19, 21, 25, 12, 15, 20, 24, 25, 19, 15, 25, 25, 14, 12, 14, 24, 23, 22]
const day = (row: number | undefined): string => (row === undefined ? '-' : `${String(row + 1).padStart(2, '0')}-APR-11`)

describe('documented examples', () => {
  const tickerDefine = { down: below(ACME), up: above(ACME) }

  it('finds the V shapes of Oracle example 20-1 (PATTERN (STRT DOWN+ UP+), SKIP TO LAST UP)', () => {
    const clause = parseMatchRecognizeText(`MATCH_RECOGNIZE (
      PARTITION BY symbol ORDER BY tstamp
      MEASURES STRT.tstamp AS start_tstamp, LAST(DOWN.tstamp) AS bottom_tstamp, LAST(UP.tstamp) AS end_tstamp
      ONE ROW PER MATCH AFTER MATCH SKIP TO LAST UP
      PATTERN (STRT DOWN+ UP+)
      DEFINE DOWN AS DOWN.price < PREV(DOWN.price), UP AS UP.price > PREV(UP.price)) MR`)
    const compiled = compileMatchRecognize(clause)
    const run = matchPartition(compiled, { rowCount: ACME.length, final: true, define: defineFn(tickerDefine) })
    const summaries = outputRows(run.events, clause.rowsPerMatch).map((o) => {
      if (o.kind !== 'summary') throw new Error('ONE ROW PER MATCH gives summaries')
      const view = matchView(compiled, o.match)
      return [day(view.first('strt')), day(view.last('down')), day(view.last('up'))]
    })
    expect(summaries).toEqual([
      ['05-APR-11', '06-APR-11', '10-APR-11'],
      ['10-APR-11', '12-APR-11', '13-APR-11'],
      ['14-APR-11', '16-APR-11', '18-APR-11'],
    ])
  })

  it('lists the V shapes row by row with RUNNING measures (Oracle example 20-2, ALL ROWS PER MATCH)', () => {
    const compiled = compile('STRT DOWN+ UP+', tickerDefine, { skip: { kind: 'to_last', variable: 'up' } })
    const run = matchPartition(compiled, { rowCount: ACME.length, final: true, define: defineFn(tickerDefine) })
    const rows = outputRows(run.events, { kind: 'all_rows', mode: 'show_empty_matches' }).map((o) => {
      if (o.kind !== 'match_row') throw new Error('only matched rows here')
      const running = matchView(compiled, o.match, o.row)
      return `${day(o.row)} ${o.match.number} ${o.match.classifiers[o.row - o.match.start]} ${running.count('up')}/${matchView(compiled, o.match).count('up')}`
    })
    expect(rows.slice(0, 6)).toEqual(['05-APR-11 1 strt 0/4', '06-APR-11 1 down 0/4', '07-APR-11 1 up 1/4', '08-APR-11 1 up 2/4', '09-APR-11 1 up 3/4', '10-APR-11 1 up 4/4'])
    expect(rows).toHaveLength(6 + 4 + 5)
  })

  it('finds the W shape of Oracle example 20-4', () => {
    expect(events('STRT DOWN+ UP+ DOWN+ UP+', ACME.length, tickerDefine, { skip: { kind: 'to_last', variable: 'up' } }).filter((e) => e.startsWith('#'))).toEqual([
      '#1 4: strt down up up up up down down up',
    ])
  })

  it('finds three losses in a row, then an optional win (the design example)', () => {
    const results = ['w', 'l', 'l', 'w', 'l', 'l', 'l', 'l', 'w', 'l', 'l', 'l']
    const define = { l: (r: number) => results[r] === 'l', w: (r: number) => results[r] === 'w' }
    const compiled = compile('L{3,} W?', define)
    expect(show(matchPartition(compiled, { rowCount: results.length, final: true, define: defineFn(define) }).events)).toEqual([
      '- 0',
      '- 1',
      '- 2',
      '- 3',
      '#1 4: l l l l w',
      '#2 9: l l l',
    ])
    // While the input is open, the last streak could still grow: it waits.
    const open = matchPartition(compiled, { rowCount: results.length, final: false, define: defineFn(define) })
    expect(show(open.events)).toEqual(['- 0', '- 1', '- 2', '- 3', '#1 4: l l l l w'])
    expect(open).toMatchObject({ needMore: true, state: { position: 9, matchNumber: 2, matchedThrough: 8 } })
  })

  it('finds V or inverted V shapes per partition, numbering matches from 1 in each', () => {
    const a = [10, 9, 8, 9, 10]
    const b = [5, 6, 5, 4, 5]
    const perPartition = [a, b].map((v) => events('STRT DOWN+ UP+ | STRT UP+ DOWN+', v.length, { down: below(v), up: above(v) }))
    expect(perPartition).toEqual([['#1 0: strt down down up up'], ['#1 0: strt up down down', '- 4']])
  })
})

describe('streaming', () => {
  const cases: [string, string, readonly number[], Record<string, (v: readonly number[]) => Condition>, PatternOptions][] = [
    ['V shapes', 'STRT DOWN+ UP+', ACME, { down: below, up: above }, { skip: { kind: 'to_last', variable: 'up' } }],
    ['greedy and reluctant', 'A B+? C*', ACME, { b: below, c: above }, {}],
    ['overlapping', 'A B{2}', ACME, { b: below }, { skip: { kind: 'to_next_row' } }],
    ['empty matches', 'B*', ACME, { b: above }, {}],
    ['anchored', '^ A B* | C $', ACME, { b: above, c: below }, {}],
    ['alternation', '(DOWN | UP){3,} UP', ACME, { down: below, up: above }, {}],
  ]

  it.each(cases)('emits the same events row by row as over the whole input: %s', (_name, pattern, v, conditions, options) => {
    const define = Object.fromEntries(Object.entries(conditions).map(([k, f]) => [k, f(v)]))
    const compiled = compile(pattern, define, options)
    const whole = matchPartition(compiled, { rowCount: v.length, final: true, define: defineFn(define) }).events
    expect(whole.length).toBeGreaterThan(0)
    expect(incremental(compiled, v.length, defineFn(define))).toEqual(whole)
  })

  it('waits when a greedy quantifier or $ could take a row not given yet, not when a reluctant one is done', () => {
    const v = [90, 80]
    const greedy = matchPartition(compile('A B+', { b: below(v) }), { rowCount: 2, final: false, define: defineFn({ b: below(v) }) })
    expect(greedy).toMatchObject({ events: [], needMore: true, state: INITIAL_PARTITION_STATE })
    const reluctant = matchPartition(compile('A B+?', { b: below(v) }), { rowCount: 2, final: false, define: defineFn({ b: below(v) }) })
    expect(show(reluctant.events)).toEqual(['#1 0: a b'])
    expect(reluctant).toMatchObject({ needMore: false, state: { position: 2, matchNumber: 2, matchedThrough: 1 } })
    const end = matchPartition(compile('A $'), { rowCount: 2, final: false })
    expect(show(end.events)).toEqual(['- 0'])
    expect(end).toMatchObject({ needMore: true, state: { position: 1 } })
  })

  it('decides a start row as soon as the data rules a path out, without waiting', () => {
    const v = [90, 95, 80]
    const run = matchPartition(compile('A B+', { b: below(v) }), { rowCount: 3, final: false, define: defineFn({ b: below(v) }) })
    // Row 0: B fails on row 1 for good. Row 1: B+ may extend past row 2, so it waits.
    expect(show(run.events)).toEqual(['- 0'])
    expect(run).toMatchObject({ needMore: true, state: { position: 1 } })
  })

  it('lets a condition ask for later rows (NEXT) and waits for them', () => {
    const v = [1, 2, 3, 2]
    const rising: Condition = (r) => (r + 1 < known ? v[r + 1]! > v[r]! : final ? false : 'need_more')
    let known = 2
    let final = false
    const compiled = compile('R+', { r: rising })
    const first = matchPartition(compiled, { rowCount: known, final, define: defineFn({ r: rising }) })
    expect(first).toMatchObject({ events: [], needMore: true })
    known = 4
    final = true
    const second = matchPartition(compiled, { rowCount: known, final, define: defineFn({ r: rising }) }, first.state)
    expect(show(second.events)).toEqual(['#1 0: r r', '- 2', '- 3'])
  })
})

describe('measures that read rows after the match (NEXT)', () => {
  it('give a match out only once the rows NEXT reads are known, unless the input is final', () => {
    const pattern = compile('A B', {}, { lookAhead: 2 })
    const waiting = matchPartition(pattern, { rowCount: 3, final: false })
    expect(show(waiting.events)).toEqual([])
    expect(waiting.needMore).toBe(true)
    expect(show(matchPartition(pattern, { rowCount: 4, final: false }).events)).toEqual(['#1 0: a b'])
    expect(show(matchPartition(pattern, { rowCount: 3, final: true }).events)).toEqual(['#1 0: a b', '- 2'])
  })
})

describe('WITHIN', () => {
  // "a, then b within 10 time units, other events allowed in between".
  const types = ['a', 'c', 'c', 'a', 'b']
  const times = [0, 3, 12, 13, 15]
  const define = { a: (r: number) => types[r] === 'a', b: (r: number) => types[r] === 'b' }
  const compiled = compile('A X*? B', define, { within: 10, skip: { kind: 'to_next_row' } })
  const time = (r: number) => times[r]!

  it('ends partial matches at the bound and reports the most preferred one as a timeout', () => {
    const run = matchPartition(compiled, { rowCount: 5, final: true, define: defineFn(define), time })
    expect(show(run.events)).toEqual(['~ 0: a x @10', '- 0', '- 1', '- 2', '#1 3: a b'])
  })

  it('reports the timeout once the horizon (watermark) passes the deadline, before later rows arrive', () => {
    const early = matchPartition(compiled, { rowCount: 2, final: false, define: defineFn(define), time, horizon: 5 })
    expect(early).toMatchObject({ events: [], needMore: true })
    const late = matchPartition(compiled, { rowCount: 2, final: false, define: defineFn(define), time, horizon: 10 }, early.state)
    expect(show(late.events)).toEqual(['~ 0: a x @10', '- 0', '- 1'])
    expect(late).toMatchObject({ needMore: false, state: { position: 2 } })
  })

  it('reports no timeout for a start row that matches, nor for one that fails on the data', () => {
    const close = ['a', 'b']
    const run = matchPartition(compile('A B', define, { within: 5 }), {
      rowCount: 2,
      final: true,
      define: defineFn({ a: (r) => close[r] === 'a', b: (r) => close[r] === 'b' }),
      time: (r) => [0, 4][r]!,
    })
    expect(show(run.events)).toEqual(['#1 0: a b'])
    const far = matchPartition(compile('A B', define, { within: 5 }), {
      rowCount: 2,
      final: true,
      define: defineFn({ a: (r) => close[r] === 'a', b: (r) => close[r] === 'b' }),
      time: (r) => [0, 5][r]!,
    })
    expect(show(far.events)).toEqual(['~ 0: a @5', '- 0', '- 1'])
    const wrong = matchPartition(compile('A B', define, { within: 5 }), { rowCount: 2, final: true, define: defineFn({ a: () => true, b: () => false }), time: (r) => [0, 1][r]! })
    expect(show(wrong.events)).toEqual(['- 0', '- 1'])
  })

  it('bounds greedy quantifiers so that a match ends without waiting for more rows', () => {
    const t = [0, 1, 2, 9, 10]
    const run = matchPartition(compile('A+', {}, { within: 5 }), { rowCount: 5, final: false, time: (r) => t[r]! })
    expect(show(run.events)).toEqual(['#1 0: a a a'])
    expect(run).toMatchObject({ needMore: true, state: { position: 3 } })
    const flushed = matchPartition(compile('A+', {}, { within: 5 }), { rowCount: 5, final: true, time: (r) => t[r]!, horizon: Infinity }, run.state)
    expect(show(flushed.events)).toEqual(['#2 3: a a'])
  })

  it('lets the caller build the absence rows from timeouts', () => {
    const run = matchPartition(compiled, { rowCount: 5, final: true, define: defineFn(define), time })
    const absences = run.events.flatMap((e) => {
      if (e.kind !== 'timeout') return []
      const view = matchView(compiled, e)
      return [{ a: view.first('a'), last: view.last(), at: e.deadline }]
    })
    expect(absences).toEqual([{ a: 0, last: 1, at: 10 }])
  })
})

describe('state', () => {
  it('is plain data that resumes a run', () => {
    const v = [90, 80, 70, 80, 70, 60]
    const compiled = compile('A B+', { b: below(v) })
    const first = matchPartition(compiled, { rowCount: 4, final: false, define: defineFn({ b: below(v) }) })
    const state = JSON.parse(JSON.stringify(first.state))
    const rest = matchPartition(compiled, { rowCount: 6, final: true, define: defineFn({ b: below(v) }) }, state)
    const whole = matchPartition(compiled, { rowCount: 6, final: true, define: defineFn({ b: below(v) }) })
    expect([...first.events, ...rest.events]).toEqual(whole.events)
    expect(whole.events.filter((e): e is PatternMatch => e.kind === 'match').map((m) => [m.number, m.start, m.end])).toEqual([
      [1, 0, 3],
      [2, 3, 6],
    ])
  })
})
