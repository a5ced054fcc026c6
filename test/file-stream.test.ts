/**
 * File streams (`connector = 'file'`) on a real `sluice serve --files DIR`, over node-postgres and psql:
 * lines appended to a file are read as they arrive, malformed lines go to the dead-letter table, the last
 * line without a newline counts once the stream is closed, and a kill -9 resumes at the checkpointed byte
 * offset without counting a line twice.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const line = (player: number, points: number, second: number, name = 'p'): string =>
  JSON.stringify({ player_id: player, name, points, ts: `2026-12-04T10:00:${String(second).padStart(2, '0')}Z` })

const STREAM = `CREATE STREAM plays (player_id BIGINT NOT NULL, name TEXT, points INT NOT NULL, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (connector = 'file', path = 'in/plays.jsonl')`
const VIEWS = `CREATE MATERIALIZED VIEW totals AS SELECT player_id, count(*) AS plays, sum(points) AS points, max(name) AS name FROM plays GROUP BY player_id;
  CREATE MATERIALIZED VIEW per_10s AS SELECT window_start, count(*) AS plays FROM TUMBLE(plays, ts, INTERVAL '10 seconds')
    GROUP BY window_start, window_end EMIT ON WINDOW CLOSE`

describe('file streams', () => {
  let root: string
  let files: string
  let sluice: SluiceProcess
  let client: pg.Client

  const totals = async (): Promise<Record<number, [number, number, string]>> => {
    const r = await client.query('SELECT player_id, plays, points, name FROM totals ORDER BY player_id')
    return Object.fromEntries(r.rows.map((x) => [Number(x.player_id), [Number(x.plays), Number(x.points), x.name as string]]))
  }

  beforeAll(async () => {
    root = await tempDataDir()
    files = join(root, 'files')
    await mkdir(join(files, 'in'), { recursive: true })
    sluice = await startSluice({ dataDir: join(root, 'data'), args: ['--files', files] })
    client = await sluice.client()
  })

  afterAll(async () => {
    await client?.end()
    await sluice?.stop()
    await removeDir(root)
  })

  test('reads lines as they are appended, files malformed ones as dead letters, and the last line once closed', async () => {
    // The file does not exist yet: the stream waits for it.
    await client.query(STREAM)
    for (const s of VIEWS.split(';')) await client.query(s)
    await writeFile(join(files, 'in', 'plays.jsonl'), `${line(1, 10, 1)}\n${line(2, 5, 2, 'Zo\u00eb')}\r\n\n{"player_id": 3, oops}\n${line(1, 7, 3)}\n`)
    let t = await eventually(totals, (v) => v[1]?.[0] === 2 && v[2] !== undefined)
    expect(t).toEqual({ 1: [2, 17, 'p'], 2: [1, 5, 'Zo\u00eb'] })

    const dead = await eventually(
      async () => (await client.query("SELECT reason, raw FROM sluice_dead_letters WHERE stream = 'plays'")).rows,
      (rows) => rows.length > 0,
    )
    expect(dead).toHaveLength(1)
    expect(dead[0].raw).toBe('{"player_id": 3, oops}')
    expect(dead[0].reason).toMatch(/malformed JSON/)

    // A line still being written (no newline yet) waits; appended lines are picked up.
    await appendFile(join(files, 'in', 'plays.jsonl'), `${line(3, 1, 12)}\n${line(4, 2, 14)}`)
    t = await eventually(totals, (v) => v[3] !== undefined)
    expect(t[3]).toEqual([1, 1, 'p'])
    expect(t[4]).toBeUndefined()
    // The window [10:00:00, 10:00:10) closed when 10:00:12 arrived; [10, 20) is open.
    const closed = await eventually(async () => (await client.query('SELECT plays FROM per_10s ORDER BY window_start')).rows, (rows) => rows.length === 1)
    expect(closed.map((r) => Number(r.plays))).toEqual([3])

    // Closing the stream finishes the file: its last line counts without a newline, every window closes.
    await client.query('ALTER STREAM plays CLOSE')
    t = await eventually(totals, (v) => v[4] !== undefined)
    expect(t[4]).toEqual([1, 2, 'p'])
    const windows = await eventually(async () => (await client.query('SELECT plays FROM per_10s ORDER BY window_start')).rows, (rows) => rows.length === 2)
    expect(windows.map((r) => Number(r.plays))).toEqual([3, 2])
  })

  test('refuses inserts, paths outside the file directory, and partitions; psql shows the SQLSTATE', async () => {
    await expect(client.query(`INSERT INTO plays VALUES (9, 'x', 1, now())`)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('reads file "in/plays.jsonl"') })
    const outside = sluice.psql(`CREATE STREAM s (a INT) WITH (connector = 'file', path = '../etc/passwd')`, { allowError: true, args: ['-v', 'VERBOSITY=verbose'] })
    expect(outside.status).not.toBe(0)
    expect(outside.stderr).toMatch(/42501: file "\.\.\/etc\/passwd" is outside the server's file directory/)
    await expect(client.query(`CREATE STREAM s (a INT) WITH (connector = 'file', path = '/etc/passwd')`)).rejects.toMatchObject({ code: '42501', position: expect.any(String) })
    await expect(client.query(`CREATE STREAM s (a INT) WITH (connector = 'file', path = 'a.jsonl', partitions = 4)`)).rejects.toMatchObject({ code: '22023' })
    await expect(client.query(`CREATE STREAM s (a INT) WITH (path = 'a.jsonl')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('file streams only') })
    // A directory is not a file to read: refused, nothing left behind, the server goes on.
    await mkdir(join(files, 'adir'))
    await expect(client.query(`CREATE STREAM s (a INT) WITH (connector = 'file', path = 'adir')`)).rejects.toMatchObject({ code: '42809', message: '"adir" is not a regular file' })
    await writeFile(join(files, 's.jsonl'), '{"a": 1}\n')
    await client.query(`CREATE STREAM s (a INT) WITH (connector = 'file', path = 's.jsonl')`)
    await client.query('DROP STREAM s')
  })

  test('a file written just before ALTER STREAM ... CLOSE is read whole', async () => {
    for (let round = 0; round < 5; round++) {
      await client.query(`CREATE STREAM burst${round} (n INT NOT NULL) WITH (connector = 'file', path = 'burst${round}.jsonl')`)
      await client.query(`CREATE MATERIALIZED VIEW burst${round}_count AS SELECT count(*) AS c, sum(n) AS s FROM burst${round}`)
      await writeFile(join(files, `burst${round}.jsonl`), Array.from({ length: 1000 }, (_, i) => `{"n": ${i}}`).join('\n'))
      await client.query(`ALTER STREAM burst${round} CLOSE`)
      const rows = await eventually(async () => (await client.query(`SELECT c, s FROM burst${round}_count`)).rows, (r) => r.length === 1 && Number(r[0].c) === 1000)
      expect(Number(rows[0].s)).toBe(499_500)
    }
  })

  test('SUBSCRIBE to a file stream shows its lines, then the lines appended to it', async () => {
    await writeFile(join(files, 'live.jsonl'), `${line(1, 3, 1)}\n`)
    await client.query(`CREATE STREAM live (player_id BIGINT NOT NULL, points INT) WITH (connector = 'file', path = 'live.jsonl')`)
    const c = await sluice.client()
    try {
      await c.query('BEGIN')
      await c.query('DECLARE tail CURSOR FOR SUBSCRIBE live')
      const snap = await c.query('FETCH ALL tail')
      expect(snap.rows.map((r) => [r.sluice_diff, r.player_id, r.points])).toEqual([['1', '1', 3]])
      const waiting = c.query("FETCH ALL tail WITH (timeout = '10s')")
      await appendFile(join(files, 'live.jsonl'), `${line(2, 4, 2)}\n${line(3, 5, 3)}\n`)
      const next = await waiting
      const more = next.rows.length < 2 ? (await c.query("FETCH ALL tail WITH (timeout = '2s')")).rows : []
      expect([...next.rows, ...more].map((r) => [r.sluice_diff, r.player_id, r.points])).toEqual([['1', '2', 4], ['1', '3', 5]])
      await c.query('COMMIT')
    } finally {
      await c.end()
    }
  })

  test('reads CSV lines, a type column choosing the stream', async () => {
    await writeFile(join(files, 'scores.csv'), 'score,1,100\nlogin,1\nscore,2,7\nscore,1,5\n')
    await client.query(`CREATE STREAM scores (kind TEXT, player_id BIGINT, points INT) WITH (connector = 'file', path = 'scores.csv', format = 'csv', type_column = 1, type_id = 'score')`)
    await client.query('CREATE MATERIALIZED VIEW score_totals AS SELECT player_id, sum(points) AS points FROM scores GROUP BY player_id')
    const rows = await eventually(async () => (await client.query('SELECT player_id, points FROM score_totals ORDER BY player_id')).rows, (r) => r.length === 2 && Number(r[0].points) === 105)
    expect(rows.map((r) => [Number(r.player_id), Number(r.points)])).toEqual([[1, 105], [2, 7]])
  })
})

describe('file streams across kill -9', () => {
  test('a restart resumes at the checkpointed byte offset and reads again what was not checkpointed: every line counted once', async () => {
    const root = await tempDataDir()
    const files = join(root, 'files')
    await mkdir(files)
    const file = join(files, 'plays.jsonl')
    const batch = (from: number, n: number): string => Array.from({ length: n }, (_, i) => `${line((from + i) % 50, 1, (from + i) % 60)}\n`).join('')
    const sumOf = async (c: pg.Client) => Number((await c.query('SELECT coalesce(sum(plays), 0) AS n FROM totals')).rows[0].n)
    try {
      // Checkpoints only when asked: what is read after the CHECKPOINT is in memory only when the kill comes.
      let sluice = await startSluice({ dataDir: join(root, 'data'), checkpointMs: 600_000, args: ['--files', files] })
      let client = await sluice.client()
      await client.query(STREAM.replace('in/plays.jsonl', 'plays.jsonl'))
      await client.query(VIEWS.split(';')[0]!)
      await writeFile(file, batch(0, 50_000))
      await eventually(() => sumOf(client), (n) => n === 50_000)
      await client.query('CHECKPOINT')
      await appendFile(file, batch(50_000, 50_000))
      await eventually(() => sumOf(client), (n) => n === 100_000)
      client.on('error', () => undefined)
      await sluice.kill('SIGKILL')
      await client.end().catch(() => undefined)

      await appendFile(file, batch(100_000, 20_000))
      sluice = await startSluice({ dataDir: join(root, 'data'), checkpointMs: 50, args: ['--files', files] })
      client = await sluice.client()
      try {
        expect(await eventually(() => sumOf(client), (n) => n >= 120_000, 60_000)).toBe(120_000)
        // Each of the 50 players got exactly 2,400 lines.
        const per = await client.query('SELECT DISTINCT plays FROM totals')
        expect(per.rows.map((r) => Number(r.plays))).toEqual([2400])
      } finally {
        await client.end()
        await sluice.stop()
      }
    } finally {
      await removeDir(root)
    }
  })
})
