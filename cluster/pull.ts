/**
 * Pull queries in a cluster: a view's rows are where its tasks run (tasks.ts), so a node gathers them.
 * A *partitioned* view's rows are the union of every task's (local task engines directly; tasks of other
 * nodes through their internal endpoint, server/http-cluster.ts); a *global* view's rows are the global
 * task's, on the owner of task 0. A point lookup asks its key's task first (point-route.ts).
 *
 * Never a partial answer: every task must have a running owner whose engine has the view before the first
 * row is handed out. While one has none (a rebalance, a task restoring), the read waits up to PULL_WAIT_MS,
 * then fails with 55000. A peer that stops mid-answer fails the query (row-frames.ts).
 *
 * Rows are streamed: the caller pulls them one at a time under its own budget (executor/query-budget.ts),
 * and stopping early (LIMIT, cancel, timeout) aborts the peers' requests.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import type { Engine } from '../executor/engine.ts'
import type { ClusterReads, ClusterSinkStats, ClusterTriggerStats } from '../executor/engine/cluster-hooks.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { baseStreamName } from '../planner/view-source.ts'
import type { ViewDef } from '../planner/catalog.ts'
import { PEER_AUTH_HEADER, PEER_ROWS_PATH, signPeerRequest } from './peer-auth.ts'
import { placeCatalog } from './placement.ts'
import { taskOfKey } from './point-route.ts'
import { placeTriggers, sumTriggerStats, triggerStatsRow } from './outputs.ts'
import { placeSink, sinkStatsRow, sumSinkStats } from './sinks.ts'
import { readRowFrames } from './row-frames.ts'
import { GLOBAL_TASK, taskLabel, type TaskEngines } from './tasks.ts'
import type { LiveFeed, SubscriptionOptions } from '../executor/change-feed.ts'
import { subscribeCluster } from './subscribe.ts'

/** How long a read waits for every task to have a running owner before it fails. */
export const PULL_WAIT_MS = 10_000
/** How long a task engine waits for its view to read what its partition had when the read came. */
const CAUGHT_UP_MS = 2000
export { PEER_ROWS_PATH }

/** A node as the group shows it: its HTTP address and the tasks it owns. */
export interface PeerTasks {
  readonly node: string
  readonly http: string | null
  readonly tasks: readonly number[]
}

/** What a node asks a peer for. */
export interface RowsRequest {
  readonly view: string
  readonly tasks: readonly number[]
  /** A point lookup: the group key, row-codec encoded, base64. */
  readonly key?: string
  /** `view` names a trigger: one row of its status and counters per task (outputs.ts), not its audit. */
  readonly stats?: boolean
  /** `view` names a sink: one row of its status and counters per task (sinks.ts). */
  readonly sinkStats?: boolean
}

/** What a read of the tasks gives: a view's rows, or one row of counters per task of a trigger or a sink. */
export type ReadKind = 'rows' | 'trigger' | 'sink'

/** Why a task cannot answer now, or null when every one of `tasks` can. */
export function notReady(local: TaskEngines, view: string, tasks: readonly number[]): string | null {
  for (const task of tasks) {
    const t = local.get(task)
    if (t === undefined) return `task ${taskLabel(task)} is not running on this node`
    if (t.status !== 'running' || t.stopping) return `task ${taskLabel(task)} is ${t.stopping ? 'stopping' : t.status}`
    if (t.engine.query(view) === undefined && !t.engine.sinkRuntimes().some((s) => s.name === view)) return `task ${taskLabel(task)} has no view ${view} yet`
  }
  return null
}

