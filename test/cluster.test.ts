/**
 * Cluster mode against a real broker and three real node processes: DDL taken on any node is applied on
 * every node (and by a node that joins later, from the command topic); streams are Kafka topics that
 * INSERT, HTTP ingest and kcat all write to; the nodes split the tasks (each computes only its partitions,
 * and the global task), and a pull query on any node gathers the whole answer, exactly, across a kill -9.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { restoreLines } from './helpers/cluster-runs.ts'
import { COLUMNS, EVENTS, LATENESS, REPARTITIONED_VIEW, SCALE, VIEWS, commandsOf, expectRows, oracleAnswer, json, ownerOfTasks, plays, sentinels, viewRows } from './helpers/cluster-plays.ts'

describe('cluster mode: DDL everywhere, streams as topics, kill -9', () => {
  let cluster: TestCluster
  /** The stream's topic, of this cluster alone on the run's shared broker. */
  let topic = ''
  /** A single-process Sluice reading the same topic: the answer every node must give. */
  let oracle: SluiceProcess | undefined
  /** The owner of each task after the cluster first settled. */
  let tasksBefore = new Map<number, string>()
  beforeAll(async () => {
    // With state changelogs (the default in cluster mode): moved tasks restore from them. The run's shared
    // broker: the cluster's own topics carry its name, and the stream's topic gets it below.
    cluster = await startCluster({ nodes: 3, kafka: await sharedKafka() })
    topic = `plays_${cluster.name}`
  }, 300_000)
  afterAll(async () => {
    logEndedNodes(cluster)
    await oracle?.kill()
    if (oracle) await removeDir(oracle.dataDir)
    await cluster?.stop()
    await cluster?.kafka.stop()
  }, 120_000)

  test('DDL on any node is planned there first, written once, and applied on every node', async () => {
    const [n0, n1, n2] = cluster.nodes
    n0!.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic}', ${LATENESS})`)
    // Taken on other nodes right after: each first applies what was written before it.
    n1!.psql(VIEWS[0]!)
    n2!.psql(VIEWS[1]!)
    n0!.psql(VIEWS[2]!)

    const commands = commandsOf(cluster.kafka.consume(`_sluice_${cluster.name}_commands`))
    expect(commands.map((r) => r.cmd!.op)).toEqual(['create_stream', 'create_view', 'create_view', 'create_view'])
    // The stream became a Kafka stream of its topic, which the node that took it created with 6 partitions
    // (without `topic` it is the stream's name: cluster/commands.test.ts).
    expect(commands[0]!.cmd!.sql).toMatch(new RegExp(`WITH \\(key = 'player', allowed_lateness = '\\d+ seconds', connector = 'kafka', topic = '${topic}'\\)$`))
    expect(n1!.psql("SELECT partitions FROM sluice_streams WHERE name = 'plays'", { args: ['-tA'] }).stdout.trim()).toBe('6')

    // A statement that does not plan fails on its node, with its SQLSTATE, and is never written.
    const bad = n2!.psql('CREATE MATERIALIZED VIEW bad AS SELECT nope FROM plays', { allowError: true })
    expect(bad.stderr).toMatch(/column "nope" does not exist/)
    const dup = n0!.psql('CREATE MATERIALIZED VIEW per_player AS SELECT player FROM plays', { allowError: true })
    expect(dup.stderr).toMatch(/already exists/)
    // A sink into a topic that does not exist fails on its node and is never written (sinks: cluster-sinks.test.ts).
    const sink = n1!.psql("CREATE SINK out FROM per_player INTO KAFKA TOPIC 'no_such_topic_for_out'", { allowError: true })
    expect(sink.stderr).toMatch(/Kafka topic "no_such_topic_for_out" does not exist/)
    expect(commandsOf(cluster.kafka.consume(`_sluice_${cluster.name}_commands`))).toHaveLength(4)

    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT count(*) FROM sluice_queries WHERE name IN ('per_player', 'per_minute', 'streaks')", { args: ['-tA'] }).stdout.trim(), (o) => o === '3', 30_000)
    }

    // Kafka's group protocol gives each of the three nodes two of the six tasks; any node shows all of it.
    const nodes = await eventually(async () => n2!.psql('SELECT node, status, tasks FROM sluice_cluster ORDER BY node', { args: ['-tA'] }).stdout.trim().split('\n'), (rows) => rows.length === 3 && rows.every((r) => /\|up\|2$/.test(r)), 60_000)
    expect(nodes).toHaveLength(3)
    // The secret and the four commands.
    expect(n2!.psql('SELECT commands_applied, lag FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim()).toBe('5|0')
    tasksBefore = await ownerOfTasks(n0!)
    expect(new Set(tasksBefore.values()).size).toBe(3)

    // NOTIFY on one node reaches LISTEN sessions on every node, its own included, once each.
    const listeners = await Promise.all([n0!.client(), n2!.client()])
    try {
      const heard: string[][] = listeners.map(() => [])
      listeners.forEach((c, i) => c.on('notification', (m) => heard[i]!.push(`${m.channel}:${m.payload}`)))
      for (const c of listeners) await c.query('LISTEN scores')
      n0!.psql("NOTIFY scores, 'one'; NOTIFY scores, 'two'")
      await eventually(async () => heard.map((h) => h.join(',')), (h) => h.every((x) => x === 'scores:one,scores:two'), 30_000)
    } finally {
      await Promise.all(listeners.map((c) => c.end()))
    }
  }, 180_000)

  test('every view on every node equals the single-process answer, across a kill -9', async () => {
    const [n0, n1, n2] = cluster.nodes
    const single = (oracle = await startSluice({ kafka: cluster.kafka.brokers }))
    single.psql(`CREATE STREAM plays (${COLUMNS}) WITH (connector = 'kafka', topic = '${topic}', key = 'player', ${LATENESS})`)
    for (const v of [...VIEWS, REPARTITIONED_VIEW]) single.psql(v)
    // Grouped by score and kind, not by the stream's key: every task runs it over a repartition topic.
    n2!.psql(REPARTITIONED_VIEW)
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT count(*) FROM sluice_queries WHERE name = 'per_score'", { args: ['-tA'] }).stdout.trim(), (o) => o === '1', 30_000)
    }

    // INSERT on one node, HTTP ingest on another: both produce to the topic every node reads.
    const inserted = plays(0, 3)
    n1!.psql(`INSERT INTO plays VALUES ${inserted.map((p) => `('${p.player}', ${p.score}, '${p.kind}', '${new Date(p.ts).toISOString()}')`).join(', ')}`)
    const res = await fetch(`http://127.0.0.1:${n2!.httpPort}/streams/plays`, { method: 'POST', body: plays(3, 50).map(json).join('\n') + '\n' })
    expect(res.status).toBe(200)
    // All or nothing: a request whose events span the partitions, one of them larger than the broker takes
    // (a megabyte), is one aborted transaction: none of its events reaches any task (nor the single process).
    const probes = Array.from({ length: 24 }, (_, i) => json({ player: `probe-${i}`, score: 1, kind: 'win', ts: plays(0, 1)[0]!.ts }))
    const huge = json({ player: 'probe-huge', score: 1, kind: 'x'.repeat(1_200_000), ts: plays(0, 1)[0]!.ts })
    const refused = await fetch(`http://127.0.0.1:${n2!.httpPort}/streams/plays`, { method: 'POST', body: [...probes, huge].join('\n') + '\n' })
    expect(refused.status, await refused.clone().text()).toBeGreaterThanOrEqual(400)
    expect(((await refused.json()) as { error: string }).error).toMatch(/25 events .* failed/)
    // An Idempotency-Key holds across nodes: the batch retried on another node is answered, not appended again
    // (the events per task below add up to the events sent once).
    const keyed = { method: 'POST', body: plays(53, 5).map(json).join('\n') + '\n', headers: { 'idempotency-key': 'cluster-batch-1' } }
    const first = await fetch(`http://127.0.0.1:${n2!.httpPort}/streams/plays`, keyed)
    expect([first.status, first.headers.get('idempotent-replayed')]).toEqual([200, null])
    const retried = await fetch(`http://127.0.0.1:${n0!.httpPort}/streams/plays`, keyed)
    expect([retried.status, retried.headers.get('idempotent-replayed'), await retried.json()]).toEqual([200, 'true', await first.json()])

    // kcat, keyed, with Kafka's Java partitioning (what Sluice uses): three parts, node 1 killed during the
    // second and started again during the third.
    const part = Math.floor(EVENTS / 3)
    const produce = (from: number) => cluster.kafka.produce(topic, plays(from, part).map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    await produce(100)
    // (A node busy with a burst can miss heartbeats and be rebalanced for a moment: wait for a settled group.)
    await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (owners) => owners.size === 6 && new Set(owners.values()).size === 3, 60_000 * SCALE)
    const killedId = n1!.psql('SELECT node FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim()
    const killedTasks = [...(await ownerOfTasks(cluster.nodes[0]!))].filter(([, owner]) => owner === killedId).map(([t]) => t)
    expect(killedTasks.length).toBeGreaterThan(0)
    const survivors = [cluster.nodes[0]!, cluster.nodes[2]!]
    const logBefore = survivors.map((node) => node.output().length)
    const killing = cluster.kill(1)
    await produce(100 + part)
    await killing
    // Its tasks move to the two others once the coordinator misses its heartbeats.
    await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (owners) => owners.size === 6 && new Set(owners.values()).size === 2, 60_000 * SCALE)
    // Stage 3: the tasks the dead node owned were restored on the others from their changelogs (records
    // replayed, the input resumed past offset 0), not rebuilt by re-reading their partitions.
    const restored = await eventually(
      async () => survivors.flatMap((node, i) => restoreLines(node.output().slice(logBefore[i]))).filter((r) => killedTasks.includes(r.task)),
      (rs) => killedTasks.every((t) => rs.some((r) => r.task === t)),
      60_000 * SCALE,
    )
    // The dead node's checkpoints had landed in its changelog before the kill (its id registered once the
    // group confirmed the task, never fenced back and forth): each of its tasks resumed past offset 0.
    for (const r of restored) {
      expect(r.records, r.line).toBeGreaterThan(0)
      if (r.task >= 0) expect(r.resumeAt, r.line).toBeGreaterThan(0)
    }
    for (const node of survivors) {
      const rows = node.psql("SELECT task, restored FROM sluice_tasks WHERE stream = 'plays' AND is_self AND restored IS NOT NULL", { args: ['-tA'] }).stdout.trim()
      for (const [task, records] of (rows === '' ? [] : rows.split('\n')).map((l) => l.split('|').map(Number))) if (killedTasks.includes(task!)) expect(records).toBeGreaterThanOrEqual(0)
    }
    console.log(`restored from changelogs after the kill -9: ${restored.map((r) => r.line).join('; ')}`)
    const restarting = cluster.restart(1)
    await produce(100 + 2 * part)
    await restarting
    const ends = sentinels(100 + 3 * part, 6)
    await cluster.kafka.produce(topic, ends.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })

    const total = 58 + 3 * part + ends.length
    const want = await oracleAnswer(single, total, ['per_player', 'per_minute', 'streaks', 'per_score'])
    for (let i = 0; i < 3; i++) {
      for (const [v, rows] of want) await expectRows(cluster.nodes[i]!, i, v, rows)
      expect(cluster.nodes[i]!.psql("SELECT count(*) FROM per_player WHERE player LIKE 'probe-%'", { args: ['-tA'] }).stdout.trim()).toBe('0')
      // A point lookup by the group key reads the one group from the tasks (as the single process does),
      // asking only the task of its key (kcat wrote with Kafka's partitioner, so 'p7' is where murmur2 says).
      const lookups = () => cluster.nodes[i]!.psql('SELECT lookups_routed, lookups_all_tasks FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim()
      const [routedBefore, allBefore] = lookups().split('|').map(Number)
      for (const player of ['p7', 'p3', 'p11']) {
        const point = `SELECT player, n, total FROM per_player WHERE player = '${player}'`
        expect(cluster.nodes[i]!.psql(point, { args: ['-tA'] }).stdout).toBe(single.psql(point, { args: ['-tA'] }).stdout)
      }
      expect(lookups()).toBe(`${routedBefore! + 3}|${allBefore}`)
    }
    // The restarted node (same node id, static membership) has its own tasks back: the assignment is sticky.
    const after = await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (owners) => new Set(owners.values()).size === 3, 60_000)
    expect([...after].sort()).toEqual([...tasksBefore].sort())
    // Its directories are older than the changelogs the others wrote meanwhile: it replayed only the rest.
    const caughtUp = await eventually(
      async () => restoreLines(cluster.nodes[1]!.output()).filter((r) => killedTasks.includes(r.task) && r.own),
      (rs) => killedTasks.every((t) => rs.some((r) => r.task === t)),
      60_000 * SCALE,
    )
    for (const r of caughtUp) expect(r.records, r.line).toBeGreaterThanOrEqual(0)

    // The work is split: each node's task engines read only the partitions it owns, and over the nodes
    // every event was taken in once (not once per node); the nodes' own engines read nothing.
    const perTask = new Map<number, number>()
    const perNode: number[] = []
    await eventually(
      async () => {
        perTask.clear()
        cluster.nodes.forEach((node, i) => {
          perNode[i] = 0
          const rows = node.psql("SELECT task, events FROM sluice_tasks WHERE stream = 'plays' AND status = 'running'", { args: ['-tA'] }).stdout.trim()
          for (const l of rows === '' ? [] : rows.split('\n')) {
            const [task, events] = l.split('|').map(Number) as [number, number]
            expect(perTask.has(task)).toBe(false)
            perTask.set(task, events)
            perNode[i]! += events
          }
        })
        return [...perTask.values()].reduce((a, b) => a + b, 0)
      },
      (sum) => perTask.size === 6 && sum === total,
      60_000,
    )
    // Every running task engine holds state for its views (per-player counts, matches), shown as state_bytes.
    for (const node of cluster.nodes) {
      const sizes = node.psql("SELECT state_bytes FROM sluice_tasks WHERE stream = 'plays' AND status = 'running'", { args: ['-tA'] }).stdout.trim()
      for (const b of sizes === '' ? [] : sizes.split('\n')) expect(Number(b)).toBeGreaterThan(0)
    }
    for (const node of cluster.nodes) expect(node.psql('SELECT sum(events_in) FROM sluice_queries', { args: ['-tA'] }).stdout.trim()).toBe('0')
    console.log(`events per task: ${JSON.stringify(Object.fromEntries(perTask))}; per node (its tasks): ${JSON.stringify(perNode)} (${total} in all)`)

    // The repartitioned view is spread too: every task took in its partition of the repartition topic, the
    // events of more than one node's tasks, and over all tasks each event that passes the WHERE once (the
    // writers of the killed node's tasks were fenced and resumed by the new owners, then by it again).
    const passing = Number(single.psql('SELECT sum(n) FROM per_score', { args: ['-tA'] }).stdout.trim())
    const repartitioned = new Map<number, { node: number; events: number }>()
    await eventually(
      async () => {
        repartitioned.clear()
        cluster.nodes.forEach((node, i) => {
          const rows = node.psql("SELECT task, events FROM sluice_tasks WHERE stream = '_sluice_repartition_per_score' AND status = 'running'", { args: ['-tA'] }).stdout.trim()
          for (const l of rows === '' ? [] : rows.split('\n')) {
            const [task, events] = l.split('|').map(Number) as [number, number]
            repartitioned.set(task, { node: i, events })
          }
        })
        return [...repartitioned.values()].reduce((a, b) => a + b.events, 0)
      },
      (sum) => repartitioned.size === 6 && sum === passing,
      60_000,
    )
    expect(new Set([...repartitioned.values()].filter((r) => r.events > 0).map((r) => r.node)).size).toBeGreaterThan(1)
    console.log(`per_score: events per task from the repartition topic ${JSON.stringify(Object.fromEntries([...repartitioned].map(([t, r]) => [t, r.events])))} (${passing} pass the WHERE)`)
  }, 400_000 * SCALE)

  test('a node that joins later builds every view from the command topic; DROP on one node drops on all', async () => {
    const late = await cluster.addNode()
    // Tasks move to the new node, which restores them: until then a read may wait and fail (55000).
    const settled = (v: string) => eventually(() => viewRows(cluster.nodes[0]!, v), () => true, 120_000 * SCALE)
    for (const v of ['per_player', 'per_minute', 'streaks', 'per_score']) await expectRows(cluster.nodes[late]!, late, v, await settled(v))
    // The tasks it takes (once the group gives it some) it restores from their changelogs, never from its
    // partitions' beginning.
    const lateId = cluster.nodes[late]!.psql('SELECT node FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim()
    const mine = await eventually(
      async () => {
        const owned = [...(await ownerOfTasks(cluster.nodes[late]!))].filter(([, owner]) => owner === lateId).map(([t]) => t)
        return { owned, restores: restoreLines(cluster.nodes[late]!.output()).filter((r) => owned.includes(r.task)) }
      },
      ({ owned, restores }) => owned.length > 0 && owned.every((t) => restores.some((r) => r.task === t)),
      120_000 * SCALE,
    ).catch((err: unknown) => {
      // (Seen once in a CI run: the late node owned no task after 120 s. What the nodes said about the group.)
      for (const [i, n] of cluster.nodes.entries()) console.log(`node ${i}:\n${n.output().split('\n').filter((l) => /rebalance|group|task|fenc|outage/i.test(l)).slice(-25).join('\n')}`)
      throw err
    })
    for (const r of mine.restores) expect(r.resumeAt, r.line).toBeGreaterThanOrEqual(0)
    cluster.nodes[late]!.psql('DROP MATERIALIZED VIEW per_minute')
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT count(*) FROM sluice_queries WHERE name = 'per_minute'", { args: ['-tA'] }).stdout.trim(), (o) => o === '0', 30_000)
    }
  }, 300_000 * SCALE)
})
