/**
 * insertJson's partition key, read from the raw JSON without parsing it: whatever the shortcut, the key is
 * the one JSON.parse gives, so that a record lands where a typed INSERT of the same row would.
 */
import { describe, expect, it } from 'vitest'
import { jsonKeyExtractor } from './engine.ts'

const parsed = (name: string, record: string): string | undefined => {
  try {
    const v = (JSON.parse(record) as Record<string, unknown>)[name]
    return v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v)
  } catch {
    return undefined
  }
}

describe('jsonKeyExtractor', () => {
  it('gives the key JSON.parse gives, duplicates and look-alikes included', () => {
    const key = jsonKeyExtractor('player_id')
    const records = [
      '{"player_id":10013,"game":"tetris","ts":1795000000039}',
      '{"player_id":1,"player_id":2}',
      '{"player_id":1,"x":0,"player_id":"two"}',
      '{"a":"x","player_id":"p1","b":"player_id"}',
      '{"player_id":3,"x":"\\"player_id\\":9"}',
      '{"other_player_id":4,"player_id":5}',
      '{"player_id":6,"other_player_id":7,"my_player_id":8}',
      '{"player_id" : 8 }',
      '{"player_id":-0}',
      '{"player_id":"a\\"b"}',
      '{"player_id":null}',
      '{"x":1}',
      'not json',
    ]
    for (const r of records) expect(key(r), r).toBe(parsed('player_id', r))
  })
})
