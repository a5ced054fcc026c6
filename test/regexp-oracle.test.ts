/**
 * Differential test of the regexp_* functions: each statement runs on Sluice and on the real PostgreSQL on
 * this machine (the oracle); every row's text and the result type must be equal, or both must fail with the
 * same SQLSTATE. Inputs lean on PostgreSQL's match rules (leftmost, then longest or shortest by the RE's
 * greediness), empty matches, flags, NULLs and characters outside the BMP. Patterns Sluice refuses because
 * their submatches could differ are checked to fail with 0A000.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import type { SluiceProcess } from './helpers/sluice-process.ts'
import { AS_TEXT, closeOraclePair, openOraclePair } from './helpers/oracle.ts'

const EXPRESSIONS = [
  // regexp_match: groups, or the whole match
  "regexp_match('foobarbequebaz', 'bar.*que')",
  "regexp_match('foobarbequebaz', '(bar)(beque)')",
  "regexp_match('foobarbequebaz', 'barx')",
  "regexp_match('abc01234xyz', '(.*?)(\\d+)')",
  "regexp_match('abc01234xyz', '(.*?)(\\d+)(.*)')",
  "regexp_match('abc01234xyz', '(.*)(\\d+)')",
  "regexp_match('abc01234xyz', '(\\d+?)(\\d*)')",
  "regexp_match('XY1234Z', 'Y*?([0-9]{1,3})')",
  "regexp_match('XY1234Z', 'Y*([0-9]{1,3})')",
  "regexp_match('aaa', '(a*)(a*)')",
  "regexp_match('aaa', '(a*?)(a*)')",
  "regexp_match('ABC', 'b', 'i')",
  "regexp_match('ABC', '(?i)b')",
  "regexp_match('a\nb', '^b', 'n')",
  "regexp_match('a\nb', '^b')",
  "regexp_match('user@example.com', '^([^@]+)@(.+)$')",
  "regexp_match('2024-03-05', '(\\d{4})-(\\d{2})-(\\d{2})')",
  "regexp_match('x👍y', '.(.).')",
  "regexp_match('abc', '(x)?b')",
  "regexp_match('abc', '')",
  "regexp_match('xabcx', 'a|ab|abc')",
  "regexp_match('xabcx', '(?:a|ab|abc)x')",
  "regexp_match('abcabc', 'b.*?c')",
  "regexp_match('aaa', 'a{1,2}?a')",
  "regexp_match('aaab', '(a+?)(a*)b')",
  "regexp_match('abc', 'b', 'g')",
  "regexp_match('abc', 'b', 'z')",
  "regexp_match(NULL, 'b')",
  "regexp_match('abc', NULL)",
  "regexp_match('abc', '(')",
  "regexp_match('a.c', 'a.c', 'q')",
  "regexp_match('abc', 'a.c', 'q')",
  "regexp_match('ab  cd', 'b c', 'x')",
  // regexp_replace
  "regexp_replace('foobarbaz', 'b..', 'X')",
  "regexp_replace('foobarbaz', 'b..', 'X', 'g')",
  "regexp_replace('foobarbaz', 'b(..)', 'X\\1Y', 'g')",
  "regexp_replace('foobarbaz', 'b(..)', '[\\&]', 'g')",
  "regexp_replace('foobarbaz', 'b(..)', '\\\\', 'g')",
  "regexp_replace('foobarbaz', 'b(..)', '\\x', 'g')",
  "regexp_replace('A PostgreSQL function', 'a|e|i|o|u', 'X', 1, 0, 'i')",
  "regexp_replace('A PostgreSQL function', 'a|e|i|o|u', 'X', 1, 3, 'i')",
  "regexp_replace('A PostgreSQL function', 'a|e|i|o|u', 'X', 7, 0, 'i')",
  "regexp_replace('A PostgreSQL function', 'a|e|i|o|u', 'X', 7)",
  "regexp_replace('A PostgreSQL function', 'a|e|i|o|u', 'X', 7, 2)",
  "regexp_replace('abc', 'b', 'X', 0)",
  "regexp_replace('abc', 'b', 'X', 1, -1)",
  "regexp_replace('abc', '', '-', 'g')",
  "regexp_replace('abc', 'x*', '-', 'g')",
  "regexp_replace('aaa', 'a*?', 'X', 'g')",
  "regexp_replace('héllo wörld', '[öé]', '_', 'g')",
  "regexp_replace('👍a👍', 'a', 'b', 2)",
  "regexp_replace(NULL, 'a', 'b')",
  "regexp_replace('abc', 'b', NULL)",
  "regexp_replace('Hello World', '(\\w+) (\\w+)', '\\2 \\1')",
  "regexp_replace('phone: 555-1234', '\\D', '', 'g')",
  // regexp_split_to_array
  "regexp_split_to_array('hello world', '\\s+')",
  "regexp_split_to_array('  hello  world  ', '\\s+')",
  "regexp_split_to_array('abc', '')",
  "regexp_split_to_array('abc', 'x*')",
  "regexp_split_to_array('a,b,,c', ',')",
  "regexp_split_to_array('', ',')",
  "regexp_split_to_array('aXbxc', 'x', 'i')",
  "regexp_split_to_array('abc', 'b', 'g')",
  "regexp_split_to_array(NULL, ',')",
  // regexp_like, regexp_count, regexp_instr, regexp_substr (PostgreSQL 15)
  "regexp_like('Hello World', 'world')",
  "regexp_like('Hello World', 'world', 'i')",
  "regexp_like('abc', 'b', 'g')",
  "regexp_count('ABCABCAXYaxy', 'A.')",
  "regexp_count('ABCABCAXYaxy', 'A.', 1, 'i')",
  "regexp_count('ABCABCAXYaxy', 'A.', 4)",
  "regexp_count('abc', '')",
  "regexp_count('abc', 'x')",
  "regexp_count('abc', 'b', 0)",
  "regexp_instr('number of your street, town zip, FR', '[^,]+', 1, 2)",
  "regexp_instr('ABCDEFGHI', '(c..)(...)', 1, 1, 0, 'i', 2)",
  "regexp_instr('ABCDEFGHI', '(c..)(...)', 1, 1, 1, 'i', 2)",
  "regexp_instr('ABCDEFGHI', '(c..)(...)', 1, 1, 0, 'i', 3)",
  "regexp_instr('abc', 'x')",
  "regexp_instr('abc', 'b', 1, 0)",
  "regexp_instr('abc', 'b', 1, 1, 2)",
  "regexp_instr('👍a👍b', 'b')",
  "regexp_substr('number of your street, town zip, FR', '[^,]+', 1, 2)",
  "regexp_substr('ABCDEFGHI', '(c..)(...)', 1, 1, 'i', 2)",
  "regexp_substr('ABCDEFGHI', '(c..)(...)', 1, 1, 'i', 3)",
  "regexp_substr('abc', 'x')",
  "regexp_substr('abcabc', 'b', 3)",
  "regexp_substr('abc', 'b', 1, 1, 'i', -1)",
  // substring with a pattern
  "substring('foobar' from 'o.b')",
  "substring('foobar' from 'o(.)b')",
  "substring('foobar' from 'x')",
  "substring('foobar' from '(x)?o')",
  "substring('XY1234Z' from 'Y*?([0-9]{1,3})')",
  "substring('foobar', 'o+')",
  "substring('foobar' from 2 for 3)",
  "substring('foobar' similar '%#\"o_b#\"%' escape '#')",
  "substring('foobar' similar '#\"o_b#\"%' escape '#')",
  "substring('foobar' similar 'f%' escape '#')",
  "substring('foobar' similar '%#\"o+b#\"%' escape '#')",
  "substring('foobar' similar '%#\"o_b#\"%' escape NULL)",
  "substring('foobar' from '%#\"o_b#\"%' for '#')",
]

/** Patterns that cannot run in linear time: refused (0A000) as the `~` operator refuses them; PostgreSQL runs them. */
const NOT_LINEAR = new Set(["regexp_match('aa', '(a)\\1')", "regexp_replace('ab', 'a(?=b)', 'x')"])
EXPRESSIONS.push(...NOT_LINEAR)

