/**
 * Restoring a task's state store from its changelog (changelog.ts) before its engine opens on it.
 *
 * The store records the changelog offset after the last transaction it holds (`changelog/next`, written in
 * the same RocksDB batch as that transaction's mutations, after Kafka committed it). On start:
 * - no store, or one without that record (never written with a changelog; a restore cut short): the store
 *   is emptied and the whole changelog replayed;
 * - a record behind the changelog's end (the node ran the task before, or crashed between the Kafka commit
 *   and the RocksDB write): the changelog from there on is replayed over the store;
 * - a record at the end: nothing to do; past the end (the topic was created again): replayed whole.
 * The changelog is read read_committed up to its last stable offset, so only committed transactions
 * arrive, and whole. Replaying a suffix of the log over a store that already holds part of it gives the
 * same store (each record sets or deletes absolute values, in log order), so a restore cut short by a crash
 * is simply done again.
 */
import { rm } from 'node:fs/promises'
import { Consumer } from '@platformatic/kafka'
import { PartitionFetcher, type FetchedPartition } from '../executor/connectors/kafka-fetch.ts'
import { readRecordBatches, type RecordSink } from '../executor/connectors/kafka-records.ts'
import { StateDb, type Mutation } from '../executor/state/rocks.ts'
import { CHANGELOG_NEXT_KEY, mutationOfRecord, withTimeout, type ChangelogHooks, type ChangelogPlace, type Changelogs, type RegisterGate, type TaskChangelog } from './changelog.ts'

/** Mutations written to RocksDB per batch while restoring. */
const RESTORE_BATCH = 10_000
/** How often the reader checks whether the fetch went past the end (over transaction markers only). */
const END_CHECK_MS = 50
/** A restore with no progress at all for this long fails (and the task start is tried again). */
const STALL_MS = 60_000
const CLOSE_TIMEOUT_MS = 3000

/** Where a restore stands (sluice_tasks while it runs, the task's log line after). */
export interface RestoreProgress {
  /** Changelog records replayed so far. */
  records: number
  /** The changelog offset it started from, and the end it reads to. */
  from: number
  end: number
  /** The offset it has read up to. */
  at: number
  /** The store was emptied and the whole changelog replayed. */
  full: boolean
  readonly startedAt: number
  ms: number
}

/** Brings the store in `stateDir` to the changelog's last committed transaction. */
export async function restoreStore(brokers: readonly string[], place: ChangelogPlace, stateDir: string, progress: RestoreProgress): Promise<void> {
  const consumer = newConsumer(brokers, place)
  try {
    const ends = await consumer.listOffsets({ topics: [place.topic], timestamp: -1n, isolationLevel: 1 })
    const starts = await consumer.listOffsets({ topics: [place.topic], timestamp: -2n })
    const end = Number(ends.get(place.topic)?.[place.partition] ?? 0n)
    const logStart = Number(starts.get(place.topic)?.[place.partition] ?? 0n)
    progress.end = end
    let db = await StateDb.open(stateDir)
    let from: number
    try {
      const next = await db.get(CHANGELOG_NEXT_KEY)
      from = next === null ? -1 : Number(next.toString('utf8'))
      if (!Number.isInteger(from) || from < logStart || from > end) from = -1
      if (from < 0) {
        await db.close()
        await rm(stateDir, { recursive: true, force: true })
        db = await StateDb.open(stateDir)
        progress.full = true
        from = logStart
      }
      progress.from = from
      progress.at = from
      // (The store stands at a transaction's marker when the log has nothing after it.)
      if (end - from > 1) await replay(consumer, db, place, from, end, progress)
      await db.commit([{ kind: 'put', key: CHANGELOG_NEXT_KEY, value: Buffer.from(String(end)) }])
    } finally {
      await db.close()
    }
  } finally {
    await withTimeout(new Promise<void>((resolve) => consumer.close(true, () => resolve())), CLOSE_TIMEOUT_MS)
  }
  progress.ms = Date.now() - progress.startedAt
}

/**
 * Reads [from, end) of the changelog partition into the store, in batches, with the source's own fetcher
 * and batch reader (executor/connectors/kafka-fetch.ts, kafka-records.ts): read_committed, so the records of
 * transactions a fenced or killed owner left open and the broker aborted never arrive, whatever the
 * markers' order in a fetch. A record's operation is its shape (changelog.ts): a null value deletes its
 * key, a key with the range tag deletes a range, anything else is a put.
 */
