/** The query guard: settings as PostgreSQL writes them, the budget, the heap check, the deadline. */
import { describe, expect, it } from 'vitest'
import { QueryGuard, checkHeap, formatBytes, parseMemorySetting, parseTimeoutSetting, rowBytes } from './query-budget.ts'

describe('query guard', () => {
  it('reads memory and time settings with their units', () => {
    expect(parseMemorySetting('64MB')).toBe(64 * 1024 * 1024)
    expect(parseMemorySetting('512kB')).toBe(512 * 1024)
    expect(parseMemorySetting('1GB')).toBe(1024 ** 3)
    expect(parseMemorySetting('4096')).toBe(4096)
    expect(parseMemorySetting('lots')).toBeNull()
    expect(parseTimeoutSetting('5s')).toBe(5000)
    expect(parseTimeoutSetting('250ms')).toBe(250)
    expect(parseTimeoutSetting('1min')).toBe(60_000)
    expect(parseTimeoutSetting('100')).toBe(100)
    expect(parseTimeoutSetting('soon')).toBeNull()
    expect(formatBytes(256 * 1024 * 1024)).toBe('256MB')
  })

  it('fails with 53200 naming the budget once the rows it holds pass it, and counts what is released', () => {
    const g = new QueryGuard({ memoryBytes: 1000, timeoutMs: 0 })
    g.charge(600)
    g.release(300)
    g.charge(600)
    expect(g.peak).toBe(900)
    expect(() => g.charge(200)).toThrow(expect.objectContaining({ sqlstate: '53200', message: 'out of memory: query exceeded its memory budget of 1000B' }))
    expect(rowBytes([1, 'abc', null])).toBeGreaterThan(rowBytes([1, null, null]))
  })

  it('fails with 53200 when the heap is nearly full, whatever the budget', () => {
    expect(() => checkHeap({ used_heap_size: 90, heap_size_limit: 100 } as never)).toThrow(expect.objectContaining({ sqlstate: '53200' }))
    expect(() => checkHeap({ used_heap_size: 50, heap_size_limit: 100 } as never)).not.toThrow()
  })

  it('stops with 57014 at its deadline, checked every few hundred rows', async () => {
    const g = new QueryGuard({ memoryBytes: 0, timeoutMs: 5 })
    await new Promise((r) => setTimeout(r, 10))
    expect(() => {
      for (let i = 0; i < 1000; i++) g.tick()
    }).toThrow(expect.objectContaining({ sqlstate: '57014', message: 'canceling statement due to statement timeout' }))
  })

  it('a long query gives way while the engine is busy; a short one, or one beside an idle engine, does not', async () => {
    /** Runs a query of `ms` of work in slices, pausing as the executor does; how often it gave way. */
    const run = async (busy: boolean, ms: number): Promise<number> => {
      const g = new QueryGuard({ memoryBytes: 0, timeoutMs: 0, engineBusy: () => busy })
      const until = performance.now() + ms
      while (performance.now() < until) if (g.tick()) await g.pause()
      return g.gaveWay
    }
    expect(await run(true, 20)).toBe(0)
    expect(await run(false, 120)).toBe(0)
    expect(await run(true, 120)).toBeGreaterThan(0)
  })
})
