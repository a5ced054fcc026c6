/**
 * The origin workloads of queries/ run by psql against a real server: the player profile and revenue per
 * level (each transaction joined to the level of the player's last game start before it), checked against
 * results computed here independently, across a kill -9 and a restart in the middle of the stream.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'
import { gameEvents, insertSql, type GameEvent } from './helpers/game-events.ts'
import { expectedStreaks } from './helpers/losing-streak.ts'

const QUERIES = resolve(import.meta.dirname, '..', 'queries')
const file = (name: string) => readFileSync(resolve(QUERIES, name), 'utf8')

interface Profile {
  logins: number
  fights_lost: number
  payer: boolean
  current_level: number | null
  last_seen: number
}

function expectedProfiles(events: readonly GameEvent[]): Map<number, Profile> {
  const out = new Map<number, Profile>()
  for (const e of events) {
    const p = out.get(e.player_id) ?? { logins: 0, fights_lost: 0, payer: false, current_level: null, last_seen: e.ts }
    if (e.type === 'login') p.logins++
    if (e.type === 'fight' && e.result === 'loss') p.fights_lost++
    if (e.type === 'transaction') p.payer = true
    if (e.type === 'game_start') p.current_level = e.level
    p.last_seen = Math.max(p.last_seen, e.ts)
    out.set(e.player_id, p)
  }
  return out
}

/** Revenue (in cents) and transactions per `${windowStartIso}|${level}`, the level as of each transaction. */
function expectedRevenue(events: readonly GameEvent[]): Map<string, [number, number]> {
  const level = new Map<number, number | null>()
  const out = new Map<string, [number, number]>()
  for (const e of events) {
    if (e.type === 'game_start') level.set(e.player_id, e.level)
    if (e.type !== 'transaction') continue
    const start = Math.floor(e.ts / 1_800_000) * 1_800_000
    const key = `${new Date(start).toISOString()}|${level.get(e.player_id) ?? 'NULL'}`
    const acc = out.get(key) ?? [0, 0]
    acc[0] += Math.round(e.amount! * 100)
    acc[1]++
    out.set(key, acc)
  }
  return out
}

async function revenue(client: pg.Client): Promise<Map<string, [number, number]>> {
  const res = await client.query<{ window_start: Date; level: number | null; revenue: number; transactions: string }>('SELECT window_start, level, revenue, transactions FROM revenue_per_level')
  return new Map(res.rows.map((r) => [`${r.window_start.toISOString()}|${r.level ?? 'NULL'}`, [Math.round(Number(r.revenue) * 100), Number(r.transactions)]]))
}

async function profiles(client: pg.Client): Promise<Map<number, Profile>> {
  const res = await client.query('SELECT player_id, logins, fights_lost, payer, current_level, last_seen FROM player_profile')
  return new Map(
    res.rows.map((r) => [
      Number(r.player_id),
      { logins: Number(r.logins), fights_lost: Number(r.fights_lost), payer: r.payer as boolean, current_level: r.current_level as number | null, last_seen: (r.last_seen as Date).getTime() },
    ]),
  )
}

