/**
 * A node of a Sluice cluster (`sluice serve --kafka ... --cluster NAME`): every process started with the
 * same brokers and cluster name.
 *
 * - DDL: a statement taken on any node is checked here (commands.ts), written to the command topic
 *   `_sluice_<cluster>_commands` (one partition: one order), and applied by every node as it reads the
 *   topic; the statement's client gets this node's own result of applying it. On start a node applies
 *   what it has not applied yet, from the offset it recorded, before it takes clients.
 * - Streams are Kafka topics: INSERT, COPY and HTTP ingest on any node produce to the stream's topic.
 * - Tasks: the consumer group gives the node tasks (partition numbers); each runs in a task engine of its
 *   own (tasks.ts). The node's own engine (the front) keeps the catalog and computes nothing; pull queries
 *   gather a view's rows from the tasks of every node (pull.ts).
 *
 * See docs/cluster.md for the design, and for what is not built yet.
 */
import { randomBytes } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Engine } from '../executor/engine.ts'
import type { StreamDef } from '../planner/catalog.ts'
import { KafkaSource } from '../executor/connectors/kafka-source.ts'
import type { DdlCommand, DdlRouter, IngestRecord } from '../executor/engine/cluster-hooks.ts'
import { applyCommand, checkCommand } from './commands.ts'
import { Arrivals, KafkaIo } from './kafka-io.ts'
import { Membership, tasksOf } from './membership.ts'
import { TaskEngines, taskLabel, type GroupView } from './tasks.ts'
import { StandbyTasks, standbyPlacement, standbyTasksOf } from './standby.ts'
import { Changelogs } from './changelog.ts'
import { Repartitioner } from './repartition.ts'
import { IngestTransactions } from './ingest-transactions.ts'
import { IngestKeysFollower, ingestKeysTopic, keyRecord } from './ingest-keys-topic.ts'
import { ClusterReader, localRows, notReady, type RowsRequest } from './pull.ts'
import { verifyPeerRequest } from './peer-auth.ts'
import { peerFeed, type MergedFeed, type SubscribeRequest } from './subscribe.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { NotifyRelay } from './notify-relay.ts'
import type { Row } from '../common/types.ts'
import { baseStreamName } from '../planner/view-source.ts'

export interface ClusterOptions {
  readonly name: string
  readonly brokers: readonly string[]
  readonly dataDir: string
  /** State changelog topics for the tasks (changelog.ts); false: a task new to a node re-reads its input. */
  readonly changelog: boolean
  /** Standby copies per task kept by other nodes (standby.ts); 0: none. Needs the changelogs. */
  readonly standbys?: number
}

/** What a node keeps in its data directory: who it is, of which cluster, and the next command to apply. */
interface NodeFile {
  readonly cluster: string
  readonly node: string
  next: number
  /** The cluster's secret, once read from the command topic (a restart resumes past it). */
  secret?: string
}

/**
 * A record of the command topic: a DDL command and the node that took it; or, once at the cluster's
 * start, the secret that peers sign their requests with (peer-auth.ts; the first one in the topic counts).
 */
interface CommandRecord {
  readonly node: string
  readonly cmd?: DdlCommand
  readonly secret?: string
}

/** What the internal read endpoint answers (server/http-cluster.ts). */
export type PeerRowsAnswer =
  | { readonly kind: 'rows'; readonly rows: AsyncGenerator<Row> }
  | { readonly kind: 'feed'; readonly feed: MergedFeed }
  | { readonly kind: 'denied' }
  | { readonly kind: 'bad' | 'not_ready'; readonly message: string }

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

const NODE_FILE = 'cluster-node.json'
/** How often a node with standbys looks at the group to choose the tasks it keeps copies of. */
const STANDBY_PLACEMENT_MS = 3000
/** How long a statement waits for its own command to come back from the topic and be applied. */
const APPLY_TIMEOUT_MS = 60_000

export function commandTopic(cluster: string): string {
  return `_sluice_${cluster}_commands`
}

export function checkClusterName(name: string): void {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(name)) {
    throw new SluiceError('plan', SqlState.invalidParameterValue, `cluster name "${name}" must be 1 to 100 letters, digits, '_' or '-' (it names Kafka topics)`)
  }
}

