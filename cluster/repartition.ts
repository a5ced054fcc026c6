/**
 * Repartition topics (docs/cluster-repartitioning.md, "Repartitioned views"). A view grouped by something
 * other than its stream's key (placement.ts `repartitionKeys`) runs in every task engine, over an internal
 * topic keyed by its group key, so that every group lives in exactly one task, as Kafka Streams' repartition
 * topics do:
 *
 * - The *writer* of task p reads partition p of the stream and writes each event that passes the view's
 *   WHERE, its record unchanged, to the internal topic `_sluice_<cluster>_<view>_<hash>_repartition` (as
 *   many partitions as the stream), to the partition of its group key (murmur2 of the key as the state
 *   stores encode it, so equal groups always meet). It writes in Kafka transactions, each of which also
 *   commits how far in the stream it got (sendOffsetsToTransaction, to a group of its own): the records and
 *   the position are in Kafka together or not at all, on whichever node runs the task, and a writer that
 *   starts (anywhere) resumes from that position. Its transactional id is the view's and the partition's,
 *   so a new owner of the task fences the old one (a zombie's open transaction is aborted).
 * - Every record carries, in a small envelope (watermark-envelope.ts), the writer's source partition and
 *   that partition's watermark; a writer whose partition has nothing to write, or whose watermark moved,
 *   sends watermark-only records to every partition (at most once a second, and when its partition turns
 *   idle or busy again).
 * - The task engine reads partition p of the internal topic (read_committed) as a stream of its own
 *   (`_sluice_repartition_<view>`) and runs the view over it: the view's SQL with that stream in place of
 *   the source, its watermark the least over the source partitions' carried ones
 *   (executor/carried-watermarks.ts). Its own offsets and state are checkpointed as any view's are.
 *
 * The hash in the topic's name is of the stream's and the view's SQL and the envelope's version: a view
 * dropped and created again differently gets a new topic (the old one's records were chosen by another key
 * or WHERE).
 */
import { createHash } from 'node:crypto'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { murmur2 } from '@platformatic/kafka'
import type * as ast from '../parser/ast.ts'
import type { Value } from '../common/types.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import { compileExpr, compilePredicate, compileProjection } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { KafkaSource } from '../executor/connectors/kafka-source.ts'
import { committedOffsets, registerTransactionalId } from '../executor/connectors/kafka-resume.ts'
import { streamDecoder } from '../executor/record-decoder.ts'
import { tableKeyString } from '../executor/state/layout.ts'
import { statementOf } from './commands.ts'
import { Arrivals } from './kafka-io.ts'
import { SourceEnds } from './source-ends.ts'
import { repartitionKeys } from './placement.ts'
import { joinSideKeys } from './joins.ts'
import { PartialFold, partialPlan, partialStreamSql, partialViewSql, type PartialPlan } from './partials.ts'
import { openEnvelopes, wrapMark, wrapRecord } from './watermark-envelope.ts'
import type { RecordEnvelope } from '../executor/source.ts'

/** Events a writer takes from its partition per transaction, at most. */
const RECORDS_PER_TRANSACTION = 5000
/** A writer that failed (broker away, fenced by a new owner not yet told to us) starts over after this long. */
const RETRY_MS = 1000
/** The header naming where a record came from: `<source partition>:<source offset>` (for people reading the topic). */
const SOURCE_HEADER = 'sluice-source'
/** A writer sends its partition's watermark to every partition at most this often (and when it turns idle or busy). */
const MARK_EVERY_MS = 1000
/** Part of the topic's name: records of another envelope are in another topic. */
const ENVELOPE_VERSION = 'envelope-2'
/** Part of a partials topic's name: partial rows of another layout are in another topic. */
const PARTIALS_VERSION = 'partials-1'

