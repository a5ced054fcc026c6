/**
 * The state cache's budget, shared by every table: how many entries all caches may hold together. Tables
 * report what they hold; when the total runs over, a table evicts its clean entries (oldest first) before
 * it loads more, and the engine checkpoints early when dirty entries alone exceed the budget, since only a
 * checkpoint makes them clean and evictable.
 */
/**
 * Rows written past the cache (`append`: final rows of closed windows, released rows of window functions)
 * that may wait in memory for a checkpoint: past this many the engine checkpoints early. They are never
 * written twice, so an early checkpoint costs no extra writes, while holding them for a whole checkpoint
 * interval made the memory such a view needs grow with the input rate (a quarter of a million rows per 10 s
 * for Nexmark q5 on two cores).
 */
export const APPENDED_LIMIT = 100_000

export class CacheBudget {
  private cached = 0
  private dirty = 0
  /** Rows appended past the cache and not yet collected by a checkpoint. */
  private appended = 0
  /**
   * Checkpoint batches handed to RocksDB and not yet written. While one is in flight, entries it marked
   * clean are only clean in memory, so nothing may be evicted (a re-read would see the older value).
   */
  commitsInFlight = 0

  constructor(
    readonly entries: number,
    readonly appendedLimit = APPENDED_LIMIT,
  ) {}

  adjust(cachedDelta: number, dirtyDelta: number): void {
    this.cached += cachedDelta
    this.dirty += dirtyDelta
  }

  /** How many entries must go before `incoming` more fit (none while a commit is in flight). */
  excess(incoming: number): number {
    if (this.commitsInFlight > 0) return 0
    return Math.max(0, this.cached + incoming - this.entries)
  }

  adjustAppended(delta: number): void {
    this.appended += delta
  }

  /** Whether the writes held for the next checkpoint call for one now: dirty entries past the budget, or too many appended rows. */
  overBudgetDirty(): boolean {
    return this.dirty > this.entries || this.appended > this.appendedLimit
  }

  stats(): { cached: number; dirty: number; appended: number; entries: number } {
    return { cached: this.cached, dirty: this.dirty, appended: this.appended, entries: this.entries }
  }
}
