/**
 * Views over views against a real `sluice serve`: a view reads another view's rows as a stream. Per-minute
 * counts (EMIT ON WINDOW CLOSE) are read by a GROUP BY, by a coarser window, and by window functions that
 * a third view filters (the shape of Nexmark q5: the leaders of each window); every result is checked
 * against one computed here from the events. Also: a view created later starts from the rows so far, a
 * kill -9 in the middle loses and doubles nothing down the chain, a trigger fires on a view's rows,
 * views that change their rows are refused with a hint, and DROP knows the chain.
 */
import { afterEach, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const MINUTE = 60_000
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0)
const GAMES = ['chess', 'go', 'poker', 'darts']

interface Play {
  player_id: number
  game: string
  score: number
  ts: number
}

/** Plays over about `minutes` minutes, in time order, with some games busier in some minutes. */
function plays(count: number, minutes: number, seed: number): Play[] {
  let x = seed
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648)
  const out: Play[] = []
  for (let i = 0; i < count; i++) {
    const ts = T0 + Math.floor((i / count) * minutes * MINUTE)
    const minute = Math.floor((ts - T0) / MINUTE)
    const game = next() < 0.4 ? GAMES[minute % GAMES.length]! : GAMES[Math.floor(next() * GAMES.length)]!
    out.push({ player_id: Math.floor(next() * 50), game, score: Math.floor(next() * 100), ts })
  }
  return out
}

const STREAM = `CREATE STREAM plays (player_id BIGINT NOT NULL, game TEXT NOT NULL, score INT, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id', partitions = 2)`
const PER_MINUTE = `CREATE MATERIALIZED VIEW per_minute AS SELECT game, count(*) AS plays, sum(score) AS points,
    window_start AS minute_start, window_end AS minute_end
  FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY game, window_start, window_end EMIT ON WINDOW CLOSE`
const BEST_MINUTE = `CREATE MATERIALIZED VIEW best_minute AS SELECT game, max(plays) AS best, count(*) AS minutes, sum(points) AS points
  FROM per_minute GROUP BY game`
const PER_FIVE = `CREATE MATERIALIZED VIEW per_five AS SELECT game, sum(plays) AS plays, window_start AS five_start
  FROM TUMBLE(per_minute, minute_start, INTERVAL '5 minutes') GROUP BY game, window_start, window_end EMIT ON WINDOW CLOSE`
const RANKED = `CREATE MATERIALIZED VIEW ranked AS SELECT game, plays, minute_start, minute_end,
  max(plays) OVER (PARTITION BY minute_start ORDER BY minute_end) AS most FROM per_minute`
/** A sliding window, aggregated per 1-minute slice and put together when it closes (planner/hop-slices.ts). */
const SLIDING = `CREATE MATERIALIZED VIEW sliding AS SELECT game, count(*) AS plays, max(score) AS best, window_start
  FROM HOP(plays, ts, INTERVAL '1 minute', INTERVAL '5 minutes') GROUP BY game, window_start, window_end EMIT ON WINDOW CLOSE`
/** Sessions per player (20 s gap), final when they close, and a count of them per player read from that view. */
const SESSIONS = `CREATE MATERIALIZED VIEW play_sessions AS SELECT player_id, count(*) AS n, window_start AS s_start
  FROM SESSION(plays, ts, INTERVAL '20 seconds', player_id) GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE`
const SESSIONS_PER_PLAYER = `CREATE MATERIALIZED VIEW sessions_per_player AS SELECT player_id, count(*) AS sessions, sum(n) AS plays, max(n) AS longest
  FROM play_sessions GROUP BY player_id`
const LEADERS = `CREATE MATERIALIZED VIEW leaders AS SELECT game, plays, minute_start FROM ranked WHERE plays = most`

function insertSql(batch: readonly Play[]): string {
  const values = batch.map((p) => `(${p.player_id}, '${p.game}', ${p.score}, '${new Date(p.ts).toISOString()}')`)
  return `INSERT INTO plays VALUES ${values.join(', ')}`
}

