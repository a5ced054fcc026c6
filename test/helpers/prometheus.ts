/**
 * Reads a Prometheus text exposition with the parser of the official Python client (prometheus_client,
 * Debian's python3-prometheus-client), so that /metrics is checked by a real consumer of the format and not
 * by our own reading of it.
 */
import { spawnSync } from 'node:child_process'

export interface ParsedSample {
  readonly family: string
  readonly type: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        v = s.value
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels,
                    "value": None if math.isnan(v) else ("+Inf" if v == math.inf else v)})
print(json.dumps(out))
`

/** Every sample of the exposition; throws with the parser's message when the text is not valid. */
export function parseExposition(text: string): ParsedSample[] {
  const r = spawnSync('/usr/bin/python3', ['-c', PARSE], { input: text, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`prometheus_client refused the exposition: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { family: string; type: string; name: string; labels: Record<string, string>; value: number | string | null }[]).map((s) => ({
    ...s,
    value: s.value === '+Inf' ? Number.POSITIVE_INFINITY : s.value === null ? Number.NaN : Number(s.value),
  }))
}

/** The value of the one sample called `name` whose labels include `labels`; undefined when none. */
export function sampleValue(samples: readonly ParsedSample[], name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value
}
