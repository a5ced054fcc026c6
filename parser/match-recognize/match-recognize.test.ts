import { describe, expect, it } from 'vitest'
import { SluiceError } from '../../common/errors.ts'
import { tokenize } from '../lexer.ts'
import { quantifierBounds, rowPatternChildren, type MatchRecognize, type RowPattern } from './ast.ts'
import { parseMatchRecognize, parseMatchRecognizeText } from './parse.ts'
import { parseRowPattern } from './parse-pattern.ts'
import { printMatchRecognize, printRowPattern } from './print.ts'
import { TokenCursor } from '../token-cursor.ts'

/** A copy without spans, so that trees parsed from different texts compare equal. */
function withoutSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSpans)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'span' && !k.endsWith('Span')).map(([k, v]) => [k, withoutSpans(v)]))
}

/** parse -> print -> parse gives the same tree; returns the printed text. */
function roundTrip(sql: string): string {
  const first = parseMatchRecognizeText(sql)
  const printed = printMatchRecognize(first)
  expect(withoutSpans(parseMatchRecognizeText(printed))).toEqual(withoutSpans(first))
  return printed
}

/** The pattern printed after a parse, checking that the print parses back to the same tree. */
function patternRoundTrip(text: string): string {
  const p = parseRowPattern(text)
  const printed = printRowPattern(p)
  expect(withoutSpans(parseRowPattern(printed))).toEqual(withoutSpans(p))
  return printed
}

/** The error `sql` raises, with the text its span covers. */
function failure(sql: string, parse: (s: string) => unknown = parseMatchRecognizeText): { sqlstate: string; message: string; at: string; start: number } {
  try {
    parse(sql)
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    const e = err as SluiceError
    const span = e.span ?? { start: -1, end: -1 }
    return { sqlstate: e.sqlstate, message: e.message, at: sql.slice(span.start, span.end), start: span.start }
  }
  throw new Error(`expected ${sql} to fail`)
}

/** Every node's span text, depth first. */
function spanTexts(sql: string, p: RowPattern): string[] {
  return [sql.slice(p.span.start, p.span.end), ...rowPatternChildren(p).flatMap((c) => spanTexts(sql, c))]
}

const DESIGN_EXAMPLE = `MATCH_RECOGNIZE (
  PARTITION BY player_id ORDER BY ts
  MEASURES FIRST(L.ts) AS first_loss, COUNT(L.*) AS losses
  ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
  PATTERN (L{3,} W?) WITHIN INTERVAL '1 hour'
  DEFINE L AS type = 'fight' AND result = 'loss', W AS type = 'fight' AND result = 'win')`

