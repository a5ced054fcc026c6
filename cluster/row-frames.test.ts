import { describe, expect, test } from 'vitest'
import { SluiceError, SqlState } from '../common/errors.ts'
import { Numeric } from '../common/numeric.ts'
import type { Row } from '../common/types.ts'
import { endFrame, errorFrame, readRowFrames, rowFrame } from './row-frames.ts'

/** The frames cut into chunks of `size` bytes, as a socket may deliver them. */
async function* chunks(buf: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
}

async function read(buf: Buffer, size: number): Promise<Row[]> {
  const out: Row[] = []
  for await (const row of readRowFrames(chunks(buf, size), 'peer')) out.push(row)
  return out
}

describe('row frames between nodes', () => {
  const rows: Row[] = [
    ['p7', 151, new Numeric(123456789012345678901234567890n, 3), { months: 1, days: 2, micros: 3_000_001 }, Buffer.from([0, 255, 7]), null, true, ['a', null]],
    [Number.MAX_SAFE_INTEGER, -0.5, '', false],
  ]

  test('rows arrive with their types, however the bytes are cut', async () => {
    const buf = Buffer.concat([...rows.map(rowFrame), endFrame()])
    for (const size of [1, 3, 7, buf.length]) expect(await read(buf, size)).toEqual(rows)
  })

  test("the peer's error is raised with its SQLSTATE; a stream cut short is an error, not a shorter answer", async () => {
    const failed = Buffer.concat([rowFrame(rows[0]!), errorFrame(new SluiceError('execution', SqlState.objectNotInPrerequisiteState, 'task 3 stopped'))])
    await expect(read(failed, 4)).rejects.toMatchObject({ sqlstate: '55000', message: 'node peer: task 3 stopped' })
    await expect(read(Buffer.concat([rowFrame(rows[0]!)]), 5)).rejects.toMatchObject({ sqlstate: '08006' })
  })
})
