/**
 * Windows and sessions keyed by another column than the stream's, in cluster mode (docs/cluster.md,
 * "Watermarks of repartition topics"): two real nodes on a real broker run a per-minute TUMBLE, a HOP and
 * an EMIT ON WINDOW CLOSE TUMBLE grouped by `level`, a SESSION keyed by `level`, and OVER and
 * MATCH_RECOGNIZE partitioned by `level`, and per-minute, HOP and all-time aggregations over every player (two-phase:
 * partial rows per writer transaction and window or slice, merged per window), of a stream keyed by
 * player, in their task engines over repartition topics whose records carry their writers' watermarks. On
 * each node every view equals a single-process Sluice reading the same topic, row for row: once every
 * partition went quiet (no window has closed yet: the allowed lateness is longer than the events' span),
 * and again after one event an hour later in one partition, once all are quiet again: the watermark is
 * then the largest of the partitions' in one process, and over the repartition topics only if every
 * writer's idle mark arrived, and every window closes in both. The task engines took in every event once
 * over the repartition topics, on several tasks.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startClusterWithOracle, stopClusterWithOracle, type ClusterWithOracle, type TestCluster } from './helpers/cluster.ts'
import type { KafkaBroker } from './helpers/kafka.ts'
import { eventually, type SluiceProcess } from './helpers/sluice-process.ts'
import { expectRows, oracleAnswer, viewRows } from './helpers/cluster-plays.ts'

const BASE = Date.UTC(2026, 0, 1)
const EVENTS = 3000
/** A burst of events 50 ms apart, then 30 s of quiet: each level's session per burst. */
const BURST = 500

interface Event {
  readonly player: string
  readonly level: number
  readonly score: number
  readonly kind: string
  readonly ts: number
}

const event = (i: number): Event => ({ player: `p${(i * 7919) % 200}`, level: (i * 37) % 12, score: (i * 31) % 97, kind: (i * 13) % 5 < 3 ? 'loss' : 'win', ts: BASE + i * 50 + Math.floor(i / BURST) * 30_000 })
const line = (e: Event) => `${e.player}\t${JSON.stringify({ player: e.player, level: e.level, score: e.score, kind: e.kind, ts: new Date(e.ts).toISOString() })}`

const COLUMNS = `player TEXT NOT NULL, level INT, score INT, kind TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`
/**
 * Beyond the events' whole span of event time (about 5 minutes): a partition the single process calls idle
 * while kcat writes the others (a loaded machine) must not make its later events late there (see
 * cluster-plays.ts LATENESS); the comparison is of the watermark's effects on windows, not of that.
 */
const LATENESS = `allowed_lateness = '600 seconds'`
const VIEWS = {
  per_player: 'SELECT player, count(*) AS n FROM plays GROUP BY player',
  level_minute: `SELECT level, window_start, window_end, count(*) AS n, sum(score) AS total, min(player) AS first_player FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY level, window_start, window_end`,
  level_hop: `SELECT level, window_start, window_end, max(score) AS top, count(*) AS n FROM HOP(plays, ts, INTERVAL '30 seconds', INTERVAL '2 minutes') WHERE kind = 'win' GROUP BY level, window_start, window_end`,
  level_closed: `SELECT level, window_start, count(*) AS n FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY level, window_start EMIT ON WINDOW CLOSE`,
  level_sessions: `SELECT level, window_start, window_end, count(*) AS n, max(score) AS top FROM SESSION(plays, ts, INTERVAL '10 seconds', level) WHERE kind = 'loss' GROUP BY level, window_start, window_end`,
  // OVER and MATCH_RECOGNIZE partitioned by level: rows computed in event-time order once the watermark passes.
  level_over: `SELECT player, level, ts, sum(score) OVER (PARTITION BY level ORDER BY ts) AS running, lag(kind) OVER (PARTITION BY level ORDER BY ts) AS before FROM plays WHERE score > 10`,
  // Over no key but the window, or none: two-phase aggregation (partials per writer transaction, merged per window).
  all_minute: `SELECT window_start, window_end, count(*) AS n, sum(score) AS total, avg(score) AS mean, min(player) AS first_player, max(ts) AS last FROM TUMBLE(plays, ts, INTERVAL '1 minute') WHERE kind = 'win' GROUP BY window_start, window_end`,
  all_closed: `SELECT window_start, count(*) AS n, count(*) FILTER (WHERE score > 50) AS high FROM TUMBLE(plays, ts, INTERVAL '1 minute') GROUP BY window_start HAVING count(*) > 10 EMIT ON WINDOW CLOSE`,
  all_hop: `SELECT window_start, window_end, count(*) AS n, sum(score) AS total, min(level) AS low FROM HOP(plays, ts, INTERVAL '40 seconds', INTERVAL '2 minutes') WHERE kind = 'loss' GROUP BY window_start, window_end`,
  all_time: `SELECT count(*) AS n, sum(score) AS total, avg(level) AS mean_level, max(score) AS top FROM plays WHERE score > 10`,
  level_streaks: `SELECT * FROM plays MATCH_RECOGNIZE (PARTITION BY level ORDER BY ts MEASURES FIRST(L.ts) AS first_loss, LAST(L.ts) AS last_loss, count(L.score) AS losses, MATCH_NUMBER() AS n ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (L{2,} W) DEFINE L AS L.kind = 'loss', W AS W.kind = 'win') AS m`,
}
const NAMES = Object.keys(VIEWS)
const PARTIALS = ['all_minute', 'all_closed', 'all_hop', 'all_time']
const REPARTITIONED = NAMES.filter((v) => v !== 'per_player' && !PARTIALS.includes(v))

