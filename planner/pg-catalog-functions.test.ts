import { beforeAll, describe, expect, it } from 'vitest'
import { initParser } from '../parser/index.ts'
import { aclDefault, formatText, quoteIdent, quoteLiteral } from './pg-catalog-functions.ts'
import { isQuotedKeyword, tableFunctionRows } from './table-functions.ts'
import { viewDefinition } from './view-definition.ts'

describe('format, quote_ident, quote_literal', () => {
  it('formats %s, %I, %L, %%, positions and widths as PostgreSQL does', () => {
    expect(formatText('%s|%I|%L|%L|%%', ['a', 'Select', null, "it's"])).toBe(`a|"Select"|NULL|'it''s'|%`)
    expect(formatText('%2$s %1$s %s', ['x', 'y'])).toBe('y x y')
    expect(formatText('[%5s][%-5s]', ['ab', 'cd'])).toBe('[   ab][cd   ]')
    expect(() => formatText('%s %s', ['a'])).toThrow(/too few arguments/)
    expect(() => formatText('%I', [null])).toThrow(expect.objectContaining({ sqlstate: '22004' }))
  })

  it('quotes identifiers that are not lower case or are keywords that need it', () => {
    expect(quoteIdent('plain_name')).toBe('plain_name')
    expect(quoteIdent('select')).toBe('"select"')
    expect(quoteIdent('abort')).toBe('abort')
    expect(quoteIdent('a"b')).toBe('"a""b"')
    expect(isQuotedKeyword('user')).toBe(true)
  })

  it('writes literals, with E and doubled backslashes when one is present', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(quoteLiteral('a\\b')).toBe("E'a\\\\b'")
  })

  it("acldefault: an owner's default privileges per object kind", () => {
    expect(aclDefault('r', 'alice')).toEqual(['alice=arwdDxt/alice'])
    expect(aclDefault('n', 'alice')).toEqual(['alice=UC/alice'])
    expect(aclDefault('f', 'alice')).toEqual(['=X/alice', 'alice=X/alice'])
  })
})

describe('set-returning functions', () => {
  it('generate_subscripts gives the subscripts of dimension 1, reversed on request', () => {
    expect(tableFunctionRows('generate_subscripts', [['a', 'b', 'c'], 1])).toEqual([[1], [2], [3]])
    expect(tableFunctionRows('generate_subscripts', [['a', 'b'], 1, true])).toEqual([[2], [1]])
    expect(tableFunctionRows('generate_subscripts', [['a'], 2])).toEqual([])
    expect(tableFunctionRows('generate_subscripts', [null, 1])).toEqual([])
  })

  it('pg_options_to_table splits name=value', () => {
    expect(tableFunctionRows('pg_options_to_table', [['fillfactor=70', 'x']])).toEqual([['fillfactor', '70'], ['x', null]])
  })

  it("pg_get_keywords lists PostgreSQL 15's keywords with their categories", () => {
    const rows = tableFunctionRows('pg_get_keywords', [])
    expect(rows.length).toBeGreaterThan(400)
    expect(rows.find((r) => r[0] === 'select')).toEqual(['select', 'R', true, 'reserved', 'can be bare label'])
    expect(rows.find((r) => r[0] === 'between')).toEqual(['between', 'C', true, 'unreserved (cannot be function or type name)', 'can be bare label'])
  })
})

describe('view definitions', () => {
  beforeAll(() => initParser())
  const sql = 'CREATE MATERIALIZED VIEW ends AS SELECT game, count(*) AS ends FROM game_events GROUP BY game'

  it('are the query with a leading space and a semicolon', () => {
    expect(viewDefinition(sql, new Set())).toBe(' SELECT game, count(*) AS ends FROM game_events GROUP BY game;')
  })

  it('name relations with their schema when asked (search_path without public)', () => {
    expect(viewDefinition(sql, new Set(['game_events']))).toBe(' SELECT game, count(*) AS ends FROM public.game_events GROUP BY game;')
    const tumble = "CREATE MATERIALIZED VIEW m AS SELECT window_start, count(*) AS n FROM TUMBLE(game_events, ts, INTERVAL '1 minute') GROUP BY window_start"
    expect(viewDefinition(tumble, new Set(['game_events']))).toContain('FROM TUMBLE(public.game_events, ts,')
    // A CTE is inlined at each reference: its relations are still qualified once, and the CTE's name never.
    const cte = "CREATE MATERIALIZED VIEW m AS WITH b AS (SELECT ts FROM game_events), c AS (SELECT * FROM b) SELECT count(*) FROM TUMBLE(c, ts, INTERVAL '1 minute') GROUP BY window_start"
    expect(viewDefinition(cte, new Set(['game_events', 'b', 'c']))).toBe(" WITH b AS (SELECT ts FROM public.game_events), c AS (SELECT * FROM b) SELECT count(*) FROM TUMBLE(c, ts, INTERVAL '1 minute') GROUP BY window_start;")
    expect(viewDefinition('CREATE MATERIALIZED VIEW m AS WITH a AS (SELECT ts FROM game_events) SELECT * FROM a x, a y', new Set(['game_events']))).toBe(' WITH a AS (SELECT ts FROM public.game_events) SELECT * FROM a x, a y;')
  })
})
