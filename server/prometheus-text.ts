/**
 * The Prometheus text exposition format, version 0.0.4: one `# HELP` and one `# TYPE` line per metric
 * family, then its samples as `name{label="value",...} number`. Label values escape backslash, double
 * quote and newline; HELP text escapes backslash and newline. A histogram is written as cumulative
 * `_bucket{le="..."}` samples ending with `le="+Inf"`, then `_sum` and `_count`.
 */
import type { Histogram } from '../executor/metrics.ts'

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export type Labels = Readonly<Record<string, string>>

export interface Sample {
  readonly labels: Labels
  readonly value: number
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

export const escapeLabelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** A sample value as the format spells it: Go's float syntax, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

function labelText(labels: Labels): string {
  const names = Object.keys(labels)
  if (names.length === 0) return ''
  return `{${names.map((n) => {
    if (!LABEL_NAME.test(n) || n.startsWith('__')) throw new Error(`invalid label name ${n}`)
    return `${n}="${escapeLabelValue(labels[n]!)}"`
  }).join(',')}}`
}

/** Collects metric families into one exposition; each family name once. */
export class Exposition {
  private readonly lines: string[] = []
  private readonly names = new Set<string>()

  private header(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`)
    if (this.names.has(name)) throw new Error(`metric ${name} written twice`)
    this.names.add(name)
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
  }

  /** A counter (its name should end in `_total`) or a gauge, with its samples. */
  family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly Sample[]): this {
    this.header(name, type, help)
    for (const s of samples) this.lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`)
    return this
  }

  /** One sample without labels. */
  single(name: string, type: 'counter' | 'gauge', help: string, value: number): this {
    return this.family(name, type, help, [{ labels: {}, value }])
  }

  histogram(name: string, help: string, series: readonly { readonly labels: Labels; readonly histogram: Histogram }[]): this {
    this.header(name, 'histogram', help)
    for (const { labels, histogram } of series) {
      const counts = histogram.cumulative()
      const bounds = [...histogram.bounds.map(formatValue), '+Inf']
      bounds.forEach((le, i) => this.lines.push(`${name}_bucket${labelText({ ...labels, le })} ${counts[i]!}`))
      this.lines.push(`${name}_sum${labelText(labels)} ${formatValue(histogram.sum)}`, `${name}_count${labelText(labels)} ${histogram.count}`)
    }
    return this
  }

  text(): string {
    return this.lines.join('\n') + '\n'
  }
}
