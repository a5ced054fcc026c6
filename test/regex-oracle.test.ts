/**
 * Regular expressions, LIKE and SIMILAR TO against the real PostgreSQL on this machine: for each pattern and
 * input, the linear-time matchers (expr/regex.ts, expr/like.ts) must answer what PostgreSQL answers,
 * including which patterns are errors (by SQLSTATE class). Both the automaton and, where it is chosen, the
 * RegExp fast path are checked.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { SluiceError } from '../common/errors.ts'
import { compileAutomaton, compileRegex } from '../expr/regex.ts'
import { compileLike } from '../expr/like.ts'
import { similarToRegex } from '../expr/regex-syntax.ts'

const INPUTS = ['', 'a', 'abc', 'ABC', 'aXc', 'foo bar', 'foobar', 'x foo_y', 'line1\nline2', 'é', 'Été', 'a.c', 'a+b', '[x]', 'tab\there', '12ab', 'K', 'ab\\c', 'pg_class', 'naïve café', '😀x']

const REGEXES = [
  'abc', '^abc$', 'a.c', 'A', '^$', '', '^(pg_.*)$', '^(pg_class)$', '(a|b)+c', 'a{2}', 'a{1,2}c', 'b{0}c', 'x*', '^a*$',
  '[[:alpha:]]+', '^[[:digit:]]+[a-z]*$', '[[:upper:]]', '[[:space:]]', '[[:punct:]]', '[^a-z]', '[]a]', '[a-]', '[\\]x]',
  '\\d', '\\w+', '\\s', '^\\S+$', '\\W', '[\\d]', '\\mfoo', 'foo\\M', '\\yfoo\\y', '\\Ybar', 'bar\\M', '\\Aa', 'c\\Z',
  '(?i)abc', '(?i)été', '(?c)ABC', '***=a.c', '***:a.c', '(?q)[x]', '(?x) a b c # comment', '(?n)^line2$', '(?n)1.l', '1.l',
  '(?p)^line2', '(?w)1$', '(?s)^line2', 'a\\.c', 'a\\+b', '\\x41', '\\u00e9', '\\t', '\\0', 'x\\Z', '.x$', '^.x$',
  'é+t', 'T\\Y', '\\yx', 'o\\M', '(?n)^l', 'ne2$', '[😀]x', '😀', 'ab|ar$', 'fo+b', '(?w)^line', '[^[:alpha:]]', 'a\\w?c', '(x|y|z|a)b',
  '[[:<:]]foo', 'o[[:>:]]', '[[:<:]]bar[[:>:]]',
  '(?:ab|a)c', 'a(?#comment)b', 'a*?c', '(a+)+$', 'a{,2}', 'naïve\\s', 'caf.$', 'k', '[[.a.]]', '[[=a=]]bc', '\\B',
  // errors in PostgreSQL and here
  'a**', '*a', '(abc', 'abc)', '[abc', 'a{3,2}', 'a{256}', '\\q', '[[:nope:]]', '[z-a]', '(?z)a',
]
const REGEX_CI = ['abc', 'ÉTÉ', '[a-c]+', 'k', '[^a]', 'FOO\\M', '[[:lower:]]']

const LIKES = ['%', '', 'a%', '%c', 'a_c', '%foo%', '_', '__', 'a\\%', '%\\_%', 'abc', 'ABC', '%o%b%', '_é', '%é', 'É%', 'ab\\\\c', '%😀%', '_x', 'line1_line2', '%o_b%', '%_o%', '%a_c%_%', '%é_é%', '%f_o%b_r%']
const SIMILARS = ['%', 'a%', '(a|b)%', 'abc', 'a.c', '%(foo|bar)%', '[a-c]%', 'a_c', '%[[:space:]]%', '%\\_%', '(ab)*c', 'a|abc', '^abc', 'a$']

interface Outcome {
  readonly value?: boolean
  /** SQLSTATE class (first two characters) of an error. */
  readonly error?: string
}

let pgClient: pg.Client

beforeAll(async () => {
  pgClient = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
  await pgClient.connect()
})
afterAll(async () => {
  await pgClient.end()
})

async function pgOutcome(sql: string, params: unknown[]): Promise<Outcome> {
  try {
    const r = await pgClient.query({ text: sql, values: params, rowMode: 'array' })
    return { value: r.rows[0]![0] as boolean }
  } catch (err) {
    return { error: String((err as { code?: string }).code).slice(0, 2) }
  }
}