export class ClusterNode implements DdlRouter {
  /** Results of this node's own commands, by offset, until their statements collect them. */
  private readonly outcomes = new Map<number, Outcome>()
  private readonly waiters = new Map<number, (o: Outcome) => void>()
  private applying: Promise<void> = Promise.resolve()
  private closed = false
  /** Wakes the applier when commands arrive. */
  private readonly arrivals = new Arrivals()
  private applierDone: Promise<void> = Promise.resolve()
  /** The consumer group membership (tasks), once the node listens (`join`). */
  private membership: Membership | null = null
  /** NOTIFY to and from every node. */
  private notify: NotifyRelay | null = null
  /** This node's pull queries over the cluster (pull.ts): its point-lookup counts show in sluice_cluster. */
  private reader: ClusterReader | null = null
  /** The cluster's secret for requests between nodes (from the command topic). */
  private secret: string | null = null
  /** The engines of the tasks this node owns. */
  readonly tasks: TaskEngines
  /** Repartitioned views' internal topics and their writers on this node's tasks. */
  private readonly repartition: Repartitioner
  /** HTTP ingest's idempotency keys as every node committed them. */
  private ingestKeys: IngestKeysFollower | null = null
  /** Inserts of several events, each in one Kafka transaction. */
  private readonly ingestTransactions: IngestTransactions

  private constructor(
    private readonly engine: Engine,
    private readonly options: ClusterOptions,
    private readonly io: KafkaIo,
    private readonly commands: KafkaSource,
    private readonly state: NodeFile,
  ) {
    const taskCount = () => Math.max(0, ...engine.catalog.streams().map((s) => (s.source.kind === 'kafka' ? s.partitions : 0)))
    this.repartition = new Repartitioner(options.brokers, options.name, io)
    // The changelog registration gate asks the group (task-fencing.ts); before the node joined, nothing is confirmed.
    const groupView: GroupView = {
      confirmation: async () => (this.membership === null ? null : this.membership.confirmation()),
      me: state.node,
      generation: () => this.membership?.generation ?? -1,
    }
    const changelogs = options.changelog ? new Changelogs(options.name, options.brokers, io, taskCount) : null
    const standbys = changelogs !== null && (options.standbys ?? 0) > 0 ? new StandbyTasks(changelogs, (task) => join(options.dataDir, 'tasks', taskLabel(task))) : undefined
    this.tasks = new TaskEngines(engine, options.dataDir, (topic) => io.endOffsets(topic), changelogs, this.repartition, {
      // A task's trigger NOTIFY goes out as the node's (to every node's LISTEN sessions), its INSERT to the topic.
      notify: (message) => engine.notifications.publish(message),
      ingest: (def, records) => this.ingest(def, records),
    }, groupView, standbys, options.name)
    this.secret = state.secret ?? null
    this.ingestTransactions = new IngestTransactions(options.brokers, `_sluice_${options.name}_ingest_${state.node}`)
  }

  get nodeId(): string {
    return this.state.node
  }

