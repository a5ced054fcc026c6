/**
 * Scaling a cluster while events flow: one node, then three (tasks move to the new nodes, which restore
 * them by reading their partitions from the beginning), then one again (the two leave with a last
 * checkpoint; their tasks come back to the first node, which resumes them from its own old checkpoints).
 * Every view on the remaining node equals a single process reading the same topic, and each event was
 * taken in once per task's current engine.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { COLUMNS, EVENTS, LATENESS, SCALE, VIEWS, expectRows, json, oracleAnswer, ownerOfTasks, plays, sentinels } from './helpers/cluster-plays.ts'

/** Fewer events than the kill -9 test: this one is about tasks moving, twice. */
const PART = Math.floor((EVENTS * 0.4) / 3)

describe('cluster mode: scale out 1 -> 3 and in 3 -> 1 while events flow', () => {
  let cluster: TestCluster
  let oracle: SluiceProcess | undefined
  beforeAll(async () => {
    // On the run's shared broker: the cluster's own topics carry its name, and so does the stream's.
    cluster = await startCluster({ nodes: 1, kafka: await sharedKafka() })
  }, 300_000)
  afterAll(async () => {
    await oracle?.kill()
    if (oracle) await removeDir(oracle.dataDir)
    await cluster?.stop()
    await cluster?.kafka.stop()
  }, 120_000)

  test('answers stay exact as tasks move out to new nodes and back', async () => {
    const n0 = cluster.nodes[0]!
    const topic = `plays_${cluster.name}`
    n0.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic}', ${LATENESS})`)
    for (const v of VIEWS) n0.psql(v)
    const single = (oracle = await startSluice({ kafka: cluster.kafka.brokers }))
    single.psql(`CREATE STREAM plays (${COLUMNS}) WITH (connector = 'kafka', topic = '${topic}', key = 'player', ${LATENESS})`)
    for (const v of VIEWS) single.psql(v)
    const produce = (from: number) => cluster.kafka.produce(topic, plays(from, PART).map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })

    await produce(0)
    await eventually(async () => ownerOfTasks(n0), (owners) => owners.size === 6 && new Set(owners.values()).size === 1, 60_000)
    // Out: two nodes join while the second part is produced.
    await Promise.all([produce(PART), cluster.addNode().then(() => cluster.addNode())])
    await eventually(async () => ownerOfTasks(n0), (owners) => owners.size === 6 && new Set(owners.values()).size === 3, 90_000 * SCALE)
    // In: both leave (SIGTERM: a last checkpoint of their tasks) while the third part is produced.
    await Promise.all([produce(2 * PART), cluster.nodes[1]!.kill('SIGTERM'), cluster.nodes[2]!.kill('SIGTERM')])
    await eventually(async () => ownerOfTasks(n0), (owners) => owners.size === 6 && new Set(owners.values()).size === 1, 90_000 * SCALE)
    const ends = sentinels(3 * PART, 6)
    await cluster.kafka.produce(topic, ends.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })

    const total = 3 * PART + ends.length
    const want = await oracleAnswer(single, total)
    for (const [v, rows] of want) await expectRows(n0, 0, v, rows)
    // Node 0 runs all six tasks again, and each took in every event of its partition exactly once.
    const events = await eventually(
      async () => n0.psql("SELECT sum(events), count(*) FROM sluice_tasks WHERE stream = 'plays' AND status = 'running'", { args: ['-tA'] }).stdout.trim(),
      (o) => o === `${total}|6`,
      60_000,
    )
    expect(events).toBe(`${total}|6`)
  }, 600_000 * SCALE)
})
