import { describe, expect, test } from 'vitest'
import { Types, arrayOf, type Column } from '../../common/types.ts'
import { redactConnections } from './connection-secrets.ts'
import { latestByKey, recordRow, valueText } from './sink-target.ts'
import { sinkDirectory } from './sink-targets.ts'

const col = (name: string, type: Column['type']): Column => ({ name, type, nullable: true })

describe('sink targets: pure parts', () => {
  test('connection passwords are masked in URLs, query parameters and keyword form', () => {
    expect(redactConnections("... INTO POSTGRES TABLE 't' WITH (connection = 'postgresql://bi:hunter2@db:5432/x?sslmode=require&password=p2')")).toBe(
      "... INTO POSTGRES TABLE 't' WITH (connection = 'postgresql://bi:***@db:5432/x?sslmode=require&password=***')",
    )
    expect(redactConnections('mysql://root:s3cret@127.0.0.1:3306/db')).toBe('mysql://root:***@127.0.0.1:3306/db')
    expect(redactConnections('postgres://bi@db/x')).toBe('postgres://bi@db/x')
    expect(redactConnections('host=db password=abc user=x')).toBe('host=db password=*** user=x')
  })

  test('later records of a key replace earlier ones, across batches', () => {
    const out = latestByKey([
      { batch: 1, records: [{ key: 'a', value: '{"k":"a","n":1}' }, { key: 'b', value: '{"k":"b","n":1}' }] },
      { batch: 2, records: [{ key: 'a', value: null }, { key: null, value: '{"k":null,"n":9}' }] },
    ])
    expect(out).toEqual([{ key: 'a', value: null }, { key: 'b', value: '{"k":"b","n":1}' }, { key: null, value: '{"k":null,"n":9}' }])
  })

  test('a tombstone carries only its key values; several key columns come from the JSON key', () => {
    const columns = [col('a', Types.int8), col('b', Types.text), col('n', Types.int8)]
    expect(recordRow({ key: '[7,"x"]', value: null }, columns, [0, 1])).toEqual([7, 'x', null])
    expect(recordRow({ key: 'x', value: null }, columns, [1])).toEqual([null, 'x', null])
    expect(recordRow({ key: 'x', value: '{"a":1,"b":"x","n":null}' }, columns, [1])).toEqual([1, 'x', null])
  })

  test('values as database text: booleans, JSON, arrays as PostgreSQL literals or JSON', () => {
    expect(valueText(true, col('f', Types.bool), 'postgres')).toBe('t')
    expect(valueText({ a: [1] }, col('j', Types.jsonb), 'postgres')).toBe('{"a":[1]}')
    expect(valueText(['a"b', null, 'c,d'], col('t', arrayOf(Types.text)), 'postgres')).toBe('{"a\\"b",NULL,"c,d"}')
    expect(valueText(['a'], col('t', arrayOf(Types.text)), 'json')).toBe('["a"]')
    expect(valueText(null, col('t', Types.text), 'postgres')).toBeNull()
  })

  test('a sink directory stays inside the files directory', () => {
    expect(sinkDirectory('/srv/files', 'minutes')).toBe('/srv/files/minutes')
    expect(sinkDirectory('/srv/files', 'a/../b')).toBe('/srv/files/b')
    expect(() => sinkDirectory('/srv/files', '../etc')).toThrow(/outside the server's files directory/)
    expect(() => sinkDirectory('/srv/files', '/etc')).toThrow(/outside/)
  })
})
