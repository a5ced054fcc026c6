import { describe, expect, test } from 'vitest'
import { compileAutomaton, compileRegex } from './regex.ts'
import { compileLike } from './like.ts'

/**
 * Milliseconds of CPU one test of `text` takes: CPU time, not wall time, so that other processes on a busy
 * machine (which deschedule this one) do not decide the bounds and ratios below.
 */
function timed(run: () => boolean): { result: boolean; ms: number } {
  const t = process.cpuUsage()
  const result = run()
  const d = process.cpuUsage(t)
  return { result, ms: (d.user + d.system) / 1000 }
}

describe('linear-time regular expressions', () => {
  const bombs: [string, string][] = [
    ['^(a+)+$', 'a'.repeat(54) + '!'],
    ['(x+x+)+y', 'x'.repeat(20_000)],
    ['(a|aa)+$', 'a'.repeat(20_000) + '!'],
    ['^(a+){2,30}$', 'a'.repeat(5_000) + '!'],
    ['(?i)^(a+)+$', 'A'.repeat(20_000) + '!'],
    ['^(\\w+\\s?)*$', 'word '.repeat(4_000) + '!'],
    ['(.*a){20}', 'a'.repeat(20_000)],
  ]
  test.each(bombs)('%s answers promptly', (pattern, text) => {
    const m = compileRegex(pattern, false)
    const expected = pattern === '(.*a){20}'
    expect(timed(() => m.test(text))).toEqual({ result: expected, ms: expect.any(Number) })
    // Tens of thousands of characters in well under a second: a backtracker needs years for the first one.
    expect(timed(() => m.test(text)).ms).toBeLessThan(1000)
  })

  test('time grows linearly with the input', () => {
    const m = compileRegex('(x+x+)+y', false)
    // The best of three runs each, so that a collection or a busy machine does not decide the ratio.
    const best = (n: number): number => Math.min(...[0, 1, 2].map(() => timed(() => m.test('x'.repeat(n))).ms))
    best(20_000) // warm up
    const small = best(100_000)
    const big = best(1_000_000)
    expect(big).toBeLessThan(small * 30) // 10x the input: about 10x the time, where quadratic would be 100x
  })

  test('psql-style patterns use RegExp, the rest the automaton', () => {
    expect(compileRegex('^(pg_class)$', false)).toBeInstanceOf(RegExp)
    expect(compileRegex('^(pg_.*)$', false)).toBeInstanceOf(RegExp)
    expect(compileRegex('abc', false)).toBeInstanceOf(RegExp)
    for (const p of ['a.*b', '^(a+)+$', '^a*b*$', 'a|b', '\\mfoo', '^(pg_.*)$'] as const) {
      const ci = p === '^(pg_.*)$'
      expect(compileRegex(p, ci), p).not.toBeInstanceOf(RegExp)
    }
  })

  test('the automaton and RegExp agree where both apply', () => {
    for (const [p, inputs] of [
      ['^(pg_.*)$', ['pg_class', 'xpg_', 'pg_', 'pg\n']],
      ['a.c', ['abc', 'a\nc', 'ac', '😀a😀c']],
      ['^[^x]{2}', ['ab', 'xa', 'a']],
      ['[[:alpha:]][[:digit:]]', ['é1', '11', 'a']],
    ] as const) {
      for (const s of inputs) expect(compileRegex(p, false).test(s), `${s} ~ ${p}`).toBe(compileAutomaton(p, false).test(s))
    }
  })

  test('errors carry PostgreSQL SQLSTATEs', () => {
    expect(() => compileRegex('(a)\\1', false)).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
    expect(() => compileRegex('a(?=b)', false)).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
    expect(() => compileRegex('(?b)a', false)).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
    expect(() => compileRegex('a**', false)).toThrow(expect.objectContaining({ sqlstate: '2201B', message: 'invalid regular expression: quantifier operand invalid' }))
    expect(() => compileRegex('(a', false)).toThrow(expect.objectContaining({ sqlstate: '2201B' }))
    // Counted repetition multiplies states; past the limit the pattern is refused, not compiled for minutes.
    expect(() => compileRegex('((a{255}){255}){255}', false)).toThrow(expect.objectContaining({ sqlstate: '2201B', message: 'invalid regular expression: regular expression is too complex' }))
    expect(() => compileRegex('('.repeat(5000) + 'a' + ')'.repeat(5000), false)).toThrow(expect.objectContaining({ sqlstate: '2201B' }))
  })
})

describe('LIKE', () => {
  test('many % cannot make a match slow', () => {
    const m = compileLike('%a%a%a%a%a%a%a%a%a%a%b', false)
    expect(timed(() => m.test('a'.repeat(100_000))).result).toBe(false)
    expect(timed(() => m.test('a'.repeat(100_000))).ms).toBeLessThan(500)
    const u = compileLike('%a_a%a_a%a_a%b', false)
    expect(timed(() => u.test('a'.repeat(50_000))).ms).toBeLessThan(500)
  })

  test('_ is one character, also beyond the BMP; ILIKE lower-cases both sides', () => {
    expect(compileLike('_x', false).test('😀x')).toBe(true)
    expect(compileLike('__x', false).test('😀x')).toBe(false)
    expect(compileLike('%FOO%', true).test('a foo b')).toBe(true)
    expect(compileLike('a\\%', false).test('a%')).toBe(true)
    expect(compileLike('a\\%', false).test('ab')).toBe(false)
  })
})
