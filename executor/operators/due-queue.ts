/**
 * Keys by the event time at which they are due (a binary min-heap with lazy deletion): operators that hold
 * rows per key until the watermark passes them ask for the keys due at a watermark without looking at the
 * others. `set` moves a key (the old entry stays in the heap and is skipped when it surfaces).
 *
 * The heap is two parallel arrays (times, keys) rather than an array of {time, key} objects: a push is
 * made per event by the operators using it, and an object per push was garbage to collect.
 */
export class DueQueue {
  private readonly due = new Map<string, number>()
  private readonly times: number[] = []
  private readonly keys: string[] = []

  get size(): number {
    return this.due.size
  }

  get(key: string): number | undefined {
    return this.due.get(key)
  }

  set(key: string, time: number): void {
    if (this.due.get(key) === time) return
    this.due.set(key, time)
    if (time !== Number.POSITIVE_INFINITY) this.push(time, key)
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
      this.times.length = 0
      this.keys.length = 0
      return out
    }
    while (this.times.length > 0 && this.times[0]! <= time) {
      const topTime = this.times[0]!
      const topKey = this.pop()
      // A stale entry: the key was moved or deleted since.
      if (this.due.get(topKey) !== topTime) continue
      this.due.delete(topKey)
      out.push(topKey)
    }
    return out
  }

  private push(time: number, key: string): void {
    const t = this.times
    const k = this.keys
    let i = t.length
    t.push(time)
    k.push(key)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (t[parent]! <= time) break
      t[i] = t[parent]!
      k[i] = k[parent]!
      i = parent
    }
    t[i] = time
    k[i] = key
  }

  /** Removes the earliest entry and returns its key (its time is times[0] before the call). */
  private pop(): string {
    const t = this.times
    const k = this.keys
    const top = k[0]!
    const lastTime = t.pop()!
    const lastKey = k.pop()!
    const n = t.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && t[r]! < t[l]! ? r : l
        if (t[c]! >= lastTime) break
        t[i] = t[c]!
        k[i] = k[c]!
        i = c
      }
      t[i] = lastTime
      k[i] = lastKey
    }
    return top
  }
}
