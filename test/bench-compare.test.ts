/**
 * The Sluice side of the Sluice-vs-Flink benchmark (bench/compare/): the answer comparison (normalize,
 * checksum, difference), the generator's contract (deterministic, timestamps strictly increasing, the
 * Nexmark proportions and end markers), and the Sluice driver end to end on small files, its answers
 * checked against the same queries computed in plain JavaScript from the generated lines.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { GAME_FILE, NEXMARK_FILE, ensureData, generateGameEvents, generateNexmark } from '../bench/compare/generate.ts'
import { checksum, difference, normalizeLine, normalizeNumber, normalizeResult } from '../bench/compare/normalize.ts'
import { readLines } from '../bench/compare/sluice-run.ts'
import { recordText } from '../executor/record-text.ts'

const run = promisify(execFile)
const DRIVER = join(import.meta.dirname, '..', 'bench', 'compare', 'sluice-run.ts')

describe('normalize and checksum', () => {
  test('integers stay exact, other numbers compare at 6 significant digits after float noise is removed', () => {
    expect(normalizeNumber(1795000000039)).toBe(1795000000039)
    expect(normalizeNumber(-0)).toBe(0)
    expect(normalizeNumber(1234.5649999999998)).toBe(normalizeNumber(1234.565))
    expect(normalizeNumber(0.1 + 0.2)).toBe(0.3)
    expect(normalizeNumber(12345678.000000002)).toBe(12345678)
    expect(normalizeNumber(3.14159265)).toBe(3.14159)
    expect(normalizeNumber(Number.NaN)).toBeNull()
    expect(normalizeLine('[1, 2.50, "a", null, true, 908.0]')).toBe('[1,2.5,"a",null,true,908]')
  })

  test('order of lines does not matter, any differing cell does', () => {
    const a = normalizeResult('[1,"x",0.30000000000000004]\n[2,"y",1.5]\n')
    const b = normalizeResult('[2,"y",1.50]\n[1,"x",0.3]')
    expect(checksum(a)).toBe(checksum(b))
    const c = normalizeResult('[2,"y",1.51]\n[1,"x",0.3]')
    expect(checksum(a)).not.toBe(checksum(c))
    expect(difference(a, c)).toEqual({ onlyA: ['[2,"y",1.5]'], onlyB: ['[2,"y",1.51]'], countA: 1, countB: 1 })
    expect(difference(['[1]', '[1]'], ['[1]']).countA).toBe(1)
  })
})

function lines(generate: (write: (line: string) => void) => void): string[] {
  const out: string[] = []
  generate((l) => out.push(l))
  return out
}

describe('generator', () => {
  test('deterministic by seed, timestamps strictly increasing, the end marker a day after the last event', () => {
    const g = lines((w) => generateGameEvents(7, 2000, w))
    expect(lines((w) => generateGameEvents(7, 2000, w))).toEqual(g)
    expect(lines((w) => generateGameEvents(8, 2000, w))).not.toEqual(g)
    const events = g.map((l) => JSON.parse(l) as { player_id: number; type: string; ts: number; level: number | null })
    expect(events).toHaveLength(2001)
    for (let i = 1; i < events.length; i++) expect(events[i]!.ts).toBeGreaterThan(events[i - 1]!.ts)
    const marker = events.at(-1)!
    expect(marker).toMatchObject({ player_id: 0, type: 'eof' })
    expect(marker.ts - events.at(-2)!.ts).toBe(86_400_000)
    expect(events.slice(0, -1).every((e) => e.player_id > 0 && (e.type === 'game_start') === (e.level !== null))).toBe(true)
    // Skewed activity: the most active player has many times the average.
    const perPlayer = new Map<number, number>()
    for (const e of events.slice(0, -1)) perPlayer.set(e.player_id, (perPlayer.get(e.player_id) ?? 0) + 1)
    expect(Math.max(...perPlayer.values())).toBeGreaterThan((10 * 2000) / perPlayer.size)
  })

  test('Nexmark: person : auction : bid = 1 : 3 : 46, ids derived from the event number, the end marker', () => {
    const n = lines((w) => generateNexmark(3, 5000, w)).map((l) => JSON.parse(l) as Record<string, number | string | null>)
    const kinds = [0, 1, 2, 3].map((k) => n.filter((e) => e.event_type === k).length)
    expect(kinds).toEqual([100, 300, 4600, 1])
    expect(Object.keys(n[0]!)).toEqual(['event_type', 'p_id', 'p_name', 'p_email', 'p_credit_card', 'p_city', 'p_state', 'a_id', 'a_item_name', 'a_description', 'a_initial_bid', 'a_reserve', 'a_expires', 'a_seller', 'a_category', 'b_auction', 'b_bidder', 'b_price', 'b_channel', 'b_url', 'ts'])
    expect(n.filter((e) => e.event_type === 0).map((e) => e.p_id)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i))
    expect(n.filter((e) => e.event_type === 1).map((e) => e.a_id)).toEqual(Array.from({ length: 300 }, (_, i) => 1000 + i))
    const maxPerson = 1000 + 99 + 10
    for (const b of n.filter((e) => e.event_type === 2)) expect(b.b_bidder as number).toBeLessThanOrEqual(maxPerson)
  })
})

describe("the driver's line reader", () => {
  /** The lines readLines hands over in chunks of `chunkLines`, reading `readBytes` at a time. */
  async function linesOf(text: string | Buffer, chunkLines: number, readBytes: number): Promise<{ lines: string[]; sizes: number[]; count: number }> {
    const dir = await mkdtemp(join(tmpdir(), 'read-lines-test-'))
    try {
      await writeFile(join(dir, 'in.jsonl'), text)
      const lines: string[] = []
      const sizes: number[] = []
      const count = await readLines(join(dir, 'in.jsonl'), async (chunk) => {
        sizes.push(chunk.length)
        lines.push(...chunk.map(recordText))
      }, chunkLines, readBytes)
      return { lines, sizes, count }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  test('splits ASCII and UTF-8 text into the same lines at any read size, characters split across reads included', async () => {
    const want = ['{"a":1}', '{"name":"Zo\u00eb","city":"Z\u00fcrich"}', '{"emoji":"\u{1f600}\u{1f680}"}', 'plain ascii line', '{"cjk":"\u4e2d\u6587"}', 'x'.repeat(40)]
    const text = `${want.slice(0, 3).join('\n')}\n\n${want.slice(3).join('\n')}` // an empty line, skipped; no final newline
    for (const readBytes of [1, 2, 3, 5, 7, 16, 1 << 16]) {
      const { lines, count } = await linesOf(text, 4, readBytes)
      expect(lines, `read ${readBytes} bytes at a time`).toEqual(want)
      expect(count).toBe(want.length)
    }
  })

  test('hands lines over in chunks of the given size, the last one shorter', async () => {
    const want = Array.from({ length: 23 }, (_, i) => `{"i":${i}}`)
    const { lines, sizes } = await linesOf(`${want.join('\n')}\n`, 5, 8)
    expect(lines).toEqual(want)
    expect(sizes).toEqual([5, 5, 5, 5, 3])
  })

  test('keeps invalid UTF-8 as bytes, which the decoder reads as it would read one record, whichever read it ends in', async () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xe4, 0xb8]), Buffer.from('"}\n{"b":2}\n')])
    for (const readBytes of [1, 2, 7, 8, 1024]) {
      expect((await linesOf(bytes, 10, readBytes)).lines).toEqual(['{"a":"\ufffd"}', '{"b":2}'])
    }
  })
})