/** The rows of `view` in this node's task engines `tasks` (checked with `notReady` first). */
export async function* localRows(local: TaskEngines, view: string, tasks: readonly number[], key?: readonly Value[], kind: ReadKind = 'rows'): AsyncGenerator<Row> {
  const runtimes = tasks.map((task) => {
    const t = local.get(task)
    if (t === undefined || t.status !== 'running' || t.stopping) throw notRunning(`task ${taskLabel(task)} stopped on this node during the read`)
    return t
  })
  // Counted as readers: a task revoked meanwhile closes its engine only once they are done.
  for (const t of runtimes) t.readers++
  try {
    // Read your writes, as a single process: each waits until its view has read what its partition had.
    if (kind !== 'sink') await Promise.all(runtimes.map((t) => t.engine.waitCaughtUp(view, CAUGHT_UP_MS)))
    for (const t of runtimes) {
      if (kind !== 'rows') {
        yield kind === 'sink' ? sinkStatsRow(t.engine, view) : await triggerStatsRow(t.engine, view)
        continue
      }
      const rows = key === undefined ? t.engine.viewRows(view) : await t.engine.viewPoint(view, key)
      if (rows === null) throw new SluiceError('internal', SqlState.internalError, `view ${view} is keyed on this node but not in its task engine`)
      for await (const row of rows) {
        // Revoked mid-read: an error, never an answer without the rest of this task's rows.
        if (t.stopping) throw notRunning(`task ${taskLabel(t.task)} moved to another node during the read`)
        yield row
      }
    }
  } finally {
    for (const t of runtimes) t.readers--
  }
}

function notRunning(why: string): SluiceError {
  return new SluiceError('execution', SqlState.objectNotInPrerequisiteState, `the cluster cannot answer for every task now: ${why}`, {
    hint: 'A rebalance or a task restore is under way (sluice_tasks shows each task\'s owner and status); try again in a moment.',
  })
}

/** Which node owns each of `tasks` (task 0's owner runs the global task), or why one has none. */
export function ownersOf(tasks: readonly number[], peers: readonly PeerTasks[]): Map<string, number[]> | string {
  const byOwner = new Map<string, number[]>()
  for (const task of tasks) {
    const owner = peers.find((p) => p.tasks.includes(task === GLOBAL_TASK ? 0 : task))
    if (owner === undefined) return `task ${taskLabel(task)} has no owner`
    byOwner.set(owner.node, [...(byOwner.get(owner.node) ?? []), task])
  }
  return byOwner
}

/** What a peer answered a signed internal request: its response (200), or why not (`fatal` unless 503). */
export type PeerAnswer = { readonly node: string; readonly res: Response } | { readonly node: string; readonly error: string; readonly fatal?: boolean }

/** Sends `text`, signed with the cluster's secret, to `path` on the HTTP port of `node`. */
export async function askPeer(peers: readonly PeerTasks[], node: string, path: string, text: string, secret: string | null, signal: AbortSignal): Promise<PeerAnswer> {
  const http = peers.find((p) => p.node === node)?.http
  if (http === null || http === undefined) return { node, error: `node ${node} has no HTTP address` }
  if (secret === null) return { node, error: 'the cluster secret is not known yet' }
  try {
    const res = await fetch(`http://${http}${path}`, { method: 'POST', body: text, headers: { 'content-type': 'application/json', [PEER_AUTH_HEADER]: signPeerRequest(secret, text) }, signal })
    if (res.status === 200) return { node, res }
    const detail = await res.text().catch(() => '')
    return { node, error: `node ${node}: ${res.status} ${detail}`, fatal: res.status !== 503 }
  } catch (err) {
    return { node, error: `node ${node} did not answer (${(err as Error).message})` }
  }
}

export class ClusterReader implements ClusterReads {
  private membersCache: { at: number; peers: Promise<PeerTasks[]> } | null = null

  constructor(
    private readonly front: Engine,
    private readonly local: TaskEngines,
    private readonly self: string,
    private readonly members: () => Promise<PeerTasks[]>,
    private readonly secret: () => string | null,
    /** A repartitioned view: waits (at most the given ms) until its writers have what the stream has. */
    private readonly repartitioned?: (view: ViewDef, ms: number) => Promise<void>,
  ) {}

  viewRows(name: string): AsyncGenerator<Row> {
    return this.gather(name, undefined)
  }

  async viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null> {
    // The front engine deployed the same operators (it only reads nothing): keyed there is keyed in the tasks.
    if (this.front.query(name)?.operator.keyed == null) return null
    const out: Row[] = []
    for await (const row of this.gather(name, keyValues)) out.push(row)
    return out
  }