describe('origin workloads from queries/', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await removeDir(d)
  })

  test('player profile and revenue per level: exact, across a kill -9 and a restart', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    let sluice: SluiceProcess = await startSluice({ dataDir, checkpointMs: 100 })
    for (const name of ['game_ends_per_minute.sql', 'player_profile.sql', 'revenue_per_level.sql']) {
      const out = sluice.psql(file(name))
      expect(out.stdout).toContain('CREATE MATERIALIZED VIEW')
    }
    const events = gameEvents(30_000, 21, Date.UTC(2026, 10, 23, 8, 0, 0), 300)
    const half = 15_000
    let client = await sluice.client()
    for (let i = 0; i < half; i += 1500) await client.query(insertSql(events.slice(i, i + 1500)))
    await eventually(() => revenue(client), (m) => sumTransactions(m) === sumTransactions(expectedRevenue(events.slice(0, half))), 30_000)

    // Killed without a last checkpoint: what it acknowledged is in the log, the views catch up on restart.
    client.on('error', () => undefined)
    await sluice.kill('SIGKILL')
    await client.end().catch(() => undefined)
    sluice = await startSluice({ dataDir, checkpointMs: 100 })
    client = await sluice.client()
    try {
      for (let i = half; i < events.length; i += 1500) await client.query(insertSql(events.slice(i, i + 1500)))
      const want = expectedRevenue(events)
      const got = await eventually(() => revenue(client), (m) => sumTransactions(m) === sumTransactions(want), 60_000)
      expect(got).toEqual(want)
      expect(got.size).toBeGreaterThan(100)
      expect(await profiles(client)).toEqual(expectedProfiles(events))
    } finally {
      await client.end()
      await sluice.stop()
    }
  }, 180_000)

  test('losing streak (queries/losing_streak.sql): every third loss in a row within an hour, exactly', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    const sluice = await startSluice({ dataDir })
    try {
      sluice.psql(file('game_ends_per_minute.sql'))
      expect(sluice.psql(file('losing_streak.sql')).stdout).toContain('CREATE MATERIALIZED VIEW')
      // Fights are frequent here (many players, few events each): streaks with and without interruptions.
      const events = gameEvents(20_000, 33, Date.UTC(2026, 10, 23, 8, 0, 0), 40)
      const client = await sluice.client()
      try {
        for (let i = 0; i < events.length; i += 2000) await client.query(insertSql(events.slice(i, i + 2000)))
        await client.query('ALTER STREAM game_events CLOSE')
        const res = await client.query<{ player_id: string; first_loss: Date; third_loss: Date; losses: string }>('SELECT * FROM losing_streak')
        const got = res.rows.map((r) => `${r.player_id}|${r.first_loss.toISOString()}|${r.third_loss.toISOString()}|${r.losses}`).sort()
        const want = expectedStreaks(events)
        expect(want.length).toBeGreaterThan(50)
        expect(got).toEqual(want)
      } finally {
        await client.end()
      }
    } finally {
      await sluice.stop()
    }
  }, 120_000)

  test('window-function rows waiting for the watermark survive a restart and come out in order', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    let sluice = await startSluice({ dataDir, checkpointMs: 100 })
    sluice.psql(`CREATE STREAM spend (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 hour') WITH (key = 'player_id');
      CREATE MATERIALIZED VIEW running AS SELECT player_id, ts, sum(amount) OVER (PARTITION BY player_id ORDER BY ts) AS total, lag(amount) OVER (PARTITION BY player_id ORDER BY ts) AS prev FROM spend`)
    // Out of order, all within the hour the watermark holds back: nothing is computed yet.
    sluice.psql(`INSERT INTO spend VALUES (1, 5, '2026-11-23 10:10:00+00'), (1, 2, '2026-11-23 10:00:00+00'), (2, 7, '2026-11-23 10:05:00+00')`)
    expect(sluice.psql('SELECT count(*) FROM running', { args: ['-A', '-t'] }).stdout.trim()).toBe('0')
    await sluice.stop()
    sluice = await startSluice({ dataDir, checkpointMs: 100 })
    try {
      sluice.psql(`INSERT INTO spend VALUES (1, 1, '2026-11-23 10:20:00+00'); ALTER STREAM spend CLOSE`)
      const out = sluice.psql('SELECT player_id, total, prev FROM running ORDER BY player_id, ts', { args: ['-A', '-t', '-F', ','] }).stdout.trim()
      expect(out.split('\n')).toEqual(['1,2,', '1,7,2', '1,8,5', '2,7,'])
    } finally {
      await sluice.stop()
    }
  }, 60_000)
})

const sumTransactions = (m: Map<string, [number, number]>) => [...m.values()].reduce((n, [, t]) => n + t, 0)
