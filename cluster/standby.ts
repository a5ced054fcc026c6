/**
 * Standby copies of tasks (docs/cluster.md, "Standby copies"), after Kafka Streams' standby replicas
 * (`num.standby.replicas`). A node started with `--standbys N` keeps, for each task it is chosen for, a copy
 * of the task's state store that follows the task's changelog partition (changelog.ts) while the task runs
 * elsewhere. When the group gives the task to this node, the restore (restore.ts) finds the copy in the
 * directory the task uses here and replays only the changelog's tail from the copy's position.
 *
 * - Placement (`standbyPlacement`, pure): task p's first copy goes where the assignor (assignor.ts) would
 *   move p if its owner left, computed by running the assignor over the other nodes as they own their tasks
 *   now; so every task of a node that leaves has a copy on a node with room for it under the shares, and
 *   the assignor, which prefers caught-up copies, puts all of them there. Further copies (N > 1) go to the
 *   other nodes ranking highest for p by the assignor's rendezvous weight (`rank`). Every node computes it
 *   from the same thing, the group as the coordinator describes it, so it follows every rebalance; the
 *   global task's copies go with task 0's, as the global task goes with task 0.
 * - A copy is the RocksDB store `DATA/tasks/<p>/state`, the very directory the task's engine opens here,
 *   and it holds the changelog offset it has applied up to in the record a restore starts from
 *   (`changelog/next`), written in the same RocksDB batch as the records before it. Records come from a
 *   read_committed fetch (the Kafka source's own fetcher and batch reader), so a copy only ever holds
 *   committed transactions, and a restore over it replays the rest up to the changelog's last stable offset
 *   before the engine opens: a copy cannot pass for state the changelog did not commit. A copy may stand
 *   inside a committed transaction that spans several record batches; nothing reads it but a restore, which
 *   goes on from there.
 * - Bounded per node, not per task: one metadata client per node and one fetcher per changelog topic (the
 *   tasks' and the global one), each fetch asking for every copied partition of its topic, with one fetch
 *   per leader in flight (at most 16 MB). A change of the copied set restarts the topic's fetcher; a fetch
 *   that fails is started again at the next reconciliation (every few seconds), from the positions the
 *   stores hold.
 * - A copy is closed when its task is to start here (`release`, before the restore) or the placement moves
 *   it away; its directory stays (a copy chosen again later, or the task assigned here, goes on from it).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Consumer } from '@platformatic/kafka'
import { KafkaFetchError, OFFSET_OUT_OF_RANGE, PartitionFetcher, type FetchedPartition } from '../executor/connectors/kafka-fetch.ts'
import { readRecordBatches, type RecordSink } from '../executor/connectors/kafka-records.ts'
import { StateDb, type Mutation } from '../executor/state/rocks.ts'
import { CHANGELOG_NEXT_KEY, mutationOfRecord, withTimeout, type ChangelogPlace, type Changelogs } from './changelog.ts'
import { assignTasks, rank } from './assignor.ts'
import { GLOBAL_TASK, taskLabel } from './tasks.ts'

/** A fetch answer with this many records for a copy pauses the fetcher until they are written. */
const PAUSE_RECORDS = 10_000
const CLOSE_TIMEOUT_MS = 3000
/** How often the changelogs' ends are asked for the copies' lags the node announces (`held`). */
const ENDS_REFRESH_MS = 2000

/**
 * For each task with an owner, the nodes that keep a standby copy of it (see the file comment): the first
 * where the assignor would move the task if its owner left, the others the nodes ranking highest for it
 * among the rest, never its owner. The global task (GLOBAL_TASK) gets task 0's.
 */