  /** The tasks holding the view's rows: every partition of its stream, or the global task. */
  tasksOf(name: string): number[] {
    const views = this.front.catalog.views()
    const def = views.find((v) => v.name === name)
    const trigger = def === undefined ? this.front.triggerDefs().find((t) => t.name === name) : undefined
    if (trigger !== undefined) {
      if (placeTriggers(this.front.triggerDefs(), placeCatalog(views)).get(name) === 'global') return [GLOBAL_TASK]
      const partitions = this.front.streamRuntime(baseStreamName(trigger.plan.source))?.def.partitions ?? 0
      return Array.from({ length: partitions }, (_, p) => p)
    }
    if (def === undefined) throw new SluiceError('plan', SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    const head = def.owner ?? name
    if (placeCatalog(views).get(head) === 'global') return [GLOBAL_TASK]
    const partitions = this.front.streamRuntime(baseStreamName((views.find((v) => v.name === head) as ViewDef).plan.source))?.def.partitions ?? 0
    return Array.from({ length: partitions }, (_, p) => p)
  }

  /** Read your writes through a repartition topic: its writers first take in what the stream has. */
  private async writersCaughtUp(name: string): Promise<void> {
    if (this.repartitioned === undefined) return
    const views = this.front.catalog.views()
    const def = views.find((v) => v.name === name)
    if (def === undefined || def.owner !== undefined || placeCatalog(views).get(name) !== 'repartitioned') return
    await this.repartitioned(def, CAUGHT_UP_MS).catch(() => undefined)
  }

  /** Members as the coordinator shows them, asked at most once a second. */
  private peers(fresh: boolean): Promise<PeerTasks[]> {
    const now = Date.now()
    if (fresh || this.membersCache === null || now - this.membersCache.at > 1000) {
      const peers = this.members()
      this.membersCache = { at: now, peers }
      peers.catch(() => (this.membersCache = null))
    }
    return this.membersCache.peers
  }

  /** A trigger's counters summed over every task that runs it (sluice_triggers). */
  async triggerStats(name: string): Promise<ClusterTriggerStats> {
    const rows: Row[] = []
    for await (const row of this.gatherTasks(name, this.tasksOf(name), undefined, 'trigger')) rows.push(row)
    return sumTriggerStats(rows)
  }

  /** A sink's counters summed over every task that runs it (sluice_sinks). */
  async sinkStats(name: string): Promise<ClusterSinkStats> {
    const def = this.front.sinkRuntimes().find((s) => s.name === name)?.def
    if (def === undefined) throw new SluiceError('plan', SqlState.undefinedObject, `sink "${name}" does not exist`)
    let tasks: number[]
    if (placeSink(def, this.front, placeCatalog(this.front.catalog.views())) === 'global') tasks = [GLOBAL_TASK]
    else {
      const stream = this.front.catalog.get(def.from)?.kind === 'stream' ? def.from : undefined
      tasks = stream === undefined ? this.tasksOf(def.from) : Array.from({ length: this.front.streamRuntime(stream)?.def.partitions ?? 0 }, (_, p) => p)
    }
    const rows: Row[] = []
    for await (const row of this.gatherTasks(name, tasks, undefined, 'sink')) rows.push(row)
    return sumSinkStats(rows)
  }

  private async *gather(name: string, key: readonly Value[] | undefined): AsyncGenerator<Row> {
    await this.writersCaughtUp(name)
    const tasks = this.tasksOf(name)
    // A point lookup asks its key's task first (point-route.ts), the others only when that one has no row.
    const routed = key === undefined ? null : this.routeKey(name, tasks.length, key)
    if (routed !== null && tasks.includes(routed)) {
      let found = false
      for await (const row of this.gatherTasks(name, [routed], key)) {
        found = true
        yield row
      }
      this.pointLookups[found ? 'routed' : 'missed']++
      if (found) return
      yield* this.gatherTasks(name, tasks.filter((t) => t !== routed), key)
      return
    }
    if (key !== undefined) this.pointLookups.gathered++
    yield* this.gatherTasks(name, tasks, key)
  }

  /** How point lookups were answered: by the key's task alone, by every task after it had no row, or gathered. */
  readonly pointLookups = { routed: 0, missed: 0, gathered: 0 }

  private routeKey(name: string, partitions: number, key: readonly Value[]): number | null {
    const views = this.front.catalog.views()
    const def = views.find((v) => v.name === name)
    return def === undefined ? null : taskOfKey(def, placeCatalog(views).get(name), partitions, key)
  }

  private async *gatherTasks(name: string, tasks: readonly number[], key: readonly Value[] | undefined, kind: ReadKind = 'rows'): AsyncGenerator<Row> {
    if (tasks.length === 0) return
    const body = (owned: readonly number[]): string =>
      JSON.stringify({ view: name, tasks: owned, ...(key === undefined ? {} : { key: rowCodec.encode([...key]).toString('base64') }), ...(kind === 'trigger' ? { stats: true } : kind === 'sink' ? { sinkStats: true } : {}) } satisfies RowsRequest)
    const abort = new AbortController()
    try {
      const { mine, remote } = await this.reach(name, PEER_ROWS_PATH, body, abort, tasks)
      yield* localRows(this.local, name, mine, key, kind)
      for (const r of remote) yield* readRowFrames(r.res.body as unknown as AsyncIterable<Uint8Array>, r.node)
    } finally {
      abort.abort()
    }
  }

  /**
   * Every task of view `name` ready: the tasks this node owns (running, with the view), and the answers
   * of the other owners to `path` (200). While one cannot answer (a rebalance, a task restoring), waits
   * up to PULL_WAIT_MS and asks again, then fails with 55000. `abort` ends the peers' answers.
   */
  async reach(name: string, path: string, body: (owned: readonly number[]) => string, abort: AbortController, only?: readonly number[]): Promise<{ mine: number[]; remote: { node: string; res: Response }[]; owners: Map<string, number[]> }> {
    const tasks = only ?? this.tasksOf(name)
    const deadline = Date.now() + PULL_WAIT_MS
    for (let attempt = 0; ; attempt++) {
      const tried = new AbortController()
      const onAbort = () => tried.abort()
      abort.signal.addEventListener('abort', onAbort, { once: true })
      let why: string | null = null
      // The coordinator not answering is waited out like a rebalance.
      const peers = await this.peers(attempt > 0).catch((err: unknown) => {
        why = `the group coordinator did not answer (${(err as Error).message})`
        return []
      })
      const owners = why === null ? ownersOf(tasks, peers) : new Map<string, number[]>()
      if (typeof owners === 'string') why = owners
      const byOwner = typeof owners === 'string' ? new Map<string, number[]>() : owners
      const mine = byOwner.get(this.self) ?? []
      why ??= notReady(this.local, name, mine)
      const remote: { node: string; res: Response }[] = []
      if (why === null) {
        const secret = this.secret()
        // A peer that does not even answer (stopped, not dead) is given up on like a missing owner.
        const giveUp = setTimeout(() => tried.abort(), PULL_WAIT_MS)
        const answers = await Promise.all([...byOwner].filter(([node]) => node !== this.self).map(([node, owned]) => askPeer(peers, node, path, body(owned), secret, tried.signal)))
        clearTimeout(giveUp)
        for (const a of answers) {
          if ('res' in a) remote.push(a)
          else if (why === null) {
            why = a.error
            if (a.fatal === true) {
              tried.abort()
              throw new SluiceError('execution', SqlState.internalError, `reading view ${name} from the cluster failed: ${a.error}`)
            }
          }
        }
      }
      if (why === null) return { mine, remote, owners: byOwner }
      // Those that did answer are asked again with the rest.
      tried.abort()
      abort.signal.removeEventListener('abort', onAbort)
      if (Date.now() >= deadline) throw notRunning(why)
      await this.local.changed(250)
    }
  }

  /** SUBSCRIBE on the whole cluster (cluster/subscribe.ts). */
  subscribe(name: string, options: SubscriptionOptions): Promise<LiveFeed> {
    return subscribeCluster(this, this.local, name, options, this.front.changes.limits)
  }

  /** The owner of each task of view `name` as the group shows it now (a task without one is left out). */
  async ownersNow(name: string): Promise<Map<number, string>> {
    const peers = await this.peers(false)
    const out = new Map<number, string>()
    for (const task of this.tasksOf(name)) {
      const owner = ownersOf([task], peers)
      if (typeof owner !== 'string') out.set(task, [...owner.keys()][0]!)
    }
    return out
  }
}
