/**
 * SUBSCRIBE end to end against a real `sluice serve`: psql prints `COPY (SUBSCRIBE v) TO STDOUT` rows as
 * events arrive (run in a pseudo-terminal, as a person runs it, and stopped with Ctrl-C, which makes psql
 * send a CancelRequest); node-postgres reads a SUBSCRIBE cursor with FETCH ... WITH (timeout); a raw
 * protocol client runs SUBSCRIBE as a portal with a row limit, as pgjdbc's setFetchSize does.
 */
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serialize } from 'pg-protocol'
import type pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { RawPg, commandTag, dataRowCells, errorFields, rowDescription } from './helpers/raw-pg.ts'

const at = (second: number) => `'2026-11-23 10:00:${String(second).padStart(2, '0')}+00'`

describe('SUBSCRIBE', () => {
  let sluice: SluiceProcess
  let db: pg.Client
  beforeAll(async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    db = await sluice.client()
    await db.query('CREATE STREAM plays (player_id BIGINT NOT NULL, game TEXT, ts TIMESTAMPTZ NOT NULL) WITH (key = \'player_id\', partitions = 2)')
    await db.query('CREATE MATERIALIZED VIEW per_game AS SELECT game, count(*) AS n FROM plays GROUP BY game')
    await db.query(`INSERT INTO plays VALUES (1, 'chess', ${at(1)}), (2, 'go', ${at(2)}), (3, 'go', ${at(3)})`)
    await eventually(async () => (await db.query('SELECT count(*)::int AS c FROM per_game')).rows[0].c, (c) => c === 2)
  })
  afterAll(async () => {
    await db?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test('psql: COPY (SUBSCRIBE v) TO STDOUT prints each change as it happens, until Ctrl-C cancels it', async () => {
    // `exec`: script(1) runs the command through $SHELL, and a shell that waits for psql (dash does) dies of the
    // terminal's SIGINT itself, so script would report the shell's signal instead of psql's exit status.
    const cmd = `exec psql -X -h 127.0.0.1 -p ${sluice.port} -U analyst sluice -c "COPY (SUBSCRIBE per_game) TO STDOUT"`
    const psql = spawn('script', ['-qfec', cmd, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, SHELL: '/bin/sh' },
    })
    let out = ''
    psql.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => psql.once('exit', resolve))
    try {
      const lines = () => out.split(/\r?\n/).filter((l) => /^\d+\t/.test(l)).map((l) => l.split('\t'))
      // The snapshot: the view's rows as +1, at one timestamp.
      await eventually(async () => lines().length, (n) => n === 2)
      expect(lines().map((l) => l.slice(1)).sort()).toEqual([['1', 'chess', '1'], ['1', 'go', '2']])
      expect(new Set(lines().map((l) => l[0])).size).toBe(1)
      const snapshotAt = Number(lines()[0]![0])
      expect(Math.abs(snapshotAt - Date.now())).toBeLessThan(60_000)

      // psql is still running; an event changes the chess group: -1 of the old row, +1 of the new.
      await db.query(`INSERT INTO plays VALUES (4, 'chess', ${at(4)})`)
      await eventually(async () => lines().length, (n) => n === 4)
      expect(lines().slice(2).map((l) => l.slice(1))).toEqual([['-1', 'chess', '1'], ['1', 'chess', '2']])
      expect(Number(lines()[2]![0])).toBeGreaterThanOrEqual(snapshotAt)
      await db.query(`INSERT INTO plays VALUES (5, 'poker', ${at(5)})`)
      await eventually(async () => lines().length, (n) => n === 5)
      expect(lines()[4]!.slice(1)).toEqual(['1', 'poker', '1'])
      expect(psql.exitCode).toBe(null)

      psql.stdin.write('\x03')
      expect(await exited).toBe(1)
      expect(out).toContain('canceling statement due to user request')
    } finally {
      psql.kill('SIGKILL')
    }
    // The session is gone, and its subscription with it: the server still answers.
    expect((await db.query('SELECT count(*)::int AS c FROM per_game')).rows[0].c).toBe(3)
  })

  test('node-postgres: DECLARE ... CURSOR FOR SUBSCRIBE, FETCH waits up to its timeout', async () => {
    const c = await sluice.client()
    try {
      await c.query('BEGIN')
      await c.query('DECLARE live CURSOR FOR SUBSCRIBE per_game')
      const snap = await c.query('FETCH ALL live')
      expect(snap.fields.map((f) => f.name)).toEqual(['sluice_timestamp', 'sluice_diff', 'game', 'n'])
      expect(snap.command).toBe('FETCH')
      expect(snap.rows.map((r) => [r.sluice_diff, r.game, r.n]).sort()).toEqual([['1', 'chess', '2'], ['1', 'go', '2'], ['1', 'poker', '1']])

      // Nothing new: the FETCH returns no rows once its timeout passes, not before.
      const started = Date.now()
      const empty = await c.query("FETCH ALL live WITH (timeout = '300ms')")
      expect(empty.rows).toEqual([])
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)

      // A FETCH waiting with a long timeout returns as soon as a change arrives.
      const waiting = c.query("FETCH ALL FROM live WITH (timeout = '10s')")
      const insertedAt = Date.now()
      await db.query(`INSERT INTO plays VALUES (6, 'poker', ${at(6)})`)
      const changed = await waiting
      expect(Date.now() - insertedAt).toBeLessThan(5000)
      expect(changed.rows.map((r) => [r.sluice_diff, r.game, r.n])).toEqual([['-1', 'poker', '1'], ['1', 'poker', '2']])

      // FETCH n takes at most n of what is queued; the rest stays for the next FETCH.
      await db.query(`INSERT INTO plays VALUES (7, 'go', ${at(7)})`)
      const one = await c.query("FETCH 1 live WITH (timeout = '10s')")
      expect(one.rows.map((r) => r.sluice_diff)).toEqual(['-1'])
      const rest = await c.query("FETCH ALL live WITH (timeout = '10s')")
      expect(rest.rows.map((r) => [r.sluice_diff, r.game, r.n])).toEqual([['1', 'go', '3']])
      await c.query('COMMIT')
      await expect(c.query("FETCH ALL live WITH (timeout = '1s')")).rejects.toMatchObject({ code: '34000' })
    } finally {
      await c.end()
    }
  })

  test('a stream: every event is a +1; snapshot = false starts from now; progress rows', async () => {
    const c = await sluice.client()
    try {
      await c.query('BEGIN')
      await c.query('DECLARE ev CURSOR FOR SUBSCRIBE TO plays WITH (snapshot = false, progress = true)')
      const first = await c.query("FETCH ALL ev WITH (timeout = '5s')")
      expect(first.fields.map((f) => f.name)).toEqual(['sluice_timestamp', 'sluice_progressed', 'sluice_diff', 'player_id', 'game', 'ts'])
      // No snapshot: only a progress row (progressed true, the rest NULL).
      expect(first.rows.length).toBeGreaterThan(0)
      expect(first.rows.every((r) => r.sluice_progressed === true && r.sluice_diff === null && r.player_id === null)).toBe(true)
      await db.query(`INSERT INTO plays VALUES (8, 'go', ${at(8)}), (9, 'chess', ${at(9)})`)
      const events: pg.QueryResultRow[] = []
      await eventually(
        async () => {
          events.push(...(await c.query("FETCH ALL ev WITH (timeout = '1s')")).rows.filter((r) => r.sluice_progressed === false))
          return events.length
        },
        (n) => n === 2,
      )
      expect(events.map((r) => [r.sluice_diff, r.player_id, r.game]).sort()).toEqual([['1', '8', 'go'], ['1', '9', 'chess']])
      await c.query('COMMIT')

      // With the snapshot, a stream's subscription starts with every event in its log.
      await c.query('BEGIN')
      await c.query('DECLARE everything CURSOR FOR SUBSCRIBE plays')
      const all = await c.query("FETCH ALL everything WITH (timeout = '5s')")
      expect(all.rows.map((r) => Number(r.player_id)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
      await c.query('ROLLBACK')
    } finally {
      await c.end()
    }
  })

  test('a view without aggregation: its snapshot, then each new row once (rows are kept a batch per entry)', async () => {
    const c = await sluice.client()
    try {
      // Its own stream, so that the other tests' counts stay as they expect.
      await db.query("CREATE STREAM moves (player_id BIGINT NOT NULL, game TEXT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 2)")
      await db.query(`INSERT INTO moves VALUES (10, 'go', ${at(10)}), (11, 'go', ${at(11)}), (12, 'chess', ${at(12)}), (13, 'go', ${at(13)})`)
      await db.query("CREATE MATERIALIZED VIEW go_plays AS SELECT player_id, ts FROM moves WHERE game = 'go'")
      const before = (await db.query<{ player_id: string }>('SELECT player_id FROM go_plays')).rows.map((r) => Number(r.player_id)).sort((a, b) => a - b)
      expect(before).toEqual([10, 11, 13])
      await c.query('BEGIN')
      await c.query('DECLARE g CURSOR FOR SUBSCRIBE go_plays')
      const snap = await c.query("FETCH ALL g WITH (timeout = '5s')")
      expect(snap.rows.map((r) => Number(r.player_id)).sort((a, b) => a - b)).toEqual(before)
      await db.query(`INSERT INTO moves VALUES (20, 'go', ${at(20)}), (21, 'chess', ${at(21)}), (22, 'go', ${at(22)}), (23, 'go', ${at(23)})`)
      const added: pg.QueryResultRow[] = []
      await eventually(
        async () => {
          added.push(...(await c.query("FETCH ALL g WITH (timeout = '1s')")).rows)
          return added.length
        },
        (n) => n >= 3,
      )
      expect(added.map((r) => [r.sluice_diff, Number(r.player_id)]).sort()).toEqual([['1', 20], ['1', 22], ['1', 23]])
      await c.query('COMMIT')
      const after = await db.query('SELECT count(*)::int AS n FROM go_plays')
      expect(after.rows[0].n).toBe(before.length + 3)
    } finally {
      await c.end()
    }
  })

  test.each([
    ['TUMBLE', "TUMBLE(laps, ts, INTERVAL '10 seconds')"],
    ['sliced HOP', "HOP(laps, ts, INTERVAL '5 seconds', INTERVAL '10 seconds')"],
  ])('EMIT ON WINDOW CLOSE (%s): a window comes once, as +1 rows, when the watermark closes it', async (kind, source) => {
    const c = await sluice.client()
    const s = kind === 'TUMBLE' ? 'laps' : 'laps_hop'
    try {
      await db.query(`CREATE STREAM ${s} (player_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id', partitions = 2)`)
      await db.query(`CREATE MATERIALIZED VIEW ${s}_closed AS SELECT window_start, count(*) AS n, max(player_id) AS top
        FROM ${source.replace('laps', s)} GROUP BY window_start, window_end EMIT ON WINDOW CLOSE`)
      const t = (second: number) => `'2026-11-23 10:00:00+00'::timestamptz + INTERVAL '${second} seconds'`
      await db.query(`INSERT INTO ${s} VALUES (1, ${t(1)}), (2, ${t(2)}), (3, ${t(12)})`)
      await c.query('BEGIN')
      await c.query(`DECLARE w CURSOR FOR SUBSCRIBE ${s}_closed`)
      const rowsOf = (res: pg.QueryResult) => res.rows.map((r) => `${r.sluice_diff} ${new Date(r.window_start).toISOString().slice(11, 19)} ${r.n} ${r.top}`)
      const fetch = async (): Promise<string[]> => rowsOf(await c.query("FETCH ALL w WITH (timeout = '300ms')"))
      const closedFirst = kind === 'TUMBLE' ? ['1 10:00:00 2 2'] : ['1 09:59:55 2 2', '1 10:00:00 2 2']
      // The snapshot: the windows closed so far (the watermark is at 10:00:12).
      expect((await eventually(fetch, (r) => r.length > 0)).sort()).toEqual(closedFirst)
      // More events into the open window change nothing visible until it closes.
      await db.query(`INSERT INTO ${s} VALUES (7, ${t(13)})`)
      expect(await fetch()).toEqual([])
      await db.query(`INSERT INTO ${s} VALUES (4, ${t(31)})`)
      const closedNext = kind === 'TUMBLE' ? ['1 10:00:10 2 7'] : ['1 10:00:05 2 7', '1 10:00:10 2 7']
      const got: string[] = []
      await eventually(
        async () => {
          got.push(...(await fetch()))
          return got.length
        },
        (n) => n >= closedNext.length,
      )
      expect(got.sort()).toEqual(closedNext)
      await c.query('COMMIT')
    } finally {
      await c.end()
    }
  })

  test('errors: unknown relation 42P01, unknown option 42601', async () => {
    await expect(db.query('SUBSCRIBE nothing_here')).rejects.toMatchObject({ code: '42P01' })
    await expect(db.query('SUBSCRIBE per_game WITH (snapshots = true)')).rejects.toMatchObject({ code: '42601' })
    await expect(db.query('SUBSCRIBE per_game WITH (snapshot = 3)')).rejects.toMatchObject({ code: '22023' })
  })

  test('extended protocol: Execute with a row limit over SUBSCRIBE suspends, and the next Execute waits for more', async () => {
    const c = await RawPg.open(sluice.port, 'analyst', 'sluice')
    try {
      c.send(serialize.parse({ text: 'SUBSCRIBE per_game' }), serialize.bind({ portal: 'live' }), serialize.describe({ type: 'P', name: 'live' }), serialize.execute({ portal: 'live', rows: 2 }), serialize.flush())
      const first = await c.until('s')
      expect(first.map((m) => m.type).join('')).toBe('12TDDs')
      expect(rowDescription(first[2]!).map((f) => f.name)).toEqual(['sluice_timestamp', 'sluice_diff', 'game', 'n'])
      // The snapshot has three rows: the next Execute gets the third at once, then waits for a change.
      c.send(serialize.execute({ portal: 'live', rows: 3 }), serialize.flush())
      await eventually(async () => c.messages.filter((m) => m.type === 'D').length, (n) => n === 1)
      expect(c.messages.some((m) => m.type === 's')).toBe(false)
      await db.query(`INSERT INTO plays VALUES (10, 'chess', ${at(10)})`)
      const second = await c.until('s')
      const rows = second.filter((m) => m.type === 'D').map((m) => dataRowCells(m).map((b) => b?.toString() ?? null))
      expect(rows.length).toBe(3)
      expect(rows.slice(1).map((r) => r.slice(1))).toEqual([['-1', 'chess', '3'], ['1', 'chess', '4']])
      // Closing the portal ends the subscription; the connection goes on.
      c.send(serialize.close({ type: 'P', name: 'live' }), serialize.sync())
      expect((await c.until('Z')).map((m) => m.type).join('')).toBe('3Z')
      c.send(serialize.query('SELECT count(*) AS c FROM per_game'))
      const after = await c.until('Z')
      expect(commandTag(after.find((m) => m.type === 'C')!)).toBe('SELECT 1')
    } finally {
      c.close()
    }
  })

  test('a plain SUBSCRIBE query streams until the client cancels it', async () => {
    const c = await RawPg.open(sluice.port, 'analyst', 'sluice')
    try {
      c.send(serialize.query('SUBSCRIBE per_game WITH (snapshot = false)'))
      await c.until('T')
      await db.query(`INSERT INTO plays VALUES (11, 'go', ${at(11)})`)
      await eventually(async () => c.messages.filter((m) => m.type === 'D').length, (n) => n === 2)
      const cells = c.messages.filter((m) => m.type === 'D').map((m) => dataRowCells(m).slice(1).map((b) => b?.toString()))
      expect(cells).toEqual([['-1', 'go', '4'], ['1', 'go', '5']])
      await c.cancel()
      const end = await c.until('Z')
      const error = end.find((m) => m.type === 'E')
      expect(error && errorFields(error).C).toBe('57014')
      // The session is usable after the cancel.
      c.send(serialize.query('SELECT 1 AS one'))
      expect((await c.until('Z')).some((m) => m.type === 'D')).toBe(true)
    } finally {
      c.close()
    }
  })
})