export function standbyPlacement(nodes: readonly string[], owners: ReadonlyMap<number, string>, n: number): Map<number, string[]> {
  const all = [...new Set(nodes)].sort()
  const out = new Map<number, string[]>()
  if (n <= 0) return out
  const tasks = Math.max(-1, ...owners.keys()) + 1
  const owned = new Map<string, number[]>()
  for (const [task, owner] of [...owners].sort(([a], [b]) => a - b)) if (task >= 0) owned.set(owner, [...(owned.get(owner) ?? []), task])
  for (const [owner, theirs] of owned) {
    // The others announcing what they own, and no copies: the plan the assignor makes when `owner` leaves.
    const others = all.filter((id) => id !== owner)
    const after = assignTasks(new Map(others.map((id) => [id, { node: id, pg: '', http: null, v: 2, owned: owned.get(id) ?? [], gen: 0, held: [] }])), tasks)
    for (const task of theirs) {
      const first = after[task]
      const rest = others.filter((id) => id !== first).map((id) => ({ id, w: rank(id, task) }))
      rest.sort((a, b) => b.w - a.w || (a.id < b.id ? -1 : 1))
      out.set(task, [...(first === undefined ? [] : [first]), ...rest.map((r) => r.id)].slice(0, n))
    }
  }
  const zero = out.get(0)
  if (zero !== undefined) out.set(GLOBAL_TASK, zero)
  return out
}

/** The tasks `me` keeps a standby copy of under `placement`. */
export function standbyTasksOf(me: string, placement: ReadonlyMap<number, readonly string[]>): number[] {
  return [...placement].filter(([, nodes]) => nodes.includes(me)).map(([task]) => task).sort((a, b) => a - b)
}

/** What a copy hands over to its task's restore (for the restore's log line). */
export interface StandbyHandoff {
  /** The changelog offset the copy had applied up to. */
  readonly position: number
  /** Changelog records it applied on this node since it was opened. */
  readonly applied: number
  /** How long it was kept (ms). */
  readonly keptMs: number
}

/** A copy as sluice_tasks shows it. */
export interface StandbyRow {
  readonly task: number
  readonly position: number
  /** The changelog's last stable offset when asked (null: unknown now). */
  readonly end: number | null
  readonly applied: number
}

interface Copy {
  readonly task: number
  readonly place: ChangelogPlace
  readonly db: StateDb
  position: number
  /** The changelog's last stable offset when last asked (opening, and every few seconds after): for `held`. */
  end: number | null
  applied: number
  writing: Promise<void>
  /** A write failed: the copy takes nothing more and is opened again from what it holds. */
  failed: boolean
  readonly openedAt: number
}

interface TopicFetch {
  fetcher: PartitionFetcher | null
  /** Bumped at every (re)start: deliveries of an older fetcher are ignored. */
  generation: number
  /** The partitions the running fetcher reads; null: it must be (re)started. */
  reading: string | null
}

export class StandbyTasks {
  private readonly copies = new Map<number, Copy>()
  private readonly fetches = new Map<string, TopicFetch>()
  private chosen = new Set<number>()
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | null = null
  /** Why a copy could not be opened, as last logged (once per task and reason). */
  private readonly logged = new Map<number, string>()
  private closed = false

  constructor(
    private readonly changelogs: Changelogs,
    /** The directory task `task` uses on this node (its store is `<dir>/state`). */
    private readonly dirOf: (task: number) => string,
  ) {}

  /** The tasks the placement chose this node for (kept until the next call). */
  choose(tasks: readonly number[]): void {
    this.chosen = new Set(tasks)
  }

  get count(): number {
    return this.copies.size
  }