describe('the Sluice driver', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-compare-test-'))
    ensureData({ seed: 5, gameEvents: 3000, nexmarkEvents: 30_000 }, join(dir, 'data'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function driver(workload: string, source: 'file' | 'log' = 'file'): Promise<{ result: Record<string, string>; rows: string[] }> {
    const out = join(dir, `${workload}.${source}.jsonl`)
    const { stdout } = await run(process.execPath, ['--import', 'tsx', DRIVER, '--workload', workload, '--data', join(dir, 'data'), '--out', out, '--source', source])
    const line = stdout.split('\n').find((l) => l.startsWith('DRIVER_RESULT '))
    expect(line).toBeDefined()
    const result = Object.fromEntries(line!.split(' ').slice(1).map((kv) => kv.split('=') as [string, string]))
    return { result, rows: normalizeResult(await readFile(out, 'utf8')) }
  }

  test('player_profile: the last state of each player, as computed from the lines', async () => {
    const { result, rows } = await driver('player_profile')
    const events = (await readFile(join(dir, 'data', GAME_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string | number | null>)
    expect(result).toMatchObject({ workload: 'player_profile', events: '3001', rows: String(rows.length) })
    const byPlayer = new Map<number, [number, number, number, boolean, number | null, number]>()
    for (const e of events) {
      const id = e.player_id as number
      const p = byPlayer.get(id) ?? [id, 0, 0, false, null, 0]
      if (e.type === 'login') p[1]++
      if (e.type === 'fight' && e.result === 'loss') p[2]++
      if (e.type === 'transaction') p[3] = true
      if (e.type === 'game_start') p[4] = e.level as number
      p[5] = Math.max(p[5], e.ts as number)
      byPlayer.set(id, p)
    }
    const expected = normalizeResult([...byPlayer.values()].map((p) => JSON.stringify(p)).join('\n'))
    expect(difference(rows, expected)).toMatchObject({ countA: 0, countB: 0 })
    expect(checksum(rows)).toBe(checksum(expected))
  })

  test('inserting the lines into the embedded log (four partitions by player) gives the answer of the file stream', async () => {
    const [file, log] = [await driver('player_profile', 'file'), await driver('player_profile', 'log')]
    expect(log.result).toMatchObject({ events: '3001', rows: file.result.rows })
    expect(Number(log.result.cpu_seconds)).toBeGreaterThan(0)
    expect(checksum(log.rows)).toBe(checksum(file.rows))
  })

  test('nexmark_q7: the highest bid of each 10-second window', async () => {
    const { result, rows } = await driver('nexmark_q7')
    expect(result).toMatchObject({ events: '30001' })
    const bids = (await readFile(join(dir, 'data', NEXMARK_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).filter((e) => e.event_type === 2)
    const best = new Map<number, Record<string, number>>()
    for (const b of bids) {
      const w = Math.floor(b.ts! / 10_000)
      const cur = best.get(w)
      if (cur === undefined || b.b_price! > cur.b_price!) best.set(w, b)
    }
    const expected = normalizeResult([...best.values()].map((b) => JSON.stringify([b.b_auction, b.b_price, b.b_bidder, b.ts])).join('\n'))
    expect(rows).toEqual(expected)
    expect(rows.length).toBe(3)
  })

  test('nexmark_q5: the auctions with the most bids in each 10-second window sliding by 2 seconds (views over views)', async () => {
    const { result, rows } = await driver('nexmark_q5')
    expect(result).toMatchObject({ events: '30001' })
    const bids = (await readFile(join(dir, 'data', NEXMARK_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).filter((e) => e.event_type === 2)
    const counts = new Map<number, Map<number, number>>()
    for (const b of bids) {
      for (let start = Math.floor(b.ts! / 2000) * 2000; start > b.ts! - 10_000; start -= 2000) {
        const perAuction = counts.get(start) ?? new Map<number, number>()
        perAuction.set(b.b_auction!, (perAuction.get(b.b_auction!) ?? 0) + 1)
        counts.set(start, perAuction)
      }
    }
    const hot: string[] = []
    for (const perAuction of counts.values()) {
      const most = Math.max(...perAuction.values())
      for (const [auction, n] of perAuction) if (n === most) hot.push(JSON.stringify([auction, n]))
    }
    const expected = normalizeResult(hot.join('\n'))
    expect(rows.length).toBeGreaterThan(counts.size / 2)
    expect(difference(rows, expected)).toMatchObject({ countA: 0, countB: 0 })
  })
})
