/**
 * A table of operator state: an object cache in front of one RocksDB namespace. An operator asks for all
 * keys of a micro-batch at once (`load`, one multi-get for the misses), then reads and writes the cache
 * synchronously. Writes stay in the cache, marked dirty, until a checkpoint collects them into its atomic
 * batch; clean entries are evicted oldest-first when the shared budget runs over.
 */
import type { KeyedTable, TableJournal } from '../operators/keyed-table.ts'
import type { CacheBudget } from './budget.ts'
import type { Codec } from './codec.ts'
import { KeyFilter } from './key-filter.ts'
import { keyBytes, keyString, tableKey } from './layout.ts'
import type { Mutation, StateDb } from './rocks.ts'

/**
 * A cached key. It knows its key, so that the lists of dirty and collected entries are lists of entries: a
 * checkpoint goes through them without looking each key up again. One class, so that every entry has one shape.
 */
class Entry<V> {
  /** Used since eviction last passed it (the CLOCK algorithm's reference bit). */
  used = true
  /** The key filter has the key already (it was read from RocksDB or committed): no need to add it again. */
  filtered = false

  constructor(
    readonly key: string,
    /** undefined: known to be absent (in RocksDB too, once clean). */
    public value: V | undefined,
    public dirty: boolean,
    /** Bytes of the key and value RocksDB holds for it (0: none), where known; see `storedBytes`. */
    public bytes: number,
  ) {}
}

export class StateTable<V> implements KeyedTable<V> {
  /** Eviction walks insertion order and gives entries used since its last pass a second chance. */
  private readonly cache = new Map<string, Entry<V>>()
  /**
   * The dirty entries, each once: an entry is added by the write that makes it dirty, and one that leaves
   * the cache while dirty (see `write`) is marked clean and passed over. `dirtyCount` counts those still dirty.
   */
  private dirtyEntries: Entry<V>[] = []
  private dirtyCount = 0
  /**
   * Entries handed to the last checkpoint(s). While a commit is in flight RocksDB may not have them yet, so
   * scans overlay them from the cache (which eviction leaves alone until the commit lands).
   */
  private unflushed: Entry<V>[] = []
  /** Write-only entries (`append`) not yet collected, and those of the checkpoint(s) still being written. */
  private appended = new Map<string, V>()
  private appendedUnflushed = new Map<string, V>()
  /** Rows the appended entries hold (an entry may hold a batch of rows), as the budget counts them. */
  private appendedRows = 0
  private unflushedRows = 0
  /** Open journals (live results), each the set of keys written since it was drained. */
  private readonly journals = new Set<Set<string>>()
  private readonly range: { gte: Buffer; lt: Buffer }
  /** Keys committed to RocksDB, so that loading a key never written costs no read. */
  private readonly committed: KeyFilter
  /**
   * About how many bytes of keys and values RocksDB holds for this table, as of the last checkpoint: each
   * checkpoint adds what it writes less what the entry took before (where known: read or written since the
   * entry was cached). Kept with the query's progress, so that it is exact across restarts.
   */
  storedBytes = 0

  /**
   * `fresh`: the namespace is known to be empty in RocksDB (a table just created). Otherwise the key
   * filter is rebuilt in the background from a keys-only scan, and reads go to RocksDB until it is done.
   */
  constructor(
    private readonly db: StateDb,
    readonly namespaceId: number,
    private readonly codec: Codec<V>,
    private readonly budget: CacheBudget,
    fresh = false,
  ) {
    const r = tableKey(namespaceId, [])
    this.range = { gte: r.start, lt: r.end }
    this.committed = new KeyFilter(fresh)
    if (!fresh) void this.rebuildFilter()
  }

  private async rebuildFilter(): Promise<void> {
    try {
      for await (const key of this.db.scanKeys(this.range)) this.committed.add(keyString(key))
      this.committed.complete = true
    } catch {
      // The database closed during the scan, or the scan failed: the filter stays "maybe", reads stay correct.
    }
  }

  get size(): number {
    return this.cache.size
  }

  /** Keys written without being read whose stored size is still to be subtracted (see forgetStoredSize). */
  private sizeLookups: string[] | null = null
  /** The size lookup under way, if any. */
  private sizeLookup: Promise<void> | null = null

