/**
 * Interval joins of two streams in cluster mode (docs/cluster-repartitioning.md, "Joins"; cluster/joins.ts):
 * two real nodes on a real broker, two 6-partition streams keyed by player, and a single-process Sluice
 * reading the same topics as the oracle.
 *
 * - Joined on the streams' keys (`b.player = p.player`), a join and a GROUP BY player over it run in every
 *   task engine over partition p of both streams (partitioned), no repartition topic; so does a lookup of
 *   the other stream's per-player view by player (its current row: the buys are all in before the plays).
 * - Joined on another column (`b.level = p.level`), an inner join, a GROUP BY level over it and a LEFT join
 *   run in every task engine over two repartition topics, one per stream, each keyed by its side of the
 *   join key; the join's watermark is the least of both streams' carried ones, so the LEFT join's unmatched
 *   rows come out once both streams' watermarks pass them, as in one process.
 *
 * Every view on each node equals the single process row for row: once every partition went quiet, and
 * again after one late event in each stream an hour later (every LEFT join row is then out, matched or
 * not). The task engines took in every event of both streams once over the repartition topics.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startClusterWithOracle, stopClusterWithOracle, type ClusterWithOracle, type TestCluster } from './helpers/cluster.ts'
import type { KafkaBroker } from './helpers/kafka.ts'
import { eventually, type SluiceProcess } from './helpers/sluice-process.ts'
import { expectRows, settledRows, viewRows } from './helpers/cluster-plays.ts'

const BASE = Date.UTC(2026, 0, 1)
const PLAYS = 3000
const BUYS = 900
const PLAYERS = 150
const LEVELS = 12

const at = (ms: number) => new Date(BASE + ms).toISOString()
const play = (i: number) => {
  const player = `p${(i * 7919) % PLAYERS}`
  return `${player}\t${JSON.stringify({ player, level: (i * 37) % LEVELS, score: (i * 31) % 97, ts: at(i * 50) })}`
}
// Buys spread over the same span, a few milliseconds off the plays' grid.
const buy = (i: number) => {
  const player = `p${(i * 104_729) % PLAYERS}`
  return `${player}\t${JSON.stringify({ player, level: (i * 5) % LEVELS, amount: 1 + ((i * 13) % 50), ts: at(i * 166 + 7) })}`
}

/** Beyond the events' span: which events are late must not depend on reading order (see cluster-windows.test.ts). */
const LATENESS = `allowed_lateness = '600 seconds'`
const PLAY_COLUMNS = `player TEXT NOT NULL, level INT, score INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`
const BUY_COLUMNS = `player TEXT NOT NULL, level INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`

const VIEWS = {
  plays_per_player: 'SELECT player, count(*) AS n FROM plays GROUP BY player',
  buys_per_player: 'SELECT player, count(*) AS n FROM buys GROUP BY player',
  // On the streams' keys: partitioned.
  play_buys: `SELECT p.player, p.ts AS play_ts, b.ts AS buy_ts, b.amount FROM plays p JOIN buys b ON b.player = p.player AND b.ts BETWEEN p.ts AND p.ts + INTERVAL '20 seconds'`,
  spend_after_play: `SELECT p.player, count(*) AS n, sum(b.amount) AS spent FROM plays p JOIN buys b ON b.player = p.player AND b.ts BETWEEN p.ts AND p.ts + INTERVAL '20 seconds' GROUP BY p.player`,
  // On another column: both streams repartitioned by level.
  level_buys: `SELECT p.level, p.player, b.player AS buyer, p.ts AS play_ts, b.amount FROM plays p JOIN buys b ON b.level = p.level AND b.ts BETWEEN p.ts AND p.ts + INTERVAL '1 second'`,
  level_spend: `SELECT b.level, count(*) AS n, sum(b.amount) AS spent, min(p.score) AS low FROM plays p JOIN buys b ON b.level = p.level AND b.ts BETWEEN p.ts AND p.ts + INTERVAL '1 second' GROUP BY b.level`,
  level_misses: `SELECT p.player, p.level, p.ts, b.amount FROM plays p LEFT JOIN buys b ON b.level = p.level AND b.ts BETWEEN p.ts AND p.ts + INTERVAL '300 milliseconds'`,
  // A lookup of the other stream's per-player view (its current row), by the streams' key: partitioned.
  buyers: 'SELECT player, count(*) AS buys, sum(amount) AS spent FROM buys GROUP BY player',
  plays_with_spend: `SELECT p.player, p.ts, p.score, b.spent FROM plays p LEFT JOIN buyers b ON b.player = p.player WHERE p.player <> 'end'`,
}
const NAMES = Object.keys(VIEWS)
const PARTITIONED = ['play_buys', 'spend_after_play', 'plays_with_spend']
const REPARTITIONED = ['level_buys', 'level_spend', 'level_misses']

