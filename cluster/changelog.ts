/**
 * State changelogs (docs/cluster.md, "State and exactly-once failover"). Every batch a task engine writes to
 * its RocksDB (each checkpoint: state, the views' input offsets and watermarks; each DDL) is first written to
 * the task's partition of a compacted changelog topic, in one Kafka transaction, and only then to RocksDB.
 * The changelog is the task's state as a log of RocksDB mutations: replayed in order into an empty store it
 * gives the store the last committed transaction left, offsets included (restore.ts), so a task moved to
 * another node resumes exactly where that transaction left it instead of re-reading its partition.
 *
 * - Topics: `_sluice_<cluster>_tasks_changelog` (partition p: task p; as many partitions as the stream
 *   topics had when it was created, never more later) and `_sluice_<cluster>_global_changelog` (one
 *   partition: the global task). Compacted: a key's last record is its current value.
 * - Records: a put is the RocksDB key and value; a delete a tombstone (null value, header op=d); a range
 *   delete (DROP of a view) a record of its own key holding the range (header op=r).
 * - Offsets travel inside the transaction as what they already are, the views' progress records; not with
 *   sendOffsetsToTransaction: the group is for assignment only, and each view of a task has its own offsets
 *   (one per view and partition, a view created later starts behind the others), which one committed offset
 *   per partition and group cannot hold.
 * - Fencing: one transactional id per task. Opening a changelog registers it (InitProducerId), which aborts
 *   the open transaction of any earlier owner and fences it, before the new owner reads the changelog. It
 *   is registered only for a task the group confirmed to this node (task-fencing.ts). A transaction that
 *   fails because the id was registered elsewhere (fenced) breaks the changelog for good: the task engine
 *   stops and waits for the group (tasks.ts), it never registers again by itself (it might be the zombie,
 *   and registering again would fence the rightful owner after it restored).
 * - Broker outages (connections lost, requests timing out, the coordinator moving) are not fences: the same
 *   batch is retried with a new producer under the same id, with capped exponential backoff, and nothing is
 *   written to RocksDB until it commits (see `commit`).
 */
import { Kafka, logLevel, type Producer as KafkaProducer, type Transaction } from 'kafkajs'
import type { CommitLog, Mutation } from '../executor/state/rocks.ts'
import type { KafkaIo } from './kafka-io.ts'
import { GLOBAL_TASK, taskLabel } from './tasks.ts'
import { classifyChangelogError, outageBackoffMs } from './task-fencing.ts'

/** The local-only record of where in the changelog the store stands: the offset after its last transaction. */
export const CHANGELOG_NEXT_KEY = Buffer.from('changelog/next')
/** Header naming a record's kind when it is not a put (for people reading the topic: a restore reads the shape). */
export const OP_HEADER = 'op'
export const OP_DELETE = 'd'
export const OP_RANGE = 'r'
/** The first byte of a range delete's record key: no RocksDB key of Sluice's starts with it. */
const RANGE_KEY_TAG = 0xff
/** A send's records are cut at this many bytes (the broker takes batches of up to a megabyte by default). */
const SEND_BYTES = 512 * 1024
const SEND_RECORDS = 5000
/** A single state value may be bigger than Kafka's default record size. */
const MAX_RECORD_BYTES = String(8 * 1024 * 1024)

export const tasksChangelogTopic = (cluster: string): string => `_sluice_${cluster}_tasks_changelog`
export const globalChangelogTopic = (cluster: string): string => `_sluice_${cluster}_global_changelog`

/** Where a task's changelog is: its topic and partition. */
export interface ChangelogPlace {
  readonly topic: string
  readonly partition: number
}

/** A Kafka record of the changelog, as produced. */
interface ChangelogRecord {
  readonly key: Buffer
  readonly value: Buffer | null
  readonly headers?: Record<string, string>
}

/** One mutation as a changelog record (see the file comment). */
export function changelogRecord(m: Mutation): ChangelogRecord {
  if (m.kind === 'put') return { key: m.key, value: m.value }
  if (m.kind === 'delete') return { key: m.key, value: null, headers: { [OP_HEADER]: OP_DELETE } }
  // Keyed by the range itself: a later delete of the same range supersedes it in compaction, nothing else does.
  const key = Buffer.concat([Buffer.from([RANGE_KEY_TAG]), Buffer.from(`range/${m.start.toString('hex')}/${m.end.toString('hex')}`)])
  return { key, value: Buffer.from(JSON.stringify({ start: m.start.toString('hex'), end: m.end.toString('hex') })), headers: { [OP_HEADER]: OP_RANGE } }
}

/**
 * A changelog record read back as the mutation it was (restore.ts), from its shape alone (the headers are
 * for people reading the topic): a null value is a delete, a key with the range tag a range delete.
 */