describe('MATCH_RECOGNIZE clauses', () => {
  it('parses the example of the design document', () => {
    const m = parseMatchRecognizeText(DESIGN_EXAMPLE)
    expect(m.partitionBy.map((e) => e.text)).toEqual(['player_id'])
    expect(m.orderBy).toMatchObject([{ expr: { text: 'ts' } }])
    expect(m.measures.map((x) => [x.expr.text, x.name])).toEqual([
      ['FIRST(L.ts)', 'first_loss'],
      ['COUNT(L.*)', 'losses'],
    ])
    expect(m.rowsPerMatch?.kind).toBe('one_row')
    expect(m.afterMatchSkip?.kind).toBe('past_last_row')
    expect(printRowPattern(m.pattern)).toBe('L{3,} W?')
    expect(m.within?.interval.text).toBe("INTERVAL '1 hour'")
    expect(m.defines.map((d) => [d.variable, d.condition.text])).toEqual([
      ['l', "type = 'fight' AND result = 'loss'"],
      ['w', "type = 'fight' AND result = 'win'"],
    ])
    expect(m.span).toEqual({ start: 0, end: DESIGN_EXAMPLE.length })
    expect(DESIGN_EXAMPLE.slice(m.patternSpan.start, m.patternSpan.end)).toBe('PATTERN (L{3,} W?)')
    roundTrip(DESIGN_EXAMPLE)
  })

  it('round-trips every clause', () => {
    const printed = roundTrip(`MATCH_RECOGNIZE (
      PARTITION BY player_id, lower(game)
      ORDER BY ts DESC NULLS LAST, seq ASC, id NULLS FIRST
      MEASURES FINAL LAST(up.ts) AS peak, RUNNING count(*) n, match_number() AS "Match", classifier() AS cls
      ALL ROWS PER MATCH OMIT EMPTY MATCHES
      AFTER MATCH SKIP TO FIRST up
      PATTERN (^ strt down+? {- flat* -} up{2,5} PERMUTE(a, b c) $) WITHIN INTERVAL '5 minutes'
      SUBSET updown = (up, down), ab = (a, b)
      DEFINE down AS price < PREV(price), up AS price > PREV(price), flat AS price = PREV(price)
    ) AS m (x, y)`)
    expect(printed).toBe(`MATCH_RECOGNIZE (
  PARTITION BY player_id, lower(game)
  ORDER BY ts DESC NULLS LAST, seq ASC, id NULLS FIRST
  MEASURES FINAL LAST(up.ts) AS peak, RUNNING count(*) AS n, match_number() AS "Match", classifier() AS cls
  ALL ROWS PER MATCH OMIT EMPTY MATCHES
  AFTER MATCH SKIP TO FIRST up
  PATTERN (^ strt down+? {- flat* -} up{2,5} PERMUTE(a, b c) $) WITHIN INTERVAL '5 minutes'
  SUBSET updown = (up, down), ab = (a, b)
  DEFINE down AS price < PREV(price), up AS price > PREV(price), flat AS price = PREV(price)
) AS m (x, y)`)
  })

  it('needs only PATTERN, and accepts the keyword, the parenthesis and an alias as the FROM clause does', () => {
    const m = parseMatchRecognizeText('(PATTERN (a))')
    expect(m).toMatchObject({ partitionBy: [], orderBy: [], measures: [], subsets: [], defines: [] })
    expect(m.rowsPerMatch).toBeUndefined()
    expect(m.afterMatchSkip).toBeUndefined()
    expect(m.alias).toBeUndefined()
    expect(parseMatchRecognizeText('MATCH_RECOGNIZE (PATTERN (a)) m').alias).toMatchObject({ name: 'm', columns: [] })
    expect(parseMatchRecognizeText('MATCH_RECOGNIZE (PATTERN (a)) AS "M"').alias?.name).toBe('M')
    roundTrip('MATCH_RECOGNIZE (PATTERN (a))')
  })

  it('reads the ROWS PER MATCH forms', () => {
    const rows = (text: string) => parseMatchRecognizeText(`(${text} PATTERN (a))`).rowsPerMatch
    expect(rows('ONE ROW PER MATCH')).toMatchObject({ kind: 'one_row' })
    expect(rows('ALL ROWS PER MATCH')).toMatchObject({ kind: 'all_rows', mode: 'show_empty_matches' })
    expect(rows('ALL ROWS PER MATCH SHOW EMPTY MATCHES')).toMatchObject({ kind: 'all_rows', mode: 'show_empty_matches' })
    expect(rows('ALL ROWS PER MATCH OMIT EMPTY MATCHES')).toMatchObject({ kind: 'all_rows', mode: 'omit_empty_matches' })
    expect(rows('ALL ROWS PER MATCH WITH UNMATCHED ROWS')).toMatchObject({ kind: 'all_rows', mode: 'with_unmatched_rows' })
    for (const text of ['ONE ROW PER MATCH', 'ALL ROWS PER MATCH OMIT EMPTY MATCHES', 'ALL ROWS PER MATCH WITH UNMATCHED ROWS']) {
      roundTrip(`(${text} PATTERN (a))`)
    }
  })

  it('reads the AFTER MATCH SKIP forms', () => {
    const skip = (text: string) => parseMatchRecognizeText(`(AFTER MATCH SKIP ${text} PATTERN (a b+ first last) SUBSET u = (b, last))`).afterMatchSkip
    expect(skip('PAST LAST ROW')).toMatchObject({ kind: 'past_last_row' })
    expect(skip('TO NEXT ROW')).toMatchObject({ kind: 'to_next_row' })
    expect(skip('TO FIRST b')).toMatchObject({ kind: 'to_first', variable: 'b' })
    expect(skip('TO LAST b')).toMatchObject({ kind: 'to_last', variable: 'b' })
    expect(skip('TO b')).toMatchObject({ kind: 'to_last', variable: 'b' })
    expect(skip('TO u')).toMatchObject({ kind: 'to_last', variable: 'u' })
    // FIRST and LAST are modifiers only when a variable follows.
    expect(skip('TO last')).toMatchObject({ kind: 'to_last', variable: 'last' })
    expect(skip('TO FIRST last')).toMatchObject({ kind: 'to_first', variable: 'last' })
    const sql = '(AFTER MATCH SKIP TO FIRST b PATTERN (a b))'
    const s = parseMatchRecognizeText(sql).afterMatchSkip!
    expect(sql.slice(s.span.start, s.span.end)).toBe('AFTER MATCH SKIP TO FIRST b')
    expect(s.kind === 'to_first' && sql.slice(s.variableSpan.start, s.variableSpan.end)).toBe('b')
  })

  it('keeps expressions as text with their spans and takes RUNNING / FINAL off', () => {
    const sql = `(MEASURES FINAL LAST(up.ts) AS a, RUNNING avg(up.price) AS b, final AS c, FIRST(x.v) - FINAL LAST(x.v) AS d,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY x.v) AS e
      PATTERN (up x) DEFINE up AS RUNNING count(*) > 2 AND price > avg(up.price))`
    const m = parseMatchRecognizeText(sql)
    const [a, b, c, d, e] = m.measures
    expect(a!.expr).toMatchObject({ text: 'LAST(up.ts)', semantics: 'final', innerSemantics: [] })
    expect(sql.slice(a!.expr.span.start, a!.expr.span.end)).toBe('LAST(up.ts)')
    expect(sql.slice(a!.expr.semanticsSpan!.start, a!.expr.semanticsSpan!.end)).toBe('FINAL')
    expect(b!.expr).toMatchObject({ text: 'avg(up.price)', semantics: 'running' })
    expect(c!.expr.text).toBe('final')
    expect(c!.expr.semantics).toBeUndefined()
    expect(d!.expr.text).toBe('FIRST(x.v) - FINAL LAST(x.v)')
    expect(d!.expr.innerSemantics.map((s) => [s.semantics, sql.slice(s.span.start, s.span.end)])).toEqual([['final', 'FINAL']])
    expect(e!.expr.text).toBe('percentile_cont(0.5) WITHIN GROUP (ORDER BY x.v)')
    expect(m.defines[0]!.condition).toMatchObject({ text: 'count(*) > 2 AND price > avg(up.price)', semantics: 'running' })
    expect(sql.slice(m.measures[3]!.span.start, m.measures[3]!.span.end)).toBe('FIRST(x.v) - FINAL LAST(x.v) AS d')
  })

  it('takes a measure name without AS only where it cannot be part of the expression', () => {
    const names = (measures: string) => parseMatchRecognizeText(`(MEASURES ${measures} PATTERN (a))`).measures.map((x) => [x.expr.text, x.name])
    expect(names('a.price p, count(*) "N", x IS NULL isnull_x, 1 one')).toEqual([
      ['a.price', 'p'],
      ['count(*)', 'N'],
      ['x IS NULL', 'isnull_x'],
      ['1', 'one'],
    ])
    expect(names('CAST(a.x AS int) AS x_int, CASE WHEN a.x > 0 THEN 1 END pos')).toEqual([
      ['CAST(a.x AS int)', 'x_int'],
      ['CASE WHEN a.x > 0 THEN 1 END', 'pos'],
    ])
    expect(failure("(MEASURES INTERVAL '1' day PATTERN (a))")).toMatchObject({ sqlstate: '42601', message: expect.stringContaining('needs a name') })
    expect(failure('(MEASURES a.price PATTERN (a))')).toMatchObject({ sqlstate: '42601', start: '(MEASURES a.price'.length })
    expect(failure('(MEASURES x::numeric PATTERN (a))')).toMatchObject({ sqlstate: '42601' })
  })

  it('parses within a larger statement and stops after the alias', () => {
    const sql = 'SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (a+ b) DEFINE b AS x > 1) AS m WHERE m.x > 0'
    const tokens = tokenize(sql)
    const c = new TokenCursor(sql, tokens)
    while (!c.acceptWords('match_recognize')) c.next()
    const m = parseMatchRecognize(c)
    expect(m.alias?.name).toBe('m')
    expect(c.peek()?.value).toBe('where')
    expect(sql.slice(m.span.start, m.span.end)).toBe('(ORDER BY ts PATTERN (a+ b) DEFINE b AS x > 1) AS m')
    // A keyword after the clause is not taken for a bare alias.
    const joined = 'MATCH_RECOGNIZE (PATTERN (a)) JOIN u ON true'
    const c2 = new TokenCursor(joined, tokenize(joined))
    expect(parseMatchRecognize(c2).alias).toBeUndefined()
    expect(c2.peek()?.value).toBe('join')
  })

  it('gives spans into the whole text when parsing a slice', () => {
    const sql = 'SELECT * FROM t MATCH_RECOGNIZE (PATTERN (a b) DEFINE b AS x > 1) m'
    const start = sql.indexOf('(')
    const m = parseMatchRecognizeText(sql, start)
    expect(sql.slice(m.defines[0]!.condition.span.start, m.defines[0]!.condition.span.end)).toBe('x > 1')
    expect(failure('SELECT 1 FROM t MATCH_RECOGNIZE (PATTERN (a) DEFINE b AS x)', (s) => parseMatchRecognizeText(s, 32))).toMatchObject({
      sqlstate: '42P10',
      at: 'b',
      start: 52,
    })
  })
})

