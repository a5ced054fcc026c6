/**
 * Interval joins of two streams: which ON (and WHERE) conditions give the keys and the time bound, the
 * EXPLAIN line, and the errors (SQLSTATE and position) for joins whose state would grow without end.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { SluiceError } from '../common/errors.ts'
import { Catalog } from './catalog.ts'
import { planStream } from './stream-plan.ts'
import { planView, type ViewPlan } from './view-plan.ts'
import { viewPlanTree } from './view-plan-tree.ts'
import { printPlanTree } from './stream-plan-nodes.ts'
import { planTrigger } from './trigger-plan.ts'

const MIN = 60_000_000
let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  for (const sql of [
    `CREATE STREAM offers (player_id INT, offer TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (partitions = 2)`,
    `CREATE STREAM purchases (player_id INT, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 3, allowed_lateness = INTERVAL '1 minute')`,
    `CREATE STREAM clicks (player_id INT, ts TIMESTAMPTZ NOT NULL)`,
  ]) {
    catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  }
})

const create = (select: string) => `CREATE MATERIALIZED VIEW v AS ${select}`
const plan = (select: string): ViewPlan => planView(parseStatement(create(select)) as ast.CreateView, catalog)
const bound = (on: string) => {
  const j = plan(`SELECT o.offer, p.amount FROM offers o JOIN purchases p ON ${on}`).intervalJoin!
  return [j.bound.lower / MIN, j.bound.upper / MIN, j.bound.lowerStrict, j.bound.upperStrict]
}
/** The error planning `select` gives: its SQLSTATE, message, and the SQL text at its position. */
function refusal(select: string): { code: string; message: string; at: string; hint: string | undefined } {
  const sql = create(select)
  try {
    planView(parseStatement(sql) as ast.CreateView, catalog)
  } catch (e) {
    const err = e as SluiceError
    return { code: err.sqlstate, message: err.message, at: err.span === undefined ? '' : sql.slice(err.span.start, err.span.start + 20), hint: err.hint }
  }
  throw new Error('planned without an error')
}

