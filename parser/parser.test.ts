import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import type * as ast from './ast.ts'
import { initParser, parseExpression, parseStatements } from './index.ts'

beforeAll(async () => {
  await initParser()
})

const one = (sql: string): ast.Statement => {
  const parsed = parseStatements(sql)
  expect(parsed).toHaveLength(1)
  return parsed[0]!.statement
}

/** The error a statement raises, with the text its span points at. */
function failure(sql: string): { sqlstate: string; message: string; at: string; start: number } {
  try {
    parseStatements(sql)
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    const e = err as SluiceError
    const span = e.span ?? { start: -1, end: -1 }
    return { sqlstate: e.sqlstate, message: e.message, at: sql.slice(span.start, span.end), start: span.start }
  }
  throw new Error(`expected ${sql} to fail`)
}

describe('CREATE STREAM', () => {
  it('parses columns, types, NOT NULL, the watermark and options', () => {
    const s = one(`CREATE STREAM IF NOT EXISTS game_events (
        player_id BIGINT NOT NULL, "Game" text, amount numeric(10, 2), score double precision, tags text[],
        ts timestamp with time zone NOT NULL,
        WATERMARK FOR ts AS ts - INTERVAL '5 seconds'
      ) WITH (key = 'player_id', partitions = 8, allowed_lateness = INTERVAL '1' MINUTES, 'format' = json, exact = true)`)
    expect(s.kind).toBe('create_stream')
    const cs = s as ast.CreateStream
    expect(cs.ifNotExists).toBe(true)
    expect(cs.columns.map((c) => [c.name, c.type.name, c.type.modifiers, c.type.isArray, c.notNull])).toEqual([
      ['player_id', 'int8', [], false, true],
      ['Game', 'text', [], false, false],
      ['amount', 'numeric', [10, 2], false, false],
      ['score', 'float8', [], false, false],
      ['tags', 'text', [], true, false],
      ['ts', 'timestamptz', [], false, true],
    ])
    expect(cs.watermark?.column).toBe('ts')
    expect(cs.watermark?.expr.kind).toBe('binary_op')
    const opts = Object.fromEntries(cs.options.map((o) => [o.name, typeof o.value === 'object' ? o.value.kind : o.value]))
    expect(opts).toEqual({ key: 'player_id', partitions: 8, allowed_lateness: 'literal', format: 'json', exact: true })
  })

  it('parses metadata columns', () => {
    const cs = one(`CREATE STREAM s (p INT METADATA FROM 'partition', "offset" BIGINT METADATA VIRTUAL, a TEXT NOT NULL)`) as ast.CreateStream
    expect(cs.columns.map((c) => [c.name, c.metadata ?? null, c.notNull])).toEqual([
      ['p', 'partition', false],
      ['offset', 'offset', false],
      ['a', null, true],
    ])
    expect(failure('CREATE STREAM s (p INT METADATA FROM partition)')).toMatchObject({ sqlstate: '42601', at: 'partition' })
  })

  it('points at the offending token', () => {
    expect(failure('CREATE STREAM s (a int,, b int)')).toMatchObject({ sqlstate: '42601', at: ',', start: 23 })
    expect(failure('CREATE STREAM s (a int) WITH (key)')).toMatchObject({ sqlstate: '42601', at: ')' })
    expect(failure('CREATE STREAM s (a int, WATERMARK FOR a AS a +)')).toMatchObject({ sqlstate: '42601' })
    expect(failure('CREATE STREAM s (a int) garbage')).toMatchObject({ sqlstate: '42601', at: 'garbage' })
    expect(failure('CREATE STREAM s (a int PRIMARY KEY)')).toMatchObject({ sqlstate: '0A000', at: 'PRIMARY' })
  })
})

describe('CREATE MATERIALIZED VIEW', () => {
  it('takes the query from libpg-query and EMIT from our layer', () => {
    const s = one(`CREATE MATERIALIZED VIEW ends AS
      SELECT window_start, game, count(*) AS n, sum(amount) FILTER (WHERE level > 3) AS big
      FROM TUMBLE(game_events, ts, INTERVAL '1' MINUTES) WHERE type = 'game_end' GROUP BY window_start, game
      EMIT ON WINDOW CLOSE`) as ast.CreateView
    expect(s.kind).toBe('create_view')
    expect(s.queryText.startsWith('SELECT window_start')).toBe(true)
    expect(s.queryText.endsWith('GROUP BY window_start, game')).toBe(true)
    const q = s.query as ast.Select
    expect(q.emit).toBe('on_window_close')
    expect(q.from[0]?.kind).toBe('window_tvf')
    expect(q.groupBy).toHaveLength(2)
  })

  it('reports errors inside the query at their place in the whole statement', () => {
    const sql = 'CREATE MATERIALIZED VIEW v AS SELECT a FROM s WHERE'
    expect(failure(sql)).toMatchObject({ sqlstate: '42601', start: sql.length })
    expect(failure('CREATE MATERIALIZED VIEW v AS SELEC 1')).toMatchObject({ at: 'SELEC' })
  })
})

describe('other statements', () => {
  it('splits a script and keeps each text', () => {
    const parsed = parseStatements("SELECT 1; ; SHOW STREAMS;\n-- done\nINSERT INTO s VALUES (1, 'a;b')")
    expect(parsed.map((p) => p.statement.kind)).toEqual(['query', 'show', 'insert'])
    expect(parsed[2]!.text).toBe("INSERT INTO s VALUES (1, 'a;b')")
    expect(parseStatements('  -- nothing\n')).toEqual([])
  })

  it('parses DROP, SHOW and EXPLAIN', () => {
    expect(one('DROP STREAM IF EXISTS a, b CASCADE')).toMatchObject({ kind: 'drop', objectKind: 'stream', ifExists: true, cascade: true })
    expect(one('DROP MATERIALIZED VIEW v')).toMatchObject({ kind: 'drop', objectKind: 'view', ifExists: false })
    expect(one('SHOW MATERIALIZED VIEWS')).toMatchObject({ kind: 'show', name: 'materialized views' })
    expect(one('SHOW server_version')).toMatchObject({ kind: 'show', name: 'server_version' })
    expect(one('EXPLAIN SELECT * FROM v')).toMatchObject({ kind: 'explain', statement: { kind: 'query' } })
    expect(one('EXPLAIN (VERBOSE) CREATE MATERIALIZED VIEW v AS SELECT 1')).toMatchObject({ kind: 'explain', verbose: true, statement: { kind: 'create_view' } })
  })

  it('gives SQLSTATE 42601 and the position for syntax errors', () => {
    expect(failure('SELEC 1')).toMatchObject({ sqlstate: '42601', at: 'SELEC', start: 0 })
    expect(failure('SELECT 1 +')).toMatchObject({ sqlstate: '42601', start: 10 })
    expect(failure("SELECT 'é', foo bar baz")).toMatchObject({ at: 'baz', start: 20 })
    expect(failure("SELECT 'unterminated")).toMatchObject({ sqlstate: '42601' })
  })

  it('parses lone expressions', () => {
    expect(parseExpression("ts - INTERVAL '5' SECONDS")).toMatchObject({ kind: 'binary_op', op: '-' })
  })
})
