import { describe, expect, test } from 'vitest'
import type { TriggerDef } from '../planner/trigger-plan.ts'
import type { Placement } from './placement.ts'
import { placeTriggers, sumTriggerStats } from './outputs.ts'

/** The parts of a trigger that placement reads: its source (a stream or a view), its join and its group. */
function trigger(name: string, on: { stream: string } | { view: string; stream: string }, join: { view: string; asOfEvent: boolean } | null = null, group: string | null = null): TriggerDef {
  const source = 'view' in on ? { name: on.view, source: { kind: 'view', stream: on.stream } } : { name: on.stream, source: { kind: 'kafka', topic: on.stream } }
  return { kind: 'trigger', name, plan: { source, join }, spec: { priorityGroup: group } } as unknown as TriggerDef
}

const views = new Map<string, Placement>([
  ['per_player', 'partitioned'],
  ['per_score', 'repartitioned'],
  ['per_minute', 'global'],
])

describe('where a trigger fires in a cluster', () => {
  test('on a stream, alone or as of each event of a partitioned view: in every task; other joins: the global task', () => {
    const places = placeTriggers(
      [
        trigger('alone', { stream: 'plays' }),
        trigger('profile', { stream: 'plays' }, { view: 'per_player', asOfEvent: true }),
        trigger('current_row', { stream: 'offers' }, { view: 'per_player', asOfEvent: false }),
        trigger('by_score', { stream: 'plays' }, { view: 'per_score', asOfEvent: true }),
        trigger('minutes', { stream: 'plays' }, { view: 'per_minute', asOfEvent: true }),
      ],
      views,
    )
    expect(Object.fromEntries(places)).toEqual({ alone: 'tasks', profile: 'tasks', current_row: 'global', by_score: 'global', minutes: 'global' })
  })

  test('on a view: where its rows are', () => {
    const places = placeTriggers([trigger('a', { view: 'per_player', stream: 'plays' }), trigger('b', { view: 'per_score', stream: 'plays' }), trigger('c', { view: 'per_minute', stream: 'plays' })], views)
    expect(Object.fromEntries(places)).toEqual({ a: 'tasks', b: 'tasks', c: 'global' })
  })

  test('a priority group stays in one engine: globally if one of its triggers must', () => {
    const places = placeTriggers(
      [
        trigger('g1', { stream: 'plays' }, null, 'offers'),
        trigger('g2', { stream: 'plays' }, { view: 'per_minute', asOfEvent: true }, 'offers'),
        trigger('other_group', { stream: 'plays' }, null, 'other'),
        trigger('same_name_other_stream', { stream: 'offers' }, null, 'offers'),
      ],
      views,
    )
    expect(Object.fromEntries(places)).toEqual({ g1: 'global', g2: 'global', other_group: 'tasks', same_name_other_stream: 'tasks' })
  })

  test("sluice_triggers sums the tasks' counters, keeps the latest firing and the first status that is not running", () => {
    const row = (status: string, error: string | null, fires: number, last: number | null) => [status, error, fires, fires, 0, 0, 0, 0, 0, 0, 0, 0, last]
    const sum = sumTriggerStats([row('running', null, 3, 10), row('failed', 'XX000: boom', 2, 30), row('running', null, 0, null)])
    expect(sum.counters.fires).toBe(5)
    expect(sum.counters.delivered).toBe(5)
    expect(sum.counters.last_fire).toBe(30)
    expect(sum.status).toBe('failed')
    expect(sum.lastError).toBe('XX000: boom')
  })
})
