import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import type * as ast from './ast.ts'
import { initParser, parseStatements } from './index.ts'

beforeAll(async () => {
  await initParser()
})

const one = (sql: string): ast.Statement => {
  const parsed = parseStatements(sql)
  expect(parsed).toHaveLength(1)
  return parsed[0]!.statement
}

function failure(sql: string): { sqlstate: string; message: string; at: string } {
  try {
    parseStatements(sql)
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    const e = err as SluiceError
    const span = e.span ?? { start: -1, end: -1 }
    return { sqlstate: e.sqlstate, message: e.message, at: sql.slice(span.start, span.end) }
  }
  throw new Error(`expected ${sql} to fail`)
}

describe('SUBSCRIBE and COPY', () => {
  it('parses the relation and options', () => {
    const s = one('SUBSCRIBE TO per_game WITH (snapshot = false, progress = true)') as ast.Subscribe
    expect(s.kind).toBe('subscribe')
    expect(s.relation.parts).toEqual(['per_game'])
    expect(s.options.map((o) => [o.name, o.value])).toEqual([['snapshot', false], ['progress', true]])
    expect((one('subscribe "Per Game"') as ast.Subscribe).relation.parts).toEqual(['Per Game'])
  })

  it('parses COPY (SUBSCRIBE ...) and COPY (SELECT ...) TO STDOUT', () => {
    const c = one('COPY (SUBSCRIBE v WITH (snapshot = false)) TO STDOUT') as ast.CopyTo
    expect(c.kind).toBe('copy_to')
    expect(c.source.kind).toBe('subscribe')
    const q = one('copy (select a from (select 1 as a) x) to stdout with (format text)') as ast.CopyTo
    expect(q.source.kind).toBe('query')
    expect(q.options.map((o) => [o.name, o.value])).toEqual([['format', 'text']])
    expect(failure('COPY (SUBSCRIBE v) TO \'/tmp/x\'').sqlstate).toBe('0A000')
    expect(failure('SUBSCRIBE (SELECT 1)').sqlstate).toBe('0A000')
  })
})

describe('cursors', () => {
  it('parses DECLARE with its flags over a query or SUBSCRIBE', () => {
    const d = one('DECLARE c BINARY NO SCROLL CURSOR WITH HOLD FOR SELECT 1 AS x') as ast.DeclareCursor
    expect([d.kind, d.name, d.binary, d.hold, d.source.kind]).toEqual(['declare_cursor', 'c', true, true, 'query'])
    const live = one('declare "Live" cursor without hold for subscribe v') as ast.DeclareCursor
    expect([live.name, live.binary, live.hold, live.source.kind]).toEqual(['Live', false, false, 'subscribe'])
    expect(failure('DECLARE c CURSOR FOR INSERT INTO s VALUES (1)').sqlstate).toBe('42601')
  })

  it('parses FETCH and MOVE directions, FROM/IN and the timeout', () => {
    const f = (sql: string) => {
      const s = one(sql) as ast.FetchCursor
      return [s.move, s.count, s.name, s.timeoutMs]
    }
    expect(f('FETCH c')).toEqual([false, 1, 'c', null])
    expect(f('FETCH NEXT FROM c')).toEqual([false, 1, 'c', null])
    expect(f('FETCH 5 IN c')).toEqual([false, 5, 'c', null])
    expect(f('FETCH FORWARD ALL c')).toEqual([false, null, 'c', null])
    expect(f("FETCH ALL c WITH (timeout = '1s')")).toEqual([false, null, 'c', 1000])
    expect(f("FETCH 10 c WITH (timeout = '250ms')")).toEqual([false, 10, 'c', 250])
    expect(f('FETCH c WITH (timeout = 2)')).toEqual([false, 1, 'c', 2000])
    expect(f('MOVE FORWARD 3 IN c')).toEqual([true, 3, 'c', null])
    expect(failure('FETCH BACKWARD 1 FROM c')).toMatchObject({ sqlstate: '55000', at: 'BACKWARD' })
    expect(failure("FETCH c WITH (timeout = 'soon')").sqlstate).toBe('42601')
    expect(failure('FETCH c WITH (wait = 1)').sqlstate).toBe('42601')
  })

  it('parses CLOSE name and CLOSE ALL, and leaves ALTER STREAM ... CLOSE alone', () => {
    expect(one('CLOSE c')).toMatchObject({ kind: 'close_cursor', name: 'c' })
    expect(one('CLOSE ALL')).toMatchObject({ kind: 'close_cursor', name: null })
    expect(one('ALTER STREAM s CLOSE')).toMatchObject({ kind: 'alter_stream', action: 'close' })
  })
})
