/**
 * The engine: streams in embedded logs, materialized views as continuous queries, one state store, and one
 * loop that moves events from logs through queries and checkpoints them.
 *
 * - Shared scan: per stream partition the loop reads from the lowest offset any query still needs, decodes
 *   each record once, and hands the batch to every query; a query that is ahead skips what it has seen.
 * - Exactly-once state: a checkpoint writes every query's dirty state, its source offsets and watermark in
 *   one atomic RocksDB batch; on start each query resumes from what was committed.
 * - DDL deploys into the running loop; the catalog persists as the SQL of each entry, replayed on start.
 *
 * Engine is the facade the server, the benchmarks and the tests call; the work is done by its parts in
 * engine/, which share one EngineState (engine/state.ts) and import each other one way:
 * catalog-ddl -> trigger-ddl -> deploy -> inserts; catalog-ddl -> checkpoints -> deliveries;
 * loop -> checkpoints, deliveries; reads stands alone.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { SluiceError, type Span } from '../common/errors.ts'
import type { LiveFeed, SubscriptionOptions } from './change-feed.ts'
import type { Row, Value } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import type { TriggerDef } from '../planner/trigger-plan.ts'
import type { StreamSource } from './source.ts'
import { StateDb } from './state/rocks.ts'
import { StreamLog } from './log/stream-log.ts'
import { META_NAMESPACE } from './state/layout.ts'
import type { StreamDecoder } from './record-decoder.ts'
import { IngestKeys } from './ingest-keys.ts'
import type { ContinuousQuery } from './continuous-query.ts'
import type { SinkRuntime } from './sink.ts'
import type { TriggerFire } from './operators/trigger-fire.ts'
import { EnginePart, EngineState, SINK_DRAIN_MS, sleep, type DeadLetter, type EngineOptions } from './engine/state.ts'
import { CatalogDdl } from './engine/catalog-ddl.ts'
import { TriggerDdl } from './engine/trigger-ddl.ts'
import { Deploy } from './engine/deploy.ts'
import { Loop } from './engine/loop.ts'
import { Checkpoints } from './engine/checkpoints.ts'
import { Deliveries } from './engine/deliveries.ts'
import { Inserts } from './engine/inserts.ts'
import { Reads } from './engine/reads.ts'
import type { ClusterIngest, ClusterReads, ClusterSinkStats, DdlCommand, DdlRouter } from './engine/cluster-hooks.ts'

export class Engine extends EnginePart {
  /** CREATE / ALTER / DROP of streams and views, the catalog's persistence and replay. */
  private readonly catalogDdl: CatalogDdl
  /** CREATE / ALTER / DROP TRIGGER. */
  private readonly triggerDdl: TriggerDdl
  /** Streams, views and triggers put into the running engine and taken out. */
  private readonly deploy: Deploy
  /** The rounds of the shared scan and the watermark steps. */
  private readonly scanLoop: Loop
  private readonly checkpoints: Checkpoints
  /** Sinks (with their outboxes) and dead letters. */
  private readonly deliveries: Deliveries
  private readonly inserts: Inserts
  /** What pull queries and system tables read. */
  private readonly reads: Reads

  private constructor(options: EngineOptions, db: StateDb) {
    super(new EngineState(options, db))
    this.deliveries = new Deliveries(this.s)
    this.checkpoints = new Checkpoints(this.s, this.deliveries)
    this.scanLoop = new Loop(this.s, this.checkpoints, this.deliveries)
    this.inserts = new Inserts(this.s)
    this.reads = new Reads(this.s)
    this.deploy = new Deploy(this.s, this.inserts)
    this.triggerDdl = new TriggerDdl(this.s, this.deploy)
    this.catalogDdl = new CatalogDdl(this.s, this.deploy, this.deliveries, this.triggerDdl, this.checkpoints)
  }

  static async open(options: EngineOptions): Promise<Engine> {
    await mkdir(join(options.dataDir, 'streams'), { recursive: true })
    const db = await StateDb.open(join(options.dataDir, 'state'), options.commitLog)
    const engine = new Engine(options, db)
    engine.ingestKeys = await IngestKeys.open(db)
    await engine.catalogDdl.replayCatalog()
    // Keys committed with their batches in the streams' logs: those a crash kept out of the state store.
    for (const [name, rt] of engine.streams) if (rt.log instanceof StreamLog) engine.ingestKeys.recover(name, rt.log.committedTags)
    engine.loopDone = engine.scanLoop.loop()
    return engine
  }

  /** Whether the engine is processing events now (a round moved records in the last 20 ms). */
  /** Batches whose records were decoded on the decode thread (EngineOptions.decodeThread). */
  get batchesDecodedOnThread(): number {
    return this.scanLoop.batchesDecodedOnThread
  }

  busy(): boolean {
    return this.scanLoop.busy()
  }

  // DDL (catalog-ddl.ts, trigger-ddl.ts, and deliveries.ts for sinks). In cluster mode each statement goes
  // through the router (cluster/node.ts), which applies it with `local` once the command topic has it.

  /** The DDL of this process alone: what the embedded engine runs, and what a cluster node applies per command. */
  readonly local = {
    createStream: (stmt: ast.CreateStream, sql: string) => this.catalogDdl.createStream(stmt, sql),
    createView: (stmt: ast.CreateView, sql: string) => this.catalogDdl.createView(stmt, sql),
    createTrigger: (stmt: ast.CreateTrigger, sql: string, from?: readonly number[]) => this.triggerDdl.createTrigger(stmt, sql, from),
    alterTrigger: (stmt: ast.AlterTrigger, sql: string) => this.triggerDdl.alterTrigger(stmt, sql),
    alterView: (stmt: ast.AlterView, sql: string) => this.catalogDdl.alterView(stmt, sql),
    dropTrigger: (name: string, ifExists: boolean, span?: Span) => this.triggerDdl.dropTrigger(name, ifExists, span),
    closeStream: (name: string, span?: Span) => this.catalogDdl.closeStream(name, span),
    resetWatermark: (name: string, to: { readonly text: string; readonly span: Span } | undefined, span?: Span) => this.catalogDdl.resetWatermark(name, to, span),
    createSink: (stmt: ast.CreateSink, sql: string) => this.deliveries.createSink(stmt, sql),
    dropSink: (name: string, ifExists: boolean, span?: Span) => this.deliveries.dropSink(name, ifExists, span),
    drop: (kind: 'stream' | 'view', name: string, ifExists: boolean, cascade: boolean, span?: Span) => this.catalogDdl.drop(kind, name, ifExists, cascade, span),
  }

  private router: DdlRouter | null = null
  /** Cluster mode: the rows of sluice_cluster and sluice_tasks. */
  clusterTables: ((name: 'sluice_cluster' | 'sluice_tasks') => Promise<Row[]>) | null = null

  /**
   * Cluster mode: DDL goes through `router`, ingest into cluster streams through `ingest`, and pull queries
   * of views read the cluster's tasks through `reads`.
   */
  attachCluster(router: DdlRouter, ingest: ClusterIngest, tables: (name: 'sluice_cluster' | 'sluice_tasks') => Promise<Row[]>, reads: ClusterReads): void {
    this.router = router
    this.s.clusterIngest = ingest
    this.clusterTables = tables
    this.s.clusterReads = reads
  }

  /** Cluster mode: a sink's counters summed over the tasks that run it (null on a single process). */
  clusterSinkStats(name: string): Promise<ClusterSinkStats> | null {
    return this.s.clusterReads?.sinkStats(name) ?? null
  }

  /** Cluster mode: SUBSCRIBE to a view of the whole cluster (null on a single process). */
  clusterSubscribe(view: string, options: SubscriptionOptions): Promise<LiveFeed> | null {
    return this.s.clusterReads?.subscribe(view, options) ?? null
  }

  /** Cluster mode: this engine keeps the catalog and computes no view itself (see attachCluster). */
  get clustered(): boolean {
    return this.s.clusterReads !== null
  }

  /** Cluster catch-up: new streams start fetching only at `startDeferredSources` (catalog-ddl.ts). */
  deferSourceStarts(): void {
    this.catalogDdl.deferSourceStarts()
  }

  startDeferredSources(): Promise<void> {
    return this.catalogDdl.startDeferredSources()
  }

  private routed<T>(cmd: DdlCommand, local: () => Promise<T>): Promise<T> {
    return this.router === null ? local() : (this.router.submit(cmd) as Promise<T>)
  }

  createStream(stmt: ast.CreateStream, sql: string): Promise<'created' | 'exists'> {
    return this.routed({ op: 'create_stream', sql }, () => this.local.createStream(stmt, sql))
  }

  createView(stmt: ast.CreateView, sql: string): Promise<'created' | 'exists'> {
    return this.routed({ op: 'create_view', sql }, () => this.local.createView(stmt, sql))
  }

  createTrigger(stmt: ast.CreateTrigger, sql: string): Promise<'created' | 'exists'> {
    return this.routed({ op: 'create_trigger', sql }, () => this.local.createTrigger(stmt, sql))
  }

  alterTrigger(stmt: ast.AlterTrigger, sql: string): Promise<void> {
    return this.routed({ op: 'alter_trigger', sql }, () => this.local.alterTrigger(stmt, sql))
  }

  alterView(stmt: ast.AlterView, sql: string): Promise<void> {
    return this.routed({ op: 'alter_view', sql }, () => this.local.alterView(stmt, sql))
  }

  dropTrigger(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.routed({ op: 'drop_trigger', name, ifExists }, () => this.local.dropTrigger(name, ifExists, span))
  }

  closeStream(name: string, span?: Span): Promise<void> {
    return this.routed({ op: 'close_stream', name }, () => this.local.closeStream(name, span))
  }

  resetWatermark(name: string, to: { readonly text: string; readonly span: Span } | undefined, span?: Span): Promise<void> {
    return this.routed({ op: 'reset_watermark', name, to: to?.text ?? null }, () => this.local.resetWatermark(name, to, span))
  }

  createSink(stmt: ast.CreateSink, sql: string): Promise<'created' | 'exists'> {
    return this.routed({ op: 'create_sink', sql }, () => this.local.createSink(stmt, sql))
  }

  dropSink(name: string, ifExists: boolean, span?: Span): Promise<boolean> {
    return this.routed({ op: 'drop_sink', name, ifExists }, () => this.local.dropSink(name, ifExists, span))
  }

  sinkRuntimes(): SinkRuntime[] {
    return this.deliveries.sinkRuntimes()
  }

  viewDef(stmt: ast.CreateView, id: number, sql: string): ViewDef {
    return this.catalogDdl.viewDef(stmt, id, sql)
  }

  drop(kind: 'stream' | 'view', name: string, ifExists: boolean, cascade: boolean, span?: Span): Promise<boolean> {
    return this.routed({ op: 'drop', kind, name, ifExists, cascade }, () => this.local.drop(kind, name, ifExists, cascade, span))
  }

  // Ingest (inserts.ts)

  insert(streamName: string, rows: readonly Row[]): Promise<number> {
    return this.inserts.insert(streamName, rows)
  }

  insertJson(streamName: string, records: readonly (string | Buffer)[], tag?: Buffer): Promise<number> {
    return this.inserts.insertJson(streamName, records, tag)
  }

  checkRecords(streamName: string, records: readonly (string | Buffer)[]): { index: number; reason: string }[] {
    return this.inserts.checkRecords(streamName, records)
  }

  /** Writes all dirty state, offsets and watermarks in one atomic batch; resolves once it is durable (checkpoints.ts). */
  checkpoint(): Promise<void> {
    return this.checkpoints.checkpoint()
  }

  // Reading (reads.ts; dead letters in deliveries.ts)

  query(name: string): ContinuousQuery | undefined {
    return this.reads.query(name)
  }

  allQueries(): ContinuousQuery[] {
    return this.reads.allQueries()
  }

  streamRuntime(name: string): { readonly def: StreamDef; readonly log: StreamSource; readonly decode: StreamDecoder; readonly closed: boolean } | undefined {
    return this.reads.streamRuntime(name)
  }

  waitCaughtUp(viewName: string, timeoutMs = 2000): Promise<void> {
    return this.reads.waitCaughtUp(viewName, timeoutMs)
  }

  viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null> {
    return this.reads.viewPoint(name, keyValues)
  }

  viewRows(name: string): AsyncGenerator<Row> {
    return this.reads.viewRows(name)
  }

  streamRows(name: string, ends?: readonly number[]): AsyncGenerator<Row> {
    return this.reads.streamRows(name, ends)
  }

  deadLetters(): Promise<DeadLetter[]> {
    return this.deliveries.deadLetters()
  }

  lateEvents(): Promise<(Record<string, unknown>)[]> {
    return this.reads.lateEvents()
  }

  tableStats(id: number): { entries: number } {
    return this.reads.tableStats(id)
  }

  triggerStats(): Promise<{ def: TriggerDef; status: string; lastError: string | null; counters: Awaited<ReturnType<TriggerFire['stats']>> }[]> {
    return this.reads.triggerStats()
  }

  /** The triggers deployed here, in creation order (cluster/outputs.ts reconciles a task engine's with them). */
  triggerDefs(): TriggerDef[] {
    return [...this.triggers.values()].map((t) => t.def).sort((a, b) => a.id - b.id)
  }

  /** Stops the loop, writes a last checkpoint, hands sinks their last batches, and closes logs and the store. */
  async close(): Promise<void> {
    for (const t of this.triggers.values()) t.operator.close()
    this.stopping = true
    this.wake()
    await this.loopDone
    // DDL waiting for a pause between rounds gets it now (later ones run at once: the loop is stopping).
    await this.scanLoop.runInterludes()
    await this.ddlChain
    this.stopped = true
    const waiting = this.checkpointRequests.splice(0)
    try {
      await this.checkpoints.checkpointNow()
      for (const r of waiting) r.resolve()
    } catch (err) {
      // A full disk at shutdown is what a crash is: the next start resumes at the last checkpoint and reads
      // the rest again from the log. The stop itself goes on, so the process exits cleanly.
      if (!(err instanceof SluiceError) || this.checkpointFailure === null) throw err
      console.error(`sluice: the final checkpoint failed (${err.message}); the next start resumes from the last one`)
      for (const r of waiting) r.reject(err)
    }
    for (const sink of this.sinks.values()) {
      await Promise.race([sink.deliver(), sleep(SINK_DRAIN_MS)])
      await sink.close()
    }
    for (const rt of this.streams.values()) await rt.log.close()
    await this.db.close()
  }
}

export { META_NAMESPACE }
export { jsonKeyExtractor } from './engine/inserts.ts'
export type { DeadLetter, EngineOptions }
