/**
 * File sinks (JSON lines, CSV, Parquet) under the server's files directory: rolled files appear whole under
 * their final names, Parquet files read back by DuckDB, and across kill -9 at random moments every event is
 * in exactly one file line once.
 */
import { describe, expect, test } from 'vitest'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { eventually, removeDir, startSluice, tempDataDir, withSluice } from './helpers/sluice-process.ts'
import { insertWithKills } from './helpers/sink-kills.ts'

const BASE = Date.parse('2026-12-01T00:00:00Z')
const PLAYERS = 10

function lines(from: number, to: number): string {
  let out = ''
  for (let i = from; i < to; i++) out += `${i}\tp${i % PLAYERS}\t${i % 7 === 0 ? '\\N' : `say "hi", ${i}`}\t${new Date(BASE + i).toISOString()}\n`
  return out
}

interface Seen {
  readonly ids: number[]
  readonly files: number
}

async function visibleFiles(dir: string, ext: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  return names.filter((n) => !n.startsWith('.') && n.endsWith(ext)).map((n) => join(dir, n))
}

async function jsonlIds(dir: string): Promise<Seen> {
  const files = await visibleFiles(dir, '.jsonl')
  const ids: number[] = []
  for (const f of files) {
    const text = await readFile(f, 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    for (const line of text.split('\n')) if (line !== '') ids.push((JSON.parse(line) as { id: number }).id)
  }
  return { ids, files: files.length }
}

async function csvIds(dir: string): Promise<Seen> {
  const files = await visibleFiles(dir, '.csv')
  const ids: number[] = []
  for (const f of files) {
    const text = await readFile(f, 'utf8')
    const rows = text.split('\n')
    expect(rows[0]).toBe('id,player,note,ts')
    for (const row of rows.slice(1)) if (row !== '') ids.push(Number(row.split(',')[0]))
  }
  return { ids, files: files.length }
}

async function parquetIds(dir: string): Promise<Seen> {
  const files = await visibleFiles(dir, '.parquet')
  if (files.length === 0) return { ids: [], files: 0 }
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  try {
    const r = await c.runAndReadAll(`SELECT id FROM read_parquet('${join(dir, '*.parquet')}')`)
    return { ids: r.getRows().map((row) => Number(row[0])), files: files.length }
  } finally {
    c.closeSync()
  }
}

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b)
}

