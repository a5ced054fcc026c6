/**
 * Pull queries in a cluster: a view's rows are where its tasks run (tasks.ts), so a node gathers them.
 * A *partitioned* view's rows are the union of every task's (local task engines directly; tasks of other
 * nodes through their internal endpoint, server/http-cluster.ts); a *global* view's rows are the global
 * task's, on the owner of task 0. A point lookup asks the same tasks for the one group.
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
import type { ClusterReads } from '../executor/engine/cluster-hooks.ts'
import { rowCodec } from '../executor/state/codec.ts'
import { baseStreamName } from '../planner/view-source.ts'
import type { ViewDef } from '../planner/catalog.ts'
import { PEER_AUTH_HEADER, signPeerRequest } from './peer-auth.ts'
import { placeCatalog } from './placement.ts'
import { readRowFrames } from './row-frames.ts'
import { GLOBAL_TASK, taskLabel, type TaskEngines } from './tasks.ts'

/** How long a read waits for every task to have a running owner before it fails. */
export const PULL_WAIT_MS = 10_000
/** How long a task engine waits for its view to read what its partition had when the read came. */
const CAUGHT_UP_MS = 2000
export const PEER_ROWS_PATH = '/_cluster/rows'

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
}

/** Why a task cannot answer now, or null when every one of `tasks` can. */
export function notReady(local: TaskEngines, view: string, tasks: readonly number[]): string | null {
  for (const task of tasks) {
    const t = local.get(task)
    if (t === undefined) return `task ${taskLabel(task)} is not running on this node`
    if (t.status !== 'running' || t.stopping) return `task ${taskLabel(task)} is ${t.stopping ? 'stopping' : t.status}`
    if (t.engine.query(view) === undefined) return `task ${taskLabel(task)} has no view ${view} yet`
  }
  return null
}

/** The rows of `view` in this node's task engines `tasks` (checked with `notReady` first). */
export async function* localRows(local: TaskEngines, view: string, tasks: readonly number[], key?: readonly Value[]): AsyncGenerator<Row> {
  const runtimes = tasks.map((task) => {
    const t = local.get(task)
    if (t === undefined || t.status !== 'running' || t.stopping) throw notRunning(`task ${taskLabel(task)} stopped on this node during the read`)
    return t
  })
  // Counted as readers: a task revoked meanwhile closes its engine only once they are done.
  for (const t of runtimes) t.readers++
  try {
    // Read your writes, as a single process: each waits until its view has read what its partition had.
    await Promise.all(runtimes.map((t) => t.engine.waitCaughtUp(view, CAUGHT_UP_MS)))
    for (const t of runtimes) {
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

export class ClusterReader implements ClusterReads {
  private membersCache: { at: number; peers: Promise<PeerTasks[]> } | null = null

  constructor(
    private readonly front: Engine,
    private readonly local: TaskEngines,
    private readonly self: string,
    private readonly members: () => Promise<PeerTasks[]>,
    private readonly secret: () => string | null,
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
  private tasksOf(name: string): number[] {
    const views = this.front.catalog.views()
    const def = views.find((v) => v.name === name)
    if (def === undefined) throw new SluiceError('plan', SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    const head = def.owner ?? name
    if (placeCatalog(views).get(head) === 'global') return [GLOBAL_TASK]
    const partitions = this.front.streamRuntime(baseStreamName((views.find((v) => v.name === head) as ViewDef).plan.source))?.def.partitions ?? 0
    return Array.from({ length: partitions }, (_, p) => p)
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

  private async *gather(name: string, key: readonly Value[] | undefined): AsyncGenerator<Row> {
    const tasks = this.tasksOf(name)
    const deadline = Date.now() + PULL_WAIT_MS
    const body = (owned: readonly number[]): string => JSON.stringify({ view: name, tasks: owned, ...(key === undefined ? {} : { key: rowCodec.encode([...key]).toString('base64') }) } satisfies RowsRequest)
    for (let attempt = 0; ; attempt++) {
      const abort = new AbortController()
      let why: string | null = null
      const remote: { node: string; res: Response }[] = []
      let mine: number[] = []
      try {
        // The coordinator not answering is waited out like a rebalance.
        const peers = await this.peers(attempt > 0).catch((err: unknown) => {
          why = `the group coordinator did not answer (${(err as Error).message})`
          return []
        })
        // Task 0's owner runs the global task.
        const ownerOf = (task: number) => peers.find((p) => p.tasks.includes(task === GLOBAL_TASK ? 0 : task))
        const byOwner = new Map<string, number[]>()
        for (const task of why === null ? tasks : []) {
          const owner = ownerOf(task)
          if (owner === undefined) {
            why = `task ${taskLabel(task)} has no owner`
            break
          }
          byOwner.set(owner.node, [...(byOwner.get(owner.node) ?? []), task])
        }
        if (why === null) {
          mine = byOwner.get(this.self) ?? []
          why = notReady(this.local, name, mine)
        }
        if (why === null) {
          const secret = this.secret()
          const asks = [...byOwner].filter(([node]) => node !== this.self)
          // A peer that does not even answer (stopped, not dead) is given up on like a missing owner.
          const giveUp = setTimeout(() => abort.abort(), PULL_WAIT_MS)
          const answers = await Promise.all(
            asks.map(async ([node, owned]) => {
              const http = peers.find((p) => p.node === node)?.http
              if (http === null || http === undefined) return { node, error: `node ${node} has no HTTP address` }
              if (secret === null) return { node, error: 'the cluster secret is not known yet' }
              const text = body(owned)
              try {
                const res = await fetch(`http://${http}${PEER_ROWS_PATH}`, { method: 'POST', body: text, headers: { 'content-type': 'application/json', [PEER_AUTH_HEADER]: signPeerRequest(secret, text) }, signal: abort.signal })
                if (res.status === 200) return { node, res }
                const detail = await res.text().catch(() => '')
                return { node, error: `node ${node}: ${res.status} ${detail}`, fatal: res.status !== 503 }
              } catch (err) {
                return { node, error: `node ${node} did not answer (${(err as Error).message})` }
              }
            }),
          )
          clearTimeout(giveUp)
          for (const a of answers) {
            if ('res' in a && a.res !== undefined) remote.push({ node: a.node, res: a.res })
            else if (why === null) {
              why = a.error
              if ('fatal' in a && a.fatal) throw new SluiceError('execution', SqlState.internalError, `reading view ${name} from the cluster failed: ${a.error}`)
            }
          }
        }
        if (why === null) {
          yield* localRows(this.local, name, mine, key)
          for (const r of remote) yield* readRowFrames(r.res.body as unknown as AsyncIterable<Uint8Array>, r.node)
          return
        }
      } finally {
        abort.abort()
      }
      if (Date.now() >= deadline) throw notRunning(why)
      await this.local.changed(250)
    }
  }
}