async function replay(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, db: StateDb, place: ChangelogPlace, from: number, end: number, progress: RestoreProgress): Promise<void> {
  let fetcher: PartitionFetcher | null = null
  try {
    await new Promise<void>((resolve, reject) => {
      let writing: Promise<void> = Promise.resolve()
      let done = false
      let lastMove = Date.now()
      let position = from
      const finish = (err?: Error) => {
        if (done) return
        done = true
        clearInterval(timer)
        writing.then(() => (err === undefined ? resolve() : reject(err)), reject)
      }
      const timer = setInterval(() => {
        if (!done && Date.now() - lastMove > STALL_MS) finish(new Error(`restoring from ${place.topic} partition ${place.partition}: no progress for ${STALL_MS / 1000} s at offset ${progress.at} of ${end}`))
      }, END_CHECK_MS)
      const deliver = (part: FetchedPartition, fetchedFrom: number) => {
        if (done || part.partition !== place.partition || part.records === null || fetchedFrom !== position) return
        const sink: RecordSink = { offsets: [], values: [], timestamps: [], keys: [], nulls: [] }
        try {
          position = readRecordBatches(part.records, position, part.aborted, sink)
        } catch (err) {
          finish(err as Error)
          return
        }
        const batch: Mutation[] = []
        for (let i = 0; i < sink.offsets.length; i++) {
          if (sink.offsets[i]! >= end) break
          batch.push(mutationOfRecord(sink.keys![i]!, sink.nulls![i]! ? null : sink.values[i]!))
          progress.records++
        }
        progress.at = Math.min(position, end)
        lastMove = Date.now()
        // The fetcher holds back its next answer while a large batch is written.
        const paused = batch.length >= RESTORE_BATCH ? fetcher : null
        paused?.pause()
        writing = writing.then(() => db.commit(batch))
        writing.then(
          () => paused?.resume(),
          (err: unknown) => finish(err as Error),
        )
        if (position >= end) finish()
      }
      PartitionFetcher.start({ consumer, topic: place.topic, positions: new Map([[place.partition, from]]), deliver, failed: (err) => finish(err) }).then(
        (f) => {
          fetcher = f
          if (done) void f.close()
        },
        (err: unknown) => finish(err as Error),
      )
    })
  } finally {
    const f = fetcher as PartitionFetcher | null
    if (f !== null) await withTimeout(f.close(), CLOSE_TIMEOUT_MS)
  }
}

/** A client for the changelog's offsets and metadata; the fetcher keeps its own connections, and no group is joined. */
function newConsumer(brokers: readonly string[], place: ChangelogPlace): Consumer<Buffer, Buffer, Buffer, Buffer> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `sluice-restore-${place.topic}-${place.partition}`,
    groupId: `sluice-restore-${place.topic}-${place.partition}-${process.pid}-${Date.now().toString(36)}`,
    bootstrapBrokers: [...brokers],
    autocreateTopics: false,
    retries: 5,
  })
  consumer.on('error', (err: Error) => {
    if (!consumer.closed) console.error(`sluice: restoring from ${place.topic}: ${err.message}`)
  })
  return consumer
}


/** A task's changelog, opened (its id registered, earlier owners fenced) and its store restored from it. */
export interface OpenedChangelog {
  readonly changelog: TaskChangelog
  readonly progress: RestoreProgress
}

/**
 * Opens task `task`'s changelog and restores its store (`stateDir`) from it, in that order: once the id is
 * registered no earlier owner can commit, so what is read to the end is all there will be before this
 * engine's own transactions. Null: the task has no changelog (see Changelogs.placeOf).
 */
export async function openAndRestore(
  changelogs: Changelogs,
  task: number,
  stateDir: string,
  onBroken: (changelog: TaskChangelog, err: Error, kind: Parameters<ChangelogHooks['broken']>[1]) => void,
  mayRegister: RegisterGate,
  restoring: (p: RestoreProgress | null) => void,
): Promise<OpenedChangelog | null> {
  const place = await changelogs.placeOf(task)
  if (place === null) return null
  let opened: TaskChangelog | null = null
  const changelog = await changelogs.open(task, place, {
    broken: (err, kind) => {
      if (opened !== null) onBroken(opened, err, kind)
    },
    mayRegister,
  })
  opened = changelog
  const progress: RestoreProgress = { records: 0, from: 0, end: 0, at: 0, full: false, startedAt: Date.now(), ms: 0 }
  restoring(progress)
  try {
    await restoreStore(changelogs.brokerList, place, stateDir, progress)
  } catch (err) {
    await changelog.close()
    throw err
  } finally {
    restoring(null)
  }
  return { changelog, progress }
}