describe('file sinks', () => {
  test('rolled JSON lines, CSV and Parquet files: whole, typed, and refused outside the files directory', async () => {
    const dataDir = await tempDataDir()
    const filesDir = join(dataDir, 'exports')
    await mkdir(filesDir)
    const sluice = await startSluice({ dataDir, args: ['--files', filesDir] })
    const client = await sluice.client()
    try {
      await client.query('CREATE STREAM events (id BIGINT NOT NULL, player TEXT NOT NULL, note TEXT, ts TIMESTAMPTZ NOT NULL)')
      const escape = await client.query("CREATE SINK bad FROM events INTO FILES '../elsewhere'").catch((e: unknown) => e as { code: string })
      expect(escape).toMatchObject({ code: '42501' })
      await client.query("CREATE SINK pq FROM events INTO FILES 'pq' WITH (format = 'parquet', roll = INTERVAL '1 second')")
      await client.query("INSERT INTO events VALUES (1, 'p1', 'a \"quoted\", note', '2026-12-01T10:00:00.123456Z'), (2, 'p2', NULL, '2026-12-01T10:00:01Z')")
      await eventually(() => parquetIds(join(filesDir, 'pq')), (s) => s.ids.length === 2, 30_000)
      const db = await DuckDBInstance.create(':memory:')
      const c = await db.connect()
      const r = await c.runAndReadAll(`SELECT id, player, note, CAST(ts AS VARCHAR) FROM read_parquet('${join(filesDir, 'pq', '*.parquet')}') ORDER BY id`)
      expect(r.getRows().map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v)))).toEqual([
        [1, 'p1', 'a "quoted", note', '2026-12-01 10:00:00.123456'],
        [2, 'p2', null, '2026-12-01 10:00:01'],
      ])
      c.closeSync()
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(dataDir)
    }
  }, 120_000)

  test('DROP SINK completes the open file (its rows were delivered) and removes the progress file and hidden files; the files stay', async () => {
    await withSluice({ files: 'exports' }, async (client, { filesDir }) => {
      await client.query('CREATE STREAM events (id BIGINT NOT NULL, player TEXT NOT NULL, note TEXT, ts TIMESTAMPTZ NOT NULL)')
      // An hour's roll: the rows wait in hidden files until the drop.
      for (const format of ['jsonl', 'parquet']) {
        await client.query(`CREATE SINK keep_${format} FROM events INTO FILES 'keep_${format}' WITH (format = '${format}', roll = INTERVAL '1 hour')`)
      }
      await client.query("INSERT INTO events VALUES (1, 'p1', 'a', '2026-12-01T10:00:00Z'), (2, 'p2', NULL, '2026-12-01T10:00:01Z')")
      const hidden = async (dir: string) => (await readdir(join(filesDir, dir))).filter((n) => n.startsWith('.')).sort()
      await eventually(() => hidden('keep_jsonl'), (names) => names.some((n) => n.endsWith('.jsonl.tmp')), 30_000)
      await eventually(() => hidden('keep_parquet'), (names) => names.some((n) => n.endsWith('.parquet.jsonl.tmp')), 30_000)
      // A crash's leftover of the sink, and a file of someone else's that looks alike.
      await writeFile(join(filesDir, 'keep_jsonl', '.keep_jsonl-20261201T000000Z-000099.jsonl.tmp'), 'left over\n')
      await writeFile(join(filesDir, 'keep_jsonl', '.keep_jsonl_other.tmp'), 'not the sink\'s\n')
      expect(await jsonlIds(join(filesDir, 'keep_jsonl'))).toEqual({ ids: [], files: 0 })
      await client.query('DROP SINK keep_jsonl')
      await client.query('DROP SINK keep_parquet')
      expect(await jsonlIds(join(filesDir, 'keep_jsonl'))).toEqual({ ids: [1, 2], files: 1 })
      expect((await parquetIds(join(filesDir, 'keep_parquet'))).ids).toEqual([1, 2])
      expect(await hidden('keep_jsonl')).toEqual(['.keep_jsonl_other.tmp'])
      expect(await hidden('keep_parquet')).toEqual([])
    })
  }, 120_000)

  test('kill -9 at five random moments: every event in exactly one complete file, in each format', async () => {
    const dataDir = await tempDataDir()
    const filesDir = join(dataDir, 'exports')
    await mkdir(filesDir)
    const args = ['--files', filesDir]
    const first = await startSluice({ dataDir, checkpointMs: 100, args })
    const c = await first.client()
    await c.query('CREATE STREAM events (id BIGINT NOT NULL, player TEXT NOT NULL, note TEXT, ts TIMESTAMPTZ NOT NULL)')
    await c.query('CREATE MATERIALIZED VIEW totals AS SELECT player, count(*) AS n FROM events GROUP BY player')
    await c.query("CREATE SINK j FROM events INTO FILES 'j' WITH (format = 'jsonl', roll = INTERVAL '1 second')")
    await c.query("CREATE SINK v FROM events INTO FILES 'v' WITH (format = 'csv', roll = INTERVAL '1 second', size = '64 kB')")
    await c.query("CREATE SINK p FROM events INTO FILES 'p' WITH (format = 'parquet', roll = INTERVAL '1 second')")
    await c.end()
    const run = await insertWithKills(first, { dataDir, total: 60_000, kills: 5, perInsert: 2000, stream: 'events', lines, args })
    try {
      const total = async () => (await run.client.query('SELECT n FROM totals')).rows.reduce((a, r) => a + Number(r.n), 0)
      const context = `kills at ${run.kills.join(', ')} ms`
      for (const [dir, read] of [
        ['j', jsonlIds],
        ['v', csvIds],
        ['p', parquetIds],
      ] as const) {
        const seen = await eventually(async () => ({ seen: await read(join(filesDir, dir)), n: await total() }), (s) => s.seen.ids.length >= s.n, 90_000)
        const ids = sorted(seen.seen.ids)
        expect(ids.length, `${dir}: ${context}`).toBe(seen.n)
        expect(new Set(ids).size, `${dir}: ${context}`).toBe(ids.length)
        // Only the csv sink is bound to roll (64 kB): on a quiet machine the 60,000 events can all arrive
        // within one 1-second roll, leaving the jsonl and Parquet sinks a single complete file.
        expect(seen.seen.files, dir).toBeGreaterThan(dir === 'v' ? 1 : 0)
      }
    } finally {
      await run.client.end()
      await run.sluice.stop()
      await removeDir(dataDir)
    }
  }, 300_000)
})
