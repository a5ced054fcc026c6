import { describe, expect, test } from 'vitest'
import type { Mutation } from '../executor/state/rocks.ts'
import { changelogRecord, mutationOfRecord } from './changelog.ts'

/** A mutation through its changelog record and back, as a restore reads it (key and value; headers not read). */
function roundTrip(m: Mutation): Mutation {
  const r = changelogRecord(m)
  return mutationOfRecord(r.key, r.value)
}

describe('changelog records', () => {
  test('puts, deletes and range deletes come back as written', () => {
    const put: Mutation = { kind: 'put', key: Buffer.from('t\u0000\u0000\u0000\u0001abc', 'latin1'), value: Buffer.from([0, 1, 2, 255]) }
    const empty: Mutation = { kind: 'put', key: Buffer.from('progress/3'), value: Buffer.alloc(0) }
    const del: Mutation = { kind: 'delete', key: Buffer.from('t\u0000\u0000\u0000\u0002x', 'latin1') }
    const range: Mutation = { kind: 'deleteRange', start: Buffer.from([0x74, 0, 0, 0, 5]), end: Buffer.from([0x74, 0, 0, 0, 6]) }
    for (const m of [put, empty, del, range]) expect(roundTrip(m)).toEqual(m)
  })

  test('a delete is a tombstone, and a range delete is keyed apart from every state key', () => {
    expect(changelogRecord({ kind: 'delete', key: Buffer.from('k') }).value).toBeNull()
    const a = changelogRecord({ kind: 'deleteRange', start: Buffer.from([1]), end: Buffer.from([2]) })
    const b = changelogRecord({ kind: 'deleteRange', start: Buffer.from([1]), end: Buffer.from([3]) })
    expect(a.key[0]).toBe(0xff)
    // Another range is another key: compaction keeps both.
    expect(a.key.equals(b.key)).toBe(false)
  })
})