  /**
   * For `storedBytes`: the size RocksDB holds for a key written or deleted without being read is looked up
   * (in one read for all such keys of a step; a checkpoint waits for it, see `sizesSettled`, so that it
   * reads what the checkpoint replaces) and subtracted; the write's own size is added when a checkpoint
   * collects it.
   */
  private forgetStoredSize(key: string): void {
    if (!this.committed.mayContain(key)) return
    if (this.sizeLookups === null) {
      this.sizeLookups = []
      // After the one under way, if any: waiting for the last waits for all.
      const lookup: Promise<void> = (this.sizeLookup ?? Promise.resolve()).then(() => this.subtractStoredSizes()).finally(() => {
        if (this.sizeLookup === lookup) this.sizeLookup = null
      })
      this.sizeLookup = lookup
    }
    this.sizeLookups.push(key)
  }

  /** The size lookup of the writes so far, if one is under way: a checkpoint waits for it before collecting. */
  sizesSettled(): Promise<void> | null {
    return this.sizeLookup
  }

  private async subtractStoredSizes(): Promise<void> {
    const keys = this.sizeLookups ?? []
    this.sizeLookups = null
    try {
      const values = await this.db.getMany(keys.map(keyBytes))
      for (let i = 0; i < keys.length; i++) {
        const raw = values[i]
        if (raw !== null && raw !== undefined) this.storedBytes -= keys[i]!.length + raw.length
      }
    } catch {
      // The database closed: the size stays a little high until the table is opened again.
    }
  }