describe('cluster mode: windows and sessions by another key, over repartition topics', () => {
  let run: ClusterWithOracle | undefined
  let kafka: KafkaBroker
  let cluster: TestCluster
  let single: SluiceProcess | undefined
  const topic = `wplays_${Date.now().toString(36)}`
  beforeAll(async () => {
    run = await startClusterWithOracle(2)
    ;({ kafka, cluster, single } = run)
  }, 240_000)
  afterAll(() => stopClusterWithOracle(run), 120_000)

  test('every view on each node equals the single process; the tasks share the work', async () => {
    const n0 = cluster.nodes[0]!
    n0.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic}', ${LATENESS})`)
    single!.psql(`CREATE STREAM plays (${COLUMNS}) WITH (connector = 'kafka', topic = '${topic}', key = 'player', ${LATENESS})`)
    for (const [name, select] of Object.entries(VIEWS)) {
      n0.psql(`CREATE MATERIALIZED VIEW ${name} AS ${select}`)
      single!.psql(`CREATE MATERIALIZED VIEW ${name} AS ${select}`)
    }
    // Both nodes hold tasks, and each task runs the repartitioned views over their internal streams.
    await eventually(
      async () => n0.psql(`SELECT count(DISTINCT owner), count(*) FROM sluice_tasks WHERE stream = 'plays' AND owner IS NOT NULL`, { args: ['-tA'] }).stdout.trim(),
      (o) => o === '2|6',
      90_000,
    )

    await kafka.produce(topic, Array.from({ length: EVENTS }, (_, i) => line(event(i))), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    const compare = async (total: number, views: readonly string[]) => {
      const want = await oracleAnswer(single!, total, views)
      for (let i = 0; i < cluster.nodes.length; i++) for (const v of views) await expectRows(cluster.nodes[i]!, i, v, want.get(v)!)
      return want
    }
    // Given out only once the watermark passes them plus the allowed lateness: nothing yet, anywhere.
    const CLOSED_ONLY = ['level_closed', 'level_over', 'level_streaks', 'all_closed']
    await compare(EVENTS, NAMES.filter((v) => !CLOSED_ONLY.includes(v)))
    for (const node of [single!, ...cluster.nodes]) for (const v of CLOSED_ONLY) expect(await viewRows(node, v), v).toBe('')

    // One event an hour later, in one partition; every partition then goes quiet again.
    const late: Event = { player: 'end', level: 0, score: 0, kind: 'win', ts: BASE + 3_600_000 }
    await kafka.produce(topic, [line(late)], { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    const want = await compare(EVENTS + 1, NAMES)
    // Every minute of every level closed (EMIT ON WINDOW CLOSE shows only those) but the late event's own.
    expect(want.get('level_closed')!.split('\n').length).toBe(want.get('level_minute')!.split('\n').length - 1)
    // OVER rows and matches were given out once the watermark passed them (not an empty comparison).
    expect(want.get('level_over')!.split('\n').length).toBeGreaterThan(EVENTS / 2)
    expect(want.get('level_streaks')!.split('\n').length).toBeGreaterThan(50)

    // The work is spread: the views ran in the task engines over their repartition topics (not in the
    // global task), which took in every event once (their WHERE is the views' own, after the topic).
    for (const v of REPARTITIONED) {
      const rows = cluster.nodes.flatMap((n) => {
        const out = n.psql(`SELECT task, events FROM sluice_tasks WHERE stream = '_sluice_repartition_${v}' AND is_self`, { args: ['-tA'] }).stdout.trim()
        return out === '' ? [] : out.split('\n').map((l) => l.split('|').map(Number) as [number, number])
      })
      expect(new Set(rows.map(([t]) => t)).size, v).toBe(6)
      expect(rows.filter(([, events]) => events > 0).length, v).toBeGreaterThanOrEqual(3)
      expect(rows.reduce((a, [, events]) => a + events, 0), v).toBe(EVENTS + 1)
    }
    // Two-phase views: the tasks took in partial rows (per writer transaction and window), far fewer than events.
    for (const v of PARTIALS) {
      const rows = cluster.nodes.flatMap((n) => n.psql(`SELECT events FROM sluice_tasks WHERE stream = '_sluice_repartition_${v}' AND is_self`, { args: ['-tA'] }).stdout.trim().split('\n').filter((l) => l !== '').map(Number))
      const partials = rows.reduce((a, b) => a + b, 0)
      expect(partials, v).toBeGreaterThan(0)
      expect(partials, v).toBeLessThan(EVENTS / 5)
    }
  }, 300_000)
})
