/**
 * Differential test of the string functions: each expression runs on Sluice and on the real PostgreSQL on
 * this machine (the oracle); the text result and type must be equal, or both must fail with the same SQLSTATE.
 * Inputs lean on the edges: empty strings, NULLs, emoji and combining characters, zero and negative counts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import type { SluiceProcess } from './helpers/sluice-process.ts'
import { AS_TEXT, closeOraclePair, openOraclePair } from './helpers/oracle.ts'

const EMOJI = "'a👍b🎉c'"
const COMBINING = "e'e\\u0301x\\u0308y'"

const EXPRESSIONS = [
  // split_part, with fields counted from the end (PostgreSQL 14+) and field 0 refused
  "split_part('a,b,c', ',', 2)",
  "split_part('a,b,c', ',', -1)",
  "split_part('a,b,c', ',', -3)",
  "split_part('a,b,c', ',', -4)",
  "split_part('a,b,c', ',', 4)",
  "split_part('a,b,c', ',', 0)",
  "split_part('', ',', 1)",
  "split_part('abc', '', 1)",
  "split_part('abc', '', -1)",
  "split_part('abc', '', 2)",
  "split_part('a,,b', ',', 2)",
  "split_part('a👍b👍c', '👍', -2)",
  "split_part(NULL, ',', 1)",
  "split_part('a,b', NULL, 1)",
  "split_part('a,b', ',', NULL)",
  // concat_ws
  "concat_ws(',', 'a', NULL, 'b', 1, 2.5)",
  "concat_ws(NULL, 'a', 'b')",
  "concat_ws('', 'a', 'b')",
  "concat_ws('-', NULL)",
  "concat_ws('|', true, '')",
  // upper / lower: one character for one, as glibc maps them
  "upper('straße ﬁx ǆ ŉ é')",
  "lower('İSTANBUL ΣΑΣ ǅ É')",
  "upper(NULL)",
  // initcap
  "initcap('hello wORLD')",
  "initcap('éa ÉCOLE straße ǆx ﬁx 1ab a_b a-b')",
  `initcap(${COMBINING})`,
  "initcap('')",
  "initcap('σς ΣΑΣ İSTANBUL ǈUBLJANA')",
  "initcap('x1y 1x ½x ²x ٣x')",
  "initcap('a👍b')",
  "initcap(NULL)",
  // lpad / rpad
  "lpad('hi', 5)",
  "lpad('hi', 5, 'xy')",
  "lpad('hello', 3, 'x')",
  "lpad('hi', 5, '')",
  "lpad('hi', 0, 'x')",
  "lpad('hi', -1, 'x')",
  `lpad(${EMOJI}, 7, '🎈')`,
  `rpad(${EMOJI}, 3, 'x')`,
  "rpad('hi', 5)",
  "rpad('hi', 6, 'ab')",
  "rpad('hello', 2)",
  "rpad('', 3, '')",
  "rpad(NULL, 3, 'x')",
  "rpad('x', NULL, 'y')",
  "lpad('x', 3, NULL)",
  // repeat, with a bound on the result
  "repeat('ab', 3)",
  "repeat('ab', 0)",
  "repeat('ab', -2)",
  "repeat('', 5)",
  "repeat('👍', 2)",
  "repeat(NULL, 2)",
  // reverse
  "reverse('abc')",
  `reverse(${EMOJI})`,
  `reverse(${COMBINING})`,
  "reverse('')",
  "rpad(e'e\\u0301', 3, 'x')",
  "length(lpad(e'e\\u0301', 3))",
  // strpos / position
  "strpos('high', 'ig')",
  "strpos('high', '')",
  "strpos('high', 'x')",
  `strpos(${EMOJI}, 'c')`,
  "position('c' IN 'a👍b🎉c')",
  "position('' IN '')",
  "position(NULL IN 'a')",
  // translate
  "translate('12345', '143', 'ax')",
  "translate('abc', 'aa', 'xy')",
  "translate('a👍b', '👍', '🎉')",
  "translate('abc', '', 'x')",
  "translate('abc', 'abc', '')",
  // string_to_array
  "string_to_array('a,b,,c', ',')",
  "string_to_array('a,b,,c', ',', '')",
  "string_to_array('abc', NULL)",
  "string_to_array('a👍b', NULL)",
  "string_to_array('abc', '')",
  "string_to_array('', ',')",
  "string_to_array(NULL, ',')",
  "string_to_array('a,NULL,b', ',', 'NULL')",
  "string_to_array('a b', ' ', NULL)",
  "array_length(string_to_array('a,b,c', ','), 1)",
  // left / right
  "left('abcde', 2)",
  "left('abcde', -2)",
  "left('abcde', -9)",
  "left('abcde', 0)",
  `left(${EMOJI}, 2)`,
  `left(${EMOJI}, -1)`,
  "right('abcde', 2)",
  "right('abcde', -2)",
  "right('abcde', 9)",
  "right('abcde', -9)",
  `right(${EMOJI}, 2)`,
  `right(${EMOJI}, -2)`,
  // starts_with, md5
  "starts_with('alphabet', 'alph')",
  "starts_with('alphabet', '')",
  "starts_with(NULL, 'a')",
  "md5('')",
  `md5(${EMOJI})`,
  // argument types: untyped literals are coerced, numbers are not text
  "repeat('ab', '2')",
  "repeat('ab', 'x')",
  "repeat('ab', 1.5)",
  'reverse(123)',
  "lpad(5, 3, '0')",
  "concat_ws(1, 'a')",
  "split_part('a.b', '.', 2::smallint)",
  // encode / decode
  "encode('\\x00015c80ff0a'::bytea, 'hex')",
  "encode('\\x00015c80ff0a'::bytea, 'escape')",
  "encode('\\x00015c80ff0a'::bytea, 'base64')",
  "encode('\\x'::bytea, 'base64')",
  "encode(decode(repeat('61', 57), 'hex'), 'base64')",
  "encode(decode(repeat('61', 58), 'hex'), 'BASE64')",
  "encode('\\x01'::bytea, 'rot13')",
  "decode('00 01\nff', 'hex')",
  "decode('0', 'hex')",
  "decode('zz', 'hex')",
  "decode('YWJj', 'base64')",
  "decode('YQ==', 'base64')",
  "decode('YQ=a', 'base64')",
  "decode('YW Jj\nZA==', 'base64')",
  "decode('YQ', 'base64')",
  "decode('=QQQ', 'base64')",
  "decode('Y!==', 'base64')",
  "decode('a\\\\b\\001\\377', 'escape')",
  "decode('a\\b', 'escape')",
  "decode('é', 'escape')",
  "decode(NULL, 'hex')",
  "encode(decode('👍', 'escape'), 'hex')",
]

describe('string functions agree with PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let oracle: pg.Client
  const asText = AS_TEXT

  beforeAll(async () => {
    ;({ sluice, ours, oracle } = await openOraclePair())
  })
  afterAll(() => closeOraclePair({ sluice, ours, oracle }))

  const run = async (client: pg.Client, sql: string): Promise<{ v?: unknown; type?: number; code?: string }> => {
    try {
      const r = await client.query({ text: sql, types: asText })
      return { v: r.rows[0].v, type: r.fields[0]!.dataTypeID }
    } catch (err) {
      return { code: (err as { code?: string }).code ?? String(err) }
    }
  }

  test.each(EXPRESSIONS)('%s', async (expr) => {
    const sql = `SELECT ${expr} AS v`
    const expected = await run(oracle, sql)
    const actual = await run(ours, sql)
    expect(actual).toEqual(expected)
  })

  test('untyped parameters take the types the functions ask for', async () => {
    const sql = "SELECT split_part($1, ',', $2) AS a, lpad($1, $2, $3) AS b, position($3 IN $1) AS c"
    const params = ['x,y,z', '-2', 'z']
    const expected = await oracle.query({ text: sql, values: params, types: asText })
    const actual = await ours.query({ text: sql, values: params, types: asText })
    expect(actual.rows).toEqual(expected.rows)
    expect(actual.rows[0]).toEqual({ a: 'y', b: '', c: '5' })
  })

  test('repeat refuses a result over the bound with 54000 and the session carries on', async () => {
    const err = await ours.query("SELECT repeat('abcdefgh', 10000000) AS v").catch((e: { code?: string }) => e)
    expect((err as { code?: string }).code).toBe('54000')
    const pad = await ours.query("SELECT lpad('x', 100000000, 'y') AS v").catch((e: { code?: string }) => e)
    expect((pad as { code?: string }).code).toBe('54000')
    const ok = await ours.query("SELECT length(repeat('ab', 1000)) AS v, length(lpad('x', 10000000, 'yz')) AS p")
    expect(ok.rows[0]).toEqual({ v: 2000, p: 10000000 })
  })

  test('the functions work in a continuous view over a stream', async () => {
    await ours.query('CREATE STREAM str_events (path text, who text)')
    await ours.query(
      "CREATE MATERIALIZED VIEW str_view AS SELECT split_part(path, '/', -1) AS leaf, initcap(who) AS who, lpad(count(*)::text, 3, '0') AS n FROM str_events GROUP BY 1, 2",
    )
    await ours.query("INSERT INTO str_events VALUES ('/a/b/page', 'ada lovelace'), ('/x/page', 'ada lovelace'), ('/home', NULL)")
    const deadline = Date.now() + 10_000
    let rows: unknown[] = []
    while (Date.now() < deadline) {
      rows = (await ours.query('SELECT leaf, who, n FROM str_view ORDER BY leaf')).rows
      if (rows.length === 2 && (rows as { n: string }[]).some((r) => r.n === '002')) break
      await new Promise((r) => setImmediate(r))
    }
    expect(rows).toEqual([
      { leaf: 'home', who: null, n: '001' },
      { leaf: 'page', who: 'Ada Lovelace', n: '002' },
    ])
    await ours.query(
      "CREATE MATERIALIZED VIEW str_parts AS SELECT string_to_array(path, '/', '') AS parts, encode(decode(md5(path), 'hex'), 'base64') AS h, concat_ws(':', who, path) AS tag FROM str_events",
    )
    await ours.query("INSERT INTO str_events VALUES ('/q/r', 'bo')")
    const want = (await oracle.query({ text: "SELECT string_to_array('/q/r', '/', '') AS parts, encode(decode(md5('/q/r'), 'hex'), 'base64') AS h, 'bo:/q/r' AS tag", types: asText })).rows
    let got: unknown[] = []
    const until = Date.now() + 10_000
    while (Date.now() < until) {
      got = (await ours.query({ text: "SELECT parts, h, tag FROM str_parts WHERE tag = 'bo:/q/r'", types: asText })).rows
      if (got.length > 0) break
      await new Promise((r) => setImmediate(r))
    }
    expect(got).toEqual(want)
  })
})
