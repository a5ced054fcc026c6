/**
 * A broker restart while a cluster runs: three nodes compute the plays views over a 6-partition topic;
 * the broker is stopped and started again (same data, same address) between the first and second parts,
 * and again while nodes are taking in the second part. Every node's group client, task engines' sources,
 * command topic reader and admin calls lose the broker and must come back by themselves; afterwards every
 * view on every node equals a single process reading the same topic.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { startKafka } from './helpers/kafka.ts'
import { SCALE, ownerOfTasks } from './helpers/cluster-plays.ts'
import { createPlays, mismatchesWithOracle, producePlays, produceSentinels, startOracle } from './helpers/cluster-runs.ts'
import { eventually, removeDir, type SluiceProcess } from './helpers/sluice-process.ts'

/** Fewer events than the kill -9 test: this one is about the broker going away, twice. */
const PART = 4000

describe('cluster mode: a broker restart during the run', () => {
  let cluster: TestCluster
  let oracle: SluiceProcess | undefined
  beforeAll(async () => {
    const kafka = await startKafka()
    if (kafka.restart === undefined) {
      await kafka.stop()
      throw new Error('this test restarts the broker: it needs one it starts itself (unset KAFKA_BROKERS)')
    }
    cluster = await startCluster({ nodes: 3, kafka })
  }, 300_000)
  afterAll(async () => {
    logEndedNodes(cluster)
    await oracle?.kill()
    if (oracle) await removeDir(oracle.dataDir)
    await cluster?.stop()
    await cluster?.kafka.stop()
  }, 120_000)

  test('every view on every node equals the single-process answer', async () => {
    const { kafka } = cluster
    await createPlays(cluster, 0, 'plays')
    const single = (oracle = await startOracle(kafka, 'plays'))
    await producePlays(kafka, 'plays', 0, PART)
    await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (o) => o.size === 6 && new Set(o.values()).size === 3, 90_000 * SCALE)

    // Between parts.
    await kafka.restart!()
    await producePlays(kafka, 'plays', PART, PART)
    // While the nodes take the part in (kcat has returned; the nodes read it after).
    await kafka.restart!()
    await producePlays(kafka, 'plays', 2 * PART, PART)
    const total = 3 * PART + (await produceSentinels(kafka, 'plays', 3 * PART))

    expect(await mismatchesWithOracle(cluster, single, total)).toEqual([])
    // Every node is still a member with its tasks, and a statement still goes through the command topic.
    await eventually(async () => ownerOfTasks(cluster.nodes[2]!), (o) => o.size === 6 && new Set(o.values()).size === 3, 90_000)
    cluster.nodes[1]!.psql('DROP MATERIALIZED VIEW streaks')
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT count(*) FROM sluice_queries WHERE name = 'streaks'", { args: ['-tA'] }).stdout.trim(), (o) => o === '0', 60_000)
    }
  }, 600_000)
})
