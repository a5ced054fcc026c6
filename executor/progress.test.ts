import { describe, expect, it } from 'vitest'
import { ProgressSampler, progressRow } from './progress.ts'

const at = (positions: number[], ends: number[]) => ({ query: 'v', stream: 's', positions, ends })

describe('progress', () => {
  it('measures the rate between samples and forgets it when the position goes back', () => {
    const s = new ProgressSampler()
    expect(s.rate('v', 0, 0)).toBeNull()
    expect(s.rate('v', 500, 1000)).toBe(500)
    expect(s.rate('v', 1500, 2000)).toBe(750)
    // Samples older than the window are dropped (all but the last two are kept at least).
    expect(s.rate('v', 11_500, 12_000)).toBeCloseTo(1000, 0)
    expect(s.rate('v', 10, 12_500)).toBeNull()
  })

  it('gives position, end, fraction and seconds left', () => {
    const s = new ProgressSampler()
    // Offsets past a partition's end (an end not yet refreshed) count up to the end only.
    const first = progressRow(at([100, 300], [400, 200]), 'running', s, 0)
    expect(first).toMatchObject({ position: 300, end: 600, fraction: 0.5, rate: null, secondsLeft: null })
    // With no samples yet, the fallback rate is used.
    expect(progressRow(at([100, 300], [400, 200]), 'running', new ProgressSampler(), 150).secondsLeft).toBe(2)
    expect(progressRow(at([0], [0]), 'running', s, 0)).toMatchObject({ fraction: 1, secondsLeft: 0 })
  })
})
