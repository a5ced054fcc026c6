/**
 * Campaign rules as CREATE TRIGGER, with a real LISTEN session: the origin campaign (an offer when a
 * non-paying player below level 100 loses a third fight), its cooldown, a holdout group, and a trigger
 * that survives a restart and is dropped at runtime.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const QUERIES = resolve(import.meta.dirname, '..', 'queries')
const file = (name: string) => readFileSync(resolve(QUERIES, name), 'utf8')

const OFFER = `CREATE TRIGGER third_loss_offer
AFTER INSERT ON game_events
JOIN player_profile p USING (player_id)
FOR EACH ROW
WHEN (NEW.type = 'fight' AND NEW.result = 'loss' AND NOT p.payer AND p.current_level < 100 AND p.fights_lost >= 3)
EXECUTE NOTIFY crm_offers, json_build_object('player_id', NEW.player_id, 'losses', p.fights_lost)::text
WITH (cooldown = INTERVAL '1 day')`

const ev = (player: number, type: string, at: string, extra: { result?: string; level?: number; amount?: number } = {}) =>
  `(${player}, 'chess', '${type}', ${extra.result ? `'${extra.result}'` : 'NULL'}, ${extra.level ?? 'NULL'}, ${extra.amount ?? 'NULL'}, '${at}')`

/**
 * Every notification the events inserted so far can give has arrived: a view of the stream has taken them
 * all in (triggers consume each batch in the same pass), and a NOTIFY sent after that on the channel has
 * come back, behind anything sent before it.
 */
async function drained(sluice: SluiceProcess, channel: string, seen: () => readonly string[]): Promise<void> {
  sluice.psql('SELECT count(*) FROM player_profile')
  sluice.psql(`NOTIFY ${channel}, '${SENTINEL}'`)
  await eventually(async () => seen().some((s) => s.endsWith(SENTINEL)), Boolean)
}

const SENTINEL = 'sentinel: nothing before this is still on its way'
const real = (xs: readonly string[]) => xs.filter((x) => !x.endsWith(SENTINEL))