/** Per game and minute (start ms): plays and points, over all events (the stream is closed at the end). */
function perMinute(events: readonly Play[]): Map<string, { game: string; start: number; plays: number; points: number }> {
  const out = new Map<string, { game: string; start: number; plays: number; points: number }>()
  for (const e of events) {
    const start = Math.floor(e.ts / MINUTE) * MINUTE
    const k = `${e.game}|${start}`
    const m = out.get(k) ?? { game: e.game, start, plays: 0, points: 0 }
    m.plays++
    m.points += e.score
    out.set(k, m)
  }
  return out
}

function expectedBest(events: readonly Play[]): string[] {
  const by = new Map<string, { best: number; minutes: number; points: number }>()
  for (const m of perMinute(events).values()) {
    const b = by.get(m.game) ?? { best: 0, minutes: 0, points: 0 }
    b.best = Math.max(b.best, m.plays)
    b.minutes++
    b.points += m.points
    by.set(m.game, b)
  }
  return [...by].map(([g, b]) => `${g} ${b.best} ${b.minutes} ${b.points}`).sort()
}

function expectedFive(events: readonly Play[]): string[] {
  const by = new Map<string, number>()
  for (const m of perMinute(events).values()) {
    const k = `${m.game} ${new Date(Math.floor(m.start / (5 * MINUTE)) * 5 * MINUTE).toISOString()}`
    by.set(k, (by.get(k) ?? 0) + m.plays)
  }
  return [...by].map(([k, n]) => `${k} ${n}`).sort()
}

function expectedLeaders(events: readonly Play[]): string[] {
  const most = new Map<number, number>()
  const minutes = [...perMinute(events).values()]
  for (const m of minutes) most.set(m.start, Math.max(most.get(m.start) ?? 0, m.plays))
  return minutes.filter((m) => m.plays === most.get(m.start)).map((m) => `${m.game} ${m.plays} ${new Date(m.start).toISOString()}`).sort()
}

function expectedSliding(events: readonly Play[]): string[] {
  const by = new Map<string, { plays: number; best: number }>()
  for (const e of events) {
    const minute = Math.floor(e.ts / MINUTE) * MINUTE
    for (let start = minute; start > minute - 5 * MINUTE; start -= MINUTE) {
      const k = `${e.game} ${new Date(start).toISOString()}`
      const b = by.get(k) ?? { plays: 0, best: -1 }
      b.plays++
      b.best = Math.max(b.best, e.score)
      by.set(k, b)
    }
  }
  return [...by].map(([k, b]) => `${k} ${b.plays} ${b.best}`).sort()
}
async function slidingRows(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ game: string; plays: string; best: number; window_start: Date }>('SELECT game, plays, best, window_start FROM sliding')
  return r.rows.map((x) => `${x.game} ${x.window_start.toISOString()} ${x.plays} ${x.best}`).sort()
}
function expectedSessions(events: readonly Play[]): string[] {
  const byPlayer = new Map<number, { last: number; sessions: number; plays: number; current: number; longest: number }>()
  for (const e of [...events].sort((a, b) => a.ts - b.ts)) {
    const p = byPlayer.get(e.player_id)
    if (p === undefined) {
      byPlayer.set(e.player_id, { last: e.ts, sessions: 1, plays: 1, current: 1, longest: 1 })
      continue
    }
    if (e.ts - p.last < 20_000) p.current++
    else {
      p.sessions++
      p.current = 1
    }
    p.last = e.ts
    p.plays++
    p.longest = Math.max(p.longest, p.current)
  }
  return [...byPlayer].map(([id, p]) => `${id} ${p.sessions} ${p.plays} ${p.longest}`).sort()
}
async function sessionRows(c: pg.Client): Promise<string[]> {
  const r = await c.query('SELECT player_id, sessions, plays, longest FROM sessions_per_player')
  return r.rows.map((x) => `${x.player_id} ${x.sessions} ${x.plays} ${x.longest}`).sort()
}
async function bestRows(c: pg.Client): Promise<string[]> {
  const r = await c.query('SELECT game, best, minutes, points FROM best_minute')
  return r.rows.map((x) => `${x.game} ${x.best} ${x.minutes} ${x.points}`).sort()
}
async function fiveRows(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ game: string; plays: string; five_start: Date }>('SELECT game, plays, five_start FROM per_five')
  return r.rows.map((x) => `${x.game} ${x.five_start.toISOString()} ${x.plays}`).sort()
}
async function leaderRows(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ game: string; plays: string; minute_start: Date }>('SELECT game, plays, minute_start FROM leaders')
  return r.rows.map((x) => `${x.game} ${x.plays} ${x.minute_start.toISOString()}`).sort()
}

