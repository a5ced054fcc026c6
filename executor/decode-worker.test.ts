import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Types, type Column } from '../common/types.ts'
import { Numeric } from '../common/numeric.ts'
import { initParser, parseStatements } from '../parser/index.ts'
import type { StreamDef } from '../planner/catalog.ts'
import { DecodeError } from './decode.ts'
import { DecodeWorker, columnCodecs, decodeColumns, packRecords, rowsFrom, type StreamShape } from './decode-worker.ts'
import { Engine } from './engine.ts'
import { streamByteDecoder, streamDecoder } from './record-decoder.ts'

const col = (name: string, type: Column['type'], nullable = true): Column => ({ name, type, nullable })
const def: StreamShape = {
  columns: [
    col('id', Types.int8, false),
    col('name', Types.text),
    col('ok', Types.bool),
    col('amount', Types.numeric),
    col('score', Types.float8),
    col('ts', Types.timestamptz),
    col('doc', Types.jsonb),
    col('offset', Types.int8),
  ],
  metadata: [{ index: 7, key: 'offset' }],
  format: { kind: 'json' },
}

/** Records of every kind a batch may hold: good ones as bytes and as text, bad bytes, bad JSON, bad values. */
const records: (Buffer | string)[] = [
  Buffer.from('{"id": 1, "name": "a", "ok": true, "amount": 2.50, "score": -0.0, "ts": 1795000000039, "doc": {"x": 1.10}}'),
  '{"id": 2, "name": "ünïcode ✓", "ok": false, "amount": null, "ts": "2026-12-07T10:00:00.123456Z"}',
  Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x31, 0xff, 0x7d]), // {"id":1<0xff>}: not UTF-8
  '{"id": 3, "name": "a"', // cut short
  '{"name": "no id"}', // NOT NULL
  Buffer.from('{"id": 4, "name": "a", "ok": null, "score": 1e300, "amount": 12345678901234567890.123}'),
  '{"id": 5, "ts": 9e15}', // out of the event-time range
]

/** What the decoder on this thread makes of each record: the row, or the error's class and message. */
function inPlace(rs: readonly (Buffer | string)[], from: number): unknown[] {
  const decode = streamDecoder(def as unknown as StreamDef)
  return rs.map((r, i) => {
    try {
      return decode(r, 0, from + i, null)
    } catch (err) {
      return { error: (err as Error).message, decodeError: err instanceof DecodeError }
    }
  })
}

/** The same, through the worker's codec. */
function viaColumns(rows: ReturnType<typeof rowsFrom>): unknown[] {
  return rows.rows.map((row, i) => {
    const err = rows.errors.get(i)
    return err === undefined ? row : { error: err.message, decodeError: err instanceof DecodeError }
  })
}

describe('decoding on a second thread: the codec', () => {
  it('gives the rows, dead letters and reasons of the decoder in place, numerics as Numeric', () => {
    const codecs = columnCodecs(def)!
    const packed = packRecords(records)!
    const offsets = Float64Array.from(records, (_, i) => 100 + i)
    const got = viaColumns(rowsFrom(decodeColumns(streamDecoder(def as unknown as StreamDef), streamByteDecoder(def as unknown as StreamDef, null), codecs, packed, 0, offsets, null)))
    const want = inPlace(records, 100)
    expect(got).toEqual(want)
    // The comparison above would pass with plain objects: the numeric must be the class the engine uses.
    expect((got[0] as unknown[])[3]).toBeInstanceOf(Numeric)
    expect(String((got[0] as unknown[])[3])).toBe('2.50')
    expect(Object.is((got[0] as unknown[])[4], -0)).toBe(true)
    expect((got[0] as unknown[])[7]).toBe(100)
    expect(got.filter((g) => g !== null && !Array.isArray(g)).length).toBe(4)
    expect(got[2]).toMatchObject({ decodeError: true, error: expect.stringMatching(/UTF8|UTF-8|encoding/i) })
  })

  it('leaves streams with types that do not cross as columns, and text that is not well-formed, in place', () => {
    expect(columnCodecs({ columns: [col('tags', { name: 'text', element: Types.text } as Column['type'])] })).toBeNull()
    expect(columnCodecs({ columns: [col('span', Types.interval)] })).toBeNull()
    expect(packRecords(['{"name": "\ud800"}'])).toBeNull()
  })
})

