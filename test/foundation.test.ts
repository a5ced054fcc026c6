/**
 * The walking skeleton as a new user meets it: a real `sluice serve` process, psql and node-postgres over
 * real sockets, the game-ends-per-minute workload from queries/, errors with SQLSTATE and position,
 * a kill -9 in the middle of ingesting, and many sessions at once.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'
import { expectedGameEnds, gameEvents, insertSql, type GameEvent } from './helpers/game-events.ts'

const QUERY_FILE = readFileSync(resolve(import.meta.dirname, '..', 'queries', 'game_ends_per_minute.sql'), 'utf8')

async function viewCounts(client: pg.Client): Promise<Map<string, number>> {
  const res = await client.query<{ window_start: Date; game: string; ends: string }>('SELECT window_start, game, ends FROM game_ends_per_minute ORDER BY window_start, game')
  return new Map(res.rows.map((r) => [`${r.window_start.toISOString()}|${r.game}`, Number(r.ends)]))
}

async function insertAll(client: pg.Client, events: readonly GameEvent[], batch = 250): Promise<void> {
  for (let i = 0; i < events.length; i += batch) await client.query(insertSql(events.slice(i, i + batch)))
}

describe('foundation: psql to RocksDB state and back', () => {
  let sluice: SluiceProcess

  beforeAll(async () => {
    sluice = await startSluice()
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test('psql creates the stream and view from queries/, inserts, and reads the per-minute counts', async () => {
    const created = sluice.psql(QUERY_FILE)
    expect(created.stdout).toContain('CREATE STREAM')
    expect(created.stdout).toContain('CREATE MATERIALIZED VIEW')

    const t0 = Date.UTC(2026, 10, 23, 10, 0, 0)
    const iso = (ms: number) => new Date(ms).toISOString()
    sluice.psql(`INSERT INTO game_events (player_id, game, type, ts) VALUES
      (1, 'chess', 'game_end', '${iso(t0 + 1_000)}'),
      (2, 'chess', 'game_end', '${iso(t0 + 20_000)}'),
      (3, 'poker', 'game_end', '${iso(t0 + 30_000)}'),
      (1, 'chess', 'fight', '${iso(t0 + 40_000)}'),
      (4, 'chess', 'game_end', '${iso(t0 + 70_000)}'),
      (5, 'go', 'login', '${iso(t0 + 130_000)}')`)

    const out = sluice.psql('SELECT window_start, game, ends FROM game_ends_per_minute ORDER BY window_start, game', { args: ['-A', '-t', '-F', ','] })
    expect(out.stdout.trim().split('\n')).toEqual([
      '2026-11-23 10:00:00+00,chess,2',
      '2026-11-23 10:00:00+00,poker,1',
      '2026-11-23 10:01:00+00,chess,1',
    ])
    // The watermark is 10:02:05 (last event 10:02:10 minus 5 s): both windows above are closed.
    const q = sluice.psql("SELECT status, events_in, watermark FROM sluice_queries WHERE name = 'game_ends_per_minute'", { args: ['-A', '-t', '-F', ','] })
    expect(q.stdout.trim()).toBe('running,6,2026-11-23 10:02:05+00')
  })

  test('a generated workload: every window count equals the independently computed one', async () => {
    const client = await sluice.client()
    try {
      await client.query('DROP MATERIALIZED VIEW game_ends_per_minute')
      await client.query('DROP STREAM game_events')
      await client.query(QUERY_FILE)
      const events = gameEvents(3000, 7)
      await insertAll(client, events)
      const expected = expectedGameEnds(events)
      const actual = await eventually(() => viewCounts(client), (m) => m.size === expected.size)
      expect(actual).toEqual(expected)
    } finally {
      await client.end()
    }
  })

  test('SELEC 1 is a syntax error with SQLSTATE 42601 and a position psql points at', async () => {
    const r = sluice.psql('SELEC 1', { allowError: true })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('syntax error at or near "SELEC"')
    expect(r.stderr).toMatch(/LINE 1: SELEC 1\n\s+\^/)
    const client = await sluice.client()
    try {
      const err = await client.query('SELECT 1 FROM game_events WHERE nope = 1').catch((e: pg.DatabaseError) => e)
      expect((err as pg.DatabaseError).code).toBe('42703')
      expect((err as pg.DatabaseError).position).toBe(String('SELECT 1 FROM game_events WHERE '.length + 1))
      const syntax = await client.query('SELECT 1 FROM WHERE').catch((e: pg.DatabaseError) => e)
      expect((syntax as pg.DatabaseError).code).toBe('42601')
      const missing = await client.query('SELECT * FROM no_such_view').catch((e: pg.DatabaseError) => e)
      expect((missing as pg.DatabaseError).code).toBe('42P01')
      const mismatch = await client.query("INSERT INTO game_events (player_id, ts) VALUES ('x', now())").catch((e: pg.DatabaseError) => e)
      expect((mismatch as pg.DatabaseError).code).toBe('22P02')
      // The session is still usable after errors.
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })

  test('20 concurrent sessions insert and query at once without errors', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => sluice.client()))
    try {
      await clients[0]!.query("CREATE STREAM clicks (user_id INT NOT NULL, page TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'user_id')")
      await clients[0]!.query('CREATE MATERIALIZED VIEW clicks_per_page AS SELECT page, count(*) AS n FROM clicks GROUP BY page')
      await Promise.all(
        clients.map(async (c, i) => {
          for (let j = 0; j < 10; j++) {
            await c.query('INSERT INTO clicks VALUES ($1, $2, now())', [i, `p${j % 3}`])
            const r = await c.query('SELECT page, n FROM clicks_per_page ORDER BY page')
            expect(r.rows.length).toBeGreaterThan(0)
          }
        }),
      )
      const total = await clients[0]!.query('SELECT sum(n) AS total FROM clicks_per_page')
      expect(Number(total.rows[0].total)).toBe(200)
    } finally {
      await Promise.all(clients.map((c) => c.end()))
    }
  })
})

describe('crash safety', () => {
  test('kill -9 in the middle of ingesting: after restart the counts equal an uninterrupted run', async () => {
    const dataDir = await tempDataDir()
    const events = gameEvents(20_000, 42, Date.UTC(2026, 10, 23, 12, 0, 0), 500)
    const batches: GameEvent[][] = []
    for (let i = 0; i < events.length; i += 1000) batches.push(events.slice(i, i + 1000))
    try {
      let sluice = await startSluice({ dataDir, checkpointMs: 50 })
      let client = await sluice.client()
      await client.query(QUERY_FILE)
      // Acknowledged batches are durable; kill right after an acknowledgement, while the view is still busy.
      const killAfter = 11
      for (let b = 0; b < killAfter; b++) await client.query(insertSql(batches[b]!))
      // The connection dies with the server; that is the point, not a failure.
      client.on('error', () => undefined)
      await sluice.kill('SIGKILL')
      await client.end().catch(() => undefined)

      sluice = await startSluice({ dataDir, checkpointMs: 50 })
      client = await sluice.client()
      try {
        const streams = await client.query('SELECT name FROM sluice_streams')
        expect(streams.rows.map((r) => r.name)).toEqual(['game_events'])
        for (let b = killAfter; b < batches.length; b++) await client.query(insertSql(batches[b]!))
        const expected = expectedGameEnds(events)
        const actual = await eventually(() => viewCounts(client), (m) => m.size === expected.size && [...m.values()].reduce((a, b) => a + b, 0) === [...expected.values()].reduce((a, b) => a + b, 0), 30_000)
        expect(actual).toEqual(expected)
      } finally {
        await client.end()
        await sluice.stop()
      }
    } finally {
      await removeDir(dataDir)
    }
  })

  test('a closed stream stays closed after a restart, its windows final', async () => {
    const dataDir = await tempDataDir()
    try {
      let sluice = await startSluice({ dataDir })
      sluice.psql(`CREATE STREAM s (ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 hour');
        CREATE MATERIALIZED VIEW hourly AS SELECT window_start, count(*) AS n FROM TUMBLE(s, ts, INTERVAL '1 hour') GROUP BY window_start EMIT ON WINDOW CLOSE;
        INSERT INTO s VALUES ('2026-11-23 01:10:00+00'), ('2026-11-23 01:20:00+00');
        ALTER STREAM s CLOSE;`)
      await sluice.stop()
      sluice = await startSluice({ dataDir })
      try {
        expect(sluice.psql('SELECT n FROM hourly', { args: ['-A', '-t'] }).stdout.trim()).toBe('2')
        const refused = sluice.psql("INSERT INTO s VALUES ('2026-11-23 03:00:00+00')", { allowError: true })
        expect(refused.stderr).toContain('is closed')
      } finally {
        await sluice.stop()
      }
    } finally {
      await removeDir(dataDir)
    }
  })

  test('a graceful restart keeps streams, views and their state', async () => {
    const dataDir = await tempDataDir()
    try {
      let sluice = await startSluice({ dataDir })
      sluice.psql(QUERY_FILE)
      const events = gameEvents(500, 3)
      let client = await sluice.client()
      await insertAll(client, events)
      const before = await eventually(() => viewCounts(client), (m) => m.size === expectedGameEnds(events).size)
      await client.end()
      await sluice.stop()
      sluice = await startSluice({ dataDir })
      client = await sluice.client()
      try {
        expect(await viewCounts(client)).toEqual(before)
      } finally {
        await client.end()
        await sluice.stop()
      }
    } finally {
      await removeDir(dataDir)
    }
  })
})

