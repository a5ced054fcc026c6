import { describe, expect, it } from 'vitest'
import { Histogram } from '../executor/metrics.ts'
import { Exposition, escapeLabelValue, formatValue } from './prometheus-text.ts'

describe('Prometheus text exposition', () => {
  it('escapes label values and HELP text as version 0.0.4 says', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd')
    const text = new Exposition().family('x_total', 'counter', 'line one\nback\\slash', [{ labels: { query: 'we"ird' }, value: 3 }]).text()
    expect(text).toBe('# HELP x_total line one\\nback\\\\slash\n# TYPE x_total counter\nx_total{query="we\\"ird"} 3\n')
  })

  it('writes special values as +Inf, -Inf and NaN', () => {
    expect([formatValue(Infinity), formatValue(-Infinity), formatValue(NaN), formatValue(0.25), formatValue(1e21)]).toEqual(['+Inf', '-Inf', 'NaN', '0.25', '1e+21'])
  })

  it('writes a histogram as cumulative buckets ending at +Inf, then sum and count', () => {
    const h = new Histogram([0.1, 1])
    for (const v of [0.05, 0.1, 0.5, 3]) h.observe(v)
    const text = new Exposition().histogram('t_seconds', 'Time.', [{ labels: { q: 'v' }, histogram: h }]).text()
    expect(text.split('\n').slice(2, -1)).toEqual([
      't_seconds_bucket{q="v",le="0.1"} 2',
      't_seconds_bucket{q="v",le="1"} 3',
      't_seconds_bucket{q="v",le="+Inf"} 4',
      't_seconds_sum{q="v"} 3.65',
      't_seconds_count{q="v"} 4',
    ])
  })

  it('refuses invalid names and a family written twice', () => {
    expect(() => new Exposition().single('1bad', 'gauge', 'x', 1)).toThrow(/invalid metric name/)
    expect(() => new Exposition().family('ok', 'gauge', 'x', [{ labels: { 'bad-label': 'v' }, value: 1 }])).toThrow(/invalid label name/)
    expect(() => new Exposition().single('ok', 'gauge', 'x', 1).single('ok', 'gauge', 'x', 1)).toThrow(/twice/)
    expect(() => new Histogram([1, 1])).toThrow(/increase/)
  })
})