describe('decoding on a second thread: the worker', () => {
  const worker = new DecodeWorker()
  afterAll(() => worker.close())

  it('answers batches in the order sent, each with its own offsets', async () => {
    const key = {}
    const batches = [0, 1, 2, 3].map((b) => Array.from({ length: 300 }, (_, i) => `{"id": ${b * 1000 + i}, "name": "n${i % 7}", "amount": ${i}.10}`))
    const answers = await Promise.all(batches.map((rs, b) => worker.decode(key, def, null, rs, 3, rs.map((_, i) => b * 300 + i), undefined)))
    answers.forEach((a, b) => {
      const rows = rowsFrom(a)
      expect(rows.errors.size).toBe(0)
      expect(rows.rows.map((r) => [r![0], r![7], String(r![3])])).toEqual(batches[b]!.map((_, i) => [b * 1000 + i, b * 300 + i, `${i}.10`]))
    })
    // A second stream on the same thread keeps its own decoder.
    const other = await worker.decode({}, { columns: [col('name', Types.text)], metadata: [], format: { kind: 'json' } }, null, ['{"name": 1}'], 0, [0], undefined)
    expect(rowsFrom(other).rows).toEqual([['1']])
    // Bad bytes come back as dead letters with the reason the loop's thread gives.
    const bad = await worker.decode(key, def, null, records, 0, records.map((_, i) => i), undefined)
    expect(viaColumns(rowsFrom(bad))).toEqual(inPlace(records, 0))
  })

  it('refuses work once closed, so that the loop decodes in place', async () => {
    const w = new DecodeWorker()
    const pending = w.decode({}, def, null, ['{"id": 1}'], 0, [0], undefined).then(
      () => 'decoded',
      (err: Error) => err.message,
    )
    await w.close()
    expect(await pending).toContain('closed')
    expect(w.usable).toBe(false)
    await expect(w.decode({}, def, null, ['{"id": 1}'], 0, [0], undefined)).rejects.toThrow('closed')
  })
})

