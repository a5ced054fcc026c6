/**
 * Keys by the event time at which they are due (a binary min-heap with lazy deletion): operators that hold
 * rows per key until the watermark passes them ask for the keys due at a watermark without looking at the
 * others. `set` moves a key (the old entry stays in the heap and is skipped when it surfaces).
 */
export class DueQueue {
  private readonly due = new Map<string, number>()
  private readonly heap: { time: number; key: string }[] = []

  get size(): number {
    return this.due.size
  }

  get(key: string): number | undefined {
    return this.due.get(key)
  }

  set(key: string, time: number): void {
    if (this.due.get(key) === time) return
    this.due.set(key, time)
    if (time !== Number.POSITIVE_INFINITY) this.push({ time, key })
  }

  delete(key: string): void {
    this.due.delete(key)
  }

  /** Removes and returns every key due at or before `time` (all keys, infinite ones too, at +Infinity). */
  takeDue(time: number): string[] {
    const out: string[] = []
    if (time === Number.POSITIVE_INFINITY) {
      out.push(...this.due.keys())
      this.due.clear()
      this.heap.length = 0
      return out
    }
    while (this.heap.length > 0 && this.heap[0]!.time <= time) {
      const top = this.pop()
      // A stale entry: the key was moved or deleted since.
      if (this.due.get(top.key) !== top.time) continue
      this.due.delete(top.key)
      out.push(top.key)
    }
    return out
  }

  private push(e: { time: number; key: string }): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.time <= e.time) break
      h[i] = h[parent]!
      i = parent
    }
    h[i] = e
  }

  private pop(): { time: number; key: string } {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= h.length) break
        const r = l + 1
        const c = r < h.length && h[r]!.time < h[l]!.time ? r : l
        if (h[c]!.time >= last.time) break
        h[i] = h[c]!
        i = c
      }
      h[i] = last
    }
    return top
  }
}
