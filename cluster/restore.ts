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
import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka'
import { StateDb, type Mutation } from '../executor/state/rocks.ts'
import { CHANGELOG_NEXT_KEY, OP_HEADER, mutationOf, type ChangelogPlace, type Changelogs, type TaskChangelog } from './changelog.ts'

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

/** Reads [from, end) of the changelog partition into the store, in batches. */
async function replay(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, db: StateDb, place: ChangelogPlace, from: number, end: number, progress: RestoreProgress): Promise<void> {
  let failure: Error | null = null
  let failed: (err: Error) => void = (err) => (failure = err)
  // read_committed: aborted transactions never arrive.
  const stream = await consumeListening(consumer, place.topic, [{ topic: place.topic, partition: place.partition, offset: BigInt(from) }], (err) => failed(err))
  const position = `${place.topic}:${place.partition}`
  try {
    await new Promise<void>((resolve, reject) => {
      let batch: Mutation[] = []
      let writing: Promise<void> = Promise.resolve()
      let done = false
      let lastMove = Date.now()
      const finish = (err?: Error) => {
        if (done) return
        done = true
        clearInterval(timer)
        writing.then(() => (err === undefined ? resolve() : reject(err)), reject)
      }
      const flush = () => {
        const mutations = batch
        batch = []
        writing = writing.then(() => db.commit(mutations))
        return writing
      }
      const check = () => {
        // Nothing but transaction markers left before the end: the fetch position is past it.
        const fetched = Number(stream.offsetsToFetch.get(position) ?? -1n)
        if (progress.at >= end || (fetched >= end && stream.readableLength === 0)) {
          flush()
          finish()
        } else if (Date.now() - lastMove > STALL_MS) {
          finish(new Error(`restoring from ${place.topic} partition ${place.partition}: no progress for ${STALL_MS / 1000} s at offset ${progress.at} of ${end}`))
        }
      }
      const timer = setInterval(check, END_CHECK_MS)
      failed = finish
      if (failure !== null) finish(failure)
      stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
        if (done || m.partition !== place.partition) return
        const offset = Number(m.offset)
        if (offset >= end) return
        const op = findHeader(m.headers, OP_HEADER)
        batch.push(mutationOf(m.key, m.value, op?.toString('utf8')))
        progress.records++
        progress.at = offset + 1
        lastMove = Date.now()
        if (batch.length >= RESTORE_BATCH) {
          stream.pause()
          void flush().then(
            () => stream.resume(),
            (err: unknown) => finish(err as Error),
          )
        }
        if (progress.at >= end) check()
      })
    })
  } finally {
    await withTimeout(stream.close(), CLOSE_TIMEOUT_MS)
  }
}

/** Header keys arrive as Buffers: a Map lookup by a new Buffer does not find them. */
function findHeader(headers: Map<Buffer, Buffer>, name: string): Buffer | undefined {
  for (const [k, v] of headers) if (k.toString('utf8') === name) return v
  return undefined
}

function newConsumer(brokers: readonly string[], place: ChangelogPlace): Consumer<Buffer, Buffer, Buffer, Buffer> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `sluice-restore-${place.topic}-${place.partition}`,
    // A group of its own (it keeps no offsets: the store says where it stands), handed only this partition.
    groupId: `sluice-restore-${place.topic}-${place.partition}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    bootstrapBrokers: [...brokers],
    autocreateTopics: false,
    retries: 5,
    partitionAssigner: (_current: string, members: Map<string, unknown>) =>
      [...members.keys()].map((memberId, i) => ({ memberId, assignments: new Map(i === 0 ? [[place.topic, { topic: place.topic, partitions: [place.partition] }]] : []) })),
  })
  consumer.on('error', (err: Error) => {
    if (!consumer.closed) console.error(`sluice: restoring from ${place.topic}: ${err.message}`)
  })
  return consumer
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    p.then(
      () => {
        clearTimeout(timer)
        resolve()
      },
      () => {
        clearTimeout(timer)
        resolve()
      },
    )
  })
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
export async function openAndRestore(changelogs: Changelogs, task: number, stateDir: string, onBroken: (changelog: TaskChangelog, err: Error) => void, restoring: (p: RestoreProgress | null) => void): Promise<OpenedChangelog | null> {
  const place = await changelogs.placeOf(task)
  if (place === null) return null
  let opened: TaskChangelog | null = null
  const changelog = await changelogs.open(task, place, (err) => {
    if (opened !== null) onBroken(opened, err)
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

/**
 * Consumes `offsets` of `topic` (read_committed), with `onError` listening from the stream's first tick. The stream starts (asks for
 * offsets) on the next tick after it is made, before an awaited consume() would hand it over; if its client
 * was closed meanwhile (a task stopped while it restored), it emits its error then, and an 'error'
 * nobody listens to ends the process.
 */
export function consumeListening(
  consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
  topic: string,
  offsets: { topic: string; partition: number; offset: bigint }[],
  onError: (err: Error) => void,
): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
  const options = {
    topics: [topic],
    mode: 'manual' as const,
    offsets,
    autocommit: false,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 1000,
    maxWaitTime: 100,
    minBytes: 1,
    maxBytes: 16 * 1024 * 1024,
    isolationLevel: 1, // read_committed: never see aborted transactions
    highWaterMark: 4096,
  }
  return new Promise((resolve, reject) => {
    consumer.consume(options, (err, stream) => {
      if (err) return reject(err)
      stream!.on('error', onError)
      resolve(stream!)
    })
  })
}
