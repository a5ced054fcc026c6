import { describe, expect, test } from 'vitest'
import type { SinkDef } from '../planner/sink-plan.ts'
import type { SluiceError } from '../common/errors.ts'
import type { Placement } from './placement.ts'
import { placeSink, sinkRefusal, sinkTag, sumSinkStats } from './sinks.ts'

/** The parts of a sink that placement, refusal and tags read. */
const sink = (name: string, from: string, kind: 'kafka' | 'postgres' | 'mysql' | 'files' = 'kafka', id = 7): SinkDef => ({ kind: 'sink', name, from, id, target: { kind, topic: 'out' } }) as unknown as SinkDef

const catalog = { catalog: { get: (n: string) => (n === 'plays' ? { kind: 'stream' } : { kind: 'view' }) } } as unknown as Parameters<typeof placeSink>[1]
const views = new Map<string, Placement>([
  ['per_player', 'partitioned'],
  ['per_score', 'repartitioned'],
  ['per_minute', 'global'],
])
const span = { start: 0, end: 10 }

describe('sinks in a cluster', () => {
  test('a stream or a partitioned or repartitioned view: every task; a global view: the global task', () => {
    expect(['plays', 'per_player', 'per_score', 'per_minute'].map((v) => placeSink(sink('s', v), catalog, views))).toEqual(['tasks', 'tasks', 'tasks', 'global'])
  })

  test('the tag is per cluster, sink, task and the sink id of the task', () => {
    expect(sinkTag('c1', 3, sink('out', 'plays'))).toBe('c1-out-3-7')
    expect(sinkTag('c1', -1, sink('out', 'plays'))).toBe('c1-out-global-7')
    expect(sinkTag('c1', 3, sink('out', 'plays', 'kafka', 9))).not.toBe(sinkTag('c1', 3, sink('out', 'plays')))
  })

  test('sinks into Kafka, PostgreSQL and MySQL run with changelogs; without, and into files, they are refused with 0A000 and the reason', () => {
    for (const k of ['kafka', 'postgres', 'mysql'] as const) expect(sinkRefusal(sink('s', 'plays', k), true, span), k).toBeNull()
    const refusals = [...(['kafka', 'postgres', 'mysql'] as const).map((k) => sinkRefusal(sink('s', 'plays', k), false, span)), sinkRefusal(sink('s', 'plays', 'files'), true, span)]
    expect(refusals.map((e) => (e as SluiceError).sqlstate)).toEqual(['0A000', '0A000', '0A000', '0A000'])
    expect(refusals.map((e) => e!.message)).toEqual([expect.stringMatching(/--no-changelog/), expect.stringMatching(/--no-changelog/), expect.stringMatching(/--no-changelog/), expect.stringMatching(/INTO FILES .*own files directory/)])
  })

  test("a sink's counters over its tasks: summed, the largest lag, the first status and error that are not running", () => {
    const rows = [
      ['running', null, 10, 2, 0, 0, 0],
      ['retrying', '08006: down', 5, 1, 3, 900, 1],
      ['missing', null, 0, 0, 0, 0, 0],
    ]
    expect(sumSinkStats(rows)).toEqual({ status: 'retrying', lastError: '08006: down', recordsOut: 15, batchesDelivered: 3, pendingBatches: 3, lagMs: 900, deadLetters: 1 })
    expect(sumSinkStats([]).status).toBe('running')
  })
})