describe('decoding on a second thread: the engine', () => {
  it('counts, skips and files dead letters at the offsets of the records, as without the thread', async () => {
    await initParser()
    const results: unknown[] = []
    for (const decodeThread of [false, true]) {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-decode-thread-'))
      const engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 100, batchSize: 1024, decodeThread })
      try {
        const sql = `CREATE STREAM ev (id BIGINT NOT NULL, kind TEXT, amount NUMERIC, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 8);
          CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) AS n, sum(amount) AS amount, max(id) AS last FROM ev GROUP BY kind`
        for (const p of parseStatements(sql)) {
          const s = p.statement
          if (s.kind === 'create_stream') await engine.createStream(s, p.text)
          else if (s.kind === 'create_view') await engine.createView(s, p.text)
        }
        // Batches large enough for the thread, in several appends, every 97th record malformed; eight
        // partitions, more than MAX_AHEAD batches read ahead at once.
        for (let chunk = 0; chunk < 4; chunk++) {
          const events = Array.from({ length: 8000 }, (_, j) => {
            const i = chunk * 8000 + j
            return i % 97 === 0 ? `{"id": ${i}, "ts": "not a time"}` : JSON.stringify({ id: i, kind: `k${i % 5}`, amount: `${i}.25`, ts: '2026-12-04T10:00:00Z' })
          })
          await engine.insertJson('ev', events)
        }
        await engine.waitCaughtUp('per_kind', 30_000)
        const rows = []
        for await (const r of engine.viewRows('per_kind')) rows.push(r.map(String))
        rows.sort((a, b) => a[0]!.localeCompare(b[0]!))
        const dead = (await engine.deadLetters()).map((d) => `${d.partition}/${d.offset}: ${d.reason}`).sort()
        results.push({ rows, dead, eventsIn: engine.query('per_kind')!.eventsIn })
        if (decodeThread) expect(engine.batchesDecodedOnThread).toBeGreaterThan(5)
        else expect(engine.batchesDecodedOnThread).toBe(0)
      } finally {
        await engine.close()
        await rm(dir, { recursive: true, force: true })
      }
    }
    expect(results[1]).toEqual(results[0])
    expect((results[0] as { dead: string[] }).dead.length).toBe(Math.ceil(32000 / 97))
  })

  it('reads a file stream packed, with the rows, dead letters and offsets of the file read in place', async () => {
    await initParser()
    // Lines of every kind a file holds: JSON, CRLF endings, empty lines, text beyond ASCII, bytes that are
    // not UTF-8 (read as U+FFFD, as the file stream reads them), malformed JSON; a last line without newline.
    const parts: Buffer[] = []
    for (let i = 0; i < 12_000; i++) {
      if (i % 101 === 0) parts.push(Buffer.from(`{"id": ${i}, "ts": 1795000000000, "kind": "cut short"\n`))
      else if (i % 211 === 0) parts.push(Buffer.concat([Buffer.from(`{"id": ${i}, "kind": "k`), Buffer.from([0xff, 0xfe]), Buffer.from(`", "ts": 1795000000000}\n`)]))
      else if (i % 307 === 0) parts.push(Buffer.from(`{"id": ${i}, "kind": "ünï ✓", "ts": 1795000000000}\r\n\n`))
      else parts.push(Buffer.from(`{"id": ${i}, "kind": "k${i % 5}", "amount": ${i}.25, "ts": ${1795000000000 + i}}\n`))
    }
    // A line longer than one read (1 MiB): packed reads give it to the plain read, then go on packed.
    parts.splice(6000, 0, Buffer.from(`{"id": 88888, "kind": "long", "pad": "${'x'.repeat(1_500_000)}", "ts": 1795000000000}\n`))
    parts.push(Buffer.from('{"id": 99999, "kind": "last", "ts": 1795000000000}'))
    const results: unknown[] = []
    for (const decodeThread of [false, true]) {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-decode-file-'))
      const files = join(dir, 'files')
      const { mkdir, writeFile } = await import('node:fs/promises')
      await mkdir(files)
      await writeFile(join(files, 'ev.jsonl'), Buffer.concat(parts))
      const engine = await Engine.open({ dataDir: join(dir, 'data'), checkpointIntervalMs: 100, batchSize: 1024, decodeThread, fileDir: files })
      try {
        const sql = `CREATE STREAM ev (id BIGINT NOT NULL, kind TEXT, amount NUMERIC, ts TIMESTAMPTZ NOT NULL) WITH (connector = 'file', path = 'ev.jsonl', format = 'json');
          CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) AS n, sum(amount) AS amount, max(id) AS last FROM ev GROUP BY kind`
        for (const p of parseStatements(sql)) {
          const s = p.statement
          if (s.kind === 'create_stream') await engine.createStream(s, p.text)
          else if (s.kind === 'create_view') await engine.createView(s, p.text)
        }
        await engine.closeStream('ev')
        await engine.waitCaughtUp('per_kind', 30_000)
        const rows = []
        for await (const r of engine.viewRows('per_kind')) rows.push(r.map(String))
        rows.sort((a, b) => a[0]!.localeCompare(b[0]!))
        const dead = (await engine.deadLetters()).map((d) => `${d.partition}/${d.offset}: ${d.reason} ${d.raw}`).sort()
        results.push({ rows, dead, eventsIn: engine.query('per_kind')!.eventsIn })
        if (decodeThread) expect(engine.batchesDecodedOnThread).toBeGreaterThan(5)
      } finally {
        await engine.close()
        await rm(dir, { recursive: true, force: true })
      }
    }
    expect(results[1]).toEqual(results[0])
    const first = results[0] as { rows: string[][]; dead: string[]; eventsIn: number }
    expect(first.dead.length).toBe(Math.ceil(12_000 / 101))
    expect(first.rows.map((r) => r[0])).toEqual(expect.arrayContaining(['k0', 'ünï ✓', 'k\ufffd\ufffd', 'long', 'last']))
    expect(first.eventsIn).toBe(12_002 - first.dead.length)
    expect(first.dead[0]).toMatch(/malformed JSON.*"cut short"$/)
  })
})