  /**
   * Makes every key of `keys` answerable by `get` until the next load: one multi-get for those not cached
   * that RocksDB may hold.
   */
  async load(keys: readonly string[]): Promise<void> {
    let uncached: string[] | null = null
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!
      const e = this.cache.get(k)
      if (e !== undefined) e.used = true
      else if (!this.appended.has(k) && !this.appendedUnflushed.has(k)) (uncached ??= []).push(k)
    }
    if (uncached === null) return
    const fresh = uncached.length === 1 ? uncached : [...new Set(uncached)]
    const excess = this.budget.excess(fresh.length)
    // The batch's own keys are spared; the set of them is only built when something must go.
    if (excess > 0) this.evict(excess, new Set(keys))
    // A key never committed is answered by `get` without being cached: it is absent, and a key a step only
    // looks at (a pattern key whose rows start no match) costs no cache entry to keep and evict.
    const missing: string[] = []
    for (const k of fresh) if (this.committed.mayContain(k)) missing.push(k)
    if (missing.length === 0) return
    const values = await this.db.getMany(missing.map(keyBytes))
    for (let i = 0; i < missing.length; i++) {
      const k = missing[i]!
      if (this.cache.has(k)) continue // written while we were reading: the cache is newer
      const raw = values[i]
      if (raw === null || raw === undefined) this.cache.set(k, new Entry<V>(k, undefined, false, 0))
      else {
        const e = new Entry<V>(k, this.codec.decode(raw), false, k.length + raw.length)
        e.filtered = true
        this.cache.set(k, e)
      }
      this.budget.adjust(1, 0)
    }
  }

  /**
   * The entry `get` found last: an operator reads a key's state and then writes it, and the write finds the
   * entry here instead of in the map. Forgotten whenever an entry leaves the cache.
   */
  private lastRead: Entry<V> | null = null

  get(key: string): V | undefined {
    const e = this.cache.get(key)
    if (e !== undefined) {
      this.lastRead = e
      return e.value
    }
    // An appended entry until RocksDB has it (it is never cached).
    return this.appended.size > 0 || this.appendedUnflushed.size > 0 ? (this.appended.get(key) ?? this.appendedUnflushed.get(key)) : undefined
  }

  set(key: string, value: V): void {
    this.write(key, value)
  }

  delete(key: string): void {
    this.write(key, undefined)
  }

  /**
   * A dirty entry is in `dirtyEntries` from the write that made it dirty until a checkpoint collects it,
   * so only that write adds it: an entry written again and again between checkpoints (an accumulator)
   * costs one map lookup a write.
   */
  private write(key: string, value: V | undefined): void {
    const last = this.lastRead
    const e = last !== null && last.key === key ? last : this.cache.get(key)
    if (value === undefined && !this.committed.mayContain(key)) {
      // Deleting what RocksDB never had (a window or slice opened and closed between checkpoints) needs no
      // tombstone: the entry just goes.
      if (e !== undefined) {
        this.cache.delete(key)
        this.lastRead = null
        this.budget.adjust(-1, e.dirty ? -1 : 0)
        if (e.dirty) {
          e.dirty = false
          this.dirtyCount--
        }
      }
      if (this.journals.size > 0) this.record(key)
      return
    }
    if (e === undefined) {
      // Written without being read: what RocksDB holds for it (if anything) is replaced or deleted.
      const added = new Entry<V>(key, value, true, 0)
      this.cache.set(key, added)
      this.forgetStoredSize(key)
      this.budget.adjust(1, 1)
      this.dirtyEntries.push(added)
      this.dirtyCount++
    } else {
      e.value = value
      if (!e.dirty) {
        this.budget.adjust(0, 1)
        e.dirty = true
        this.dirtyEntries.push(e)
        this.dirtyCount++
      }
    }
    if (this.journals.size > 0) this.record(key)
  }

  /**
   * Writes an entry the operator never reads back (a final row), past the cache. A key the cache holds
   * already (a lookup found it absent, say) is written through the cache instead, so that `get` stays right.
   */
  append(key: string, value: V, rows = 1): void {
    if (this.cache.has(key)) return this.write(key, value)
    const before = this.appended.size
    this.appended.set(key, value)
    if (this.appended.size > before) {
      this.appendedRows += rows
      this.budget.adjustAppended(rows)
    }
    if (this.journals.size > 0) this.record(key)
  }

  journal(): TableJournal {
    let keys = new Set<string>()
    this.journals.add(keys)
    return {
      drain: () => {
        const out = [...keys]
        this.journals.delete(keys)
        keys = new Set()
        this.journals.add(keys)
        return out
      },
      close: () => {
        this.journals.delete(keys)
      },
    }
  }

  private record(key: string): void {
    for (const j of this.journals) j.add(key)
  }

  /** Keys written since the last checkpoint collected them, with their current values (undefined: deleted). */
  *changes(): Generator<readonly [string, V | undefined]> {
    for (const e of this.dirtyEntries) if (e.dirty) yield [e.key, e.value]
    yield* this.appended.entries()
  }

  /** Appends a put or delete for every dirty entry and marks them clean. */
  collectDirty(out: Mutation[]): void {
    if (this.budget.commitsInFlight === 0) {
      this.unflushed = []
      this.appendedUnflushed = new Map()
      this.unflushedRows = 0
    }
    // The appended entries become the unflushed ones: a swap, not a copy, when no commit is in flight.
    const swap = this.appendedUnflushed.size === 0
    for (const [key, value] of this.appended) {
      const encoded = this.codec.encode(value)
      this.storedBytes += key.length + encoded.length
      out.push({ kind: 'put', key: keyBytes(key), value: encoded })
      // Live results may load an appended key later (a SUBSCRIBE to a view of appended rows).
      this.committed.add(key)
      if (!swap) this.appendedUnflushed.set(key, value)
    }
    if (swap) this.appendedUnflushed = this.appended
    this.unflushedRows += this.appendedRows
    this.budget.adjustAppended(-this.appendedRows)
    this.appendedRows = 0
    this.appended = new Map()
    const collected = this.dirtyEntries
    let n = 0
    for (let i = 0; i < collected.length; i++) {
      const e = collected[i]!
      // Marked clean when it left the cache (a delete of a key RocksDB never had).
      if (!e.dirty) continue
      const k = e.key
      if (e.value === undefined) {
        out.push({ kind: 'delete', key: keyBytes(k) })
        this.storedBytes -= e.bytes
        e.bytes = 0
      } else {
        const encoded = this.codec.encode(e.value)
        const bytes = k.length + encoded.length
        this.storedBytes += bytes - e.bytes
        e.bytes = bytes
        out.push({ kind: 'put', key: keyBytes(k), value: encoded })
        // A key written at every checkpoint is added once: re-adding would grow the filter without end.
        if (!e.filtered) {
          this.committed.add(k)
          e.filtered = true
        }
      }
      e.dirty = false
      collected[n++] = e
    }
    collected.length = n
    this.budget.adjust(0, -this.dirtyCount)
    this.dirtyCount = 0
    // The collected entries become the unflushed ones (a swap, not a copy, when no commit is in flight).
    if (this.unflushed.length === 0) this.unflushed = collected
    else for (let i = 0; i < n; i++) this.unflushed.push(collected[i]!)
    this.dirtyEntries = []
  }

  /**
   * Every checkpoint that collected entries is in RocksDB: the copies kept for scans and reads while they
   * were being written can go now rather than at the next checkpoint (a checkpoint interval's worth of rows).
   */
  commitLanded(): void {
    if (this.budget.commitsInFlight > 0) return
    if (this.unflushed.length > 0) this.unflushed = []
    if (this.appendedUnflushed.size > 0) this.appendedUnflushed = new Map()
    this.unflushedRows = 0
  }

  /**
   * A checkpoint that collected this table's dirty entries failed (a full disk): RocksDB has none of them,
   * so they are dirty again, to go with the next one. Entries written since keep their newer values.
   */
  restoreUnflushed(): void {
    let redirtied = 0
    for (const e of this.unflushed) {
      // Written again since (dirty already), or no longer the cached entry of its key.
      if (e.dirty || this.cache.get(e.key) !== e) continue
      e.dirty = true
      this.dirtyEntries.push(e)
      redirtied++
    }
    this.dirtyCount += redirtied
    for (const [k, v] of this.appendedUnflushed) if (!this.appended.has(k)) this.appended.set(k, v)
    this.appendedRows += this.unflushedRows
    this.budget.adjustAppended(this.unflushedRows)
    this.budget.adjust(0, redirtied)
    this.unflushed = []
    this.appendedUnflushed = new Map()
    this.unflushedRows = 0
  }

  /**
   * Every present entry in key order: RocksDB's committed state overlaid with the writes it may not have
   * yet (dirty ones, and those of a checkpoint still being written). A cached entry always wins.
   */
  async *scan(): AsyncGenerator<readonly [string, V]> {
    const overlay = new Map<string, V | undefined>()
    if (this.budget.commitsInFlight > 0) for (const [k, v] of this.appendedUnflushed) overlay.set(k, v)
    for (const [k, v] of this.appended) overlay.set(k, v)
    for (const e of this.dirtyEntries) if (e.dirty) overlay.set(e.key, e.value)
    if (this.budget.commitsInFlight > 0) {
      for (const e of this.unflushed) {
        const cached = this.cache.get(e.key)
        if (cached !== undefined) overlay.set(e.key, cached.value)
      }
    }
    const pending = [...overlay.keys()].sort()
    let i = 0
    for await (const [rawKey, rawValue] of this.db.scan(this.range)) {
      const key = keyString(rawKey)
      for (; i < pending.length && pending[i]! < key; i++) {
        const v = overlay.get(pending[i]!)
        if (v !== undefined) yield [pending[i]!, v]
      }
      if (i < pending.length && pending[i] === key) {
        const v = overlay.get(key)
        i++
        if (v !== undefined) yield [key, v]
        continue
      }
      const cached = this.cache.get(key)
      if (cached === undefined) yield [key, this.codec.decode(rawValue)]
      else if (cached.value !== undefined) yield [key, cached.value]
    }
    for (; i < pending.length; i++) {
      const v = overlay.get(pending[i]!)
      if (v !== undefined) yield [pending[i]!, v]
    }
  }

  /** Forgets the cache (the table is being dropped; its range is deleted by the caller). */
  clear(): void {
    this.budget.adjust(-this.cache.size, -this.dirtyCount)
    this.budget.adjustAppended(-this.appendedRows)
    this.appendedRows = 0
    this.unflushedRows = 0
    this.cache.clear()
    this.lastRead = null
    this.storedBytes = 0
    this.dirtyEntries = []
    this.dirtyCount = 0
    this.unflushed = []
    this.appended = new Map()
    this.appendedUnflushed = new Map()
  }

  stats(): { cached: number; dirty: number; filterBytes: number } {
    return { cached: this.cache.size, dirty: this.dirtyCount + this.appended.size, filterBytes: this.committed.bytes }
  }

  /**
   * Drops up to `n` clean entries (CLOCK: oldest first; one used since the last pass is moved to the end
   * with its bit cleared instead), sparing the keys of the batch being loaded.
   */
  private evict(n: number, spare: ReadonlySet<string>): void {
    if (n <= 0) return
    this.lastRead = null
    let evicted = 0
    let budget = this.cache.size * 2
    for (const [k, e] of this.cache) {
      if (evicted >= n || budget-- <= 0) break
      if (e.dirty || spare.has(k)) continue
      this.cache.delete(k)
      if (e.used) {
        e.used = false
        this.cache.set(k, e)
      } else evicted++
    }
    this.budget.adjust(-evicted, 0)
  }
}
