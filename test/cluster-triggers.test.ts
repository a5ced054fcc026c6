/**
 * Triggers in cluster mode against the real broker and two real nodes (docs/cluster.md, "Triggers"): a
 * trigger fires in the task engine that owns each event's partition, so once per event over the cluster;
 * its NOTIFY reaches the LISTEN sessions of every node; its INSERT lands in the target stream's topic once;
 * sluice_triggers on any node shows the counters summed over the tasks. The expected firings are those of
 * a single process on the same input, worked out here the way it decides them (a trigger on a stream fires
 * per event in order; the joined per-player count is the player's count after the event).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually } from './helpers/sluice-process.ts'
import { COLUMNS, LATENESS, VIEWS, json, ownerOfTasks, plays, viewRows } from './helpers/cluster-plays.ts'

const EVENTS = 3000

describe('triggers in cluster mode', () => {
  let cluster: TestCluster
  const listeners: pg.Client[] = []
  const heard: string[][] = [[], []]
  const offered: string[][] = [[], []]

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2, kafka: await sharedKafka() })
    const [n0, n1] = cluster.nodes
    n0!.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, ${LATENESS})`)
    n0!.psql(`CREATE STREAM offers (player TEXT NOT NULL, n BIGINT) WITH (key = 'player', partitions = 6)`)
    n0!.psql(VIEWS[0]!)
    n0!.psql('CREATE MATERIALIZED VIEW offers_per_player AS SELECT player, count(*) AS offers, max(n) AS last_n FROM offers GROUP BY player')
    await eventually(async () => ownerOfTasks(n0!), (owners) => owners.size === 6 && new Set(owners.values()).size === 2, 90_000)
    // A LISTEN session on each node, before the triggers exist.
    for (const [i, node] of [n0!, n1!].entries()) {
      const c = await node.client()
      c.on('notification', (m) => (m.channel === 'big' ? heard[i]! : offered[i]!).push(m.payload ?? ''))
      await c.query('LISTEN big')
      await c.query('LISTEN offered')
      listeners.push(c)
    }
  }, 120_000)

  afterAll(async () => {
    for (const c of listeners) await c.end().catch(() => undefined)
    logEndedNodes(cluster)
    await cluster?.stop()
  }, 60_000)

  test('each qualifying event fires once over the cluster: NOTIFY heard on every node, INSERT written once', async () => {
    const [n0, n1] = cluster.nodes
    // Taken on node 1: node 0's tasks apply it from the command topic.
    n1!.psql(`CREATE TRIGGER big AFTER INSERT ON plays FOR EACH ROW WHEN (NEW.score > 90) EXECUTE NOTIFY big, NEW.player || ' ' || NEW.ts::text`)
    n1!.psql(`CREATE TRIGGER tenth_loss AFTER INSERT ON plays JOIN per_player p USING (player) FOR EACH ROW WHEN (NEW.kind = 'loss' AND p.n % 10 = 0) EXECUTE INSERT INTO offers VALUES (NEW.player, p.n)`)
    // Kafka sinks run in the tasks (cluster-sinks.test.ts); a file sink is refused, after planning, with the reason.
    const sink = n0!.psql("CREATE SINK out FROM per_player INTO FILES 'out'", { allowError: true })
    expect(sink.stderr).toMatch(/CREATE SINK INTO FILES is not supported in cluster mode: each node writes under its own files directory/)
    // On another stream than the view's: it sees the view's current row, so it runs in the global task.
    n0!.psql(`CREATE TRIGGER offer_seen AFTER INSERT ON offers LEFT JOIN per_player p USING (player) FOR EACH ROW EXECUTE NOTIFY offered, NEW.player || ' ' || NEW.n::text`)
    // sluice_triggers answers once every task runs them (a joined trigger starts where its view is in each task).
    await eventually(async () => n0!.psql("SELECT count(*) FROM sluice_triggers WHERE fires = 0", { args: ['-tA'], allowError: true }).stdout.trim(), (o) => o === '3', 30_000)

    const events = plays(0, EVENTS)
    await cluster.kafka.produce('plays', events.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })

    // What a single process fires on this input.
    const big = events.filter((e) => e.score > 90)
    const count = new Map<string, number>()
    /** Per player, the count of their events at each firing. */
    const offers = new Map<string, number[]>()
    for (const e of events) {
      const n = (count.get(e.player) ?? 0) + 1
      count.set(e.player, n)
      if (e.kind === 'loss' && n % 10 === 0) offers.set(e.player, [...(offers.get(e.player) ?? []), n])
    }
    const fired = [...offers.values()].reduce((a, ns) => a + ns.length, 0)
    expect(big.length).toBeGreaterThan(20)
    expect(fired).toBeGreaterThan(20)

    // Every node's LISTEN session hears each firing once, whichever node's task fired it.
    for (const i of [0, 1]) {
      await eventually(async () => heard[i]!.length, (n) => n >= big.length, 60_000)
      expect(heard[i]!.length).toBe(big.length)
      expect(new Set(heard[i]).size).toBe(big.length)
      expect(heard[i]!.map((p) => p.split(' ')[0]).sort()).toEqual(big.map((e) => e.player).sort())
    }
    // Both tasks' nodes fired (the players are spread over the six partitions).
    const wantOffers = [...offers].map(([player, ns]) => `${player}|${ns.length}|${ns[ns.length - 1]}`).sort().join('\n')
    for (const node of [n0!, n1!]) await eventually(async () => viewRows(node, 'offers_per_player'), (rows) => rows === wantOffers, 60_000)
    // The global task's trigger: once per inserted row, heard on both nodes.
    const wantOffered = [...offers].flatMap(([player, ns]) => ns.map((n) => `${player} ${n}`)).sort()
    for (const i of [0, 1]) {
      await eventually(async () => offered[i]!.length, (n) => n >= fired, 60_000)
      expect(offered[i]!.slice().sort()).toEqual(wantOffered)
    }
    // sluice_triggers on either node: the counters of all six tasks (or the global task), summed;
    // sluice_trigger_audit: every task's audit.
    for (const node of [n0!, n1!]) {
      const stats = node.psql('SELECT name, fires, delivered FROM sluice_triggers ORDER BY name', { args: ['-tA'] }).stdout.trim()
      expect(stats).toBe(`big|${big.length}|${big.length}\noffer_seen|${fired}|${fired}\ntenth_loss|${fired}|${fired}`)
      expect(node.psql("SELECT count(*) FROM sluice_trigger_audit WHERE trigger = 'big' AND outcome = 'delivered'", { args: ['-tA'] }).stdout.trim()).toBe(String(big.length))
    }
    // Nothing more arrives later (a second firing would come after the first).
    await new Promise((r) => setTimeout(r, 1000))
    expect(heard.map((h) => h.length)).toEqual([big.length, big.length])

    // DROP TRIGGER on one node stops it on every task.
    n0!.psql('DROP TRIGGER big')
    await eventually(async () => n1!.psql('SELECT count(*) FROM sluice_triggers', { args: ['-tA'] }).stdout.trim(), (o) => o === '2', 30_000)
    await cluster.kafka.produce('plays', plays(EVENTS, 300).map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    await eventually(async () => viewRows(n0!, 'per_player'), (rows) => rows.split('\n').reduce((a, l) => a + Number(l.split('|')[1] ?? 0), 0) === EVENTS + 300, 60_000)
    await new Promise((r) => setTimeout(r, 500))
    expect(heard.map((h) => h.length)).toEqual([big.length, big.length])
  }, 150_000)
})
