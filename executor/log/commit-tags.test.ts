/**
 * Tags committed with a batch (commit-file.ts): back after a reopen exactly when the batch is, kept across
 * the commit file's rewrites, the newest MAX_TAGS of them.
 */
import { mkdtemp, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MAX_TAGS } from './commit-file.ts'
import { StreamLog } from './stream-log.ts'

const tag = (s: string) => Buffer.from(s)

describe('StreamLog tags', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-tags-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('come back after a reopen in commit order, concurrent batches (one group commit) included', async () => {
    let log = await StreamLog.open(dir, 2)
    await log.appendBatch([['a'], []], tag('first'))
    await log.appendBatch([['b'], ['c']])
    await Promise.all([log.appendBatch([['d'], []], tag('second')), log.appendBatch([[], ['e']], tag('third')), log.appendBatch([[], []], tag('empty batch'))])
    expect(log.committedTags.map(String)).toEqual(['first', 'second', 'third'])
    await log.close()
    log = await StreamLog.open(dir, 2)
    expect(log.committedTags.map(String)).toEqual(['first', 'second', 'third'])
    expect([log.endOffset(0), log.endOffset(1)]).toEqual([3, 2])
    await log.close()
  })

  it('a batch whose commit record was cut short is gone with its tag', async () => {
    let log = await StreamLog.open(dir, 1)
    await log.appendBatch([['a']], tag('kept'))
    const committedBytes = (await stat(join(dir, 'commits'))).size
    await log.appendBatch([['b', 'c']], tag('cut'))
    await log.close()
    // What a kill -9 in the middle of the commit write leaves: a torn last record.
    await truncate(join(dir, 'commits'), committedBytes + 10)
    log = await StreamLog.open(dir, 1)
    expect(log.endOffset(0)).toBe(1)
    expect(log.committedTags.map(String)).toEqual(['kept'])
    await log.close()
  })

  it('survive the commit file being rewritten, the newest MAX_TAGS of them', async () => {
    let log = await StreamLog.open(dir, 1)
    const total = MAX_TAGS + 1500
    const pad = 'x'.repeat(120)
    for (let i = 0; i < total; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => log.appendBatch([[`r${i + k}`]], tag(`t${i + k}-${pad}`))))
    }
    // 11,500 records of ~150 bytes (1.7 MB) went through the file: it was rewritten, and stays within four
    // times the kept tags' bytes.
    expect((await stat(join(dir, 'commits'))).size).toBeLessThan(4 * MAX_TAGS * 140)
    const expected = Array.from({ length: MAX_TAGS }, (_, j) => `t${total - MAX_TAGS + j}-${pad}`)
    expect(log.committedTags.map(String)).toEqual(expected)
    await log.close()
    log = await StreamLog.open(dir, 1)
    expect(log.committedTags.map(String)).toEqual(expected)
    expect(log.endOffset(0)).toBe(total)
    await log.close()
  }, 120_000)
})
