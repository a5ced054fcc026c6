/**
 * Deliveries: what leaves the engine other than query results. Sinks (CREATE / DROP SINK, deploying one
 * with its outbox recovered, the installation id that names this Sluice to Kafka, a view sink's upserts
 * taken at each checkpoint) and dead letters (records that did not decode, webhooks that failed for good).
 * The outbox batches themselves are written by checkpoints.ts and handed to the sink's target once durable.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { SqlState, planError, type Span } from '../../common/errors.ts'
import type * as ast from '../../parser/ast.ts'
import { jsonCodec } from '../state/codec.ts'
import { DecodeError } from '../decode.ts'
import { recordText } from '../record-text.ts'
import { SinkRuntime, type SinkProgress } from '../sink.ts'
import type { SinkRecord } from '../connectors/sink-target.ts'
import { openSinkTarget } from '../connectors/sink-targets.ts'
import { planSink, type SinkDef } from '../../planner/sink-plan.ts'
import { CATALOG_PREFIX, DEAD_LETTER_PREFIX, type DeadLetter, EnginePart, MAX_DEAD_LETTER_RAW, OUTBOX_PREFIX, SINK_PROGRESS_PREFIX, type StreamRuntime, catalogValue, lastPart, outboxKey, prefixRange } from './state.ts'

export class Deliveries extends EnginePart {
  /** CREATE SINK: starts writing the stream's events, or the view's changes, to a topic, a table or files. */
  createSink(stmt: ast.CreateSink, sql: string): Promise<'created' | 'exists'> {
    return this.serialized(async () => {
      const name = lastPart(stmt.name)
      if (this.sinks.has(name) || this.catalog.has(name)) {
        if (stmt.ifNotExists && this.sinks.has(name)) return 'exists'
        throw planError(SqlState.duplicateObject, `sink or relation "${name}" already exists`, stmt.name.span)
      }
      const def = planSink(stmt, this.catalog, this.catalog.allocateId(), sql)
      // No checkpoint between the snapshot and the sink's first capture: changes made meanwhile stay
      // dirty and reach the sink after the snapshot's rows, never before them.
      this.checkpointHolds++
      let sink: SinkRuntime
      try {
        sink = await this.deploySink(def, undefined, false)
      } catch (err) {
        this.checkpointHolds--
        throw err
      }
      try {
        // A view sink starts with the view as it is: every current group, then its changes.
        // Groups (or rows) written since the last checkpoint are left out: the sink's first checkpoint
        // captures them as changes, after these rows.
        const view = this.catalog.get(def.from)
        const q = view?.kind === 'view' ? this.queries.get(view.name) : undefined
        const table = view?.kind === 'view' ? this.tables.get(view.id) : undefined
        if (q !== undefined && table !== undefined) {
          const dirty = new Set([...table.changes()].map(([k]) => k))
          for await (const [key, value] of table.scan()) {
            if (dirty.has(key)) continue
            // Only visible groups; an entry of an appending view can hold a batch of rows (the rows a view
            // over a view takes in at once): each is a record, as when the checkpoint captures them.
            q.operator.changes(key, value, {
              upsert: (row, visible) => {
                if (visible) sink.upsert(row, true)
              },
              append: (row) => sink.append(row),
            })
          }
        }
        await this.db.commit([{ kind: 'put', key: Buffer.from(`${CATALOG_PREFIX}${def.id}`), value: catalogValue(def) }])
        // The view's rows go out with the next checkpoint, without waiting for new events to make one.
        this.dirtySinceCheckpoint = true
        this.wake()
      } catch (err) {
        await this.undeploySink(sink)
        throw err
      } finally {
        this.checkpointHolds--
      }
      this.wake()
      return 'created'
    })
  }

  async deploySink(def: SinkDef, progress: SinkProgress | undefined, recover: boolean): Promise<SinkRuntime> {
    // Cluster mode: a node's front engine (it reads no partition) only checks the target; a task engine's
    // sinks are tagged per sink and task (cluster/sinks.ts).
    const taskSinks = this.options.taskSinks
    const writer = await openSinkTarget(def, {
      kafkaBrokers: this.options.kafkaBrokers ?? [],
      sinkTag: taskSinks?.tag(def) ?? `${await this.installationId()}-${def.id}`,
      filesDir: this.options.fileDir ?? join(this.options.dataDir, 'files'),
      prepare: !recover,
      checkOnly: this.options.kafkaPartitions?.length === 0,
      ...(taskSinks === undefined ? {} : { retry: (err: Error) => taskSinks.retry(err) }),
    })
    const source = this.catalog.get(def.from)
    const rt = source?.kind === 'stream' ? this.streams.get(source.name) : undefined
    const forget = (batch: number) => this.db.commit([{ kind: 'delete', key: Buffer.from(outboxKey(def.id, batch)) }])
    const sink = new SinkRuntime(def, rt?.def.partitions ?? 0, writer, forget, progress)
    if (recover) {
      for await (const [k, v] of this.db.scan(prefixRange(`${OUTBOX_PREFIX}${def.id}/`))) {
        sink.restore(Number(k.toString('utf8').split('/')[2]), jsonCodec.decode(v) as SinkRecord[])
      }
      if (sink.outbox.size > 0) {
        await sink.skipDelivered(await writer.lastDelivered())
        void sink.deliver()
      }
    }
    this.sinks.set(def.name, sink)
    rt?.sinks.push(sink)
    return sink
  }

  async undeploySink(sink: SinkRuntime): Promise<void> {
    this.sinks.delete(sink.name)
    const rt = this.streams.get(sink.def.from)
    if (rt) rt.sinks.splice(rt.sinks.indexOf(sink), 1)
    await sink.drop()
    const outbox = prefixRange(`${OUTBOX_PREFIX}${sink.def.id}/`)
    await this.db.commit([
      { kind: 'delete', key: Buffer.from(`${CATALOG_PREFIX}${sink.def.id}`) },
      { kind: 'delete', key: Buffer.from(`${SINK_PROGRESS_PREFIX}${sink.def.id}`) },
      { kind: 'deleteRange', start: outbox.gte, end: outbox.lt },
    ])
  }

  /** DROP SINK: stops it; batches not yet in Kafka are discarded. */
  dropSink(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.serialized(async () => {
      const sink = this.sinks.get(name)
      if (sink === undefined) {
        if (ifExists) return false
        throw planError(SqlState.undefinedObject, `sink "${name}" does not exist`, span)
      }
      await this.undeploySink(sink)
      return true
    })
  }

  private installation: string | null = null

  /** A random id made on first start and kept in the state store: names this Sluice to Kafka. */
  private async installationId(): Promise<string> {
    if (this.installation !== null) return this.installation
    const key = Buffer.from('meta/installation')
    const stored = await this.db.get(key)
    if (stored !== null) return (this.installation = stored.toString('utf8'))
    const id = randomBytes(6).toString('hex')
    await this.db.commit([{ kind: 'put', key, value: Buffer.from(id) }])
    return (this.installation = id)
  }

  /** Every running sink (sluice_sinks). */
  sinkRuntimes(): SinkRuntime[] {
    return [...this.sinks.values()]
  }

  /** A record the scan could not decode: kept (cut to MAX_DEAD_LETTER_RAW) for the next checkpoint. */
  fileDeadLetter(rt: StreamRuntime, partition: number, offset: number, record: Buffer | string, err: unknown): void {
    const reason = err instanceof DecodeError ? err.message : `decode failed: ${(err as Error).message}`
    const raw = recordText(typeof record === 'string' ? record : record.subarray(0, MAX_DEAD_LETTER_RAW)).slice(0, MAX_DEAD_LETTER_RAW)
    this.deadLetterCount++
    this.metrics.deadLetter(rt.def.name)
    this.pendingDeadLetters.push({ stream: rt.def.name, partition, offset, reason, raw, receivedAt: Date.now() * 1000 })
  }

  /** View sinks: the groups this checkpoint writes become their upserts (before collectDirty clears them). */
  captureViewChanges(): void {
    for (const sink of this.sinks.values()) {
      const view = this.catalog.get(sink.def.from)
      if (view?.kind !== 'view') continue
      const q = this.queries.get(view.name)
      const table = this.tables.get(view.id)
      if (q === undefined || table === undefined) continue
      for (const [key, value] of table.changes()) {
        if (value === undefined) continue
        q.operator.changes(key, value, sink)
      }
    }
  }

  /** Dead letters checkpointed so far, then those still waiting for the next checkpoint (sluice_dead_letters). */
  async deadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = []
    for await (const [, v] of this.db.scan(prefixRange(DEAD_LETTER_PREFIX))) out.push(jsonCodec.decode(v) as DeadLetter)
    out.push(...this.pendingDeadLetters)
    return out
  }
}