/** What a task engine runs for one repartitioned view. */
export interface RepartitionPlan {
  readonly view: ViewDef
  readonly source: StreamDef
  /** The internal topic. */
  readonly topic: string
  /** The task engines' stream over it. */
  readonly stream: string
  readonly streamSql: string
  /** The view's SQL reading `stream` instead of its source. */
  readonly viewSql: string
  /** Two-phase aggregation: the writer folds events into these partial rows (partials.ts). */
  readonly partial?: PartialPlan
}

/** The prefix of the task engines' streams over internal topics. */
const STREAM_PREFIX = '_sluice_repartition_'

/** A task engine's envelope for a stream (EngineOptions.recordEnvelope): an internal stream's records carry watermarks. */
export const repartitionEnvelope = (def: StreamDef): RecordEnvelope | undefined =>
  def.name.startsWith(STREAM_PREFIX) && def.source.kind === 'kafka' && /^_sluice_.*_repartition$/.test(def.source.topic) ? openEnvelopes : undefined

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`

/** The internal stream and view SQL of a repartitioned view (`view` planned on a catalog with `source`). */
export function repartitionPlan(cluster: string, view: ViewDef, source: StreamDef): RepartitionPlan {
  const hash = createHash('sha256').update(source.sql).update('\0').update(view.sql).update('\0').update(ENVELOPE_VERSION).digest('hex').slice(0, 8)
  const topic = `_sluice_${cluster}_${view.name}_${hash}_repartition`
  const stream = `${STREAM_PREFIX}${view.name}`
  return { view, source, topic, stream, streamSql: internalStreamSql(source.sql, stream, topic), viewSql: readingStream(view.sql, source.name, stream) }
}

/** The suffix of a repartitioned join's right stream's internal stream (the left's has none). */
const RIGHT_SIDE = '/right'

/**
 * Every internal topic a repartitioned view reads: one, or a repartitioned join's two (joins.ts), one per
 * stream, each keyed by its side of the join key, with the view's SQL reading both.
 */
export function repartitionPlans(cluster: string, view: ViewDef): RepartitionPlan[] {
  const j = view.plan.intervalJoin
  const partial = j === undefined && repartitionKeys(view) === null ? partialPlan(view) : null
  if (partial !== null) {
    // Two-phase aggregation: the topic holds partial rows (partials.ts), not events.
    const source = view.plan.source
    const hash = createHash('sha256').update(source.sql).update('\0').update(view.sql).update('\0').update(ENVELOPE_VERSION).update('\0').update(PARTIALS_VERSION).digest('hex').slice(0, 8)
    const topic = `_sluice_${cluster}_${view.name}_${hash}_partials_repartition`
    const stream = `${STREAM_PREFIX}${view.name}`
    return [{ view, source, topic, stream, streamSql: partialStreamSql(partial, stream, topic), viewSql: partialViewSql(partial, stream), partial }]
  }
  if (j === undefined) return [repartitionPlan(cluster, view, view.plan.source)]
  const hash = createHash('sha256').update(j.left.sql).update('\0').update(j.right.sql).update('\0').update(view.sql).update('\0').update(ENVELOPE_VERSION).digest('hex').slice(0, 8)
  const sides = [
    { source: j.left, stream: `${STREAM_PREFIX}${view.name}`, topic: `_sluice_${cluster}_${view.name}_${hash}_left_repartition` },
    { source: j.right, stream: `${STREAM_PREFIX}${view.name}${RIGHT_SIDE}`, topic: `_sluice_${cluster}_${view.name}_${hash}_right_repartition` },
  ]
  const viewSql = sides.reduce((sql, side) => readingStream(sql, side.source.name, side.stream), view.sql)
  return sides.map(({ source, stream, topic }) => ({ view, source, topic, stream, streamSql: internalStreamSql(source.sql, stream, topic), viewSql }))
}

/** The source's CREATE STREAM, renamed, on the internal topic from its beginning. */
function internalStreamSql(sql: string, name: string, topic: string): string {
  const stmt = statementOf(sql, 'create_stream')
  const kept = stmt.options.filter((o) => !['partitions', 'connector', 'topic', 'start'].includes(o.name)).map((o) => sql.slice(o.span.start, o.span.end))
  const options = [...kept, `connector = 'kafka'`, `topic = ${sqlString(topic)}`, `start = 'earliest'`].join(', ')
  const bodyEnd = stmt.options.length === 0 ? sql.replace(/[\s;]*$/, '').length : /with\s*\(\s*$/i.exec(sql.slice(0, Math.min(...stmt.options.map((o) => o.span.start))))!.index
  return `${sql.slice(0, stmt.name.span.start)}${ident(name)}${sql.slice(stmt.name.span.end, bodyEnd).replace(/\s*$/, '')} WITH (${options})`
}

/** `sql` (a CREATE MATERIALIZED VIEW) with every FROM reference to `from` made a reference to `to`. */
function readingStream(sql: string, from: string, to: string): string {
  // Text edits: [start, end, replacement].
  const edits: [number, number, string][] = []
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return
    if (Array.isArray(node)) return node.forEach(walk)
    const n = node as { kind?: string }
    if (n.kind === 'table_ref') {
      const ref = n as ast.TableRef
      // Without an alias, the stream's own name stays the alias: `plays.score` still means the column.
      if (ref.name.parts.length === 1 && ref.name.parts[0] === from) edits.push([ref.name.span.start, ref.name.span.end, ref.alias === undefined ? `${ident(to)} AS ${ident(from)}` : ident(to)])
      return
    }
    if (n.kind === 'window_tvf') {
      const tvf = n as ast.WindowTvf
      const input = tvf.input
      // TUMBLE(plays, ...) takes no alias inside: the window's own alias keeps the name.
      if (input.kind === 'table_ref' && input.name.parts.length === 1 && input.name.parts[0] === from) {
        edits.push([input.name.span.start, input.name.span.end, ident(to)])
        if (tvf.alias === undefined && input.alias === undefined) edits.push([tvf.span.end, tvf.span.end, ` AS ${ident(from)}`])
        for (const [k, v] of Object.entries(tvf)) if (k !== 'input') walk(v)
        return
      }
    }
    if (n.kind === 'match_recognize') {
      const input = (n as { input?: ast.TableRef }).input
      // `plays MATCH_RECOGNIZE (...) AS m` takes no alias before the clause (and needs none: its columns are
      // unqualified or qualified by pattern variables).
      if (input?.kind === 'table_ref' && input.name.parts.length === 1 && input.name.parts[0] === from && input.alias === undefined) {
        edits.push([input.name.span.start, input.name.span.end, ident(to)])
        for (const [k, v] of Object.entries(n)) if (k !== 'input') walk(v)
        return
      }
    }
    for (const v of Object.values(node)) walk(v)
  }
  walk(statementOf(sql, 'create_view').query)
  let out = sql
  // From the last to the first, so that earlier spans stay where they are.
  for (const [start, end, text] of edits.sort((a, b) => b[0] - a[0])) out = out.slice(0, start) + text + out.slice(end)
  return out
}

/**
 * The writer of one repartitioned view for one task: partition `partition` of the source stream to the
 * internal topic, exactly once (see the top of this file). Runs until `stop`; failures start it over.
 */
export class RepartitionWriter {
  private stopped = false
  private readonly done: Promise<void>
  private readonly arrivals = new Arrivals()
  private source: KafkaSource | null = null
  private producer: Producer | null = null
  /** Records written (committed) since this writer started. */
  written = 0
  /** Watermark-only records written (committed) since this writer started. */
  marks = 0

  constructor(
    private readonly kafka: Kafka,
    private readonly brokers: readonly string[],
    private readonly cluster: string,
    readonly plan: RepartitionPlan,
    readonly partition: number,
    /** The internal topic's partition count (the stream's). */
    private readonly partitions: number,
  ) {
    this.done = this.run()
  }

  /** Its transactional id: one writer of this view's partition at a time in the whole cluster. */
  private get id(): string {
    return `${this.plan.topic}_${this.partition}`
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.session()
      } catch (err) {
        if (this.stopped) break
        console.error(`sluice: repartition of ${this.plan.view.name}, partition ${this.partition}: ${(err as Error).message}; starting over in ${RETRY_MS / 1000} s`)
        await this.release()
        await new Promise((r) => setTimeout(r, RETRY_MS).unref())
      }
    }
    await this.release()
  }

  /** One producer's life: resume from the committed position and write until stopped or failed. */
  private async session(): Promise<void> {
    const producer = (this.producer = this.kafka.producer({ transactionalId: this.id, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false }))
    // Registering the transactional id fences an older writer of it and waits out its open transaction, so
    // the position read next (stable) is final until this producer commits another (kafka-resume.ts).
    await producer.connect()
    await registerTransactionalId(producer)
    const from = await this.committed()
    const plan = this.plan
    const topic = plan.source.source.kind === 'kafka' ? plan.source.source.topic : plan.source.name
    const source = (this.source = await KafkaSource.open({ brokers: this.brokers, topic, start: 'earliest', groupId: `sluice-${this.cluster}-repartition`, partitions: [this.partition], onArrival: () => this.arrivals.wake() }))
    const positions = new Array<number | undefined>(source.partitionCount).fill(undefined)
    positions[this.partition] = from ?? undefined
    await source.start(positions)
    const select = recordSelector(plan.view, plan.source, this.partitions)
    const fold = plan.partial === undefined ? null : new PartialFold(plan.partial)
    let next = from ?? 0
    // The partition's watermark as far as this writer read (from its committed position: lower than before a
    // restart at first, which readers ignore, as they keep the largest they heard), and what it last sent
    // to every partition (null: nothing yet in this life).
    const carried = new WriterWatermark()
    while (!this.stopped) {
      const batch = await source.read(this.partition, next, RECORDS_PER_TRANSACTION)
      if (batch.records.length === 0) {
        // (Past transaction markers at most: nothing to write.)
        next = Math.max(next, batch.nextOffset)
        const idle = source.idle(this.partition, next)
        if (carried.due(idle, Date.now())) await this.commit(producer, topic, [], carried.broadcast(idle, Date.now(), this.partitions, this.partition, next), next)
        else await this.arrivals.wait()
        continue
      }
      // Two-phase aggregation (partials.ts): the events are folded into partial rows per window.
      const before = carried.watermark
      const messages: Message[] = batch.records.flatMap((record, i) => {
        const offset = batch.offsets?.[i] ?? next + i
        const at = batch.timestamps?.[i]
        const { to, watermark, row } = select(record, this.partition, offset, at ?? null)
        carried.observe(watermark)
        if (to === null) return []
        if (fold !== null && row !== undefined) {
          try {
            fold.add(row, { now: Date.now() * 1000, user: 'sluice', database: 'sluice' })
            return []
          } catch {
            // (Written as it is, unkeyed, for the task reading it to report: see recordSelector.)
            return [{ partition: this.partition, value: wrapRecord(Buffer.isBuffer(record) ? record : Buffer.from(record, 'utf8'), this.partition, carried.watermark), headers: { [SOURCE_HEADER]: `${this.partition}:${offset}` } }]
          }
        }
        return [
          {
            partition: to.partition,
            ...(to.key === null ? {} : { key: to.key }),
            value: wrapRecord(Buffer.isBuffer(record) ? record : Buffer.from(record, 'utf8'), this.partition, carried.watermark),
            ...(at === undefined ? {} : { timestamp: String(Math.floor(at / 1000)) }),
            headers: { [SOURCE_HEADER]: `${this.partition}:${offset}` },
          },
        ]
      })
      if (fold !== null) {
        // Each window's partial row, to its window's partition, carrying the watermark from before the batch
        // (the marks after it carry the batch's own): a reader judges it as it would the batch's events.
        const range = `${this.partition}:${next}-${batch.nextOffset - 1}`
        for (const p of fold.drain()) {
          const key = Buffer.from(p.key, 'utf8')
          messages.push({ partition: (murmur2(key) & 0x7fffffff) % this.partitions, key, value: wrapRecord(Buffer.from(p.value, 'utf8'), this.partition, before), headers: { [SOURCE_HEADER]: range } })
        }
      }
      // After the records, in the same transaction: the partition is busy again, or its watermark moved.
      const marks = carried.due(false, Date.now()) ? carried.broadcast(false, Date.now(), this.partitions, this.partition, batch.nextOffset) : []
      await this.commit(producer, topic, messages, marks, batch.nextOffset)
      this.written += messages.length
      next = batch.nextOffset
      source.release(this.partition, next)
    }
  }

  /** One transaction: `messages`, then `marks`, and the position `next` in the stream. */
  private async commit(producer: Producer, topic: string, messages: Message[], marks: Message[], next: number): Promise<void> {
    const tx = await producer.transaction()
    try {
      // (A batch the WHERE emptied still commits its position.)
      if (messages.length + marks.length > 0) await tx.send({ topic: this.plan.topic, messages: messages.concat(marks) })
      await tx.sendOffsets({ consumerGroupId: this.group, topics: [{ topic, partitions: [{ partition: this.partition, offset: String(next) }] }] })
      await tx.commit()
    } catch (err) {
      if (tx.isActive()) await tx.abort().catch(() => undefined)
      throw err
    }
    this.marks += marks.length
  }

  private get group(): string {
    return writersGroup(this.plan)
  }

  /** The stream offset this view's writer of the partition committed last, or null (none: from the start). */
  private async committed(): Promise<number | null> {
    // Stable (kafka-resume.ts): read the position before this producer's last transaction was taken in
    // and that transaction's records would be written again.
    const topic = this.plan.source.source.kind === 'kafka' ? this.plan.source.source.topic : this.plan.source.name
    return (await committedOffsets(this.brokers, this.group, topic, [this.partition])).get(this.partition) ?? null
  }

  private async release(): Promise<void> {
    const source = this.source
    const producer = this.producer
    this.source = null
    this.producer = null
    await source?.close().catch(() => undefined)
    await producer?.disconnect().catch(() => undefined)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.arrivals.wake()
    await this.done
  }
}

/** A record for kafkajs. */
type Message = { partition: number; key?: Buffer; value: Buffer; timestamp?: string; headers?: Record<string, string> }

/**
 * A writer's watermark of its source partition and when to send it to every partition of the internal
 * topic: when the partition turns idle or busy (as the engine's Kafka source judges it), and when the
 * watermark moved, at most once per MARK_EVERY_MS. Pure; its tests are in repartition.test.ts.
 */
export class WriterWatermark {
  watermark = Number.NEGATIVE_INFINITY
  private sentWatermark = Number.NEGATIVE_INFINITY
  private sentIdle: boolean | null = null
  private sentAt = Number.NEGATIVE_INFINITY

  /** The watermark expression's value of a record read (null: none, such as a record that does not decode). */
  observe(w: number | null): void {
    if (w !== null && w > this.watermark) this.watermark = w
  }

  /** Whether watermark-only records are due now, the partition being `idle` or not. */
  due(idle: boolean, now: number): boolean {
    if (idle !== this.sentIdle) return true
    return this.watermark > this.sentWatermark && now - this.sentAt >= MARK_EVERY_MS
  }

  /** The watermark-only records to every one of `partitions` partitions, noted as sent; `position`: the writer's in `source`. */
  broadcast(idle: boolean, now: number, partitions: number, source: number, position: number): Message[] {
    this.sentIdle = idle
    this.sentWatermark = this.watermark
    this.sentAt = now
    const value = wrapMark(source, this.watermark, idle, position)
    return Array.from({ length: partitions }, (_, partition) => ({ partition, value }))
  }
}

/** The group the writers of a view commit their positions in the stream to. */
const writersGroup = (plan: RepartitionPlan): string => `${plan.topic}_writers`

/** Where a source record goes, and the value of the stream's watermark expression for it. */
export interface Selected {
  /** The partition of its group key (and the key); null when the view would not take it in. */
  readonly to: { key: Buffer | null; partition: number } | null
  /** The stream's watermark expression over the record (null: no event time, or not an event). */
  readonly watermark: number | null
  /** The decoded event, when `to` is not null and it decoded and evaluated (for two-phase aggregation's fold). */
  readonly row?: readonly Value[]
}

/**
 * Where a source record goes: the partition of its group key (and the key), or nowhere when the view would
 * not take it in (its WHERE drops it, or it is a record of another event type). A record the view cannot
 * decode or evaluate is written unkeyed to the same partition number, so that the task engine reading it
 * reports it as the embedded engine would (a dead letter, or the view's error). Every event counts for the
 * watermark, as in one process (WHERE or not). A windowed view's WHERE is left to the view: a SESSION's
 * events all shape sessions, and a window's late events are counted before its WHERE.
 */
export function recordSelector(view: ViewDef, source: StreamDef, partitions: number): (record: Buffer | string, partition: number, offset: number, timestamp: number | null) => Selected {
  const decode = streamDecoder(source)
  // A join's side: keyed by its join key columns; its WHERE reads the joined row, so it is the view's alone.
  const join = joinSideKeys(view, source)
  const keys = compileProjection(join ?? repartitionKeys(view) ?? [])
  // A window's, an OVER's or a pattern's WHERE is left to the view (events it filters may still count as late).
  const where = join !== null || view.plan.filter === null || view.plan.window !== null || view.plan.body.kind !== 'aggregate' ? null : compilePredicate(view.plan.filter)
  const watermarkOf = source.watermark === null ? null : compileExpr(source.watermark.expr)
  const none: Value[] = []
  return (record, partition, offset, timestamp) => {
    let watermark: number | null = null
    try {
      const row = decode(record, partition, offset, timestamp)
      if (row === null) return { to: null, watermark }
      const ctx: EvalContext = { now: Date.now() * 1000, user: 'sluice', database: 'sluice' }
      if (watermarkOf !== null) {
        const w = watermarkOf(row, none, ctx)
        if (typeof w === 'number') watermark = w
      }
      // (The view applies its WHERE again: the writer only spares the topic what it would drop.)
      if (where !== null && !where(row, none, ctx)) return { to: null, watermark }
      const key = Buffer.from(tableKeyString(0, keys(row, none, ctx)), 'latin1')
      return { to: { key, partition: (murmur2(key) & 0x7fffffff) % partitions }, watermark, row }
    } catch {
      return { to: { key: null, partition }, watermark }
    }
  }
}

/**
 * A node's repartitioning: the internal topics (created when absent) and, per task it runs, a writer per
 * repartitioned view. Task engines call `prepare` before they create the internal streams, `follow` after.
 */
export class Repartitioner {
  private readonly kafka: Kafka
  /** By task, by internal topic. */
  private readonly writers = new Map<number, Map<string, RepartitionWriter>>()
  /** Internal topics known to exist, with their partition count. */
  private readonly topics = new Map<string, number>()
  /** Internal topic -> the topic its writers read. */
  private readonly sources = new Map<string, string>()
  /** Where the writers' source topics end (for the task engines' idle marks). */
  private readonly ends: SourceEnds

  constructor(
    private readonly brokers: readonly string[],
    readonly cluster: string,
    private readonly io: { ensureTopic(name: string, partitions: number, configs?: Record<string, string>): Promise<void>; endOffsets(topic: string): Promise<number[]> },
  ) {
    this.kafka = new Kafka({ clientId: `sluice-${cluster}-repartition`, brokers: [...brokers], logLevel: logLevel.NOTHING })
    this.ends = new SourceEnds((topic) => io.endOffsets(topic))
  }

  /**
   * A task engine's stream over an internal topic (EngineOptions.carriedSourceEnds): where each partition of
   * the topic its writers read ends. Undefined for other streams, and for an internal topic not prepared here.
   */
  sourceEnds(def: StreamDef): ((partition: number) => number | undefined) | undefined {
    if (repartitionEnvelope(def) === undefined || def.source.kind !== 'kafka') return undefined
    const topic = def.source.topic
    // Looked up when asked: a task engine restored from its directory may deploy the stream before the
    // task's writers prepared the topic here (not known until then: the idle marks are not trusted).
    return (partition) => {
      const source = this.sources.get(topic)
      return source === undefined ? undefined : this.ends.end(source, partition)
    }
  }

  /** The internal topics of a repartitioned view: one, or a join's two. */
  plans(view: ViewDef): RepartitionPlan[] {
    return repartitionPlans(this.cluster, view)
  }

  /**
   * Creates the internal topics of `plans` that do not exist yet, with the stream's partition count. They
   * keep every record (as stream topics do): a task new to a node restores by reading its partition of
   * them from the beginning.
   */
  async prepare(plans: readonly RepartitionPlan[]): Promise<void> {
    for (const p of plans) {
      const from = p.source.source.kind === 'kafka' ? p.source.source.topic : p.source.name
      this.sources.set(p.topic, from)
      if (this.topics.has(p.topic)) continue
      const partitions = (await this.io.endOffsets(from)).length
      if (partitions === 0) throw new Error(`Kafka topic "${from}" has no partitions yet`)
      await this.io.ensureTopic(p.topic, partitions, { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' })
      this.topics.set(p.topic, partitions)
    }
  }

  /** Task `task` runs the views of `plans`: their writers run, any other writer of the task stops. */
  async follow(task: number, plans: readonly RepartitionPlan[]): Promise<void> {
    await this.prepare(plans)
    const mine = this.writers.get(task) ?? new Map<string, RepartitionWriter>()
    this.writers.set(task, mine)
    const want = new Set(plans.map((p) => p.topic))
    for (const [topic, w] of mine) {
      if (want.has(topic)) continue
      mine.delete(topic)
      await w.stop()
    }
    for (const p of plans) if (!mine.has(p.topic)) mine.set(p.topic, new RepartitionWriter(this.kafka, this.brokers, this.cluster, p, task, this.topics.get(p.topic)!))
  }

  /**
   * Read your writes for a repartitioned view (pull.ts, before it gathers the tasks' rows): waits, at most
   * `ms`, until every task's writer (on whichever node) has committed a position at or past the stream's
   * end as of now, so that what was in the stream is in the internal topic; each task engine then waits to
   * have read its partition of it, as for any view. Gives up quietly at `ms` (the read is then as fresh as
   * the writers are), as the embedded engine's wait does.
   */
  async waitWritten(view: ViewDef, ms: number): Promise<void> {
    const deadline = Date.now() + ms
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      for (const plan of this.plans(view)) {
        const topic = plan.source.source.kind === 'kafka' ? plan.source.source.topic : plan.source.name
        const ends = await this.io.endOffsets(topic)
        for (;;) {
          const offsets = await admin.fetchOffsets({ groupId: writersGroup(plan), topics: [topic] })
          const at = offsets.find((t) => t.topic === topic)?.partitions ?? []
          if (ends.every((end, p) => end === 0 || Number(at.find((x) => x.partition === p)?.offset ?? -1) >= end)) break
          if (Date.now() >= deadline) return
          await new Promise((r) => setTimeout(r, 50).unref())
        }
      }
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }

  /** The repartitioned views' writers running here, by task (for sluice_tasks). */
  running(): { task: number; plan: RepartitionPlan; written: number; marks: number }[] {
    return [...this.writers].flatMap(([task, mine]) => [...mine.values()].map((w) => ({ task, plan: w.plan, written: w.written, marks: w.marks })))
  }

  /** The task left this node (or the node closes): its writers stop. */
  async stopTask(task: number): Promise<void> {
    const mine = this.writers.get(task)
    this.writers.delete(task)
    for (const w of mine?.values() ?? []) await w.stop()
  }

  async close(): Promise<void> {
    this.ends.close()
    for (const task of [...this.writers.keys()]) await this.stopTask(task)
  }
}
