/**
 * Kafka sinks in cluster mode against the real broker and two real nodes (docs/cluster.md,
 * "Sinks"): a sink over the stream, one over the per-player view and one over the per-minute view (two-phase
 * aggregation: merged per window in the tasks) run in the six task engines, one over a per-minute view with
 * a distinct count (global) in the global task, each task's part under a transactional id of its own.
 * Sinks from the stream and the per-player view into the real PostgreSQL, and from the stream into the real
 * MariaDB, run in the task engines too, every task writing the same table under a progress row of its own.
 * The node that owns task 0 (and so the global task) is killed with -9 while events are produced and then
 * started again; the sinks' topics, read with read_committed (kcat), hold every event exactly once and, per
 * key of each view, a strictly rising count ending at the count the events give (a batch written twice
 * would repeat or go back); the tables hold every event once and every player's count.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import mysql from 'mysql2/promise'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually } from './helpers/sluice-process.ts'
import { COLUMNS, GLOBAL_VIEW, LATENESS, VIEWS, json, ownerOfTasks, plays, type Play } from './helpers/cluster-plays.ts'
import { restoreLines } from './helpers/cluster-runs.ts'

const PART = 2000
/** The real PostgreSQL and MariaDB of the machine, a database of this run's own in each. */
const DB = `sluice_cluster_sinks_${process.pid}_${Date.now() % 100000}`
const PG_URL = `postgresql://postgres@127.0.0.1:5432/${DB}`
const MY_URL = `mysql://root@127.0.0.1:3306/${DB}`