describe('views over views', () => {
  let sluice: SluiceProcess | undefined
  afterEach(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    sluice = undefined
  })

  test('a GROUP BY, a coarser window and window functions read per-minute windows; the results equal the events', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    try {
      for (const sql of [STREAM, PER_MINUTE, BEST_MINUTE, PER_FIVE, RANKED, LEADERS]) await c.query(sql)
      const events = plays(6000, 23, 7)
      const half = events.slice(0, 3000)
      for (let i = 0; i < half.length; i += 500) await c.query(insertSql(half.slice(i, i + 500)))
      // While the stream runs, the reading views hold the minutes that closed: never a minute still open.
      await eventually(async () => (await c.query('SELECT count(*)::int AS n FROM best_minute')).rows[0].n, (n) => n === GAMES.length)
      const open = Math.floor((half[half.length - 1]!.ts - 5000) / MINUTE) * MINUTE
      const seen = await c.query<{ latest: Date }>('SELECT max(minute_start) AS latest FROM leaders')
      expect(seen.rows[0]!.latest.getTime()).toBeLessThan(open)

      // A view created now starts from the minutes closed so far.
      await c.query('CREATE MATERIALIZED VIEW minutes_per_game AS SELECT game, count(*) AS minutes FROM per_minute GROUP BY game')
      const before = await c.query('SELECT sum(minutes)::int AS n FROM minutes_per_game')
      const closedSoFar = (await c.query('SELECT count(*)::int AS n FROM per_minute')).rows[0].n
      expect(before.rows[0].n).toBe(closedSoFar)

      const rest = events.slice(3000)
      for (let i = 0; i < rest.length; i += 500) await c.query(insertSql(rest.slice(i, i + 500)))
      await c.query('ALTER STREAM plays CLOSE')
      expect(await bestRows(c)).toEqual(expectedBest(events))
      expect(await fiveRows(c)).toEqual(expectedFive(events))
      expect(await leaderRows(c)).toEqual(expectedLeaders(events))
      const total = await c.query('SELECT sum(minutes)::int AS n FROM minutes_per_game')
      expect(total.rows[0].n).toBe(perMinute(events).size)

      // The chain shows in sluice_queries, each view with the relation it reads.
      const q = await c.query("SELECT name, source, status FROM sluice_queries WHERE name IN ('best_minute', 'leaders') ORDER BY name")
      expect(q.rows).toEqual([
        { name: 'best_minute', source: 'per_minute', status: 'running' },
        { name: 'leaders', source: 'ranked', status: 'running' },
      ])
    } finally {
      await c.end()
    }
  })

  test('right after ALTER STREAM ... CLOSE, every window is through the chain (the reference example)', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    try {
      // docs/sql-reference.md's hot items, over a keyless stream of four partitions.
      await c.query("CREATE STREAM bids (b_auction BIGINT, price INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 second')")
      await c.query(`CREATE MATERIALIZED VIEW auction_bids AS
        SELECT b_auction AS auction, count(*) AS num, window_start AS starttime, window_end AS endtime
        FROM HOP(bids, ts, INTERVAL '2 seconds', INTERVAL '10 seconds') GROUP BY b_auction, window_start, window_end EMIT ON WINDOW CLOSE`)
      await c.query(`CREATE MATERIALIZED VIEW auction_ranked AS
        SELECT auction, num, starttime, max(num) OVER (PARTITION BY starttime ORDER BY endtime) AS most FROM auction_bids`)
      await c.query('CREATE MATERIALIZED VIEW hot_items AS SELECT auction, num, starttime FROM auction_ranked WHERE num = most')
      await c.query('CREATE MATERIALIZED VIEW best_window AS SELECT auction, max(num) AS best FROM auction_bids GROUP BY auction')
      await c.query(`INSERT INTO bids VALUES (1, 5, '2026-12-01 10:00:00.5+00'), (1, 6, '2026-12-01 10:00:01+00'), (2, 7, '2026-12-01 10:00:03+00'),
        (2, 8, '2026-12-01 10:00:04+00'), (2, 9, '2026-12-01 10:00:05+00'), (1, 1, '2026-12-01 10:00:13+00')`)
      await c.query('ALTER STREAM bids CLOSE')
      const hot = await c.query<{ auction: string; num: string; starttime: Date }>('SELECT auction, num, starttime FROM hot_items ORDER BY starttime, auction')
      const at = (s: string) => new Date(`2026-12-01T${s}Z`).toISOString()
      expect(hot.rows.map((r) => `${r.starttime.toISOString()} ${r.auction} ${r.num}`)).toEqual([
        `${at('09:59:52')} 1 2`, `${at('09:59:54')} 1 2`, `${at('09:59:56')} 2 3`, `${at('09:59:58')} 2 3`, `${at('10:00:00')} 2 3`,
        `${at('10:00:02')} 2 3`, `${at('10:00:04')} 2 2`, `${at('10:00:06')} 1 1`, `${at('10:00:08')} 1 1`, `${at('10:00:10')} 1 1`, `${at('10:00:12')} 1 1`,
      ])
      expect((await c.query('SELECT auction, best FROM best_window ORDER BY auction')).rows).toEqual([{ auction: '1', best: '2' }, { auction: '2', best: '3' }])
    } finally {
      await c.end()
    }
  })

  test('kill -9 in the middle: after the restart nothing down the chain is lost or counted twice', async () => {
    const dataDir = await tempDataDir()
    sluice = await startSluice({ dataDir, checkpointMs: 50 })
    const events = plays(8000, 31, 11)
    let c = await sluice.client()
    for (const sql of [STREAM, PER_MINUTE, BEST_MINUTE, PER_FIVE, RANKED, LEADERS, SLIDING, SESSIONS, SESSIONS_PER_PLAYER]) await c.query(sql)
    const cut = 5000
    for (let i = 0; i < cut; i += 250) await c.query(insertSql(events.slice(i, i + 250)))
    // Some minutes are through the chain and checkpointed, others in flight, when the process dies.
    await eventually(async () => (await c.query('SELECT count(*)::int AS n FROM leaders')).rows[0].n, (n) => n >= 5)
    c.on('error', () => undefined)
    await sluice.kill('SIGKILL')
    await c.end().catch(() => undefined)

    sluice = await startSluice({ dataDir, checkpointMs: 50 })
    c = await sluice.client()
    try {
      for (let i = cut; i < events.length; i += 250) await c.query(insertSql(events.slice(i, i + 250)))
      await c.query('ALTER STREAM plays CLOSE')
      await eventually(async () => leaderRows(c), (rows) => rows.length === expectedLeaders(events).length)
      expect(await bestRows(c)).toEqual(expectedBest(events))
      expect(await fiveRows(c)).toEqual(expectedFive(events))
      expect(await leaderRows(c)).toEqual(expectedLeaders(events))
      expect(await slidingRows(c)).toEqual(expectedSliding(events))
      expect(await sessionRows(c)).toEqual(expectedSessions(events))
    } finally {
      await c.end()
    }
  })

  test('a trigger on a view fires for its rows; DROP refuses while views read a view and CASCADE drops the chain', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    const listener = await sluice.client()
    try {
      for (const sql of [STREAM, PER_MINUTE, BEST_MINUTE, RANKED, LEADERS]) await c.query(sql)
      const heard: string[] = []
      listener.on('notification', (n) => heard.push(n.payload ?? ''))
      await listener.query('LISTEN busy_minute')
      const grouped = await c.query(`CREATE TRIGGER g AFTER INSERT ON per_minute FOR EACH ROW EXECUTE NOTIFY x WITH (priority_group = 'offers')`).catch((e: { code: string }) => e)
      expect(grouped).toMatchObject({ code: '0A000', message: 'priority_group is for triggers on a stream' })
      await c.query(`CREATE TRIGGER busy AFTER INSERT ON per_minute FOR EACH ROW WHEN (NEW.plays >= 60)
        EXECUTE NOTIFY busy_minute, NEW.game || ' ' || NEW.plays::text`)
      const events = plays(3000, 12, 3)
      for (let i = 0; i < events.length; i += 500) await c.query(insertSql(events.slice(i, i + 500)))
      await c.query('ALTER STREAM plays CLOSE')
      const busy = [...perMinute(events).values()].filter((m) => m.plays >= 60).map((m) => `${m.game} ${m.plays}`).sort()
      expect(busy.length).toBeGreaterThan(0)
      // Every window is through (the stream is closed): the trigger's count of deliveries is final.
      const delivered = async () => Number((await c.query("SELECT delivered FROM sluice_triggers WHERE name = 'busy'")).rows[0].delivered)
      await eventually(delivered, (n) => n >= busy.length)
      await eventually(async () => heard.length, (n) => n >= busy.length)
      expect(await delivered()).toBe(busy.length)
      expect(heard.slice().sort()).toEqual(busy)

      const refused = await c.query('DROP MATERIALIZED VIEW per_minute').catch((e: { code: string; detail: string }) => e)
      expect(refused).toMatchObject({ code: '2BP01' })
      expect((refused as { detail: string }).detail).toContain('trigger busy depends on per_minute')
      const refused2 = await c.query('DROP MATERIALIZED VIEW ranked').catch((e: { code: string; detail: string }) => e)
      expect(refused2).toMatchObject({ code: '2BP01', detail: 'materialized view leaders reads ranked' })
      await c.query('DROP MATERIALIZED VIEW per_minute CASCADE')
      const left = await c.query("SELECT name FROM sluice_queries ORDER BY name")
      expect(left.rows).toEqual([])
      const triggers = await c.query('SELECT count(*)::int AS n FROM sluice_triggers')
      expect(triggers.rows[0].n).toBe(0)
      // The stream itself stays.
      const streams = await c.query("SELECT name FROM sluice_streams")
      expect(streams.rows).toEqual([{ name: 'plays' }])
    } finally {
      await listener.end()
      await c.end()
    }
  })

  test('triggers on MATCH_RECOGNIZE output: one offer per losing streak with a cooldown per player; joined to a profile, none for payers', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    const listener = await sluice.client()
    try {
      await c.query(`CREATE STREAM game_events (player_id BIGINT NOT NULL, type TEXT, result TEXT, ts TIMESTAMPTZ NOT NULL,
        WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (key = 'player_id', partitions = 2)`)
      await c.query(`CREATE MATERIALIZED VIEW losing_streak AS SELECT player_id, third_loss FROM game_events MATCH_RECOGNIZE (
        PARTITION BY player_id ORDER BY ts MEASURES LAST(L.ts) AS third_loss ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
        PATTERN (L L L) DEFINE L AS type = 'fight' AND result = 'loss') AS s`)
      await c.query(`CREATE TRIGGER streak_offer AFTER INSERT ON losing_streak FOR EACH ROW
        EXECUTE NOTIFY streak_offers, NEW.player_id::text WITH (cooldown = INTERVAL '1 day')`)
      // The campaign as the origin case states it: a streak of a non-paying player, the profile joined.
      await c.query('CREATE MATERIALIZED VIEW payers AS SELECT player_id, bool_or(type = \'purchase\') AS paid FROM game_events GROUP BY player_id')
      await c.query(`CREATE TRIGGER non_payer_offer AFTER INSERT ON losing_streak AS s JOIN payers p USING (player_id) FOR EACH ROW
        WHEN (NOT p.paid) EXECUTE NOTIFY non_payer_offers, s.player_id::text`)
      const nonPayers: string[] = []
      listener.on('notification', (n) => {
        if (n.channel === 'non_payer_offers') nonPayers.push(n.payload ?? '')
      })
      await listener.query('LISTEN non_payer_offers')
      const heard: string[] = []
      listener.on('notification', (n) => {
        if (n.channel === 'streak_offers') heard.push(n.payload ?? '')
      })
      await listener.query('LISTEN streak_offers')
      // Player 1 loses six in a row (two streaks: the second is inside the cooldown), player 2 three,
      // player 3 two and then wins.
      const fights: [number, string][] = [[1, 'loss'], [2, 'loss'], [3, 'loss'], [1, 'loss'], [2, 'loss'], [3, 'loss'], [1, 'loss'], [2, 'loss'], [3, 'win'], [1, 'loss'], [1, 'loss'], [1, 'loss']]
      const values = fights.map(([p, r], i) => `(${p}, 'fight', '${r}', '${new Date(T0 + i * 1000).toISOString()}')`)
      // Player 2 paid before the fights.
      await c.query(`INSERT INTO game_events VALUES (2, 'purchase', NULL, '${new Date(T0 - 1000).toISOString()}'), ${values.join(', ')}`)
      await c.query('ALTER STREAM game_events CLOSE')
      await eventually(async () => heard.length, (n) => n >= 2)
      const stats = await eventually(
        async () => (await c.query("SELECT stream, fires, delivered, suppressed_cooldown FROM sluice_triggers WHERE name = 'streak_offer'")).rows[0],
        (r) => Number(r.suppressed_cooldown) === 1,
      )
      expect(heard.sort()).toEqual(['1', '2'])
      // Two streaks of player 1 (no cooldown on this one), none for player 2, who paid.
      await eventually(async () => nonPayers.length, (n) => n >= 2)
      expect(nonPayers.sort()).toEqual(['1', '1'])
      expect(stats).toMatchObject({ stream: 'losing_streak', fires: '3', delivered: '2' })
      expect((await c.query('SELECT count(*)::int AS n FROM losing_streak')).rows[0].n).toBe(3)
    } finally {
      await listener.end()
      await c.end()
    }
  })

  test('an aggregate over a GROUP BY whose rows change follows it by withdrawals: players per current level', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    try {
      await c.query(`CREATE STREAM games (player_id BIGINT NOT NULL, level INT NOT NULL, coins INT, ts TIMESTAMPTZ NOT NULL,
        WATERMARK FOR ts AS ts) WITH (key = 'player_id', partitions = 2)`)
      await c.query(`CREATE MATERIALIZED VIEW player_level AS SELECT player_id, last_value(level) AS level, count(*) AS games,
        sum(coins) AS coins FROM games GROUP BY player_id HAVING count(*) >= 2`)
      await c.query(`CREATE MATERIALIZED VIEW per_level AS SELECT level, count(*) AS players, sum(games) AS games,
        sum(coins) AS coins, avg(games) AS avg_games, min(games) AS fewest, max(coins) AS richest FROM player_level WHERE level < 40 GROUP BY level`)
      let x = 17
      const next = (n: number) => (x = (x * 48271) % 2147483647) % n
      const events: { player_id: number; level: number; coins: number | null }[] = []
      const level = new Map<number, number>()
      for (let i = 0; i < 4000; i++) {
        const p = next(300)
        const l = Math.min(50, (level.get(p) ?? 0) + next(3))
        level.set(p, l)
        events.push({ player_id: p, level: l, coins: next(5) === 0 ? null : next(100) })
      }
      const insert = (batch: typeof events, from: number) =>
        c.query(`INSERT INTO games VALUES ${batch.map((e, i) => `(${e.player_id}, ${e.level}, ${e.coins ?? 'NULL'}, '${new Date(T0 + (from + i) * 1000).toISOString()}')`).join(', ')}`)
      for (let i = 0; i < 2000; i += 200) await insert(events.slice(i, i + 200), i)
      // A view created while the stream runs starts from the groups' rows as they are.
      await c.query('CREATE MATERIALIZED VIEW level_count AS SELECT count(*) AS players, sum(games) AS games FROM player_level')
      for (let i = 2000; i < events.length; i += 200) await insert(events.slice(i, i + 200), i)

      const players = new Map<number, { level: number; games: number; coins: number | null }>()
      for (const e of events) {
        const p = players.get(e.player_id) ?? { level: 0, games: 0, coins: null }
        p.level = e.level
        p.games++
        if (e.coins !== null) p.coins = (p.coins ?? 0) + e.coins
        players.set(e.player_id, p)
      }
      const shown = [...players.values()].filter((p) => p.games >= 2)
      const byLevel = new Map<number, { players: number; games: number; coins: number | null; fewest: number; richest: number | null }>()
      for (const p of shown.filter((q) => q.level < 40)) {
        const b = byLevel.get(p.level) ?? { players: 0, games: 0, coins: null, fewest: Infinity, richest: null }
        b.players++
        b.games += p.games
        if (p.coins !== null) b.coins = (b.coins ?? 0) + p.coins
        b.fewest = Math.min(b.fewest, p.games)
        if (p.coins !== null) b.richest = Math.max(b.richest ?? -Infinity, p.coins)
        byLevel.set(p.level, b)
      }
      const expected = [...byLevel].map(([l, b]) => `${l} ${b.players} ${b.games} ${b.coins} ${(b.games / b.players).toFixed(6)} ${b.fewest} ${b.richest}`).sort()
      const rows = async () =>
        (await c.query('SELECT level, players, games, coins, avg_games, fewest, richest FROM per_level')).rows
          .map((r) => `${r.level} ${r.players} ${r.games} ${r.coins} ${Number(r.avg_games).toFixed(6)} ${r.fewest} ${r.richest}`)
          .sort()
      // Players moved up: the levels they left hold them no more (emptied levels are gone).
      expect(await eventually(rows, (r) => r.join() === expected.join())).toEqual(expected)
      expect(byLevel.size).toBeLessThan(40)
      const total = (await c.query('SELECT players, games FROM level_count')).rows
      expect(total).toEqual([{ players: String(shown.length), games: String(shown.reduce((n, p) => n + p.games, 0)) }])
    } finally {
      await c.end()
    }
  })

  test('a trigger on a profile view fires on its changed rows: a VIP offer when a player first spends over 100', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    const listener = await sluice.client()
    try {
      await c.query(`CREATE STREAM buys (player_id BIGINT NOT NULL, amount INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 2)`)
      await c.query('CREATE MATERIALIZED VIEW spend AS SELECT player_id, sum(amount) AS spent, count(*) AS buys FROM buys GROUP BY player_id')
      await c.query(`CREATE TRIGGER vip AFTER INSERT ON spend FOR EACH ROW WHEN (NEW.spent > 100 AND NEW.player_id < 1000)
        EXECUTE NOTIFY vip, NEW.player_id::text || ':' || NEW.spent::text WITH (max_fires = 1)`)
      const heard: string[] = []
      listener.on('notification', (n) => heard.push(n.payload ?? ''))
      await listener.query('LISTEN vip')
      // Player 1 crosses 100 on the third buy and keeps buying; player 2 never does; player 3 crosses at once.
      const buys: [number, number][] = [[1, 40], [2, 30], [1, 50], [1, 20], [3, 500], [1, 60], [2, 30], [3, 1], [2, 10]]
      const values = buys.map(([p, a], i) => `(${p}, ${a}, '${new Date(T0 + i * 1000).toISOString()}')`)
      for (const v of values) await c.query(`INSERT INTO buys VALUES ${v}`)
      // Every buy was inserted and read before INSERT returned; wait until the trigger decided them all.
      const stats = await eventually(
        async () => (await c.query("SELECT fires, delivered, suppressed_cap FROM sluice_triggers WHERE name = 'vip'")).rows[0],
        (r) => Number(r.delivered) + Number(r.suppressed_cap) >= 4,
      )
      await eventually(async () => heard.length, (n) => n >= 2)
      expect(heard.sort()).toEqual(['1:110', '3:500'])
      // Player 1's later change (170) and player 3's (501) matched WHEN again and were capped.
      expect(stats).toMatchObject({ delivered: '2', suppressed_cap: '2' })
    } finally {
      await listener.end()
      await c.end()
    }
  })

  test('a view that fails stops the views reading it, which say why; the others run on', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    try {
      await c.query(STREAM)
      await c.query('CREATE MATERIALIZED VIEW ratios AS SELECT player_id, 100 / score AS ratio, ts FROM plays')
      await c.query('CREATE MATERIALIZED VIEW ratio_sum AS SELECT player_id, sum(ratio) AS total FROM ratios GROUP BY player_id')
      await c.query('CREATE MATERIALIZED VIEW plays_per_game AS SELECT game, count(*) AS n FROM plays GROUP BY game')
      await c.query(`INSERT INTO plays VALUES (1, 'go', 50, '${new Date(T0).toISOString()}'), (2, 'go', 0, '${new Date(T0 + 1000).toISOString()}')`)
      const status = await eventually(
        async () => (await c.query("SELECT name, status, last_error FROM sluice_queries WHERE name IN ('ratios', 'ratio_sum') ORDER BY name")).rows,
        (rows) => rows.every((r) => r.status === 'failed'),
      )
      expect(status[0]).toMatchObject({ name: 'ratio_sum', last_error: expect.stringContaining('materialized view "ratios", which it reads, failed: division by zero') })
      expect(status[1]).toMatchObject({ name: 'ratios', last_error: expect.stringContaining('22012') })
      expect(status[0].last_error).toMatch(/^22012: /)
      await c.query(`INSERT INTO plays VALUES (3, 'chess', 7, '${new Date(T0 + 2000).toISOString()}')`)
      const per = await c.query('SELECT game, n FROM plays_per_game ORDER BY game')
      expect(per.rows).toEqual([{ game: 'chess', n: '1' }, { game: 'go', n: '2' }])
    } finally {
      await c.end()
    }
  })

  test('what cannot follow a view whose rows change is refused with 0A000, a position and a hint', async () => {
    sluice = await startSluice({ checkpointMs: 100 })
    const c = await sluice.client()
    try {
      await c.query(STREAM)
      await c.query('CREATE MATERIALIZED VIEW totals AS SELECT game, count(*) AS n FROM plays GROUP BY game')
      await c.query(`CREATE MATERIALIZED VIEW growing AS SELECT game, count(*) AS n, window_start AS ws, window_end AS we
        FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY game, window_start, window_end`)
      const refused = async (sql: string) => c.query(sql).then(() => null, (e: { code: string; position: string; hint: string; message: string }) => e)
      const last = 'CREATE MATERIALIZED VIEW m AS SELECT last_value(n) FROM totals'
      const e1 = await refused(last)
      expect(e1).toMatchObject({ code: '0A000', position: String(last.indexOf('totals') + 1) })
      expect(e1!.message).toContain('last_value cannot follow it')
      expect(e1!.hint).toContain('count, sum, avg, min or max')
      const e2 = await refused('CREATE MATERIALIZED VIEW p AS SELECT game FROM totals WHERE n > 3')
      expect(e2).toMatchObject({ code: '0A000' })
      expect(e2!.hint).toContain('Query "totals" with WHERE')
      const e3 = await refused("CREATE MATERIALIZED VIEW w AS SELECT count(*) FROM TUMBLE(growing, ws, INTERVAL '5 minutes') GROUP BY window_start")
      expect(e3).toMatchObject({ code: '0A000' })
      expect(e3!.hint).toContain('EMIT ON WINDOW CLOSE')
      const e4 = await refused("CREATE TRIGGER t AFTER INSERT ON growing AS g JOIN totals t USING (game) FOR EACH ROW EXECUTE NOTIFY x")
      expect(e4).toMatchObject({ code: '0A000' })
      // count, sum, avg, min and max over it are fine.
      await c.query('CREATE MATERIALIZED VIEW games_total AS SELECT count(*) AS games, sum(n) AS plays, min(n), max(n) FROM totals')
    } finally {
      await c.end()
    }
  })
})