function ours(run: () => boolean): Outcome {
  try {
    return { value: run() }
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err
    return { error: err.sqlstate.slice(0, 2) }
  }
}

describe('regular expressions agree with PostgreSQL', () => {
  test('~ over a table of patterns and inputs, by the automaton and by the chosen matcher', async () => {
    const mismatches: string[] = []
    const cases = [...REGEXES.map((p) => [p, false] as const), ...REGEX_CI.map((p) => [p, true] as const)]
    for (const [pattern, ci] of cases) {
      for (const input of INPUTS) {
        const expected = await pgOutcome(`SELECT $1::text ${ci ? '~*' : '~'} $2::text`, [input, pattern])
        const viaAutomaton = ours(() => compileAutomaton(pattern, ci).test(input))
        const viaChosen = ours(() => compileRegex(pattern, ci).test(input))
        for (const [how, got] of [['automaton', viaAutomaton], ['chosen', viaChosen]] as const) {
          if (JSON.stringify(got) !== JSON.stringify(expected)) {
            mismatches.push(`${JSON.stringify(input)} ${ci ? '~*' : '~'} ${JSON.stringify(pattern)} (${how}): ours ${JSON.stringify(got)}, PostgreSQL ${JSON.stringify(expected)}`)
          }
        }
      }
    }
    expect(mismatches).toEqual([])
  })

  test('back-references and lookaround are refused with 0A000, not run', () => {
    for (const p of ['(a)\\1', '^(a+)\\1$', 'a(?=b)', 'a(?!b)', '(?<=a)b', '(?<!a)b']) {
      expect(ours(() => compileRegex(p, false).test('aab')), p).toEqual({ error: '0A' })
    }
  })

  test('LIKE and ILIKE', async () => {
    const mismatches: string[] = []
    for (const ci of [false, true]) {
      for (const pattern of LIKES) {
        for (const input of INPUTS) {
          const expected = await pgOutcome(`SELECT $1::text ${ci ? 'ILIKE' : 'LIKE'} $2::text`, [input, pattern])
          const got = ours(() => compileLike(pattern, ci).test(input))
          if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${JSON.stringify(input)} ${ci ? 'ILIKE' : 'LIKE'} ${JSON.stringify(pattern)}: ours ${JSON.stringify(got)}, PostgreSQL ${JSON.stringify(expected)}`)
        }
      }
    }
    expect(mismatches).toEqual([])
  })

  test('a LIKE pattern ending in the escape character is 22025 where PostgreSQL says so', async () => {
    // Only when the matcher reaches it with text left, as PostgreSQL's does.
    for (const [input, pattern] of [['a', 'a\\'], ['a\\', 'a\\'], ['ab', 'a\\'], ['', '\\'], ['x', '%\\'], ['b', 'a\\']]) {
      const expected = await pgOutcome(`SELECT $1::text LIKE $2::text`, [input, pattern])
      expect(ours(() => compileLike(pattern!, false).test(input!)), `${input} LIKE ${pattern}`).toEqual(expected)
    }
    expect(() => compileLike('a\\', false).test('ab')).toThrow(expect.objectContaining({ sqlstate: '22025' }))
  })

  test('SIMILAR TO: the rewrite is PostgreSQL similar_to_escape, and matches agree', async () => {
    const mismatches: string[] = []
    for (const pattern of SIMILARS) {
      const escaped = await pgClient.query({ text: 'SELECT similar_to_escape($1::text)', values: [pattern], rowMode: 'array' })
      expect(similarToRegex(pattern), pattern).toBe(escaped.rows[0]![0])
      for (const input of INPUTS) {
        const expected = await pgOutcome('SELECT $1::text SIMILAR TO $2::text', [input, pattern])
        const got = ours(() => compileRegex(similarToRegex(pattern), false).test(input))
        if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${JSON.stringify(input)} SIMILAR TO ${JSON.stringify(pattern)}: ours ${JSON.stringify(got)}, PostgreSQL ${JSON.stringify(expected)}`)
      }
    }
    for (const [pattern, esc] of [['a#%b', '#'], ['[x]%', ''], ['a#"b#"c', '#']] as const) {
      const escaped = await pgClient.query({ text: 'SELECT similar_to_escape($1::text, $2::text)', values: [pattern, esc], rowMode: 'array' })
      expect(similarToRegex(pattern, esc), pattern).toBe(escaped.rows[0]![0])
    }
  })
})