describe('interval join planning', () => {
  it('takes the bound from BETWEEN on either side, and from pairs of comparisons with intervals added or subtracted', () => {
    expect(bound("p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'")).toEqual([0, 30, false, false])
    // The other form: the left time between the right's, which is the same range of p.ts - o.ts turned round.
    expect(bound("p.player_id = o.player_id AND o.ts BETWEEN p.ts - INTERVAL '10 minutes' AND p.ts + INTERVAL '5 minutes'")).toEqual([-5, 10, false, false])
    expect(bound("o.player_id = p.player_id AND p.ts >= o.ts - INTERVAL '2 minutes' AND p.ts < o.ts + INTERVAL '1 hour'")).toEqual([-2, 60, false, true])
    expect(bound("p.player_id = o.player_id AND o.ts < p.ts AND o.ts + INTERVAL '15 minutes' >= p.ts")).toEqual([0, 15, true, false])
    expect(bound("p.player_id = o.player_id AND p.ts <= INTERVAL '3 minutes' + o.ts AND p.ts - INTERVAL '1 minute' > o.ts")).toEqual([1, 3, true, false])
    // Two upper bounds: the tighter one counts.
    expect(bound("p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes' AND p.ts <= o.ts + INTERVAL '20 minutes'")).toEqual([0, 20, false, false])
  })

  it('keys from ON, USING or WHERE; other conditions are tested on the joined row', () => {
    const on = plan("SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.amount > 5 AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '1 minute'").intervalJoin!
    expect([on.leftKeys, on.rightKeys, on.residual !== null]).toEqual([[0], [0], true])
    const using = plan("SELECT offer FROM offers o JOIN purchases p USING (player_id) WHERE p.ts BETWEEN o.ts AND o.ts + INTERVAL '1 minute'").intervalJoin!
    expect([using.leftKeys, using.rightKeys, using.residual, using.bound.upper]).toEqual([[0], [0], null, MIN])
  })

  it('EXPLAIN shows the keys, the bound and when each side leaves state (the bound plus the other stream\'s allowed lateness)', () => {
    const p = plan("SELECT o.player_id, o.offer, p.amount, p.ts FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts - INTERVAL '1 minute' AND o.ts + INTERVAL '30 minutes' WHERE p.amount > 1")
    expect(printPlanTree(viewPlanTree('attributed', p))).toEqual([
      'MaterializedView attributed (emit on update)',
      '->  Project o.player_id AS player_id, o.offer AS offer, p.amount AS amount, p.ts AS ts (append)',
      '  ->  Filter (p.amount > 1)',
      '    ->  IntervalJoin inner key=[o.player_id = p.player_id] p.ts BETWEEN o.ts - 00:01:00 AND o.ts + 00:30:00 state=rocksdb (offers rows until the watermark passes o.ts + 00:31:00, purchases rows until it passes p.ts + 00:01:00)',
      "      ->  StreamScan offers (shared, 2 partitions) watermark=ts - INTERVAL '5 seconds'",
      '      ->  StreamScan purchases (shared, 3 partitions) watermark=ts',
    ])
    // Its rows' time for views over it: p.ts, held back by how far before the later row the earlier may be.
    expect([p.source.partitions, p.source.watermark?.sql, p.source.allowedLateness / MIN]).toEqual([5, 'ts', 1])
  })

  it('outer joins: the padded side\'s time is not the rows\' time, and EXPLAIN says when unmatched rows come', () => {
    const p = plan("SELECT o.offer, o.ts, p.amount FROM offers o LEFT JOIN purchases p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'")
    expect(p.intervalJoin!.type).toBe('left')
    expect(p.source.watermark?.sql).toBe('ts')
    expect(printPlanTree(viewPlanTree('v', p))[2]).toBe(
      '  ->  IntervalJoin left outer key=[o.player_id = p.player_id] p.ts BETWEEN o.ts + 00:00:00 AND o.ts + 00:30:00 state=rocksdb (offers rows until the watermark passes o.ts + 00:31:00, then put out with NULLs if unmatched, purchases rows until it passes p.ts + 00:00:00)',
    )
    const full = plan("SELECT o.ts, p.ts AS bought FROM offers o FULL JOIN purchases p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'")
    expect(full.source.watermark).toBeNull()
  })

  it('a GROUP BY over the join in one view: the aggregate over the join, with the WHERE the join tests', () => {
    const p = plan("SELECT o.offer, count(*) AS n, sum(p.amount) AS revenue FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes' WHERE p.amount > 0 GROUP BY o.offer HAVING count(*) > 1")
    expect(printPlanTree(viewPlanTree('per_offer', p)).map((l) => l.replace(/ state=rocksdb \(offers.*\)$/, ''))).toEqual([
      'MaterializedView per_offer (emit on update)',
      '->  Project o.offer AS offer, count(*) AS n, sum(p.amount) AS revenue',
      '  ->  Filter (having) (count(*) > 1)',
      '    ->  KeyedAggregate keys=[o.offer] aggregates=[count(*), sum(p.amount)] state=rocksdb(cache)',
      '      ->  Exchange hash(o.offer) -> key groups',
      '        ->  Filter (p.amount > 0)',
      "          ->  IntervalJoin inner key=[o.player_id = p.player_id] p.ts BETWEEN o.ts + 00:00:00 AND o.ts + 00:30:00",
      "            ->  StreamScan offers (shared, 2 partitions) watermark=ts - INTERVAL '5 seconds'",
      '            ->  StreamScan purchases (shared, 3 partitions) watermark=ts',
    ])
    expect(p.source.watermark).toBeNull()
  })

  it('refuses a join without a time bound on both sides, pointing at the condition (0A000)', () => {
    const none = refusal('SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.player_id')
    expect(none.code).toBe('0A000')
    expect(none.message).toContain('needs a time bound on their event times')
    expect(none.at).toBe('p.player_id = o.play')
    expect(none.hint).toContain("BETWEEN offers.ts AND offers.ts + INTERVAL '30 minutes'")
    expect(refusal('SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.ts >= o.ts').message).toContain('needs an upper time bound')
    expect(refusal("SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.ts < o.ts + INTERVAL '1 minute'").message).toContain('needs a lower time bound')
    expect(refusal('SELECT o.offer FROM offers o JOIN purchases p USING (player_id)').code).toBe('0A000')
    // A bound on columns other than the event times bounds nothing.
    expect(refusal("SELECT o.offer FROM offers o JOIN purchases p ON p.amount BETWEEN o.player_id AND o.player_id + 3").code).toBe('0A000')
  })

  it('refuses what it does not do, saying so', () => {
    const on = "ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '1 minute'"
    expect(refusal(`SELECT o.offer FROM offers o CROSS JOIN purchases p`)).toMatchObject({ code: '0A000', at: 'offers o CROSS JOIN ' })
    expect(refusal(`SELECT o.offer, window_start, count(*) FROM TUMBLE(offers, ts, INTERVAL '1 minute') o JOIN purchases p ${on} GROUP BY o.offer, window_start`).code).toBe('0A000')
    expect(refusal(`SELECT o.offer, sum(p.amount) OVER (PARTITION BY o.offer ORDER BY p.ts) FROM offers o JOIN purchases p ${on}`)).toMatchObject({ code: '0A000', message: expect.stringContaining('window functions over an interval join') })
    expect(refusal(`SELECT o.offer FROM offers o JOIN clicks c ON c.player_id = o.player_id`)).toMatchObject({ code: '55000', message: expect.stringContaining('event time of stream clicks') })
    expect(refusal(`SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.player_id AND p.ts BETWEEN o.ts + INTERVAL '2 minutes' AND o.ts + INTERVAL '1 minute'`).code).toBe('22023')
    expect(refusal(`SELECT o.offer FROM offers o JOIN purchases p ON p.player_id = o.offer AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '1 minute'`).code).toBe('42804')
    const trigger = `CREATE TRIGGER t AFTER INSERT ON offers o JOIN purchases p ${on} FOR EACH ROW EXECUTE NOTIFY ch, 'x'`
    expect(() => planTrigger(parseStatement(trigger) as ast.CreateTrigger, catalog, 1, trigger)).toThrow(/trigger on an interval join/)
  })
})
