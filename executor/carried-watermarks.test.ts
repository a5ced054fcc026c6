/** The watermark of a query over a repartition topic: the least over its writers' source partitions. */
import { describe, expect, it } from 'vitest'
import { CarriedWatermarks } from './carried-watermarks.ts'
import { WatermarkTracker } from './watermark.ts'
import type { CarriedMark } from './source.ts'

const NEG = Number.NEGATIVE_INFINITY
let at = 0
const mark = (partition: number, watermark: number, idle = false, offset = at++): CarriedMark => ({ offset, partition, watermark, idle })

/** A reader of three source partitions: its tracker and carried flags, and its watermark after some marks. */
function reader(partitions = 3, restored?: { wm: WatermarkTracker; idle: boolean[] }) {
  const tracker = restored?.wm ?? new WatermarkTracker(partitions)
  const carried = new CarriedWatermarks(partitions, restored?.idle)
  const take = (marks: CarriedMark[], from = 0) => {
    carried.take(marks, from, tracker)
    return tracker.advance(carried.idle)
  }
  return { tracker, carried, take }
}

describe('carried watermarks', () => {
  it('do not move until every source partition has been heard from, then are the least of them', () => {
    const r = reader()
    expect(r.take([mark(0, 100), mark(1, 50)])).toBe(NEG)
    expect(r.take([mark(2, 70)])).toBe(50)
    expect(r.take([mark(1, 90)])).toBe(70)
    expect(r.take([mark(2, 200), mark(1, 150)])).toBe(100)
  })

  it('keep the largest watermark per source partition: a restarted writer sending lower ones changes nothing', () => {
    const r = reader()
    r.take([mark(0, 100), mark(1, 100), mark(2, 100)])
    expect(r.take([mark(0, NEG), mark(0, 20), mark(1, 30)])).toBe(100)
    expect(r.tracker.partitionWatermarks()).toEqual([100, 100, 100])
  })

  it('leave idle source partitions out, the least of the others; all idle: the largest', () => {
    const r = reader()
    r.take([mark(0, 100), mark(1, 40), mark(2, 70)])
    expect(r.take([mark(1, 40, true)])).toBe(70)
    // A partition never written (idle at minus infinity) holds nothing back.
    expect(r.take([mark(2, 80, true), mark(0, 120, true)])).toBe(120)
    // Busy again: it counts again, but the watermark never moves back.
    expect(r.take([mark(1, 45, false)])).toBe(120)
    expect(r.carried.idle).toEqual([true, false, true])
  })

  it("skip the marks below the query's offset (taken before), apply the rest in offset order", () => {
    const r = reader(2)
    // Partition 0's mark was taken before (below offset 7): 0 is still unheard, and holds time back.
    expect(r.take([mark(0, 10, false, 5), mark(1, 10, false, 6), mark(1, 99, true, 7)], 7)).toBe(NEG)
    expect(r.tracker.partitionWatermarks()).toEqual([NEG, 99])
    expect(r.carried.idle).toEqual([false, true])
    expect(r.take([mark(0, 30, false, 8)], 8)).toBe(30)
  })

  it('resume from a checkpoint: the watermarks and the idle flags', () => {
    const r = reader()
    r.take([mark(0, 100, true), mark(1, 60), mark(2, 70)])
    const snap = r.tracker.snapshot()
    const idle = r.carried.snapshot()
    const again = reader(3, { wm: new WatermarkTracker(3, snap), idle })
    expect(again.tracker.current).toBe(60)
    expect(again.take([mark(1, 80)])).toBe(70)
  })

  it('refuse a mark of a source partition the topic has no slot for', () => {
    const r = reader(2)
    expect(() => r.take([mark(2, 5)])).toThrow(/source partition 2/)
  })
})
