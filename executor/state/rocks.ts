/**
 * The one RocksDB instance behind all of Sluice's state (`rocksdb-native`): point reads batched into one
 * multi-get, ordered range scans, and atomic write batches. Everything above it speaks Buffers and
 * Mutations; nothing else touches the binding.
 *
 * Durability: each commit is one write batch through RocksDB's write-ahead log without an fsync, so a
 * committed batch survives the process being killed (the OS holds the data); a power loss may lose the
 * last commits, never half of one.
 */
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { SluiceError, SqlState } from '../../common/errors.ts'
import RocksDB from 'rocksdb-native'

export type Mutation =
  | { readonly kind: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly kind: 'delete'; readonly key: Buffer }
  | { readonly kind: 'deleteRange'; readonly start: Buffer; readonly end: Buffer }

/**
 * Cluster mode (cluster/changelog.ts): called with every batch before it is written; resolves once the
 * batch is durable elsewhere (a task's changelog topic), with local-only mutations to write with it. A
 * rejection fails the commit: nothing is written here. Batches pass it one at a time, in commit order.
 */
export type CommitLog = (mutations: readonly Mutation[]) => Promise<readonly Mutation[]>

export interface KeyRange {
  readonly gte: Buffer
  readonly lt: Buffer
}

/**
 * RocksDB's memtables: WRITE_BUFFERS of WRITE_BUFFER_BYTES each at most (RocksDB's default is two of 64 MiB,
 * up to 128 MiB of the process's memory before a flush). A checkpoint writes its batch at once and the
 * memtable is only a staging area on the way to the SST files, so 16 MiB ones cost flushes of a quarter
 * the size, four times as often, and save up to 96 MiB of resident memory.
 */
const WRITE_BUFFER_BYTES = 16 << 20
const WRITE_BUFFERS = 2

/** Values per iterator read: big enough that a scan is not dominated by round trips into the binding. */
const SCAN_CAPACITY = 512

interface RocksIterator extends AsyncIterable<{ key: Buffer; value: Buffer }> {
  destroy(): void
}
interface RocksReadBatch {
  get(key: Buffer): Promise<Buffer | null>
  flush(): Promise<void>
  tryFlush(): void
}
interface RocksWriteBatch {
  put(key: Buffer, value: Buffer): Promise<void>
  tryPut(key: Buffer, value: Buffer): void
  tryDelete(key: Buffer): void
  tryDeleteRange(start: Buffer, end: Buffer): void
  flush(): Promise<void>
}
interface RocksHandle {
  ready(): Promise<void>
  close(): Promise<void>
  get(key: Buffer): Promise<Buffer | null>
  read(opts?: { autoDestroy?: boolean; capacity?: number }): RocksReadBatch
  write(opts?: { autoDestroy?: boolean; capacity?: number }): RocksWriteBatch
  iterator(range: { gte: Buffer; lt: Buffer }, opts?: { capacity?: number; values?: boolean }): RocksIterator
}

export class StateDb {
  private closed = false
  /** With a commit log: the commit under way, so that batches reach the log and RocksDB in one order. */
  private logged: Promise<void> = Promise.resolve()

  private constructor(
    private db: RocksHandle,
    private readonly dir: string,
    private readonly log: CommitLog | undefined,
  ) {}

  static async open(dir: string, log?: CommitLog): Promise<StateDb> {
    await mkdir(dir, { recursive: true })
    try {
      return new StateDb(await openHandle(dir), dir, log)
    } catch (err) {
      // RocksDB's LOCK file: another process (a running server) has this data directory open.
      if (/lock file/i.test((err as Error).message)) {
        throw new SluiceError('execution', SqlState.objectInUse, `the data directory is in use by another running Sluice server (${dirname(dir)})`, {
          hint: 'Stop that server first, or give this one a data directory of its own (--data).',
          cause: err,
        })
      }
      throw err
    }
  }

  /**
   * Closes and opens RocksDB again. After a write failed (a full disk) RocksDB keeps a background error and
   * refuses every later write until it is opened again; what it had committed is all still there. If the
   * open fails (still no room), the next call tries again.
   */
  async reopen(): Promise<void> {
    if (this.closed) throw new Error('the state store is closed')
    await this.db.close().catch(() => undefined)
    this.db = await openHandle(this.dir)
  }

  get(key: Buffer): Promise<Buffer | null> {
    return this.db.get(key)
  }

  /** All keys in one read batch: one trip into RocksDB per micro-batch. */
  async getMany(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return []
    const batch = this.db.read({ autoDestroy: true, capacity: keys.length })
    const pending = keys.map((k) => batch.get(k))
    batch.tryFlush()
    return Promise.all(pending)
  }

  /** Entries with gte <= key < lt, in key order. */
  async *scan(range: KeyRange): AsyncGenerator<[Buffer, Buffer]> {
    const it = this.db.iterator({ gte: range.gte, lt: range.lt }, { capacity: SCAN_CAPACITY })
    try {
      for await (const { key, value } of it) yield [key, value]
    } finally {
      it.destroy()
    }
  }

  /** Keys with gte <= key < lt, in key order, without reading values. */
  async *scanKeys(range: KeyRange): AsyncGenerator<Buffer> {
    const it = this.db.iterator({ gte: range.gte, lt: range.lt }, { capacity: SCAN_CAPACITY, values: false })
    try {
      for await (const { key } of it) yield key
    } finally {
      it.destroy()
    }
  }

  /** Applies all mutations atomically (with a commit log: once the log has them). */
  async commit(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return
    const log = this.log
    if (log === undefined) return this.write(mutations)
    const done = this.logged.then(async () => this.write(mutations.concat(await log(await this.withRangeKeys(mutations)))))
    this.logged = done.catch(() => undefined)
    return done
  }

  /**
   * For the commit log: each range delete preceded by a delete of every key it removes, so that a compacted
   * log drops the keys' earlier records (a range delete is one record; compaction goes by key).
   */
  private async withRangeKeys(mutations: readonly Mutation[]): Promise<readonly Mutation[]> {
    if (!mutations.some((m) => m.kind === 'deleteRange')) return mutations
    const out: Mutation[] = []
    for (const m of mutations) {
      if (m.kind === 'deleteRange') for await (const key of this.scanKeys({ gte: m.start, lt: m.end })) out.push({ kind: 'delete', key })
      out.push(m)
    }
    return out
  }

  private async write(mutations: readonly Mutation[]): Promise<void> {
    const batch = this.db.write({ autoDestroy: true, capacity: Math.min(mutations.length, 65536) })
    for (const m of mutations) {
      if (m.kind === 'put') batch.tryPut(m.key, m.value)
      else if (m.kind === 'delete') batch.tryDelete(m.key)
      else batch.tryDeleteRange(m.start, m.end)
    }
    await batch.flush()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.db.close()
  }
}

async function openHandle(dir: string): Promise<RocksHandle> {
  const Ctor = RocksDB as unknown as new (path: string, opts?: object) => RocksHandle
  const db = new Ctor(dir, { writeBufferSize: WRITE_BUFFER_BYTES, maxWriteBufferNumber: WRITE_BUFFERS })
  await db.ready()
  return db
}