export function mutationOfRecord(key: Buffer, value: Buffer | null): Mutation {
  if (value === null) return { kind: 'delete', key }
  if (key[0] === RANGE_KEY_TAG) {
    const r = JSON.parse(value.toString('utf8')) as { start: string; end: string }
    return { kind: 'deleteRange', start: Buffer.from(r.start, 'hex'), end: Buffer.from(r.end, 'hex') }
  }
  return { kind: 'put', key, value }
}

/** Whether a reconnect may register the id again (task-fencing.ts): go on, wait, or the task is not ours. */
export type RegisterGate = () => Promise<'register' | 'wait' | 'revoked'>

/** What a task's changelog tells its task engines. */
export interface ChangelogHooks {
  /** A transaction failed for good (not an outage): every later commit fails at once. Called once. */
  readonly broken: (err: Error, kind: 'fenced' | 'revoked' | 'other') => void
  /** Asked before the id is registered again after an outage. */
  readonly mayRegister: RegisterGate
}

/** A broker outage ended with the group giving the task to another node: the batch is not retried. */
export class RevokedError extends Error {}

/** How long a task being stopped keeps retrying a checkpoint through an outage before it gives up. */
const CLOSING_RETRY_MS = 10_000
/** Each step of tearing down a failed producer is given at most this long (the broker may be away). */
const TEARDOWN_MS = 3000

/** The changelog writer of one task engine: its transactional producer and what it wrote. */
export class TaskChangelog {
  /** Records written by this engine's transactions. */
  written = 0
  transactions = 0
  /** Producers registered after an outage; outages this engine went through. */
  reconnects = 0
  outages = 0
  /** Set by the first failure that is not an outage: every later commit fails at once (see the file comment). */
  private broken: Error | null = null
  /** The transaction begun at open or at a reconnect (which registered the id), used by the next commit. */
  private pending: Transaction | null
  /** Stopping: outage retries end at this time. */
  private retryUntil = Infinity
  private closed = false

  private constructor(
    readonly place: ChangelogPlace,
    private readonly task: number,
    private readonly id: string,
    private readonly brokers: readonly string[],
    private producer: KafkaProducer,
    first: Transaction,
    private readonly hooks: ChangelogHooks,
  ) {
    this.pending = first
  }

  /** Registers the task's transactional id (fencing any earlier owner); resolves once that is done. */
  static async open(brokers: readonly string[], cluster: string, task: number, place: ChangelogPlace, hooks: ChangelogHooks): Promise<TaskChangelog> {
    const id = `_sluice_${cluster}_changelog_${taskLabel(task)}`
    const { producer, first } = await register(brokers, id)
    return new TaskChangelog(place, task, id, brokers, producer, first, hooks)
  }

  /**
   * The engine's commit log: the batch in one transaction, then where the store stands, for RocksDB. Through
   * a broker outage the same batch is tried again, with a new producer, until it lands: the promise stays
   * pending meanwhile, so RocksDB is not written, and the engine holds one checkpoint in flight and pauses
   * its input once its dirty state reaches its budget (executor/engine/checkpoints.ts).
   */
  readonly commit: CommitLog = async (mutations) => {
    if (this.broken !== null) throw new Error(`the changelog of this task failed (${this.broken.message})`)
    const records = mutations.map(changelogRecord)
    let attempt = 0
    let outageSince = 0
    for (;;) {
      let tx = this.pending
      this.pending = null
      try {
        tx ??= await this.producer.transaction()
        const last = await this.send(tx, records)
        await tx.commit()
        this.written += mutations.length
        this.transactions++
        if (outageSince > 0) console.log(`sluice: task ${taskLabel(this.task)}: its changelog is reachable again; the checkpoint held back landed after ${((Date.now() - outageSince) / 1000).toFixed(1)} s (${attempt} attempts)`)
        // The offset after the last record (the transaction's marker): a restore here goes on from there. Unknown
        // (no offset in the answer): none, so that the next start restores the whole log rather than skip.
        return last < 0 ? [{ kind: 'delete', key: CHANGELOG_NEXT_KEY }] : [{ kind: 'put', key: CHANGELOG_NEXT_KEY, value: Buffer.from(String(last + 1)) }]
      } catch (err) {
        if (tx?.isActive()) await withTimeout(tx.abort(), TEARDOWN_MS)
        let failure = err as Error
        if (classifyChangelogError(failure) === 'outage' && !this.giveUp()) {
          // Logged once per outage, not per attempt.
          if (outageSince === 0) {
            outageSince = Date.now()
            this.outages++
            console.error(`sluice: task ${taskLabel(this.task)}: its changelog cannot be written (${failure.message}): a broker outage; the checkpoint is held back and retried with a new producer`)
          }
          try {
            attempt = await this.reconnect(attempt)
            continue
          } catch (again) {
            failure = again as Error
          }
        }
        const kind = failure instanceof RevokedError ? 'revoked' : classifyChangelogError(failure)
        this.broken = failure
        this.hooks.broken(failure, kind === 'outage' ? 'other' : kind)
        throw failure
      }
    }
  }

