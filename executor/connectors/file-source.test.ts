/**
 * The file source's reading of lines from a real file: byte offsets, CRLF, empty and unterminated lines,
 * lines longer than the read buffer or than the limit, UTF-8, and reading in parts.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { FileSource, MAX_LINE_BYTES } from './file-source.ts'

describe('FileSource', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-source-test-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** Every record from offset 0 in reads of at most `max`, with its offset. */
  async function readAll(source: FileSource, max = 1000): Promise<[number, string][]> {
    const out: [number, string][] = []
    let from = 0
    while (from < source.endOffset(0)) {
      const batch = await source.read(0, from, max)
      expect(batch.nextOffset).toBeGreaterThan(from)
      batch.records.forEach((r, i) => out.push([batch.offsets![i]!, r as string]))
      from = batch.nextOffset
    }
    return out
  }

  test('lines at their byte offsets; CRLF, empty lines and UTF-8; the last line only once finished', async () => {
    const path = join(dir, 'a.jsonl')
    await writeFile(path, '{"a":1}\r\n\n{"b":"Zo\u00eb"}\n{"c":3}\n{"d":4}')
    let grew = 0
    const source = await FileSource.open(path, 'a.jsonl', () => grew++)
    try {
      expect(source.endOffset(0)).toBe(Buffer.byteLength('{"a":1}\r\n\n{"b":"Zo\u00eb"}\n{"c":3}\n'))
      expect(grew).toBe(1)
      expect(await readAll(source, 2)).toEqual([
        [0, '{"a":1}'],
        [10, '{"b":"Zo\u00eb"}'],
        [10 + Buffer.byteLength('{"b":"Zo\u00eb"}\n'), '{"c":3}'],
      ])
      await appendFile(path, '\n{"e":5}\n{"f"')
      await source.refresh()
      expect(grew).toBe(2)
      expect((await readAll(source)).slice(3).map(([, r]) => r)).toEqual(['{"d":4}', '{"e":5}'])
      await source.finish()
      expect((await readAll(source)).at(-1)![1]).toBe('{"f"')
    } finally {
      await source.close()
    }
  })

  test('overlapping reads (the scan, a SUBSCRIBE, a SELECT) each get their own lines', async () => {
    const path = join(dir, 'many.jsonl')
    const lines = Array.from({ length: 40_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(i % 97) }))
    await writeFile(path, `${lines.join('\n')}\n`)
    const source = await FileSource.open(path, 'many.jsonl', () => undefined)
    try {
      const whole = await readAll(source, 5000)
      expect(whole.map(([, r]) => r)).toEqual(lines)
      // Twenty reads at once from different lines, each of 3,000 lines (several read-buffer fills).
      const starts = Array.from({ length: 20 }, (_, k) => (k * 1931) % lines.length)
      const batches = await Promise.all(starts.map((s) => source.read(0, whole[s]![0], 3000)))
      batches.forEach((b, k) => {
        const s = starts[k]!
        expect(b.records, `read from line ${s}`).toEqual(lines.slice(s, s + 3000))
        expect(b.offsets).toEqual(whole.slice(s, s + 3000).map(([o]) => o))
      })
    } finally {
      await source.close()
    }
  })

  test('a line written in several appends is read once its newline is there, whole', async () => {
    const path = join(dir, 'pieces.jsonl')
    await writeFile(path, '{"a":1}\n{"b"')
    const source = await FileSource.open(path, 'pieces.jsonl', () => undefined)
    try {
      expect(source.endOffset(0)).toBe(8)
      await appendFile(path, ':2')
      await source.refresh()
      expect(source.endOffset(0)).toBe(8)
      await appendFile(path, '}\n')
      await source.refresh()
      expect(await readAll(source)).toEqual([[0, '{"a":1}'], [8, '{"b":2}']])
    } finally {
      await source.close()
    }
  })

  test('a file that does not exist yet is waited for', async () => {
    const path = join(dir, 'later.jsonl')
    const source = await FileSource.open(path, 'f.jsonl', () => undefined)
    try {
      expect(source.endOffset(0)).toBe(0)
      expect((await source.read(0, 0, 10)).records).toEqual([])
      await writeFile(path, '{"x":1}\n')
      await source.refresh()
      expect(await readAll(source)).toEqual([[0, '{"x":1}']])
    } finally {
      await source.close()
    }
  })

  test('a directory where the file should be is an error to the caller and a logged failure to the watcher, never a crash', async () => {
    const path = join(dir, 'becomes-a-dir')
    const source = await FileSource.open(path, 'becomes-a-dir', () => undefined)
    try {
      await mkdir(path)
      await expect(source.refresh()).rejects.toMatchObject({ sqlstate: '42809', message: '"becomes-a-dir" is not a regular file' })
      // The watcher polls every 200 ms and meets the same failure: recorded and reported, not thrown (vitest
      // fails a run on an unhandled rejection).
      const deadline = Date.now() + 10_000
      while (source.watcherFailure === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(source.watcherFailure).toBe('"becomes-a-dir" is not a regular file')
      expect(source.endOffset(0)).toBe(0)
    } finally {
      await source.close()
    }
  })

  test('a line longer than the read buffer is read whole; one beyond the limit becomes a record saying so', async () => {
    const path = join(dir, 'long.jsonl')
    const long = `{"s":"${'x'.repeat(3 << 20)}"}`
    const huge = 'y'.repeat(MAX_LINE_BYTES + 10)
    await writeFile(path, `{"a":1}\n${long}\n${huge}\n{"b":2}\n`)
    const source = await FileSource.open(path, 'f.jsonl', () => undefined)
    try {
      const records = await readAll(source, 10)
      expect(records.map(([, r]) => r.length)).toEqual([7, long.length, expect.any(Number), 7])
      expect(records[2]![1]).toBe(`line at byte ${8 + long.length + 1} is ${huge.length} bytes long, beyond the ${MAX_LINE_BYTES}-byte limit`)
      expect(records[3]).toEqual([8 + long.length + 1 + huge.length + 1, '{"b":2}'])
    } finally {
      await source.close()
    }
  })
})