describe('Kafka sinks in cluster mode', () => {
  let cluster: TestCluster
  let topic: (name: string) => string
  let pgAdmin: pg.Client
  let my: mysql.Connection

  beforeAll(async () => {
    pgAdmin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await pgAdmin.connect()
    await pgAdmin.query(`CREATE DATABASE ${DB}`)
    my = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', supportBigNumbers: true, bigNumberStrings: true })
    await my.query(`CREATE DATABASE ${DB}`)
    cluster = await startCluster({ nodes: 2, kafka: await sharedKafka() })
    topic = (name) => `${cluster.name}_${name}`
    const n0 = cluster.nodes[0]!
    n0.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic('plays')}', ${LATENESS})`)
    n0.psql(VIEWS[0]!) // per_player: partitioned (grouped by the stream's key)
    n0.psql(VIEWS[1]!) // per_minute: repartitioned (two-phase: no key but the window)
    n0.psql(GLOBAL_VIEW) // minute_players: global (a distinct count does not combine from partials)
    for (const t of ['events', 'players', 'minutes', 'global']) await cluster.kafka.createTopic(topic(t), 3)
    await eventually(async () => ownerOfTasks(n0), (owners) => owners.size === 6 && new Set(owners.values()).size === 2, 90_000)
  }, 150_000)

  afterAll(async () => {
    logEndedNodes(cluster)
    await cluster?.stop()
    await pgAdmin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)
    await pgAdmin?.end()
    await my?.query(`DROP DATABASE IF EXISTS ${DB}`)
    await my?.end()
  }, 60_000)

  test('each task writes its rows exactly once for read_committed readers, across a kill -9 of a node', async () => {
    const [n0, n1] = cluster.nodes
    // Taken on either node; every node's tasks apply them from the command topic.
    n1!.psql(`CREATE SINK events_out FROM plays INTO KAFKA TOPIC '${topic('events')}'`)
    n0!.psql(`CREATE SINK players_out FROM per_player INTO KAFKA TOPIC '${topic('players')}'`)
    n1!.psql(`CREATE SINK minutes_out FROM per_minute INTO KAFKA TOPIC '${topic('minutes')}'`)
    n0!.psql(`CREATE SINK global_out FROM minute_players INTO KAFKA TOPIC '${topic('global')}'`)
    // Into PostgreSQL and MySQL: every task's part in one table, each under a progress row of its own.
    n1!.psql(`CREATE SINK events_pg FROM plays INTO POSTGRES TABLE 'events' WITH (connection = '${PG_URL}')`)
    n0!.psql(`CREATE SINK players_pg FROM per_player INTO POSTGRES TABLE 'players' WITH (connection = '${PG_URL}')`)
    n1!.psql(`CREATE SINK events_my FROM plays INTO MYSQL TABLE 'events' WITH (connection = '${MY_URL}')`)
    // A sink's topic must exist; other targets are refused in cluster mode, with the reason.
    expect(n0!.psql(`CREATE SINK nowhere FROM plays INTO KAFKA TOPIC '${topic('missing')}'`, { allowError: true }).stderr).toMatch(/Kafka topic ".*_missing" does not exist/)
    expect(n0!.psql("CREATE SINK f FROM plays INTO FILES 'out'", { allowError: true }).stderr).toMatch(/CREATE SINK INTO FILES is not supported in cluster mode: each node writes under its own files directory/)
    for (const node of [n0!, n1!]) await eventually(async () => node.psql('SELECT name FROM sluice_sinks ORDER BY name', { args: ['-tA'] }).stdout.trim(), (o) => o === 'events_my\nevents_out\nevents_pg\nglobal_out\nminutes_out\nplayers_out\nplayers_pg', 30_000)

    const produce = (from: number) => cluster.kafka.produce(topic('plays'), plays(from, PART).map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    await produce(0)
    // Some of the first part written by the sinks before the kill.
    await eventually(async () => cluster.kafka.consume(topic('events')).length, (n) => n > 0, 60_000)

    // The owner of task 0 runs the global task too: both kinds of sink move.
    const ids = [n0!, n1!].map((n) => n.psql('SELECT node FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim())
    const owners = await eventually(async () => ownerOfTasks(n0!), (o) => o.size === 6 && new Set(o.values()).size === 2, 60_000)
    const victim = ids.indexOf(owners.get(0)!)
    expect(victim).toBeGreaterThanOrEqual(0)
    const survivor = cluster.nodes[1 - victim]!
    const movedTasks = [...owners].filter(([, o]) => o === ids[victim]).map(([t]) => t)
    const logBefore = survivor.output().length
    const killing = cluster.kill(victim)
    await produce(PART)
    await killing
    // Its tasks move to the survivor, which restores them (their sinks' outboxes and positions with them).
    await eventually(async () => ownerOfTasks(survivor), (o) => o.size === 6 && new Set(o.values()).size === 1, 90_000)
    // From their changelogs, resuming past offset 0: the sinks' positions came with them, not a re-read.
    const restored = await eventually(
      async () => restoreLines(survivor.output().slice(logBefore)).filter((r) => movedTasks.includes(r.task) || r.task === -1),
      (rs) => [...movedTasks, -1].every((t) => rs.some((r) => r.task === t)),
      60_000,
    )
    for (const r of restored) if (r.task >= 0) expect(r.resumeAt, r.line).toBeGreaterThan(0)
    const restarting = cluster.restart(victim)
    await produce(2 * PART)
    await restarting

    // What the events give.
    const events = plays(0, 3 * PART)
    const perPlayer = new Map<string, number>()
    const perMinute = new Map<number, number>()
    for (const e of events) {
      perPlayer.set(e.player, (perPlayer.get(e.player) ?? 0) + 1)
      const minute = Math.floor(e.ts / 60_000) * 60_000
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1)
    }
    const eventLine = (e: Play) => `${e.player}|${e.score}|${e.kind}|${e.ts}`
    const sunk = () => cluster.kafka.consume(topic('events')).map((r) => JSON.parse(r.value!) as { player: string; score: number; kind: string; ts: string })
    await eventually(async () => sunk().length, (n) => n >= events.length, 180_000)
    // Every event once: the same multiset of events, nothing more.
    expect(
      sunk()
        .map((o) => `${o.player}|${o.score}|${o.kind}|${Date.parse(o.ts)}`)
        .sort(),
    ).toEqual(events.map(eventLine).sort())
    // sluice_sinks on either node: the counters of the six tasks' parts, summed (the records each wrote once).
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT status, records_out, batches_pending FROM sluice_sinks WHERE name = 'events_out'", { args: ['-tA'] }).stdout.trim(), (o) => o === `running|${events.length}|0`, 60_000)
    }

    /** Per key, the counts the view sink wrote, in the order of the topic (a key's records are in one partition). */
    const counts = (name: string, keyOf: (o: Record<string, unknown>) => string) => {
      const out = new Map<string, number[]>()
      for (const r of cluster.kafka.consume(topic(name))) {
        const o = JSON.parse(r.value!) as Record<string, unknown>
        const k = keyOf(o)
        out.set(k, [...(out.get(k) ?? []), Number(o.n)])
      }
      return out
    }
    const finals = (m: Map<string, number[]>) => new Map([...m].map(([k, ns]) => [k, ns[ns.length - 1]!]))
    const wantPlayers = new Map([...perPlayer].map(([p, n]) => [p, n]))
    const wantMinutes = new Map([...perMinute].map(([m, n]) => [String(m), n]))
    const players = await eventually(async () => counts('players', (o) => String(o.player)), (m) => JSON.stringify([...finals(m)].sort()) === JSON.stringify([...wantPlayers].sort()), 120_000)
    const minutes = await eventually(async () => counts('minutes', (o) => String(Date.parse(String(o.window_start)))), (m) => JSON.stringify([...finals(m)].sort()) === JSON.stringify([...wantMinutes].sort()), 120_000)
    const global = await eventually(async () => counts('global', (o) => String(Date.parse(String(o.window_start)))), (m) => JSON.stringify([...finals(m)].sort()) === JSON.stringify([...wantMinutes].sort()), 120_000)
    // Each group's count only rises from batch to batch: a batch written twice would repeat a count, or go back.
    for (const [what, m] of [
      ['players', players],
      ['minutes', minutes],
      ['global', global],
    ] as const) {
      for (const [k, ns] of m) expect(ns.every((n, i) => i === 0 || n > ns[i - 1]!), `${what} ${k}: ${ns.join(',')}`).toBe(true)
    }

    // The tables: every event once (the tasks' appends, across the kill), and every player's final count.
    const target = new pg.Client({ connectionString: PG_URL })
    await target.connect()
    try {
      const inPg = async () => (await target.query<{ player: string; score: number; kind: string; ts: Date }>('SELECT player, score, kind, ts FROM events')).rows.map((r) => `${r.player}|${r.score}|${r.kind}|${r.ts.getTime()}`).sort()
      await eventually(async () => (await inPg()).length, (n) => n >= events.length, 120_000)
      expect(await inPg()).toEqual(events.map(eventLine).sort())
      const pgPlayers = async () => new Map((await target.query<{ player: string; n: string }>('SELECT player, n FROM players')).rows.map((r) => [r.player, Number(r.n)]))
      await eventually(async () => JSON.stringify([...(await pgPlayers())].sort()), (o) => o === JSON.stringify([...wantPlayers].sort()), 120_000)
      // One progress row per task's part of each sink (and one per node that checked the table at CREATE).
      const progress = (await target.query<{ sink: string }>('SELECT sink FROM sluice_sink_progress')).rows.map((r) => r.sink)
      expect(progress.filter((t) => t.startsWith(`${cluster.name}-events_pg-`)).length).toBe(6)
    } finally {
      await target.end()
    }
    await my.query("SET time_zone = '+00:00'")
    const inMy = async () => ((await my.query<mysql.RowDataPacket[]>(`SELECT player, score, kind, DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%fZ') AS ts FROM ${DB}.events`))[0]).map((r) => `${r.player}|${r.score}|${r.kind}|${Date.parse(String(r.ts))}`).sort()
    await eventually(async () => (await inMy()).length, (n) => n >= events.length, 120_000)
    expect(await inMy()).toEqual(events.map(eventLine).sort())
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT records_out, batches_pending FROM sluice_sinks WHERE name = 'events_pg'", { args: ['-tA'] }).stdout.trim(), (o) => o === `${events.length}|0`, 60_000)
    }

    console.log(`sink records: events ${events.length}, players ${[...players.values()].reduce((a, ns) => a + ns.length, 0)}, minutes ${[...minutes.values()].reduce((a, ns) => a + ns.length, 0)}`)

  }, 420_000)
})
