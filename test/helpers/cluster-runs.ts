/**
 * Runs of the plays workload (helpers/cluster-plays.ts) on a test cluster, shared by the cluster tests and
 * scripts/cluster-kills.ts: the stream and views on the cluster and on a single-process oracle reading the
 * same topic, producing parts with kcat, and comparing every view on every node with the oracle.
 */
import type { TestCluster } from './cluster.ts'
import type { KafkaBroker } from './kafka.ts'
import { COLUMNS, GLOBAL_VIEW, LATENESS, REPARTITIONED_VIEW, VIEWS, expectRows, json, oracleAnswer, plays, sentinels } from './cluster-plays.ts'
import { eventually, startSluice, type SluiceProcess } from './sluice-process.ts'

/** The views every node and the oracle compute. */
export const VIEW_NAMES = ['per_player', 'per_minute', 'streaks'] as const

/**
 * Views by other keys than the stream's (the cluster repartitions them) that the kill rounds add: a GROUP BY
 * of score and kind, a per-minute TUMBLE by kind and a MATCH_RECOGNIZE partitioned by kind (a high score
 * followed at once by a low one), whose watermark the repartition topic carries; and a per-minute view the
 * cluster cannot split (global), now that per_minute (VIEWS) is split by two-phase aggregation.
 */
export const REPARTITIONED_VIEWS = [
  REPARTITIONED_VIEW,
  `CREATE MATERIALIZED VIEW per_kind_minute AS SELECT kind, window_start, count(*) AS n, max(score) AS top FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY kind, window_start`,
  `CREATE MATERIALIZED VIEW kind_swings AS SELECT * FROM plays MATCH_RECOGNIZE (PARTITION BY kind ORDER BY ts MEASURES FIRST(H.ts) AS high_at, LAST(L.ts) AS low_at, MATCH_NUMBER() AS n ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (H L) DEFINE H AS H.score > 80, L AS L.score < 20) AS m`,
  GLOBAL_VIEW,
]
export const REPARTITIONED_NAMES = ['per_score', 'per_kind_minute', 'kind_swings', 'minute_players'] as const

/** CREATE STREAM plays (on `topic`, 6 partitions) and the views (and `extra`), taken on `node`; waits until every node has them. */
export async function createPlays(cluster: TestCluster, node: number, topic: string, extra: readonly string[] = []): Promise<void> {
  cluster.nodes[node]!.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic}', ${LATENESS})`)
  for (const v of [...VIEWS, ...extra]) cluster.nodes[node]!.psql(v)
  const names = [...VIEW_NAMES, ...extra.map((sql) => /MATERIALIZED VIEW (\w+)/.exec(sql)![1]!)]
  for (const n of cluster.nodes) {
    await eventually(async () => n.psql(`SELECT count(*) FROM sluice_queries WHERE name IN (${names.map((v) => `'${v}'`).join(', ')})`, { args: ['-tA'] }).stdout.trim(), (o) => o === String(names.length), 60_000)
  }
}

/** A single-process Sluice reading `topic` with the same stream and views (and `extra`): the answer every node must give. */
export async function startOracle(kafka: KafkaBroker, topic: string, extra: readonly string[] = []): Promise<SluiceProcess> {
  const single = await startSluice({ kafka: kafka.brokers })
  single.psql(`CREATE STREAM plays (${COLUMNS}) WITH (connector = 'kafka', topic = '${topic}', key = 'player', ${LATENESS})`)
  for (const v of [...VIEWS, ...extra]) single.psql(v)
  return single
}

/** Plays `from` .. `from + count - 1` by kcat, keyed, with Kafka's Java partitioning (what Sluice uses). */
export async function producePlays(kafka: KafkaBroker, topic: string, from: number, count: number): Promise<void> {
  if (count <= 0) return
  await kafka.produce(topic, plays(from, count).map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
}

/** Ends every partition with a sentinel an hour after play `after` (see `sentinels`); returns how many. */
export async function produceSentinels(kafka: KafkaBroker, topic: string, after: number): Promise<number> {
  const ends = sentinels(after, 6)
  await kafka.produce(topic, ends.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
  return ends.length
}

/**
 * Every view on every running node against the oracle, once it has read all `total` events; returns the
 * mismatches (`node i, view v: missing [...], extra [...]`), empty when every one is exact.
 */
export async function mismatchesWithOracle(cluster: TestCluster, single: SluiceProcess, total: number, extra: readonly string[] = []): Promise<string[]> {
  const want = await oracleAnswer(single, total, [...VIEW_NAMES, ...extra])
  const out: string[] = []
  for (let i = 0; i < cluster.nodes.length; i++) {
    for (const [v, rows] of want) {
      try {
        await expectRows(cluster.nodes[i]!, i, v, rows)
      } catch (err) {
        out.push((err as Error).message)
      }
    }
  }
  return out
}

/** A task engine's restore from its changelog, as its node logged it (cluster/tasks.ts `restoredLine`). */
export interface RestoreLine {
  /** The task, -1 for the global task. */
  readonly task: number
  readonly records: number
  /** How long the replay took. */
  readonly ms: number
  /** The lowest input offset the task's views resumed from (0: re-read from the beginning). */
  readonly resumeAt: number
  /** Replayed over the node's own directory for the task (a catch-up), not into an empty store. */
  readonly own: boolean
  readonly line: string
}

/** A task restored from a standby copy kept on its new node (cluster/standby.ts), as its log line says. */
export interface StandbyRestoreLine {
  readonly task: number
  readonly ms: number
  /** Changelog records replayed over the copy, the offsets they span, and what the copy had applied. */
  readonly records: number
  readonly from: number
  readonly end: number
  readonly applied: number
  readonly line: string
}

export function standbyRestoreLines(output: string): StandbyRestoreLine[] {
  const re = /task (\d+|global) restored from its standby copy in (\d+) ms: (\d+) changelog records replayed \(offsets (\d+) to (\d+); the copy had applied (\d+) records[^\n]*/g
  return [...output.matchAll(re)].map((m) => ({ task: m[1] === 'global' ? -1 : Number(m[1]), ms: Number(m[2]), records: Number(m[3]), from: Number(m[4]), end: Number(m[5]), applied: Number(m[6]), line: m[0] }))
}

export function restoreLines(output: string): RestoreLine[] {
  const re = /task (\d+|global) restored from (its own directory and )?its changelog in (\d+) ms: (\d+) changelog records \(offsets \d+ to \d+\); input resumes at ([^\n]*)/g
  return [...output.matchAll(re)].map((m) => {
    const at = [...m[5]!.matchAll(/@(\d+)/g)].map((x) => Number(x[1]))
    return { task: m[1] === 'global' ? -1 : Number(m[1]), ms: Number(m[3]), records: Number(m[4]), resumeAt: at.length === 0 ? 0 : Math.min(...at), own: m[2] !== undefined, line: m[0] }
  })
}
