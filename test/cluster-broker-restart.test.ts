/**
 * A broker restart while a cluster runs: three nodes compute the plays views over a 6-partition topic;
 * the broker is stopped and started again (same data, same address) between the first and second parts,
 * and again while nodes are taking in the second part. Every node's group client, task engines' sources,
 * command topic reader, changelog producers (state changelogs are on: the default) and admin calls lose the
 * broker and must come back by themselves; a task engine rides out the outage (its checkpoint held back and
 * retried), so every task is running again within a bounded time; afterwards every view on every node
 * equals a single process reading the same topic.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { startKafka } from './helpers/kafka.ts'
import { SCALE, ownerOfTasks } from './helpers/cluster-plays.ts'
import { createPlays, mismatchesWithOracle, producePlays, produceSentinels, restoreLines, startOracle } from './helpers/cluster-runs.ts'
import { eventually, removeDir, type SluiceProcess } from './helpers/sluice-process.ts'

/** Fewer events than the kill -9 test: this one is about the broker going away, twice. */
const PART = 4000
/** After the second restart, every task runs again (on some node) within this long. */
const TASKS_BACK_MS = 90_000 * SCALE

/** The tasks of `plays` whose engine is running, over every node. */
function runningTasks(cluster: TestCluster): Set<number> {
  const out = new Set<number>()
  for (const node of cluster.nodes) {
    const rows = node.psql("SELECT task FROM sluice_tasks WHERE stream = 'plays' AND is_self AND status = 'running'", { args: ['-tA'], allowError: true }).stdout.trim()
    for (const l of rows === '' ? [] : rows.split('\n')) out.add(Number(l))
  }
  return out
}

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
    /** How many times the nodes logged what `re` matches. */
    const said = (re: RegExp) => cluster.nodes.reduce((a, n) => a + (n.output().match(re)?.length ?? 0), 0)
    await createPlays(cluster, 0, 'plays')
    const single = (oracle = await startOracle(kafka, 'plays'))
    await producePlays(kafka, 'plays', 0, PART)
    await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (o) => o.size === 6 && new Set(o.values()).size === 3, 90_000 * SCALE)
    // Changelogs are on (the default): every task's engine registered its id and restored from its changelog.
    await eventually(async () => new Set(cluster.nodes.flatMap((n) => restoreLines(n.output()).map((r) => r.task))), (tasks) => [0, 1, 2, 3, 4, 5].every((t) => tasks.has(t)), 60_000 * SCALE)

    // Between parts.
    await kafka.restart!()
    await producePlays(kafka, 'plays', PART, PART)
    // While the nodes take the part in (kcat has returned; the nodes read it after).
    await kafka.restart!()
    const back = Date.now()
    await producePlays(kafka, 'plays', 2 * PART, PART)
    // The task engines rode the outages out: all six run again, within a bound (one stayed down over 90 s
    // when every failed changelog transaction restarted its engine).
    await eventually(async () => runningTasks(cluster), (tasks) => tasks.size === 6, TASKS_BACK_MS)
    console.log(`every task running ${((Date.now() - back) / 1000).toFixed(1)} s after the second broker restart; changelog outages ridden out: ${said(/its changelog cannot be written/g)}, landed after one: ${said(/its changelog is reachable again/g)}, fences: ${said(/: fenced: /g)}, task restarts: ${said(/starting the task over/g)}`)
    const total = 3 * PART + (await produceSentinels(kafka, 'plays', 3 * PART))

    expect(await mismatchesWithOracle(cluster, single, total)).toEqual([])
    // Every node is still a member with its tasks, and a statement still goes through the command topic.
    await eventually(async () => ownerOfTasks(cluster.nodes[2]!), (o) => o.size === 6 && new Set(o.values()).size === 3, 90_000)
    cluster.nodes[1]!.psql('DROP MATERIALIZED VIEW streaks')
    for (const node of cluster.nodes) {
      await eventually(async () => node.psql("SELECT count(*) FROM sluice_queries WHERE name = 'streaks'", { args: ['-tA'] }).stdout.trim(), (o) => o === '0', 60_000)
    }
    // Every checkpoint a task engine held back through the outages landed in the end (or, the group having
    // given its task away meanwhile, was given up with the engine): none is stuck retrying.
    const outages = await eventually(
      async () => ({ began: said(/its changelog cannot be written/g), landed: said(/its changelog is reachable again/g), ended: said(/revoked during a broker outage|starting the task over/g) }),
      (o) => o.landed + o.ended >= o.began,
      90_000 * SCALE,
    )
    console.log(`changelog outages at the end: ${JSON.stringify(outages)}`)
  }, 600_000)
})