const ROWS = [
  "SELECT regexp_matches('foobarbequebazilbarfbonk', '(b[^b]+)(b[^b]+)', 'g') AS v",
  "SELECT regexp_matches('foobarbequebaz', 'ba.', 'g') AS v",
  "SELECT regexp_matches('foobarbequebaz', 'ba.') AS v",
  "SELECT regexp_matches('abc', '', 'g') AS v",
  "SELECT regexp_matches('abc', 'x', 'g') AS v",
  "SELECT regexp_matches('aXbx', 'x', 'gi') AS v",
  "SELECT regexp_split_to_table('the quick  brown fox', '\\s+') AS v",
  "SELECT regexp_split_to_table('abc', '') AS v",
  "SELECT v FROM regexp_split_to_table('a1b22c333', '\\d+') AS v",
  "SELECT m[1] AS v FROM regexp_matches('k1=v1;k2=v2', '(\\w+)=(\\w+)', 'g') AS m",
]

/** Patterns whose reported groups PostgreSQL's rules could give differently from a fitting pass: refused. */
const REFUSED = [
  "regexp_match('abcd', '(a|ab)(c|bcd)(d*)')",
  "regexp_match('aaa', '(a*)+')",
  "regexp_replace('abab', '(ab|a)*', 'x')",
]

type Answer = { rows?: unknown[]; type?: number; code?: string }