  /** Sends the records in chunks; the offset of the last one (-1: unknown). */
  private async send(tx: Transaction, records: readonly ChangelogRecord[]): Promise<number> {
    let last = -1
    for (let i = 0; i < records.length; ) {
      let bytes = 0
      let j = i
      while (j < records.length && j - i < SEND_RECORDS && bytes < SEND_BYTES) {
        const r = records[j++]!
        bytes += r.key.length + (r.value?.length ?? 0) + 16
      }
      const chunk = records.slice(i, j)
      const meta = await tx.send({ topic: this.place.topic, messages: chunk.map((r) => ({ ...r, partition: this.place.partition })) })
      const base = Number(meta.find((m) => m.partition === this.place.partition)?.baseOffset ?? NaN)
      last = Number.isFinite(base) ? base + chunk.length - 1 : -1
      i = j
    }
    return last
  }

  private giveUp(): boolean {
    return this.closed || Date.now() >= this.retryUntil
  }

  /**
   * After an outage: waits (capped exponential backoff), then registers the id with a new producer, once the
   * group still gives the task to this node. Returns the attempts made; throws when it gives up (stopping,
   * the task revoked, or a failure that is not an outage).
   */
  private async reconnect(attempt: number): Promise<number> {
    const old = this.producer
    void withTimeout(old.disconnect(), TEARDOWN_MS)
    for (;;) {
      await new Promise((r) => setTimeout(r, outageBackoffMs(attempt++)))
      if (this.giveUp()) throw new Error('the task is stopping; the checkpoint held back by the broker outage is not written')
      const gate = await this.hooks.mayRegister().catch(() => 'wait' as const)
      if (gate === 'revoked') throw new RevokedError('the group gave the task to another node during the broker outage')
      if (gate === 'wait') continue
      try {
        const { producer, first } = await register(this.brokers, this.id)
        if (this.closed) {
          await withTimeout(producer.disconnect(), TEARDOWN_MS)
          throw new Error('the task is stopping')
        }
        this.producer = producer
        this.pending = first
        this.reconnects++
        return attempt
      } catch (err) {
        if (classifyChangelogError(err) !== 'outage') throw err
      }
    }
  }

  /** The task stops: a checkpoint held back by an outage is retried for a short while more, then given up. */
  stopping(): void {
    this.retryUntil = Math.min(this.retryUntil, Date.now() + CLOSING_RETRY_MS)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.pending?.isActive()) await withTimeout(this.pending.abort(), TEARDOWN_MS)
    await withTimeout(this.producer.disconnect(), TEARDOWN_MS)
  }
}

/** A transactional producer for `id`, connected, with the id registered (InitProducerId) by its first transaction. */
async function register(brokers: readonly string[], id: string): Promise<{ producer: KafkaProducer; first: Transaction }> {
  const kafka = new Kafka({ clientId: id, brokers: [...brokers], logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  try {
    await producer.connect()
    // InitProducerId: the coordinator aborts what an earlier holder of the id left open, and fences it.
    const first = await producer.transaction()
    return { producer, first }
  } catch (err) {
    await withTimeout(producer.disconnect(), TEARDOWN_MS)
    throw err
  }
}

/** Waits for `p` (settled either way) at most `ms`: teardown that must not hang on a broker gone away. */
export function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
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

/**
 * The changelogs of a node's tasks: topics created when absent, each task's place in them. A task numbered
 * beyond the partitions the tasks' changelog was created with has none, ever (it restores by re-reading
 * its input, as without changelogs): partitions added later would hold only part of its state.
 */
export class Changelogs {
  private readonly partitions = new Map<string, number>()

  constructor(
    private readonly cluster: string,
    private readonly brokers: readonly string[],
    private readonly io: KafkaIo,
    /** The stream topics' partition count now (the tasks' changelog is created with as many). */
    private readonly taskCount: () => number,
  ) {}

  /** Where task `task` keeps its changelog, creating the topic when absent; null: it has none. */
  async placeOf(task: number): Promise<ChangelogPlace | null> {
    const topic = task === GLOBAL_TASK ? globalChangelogTopic(this.cluster) : tasksChangelogTopic(this.cluster)
    let count = this.partitions.get(topic)
    if (count === undefined) {
      const want = task === GLOBAL_TASK ? 1 : Math.max(1, this.taskCount())
      await this.io.ensureTopic(topic, want, { 'cleanup.policy': 'compact', 'max.message.bytes': MAX_RECORD_BYTES })
      count = (await this.io.endOffsets(topic)).length
      if (count === 0) throw new Error(`changelog topic ${topic} has no partitions yet`)
      this.partitions.set(topic, count)
    }
    const partition = task === GLOBAL_TASK ? 0 : task
    return partition < count ? { topic, partition } : null
  }

  open(task: number, place: ChangelogPlace, hooks: ChangelogHooks): Promise<TaskChangelog> {
    return TaskChangelog.open(this.brokers, this.cluster, task, place, hooks)
  }

  get brokerList(): readonly string[] {
    return this.brokers
  }
}
