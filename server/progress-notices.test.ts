import { describe, expect, it } from 'vitest'
import { checkProgressSetting, formatDuration, progressMessage } from './progress-notices.ts'

describe('progress notices', () => {
  it('says how far a view is, with thousands separators and the time left', () => {
    expect(progressMessage('x', 1_200_000, 5_000_000, 316_667)).toBe('view x: 1,200,000 of 5,000,000 events (24 %), about 12 s left')
    expect(progressMessage('x', 10, 100, null)).toBe('view x: 10 of 100 events (10 %), time left not known yet')
    expect(progressMessage('x', 5, 5, null)).toBe('view x: 5 of 5 events (100 %), caught up')
    expect(progressMessage('x', 0, 0, null)).toBe('view x: 0 of 0 events (100 %), caught up')
  })

  it('writes durations in seconds, minutes and hours', () => {
    expect([formatDuration(0.2), formatDuration(59.4), formatDuration(200), formatDuration(3600), formatDuration(3900)]).toEqual(['1 s', '59 s', '3 min 20 s', '1 h', '1 h 5 min'])
  })

  it('takes the boolean spellings PostgreSQL takes', () => {
    expect(['on', 'TRUE', ' yes ', '1'].map(checkProgressSetting)).toEqual(['on', 'on', 'on', 'on'])
    expect(['off', 'false', 'no', '0'].map(checkProgressSetting)).toEqual(['off', 'off', 'off', 'off'])
    expect(() => checkProgressSetting('maybe')).toThrow(/requires a Boolean value/)
  })
})
