/**
 * The workloads of the Sluice-vs-Flink benchmark in Sluice's dialect: per workload, the input file, the
 * stream it is read into, the views, and the view whose rows are the answer (in the output columns the
 * Flink driver's query has, so that the two answers compare cell by cell).
 *
 * The game workloads are the files of queries/ as they are. The Nexmark ones are the Nexmark benchmark's
 * queries over the flat stream of person, auction and bid events; where the Nexmark query joins two
 * aggregations (q7, q8), Sluice computes the same answer with one windowed aggregation:
 *   q7  the highest bid per 10-second window: max_by(column, price) picks the bid's columns.
 *   q8  persons who registered and opened an auction in the same window: grouped by the person id
 *       (p_id of a person event, a_seller of an auction event), kept when both kinds were counted.
 *   q11 bids per bidder per session: Flink merges two sessions whose events are exactly the gap apart
 *       (its windows [ts, ts + gap) merge when they touch), Sluice only when they are less than the gap
 *       apart; a gap of 10.001 s in Sluice joins exactly the same events (timestamps are whole ms), and
 *       its window_end is then 1 ms later than Flink's, so the view shows window_end - 1 ms.
 *   q5  the auctions with the most bids in each sliding window: Flink's query joins the bid counts to their
 *       maximum per window; Sluice chains views: the counts (EMIT ON WINDOW CLOSE), the maximum per window
 *       beside each count (a window function over them), and the counts that reach it.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GAME_FILE, NEXMARK_FILE } from './generate.ts'

export interface Workload {
  readonly name: string
  /** The input file, in the data directory. */
  readonly file: string
  /** The stream the file is inserted into. */
  readonly stream: string
  /** CREATE STREAM and CREATE MATERIALIZED VIEW statements, in order. */
  readonly sql: string
  /** The view whose rows are the result. */
  readonly result: string
}

const QUERIES = join(import.meta.dirname, '..', '..', 'queries')
const queryFile = (name: string): string => readFileSync(join(QUERIES, `${name}.sql`), 'utf8')

/**
 * The game_events stream as queries/game_ends_per_minute.sql declares it (the views of the other files read
 * it). ts arrives as epoch milliseconds: Sluice's JSON decoding reads a number as milliseconds since the
 * epoch for a TIMESTAMPTZ column, so the stream keeps the TIMESTAMPTZ column of the example.
 */
function gameStream(): string {
  const text = queryFile('game_ends_per_minute')
  const m = /CREATE STREAM[\s\S]*?\);/i.exec(text)
  if (m === null) throw new Error('queries/game_ends_per_minute.sql has no CREATE STREAM')
  return m[0]
}

/**
 * The views of a queries/ file (for game_ends_per_minute.sql, those after its stream). revenue_per_level:
 * player_level has a row, with a NULL level, for a player who has not started a game yet; the contract
 * drops such transactions (as Flink's inner temporal join against the game starts does), so the view
 * keeps only transactions whose level is known.
 */
function gameViews(name: string): string {
  const text = queryFile(name)
  if (name === 'game_ends_per_minute') return text.slice(text.search(/CREATE MATERIALIZED VIEW/i))
  if (name !== 'revenue_per_level') return text
  const where = "WHERE e.type = 'transaction'"
  if (!text.includes(where)) throw new Error(`queries/revenue_per_level.sql no longer has "${where}"`)
  return text.replace(where, `${where} AND p.level IS NOT NULL`)
}

/** The flat Nexmark stream of the contract; ts is the event time with Nexmark's 4-second watermark delay. */
const NEXMARK_STREAM = `CREATE STREAM nexmark (
  event_type INT NOT NULL,
  p_id BIGINT, p_name TEXT, p_email TEXT, p_credit_card TEXT, p_city TEXT, p_state TEXT,
  a_id BIGINT, a_item_name TEXT, a_description TEXT, a_initial_bid BIGINT, a_reserve BIGINT, a_expires BIGINT,
  a_seller BIGINT, a_category BIGINT,
  b_auction BIGINT, b_bidder BIGINT, b_price BIGINT, b_channel TEXT, b_url TEXT,
  ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '4 seconds'
) WITH (partitions = 1);`