describe('PATTERN', () => {
  it('round-trips every construct', () => {
    const cases: [string, string][] = [
      ['A B C', 'A B C'],
      ['A | B | C', 'A | B | C'],
      ['A (B | C) D', 'A (B | C) D'],
      ['((A) (B (C)))', '((A) (B (C)))'],
      ['A* B+ C? D{3} E{2,} F{,4} G{1,5} H{,}', 'A* B+ C? D{3} E{2,} F{,4} G{1,5} H{,}'],
      ['A*? B+? C?? D{3}? E{2,}? F{,4}? G{1,5}?', 'A*? B+? C?? D{3}? E{2,}? F{,4}? G{1,5}?'],
      ['PERMUTE(A, B, C)', 'PERMUTE(A, B, C)'],
      ['permute (a b | c, d+)', 'PERMUTE(a b | c, d+)'],
      ['^ A $', '^ A $'],
      ['A {- B+ -} C', 'A {- B+ -} C'],
      ['{- {- A -} B -}', '{- {- A -} B -}'],
      ['() | A', '() | A'],
      ['(A B)+ (C | D)*?', '(A B)+ (C | D)*?'],
      ['"Up" "a""b" permute', '"Up" "a""b" "permute"'],
      ['{- A -}+ ^* $?', '{- A -}+ ^* $?'],
    ]
    for (const [text, printed] of cases) expect(patternRoundTrip(text)).toBe(printed)
  })

  it('builds the tree with the standard precedence', () => {
    const p = parseRowPattern('a b* | c')
    expect(p.kind).toBe('alternation')
    const [left, right] = p.kind === 'alternation' ? p.alternatives : []
    expect(left).toMatchObject({ kind: 'concat', items: [{ kind: 'variable', name: 'a' }, { kind: 'quantified', pattern: { name: 'b' } }] })
    expect(right).toMatchObject({ kind: 'variable', name: 'c' })
    expect(parseRowPattern('a{2,5}?')).toMatchObject({ kind: 'quantified', quantifier: { kind: 'range', min: 2, max: 5, reluctant: true } })
    expect(parseRowPattern('a{3}')).toMatchObject({ quantifier: { kind: 'exactly', count: 3, reluctant: false } })
    expect(parseMatchRecognizeText('(PATTERN ())').pattern).toMatchObject({ kind: 'empty' })
    expect(parseMatchRecognizeText('(PATTERN ( /* nothing */ ))').pattern).toMatchObject({ kind: 'empty' })
  })

  it('gives every node a span over its own text', () => {
    const text = 'strt down+? | PERMUTE(a, b) {- c{1,2} -} ^ ()'
    expect(spanTexts(text, parseRowPattern(text))).toEqual([
      text,
      'strt down+?',
      'strt',
      'down+?',
      'down',
      'PERMUTE(a, b) {- c{1,2} -} ^ ()',
      'PERMUTE(a, b)',
      'a',
      'b',
      '{- c{1,2} -}',
      'c{1,2}',
      'c',
      '^',
      '()',
    ])
    const q = parseRowPattern('x  {2, 3} ?')
    expect(q.kind === 'quantified' && 'x  {2, 3} ?'.slice(q.quantifier.span.start, q.quantifier.span.end)).toBe('{2, 3} ?')
  })

  it('reads symbols that the SQL lexer would glue into operators', () => {
    // `+|`, `?|`, `?-`, `*?` and `??` are single operators to SQL, `B$` an identifier.
    expect(patternRoundTrip('A+|B')).toBe('A+ | B')
    expect(patternRoundTrip('A?|B*|C')).toBe('A? | B* | C')
    expect(patternRoundTrip('{-A?-}B')).toBe('{- A? -} B')
    expect(patternRoundTrip('{-A*?-}')).toBe('{- A*? -}')
    expect(patternRoundTrip('A??B')).toBe('A?? B')
    expect(patternRoundTrip('^A B$')).toBe('^ A B $')
    expect(patternRoundTrip('A{2,3}?|B')).toBe('A{2,3}? | B')
    expect(patternRoundTrip('A -- a comment\n B /* another */ C')).toBe('A B C')
    const sql = '(PATTERN (^A+|B$) DEFINE a AS x > 0)'
    const m = parseMatchRecognizeText(sql)
    expect(printRowPattern(m.pattern)).toBe('^ A+ | B $')
    expect(m.defines[0]!.variable).toBe('a')
  })

  it('reports the quantifier bounds', () => {
    const bounds = (text: string) => {
      const p = parseRowPattern(text)
      return p.kind === 'quantified' ? quantifierBounds(p.quantifier) : undefined
    }
    expect(bounds('a*')).toEqual({ min: 0, max: Infinity })
    expect(bounds('a+?')).toEqual({ min: 1, max: Infinity })
    expect(bounds('a?')).toEqual({ min: 0, max: 1 })
    expect(bounds('a{4}')).toEqual({ min: 4, max: 4 })
    expect(bounds('a{,3}')).toEqual({ min: 0, max: 3 })
    expect(bounds('a{2,}')).toEqual({ min: 2, max: Infinity })
  })

  it('prints parentheses a constructed tree needs', () => {
    const span = { start: 0, end: 0 }
    const a: RowPattern = { kind: 'variable', name: 'a', label: 'a', span }
    const b: RowPattern = { kind: 'variable', name: 'b', label: 'b', span }
    const alt: RowPattern = { kind: 'alternation', alternatives: [a, b], span }
    const star = { kind: 'zero_or_more', reluctant: false, span } as const
    expect(printRowPattern({ kind: 'concat', items: [alt, a], span })).toBe('(a | b) a')
    expect(printRowPattern({ kind: 'quantified', pattern: { kind: 'concat', items: [a, b], span }, quantifier: star, span })).toBe('(a b)*')
    expect(printRowPattern({ kind: 'quantified', pattern: { kind: 'quantified', pattern: a, quantifier: star, span }, quantifier: star, span })).toBe('(a*)*')
  })
})

