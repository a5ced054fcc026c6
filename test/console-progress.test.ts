import { describe, expect, it } from 'vitest'
import { formatSeconds, progressOf } from '../console/src/progress.ts'

describe("the overview's catch-up column", () => {
  it('reads sluice_progress rows: fraction, and time left from seconds_left', () => {
    const rows = [
      { query: 'v', stream: 's', status: 'catching up', position: '250', end_offset: '1000', remaining: '750', fraction: '0.25', events_per_second: '5', seconds_left: '150' },
      { query: 'done', stream: 's', status: 'caught up', position: '10', end_offset: '10', remaining: '0', fraction: '1', events_per_second: null, seconds_left: '0' },
      { query: 'new', stream: 's', status: 'catching up', position: '5', end_offset: '10', remaining: '5', fraction: null, events_per_second: null, seconds_left: null },
    ]
    expect(progressOf(rows, 'v')).toEqual({ fraction: 0.25, text: '25 %, 3 min left' })
    expect(progressOf(rows, 'done')).toEqual({ fraction: 1, text: '100 %, caught up' })
    // Without a fraction column or a rate: position against end offset, no estimate.
    expect(progressOf(rows, 'new')).toEqual({ fraction: 0.5, text: '50 %' })
    expect(progressOf(rows, 'other')).toBeNull()
  })

  it('writes seconds, minutes or hours', () => {
    expect(formatSeconds(12.2)).toBe('13 s')
    expect(formatSeconds(600)).toBe('10 min')
    expect(formatSeconds(7200)).toBe('2.0 h')
  })
})