describe('cluster mode: interval joins on the streams\' keys and on other columns', () => {
  let run: ClusterWithOracle | undefined
  let kafka: KafkaBroker
  let cluster: TestCluster
  let single: SluiceProcess | undefined
  const suffix = Date.now().toString(36)
  const topics = { plays: `jplays_${suffix}`, buys: `jbuys_${suffix}` }
  beforeAll(async () => {
    run = await startClusterWithOracle(2)
    ;({ kafka, cluster, single } = run)
  }, 240_000)
  afterAll(() => stopClusterWithOracle(run), 120_000)

  test('every view on each node equals the single process; repartitioned joins read both streams once', async () => {
    const [n0, n1] = cluster.nodes as [SluiceProcess, SluiceProcess]
    for (const [stream, columns] of [['plays', PLAY_COLUMNS], ['buys', BUY_COLUMNS]] as const) {
      n0.psql(`CREATE STREAM ${stream} (${columns}) WITH (key = 'player', partitions = 6, topic = '${topics[stream]}', ${LATENESS})`)
      single!.psql(`CREATE STREAM ${stream} (${columns}) WITH (connector = 'kafka', topic = '${topics[stream]}', key = 'player', ${LATENESS})`)
    }
    // Created on either node; the single process has them all.
    NAMES.forEach((name, i) => {
      const select = VIEWS[name as keyof typeof VIEWS]
      ;(i % 2 === 0 ? n0 : n1).psql(`CREATE MATERIALIZED VIEW ${name} AS ${select}`)
      single!.psql(`CREATE MATERIALIZED VIEW ${name} AS ${select}`)
    })
    await eventually(
      async () => n0.psql(`SELECT count(DISTINCT owner), count(*) FROM sluice_tasks WHERE stream = 'plays' AND owner IS NOT NULL`, { args: ['-tA'] }).stdout.trim(),
      (o) => o === '2|6',
      90_000,
    )

    const keyed = { keyed: true, args: ['-X', 'partitioner=murmur2_random'] }
    const total = async (node: SluiceProcess, view: string) => (await viewRows(node, view)).split('\n').reduce((a, l) => a + (l === '' ? 0 : Number(l.split('|')[1])), 0)
    // The buys first, taken in everywhere: the lookup of buyers' current rows then sees the same rows in each.
    await kafka.produce(topics.buys, Array.from({ length: BUYS }, (_, i) => buy(i)), keyed)
    for (const node of [single!, n0, n1]) await eventually(() => total(node, 'buys_per_player'), (n) => n === BUYS, 120_000)
    await kafka.produce(topics.plays, Array.from({ length: PLAYS }, (_, i) => play(i)), keyed)
    const compare = async (plays: number, buys: number, views: readonly string[]) => {
      await eventually(async () => [await total(single!, 'plays_per_player'), await total(single!, 'buys_per_player')].join(), (o) => o === `${plays},${buys}`, 120_000)
      const want = await settledRows(single!, views)
      for (let i = 0; i < cluster.nodes.length; i++) for (const v of views) await expectRows(cluster.nodes[i]!, i, v, want.get(v)!)
      return want
    }
    const first = await compare(PLAYS, BUYS, NAMES)
    for (const v of ['play_buys', 'level_buys', 'level_spend']) expect(first.get(v)!.split('\n').length, v).toBeGreaterThan(v === 'level_spend' ? LEVELS - 1 : 200)
    // Every play looked up its player's spend (a few players never bought: NULL).
    const spend = first.get('plays_with_spend')!.split('\n')
    expect(spend.length).toBe(PLAYS)
    expect(spend.filter((l) => !l.endsWith('|null')).length).toBeGreaterThan(PLAYS / 2)

    // One late event in each stream, an hour on: both streams' watermarks pass every LEFT join row.
    await kafka.produce(topics.plays, [`end\t${JSON.stringify({ player: 'end', level: 0, score: 0, ts: at(3_600_000) })}`], keyed)
    await kafka.produce(topics.buys, [`end\t${JSON.stringify({ player: 'end', level: 1, amount: 1, ts: at(3_600_000) })}`], keyed)
    const want = await compare(PLAYS + 1, BUYS + 1, NAMES)
    // Every play is out of the LEFT join now, once per match or once unmatched (NULL amount), and some were unmatched.
    const misses = want.get('level_misses')!.split('\n')
    expect(new Set(misses.map((l) => l.split('|').slice(0, 3).join('|'))).size).toBe(PLAYS)
    expect(misses.filter((l) => l.endsWith('|null')).length).toBeGreaterThan(100)

    // Joins on the keys read the streams themselves: no internal stream. Joins on level read two, whose
    // tasks (on both nodes) took in every event of both streams once: a join's count covers both.
    for (const v of PARTITIONED) expect(n0.psql(`SELECT count(*) FROM sluice_tasks WHERE stream LIKE '_sluice_repartition_${v}%'`, { args: ['-tA'] }).stdout.trim(), v).toBe('0')
    for (const v of REPARTITIONED) {
      for (const side of ['', '/right']) {
        const rows = cluster.nodes.flatMap((n) => {
          const out = n.psql(`SELECT task, events FROM sluice_tasks WHERE stream = '_sluice_repartition_${v}${side}' AND is_self`, { args: ['-tA'] }).stdout.trim()
          return out === '' ? [] : out.split('\n').map((l) => l.split('|').map(Number) as [number, number])
        })
        expect(new Set(rows.map(([t]) => t)).size, `${v}${side}`).toBe(6)
        expect(rows.filter(([, events]) => events > 0).length, `${v}${side}`).toBeGreaterThanOrEqual(3)
        expect(rows.reduce((a, [, events]) => a + events, 0), `${v}${side}`).toBe(PLAYS + BUYS + 2)
      }
    }
  }, 400_000)
})
