/** A view's plan as a tree of nodes: printed trees compared as text, each node's children and columns. */
import { beforeAll, describe, expect, it } from 'vitest'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from './catalog.ts'
import { planStream } from './stream-plan.ts'
import { planView, type ViewPlan } from './view-plan.ts'
import { viewPlanTree } from './view-plan-tree.ts'
import { children, findNode, printPlanTree, schema, type StreamPlanNode } from './stream-plan-nodes.ts'
import { planTrigger, triggerPlanTree } from './trigger-plan.ts'
import { planSink, sinkPlanTree } from './sink-plan.ts'

let catalog: Catalog
beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM ev (player_id BIGINT NOT NULL, amount INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'player_id', partitions = 2)`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
  const level = plan('SELECT player_id, max(amount) AS level FROM ev GROUP BY player_id')
  catalog.add({ kind: 'view', id: catalog.allocateId(), name: 'level', columns: level.columns, plan: level, sql: '' })
})

function plan(select: string): ViewPlan {
  return planView(parseStatement(`CREATE MATERIALIZED VIEW v AS ${select}`) as ast.CreateView, catalog)
}
const tree = (select: string): StreamPlanNode => viewPlanTree('v', plan(select))
const text = (select: string): string => printPlanTree(tree(select)).join('\n')

describe('the plan tree of a view', () => {
  it('a windowed aggregation: output, HAVING, aggregate, exchange, WHERE, window, scan', () => {
    expect(text("SELECT player_id, window_start, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1 minute') WHERE amount > 0 GROUP BY player_id, window_start, window_end HAVING count(*) > 1 EMIT ON WINDOW CLOSE")).toBe(
      [
        'MaterializedView v (emit on window close)',
        '->  Project player_id AS player_id, window_start AS window_start, count(*) AS n',
        '  ->  Filter (having) (count(*) > 1)',
        '    ->  KeyedAggregate keys=[player_id, window_start, window_end] aggregates=[count(*)] state=rocksdb(cache)',
        '      ->  Exchange hash(player_id, window_start, window_end) -> key groups',
        '        ->  Filter (amount > 0)',
        '          ->  TumbleWindow time=ts size=00:01:00',
        '            ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
  })

  it('rows kept as they come, joined to a keyed view', () => {
    expect(text('SELECT e.amount, l.level FROM ev e JOIN level l ON l.player_id = e.player_id')).toBe(
      [
        'MaterializedView v (emit on update)',
        '->  Project amount AS amount, level AS level (append)',
        '  ->  LookupJoin inner view=level key=[player_id] (as of each event, after its own update)',
        '    ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
  })

  it('window functions and sessions', () => {
    expect(text('SELECT player_id, sum(amount) OVER (PARTITION BY player_id ORDER BY ts) AS running FROM ev')).toBe(
      [
        'MaterializedView v (emit on update)',
        '->  Project player_id AS player_id, sum(amount) OVER (PARTITION BY player_id ORDER BY ts) AS running (append)',
        '  ->  OverWindow partition=[player_id] order=ts state=rocksdb(cache) (rows wait for the watermark)',
        '    ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
    expect(text("SELECT player_id, count(*) AS n FROM SESSION(ev, ts, INTERVAL '30 seconds', player_id) GROUP BY player_id, window_start, window_end")).toBe(
      [
        'MaterializedView v (emit on update)',
        '->  Project player_id AS player_id, count(*) AS n',
        '  ->  SessionAggregate keys=[player_id, window_start, window_end] aggregates=[count(*)] state=rocksdb(cache)',
        '    ->  Exchange hash(player_id, window_start, window_end) -> key groups',
        '      ->  SessionWindow time=ts gap=00:00:30 key=[player_id] (merging)',
        '        ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
  })

  it('each node has its children and the columns it puts out', () => {
    const root = tree("SELECT player_id, count(*) AS n FROM HOP(ev, ts, INTERVAL '1 minute', INTERVAL '5 minutes') GROUP BY player_id, window_start, window_end EMIT ON WINDOW CLOSE")
    const window = findNode(root, 'window')!
    expect(schema(window)).toEqual(['player_id', 'amount', 'ts', 'window_start', 'window_end'])
    expect(window.slices?.length).toBe(60_000_000)
    expect(schema(findNode(root, 'aggregate')!)).toEqual(['player_id', 'window_start', 'window_end', 'count(*)'])
    expect(schema(root)).toEqual(['player_id', 'n'])
    const scan = findNode(root, 'scan')!
    expect(children(scan)).toEqual([])
    expect(schema(scan)).toEqual(['player_id', 'amount', 'ts'])
    expect(findNode(root, 'lookup_join')).toBeNull()
    // A chain: every node above the scan has exactly one child.
    let depth = 0
    for (let n: StreamPlanNode | undefined = root; n !== undefined; n = children(n)[0]) depth++
    expect(depth).toBe(printPlanTree(root).length)
  })
})

describe('the plan tree of a trigger and of a sink', () => {
  const trigger = (sql: string): StreamPlanNode => triggerPlanTree(planTrigger(parseStatement(sql) as ast.CreateTrigger, catalog, 0, sql))
  const sink = (sql: string): StreamPlanNode => sinkPlanTree(planSink(parseStatement(sql) as ast.CreateSink, catalog, 0, sql), catalog)

  it('a trigger over its query: the payload, WHEN, the lookup join and the scan', () => {
    const root = trigger(
      "CREATE TRIGGER vip AFTER INSERT ON ev AS e JOIN level l ON l.player_id = e.player_id FOR EACH ROW WHEN (l.level > 3) EXECUTE NOTIFY vips, e.player_id::text WITH (cooldown = INTERVAL '1 day', max_fires = 2)",
    )
    expect(printPlanTree(root).join('\n')).toBe(
      [
        'Trigger vip notify channel=vips (key=[player_id], cooldown 1 day, max_fires 2)',
        '->  Project player_id::text::text AS payload (append)',
        '  ->  Filter (level > 3)',
        '    ->  LookupJoin inner view=level key=[player_id] (as of each event, after its own update)',
        '      ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
    expect(schema(root)).toEqual(['payload'])
    expect(children(root)).toHaveLength(1)
  })

  it('a sink over a view (its whole plan) and over a stream (its scan)', () => {
    const overView = sink("CREATE SINK levels_out FROM level INTO KAFKA TOPIC 'levels'")
    expect(printPlanTree(overView).join('\n')).toBe(
      [
        "Sink levels_out into kafka topic=levels (upsert key=[player_id], exactly once; the view's changes at each checkpoint, no operator of its own)",
        '->  MaterializedView level (emit on update)',
        '  ->  Project player_id AS player_id, max(amount) AS level',
        '    ->  KeyedAggregate keys=[player_id] aggregates=[max(amount)] state=rocksdb(cache)',
        '      ->  Exchange hash(player_id) -> key groups',
        '        ->  StreamScan ev (shared, 2 partitions) watermark=ts',
      ].join('\n'),
    )
    expect(schema(overView)).toEqual(['player_id', 'level'])
    const overStream = sink("CREATE SINK ev_out FROM ev INTO KAFKA TOPIC 'ev'")
    expect(printPlanTree(overStream)).toEqual([
      'Sink ev_out into kafka topic=ev (append key=[player_id], exactly once; each event, as its offsets are checkpointed, no operator of its own)',
      '->  StreamScan ev (shared, 2 partitions) watermark=ts',
    ])
    expect(schema(overStream)).toEqual(['player_id', 'amount', 'ts'])
  })
})
