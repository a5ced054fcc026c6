/**
 * The Sluice side of the Sluice-vs-Flink benchmark (bench/compare/): the answer comparison (normalize,
 * checksum, difference), the generator's contract (deterministic, timestamps strictly increasing, the
 * Nexmark proportions and end markers), and the Sluice driver end to end on small files, its answers
 * checked against the same queries computed in plain JavaScript from the generated lines, and its Kafka
 * path (a real broker, the topics produced by the generator) against its file path.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { SCALES, specOf } from '../bench/compare/compare.ts'
import { GAME_FILE, NEXMARK_FILE, countFileLines, ensureData, generateGameEvents, generateNexmark, playersFor, produceToKafka, topicsFor } from '../bench/compare/generate.ts'
import { MultisetDigest, checksum, difference, normalizeLine, normalizeNumber, normalizeResult } from '../bench/compare/normalize.ts'
import { answerDigest } from '../bench/compare/drivers.ts'
import { asKafkaStream, driverSource, readLines } from '../bench/compare/sluice-run.ts'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
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

  test('the multiset digest of a file read line by line: any order, counts repeated rows, differs on any cell', async () => {
    const digest = (text: string): { rows: number; digest: string } => {
      const d = new MultisetDigest()
      for (const l of text.split('\n')) d.add(l)
      return { rows: d.rows, digest: d.digest }
    }
    const a = digest('[1,"x",0.30000000000000004]\n[2,"y",1.5]\n')
    expect(digest('[2,"y",1.50]\n\n[1,"x",0.3]')).toEqual(a)
    expect(digest('[2,"y",1.51]\n[1,"x",0.3]').digest).not.toBe(a.digest)
    expect(digest('[1]\n[1]').digest).not.toBe(digest('[1]').digest)
    const dir = await mkdtemp(join(tmpdir(), 'bench-compare-digest-'))
    try {
      const rows = Array.from({ length: 50_000 }, (_, i) => JSON.stringify([i, 'é'.repeat(i % 200), i / 7]))
      await writeFile(join(dir, 'a.jsonl'), `${rows.join('\n')}\n`)
      await writeFile(join(dir, 'b.jsonl'), rows.reverse().join('\n'))
      expect(answerDigest(join(dir, 'a.jsonl'))).toEqual(digest(rows.join('\n')))
      expect(answerDigest(join(dir, 'b.jsonl'))).toEqual(answerDigest(join(dir, 'a.jsonl')))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
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

  async function driver(workload: string, source: 'file' | 'log' = 'file', extra: string[] = []): Promise<{ result: Record<string, string>; rows: string[] }> {
    const out = join(dir, `${workload}.${source}${extra.join('')}.jsonl`)
    const { stdout } = await run(process.execPath, ['--import', 'tsx', DRIVER, '--workload', workload, '--data', join(dir, 'data'), '--out', out, '--source', source, ...extra])
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

  test('a state cache far smaller than the state (--cache) gives the same answer', async () => {
    const [whole, small] = [await driver('player_profile'), await driver('player_profile', 'file', ['--cache', '20'])]
    expect(Number(whole.result.rows)).toBeGreaterThan(100)
    expect(small.result).toMatchObject({ events: '3001', rows: whole.result.rows })
    expect(checksum(small.rows)).toBe(checksum(whole.rows))
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

describe('sizes and sources of the comparison', () => {
  test('--scale names the sizes, --events and the per-file counts still override them', () => {
    expect(specOf({})).toEqual({ seed: 1, gameEvents: 500_000, nexmarkEvents: 500_000 })
    const large = specOf({ scale: 'large' })
    expect(large).toEqual({ seed: 1, gameEvents: 5_000_000, nexmarkEvents: 5_000_000 })
    expect(playersFor(large.gameEvents)).toBe(500_000)
    expect(playersFor(specOf({ scale: 'xl' }).gameEvents)).toBe(2_000_000)
    expect(specOf({ scale: 'xl', events: '1000', 'nexmark-events': '7', seed: '3' })).toEqual({ seed: 3, gameEvents: 1000, nexmarkEvents: 7 })
    expect(() => specOf({ scale: 'huge' })).toThrow(/--scale is one of default, large, xl/)
    expect(Object.keys(SCALES)).toEqual(['default', 'large', 'xl'])
  })

  test("the Kafka stream keeps the workload's columns and reads the topic from its beginning", () => {
    const sql = "CREATE STREAM s (a BIGINT, ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (partitions = 4, key = 'a');"
    expect(asKafkaStream(sql, "t'1")).toBe("CREATE STREAM s (a BIGINT, ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (connector = 'kafka', topic = 't''1', format = 'json', start = 'earliest');")
    expect(driverSource('kafka', 'h:1', 't')).toEqual({ kind: 'kafka', brokers: 'h:1', topic: 't' })
    expect(() => driverSource('kafka', undefined, 't')).toThrow(/needs --kafka/)
    expect(() => driverSource('http', undefined, undefined)).toThrow(/file, log or kafka/)
  })
})

describe('the Sluice driver reading Kafka', () => {
  let kafka: KafkaBroker
  let dir: string
  let data: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-compare-kafka-test-'))
    data = ensureData({ seed: 6, gameEvents: 3000, nexmarkEvents: 20_000 }, join(dir, `data-${process.pid}-${Date.now()}`))
    kafka = await sharedKafka()
  }, 300_000)
  afterAll(async () => {
    await kafka?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function driver(workload: string, args: string[]): Promise<{ result: Record<string, string>; rows: string[] }> {
    const out = join(dir, `${workload}.${args[1]}.jsonl`)
    const { stdout } = await run(process.execPath, ['--import', 'tsx', DRIVER, '--workload', workload, '--data', data, '--out', out, ...args], { timeout: 240_000 })
    const line = stdout.split('\n').find((l) => l.startsWith('DRIVER_RESULT '))
    expect(line).toBeDefined()
    const result = Object.fromEntries(line!.split(' ').slice(1).map((kv) => kv.split('=') as [string, string]))
    return { result, rows: normalizeResult(await readFile(out, 'utf8')) }
  }

  test('the generator produces each file to its topic once, game events by player over 4 partitions, Nexmark in one', async () => {
    const topics = await produceToKafka(data, kafka.brokers, () => {})
    expect(topics).toEqual(topicsFor(data))
    const game = kafka.consume(topics.game)
    expect(game).toHaveLength(countFileLines(join(data, GAME_FILE)))
    expect(new Set(game.map((r) => r.partition)).size).toBe(4)
    // One player's events all in one partition, in the file's order.
    const byPlayer = new Map<string, Set<number>>()
    for (const r of game) byPlayer.set(r.key, (byPlayer.get(r.key) ?? new Set()).add(r.partition))
    expect([...byPlayer.values()].every((p) => p.size === 1)).toBe(true)
    const nexmark = kafka.consume(topics.nexmark)
    expect(nexmark.map((r) => r.value)).toEqual((await readFile(join(data, NEXMARK_FILE), 'utf8')).trim().split('\n'))
    // A second run finds the topics complete and produces nothing more.
    await produceToKafka(data, kafka.brokers, () => {})
    expect(kafka.consume(topics.game)).toHaveLength(game.length)
  }, 240_000)

  test.each([
    ['player_profile', 'game'],
    ['nexmark_q7', 'nexmark'],
  ] as const)('%s: the answer read from the topic is the answer read from the file', async (workload, topic) => {
    const topics = await produceToKafka(data, kafka.brokers, () => {})
    const file = await driver(workload, ['--source', 'file'])
    const fromKafka = await driver(workload, ['--source', 'kafka', '--kafka', kafka.brokers, '--topic', topics[topic]])
    expect(fromKafka.result).toMatchObject({ workload, events: file.result.events, rows: file.result.rows, source: 'kafka' })
    expect(Number(fromKafka.result.rows)).toBeGreaterThan(0)
    expect(checksum(fromKafka.rows)).toBe(checksum(file.rows))
  }, 300_000)
})