  /** Joins the cluster: applies every command not applied yet, then follows the topic. */
  static async start(engine: Engine, options: ClusterOptions): Promise<ClusterNode> {
    checkClusterName(options.name)
    const state = await loadNodeFile(options.dataDir, options.name)
    const io = new KafkaIo(options.brokers, `sluice-${options.name}-${state.node}`)
    const topic = commandTopic(options.name)
    let node: ClusterNode | null = null
    try {
      await io.ensureTopic(topic, 1, { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' })
      const commands = await KafkaSource.open({ brokers: options.brokers, topic, start: 'earliest', groupId: `sluice-${options.name}-commands`, onArrival: () => node?.arrivals.wake() })
      node = new ClusterNode(engine, options, io, commands, state)
      const began = Date.now()
      const from = state.next
      await commands.start([state.next])
      const [end = 0] = await io.endOffsets(topic)
      // What it catches up on is applied as a restart replays its catalog: streams start reading once
      // all their views are there (a view created beside a stream's backlog in flight reads it again).
      engine.deferSourceStarts()
      node.applierDone = node.applyLoop()
      await node.appliedThrough(end, APPLY_TIMEOUT_MS * 5)
      await engine.startDeferredSources()
      if (node.secret === null) await node.writeSecret()
      const joined = node
      const reader = new ClusterReader(engine, joined.tasks, state.node, async () => (await joined.membership?.members() ?? []).map((m) => ({ node: m.node, http: m.http, tasks: tasksOf(m.tasks) })), () => joined.secret, (view, ms) => joined.repartition.waitWritten(view, ms))
      joined.reader = reader
      joined.ingestKeys = await IngestKeysFollower.start(options.name, options.brokers, io, engine.ingestKeys)
      engine.ingestKeys.sync = () => joined.ingestKeys!.caughtUp()
      engine.attachCluster(joined, (def, records, tag) => joined.ingest(def, records, tag), (name) => joined.tableRows(name), reader)
      node.notify = await NotifyRelay.start(options.name, options.brokers, engine.notifications, io)
      console.log(`sluice: node ${state.node} of cluster "${options.name}": ${end - from} commands caught up on in ${Date.now() - began} ms (${end} in all)`)
      return node
    } catch (err) {
      if (node !== null) await node.close().catch(() => undefined)
      else await io.close()
      throw err
    }
  }

  /** The first node of a cluster writes its secret; if two race, both then use the first one written. */
  private async writeSecret(): Promise<void> {
    const record: CommandRecord = { node: this.state.node, secret: randomBytes(32).toString('hex') }
    const offset = await this.io.send(commandTopic(this.options.name), 1, [{ key: undefined, value: JSON.stringify(record) }], 0)
    await this.appliedThrough(offset + 1, APPLY_TIMEOUT_MS)
  }

  private async appliedThrough(end: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.state.next < end) {
      if (Date.now() > deadline) throw new Error(`cluster "${this.options.name}": commands up to ${end} not applied within ${timeoutMs} ms (at ${this.state.next})`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /** Reads the command topic in order and applies each command once, recording the next offset after each. */
  private async applyLoop(): Promise<void> {
    while (!this.closed) {
      const batch = await this.commands.read(0, this.state.next, 100)
      if (batch.records.length === 0) {
        await this.arrivals.wait()
        continue
      }
      for (let i = 0; i < batch.records.length; i++) {
        const offset = batch.offsets?.[i] ?? this.state.next + i
        await this.applyOne(offset, batch.records[i]!)
        this.state.next = offset + 1
        await saveNodeFile(this.options.dataDir, this.state)
        void this.membership?.follow(this.streamTopics())
      }
      this.state.next = Math.max(this.state.next, batch.nextOffset)
      this.commands.release(0, this.state.next)
    }
  }

  private async applyOne(offset: number, raw: Buffer | string): Promise<void> {
    let rec: CommandRecord
    try {
      rec = JSON.parse(raw.toString()) as CommandRecord
    } catch {
      console.error(`sluice: cluster command ${offset} is not JSON; skipped`)
      return
    }
    if (rec.cmd === undefined) {
      // The first secret in the topic is the cluster's; it is kept in the node file with the next offset.
      if (typeof rec.secret === 'string' && this.secret === null) this.secret = this.state.secret = rec.secret
      return
    }
    let outcome: Outcome
    try {
      outcome = { ok: true, value: await applyCommand(this.engine, rec.cmd) }
      // Then the task engines of this node follow the catalog.
      await this.tasks.afterCommand(rec.cmd)
    } catch (error) {
      outcome = { ok: false, error }
      // Every node fails the same way on the same command; only the node that took it answers with it.
      if (rec.node !== this.state.node) console.error(`sluice: cluster command ${offset} (${rec.cmd.op}) not applied here: ${(error as Error).message}`)
    }
    if (rec.node !== this.state.node) return
    const waiter = this.waiters.get(offset)
    if (waiter !== undefined) {
      this.waiters.delete(offset)
      waiter(outcome)
    } else {
      this.outcomes.set(offset, outcome)
    }
  }

  /** DdlRouter: check here, write, wait for this node to apply it; the answer is this node's result. */
  submit(cmd: DdlCommand): Promise<unknown> {
    // One statement of this node at a time, so that a client's statements are written in its order.
    const run = this.applying.then(() => this.submitNow(cmd))
    this.applying = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  private async submitNow(cmd: DdlCommand): Promise<unknown> {
    if (this.closed) throw new SluiceError('execution', SqlState.adminShutdown, 'the node is shutting down')
    // Read your writes across nodes: what any node wrote before this statement is applied here before it
    // is checked (a view on a stream created a moment ago on another node plans here too).
    const [end = 0] = await this.io.endOffsets(commandTopic(this.options.name))
    await this.appliedThrough(end, APPLY_TIMEOUT_MS)
    const checked = checkCommand(this.engine, cmd, this.options.changelog)
    if ('answer' in checked) return checked.answer
    if (checked.topic !== undefined) await this.io.ensureTopic(checked.topic.name, checked.topic.partitions)
    // A sink's topic is not created for it (as on one process): missing, the statement fails before it is written.
    if (checked.sinkTopic !== undefined && (await this.io.endOffsets(checked.sinkTopic).catch(() => [])).length === 0) {
      throw new SluiceError('plan', SqlState.undefinedObject, `Kafka topic "${checked.sinkTopic}" does not exist`, { hint: 'Create the topic first; a sink writes to an existing topic.' })
    }
    // A trigger on a stream fires, in every task, for the events produced from now on (outputs.ts).
    const write = checked.startsAt === undefined ? checked.write : { ...checked.write, start: await this.io.endOffsets(checked.startsAt) }
    const record: CommandRecord = { node: this.state.node, cmd: write }
    const offset = await this.io.send(commandTopic(this.options.name), 1, [{ key: undefined, value: JSON.stringify(record) }], 0)
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const done = this.outcomes.get(offset)
      if (done !== undefined) {
        this.outcomes.delete(offset)
        return resolve(done)
      }
      const timer = setTimeout(() => {
        this.waiters.delete(offset)
        reject(new SluiceError('execution', SqlState.queryCanceled, `the command was written (offset ${offset}) but not applied here within ${APPLY_TIMEOUT_MS / 1000} s; it will be`))
      }, APPLY_TIMEOUT_MS)
      this.waiters.set(offset, (o) => {
        clearTimeout(timer)
        resolve(o)
      })
    })
    if (!outcome.ok) throw outcome.error
    return outcome.value
  }

  /**
   * Joins the cluster's consumer group (once the node listens, so that the addresses it announces answer):
   * from then on the group assigns it tasks, and sluice_cluster / sluice_tasks show the assignment.
   */
  join(pgAddress: string, httpAddress: string | null): void {
    this.membership = new Membership(
      this.options.name,
      this.options.brokers,
      { node: this.state.node, pg: pgAddress, http: httpAddress },
      (tasks) => {
        if (!this.closed) void this.tasks.assign(tasks)
      },
      // The copies kept here, announced at each join: the assignor moves a task onto its caught-up copy.
      () => this.tasks.standbys?.held() ?? [],
    )
    // Not awaited: a rebalance waits for every member, and members busy with a burst answer late; the node
    // serves its clients meanwhile (sluice_cluster shows it as joining).
    void this.membership.follow(this.streamTopics())
    if (this.tasks.standbys !== undefined) {
      this.placementTimer = setInterval(() => void this.placeStandbys(), STANDBY_PLACEMENT_MS)
      this.placementTimer.unref()
    }
  }

  private placementTimer: NodeJS.Timeout | null = null
  private placing = false

  /**
   * Chooses the tasks this node keeps standby copies of, from the group as the coordinator describes it
   * (standby.ts `standbyPlacement`); while a rebalance runs the last choice stands.
   */
  private async placeStandbys(): Promise<void> {
    if (this.placing || this.closed || this.membership === null) return
    this.placing = true
    try {
      const group = await this.membership.confirmation()
      if (group === null || !group.stable || this.closed) return
      const placement = standbyPlacement(group.nodes ?? [...new Set(group.owners.values())], group.owners, this.options.standbys ?? 0)
      await this.tasks.keepStandbys(standbyTasksOf(this.state.node, placement))
    } finally {
      this.placing = false
    }
  }

  /** The topics of the cluster's streams: what the group assigns tasks of. */
  private streamTopics(): string[] {
    return this.engine.catalog
      .streams()
      .flatMap((d) => (d.source.kind === 'kafka' ? [d.source.topic] : []))
      .sort()
  }

  /** Events this node's task engines have still to read, over all their views (as sluice_queries.lag, summed). */
  private lag(): number {
    return this.tasks.all().reduce((a, t) => a + engineLag(t.engine), 0)
  }

  /** The internal read endpoint (server/http-cluster.ts): a peer asks for a view's rows in tasks of this node. */
  peerRows(signature: string | undefined, body: string): PeerRowsAnswer {
    return this.peerRequest<RowsRequest>(signature, body, () => true, (req) => {
      const key = req.key === undefined ? undefined : rowCodec.decode(Buffer.from(req.key, 'base64'))
      return { kind: 'rows', rows: localRows(this.tasks, req.view, req.tasks, key, req.sinkStats === true ? 'sink' : req.stats === true ? 'trigger' : 'rows') }
    })
  }

  /** The internal subscribe endpoint: a peer follows a view's changes in tasks of this node (subscribe.ts). */
  peerSubscribe(signature: string | undefined, body: string): PeerRowsAnswer {
    const valid = (req: SubscribeRequest) => typeof req.snapshot === 'boolean' && Number.isFinite(req.minIntervalMs)
    return this.peerRequest<SubscribeRequest>(signature, body, valid, (req) => ({ kind: 'feed', feed: peerFeed(this.tasks, req, this.engine.changes.limits) }))
  }

  /** A signed request of a peer for a view in tasks of this node, answered by `answer` once they can. */
  private peerRequest<T extends { readonly view: string; readonly tasks: readonly number[] }>(signature: string | undefined, body: string, valid: (req: T) => boolean, answer: (req: T) => PeerRowsAnswer): PeerRowsAnswer {
    if (!verifyPeerRequest(this.secret, signature, body)) return { kind: 'denied' }
    let req: T
    try {
      req = JSON.parse(body) as T
      if (typeof req.view !== 'string' || !Array.isArray(req.tasks) || !req.tasks.every((t) => Number.isInteger(t)) || !valid(req)) throw new Error('view and tasks expected')
    } catch (err) {
      return { kind: 'bad', message: (err as Error).message }
    }
    const why = notReady(this.tasks, req.view, req.tasks)
    if (why !== null) return { kind: 'not_ready', message: why }
    return answer(req)
  }

  /** Standby copies this node keeps (the global task's included). */
  private standbyCount(): number {
    return this.tasks.standbys?.count ?? 0
  }

  /** Point lookups this node answered from their key's task alone, and those that asked every task. */
  private lookups(): [number, number] {
    const l = this.reader?.pointLookups ?? { routed: 0, missed: 0, gathered: 0 }
    return [l.routed, l.missed + l.gathered]
  }

  /** sluice_cluster and sluice_tasks. */
  async tableRows(name: 'sluice_cluster' | 'sluice_tasks'): Promise<Row[]> {
    const members = this.membership === null ? [] : await this.membership.members()
    if (name === 'sluice_cluster') {
      const rows: Row[] = members.map((m) => {
        const self = m.node === this.state.node
        const tasks = Object.values(m.tasks).reduce((a, ps) => a + ps.length, 0)
        return [m.node, m.pg, m.http, 'up', self, tasks, self ? this.state.next : null, self ? this.lag() : null, ...(self ? this.lookups() : [null, null]), self ? this.standbyCount() : null]
      })
      if (!members.some((m) => m.node === this.state.node)) rows.push([this.state.node, null, null, this.membership === null ? 'starting' : 'joining', true, 0, this.state.next, this.lag(), ...this.lookups(), this.standbyCount()])
      return rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    }
    const rows: Row[] = []
    // Standby copies kept here (standby.ts): status 'standby', the changelog offset applied up to, and the
    // changelog records still to apply as lag.
    const copies = new Map((await this.tasks.standbys?.rows() ?? []).map((c) => [c.task, c]))
    for (const def of this.engine.catalog.streams()) {
      if (def.source.kind !== 'kafka') continue
      const topic = def.source.topic
      for (let p = 0; p < def.partitions; p++) {
        const owner = members.find((m) => m.tasks[topic]?.includes(p))?.node ?? null
        // This node's own task engine, if it runs one for p: its status, the events it took in, its lag.
        const t = this.tasks.get(p)
        const copy = t === undefined ? copies.get(p) : undefined
        if (copy !== undefined) {
          rows.push([def.name, topic, p, owner, owner === this.state.node, 'standby', null, copy.end === null ? null : Math.max(0, copy.end - copy.position), null, copy.position, null])
          continue
        }
        const events = t === undefined ? null : eventsIn(t.engine, def.name)
        const restore = t?.restore ?? this.tasks.restoring(p) ?? null
        const status = t?.status ?? (restore === null ? null : 'restoring')
        rows.push([def.name, topic, p, owner, owner === this.state.node, status, events, t === undefined ? null : engineLag(t.engine), restore?.records ?? null, null, t === undefined ? null : stateBytesOf(t.engine, def.name)])
      }
    }
    // A repartitioned view's internal stream, for the tasks that run here: the events each took in from it.
    for (const { task, plan } of this.repartition.running()) {
      const t = this.tasks.get(task)
      if (t !== undefined) rows.push([plan.stream, plan.topic, task, this.state.node, true, t.status, eventsIn(t.engine, plan.stream), engineLag(t.engine), null, null, stateBytesOf(t.engine, plan.stream)])
    }
    return rows
  }

  /** ClusterIngest: events inserted on this node go to the stream's topic, each to its key's partition. */
  async ingest(def: StreamDef, records: readonly IngestRecord[], tag?: Buffer): Promise<void> {
    if (def.source.kind !== 'kafka') throw new Error(`stream ${def.name} has no topic`)
    if (records.length === 0 && tag === undefined) return
    // One event is one record; more, or a keyed HTTP batch, one transaction (ingest-transactions.ts):
    // all of them or none, with the batch's idempotency key for every node (ingest-keys-topic.ts).
    if (records.length === 1 && tag === undefined) {
      try {
        await this.io.send(def.source.topic, def.partitions, records)
      } catch (err) {
        throw new SluiceError('execution', SqlState.ioError, `producing to Kafka topic "${def.source.topic}" failed: ${(err as Error).message}`, {
          hint: 'Nothing is known to be written; the insert can be retried (the event may then be there twice).',
        })
      }
      return
    }
    try {
      const batches = [{ topic: def.source.topic, messages: this.io.place(def.partitions, records) }]
      if (tag !== undefined) batches.push({ topic: ingestKeysTopic(this.options.name), messages: [keyRecord(def.name, tag)] })
      await this.ingestTransactions.send(batches)
    } catch (err) {
      throw new SluiceError('execution', SqlState.ioError, `producing ${records.length} events to Kafka topic "${def.source.topic}" failed: ${(err as Error).message}`, {
        hint: 'The transaction was aborted, so none of them is written and the insert can be retried, unless the broker went away during the commit itself (then its outcome is unknown).',
      })
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.placementTimer !== null) clearInterval(this.placementTimer)
    this.arrivals.wake()
    await this.applierDone.catch(() => undefined)
    // A checkpoint of every task first: the node that gets them (or this one, back) resumes from it.
    await this.tasks.close()
    await this.membership?.close()
    await this.notify?.close()
    await this.commands.close()
    await this.ingestTransactions.close()
    await this.ingestKeys?.close()
    await this.io.close()
  }
}

/** Events an engine's views have still to read. */
function engineLag(engine: Engine): number {
  let lag = 0
  for (const q of engine.allQueries()) {
    // (Per slot: an interval join reads two streams.)
    q.slots.forEach((slot, i) => {
      const rt = engine.streamRuntime(slot.stream)
      if (rt !== undefined) lag += Math.max(0, (rt.log.highWatermark?.(slot.partition) ?? rt.log.endOffset(slot.partition)) - q.offsets[i]!)
    })
  }
  return lag
}

/** Bytes of state of an engine's views and triggers over `stream` (each query's own measure, summed). */
function stateBytesOf(engine: Engine, stream: string): number {
  let bytes = 0
  for (const q of engine.allQueries()) if (baseStreamName(q.view.plan.source) === stream) bytes += q.stateBytes()
  return bytes
}

/**
 * Events of `stream` an engine took in: the most any view reading it directly counted (exactly once each).
 * An interval join counts the events of both its streams.
 */
function eventsIn(engine: Engine, stream: string): number {
  let most = 0
  for (const q of engine.allQueries()) if ((q.view.plan.source.name === stream || (q.view.plan.intervalJoin !== undefined && q.slots.some((s) => s.stream === stream))) && q.eventsIn > most) most = q.eventsIn
  return most
}

async function loadNodeFile(dataDir: string, cluster: string): Promise<NodeFile> {
  const path = join(dataDir, NODE_FILE)
  try {
    const f = JSON.parse(await readFile(path, 'utf8')) as NodeFile
    if (f.cluster !== cluster) {
      throw new SluiceError('plan', SqlState.invalidParameterValue, `data directory ${dataDir} belongs to cluster "${f.cluster}", not "${cluster}"`)
    }
    return f
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const f: NodeFile = { cluster, node: randomBytes(4).toString('hex'), next: 0 }
  await saveNodeFile(dataDir, f)
  return f
}

async function saveNodeFile(dataDir: string, f: NodeFile): Promise<void> {
  const path = join(dataDir, NODE_FILE)
  await writeFile(`${path}.tmp`, JSON.stringify(f))
  await rename(`${path}.tmp`, path)
}