/** Views a workload's view reads (views over views), created before it, in order. */
const NEXMARK_HELPERS: Record<string, readonly string[]> = {
  nexmark_q5: [
    `CREATE MATERIALIZED VIEW q5_bids AS SELECT b_auction AS auction, count(*) AS num, window_start AS starttime, window_end AS endtime
      FROM HOP(nexmark, ts, INTERVAL '2 seconds', INTERVAL '10 seconds') WHERE event_type = 2
      GROUP BY b_auction, window_start, window_end EMIT ON WINDOW CLOSE;`,
    `CREATE MATERIALIZED VIEW q5_ranked AS SELECT auction, num, starttime, endtime,
      max(num) OVER (PARTITION BY starttime ORDER BY endtime) AS maxn FROM q5_bids;`,
  ],
}

const NEXMARK_VIEWS: Record<string, string> = {
  nexmark_q0: `SELECT b_auction AS auction, b_bidder AS bidder, b_price AS price, ts AS "dateTime"
    FROM nexmark WHERE event_type = 2`,
  nexmark_q1: `SELECT b_auction AS auction, b_bidder AS bidder, b_price * 0.908 AS price, ts AS "dateTime"
    FROM nexmark WHERE event_type = 2`,
  nexmark_q2: `SELECT b_auction AS auction, b_price AS price FROM nexmark WHERE event_type = 2 AND b_auction % 123 = 0`,
  nexmark_q5: `SELECT auction, num FROM q5_ranked WHERE num >= maxn`,
  nexmark_q7: `SELECT max_by(b_auction, b_price) AS auction, max(b_price) AS price, max_by(b_bidder, b_price) AS bidder,
      max_by(ts, b_price) AS "dateTime"
    FROM TUMBLE(nexmark, ts, INTERVAL '10 seconds') WHERE event_type = 2
    GROUP BY window_start, window_end`,
  nexmark_q8: `SELECT coalesce(p_id, a_seller) AS id, max(p_name) FILTER (WHERE event_type = 0) AS name, window_start AS starttime
    FROM TUMBLE(nexmark, ts, INTERVAL '10 seconds') WHERE event_type IN (0, 1)
    GROUP BY window_start, window_end, coalesce(p_id, a_seller)
    HAVING count(*) FILTER (WHERE event_type = 0) > 0 AND count(*) FILTER (WHERE event_type = 1) > 0`,
  nexmark_q11: `SELECT b_bidder AS bidder, count(*) AS bid_count, window_start AS starttime,
      window_end - INTERVAL '1 millisecond' AS endtime
    FROM SESSION(nexmark, ts, INTERVAL '10.001 seconds', b_bidder) WHERE event_type = 2
    GROUP BY b_bidder, window_start, window_end`,
}

const GAME_WORKLOADS = ['game_ends_per_minute', 'revenue_per_level', 'player_profile', 'losing_streak'] as const

/** Every workload, in the contract's order. */
export const WORKLOAD_NAMES: readonly string[] = [...GAME_WORKLOADS, 'nexmark_q0', 'nexmark_q1', 'nexmark_q2', 'nexmark_q5', 'nexmark_q7', 'nexmark_q8', 'nexmark_q11']

/** The workload called `name`; throws for an unknown name. */
export function workload(name: string): Workload {
  if ((GAME_WORKLOADS as readonly string[]).includes(name)) {
    return { name, file: GAME_FILE, stream: 'game_events', sql: `${gameStream()}\n${gameViews(name)}`, result: name }
  }
  const view = NEXMARK_VIEWS[name]
  if (view !== undefined) {
    const helpers = (NEXMARK_HELPERS[name] ?? []).join('\n')
    return { name, file: NEXMARK_FILE, stream: 'nexmark', sql: `${NEXMARK_STREAM}\n${helpers}\nCREATE MATERIALIZED VIEW ${name} AS ${view};`, result: name }
  }
  throw new Error(`unknown workload ${name}; one of ${WORKLOAD_NAMES.join(', ')}`)
}
