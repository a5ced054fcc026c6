/**
 * SUBSCRIBE in cluster mode against a real broker and three real nodes: a subscription on one node gets
 * the snapshot of the whole view (every task's, on every node) and then every change, from whichever task
 * computes it, so that what it builds from them equals the view as a pull query answers it; and when a node
 * that runs some of its tasks is killed with -9, the subscription follows those tasks to their new owners and
 * stays exact (docs/cluster.md).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually } from './helpers/sluice-process.ts'
import { COLUMNS, GLOBAL_VIEW, LATENESS, REPARTITIONED_VIEW, VIEWS, json, ownerOfTasks, plays, viewRows } from './helpers/cluster-plays.ts'

/** Events per kcat part: enough that changes come from every task while a subscription reads. */
const PART = 2000
/** A partitioned view, a two-phase one (per minute over all), one repartitioned by score and kind, and a global one. */
const VIEWS_FOLLOWED = ['per_player', 'per_minute', 'per_score', 'minute_players'] as const
const newBuilt = (): Record<string, Built> => Object.fromEntries(VIEWS_FOLLOWED.map((v) => [v, new Built()]))

const text = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v))

/** The view as a subscription builds it: +1 and -1 rows applied to a multiset; a -1 of a row it lacks is an error. */
class Built {
  readonly rows = new Map<string, number>()
  apply(fetched: unknown[][]): void {
    for (const r of fetched) {
      const diff = Number(r[1])
      const key = r.slice(2).map(text).join('|')
      const n = (this.rows.get(key) ?? 0) + diff
      if (n < 0) throw new Error(`a -1 of a row never sent: ${key}`)
      if (n === 0) this.rows.delete(key)
      else this.rows.set(key, n)
    }
  }
  text(): string {
    return [...this.rows].flatMap(([k, n]) => new Array<string>(n).fill(k)).sort().join('\n')
  }
}

describe('SUBSCRIBE in cluster mode', () => {
  let cluster: TestCluster
  let sent = 0
  const produce = async (n: number) => {
    const events = plays(sent, n)
    sent += n
    await cluster.kafka.produce(`plays_${cluster.name}`, events.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
  }
  /** Node i's pull answer once it has every event produced so far. */
  const settled = (i: number, view: string) =>
    eventually(
      async () => [await viewRows(cluster.nodes[i]!, 'per_player'), await viewRows(cluster.nodes[i]!, view)] as const,
      ([pp]) => pp.split('\n').reduce((a, l) => a + Number(l.split('|')[1] ?? 0), 0) === sent,
      90_000,
    ).then(([, rows]) => rows)

  /** Subscribes on node i to each view with a cursor (retried while a rebalance or a restore is under way). */
  async function subscribe(i: number): Promise<pg.Client> {
    return eventually(
      async () => {
        const c = await cluster.nodes[i]!.client()
        try {
          await c.query('BEGIN')
          for (const v of VIEWS_FOLLOWED) await c.query(`DECLARE ${v}_c CURSOR FOR SUBSCRIBE TO ${v}`)
          return c
        } catch (err) {
          await c.end().catch(() => undefined)
          // 55000: a task has no running owner yet; waited out like a pull query.
          if ((err as { code?: string }).code !== '55000') throw err
          return null
        }
      },
      (c) => c !== null,
      90_000,
    ).then((c) => c!)
  }

  /** FETCHes each view's cursor into `built` until it equals node i's pull answer. */
  async function follow(c: pg.Client, built: Record<string, Built>, i: number, ms = 60_000): Promise<void> {
    for (const v of VIEWS_FOLLOWED) {
      const want = await settled(i, v)
      await eventually(
        async () => {
          built[v]!.apply((await c.query({ text: `FETCH ALL ${v}_c WITH (timeout = '1s')`, rowMode: 'array' })).rows as unknown[][])
          return built[v]!.text()
        },
        (got) => got === want,
        ms,
      )
    }
  }

  beforeAll(async () => {
    // On the run's shared broker: the cluster's own topics carry its name, and so does the stream's.
    cluster = await startCluster({ nodes: 3, kafka: await sharedKafka() })
    const n0 = cluster.nodes[0]!
    n0.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = 'plays_${cluster.name}', ${LATENESS})`)
    n0.psql(VIEWS[0]!)
    n0.psql(VIEWS[1]!)
    n0.psql(REPARTITIONED_VIEW)
    n0.psql(GLOBAL_VIEW)
    await eventually(async () => ownerOfTasks(n0), (owners) => owners.size === 6 && new Set(owners.values()).size === 3, 90_000)
  }, 240_000)
  afterAll(async () => {
    for (const n of cluster?.nodes ?? []) if (n.child.exitCode !== null || n.child.signalCode !== null) console.log(`node on ${n.dataDir} ended (${n.child.exitCode ?? n.child.signalCode}):\n${n.output().slice(-3000)}`)
    await cluster?.stop()
    await cluster?.kafka.stop()
  }, 120_000)

  test('a subscription on one node builds every task\'s rows, exactly, from its snapshot and changes', async () => {
    await produce(PART)
    await settled(1, 'per_player')
    const c = await subscribe(1)
    try {
      const built = newBuilt()
      // The snapshot alone is the whole view of every node's tasks.
      await follow(c, built, 1)
      // Changes while kcat produces, from the tasks of all three nodes and the global task.
      await produce(PART)
      await follow(c, built, 1)
      expect(built['per_player']!.text().split('\n').reduce((a, l) => a + Number(l.split('|')[1]), 0)).toBe(sent)
      await c.query('COMMIT')
    } finally {
      await c.end()
    }
  }, 180_000)

  test('kill -9 of a node running some of its tasks: the subscription follows them to their new owners, exactly', async () => {
    const c = await subscribe(1)
    const built = newBuilt()
    try {
      await follow(c, built, 1)
      const producing = produce(PART)
      await cluster.kill(2)
      await producing
      // The two nodes left take node 2's tasks over; the subscription resumes each where it went, from the
      // difference between what it sent and the new owner's snapshot: what it builds is the view again, with
      // no -1 of a row it never sent (Built.apply would throw).
      await eventually(async () => ownerOfTasks(cluster.nodes[0]!), (owners) => owners.size === 6 && new Set(owners.values()).size === 2, 90_000)
      await follow(c, built, 1, 120_000)
      await produce(PART / 2)
      await follow(c, built, 1)
      expect(built['per_player']!.text().split('\n').reduce((a, l) => a + Number(l.split('|')[1]), 0)).toBe(sent)
      await c.query('COMMIT')
    } finally {
      await c.end().catch(() => undefined)
    }
  }, 300_000)
})