  /**
   * Opens the copies chosen here that `free` allows (no engine of the task runs or is wanted here), closes
   * those no longer chosen unless `keep` says the task is to start here (its start releases the copy, so
   * it follows the changelog until then), and (re)starts the fetchers. Run on the task engines' chain, so
   * that a store is never open twice.
   */
  async reconcile(free: (task: number) => boolean, keep: (task: number) => boolean): Promise<void> {
    if (this.closed) return
    for (const c of [...this.copies.values()]) if (c.failed || (!this.chosen.has(c.task) && !keep(c.task))) await this.closeCopy(c)
    for (const task of [...this.chosen].sort((a, b) => a - b)) {
      if (this.copies.has(task) || !free(task)) continue
      try {
        await this.openCopy(task)
        this.logged.delete(task)
      } catch (err) {
        const why = (err as Error).message
        if (this.logged.get(task) !== why) console.error(`sluice: task ${taskLabel(task)}: its standby copy cannot be opened now (${why}); trying again shortly`)
        this.logged.set(task, why)
      }
    }
    await this.startFetches()
    // Not awaited: the reconciliation runs on the task engines' chain, which must not wait on the broker.
    void this.refreshEnds()
  }

  /**
   * The copies kept here, for the group metadata (membership.ts): [task, lag], the lag being the changelog
   * records between the copy's position and the log's last stable offset as last asked (at most a few
   * seconds ago; a copy that passed it counts 0). The assignor places a task whose owner left on a copy
   * that is caught up (assignor.ts).
   */
  held(): Array<[number, number | null]> {
    return [...this.copies.values()]
      .filter((c) => !c.failed)
      .sort((a, b) => a.task - b.task)
      .map((c) => [c.task, c.end === null ? null : Math.max(0, c.end - c.position)])
  }

  private endsAsked = 0

  /** Asks the changelogs' last stable offsets for `held`, at most every few seconds; one request per topic. */
  private async refreshEnds(): Promise<void> {
    if (this.closed || this.consumer === null || Date.now() - this.endsAsked < ENDS_REFRESH_MS) return
    this.endsAsked = Date.now()
    const consumer = this.consumer
    const copies = [...this.copies.values()]
    for (const topic of new Set(copies.map((c) => c.place.topic))) {
      try {
        const got = (await consumer.listOffsets({ topics: [topic], timestamp: -1n, isolationLevel: 1 })).get(topic) ?? []
        for (const c of copies) if (c.place.topic === topic && got[c.place.partition] !== undefined) c.end = Number(got[c.place.partition])
      } catch {
        // The ends stay as they were (a broker away): asked again at the next reconciliation.
      }
    }
  }

  /** The task starts here: its copy (if open) is closed, and what it held is handed to the restore. */
  async release(task: number): Promise<StandbyHandoff | null> {
    const c = this.copies.get(task)
    if (c === undefined) return null
    await this.closeCopy(c)
    await this.startFetches()
    return c.failed ? null : { position: c.position, applied: c.applied, keptMs: Date.now() - c.openedAt }
  }

  /** Every open copy, with its changelog's end as the broker says now (for sluice_tasks). */
  async rows(): Promise<StandbyRow[]> {
    const copies = [...this.copies.values()].sort((a, b) => a.task - b.task)
    const ends = new Map<string, readonly bigint[]>()
    if (this.consumer !== null) {
      for (const topic of new Set(copies.map((c) => c.place.topic))) {
        try {
          const got = await this.consumer.listOffsets({ topics: [topic], timestamp: -1n, isolationLevel: 1 })
          ends.set(topic, got.get(topic) ?? [])
        } catch {
          // The end stays unknown (a broker away): the row shows no lag.
        }
      }
    }
    return copies.map((c) => {
      const end = ends.get(c.place.topic)?.[c.place.partition]
      if (end !== undefined) c.end = Number(end)
      return { task: c.task, position: c.position, end: end === undefined ? null : Number(end), applied: c.applied }
    })
  }

