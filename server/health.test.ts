import { describe, expect, it } from 'vitest'
import type { Engine } from '../executor/engine.ts'
import { EngineMetrics } from '../executor/metrics.ts'
import { SluiceError, SqlState } from '../common/errors.ts'
import { HealthProbes, STALL_SECONDS } from './health.ts'

/** The part of an engine the health probe reads: no queries, a loop and a checkpoint state. */
function engine(checkpointIntervalMs?: number) {
  const e = { options: { dataDir: '', checkpointIntervalMs }, metrics: new EngineMetrics(), checkpointFailure: null as SluiceError | null, allQueries: () => [], query: () => undefined, streamRuntime: () => undefined }
  return { e, probes: new HealthProbes(e as unknown as Engine) }
}

describe('/health', () => {
  it('is 200 while the loop turns, 503 once it has not for STALL_SECONDS', () => {
    const { e, probes } = engine()
    expect(probes.health()).toMatchObject({ status: 200, body: { status: 'ok' } })
    e.metrics.lastTurn = performance.now() - (STALL_SECONDS + 1) * 1000
    expect(probes.health()).toMatchObject({ status: 503, body: { status: 'stalled' } })
    e.metrics.turned()
    expect(probes.health().status).toBe(200)
  })

  it('allows ten checkpoint intervals when they are longer', () => {
    const { e, probes } = engine(10_000)
    e.metrics.lastTurn = performance.now() - (STALL_SECONDS + 1) * 1000
    expect(probes.health().status).toBe(200)
  })

  it('is 503 while storage is degraded, without saying why', () => {
    const { e, probes } = engine()
    e.checkpointFailure = new SluiceError('execution', SqlState.diskFull, 'could not write a checkpoint: no space left on device at /secret/path')
    const answer = probes.health()
    expect(answer).toMatchObject({ status: 503, body: { status: 'degraded' } })
    expect(JSON.stringify(answer.body)).not.toContain('/secret/path')
    expect(probes.ready()).toEqual({ status: 200, body: { status: 'ready' } })
  })
})
