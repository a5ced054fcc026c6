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

/**
 * Items (an operator's per-key records) by the event time at which they are due: a binary min-heap of
 * (time, item) in two parallel arrays, with no map. The item itself knows when it is due; an entry whose
 * time is no longer its item's (moved, taken, or the item forgotten) is stale and is skipped when it
 * surfaces. `take` decides that and marks the item taken, so that a key costs no hashing of its key string
 * to queue or to take.
 */
export class DueHeap<T> {
  private readonly times: number[] = []
  private readonly items: T[] = []

  /** `take(item, time)`: whether the entry is current; if so the item is marked taken (not due any more). */
  constructor(private readonly take: (item: T, time: number) => boolean) {}

  /** Entries in the heap, stale ones included. */
  get size(): number {
    return this.times.length
  }

  push(time: number, item: T): void {
    const t = this.times
    const k = this.items
    let i = t.length
    t.push(time)
    k.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (t[parent]! <= time) break
      t[i] = t[parent]!
      k[i] = k[parent]!
      i = parent
    }
    t[i] = time
    k[i] = item
  }

  /** Appends to `out` every current item due at or before `time`, removing their entries. */
  takeDue(time: number, out: T[]): void {
    const t = this.times
    while (t.length > 0 && t[0]! <= time) {
      const topTime = t[0]!
      const top = this.pop()
      if (this.take(top, topTime)) out.push(top)
    }
  }

  clear(): void {
    this.times.length = 0
    this.items.length = 0
  }

  private pop(): T {
    const t = this.times
    const k = this.items
    const top = k[0]!
    const lastTime = t.pop()!
    const lastItem = k.pop()!
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
      k[i] = lastItem
    }
    return top
  }
}
