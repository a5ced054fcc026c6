/**
 * The workload of the cluster tests (test/cluster*.test.ts): deterministic plays keyed by player, the
 * stream and the three views (a per-player GROUP BY, a per-minute TUMBLE over all players, a per-player
 * MATCH_RECOGNIZE), and how to read and compare a view's rows on a node.
 */
import { partitionOfKey } from '../../cluster/kafka-io.ts'
import { eventually, type SluiceProcess } from './sluice-process.ts'

const PLAYERS = 200
export const BASE = Date.UTC(2026, 0, 1)
/** Events produced by kcat, in three parts (the acceptance run: SLUICE_CLUSTER_EVENTS=300000). */
export const EVENTS = Number(process.env.SLUICE_CLUSTER_EVENTS ?? 30_000)
/** Waits and timeouts grow with the number of events. */
export const SCALE = Math.max(1, EVENTS / 30_000)

export interface Play {
  readonly player: string
  readonly score: number
  readonly kind: string
  readonly ts: number
}

/** Deterministic events: player p<i>, a score, a win or a loss, 50 ms after the one before. */
export function plays(from: number, count: number): Play[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j
    return { player: `p${(i * 7919) % PLAYERS}`, score: (i * 31) % 97, kind: (i * 13) % 5 < 3 ? 'loss' : 'win', ts: BASE + i * 50 }
  })
}

/**
 * One event per partition, an hour after the last play: every partition's watermark (a task's own) then
 * passes every play, as the single process's does once all its partitions are read, so MATCH_RECOGNIZE
 * has emitted the same matches in both. (Without it a task's watermark, its partition's own, may stop short
 * of the single process's, the largest of all partitions', and leave a partition's last matches pending.)
 */
export function sentinels(after: number, partitions: number): Play[] {
  const out: Play[] = []
  for (let i = 0; out.length < partitions; i++) {
    const player = `end${i}`
    if (partitionOfKey(player, partitions) === out.length) out.push({ player, score: 0, kind: 'win', ts: BASE + after * 50 + 3_600_000 })
  }
  return out
}

/** The commands written to the command topic (the cluster's secret, written first, is not one). */
export const commandsOf = (records: { value: string | null }[]) => records.map((m) => JSON.parse(m.value!) as { cmd?: { op: string; sql?: string } }).filter((r) => r.cmd !== undefined)

export const json = (p: Play) => JSON.stringify({ player: p.player, score: p.score, kind: p.kind, ts: new Date(p.ts).toISOString() })

export const COLUMNS = `player TEXT NOT NULL, score INT, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`
/**
 * Kafka partitions are read unevenly, and one with nothing new for a second stops holding the watermark
 * back (kafka-source.ts): on a loaded machine events of a partition read late are then behind the
 * watermark, so the single process itself is not the same from run to run. Lateness well beyond one kcat
 * part's span of event time (10,000 events: 8 minutes; at least 10 minutes) takes that out of the comparison.
 */
export const LATENESS = `allowed_lateness = '${Math.max(600, Math.ceil((EVENTS / 3) * 0.05))} seconds'`
export const VIEWS = [
  'CREATE MATERIALIZED VIEW per_player AS SELECT player, count(*) AS n, sum(score) AS total FROM plays GROUP BY player',
  `CREATE MATERIALIZED VIEW per_minute AS SELECT window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start`,
  `CREATE MATERIALIZED VIEW streaks AS SELECT * FROM plays MATCH_RECOGNIZE (
     PARTITION BY player ORDER BY ts MEASURES FIRST(L.ts) AS first_loss, LAST(L.ts) AS last_loss, MATCH_NUMBER() AS n
     ONE ROW PER MATCH PATTERN (L L L) DEFINE L AS kind = 'loss') AS m`,
]

/**
 * A per-minute view a cluster cannot split into the tasks (a distinct count does not combine from partial
 * counts): it runs once, in the global task, which reads every partition. (per_minute, in VIEWS, is split:
 * two-phase aggregation.)
 */
export const GLOBAL_VIEW = `CREATE MATERIALIZED VIEW minute_players AS SELECT window_start, count(*) AS n, count(DISTINCT player) AS players FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start`

/**
 * A view grouped by other columns than the stream's key (player): the cluster repartitions it (each task
 * writes its events to an internal topic keyed by score and kind, and runs the view over its partition of
 * that topic). Not in VIEWS: only test/cluster.test.ts creates it.
 */
export const REPARTITIONED_VIEW = `CREATE MATERIALIZED VIEW per_score AS SELECT score, kind, count(*) AS n, min(player) AS first_player, max(ts) AS last_ts FROM plays WHERE score > 5 GROUP BY score, kind`

/** Every row of a view as sorted text lines. */
export async function viewRows(node: SluiceProcess, view: string): Promise<string> {
  const client = await node.client()
  try {
    const rows = (await client.query({ text: `SELECT * FROM ${view}`, rowMode: 'array' })).rows as unknown[][]
    return rows.map((r) => r.map((v) => (v instanceof Date ? v.toISOString() : String(v))).join('|')).sort().join('\n')
  } finally {
    await client.end()
  }
}

/** Task -> owner node, as sluice_tasks on `node` shows it. */
export async function ownerOfTasks(node: SluiceProcess): Promise<Map<number, string>> {
  const rows = node.psql("SELECT task, owner FROM sluice_tasks WHERE stream = 'plays' AND owner IS NOT NULL", { args: ['-tA'] }).stdout.trim()
  const owners = new Map(rows === '' ? [] : rows.split('\n').map((l) => [Number(l.split('|')[0]), l.split('|')[1]!] as [number, string]))
  return owners
}

/** Waits until the node's view has exactly `want`; on timeout the error shows the rows that differ. */
export async function expectRows(node: SluiceProcess, i: number, view: string, want: string): Promise<void> {
  let last = ''
  try {
    await eventually(async () => (last = await viewRows(node, view)), (rows) => rows === want, 90_000 * SCALE)
  } catch (err) {
    const got = new Set(last.split('\n'))
    const wanted = new Set(want.split('\n'))
    const missing = [...wanted].filter((l) => !got.has(l)).slice(0, 8)
    const extra = [...got].filter((l) => !wanted.has(l)).slice(0, 8)
    throw new Error(`node ${i}, view ${view}: missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}\n${(err as Error).message.slice(0, 200)}\n${node.output().slice(-2000)}`)
  }
}

/**
 * The single process's answer, once it has read all `total` events (per_player counts every one) and
 * settled: each view the same twice in a row, a moment apart (MATCH_RECOGNIZE emits as the watermark passes).
 */
export async function oracleAnswer(single: SluiceProcess, total: number, views: readonly string[] = ['per_player', 'per_minute', 'streaks']): Promise<Map<string, string>> {
  await eventually(() => viewRows(single, 'per_player'), (rows) => rows.split('\n').reduce((a, l) => a + Number(l.split('|')[1]), 0) === total, 120_000 * SCALE)
  return settledRows(single, views)
}

/** Each view's rows once settled: the same twice in a row, a moment apart (MATCH_RECOGNIZE emits as the watermark passes). */
export async function settledRows(single: SluiceProcess, views: readonly string[]): Promise<Map<string, string>> {
  const want = new Map<string, string>()
  for (const v of views) {
    let last = '-'
    await eventually(async () => {
      const now = await viewRows(single, v)
      const same = now === last
      last = now
      await new Promise((r) => setTimeout(r, 500))
      return same
    }, (same) => same, 60_000 * SCALE)
    if (last.length === 0) throw new Error(`the single process has no rows in ${v}`)
    want.set(v, last)
  }
  return want
}