  private client(): Consumer<Buffer, Buffer, Buffer, Buffer> {
    if (this.consumer !== null) return this.consumer
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      clientId: `sluice-standby-${process.pid}`,
      groupId: `sluice-standby-${process.pid}-${Date.now().toString(36)}`,
      bootstrapBrokers: [...this.changelogs.brokerList],
      autocreateTopics: false,
      retries: 3,
    })
    consumer.on('error', (err: Error) => {
      if (!consumer.closed) console.error(`sluice: standby copies: ${err.message}`)
    })
    this.consumer = consumer
    return consumer
  }

  /**
   * Opens task `task`'s store and checks its position against the changelog as a restore does: a store
   * without a position, or one outside the log (the topic created again), is emptied and read from the
   * log's start.
   */
  private async openCopy(task: number): Promise<void> {
    const place = await this.changelogs.placeOf(task)
    if (place === null) throw new Error('the task has no changelog partition')
    const consumer = this.client()
    const ends = await consumer.listOffsets({ topics: [place.topic], timestamp: -1n, isolationLevel: 1 })
    const starts = await consumer.listOffsets({ topics: [place.topic], timestamp: -2n })
    const end = Number(ends.get(place.topic)?.[place.partition] ?? 0n)
    const logStart = Number(starts.get(place.topic)?.[place.partition] ?? 0n)
    const stateDir = join(this.dirOf(task), 'state')
    let db = await StateDb.open(stateDir)
    let position: number
    try {
      const next = await db.get(CHANGELOG_NEXT_KEY)
      position = next === null ? -1 : Number(next.toString('utf8'))
      if (!Number.isInteger(position) || position < logStart || position > end) {
        await db.close()
        await rm(stateDir, { recursive: true, force: true })
        db = await StateDb.open(stateDir)
        position = logStart
        await db.commit([{ kind: 'put', key: CHANGELOG_NEXT_KEY, value: Buffer.from(String(position)) }])
      }
    } catch (err) {
      await db.close().catch(() => undefined)
      throw err
    }
    this.copies.set(task, { task, place, db, position, end, applied: 0, writing: Promise.resolve(), failed: false, openedAt: Date.now() })
    console.log(`sluice: task ${taskLabel(task)}: standby copy here, following ${place.topic} partition ${place.partition} from offset ${position} (end ${end})`)
  }

  private async closeCopy(c: Copy): Promise<void> {
    this.copies.delete(c.task)
    // Its topic's fetcher no longer reads it (restarted by the caller's startFetches).
    const f = this.fetches.get(c.place.topic)
    if (f !== undefined) {
      f.generation++
      f.reading = null
      const fetcher = f.fetcher
      f.fetcher = null
      if (fetcher !== null) await withTimeout(fetcher.close(), CLOSE_TIMEOUT_MS)
    }
    await c.writing.catch(() => undefined)
    await c.db.close().catch(() => undefined)
    console.log(`sluice: task ${taskLabel(c.task)}: standby copy closed at changelog offset ${c.position} (${c.applied} records applied here in ${Math.round((Date.now() - c.openedAt) / 1000)} s)`)
  }

  /** Starts, for each changelog topic, one fetcher over every copy of it, unless it already reads exactly those. */
  private async startFetches(): Promise<void> {
    const byTopic = new Map<string, Copy[]>()
    for (const c of this.copies.values()) byTopic.set(c.place.topic, [...(byTopic.get(c.place.topic) ?? []), c])
    for (const [topic, f] of this.fetches) {
      if (byTopic.has(topic)) continue
      f.generation++
      f.reading = null
      if (f.fetcher !== null) await withTimeout(f.fetcher.close(), CLOSE_TIMEOUT_MS)
      f.fetcher = null
    }
    for (const [topic, copies] of byTopic) {
      let f = this.fetches.get(topic)
      if (f === undefined) this.fetches.set(topic, (f = { fetcher: null, generation: 0, reading: null }))
      const reading = copies.map((c) => c.place.partition).sort((a, b) => a - b).join(',')
      if (f.fetcher !== null && f.reading === reading) continue
      const old = f.fetcher
      f.fetcher = null
      f.generation++
      if (old !== null) await withTimeout(old.close(), CLOSE_TIMEOUT_MS)
      const generation = f.generation
      const fetch = f
      // Each copy is fetched from the position its store holds, after its pending writes.
      for (const c of copies) await c.writing.catch(() => undefined)
      const positions = new Map(copies.map((c) => [c.place.partition, c.position]))
      const byPartition = new Map(copies.map((c) => [c.place.partition, c]))
      try {
        const fetcher = await PartitionFetcher.start({
          consumer: this.client(),
          topic,
          positions,
          deliver: (part, from) => {
            if (fetch.generation === generation) this.deliver(fetch, byPartition.get(part.partition), part, from)
          },
          failed: (err) => {
            if (fetch.generation !== generation) return
            fetch.fetcher = null
            fetch.reading = null
            // A position the log no longer has: the copies are opened again, which checks each against the
            // log's start and end as a restore does.
            if (err instanceof KafkaFetchError && err.errorCode === OFFSET_OUT_OF_RANGE) for (const c of copies) c.failed = true
            console.error(`sluice: standby copies: fetching ${topic} failed (${err.message}); started again shortly`)
          },
        })
        if (fetch.generation !== generation || this.closed) {
          await withTimeout(fetcher.close(), CLOSE_TIMEOUT_MS)
          continue
        }
        fetch.fetcher = fetcher
        fetch.reading = reading
      } catch (err) {
        console.error(`sluice: standby copies: cannot fetch ${topic} now (${(err as Error).message}); trying again shortly`)
      }
    }
  }

  /** A fetch answer for copy `c`: its committed records and the position after them, in one RocksDB batch. */
  private deliver(fetch: TopicFetch, c: Copy | undefined, part: FetchedPartition, from: number): void {
    if (c === undefined || c.failed || this.copies.get(c.task) !== c || part.records === null) return
    if (from !== c.position) {
      // Not where the store stands (should not happen): the fetcher starts again from the store's position.
      this.restartLater(fetch)
      return
    }
    const sink: RecordSink = { offsets: [], values: [], timestamps: [], keys: [], nulls: [] }
    let position: number
    try {
      position = readRecordBatches(part.records, c.position, part.aborted, sink)
    } catch (err) {
      console.error(`sluice: task ${taskLabel(c.task)}: standby copy: ${(err as Error).message}; opened again`)
      c.failed = true
      return
    }
    if (position === c.position) return
    const batch: Mutation[] = []
    for (let i = 0; i < sink.offsets.length; i++) batch.push(mutationOfRecord(sink.keys![i]!, sink.nulls![i]! ? null : sink.values[i]!))
    // The position travels with the records it follows: the store never claims records it does not hold.
    batch.push({ kind: 'put', key: CHANGELOG_NEXT_KEY, value: Buffer.from(String(position)) })
    c.position = position
    c.applied += sink.offsets.length
    const paused = sink.offsets.length >= PAUSE_RECORDS ? fetch.fetcher : null
    paused?.pause()
    c.writing = c.writing
      .then(() => (c.failed ? undefined : c.db.commit(batch)))
      .catch((err: unknown) => {
        // What it wrote before is intact, with its position: it is opened again from there.
        c.failed = true
        console.error(`sluice: task ${taskLabel(c.task)}: standby copy not written (${(err as Error).message}); opened again from what it holds`)
      })
      .finally(() => paused?.resume())
  }

  private restartLater(fetch: TopicFetch): void {
    fetch.generation++
    fetch.reading = null
    const fetcher = fetch.fetcher
    fetch.fetcher = null
    if (fetcher !== null) void withTimeout(fetcher.close(), CLOSE_TIMEOUT_MS)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const f of this.fetches.values()) {
      f.generation++
      if (f.fetcher !== null) await withTimeout(f.fetcher.close(), CLOSE_TIMEOUT_MS)
      f.fetcher = null
    }
    for (const c of [...this.copies.values()]) await this.closeCopy(c)
    const consumer = this.consumer
    this.consumer = null
    if (consumer !== null) await withTimeout(new Promise<void>((resolve) => consumer.close(true, () => resolve())), CLOSE_TIMEOUT_MS)
  }
}
