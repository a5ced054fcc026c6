import { open as openFile, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StreamLog, partitionFor } from './stream-log.ts'

const rec = (i: number) => Buffer.from(`record-${i}-${'x'.repeat(i % 50)}`)

describe('StreamLog', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-log-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('appends and reads by offset across segment rolls and reopens', async () => {
    let log = await StreamLog.open(dir, 2, { segmentBytes: 4096 })
    for (let b = 0; b < 20; b++) await log.append(0, Array.from({ length: 50 }, (_, i) => rec(b * 50 + i)))
    await log.append(1, [rec(0)])
    expect(log.endOffset(0)).toBe(1000)
    expect((await readdir(join(dir, 'p0'))).length).toBeGreaterThan(5)
    const all: string[] = []
    for (let off = 0; off < 1000; ) {
      const { records, nextOffset } = await log.read(0, off, 77)
      all.push(...records.map(String))
      off = nextOffset
    }
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => String(rec(i))))
    // Random access lands on the right record.
    for (const at of [0, 1, 255, 256, 257, 613, 999]) expect(String((await log.read(0, at, 1)).records[0])).toBe(String(rec(at)))
    expect((await log.read(0, 1000, 10)).records).toEqual([])
    await log.close()
    log = await StreamLog.open(dir, 2, { segmentBytes: 4096 })
    expect([log.endOffset(0), log.endOffset(1)]).toEqual([1000, 1])
    expect(String((await log.read(0, 876, 1)).records[0])).toBe(String(rec(876)))
    await log.close()
  })

  it('truncates a torn tail left by a crash and keeps appending after it', async () => {
    let log = await StreamLog.open(dir, 1)
    await log.append(0, [rec(1), rec(2), rec(3)])
    await log.close()
    const file = join(dir, 'p0', (await readdir(join(dir, 'p0')))[0]!)
    const size = (await stat(file)).size
    await truncate(file, size - 3)
    log = await StreamLog.open(dir, 1)
    expect(log.endOffset(0)).toBe(2)
    await log.append(0, [rec(4)])
    expect((await log.read(0, 0, 10)).records.map(String)).toEqual([rec(1), rec(2), rec(4)].map(String))
    await log.close()

    // A corrupted payload (bad checksum) in the tail is cut off the same way.
    const fh = await openFile(file, 'r+')
    await fh.write(Buffer.from('#'), 0, 1, (await stat(file)).size - 2)
    await fh.close()
    log = await StreamLog.open(dir, 1)
    expect(log.endOffset(0)).toBe(2)
    await log.close()
  })

  it('serializes concurrent appends to one partition', async () => {
    const log = await StreamLog.open(dir, 1)
    await Promise.all(Array.from({ length: 20 }, (_, b) => log.append(0, Array.from({ length: 10 }, (_, i) => rec(b * 10 + i)))))
    const { records } = await log.read(0, 0, 1000)
    expect(records).toHaveLength(200)
    expect(new Set(records.map(String)).size).toBe(200)
    await log.close()
  })

  it('stores strings (ASCII, Latin-1, beyond) and Buffers as their UTF-8 bytes, checksummed', async () => {
    const records = ['{"a":1}', 'caf\u00e9 \u00ff', 'na\u00efve \u{1f600} \u4e2d', '', 'x'.repeat(500), Buffer.from('caf\u00e9', 'utf8'), `"\u00e9${'y'.repeat(300)}"`]
    let log = await StreamLog.open(dir, 1)
    await log.append(0, records)
    await log.close()
    // Reopened, every record's checksum is verified (a mismatch would be cut off as a torn tail) and the
    // records come from the file, not from memory.
    log = await StreamLog.open(dir, 1)
    expect(log.endOffset(0)).toBe(records.length)
    const { records: back } = await log.read(0, 0, 100)
    expect(back.map((r) => Buffer.from(r as Buffer))).toEqual(records.map((r) => (typeof r === 'string' ? Buffer.from(r, 'utf8') : r)))
    await log.close()
  })

  it('spreads keys over partitions stably, by the UTF-8 bytes of the key', () => {
    const reference = (key: string, partitions: number): number => {
      let h = 0x811c9dc5
      for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193)
      return (h >>> 0) % partitions
    }
    for (const key of ['player-1', '', '10013', 'caf\u00e9', '\u00ff', 'na\u00efve \u{1f600}', '\u4e2d\u6587']) {
      for (const n of [1, 3, 4, 7, 64]) expect(partitionFor(key, n)).toBe(reference(key, n))
    }
    expect(partitionFor('player-1', 4)).toBe(partitionFor('player-1', 4))
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 10_000; i++) counts[partitionFor(String(i), 4)]!++
    for (const c of counts) expect(c).toBeGreaterThan(2000)
  })

  it('moves a million small records (rate printed, not asserted)', async () => {
    const log = await StreamLog.open(dir, 1)
    const payload = Buffer.alloc(100, 'a')
    const t0 = performance.now()
    for (let b = 0; b < 100; b++) await log.append(0, Array.from({ length: 10_000 }, () => payload))
    const t1 = performance.now()
    let n = 0
    for (let off = 0; off < 1_000_000; ) {
      const { records, nextOffset } = await log.read(0, off, 4096)
      n += records.length
      off = nextOffset
    }
    const t2 = performance.now()
    expect(n).toBe(1_000_000)
    console.log(`stream-log: append ${Math.round(1e6 / ((t1 - t0) / 1000))} rec/s, read ${Math.round(1e6 / ((t2 - t1) / 1000))} rec/s`)
    await log.close()
  })
})