describe('regexp functions agree with PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let oracle: pg.Client

  beforeAll(async () => {
    ;({ sluice, ours, oracle } = await openOraclePair())
  })
  afterAll(() => closeOraclePair({ sluice, ours, oracle }))

  const run = async (client: pg.Client, sql: string): Promise<Answer> => {
    try {
      const r = await client.query({ text: sql, types: AS_TEXT })
      return { rows: r.rows.map((row: { v: unknown }) => row.v), type: r.fields[0]!.dataTypeID }
    } catch (err) {
      return { code: (err as { code?: string }).code ?? String(err) }
    }
  }

  test.each(EXPRESSIONS)('%s', async (expr) => {
    const sql = `SELECT ${expr} AS v`
    const expected = await run(oracle, sql)
    const actual = await run(ours, sql)
    // Back-references and lookahead are refused (0A000) as by the ~ operator; PostgreSQL runs them.
    if (NOT_LINEAR.has(expr)) {
      expect(actual.code).toBe('0A000')
      return
    }
    expect(actual).toEqual(expected)
  })

  test.each(ROWS)('%s', async (sql) => {
    expect(await run(ours, sql)).toEqual(await run(oracle, sql))
  })

  test.each(REFUSED)('refused rather than answered differently: %s', async (expr) => {
    const actual = await run(ours, `SELECT ${expr} AS v`)
    expect(actual.code).toBe('0A000')
    // The same pattern without reported groups is answered, and as PostgreSQL answers it.
    const call = expr.indexOf('(') + 1
    const plain = expr.slice(0, call) + expr.slice(call).replace(/\((?!\?)/g, '(?:')
    expect(plain).not.toBe(expr)
    const expected = await run(oracle, `SELECT ${plain} AS v`)
    expect(expected.code).toBeUndefined()
    expect(await run(ours, `SELECT ${plain} AS v`)).toEqual(expected)
  })

  test('300 generated patterns and texts: the same matches, groups, replacements and splits', async () => {
    // Patterns built from atoms and quantifiers where greedy, lazy and alternation rules decide the answer.
    const atoms = ['a', 'b', '.', '[ab]', '(?:ab|a)', '(?:a|bb|b)', 'x?']
    const quants = ['', '*', '+', '?', '*?', '+?', '??', '{1,2}', '{1,2}?', '{2}', '{1,1}?']
    let seed = 20
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    let compared = 0
    for (let i = 0; i < 300; i++) {
      let p = ''
      for (let j = 0, len = 1 + rnd(4); j < len; j++) p += atoms[rnd(atoms.length)]! + quants[rnd(quants.length)]!
      if (rnd(3) === 0) p = `(${p})${atoms[rnd(atoms.length)]!}${quants[rnd(quants.length)]!}`
      const text = Array.from({ length: 3 + rnd(8) }, () => 'abx'[rnd(3)]).join('')
      const sql = `SELECT ARRAY[regexp_match($1, $2)::text, regexp_replace($1, $2, '<\\&>', 'g'), regexp_split_to_array($1, $2)::text, regexp_count($1, $2)::text] AS v`
      const mine = await ours.query({ text: sql, values: [text, p], types: AS_TEXT }).then((r) => r.rows[0].v, (e: { code?: string }) => e.code)
      if (mine === '0A000') continue
      const theirs = await oracle.query({ text: sql, values: [text, p], types: AS_TEXT }).then((r) => r.rows[0].v, (e: { code?: string }) => e.code)
      expect(mine, `${p} on ${text}`).toEqual(theirs)
      compared++
    }
    // Only groups around alternatives of different lengths are refused; most patterns are compared.
    expect(compared).toBeGreaterThan(250)
  })

  test('the functions work per event in a continuous view', async () => {
    await ours.query('CREATE STREAM rx_events (url text)')
    await ours.query(
      "CREATE MATERIALIZED VIEW rx_view AS SELECT (regexp_match(url, '^https?://([^/]+)'))[1] AS host, regexp_replace(url, '\\?.*$', '') AS path, count(*) AS n FROM rx_events GROUP BY 1, 2",
    )
    await ours.query("INSERT INTO rx_events VALUES ('https://a.example/x?q=1'), ('http://a.example/x'), ('ftp://b')")
    const deadline = Date.now() + 10_000
    let rows: unknown[] = []
    while (Date.now() < deadline) {
      rows = (await ours.query({ text: 'SELECT host, path, n FROM rx_view ORDER BY path', types: AS_TEXT })).rows
      if (rows.length === 3) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(rows).toEqual([
      { host: null, path: 'ftp://b', n: '1' },
      { host: 'a.example', path: 'http://a.example/x', n: '1' },
      { host: 'a.example', path: 'https://a.example/x', n: '1' },
    ])
  })
})
