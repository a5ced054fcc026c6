/**
 * Where each partition of the streams' topics ends, as the broker said a moment ago: what a task engine
 * reading a repartition topic needs to know whether a writer's idle mark still holds (an idle mark holds
 * only while the writer's source partition ends where the writer had read to; executor/carried-watermarks.ts).
 *
 * One poller per node for every topic asked about: a topic is asked about again every REFRESH_MS while
 * anyone asked for it in the last FORGET_MS. An answer older than STALE_MS counts as not known (the idle
 * mark is then not trusted, and the partition holds time back: slower, never wrong), so a broker that stops
 * answering, or a starved event loop, cannot let a stale end vouch for a partition that has grown since.
 */
const REFRESH_MS = 250
const STALE_MS = 1_500
const FORGET_MS = 10_000

interface Known {
  ends: readonly number[]
  /** When the question of that answer was asked. */
  askedAt: number
}

export class SourceEnds {
  private readonly known = new Map<string, Known>()
  /** Topic -> when someone last asked for it. */
  private readonly wanted = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor(private readonly endOffsets: (topic: string) => Promise<number[]>) {}

  /** Where partition `partition` of `topic` ends, or undefined when not known as of STALE_MS ago. */
  end(topic: string, partition: number): number | undefined {
    const now = Date.now()
    this.wanted.set(topic, now)
    if (this.timer === null && !this.closed) this.schedule(0)
    const k = this.known.get(topic)
    if (k === undefined || now - k.askedAt > STALE_MS) return undefined
    return k.ends[partition]
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.refresh(), ms)
    this.timer.unref()
  }

  private async refresh(): Promise<void> {
    const now = Date.now()
    for (const [topic, at] of this.wanted) if (now - at > FORGET_MS) this.wanted.delete(topic)
    await Promise.all(
      [...this.wanted.keys()].map(async (topic) => {
        const askedAt = Date.now()
        try {
          const ends = await this.endOffsets(topic)
          const k = this.known.get(topic)
          if (k === undefined || askedAt > k.askedAt) this.known.set(topic, { ends, askedAt })
        } catch {
          // Not answered: the last answer ages until it no longer counts.
        }
      }),
    )
    this.timer = null
    if (!this.closed && this.wanted.size > 0) this.schedule(REFRESH_MS)
  }

  close(): void {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}
