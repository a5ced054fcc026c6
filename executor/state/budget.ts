/**
 * The state cache's budget, shared by every table: how many entries all caches may hold together. Tables
 * report what they hold; when the total runs over, a table evicts its clean entries (oldest first) before
 * it loads more, and the engine checkpoints early when dirty entries alone exceed the budget, since only a
 * checkpoint makes them clean and evictable.
 */
export class CacheBudget {
  private cached = 0
  private dirty = 0
  /**
   * Checkpoint batches handed to RocksDB and not yet written. While one is in flight, entries it marked
   * clean are only clean in memory, so nothing may be evicted (a re-read would see the older value).
   */
  commitsInFlight = 0

  constructor(readonly entries: number) {}

  adjust(cachedDelta: number, dirtyDelta: number): void {
    this.cached += cachedDelta
    this.dirty += dirtyDelta
  }

  /** How many entries must go before `incoming` more fit (none while a commit is in flight). */
  excess(incoming: number): number {
    if (this.commitsInFlight > 0) return 0
    return Math.max(0, this.cached + incoming - this.entries)
  }

  overBudgetDirty(): boolean {
    return this.dirty > this.entries
  }

  stats(): { cached: number; dirty: number; entries: number } {
    return { cached: this.cached, dirty: this.dirty, entries: this.entries }
  }
}