describe('CREATE TRIGGER', () => {
  let sluice: SluiceProcess
  let dataDir: string
  beforeAll(async () => {
    dataDir = await tempDataDir()
    sluice = await startSluice({ dataDir })
    sluice.psql(file('game_ends_per_minute.sql'))
    sluice.psql(file('player_profile.sql'))
  })
  afterAll(async () => {
    await sluice?.stop()
    await removeDir(dataDir)
  })

  test('the origin campaign: the offer comes exactly at the third loss of non-payers below level 100, and the cooldown holds', async () => {
    const listener = await sluice.client()
    const admin = await sluice.client()
    try {
      const offers: string[] = []
      listener.on('notification', (n) => offers.push(n.payload ?? ''))
      await listener.query('LISTEN crm_offers')
      await admin.query(OFFER)
      const insert = (rows: string[]) => admin.query(`INSERT INTO game_events (player_id, game, type, result, level, amount, ts) VALUES ${rows.join(', ')}`)
      // Player 1: level 50, no purchase. Player 2 pays. Player 3 is at level 120. Player 4: all in one batch.
      await insert([ev(1, 'game_start', '2026-11-23 10:00:00+00', { level: 50 }), ev(2, 'game_start', '2026-11-23 10:00:00+00', { level: 50 }), ev(3, 'game_start', '2026-11-23 10:00:00+00', { level: 120 })])
      await insert([ev(2, 'transaction', '2026-11-23 10:01:00+00', { amount: 4.99 })])
      for (const minute of [10, 11]) await insert([1, 2, 3].map((p) => ev(p, 'fight', `2026-11-23 10:${minute}:00+00`, { result: 'loss' })))
      await insert([ev(1, 'fight', '2026-11-23 10:12:00+00', { result: 'win' })])
      expect(offers).toEqual([])
      await insert([1, 2, 3].map((p) => ev(p, 'fight', '2026-11-23 10:13:00+00', { result: 'loss' })))
      await eventually(async () => offers.length, (n) => n === 1)
      expect(JSON.parse(offers[0]!)).toEqual({ player_id: 1, losses: 3 })
      // Within a day of the offer: suppressed. Two days later: the next loss brings a new offer.
      await insert([ev(1, 'fight', '2026-11-23 18:00:00+00', { result: 'loss' })])
      await insert([
        ev(4, 'game_start', '2026-11-23 19:00:00+00', { level: 7 }),
        ev(4, 'fight', '2026-11-23 19:01:00+00', { result: 'loss' }),
        ev(4, 'fight', '2026-11-23 19:02:00+00', { result: 'loss' }),
        ev(4, 'fight', '2026-11-23 19:03:00+00', { result: 'loss' }),
        ev(4, 'transaction', '2026-11-23 19:04:00+00', { amount: 1 }),
        ev(4, 'fight', '2026-11-25 19:05:00+00', { result: 'loss' }),
      ])
      await insert([ev(1, 'fight', '2026-11-25 18:00:01+00', { result: 'loss' })])
      await eventually(async () => offers.length, (n) => n === 3, 5000).catch(() => undefined)
      expect(offers.map((o) => JSON.parse(o) as { player_id: number; losses: number })).toEqual([
        { player_id: 1, losses: 3 },
        { player_id: 4, losses: 3 },
        { player_id: 1, losses: 5 },
      ])
      const stats = await admin.query("SELECT fires, delivered, suppressed_cooldown, held_out FROM sluice_triggers WHERE name = 'third_loss_offer'")
      expect(stats.rows[0]).toEqual({ fires: '4', delivered: '3', suppressed_cooldown: '1', held_out: '0' })
      const audit = await admin.query("SELECT key, outcome FROM sluice_trigger_audit WHERE trigger = 'third_loss_offer' ORDER BY event_time")
      expect(audit.rows.map((r) => `${r.key}:${r.outcome}`)).toEqual(['1:delivered', '1:suppressed_cooldown', '4:delivered', '1:delivered'])
    } finally {
      await admin.query('DROP TRIGGER IF EXISTS third_loss_offer')
      await Promise.all([listener.end(), admin.end()])
    }
  })

  test('a trigger keeps reading the profile as of each event after a view joining the same profile is dropped', async () => {
    const listener = await sluice.client()
    try {
      const got: string[] = []
      listener.on('notification', (n) => got.push(n.payload ?? ''))
      await listener.query('LISTEN first_buy')
      sluice.psql(`CREATE MATERIALIZED VIEW buyers AS SELECT e.player_id, p.payer FROM game_events e JOIN player_profile p USING (player_id)`)
      sluice.psql(`CREATE TRIGGER first_buy AFTER INSERT ON game_events JOIN player_profile p USING (player_id) FOR EACH ROW
        WHEN (NEW.type = 'login' AND NOT p.payer AND NEW.player_id = 600) EXECUTE NOTIFY first_buy, NEW.ts::text`)
      sluice.psql('DROP MATERIALIZED VIEW buyers')
      // One batch: a login before the first purchase, one after. Only the first sees a non-payer.
      sluice.psql(`INSERT INTO game_events (player_id, type, amount, ts) VALUES (600, 'login', NULL, '2026-12-01 10:00:00+00'),
        (600, 'transaction', 3, '2026-12-01 10:01:00+00'), (600, 'login', NULL, '2026-12-01 10:02:00+00')`)
      await drained(sluice, 'first_buy', () => got)
      expect(real(got)).toEqual(['2026-12-01 10:00:00+00'])
      sluice.psql('DROP TRIGGER first_buy')
    } finally {
      await listener.end()
    }
  })

  test('holdout 0.1 over 10,000 matching players: about a tenth held out, the rest delivered, by player', async () => {
    const listener = await sluice.client()
    const admin = await sluice.client()
    try {
      let received = 0
      listener.on('notification', () => received++)
      await listener.query('LISTEN welcome')
      await admin.query(`CREATE TRIGGER welcome_offer AFTER INSERT ON game_events FOR EACH ROW
        WHEN (NEW.type = 'login' AND NEW.player_id >= 100000) EXECUTE NOTIFY welcome, NEW.player_id::text WITH (holdout = 0.1, max_fires = 1)`)
      const rows: string[] = []
      for (let p = 100_000; p < 110_000; p++) rows.push(ev(p, 'login', '2026-11-26 10:00:00+00'), ev(p, 'login', '2026-11-26 10:05:00+00'))
      for (let i = 0; i < rows.length; i += 2000) await admin.query(`INSERT INTO game_events (player_id, game, type, result, level, amount, ts) VALUES ${rows.slice(i, i + 2000).join(', ')}`)
      const stats = await eventually(
        async () => (await admin.query("SELECT fires, delivered, held_out, suppressed_cap FROM sluice_triggers WHERE name = 'welcome_offer'")).rows[0],
        (r) => Number(r.fires) === 20_000,
        30_000,
      )
      const heldOut = Number(stats.held_out)
      const delivered = Number(stats.delivered)
      expect(heldOut + delivered).toBe(10_000)
      expect(Number(stats.suppressed_cap)).toBe(10_000)
      expect(heldOut / 10_000).toBeGreaterThanOrEqual(0.08)
      expect(heldOut / 10_000).toBeLessThanOrEqual(0.12)
      await eventually(async () => received, (n) => n === delivered, 10_000)
    } finally {
      await admin.query('DROP TRIGGER welcome_offer')
      await Promise.all([listener.end(), admin.end()])
    }
  })

  test('created and dropped while 100k events flow: it fires for exactly the events between the two', async () => {
    const admin = await sluice.client()
    try {
      let received = 0
      const seen: string[] = []
      admin.on('notification', (n) => (n.payload === SENTINEL ? seen.push(SENTINEL) : received++))
      await admin.query('LISTEN tick_channel')
      const batch = (from: number) =>
        `INSERT INTO game_events (player_id, type, level, ts) VALUES ${Array.from({ length: 2000 }, (_, i) => `(${200_000 + ((from + i) % 997)}, 'tick', ${(from + i) % 10}, '2026-11-29 10:00:00+00')`).join(', ')}`
      // 100,000 events: the trigger exists for the middle 40,000; a tenth of those match (level 3).
      for (let n = 0; n < 30_000; n += 2000) await admin.query(batch(n))
      await admin.query(`CREATE TRIGGER tick_3 AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'tick' AND NEW.level = 3) EXECUTE NOTIFY tick_channel`)
      for (let n = 30_000; n < 70_000; n += 2000) await admin.query(batch(n))
      await eventually(async () => Number((await admin.query("SELECT fires FROM sluice_triggers WHERE name = 'tick_3'")).rows[0].fires), (n) => n === 4000, 30_000)
      await admin.query('DROP TRIGGER tick_3')
      for (let n = 70_000; n < 100_000; n += 2000) await admin.query(batch(n))
      await drained(sluice, 'tick_channel', () => seen)
      expect(received).toBe(4000)
    } finally {
      await admin.end()
    }
  }, 120_000)

  test('ALTER TRIGGER: DISABLE, ENABLE and SET (...) apply from the next event and survive a restart', async () => {
    const counters = () => sluice.psql("SELECT delivered, inactive, suppressed_cap FROM sluice_triggers WHERE name = 'vip_login'", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
    const login = (player: number, at: string) => sluice.psql(`INSERT INTO game_events (player_id, type, ts) VALUES (${player}, 'login', '${at}')`)
    sluice.psql(`CREATE TRIGGER vip_login AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'login' AND NEW.player_id BETWEEN 300 AND 399) EXECUTE NOTIFY vip_logins`)
    login(300, '2026-11-30 10:00:00+00')
    await eventually(async () => counters(), (c) => c === '1,0,0')
    sluice.psql('ALTER TRIGGER vip_login DISABLE')
    login(301, '2026-11-30 10:01:00+00')
    await eventually(async () => counters(), (c) => c === '1,1,0')
    sluice.psql('ALTER TRIGGER vip_login ENABLE')
    sluice.psql('ALTER TRIGGER vip_login SET (max_fires = 1)')
    login(300, '2026-11-30 10:02:00+00') // 300 already had its firing: capped now
    login(302, '2026-11-30 10:03:00+00')
    await eventually(async () => counters(), (c) => c === '2,1,1')
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    login(302, '2026-11-30 10:04:00+00') // still capped after the restart
    login(303, '2026-11-30 10:05:00+00')
    await eventually(async () => counters(), (c) => c === '3,1,2')
    const bad = sluice.psql('ALTER TRIGGER vip_login SET (holdout = 2)', { allowError: true })
    expect(bad.stderr).toContain('holdout is a fraction')
    sluice.psql('DROP TRIGGER vip_login')
  })

  test('options added by ALTER count the firings before them (kept only in the audit until then), also after a restart', async () => {
    const counters = () => sluice.psql("SELECT fires, delivered, suppressed_cap, suppressed_cooldown FROM sluice_triggers WHERE name = 'burst'", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
    const burst = (rows: [number, string][]) => sluice.psql(`INSERT INTO game_events (player_id, type, ts) VALUES ${rows.map(([p, at]) => `(${p}, 'burst', '2026-12-03 ${at}+00')`).join(', ')}`)
    sluice.psql(`CREATE TRIGGER burst AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'burst') EXECUTE NOTIFY bursts, NEW.player_id::text`)
    // One batch: player 1000 fires three times, 1001 once, 1002 twice; no option reads per-key state yet.
    burst([[1000, '10:00:00'], [1001, '10:00:00'], [1000, '10:01:00'], [1002, '10:01:00'], [1000, '10:02:00'], [1002, '10:02:00']])
    await eventually(async () => counters(), (c) => c === '6,6,0,0')
    sluice.psql('ALTER TRIGGER burst SET (max_fires = 2)')
    // 1000 and 1002 fired twice already: capped. 1001 fired once, 1003 never.
    burst([[1000, '10:03:00'], [1001, '10:03:00'], [1002, '10:03:00'], [1003, '10:03:00']])
    await eventually(async () => counters(), (c) => c === '10,8,2,0')
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    sluice.psql("ALTER TRIGGER burst SET (cooldown = INTERVAL '1 hour')")
    // 1003 fired at 10:03: 10:30 is within its cooldown, 11:04 is not. 1001 is past its cooldown, and capped.
    burst([[1003, '10:30:00'], [1003, '11:04:00'], [1004, '10:05:00'], [1001, '12:00:00']])
    await eventually(async () => counters(), (c) => c === '14,10,3,1')
    const audit = sluice.psql("SELECT event_time, key, outcome FROM sluice_trigger_audit WHERE trigger = 'burst' ORDER BY event_time, key", { args: ['-A', '-t', '-F', ' '] }).stdout.trim()
    // '2026-12-03 10:00:00+00 1000 delivered' -> '10:00 1000 delivered'
    expect(audit.split('\n').map((l) => l.replace(/^\S+ (\d\d:\d\d):\d\d\+00/, '$1'))).toEqual([
      '10:00 1000 delivered',
      '10:00 1001 delivered',
      '10:01 1000 delivered',
      '10:01 1002 delivered',
      '10:02 1000 delivered',
      '10:02 1002 delivered',
      '10:03 1000 suppressed_cap',
      '10:03 1001 delivered',
      '10:03 1002 suppressed_cap',
      '10:03 1003 delivered',
      '10:05 1004 delivered',
      '10:30 1003 suppressed_cooldown',
      '11:04 1003 delivered',
      '12:00 1001 suppressed_cap',
    ])
    sluice.psql('DROP TRIGGER burst')
  })

  test('across a kill -9, every event is decided exactly once: counters, per-key caps and the audit agree', async () => {
    const dir = await tempDataDir()
    let s = await startSluice({ dataDir: dir, checkpointMs: 50 })
    try {
      s.psql(`CREATE STREAM clicks (player_id INT NOT NULL, seq INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 4)`)
      s.psql(`CREATE TRIGGER even_click AFTER INSERT ON clicks FOR EACH ROW WHEN (NEW.seq % 2 = 0) EXECUTE NOTIFY clicks, NEW.seq::text WITH (max_fires = 20)`)
      // 20 players with 60 clicks each, 30 of them even: per player the first 20 go out and 10 are capped.
      const insert = (from: number) => s.psql(`INSERT INTO clicks VALUES ${Array.from({ length: 100 }, (_, i) => `(${((from + i) >> 1) % 20}, ${from + i}, '2026-12-03 10:00:00+00')`).join(', ')}`)
      for (let n = 0; n < 600; n += 100) insert(n)
      // Killed right after an insert: what was decided since the last checkpoint is decided again.
      await s.kill('SIGKILL')
      s = await startSluice({ dataDir: dir, checkpointMs: 50 })
      for (let n = 600; n < 1200; n += 100) insert(n)
      const stats = () => s.psql("SELECT fires, delivered, suppressed_cap FROM sluice_triggers WHERE name = 'even_click'", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
      await eventually(async () => stats(), (c) => c === '600,400,200', 20_000)
      const audit = s.psql("SELECT key, payload, outcome FROM sluice_trigger_audit WHERE trigger = 'even_click'", { args: ['-A', '-t', '-F', ','] }).stdout.trim().split('\n')
      expect(audit).toHaveLength(600)
      expect(new Set(audit.map((a) => a.split(',')[1])).size).toBe(600)
      const byPlayer = new Map<string, { seq: number; outcome: string }[]>()
      for (const line of audit) {
        const [key, seq, outcome] = line.split(',')
        byPlayer.set(key!, [...(byPlayer.get(key!) ?? []), { seq: Number(seq), outcome: outcome! }])
      }
      expect(byPlayer.size).toBe(20)
      for (const firings of byPlayer.values()) {
        firings.sort((a, b) => a.seq - b.seq)
        expect(firings.map((f) => f.outcome)).toEqual([...Array<string>(20).fill('delivered'), ...Array<string>(10).fill('suppressed_cap')])
      }
    } finally {
      await s.stop()
      await removeDir(dir)
    }
  }, 60_000)

  test("triggers on one stream share its per-key state table, each keeping its own cooldown and cap; a dropped one's state is not inherited, across kill -9", async () => {
    const dir = await tempDataDir()
    let s = await startSluice({ dataDir: dir, checkpointMs: 50 })
    const trigger = (name: string, option: string) => `CREATE TRIGGER ${name} AFTER INSERT ON visits FOR EACH ROW WHEN (NEW.player_id > 0) EXECUTE NOTIFY ${name}, NEW.player_id::text WITH (${option})`
    const stats = () => s.psql("SELECT name, delivered, suppressed_cooldown, suppressed_cap FROM sluice_triggers WHERE name IN ('short', 'long', 'capped') ORDER BY name", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
    const visits = (rows: [number, string][]) => s.psql(`INSERT INTO visits VALUES ${rows.map(([p, at]) => `(${p}, '2026-12-03 ${at}:00+00')`).join(', ')}`)
    try {
      s.psql(`CREATE STREAM visits (player_id INT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 minutes') WITH (key = 'player_id', partitions = 2)`)
      s.psql(trigger('short', "cooldown = INTERVAL '20 minutes'"))
      s.psql(trigger('long', "cooldown = INTERVAL '1 hour'"))
      s.psql(trigger('capped', 'max_fires = 2'))
      // Player 1 four times: short fires at 10:00, 10:30, 11:05; long at 10:00 and 11:05; capped twice.
      visits([[1, '10:00'], [2, '10:00'], [1, '10:15'], [1, '10:30'], [1, '11:05']])
      await eventually(async () => stats(), (c) => c === 'capped,3,0,2\nlong,3,2,0\nshort,4,1,0', 20_000)
      await s.kill('SIGKILL')
      s = await startSluice({ dataDir: dir, checkpointMs: 50 })
      expect(stats()).toBe('capped,3,0,2\nlong,3,2,0\nshort,4,1,0')
      // Dropped, then recreated with the same names after a kill -9: the catalog hands out the dropped
      // triggers' ids again (crosswise: the new capped gets the old long's id), their old parts of each
      // player's entry are still there, and must not be read.
      s.psql('DROP TRIGGER capped; DROP TRIGGER long')
      await s.kill('SIGKILL')
      s = await startSluice({ dataDir: dir, checkpointMs: 50 })
      s.psql(trigger('capped', 'max_fires = 2'))
      s.psql(trigger('long', "cooldown = INTERVAL '1 hour'"))
      visits([[1, '11:10'], [2, '11:10']])
      // short: player 1 is in its cooldown (11:05), player 2 is not; the new ones start from nothing.
      await eventually(async () => stats(), (c) => c === 'capped,2,0,0\nlong,2,0,0\nshort,5,2,0', 20_000)
      const audit = s.psql("SELECT trigger, key, outcome FROM sluice_trigger_audit WHERE trigger IN ('capped', 'long') ORDER BY trigger, key", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
      expect(audit.split('\n')).toEqual(['capped,1,delivered', 'capped,2,delivered', 'long,1,delivered', 'long,2,delivered'])
    } finally {
      await s.stop()
      await removeDir(dir)
    }
  }, 60_000)

  test('priority groups: at most one campaign of a group fires per event, the highest priority that can', async () => {
    const listener = await sluice.client()
    try {
      const got: string[] = []
      listener.on('notification', (n) => got.push(`${n.channel}:${n.payload}`))
      await listener.query('LISTEN vip_offer')
      await listener.query('LISTEN any_offer')
      sluice.psql(`CREATE TRIGGER vip_offer AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'login' AND NEW.player_id BETWEEN 700 AND 799)
        EXECUTE NOTIFY vip_offer, NEW.player_id::text WITH (priority_group = 'login_offers', priority = 10, cooldown = INTERVAL '1 day')`)
      sluice.psql(`CREATE TRIGGER any_offer AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.type = 'login' AND NEW.player_id BETWEEN 700 AND 899)
        EXECUTE NOTIFY any_offer, NEW.player_id::text WITH (priority_group = 'login_offers', priority = 1)`)
      // 701 matches both (the VIP offer wins), 801 only the second; 701 again: the VIP offer is in its
      // cooldown, so the other campaign of the group may fire.
      sluice.psql(`INSERT INTO game_events (player_id, type, ts) VALUES (701, 'login', '2026-12-02 10:00:00+00'), (801, 'login', '2026-12-02 10:00:01+00'),
        (701, 'login', '2026-12-02 11:00:00+00')`)
      await drained(sluice, 'any_offer', () => got)
      // Events of one player keep their order; between players (stream partitions) there is none.
      expect(got.filter((g) => g.endsWith(':701'))).toEqual(['vip_offer:701', 'any_offer:701'])
      expect(got.filter((g) => g.endsWith(':801'))).toEqual(['any_offer:801'])
      const stats = sluice.psql("SELECT name, delivered, suppressed_priority, suppressed_cooldown FROM sluice_triggers WHERE name IN ('vip_offer', 'any_offer') ORDER BY name", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
      expect(stats.split('\n')).toEqual(['any_offer,2,1,0', 'vip_offer,1,0,1'])
      sluice.psql('DROP TRIGGER vip_offer, any_offer')
    } finally {
      await listener.end()
    }
  })

  test('EXECUTE INSERT INTO another stream: each delivered firing is a row there, and views read it', async () => {
    sluice.psql(`CREATE STREAM offers (player_id BIGINT NOT NULL, campaign INT, level INT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id');
      CREATE MATERIALIZED VIEW offers_per_campaign AS SELECT campaign, count(*) AS n, max(level) AS top_level FROM offers GROUP BY campaign`)
    sluice.psql(`CREATE TRIGGER level_up_offer AFTER INSERT ON game_events JOIN player_profile p USING (player_id) FOR EACH ROW
      WHEN (NEW.type = 'game_start' AND p.current_level >= 10)
      EXECUTE INSERT INTO offers (player_id, campaign, level, ts) VALUES (NEW.player_id, 7, p.current_level, NEW.ts)
      WITH (max_fires = 1)`)
    sluice.psql(`INSERT INTO game_events (player_id, type, level, ts) VALUES (501, 'game_start', 9, '2026-11-28 10:00:00+00'),
      (501, 'game_start', 10, '2026-11-28 10:01:00+00'), (501, 'game_start', 11, '2026-11-28 10:02:00+00'), (502, 'game_start', 30, '2026-11-28 10:03:00+00')`)
    const out = await eventually(async () => sluice.psql('SELECT campaign, n, top_level FROM offers_per_campaign', { args: ['-A', '-t', '-F', ','] }).stdout.trim(), (s) => s === '7,2,30')
    expect(out).toBe('7,2,30')
    const refused = sluice.psql('DROP STREAM offers', { allowError: true })
    expect(refused.stderr).toContain('trigger level_up_offer depends on')
    sluice.psql('DROP TRIGGER level_up_offer; DROP STREAM offers CASCADE')
  })

  test('a trigger survives a restart, is dropped at runtime, and its name and options are checked', async () => {
    sluice.psql(`CREATE TRIGGER big_spender AFTER INSERT ON game_events FOR EACH ROW WHEN (NEW.amount > 100) EXECUTE NOTIFY vip, NEW.player_id::text`)
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    const listener = await sluice.client()
    try {
      const got: string[] = []
      listener.on('notification', (n) => got.push(`${n.channel}:${n.payload}`))
      await listener.query('LISTEN vip')
      sluice.psql(`INSERT INTO game_events (player_id, type, amount, ts) VALUES (77, 'transaction', 500, '2026-11-27 10:00:00+00'), (78, 'transaction', 5, '2026-11-27 10:00:01+00')`)
      await eventually(async () => got.length, (n) => n === 1)
      expect(got).toEqual(['vip:77'])
      sluice.psql('DROP TRIGGER big_spender')
      sluice.psql(`INSERT INTO game_events (player_id, type, amount, ts) VALUES (79, 'transaction', 500, '2026-11-27 10:01:00+00')`)
      await drained(sluice, 'vip', () => got)
      expect(real(got)).toEqual(['vip:77'])
      const dup = sluice.psql(`CREATE TRIGGER game_ends_per_minute AFTER INSERT ON game_events FOR EACH ROW EXECUTE NOTIFY x`, { allowError: true })
      expect(dup.stderr).toContain('already names a relation')
      const badOption = sluice.psql(`CREATE TRIGGER t2 AFTER INSERT ON game_events FOR EACH ROW EXECUTE NOTIFY x WITH (cooldwn = INTERVAL '1 day')`, { allowError: true })
      expect(badOption.stderr).toContain('unrecognized trigger option "cooldwn"')
      const dropStream = sluice.psql('DROP TRIGGER nope', { allowError: true })
      expect(dropStream.stderr).toContain('trigger "nope" does not exist')
    } finally {
      await listener.end()
    }
  })
})

const ALLOW_RECEIVER = ['--webhook-allow', '127.0.0.1']

describe('CREATE TRIGGER ... EXECUTE WEBHOOK', () => {
  let sluice: SluiceProcess
  let server: Server
  let port = 0
  /** Requests as the receiver saw them: idempotency key -> attempts, and the keys it accepted. */
  const attempts = new Map<string, number>()
  const accepted: { key: string; body: { trigger: string; payload: unknown } }[] = []
  /** While set, /down behaves like the other path (fails twice, then accepts). */
  let redirectDown = false
  beforeAll(async () => {
    // Fails the first two attempts of every firing (503), then accepts; /down always fails.
    server = createServer((req, res) => {
      let data = ''
      req.on('data', (d: Buffer) => (data += d.toString()))
      req.on('end', () => {
        const key = String(req.headers['idempotency-key'])
        const n = (attempts.get(key) ?? 0) + 1
        attempts.set(key, n)
        if ((req.url === '/down' && !redirectDown) || n <= 2) {
          res.writeHead(503).end()
          return
        }
        accepted.push({ key, body: JSON.parse(data) as { trigger: string; payload: unknown } })
        res.writeHead(200).end('ok')
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    port = (server.address() as AddressInfo).port
    // The receiver is on loopback, which webhooks reach only when the server allows it.
    sluice = await startSluice({ args: ALLOW_RECEIVER })
    sluice.psql(`CREATE STREAM buys (player_id INT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id')`)
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    await new Promise((r) => server.close(r))
  })

  test('every firing reaches the receiver at least once through failures, recognisable by its idempotency key', async () => {
    sluice.psql(`CREATE TRIGGER big_buy AFTER INSERT ON buys FOR EACH ROW WHEN (NEW.amount >= 100)
      EXECUTE WEBHOOK 'http://127.0.0.1:${port}/offers', json_build_object('player', NEW.player_id, 'amount', NEW.amount)::text
      WITH (retries = 4, backoff = INTERVAL '20 milliseconds', timeout = INTERVAL '2 seconds')`)
    const values = Array.from({ length: 50 }, (_, i) => `(${i}, ${i % 2 === 0 ? 150 : 5}, '2026-11-23 10:00:${String(i).padStart(2, '0')}+00')`)
    sluice.psql(`INSERT INTO buys VALUES ${values.join(', ')}`)
    await eventually(async () => new Set(accepted.map((a) => a.key)).size, (n) => n === 25, 20_000)
    const keys = [...new Set(accepted.map((a) => a.key))]
    expect(keys.every((k) => k.startsWith('big_buy:') && attempts.get(k) === 3)).toBe(true)
    expect(accepted.map((a) => (a.body.payload as { player: number }).player).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i * 2))
    expect(accepted.every((a) => a.body.trigger === 'big_buy' && (a.body.payload as { amount: number }).amount === 150)).toBe(true)
    // Delivered once the receiver said so; each firing's two refused attempts were retried.
    const counters = await eventually(
      async () => sluice.psql("SELECT fires, delivered, pending, failed, retried FROM sluice_triggers WHERE name = 'big_buy'", { args: ['-A', '-t', '-F', ','] }).stdout.trim(),
      (c) => c === '25,25,0,0,50',
    )
    expect(counters).toBe('25,25,0,0,50')
    const outcomes = sluice.psql("SELECT outcome, count(*) FROM sluice_trigger_audit WHERE trigger = 'big_buy' GROUP BY outcome", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
    expect(outcomes).toBe('delivered,25')
  })

  test('firings not yet confirmed survive a kill -9 and are delivered after the restart', async () => {
    const dataDir = await tempDataDir()
    let crashing = await startSluice({ dataDir, checkpointMs: 50, args: ALLOW_RECEIVER })
    try {
      crashing.psql(`CREATE STREAM signups (player_id INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id')`)
      // /down refuses every attempt, slowly: nothing is confirmed before the kill.
      crashing.psql(`CREATE TRIGGER welcome AFTER INSERT ON signups FOR EACH ROW
        EXECUTE WEBHOOK 'http://127.0.0.1:${port}/down', NEW.player_id::text WITH (retries = 20, backoff = INTERVAL '1 second')`)
      crashing.psql(`INSERT INTO signups VALUES ${Array.from({ length: 10 }, (_, i) => `(${500 + i}, '2026-11-23 12:00:00+00')`).join(', ')}`)
      // All ten fired and wait in the outbox: none is counted delivered while the receiver refuses.
      const waiting = () => crashing.psql("SELECT fires, pending, delivered, failed FROM sluice_triggers WHERE name = 'welcome'", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
      await eventually(async () => waiting(), (c) => c === '10,10,0,0')
      crashing.psql('CHECKPOINT') // the outbox is durable now
      await crashing.kill('SIGKILL')
      const before = accepted.length
      // The same trigger now points at a receiver that answers after two failures (it is the catalog's SQL
      // that is replayed, so the URL is swapped by redirecting /down for this check).
      redirectDown = true
      crashing = await startSluice({ dataDir, checkpointMs: 50, args: ALLOW_RECEIVER })
      await eventually(async () => accepted.length - before, (n) => n >= 10, 30_000)
      const players = new Set(accepted.slice(before).map((a) => a.body.payload))
      expect([...players].sort()).toEqual(Array.from({ length: 10 }, (_, i) => 500 + i))
      await eventually(async () => waiting(), (c) => c === '10,0,10,0', 30_000)
    } finally {
      redirectDown = false
      await crashing.stop()
      await removeDir(dataDir)
    }
  }, 60_000)

  test('a receiver that never answers well: each firing becomes a dead letter after the last retry', async () => {
    sluice.psql(`CREATE TRIGGER to_nowhere AFTER INSERT ON buys FOR EACH ROW WHEN (NEW.amount = 7)
      EXECUTE WEBHOOK 'http://127.0.0.1:${port}/down', NEW.player_id::text WITH (retries = 2, backoff = INTERVAL '10 milliseconds')`)
    sluice.psql(`INSERT INTO buys VALUES (900, 7, '2026-11-23 11:00:00+00'), (901, 7, '2026-11-23 11:00:01+00')`)
    const out = await eventually(
      async () => sluice.psql("SELECT stream, reason FROM sluice_dead_letters WHERE stream = 'to_nowhere'", { args: ['-A', '-t'] }).stdout.trim().split('\n').filter((l) => l !== ''),
      (rows) => rows.length === 2,
      20_000,
    )
    expect(out[0]).toContain('failed after 3 attempts: HTTP 503')
    // Failed, never delivered; each firing was tried three times (two retries).
    const counters = sluice.psql("SELECT fires, delivered, pending, failed, retried FROM sluice_triggers WHERE name = 'to_nowhere'", { args: ['-A', '-t', '-F', ','] }).stdout.trim()
    expect(counters).toBe('2,0,0,2,4')
    const outcomes = sluice.psql("SELECT outcome FROM sluice_trigger_audit WHERE trigger = 'to_nowhere'", { args: ['-A', '-t'] }).stdout.trim()
    expect(outcomes).toBe('failed\nfailed')
  })
})
