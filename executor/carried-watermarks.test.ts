/** The watermark of a query over a repartition topic: the least over its writers' source partitions. */
import { describe, expect, it } from 'vitest'
import { CarriedWatermarks } from './carried-watermarks.ts'
import { WatermarkTracker } from './watermark.ts'
import type { CarriedMark } from './source.ts'

const NEG = Number.NEGATIVE_INFINITY
let at = 0
/** An idle mark says where its writer had read to: here always 1,000 unless given. */
const mark = (partition: number, watermark: number, idle = false, offset = at++, position = 1_000): CarriedMark => ({ offset, partition, watermark, idle, ...(idle ? { position } : {}) })

/**
 * A reader of three source partitions: its tracker and carried flags, and its watermark after some marks;
 * the source partitions end at `ends` (1,000 each unless changed: where the idle marks say their writers are).
 */
function reader(partitions = 3, restored?: { wm: WatermarkTracker; idle: { idle: boolean[]; idleAt: number[] } }) {
  const tracker = restored?.wm ?? new WatermarkTracker(partitions)
  const carried = new CarriedWatermarks(partitions, restored?.idle.idle, restored?.idle.idleAt)
  const ends: (number | undefined)[] = new Array(partitions).fill(1_000)
  const idleNow = () => carried.idle.map((_, p) => carried.isIdle(p, ends[p]))
  const take = (marks: CarriedMark[], from = 0) => {
    carried.take(marks, from, tracker)
    return tracker.advance(idleNow())
  }
  return { tracker, carried, take, ends, idleNow }
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

  it('resume from a checkpoint: the watermarks, the idle flags and their positions', () => {
    const r = reader()
    r.take([mark(0, 100, true), mark(1, 60), mark(2, 70)])
    const snap = r.tracker.snapshot()
    const idle = JSON.parse(JSON.stringify(r.carried.snapshot())) as { idle: boolean[]; idleAt: number[] }
    expect(idle).toEqual({ idle: [true, false, false], idleAt: [1_000, -1, -1] })
    const again = reader(3, { wm: new WatermarkTracker(3, snap), idle })
    expect(again.tracker.current).toBe(60)
    expect(again.take([mark(1, 80)])).toBe(70)
    // The position came back too: partition 0 is no longer idle once it has grown past it.
    again.ends[0] = 1_001
    expect(again.idleNow()).toEqual([false, false, false])
  })

  it('count an idle mark only while its source partition still ends where the writer had read to', () => {
    const r = reader()
    r.take([mark(0, 100), mark(1, 40), mark(2, 70)])
    // Partition 1's writer read to 500 and said idle; the partition ends at 500: left out.
    r.ends[1] = 500
    expect(r.take([mark(1, 40, true, at++, 500)])).toBe(70)
    // Records arrive in partition 1 that its writer has not written (it died, or has not read them yet): the
    // idle mark no longer holds, partition 1 holds time where it was (the watermark never moves back) ...
    r.ends[1] = 520
    expect(r.idleNow()).toEqual([false, false, false])
    r.take([mark(0, 300), mark(2, 300)])
    expect(r.tracker.current).toBe(70)
    // ... until its writer (the same or a new one) writes them, with their watermark.
    expect(r.take([mark(1, 250)])).toBe(250)
    // Where the partition ends is not known (no recent answer from the broker): not idle.
    r.take([mark(1, 260, true, at++, 520)])
    r.ends[1] = undefined
    expect(r.idleNow()).toEqual([false, false, false])
    r.ends[1] = 520
    expect(r.idleNow()).toEqual([false, true, false])
  })

  it('take an idle mark without its writer position, or a restored idle flag without one, as busy', () => {
    const r = reader(2)
    r.take([{ offset: at++, partition: 0, watermark: 10, idle: true }, mark(1, 5)])
    expect(r.idleNow()).toEqual([false, false])
    const restored = new CarriedWatermarks(2, [true, true], undefined)
    expect(restored.idle).toEqual([false, false])
  })

  it('refuse a mark of a source partition the topic has no slot for', () => {
    const r = reader(2)
    expect(() => r.take([mark(2, 5)])).toThrow(/source partition 2/)
  })

  it("an interval join's two streams fill their own slots: the right's after the left's, the least of both streams", () => {
    // Left stream over 2 source partitions (slots 0-1), right over 3 (slots 2-4); each stream's watermark
    // by the rule above, the join's the least of the two.
    const tracker = new WatermarkTracker(5, undefined, [2, 3])
    const carried = new CarriedWatermarks(5)
    const left = (marks: CarriedMark[]) => carried.take(marks, 0, tracker, 0, 2)
    const right = (marks: CarriedMark[]) => carried.take(marks, 0, tracker, 2, 3)
    const advance = () => tracker.advance(carried.idle.map((_, p) => carried.isIdle(p, 1_000)))
    left([mark(0, 100), mark(1, 80)])
    expect(advance()).toBe(NEG)
    right([mark(0, 300), mark(1, 200)])
    expect(advance()).toBe(NEG)
    right([mark(2, 250)])
    expect(advance()).toBe(80)
    // The right stream's partition 1 idle: the right's watermark is the least of 0 and 2; left's still 80.
    left([mark(1, 400)])
    right([mark(1, 200, true)])
    expect(carried.idle).toEqual([false, false, false, true, false])
    expect(advance()).toBe(100)
    // A mark of source partition 2 of the left stream has no slot there (it is not the right's partition 0).
    expect(() => left([mark(2, 500)])).toThrow(/source partition 2 in a repartition topic of 2 partitions/)
  })
})