describe('errors', () => {
  const pattern = (text: string) => failure(text, (s) => parseRowPattern(s))

  it('reports pattern syntax errors at their position', () => {
    expect(pattern('A B{3,2}')).toMatchObject({ sqlstate: '42601', at: '{3,2}', message: expect.stringContaining('lower bound') })
    expect(pattern('A**')).toMatchObject({ sqlstate: '42601', at: '*', start: 2 })
    expect(pattern('A+??')).toMatchObject({ sqlstate: '42601', at: '?', start: 3 })
    expect(pattern('A | | B')).toMatchObject({ sqlstate: '42601', at: '|', start: 4 })
    expect(pattern('A {}')).toMatchObject({ sqlstate: '42601', at: '}' })
    expect(pattern('A - B')).toMatchObject({ sqlstate: '42601', at: '-' })
    expect(pattern('{- A')).toMatchObject({ sqlstate: '42601', start: 4 })
    expect(pattern('{- -}')).toMatchObject({ sqlstate: '42601', at: '-}' })
    expect(pattern('PERMUTE()')).toMatchObject({ sqlstate: '42601', at: ')' })
    expect(pattern('(A')).toMatchObject({ sqlstate: '42601', start: 2 })
    expect(pattern('A)')).toMatchObject({ sqlstate: '42601', at: ')' })
    expect(pattern('A{99999999999}')).toMatchObject({ sqlstate: '42601', at: '99999999999' })
    expect(pattern('A ; B')).toMatchObject({ sqlstate: '42601', at: ';' })
  })

  it('reports clause syntax errors at their position', () => {
    expect(failure('(ORDER BY ts)')).toMatchObject({ sqlstate: '42601', at: ')', message: expect.stringContaining('MEASURES') })
    expect(failure('(DEFINE a AS x PATTERN (a))')).toMatchObject({ sqlstate: '42601', at: 'DEFINE', message: expect.stringContaining('PATTERN') })
    expect(failure('(PATTERN (a) MEASURES x AS y)')).toMatchObject({ sqlstate: '42601', at: 'MEASURES' })
    expect(failure('(PATTERN (a b')).toMatchObject({ sqlstate: '42601', message: expect.stringContaining('not closed') })
    expect(failure('(PATTERN a)')).toMatchObject({ sqlstate: '42601', at: 'a' })
    expect(failure('(PARTITION BY , x PATTERN (a))')).toMatchObject({ sqlstate: '42601', at: ',' })
    expect(failure('(PATTERN (a) DEFINE a AS)')).toMatchObject({ sqlstate: '42601', at: ')' })
    expect(failure('(PATTERN (a) DEFINE a x > 1)')).toMatchObject({ sqlstate: '42601', at: 'x' })
    expect(failure('(AFTER MATCH SKIP TO PATTERN (a))')).toMatchObject({ sqlstate: '42601', at: '(' })
    expect(failure('(PATTERN (a)) AS m garbage')).toMatchObject({ sqlstate: '42601', at: 'garbage' })
    expect(failure('(PATTERN (a) WITHIN)')).toMatchObject({ sqlstate: '42601', at: ')' })
    expect(failure('(PATTERN (a) DEFINE a AS FINAL count(*) > 1)')).toMatchObject({ sqlstate: '42601', at: 'FINAL' })
    // The SQL lexer reads `$a$ ... $a$` as one dollar-quoted string across the pattern's closing parenthesis.
    const straddling = "(PATTERN (^ a $a$ b) DEFINE b AS x = $a$y$a$)"
    expect(failure(straddling)).toMatchObject({ sqlstate: '42601', start: straddling.indexOf('$a$'), message: expect.stringContaining('separate its symbols') })
    const unterminated = "(PATTERN (a) DEFINE a AS x = 'unterminated)"
    expect(failure(unterminated)).toMatchObject({ sqlstate: '42601', start: unterminated.indexOf("'") })
  })

  it('checks the pattern variables that SUBSET, DEFINE and AFTER MATCH SKIP name', () => {
    expect(failure('(PATTERN (a b) DEFINE c AS x > 1)')).toMatchObject({ sqlstate: '42P10', at: 'c', message: expect.stringContaining('"c"') })
    expect(failure('(PATTERN (a b) DEFINE a AS x > 1, b AS true, a AS x < 1)')).toMatchObject({ sqlstate: '42601', at: 'a', start: 45 })
    expect(failure('(PATTERN (a b) SUBSET u = (a, c))')).toMatchObject({ sqlstate: '42P10', at: 'c' })
    expect(failure('(PATTERN (a b) SUBSET u = (a), u = (b))')).toMatchObject({ sqlstate: '42601', at: 'u', start: 31 })
    expect(failure('(PATTERN (a b) SUBSET a = (b))')).toMatchObject({ sqlstate: '42601', at: 'a', start: 22 })
    expect(failure('(PATTERN (a b) SUBSET u = (a, a))')).toMatchObject({ sqlstate: '42601', at: 'a', start: 30 })
    expect(failure('(PATTERN (a b) SUBSET u = (a) DEFINE u AS true)')).toMatchObject({ sqlstate: '42P10', at: 'u', start: 37 })
    expect(failure('(AFTER MATCH SKIP TO LAST z PATTERN (a b))')).toMatchObject({ sqlstate: '42P10', at: 'z' })
    expect(failure('(MEASURES x AS m, y AS m PATTERN (a))')).toMatchObject({ sqlstate: '42701', at: 'm', start: 23 })
    expect(failure('(ALL ROWS PER MATCH WITH UNMATCHED ROWS PATTERN (a {- b -}))')).toMatchObject({ sqlstate: '42601', at: '{- b -}' })
  })

  it('leaves AFTER MATCH SKIP TO the first row of a match to the run (2202L there, as in Trino)', () => {
    const skip = (clause: string, pattern: string) => parseMatchRecognizeText(`(AFTER MATCH SKIP ${clause} PATTERN (${pattern}))`)
    // A pattern whose matches would all restart at their first row may never match on the data.
    expect(() => skip('TO FIRST a', 'a b+')).not.toThrow()
    expect(() => skip('TO LAST b', 'b a? c*')).not.toThrow()
    expect(failure('(AFTER MATCH SKIP TO FIRST q PATTERN (a b+))')).toMatchObject({ sqlstate: '42P10', at: 'q' })
  })
})

describe('the AST', () => {
  it('is plain data that survives JSON', () => {
    const m: MatchRecognize = parseMatchRecognizeText(DESIGN_EXAMPLE)
    expect(JSON.parse(JSON.stringify(m))).toEqual(m)
  })
})
