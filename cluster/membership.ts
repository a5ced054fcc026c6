/**
 * Membership and task assignment by Kafka's consumer group protocol: every node joins the group
 * `_sluice_<cluster>` subscribed to the cluster's stream topics; the group's leader assigns the partitions
 * (tasks) with `stickyAssign` below, and the coordinator evicts a node that stops heartbeating (kill -9)
 * after the session timeout, which moves its tasks to the others.
 *
 * A node's protocol metadata says who it is (node id, Postgres and HTTP addresses), so that any node can
 * list the cluster (describeGroups), and (version 2) what the assignor needs to keep tasks where they are and
 * move the others onto their standby copies: the tasks it owns, and the copies it keeps with their lag. The
 * client encodes it at every join, its own and those it makes by itself when the group rebalances, so it says
 * what holds when the rebalance begins. An older leader reads the same JSON and ignores the new fields; this
 * leader takes a member without them for an older one (assignor.ts).
 */
import type { GroupConfirmation } from './task-fencing.ts'
import { assignTasks, caughtUp, tasksOf, type MemberInfo } from './assignor.ts'
import { Admin, Consumer, type ExtendedGroupProtocolSubscription, type GroupPartitionsAssignments } from '@platformatic/kafka'

export { rank, tasksOf, type MemberInfo } from './assignor.ts'

export interface ClusterMember extends MemberInfo {
  readonly memberId: string
  /** Tasks the group assigned to it now: topic -> partitions. */
  readonly tasks: Record<string, number[]>
}

const PROTOCOL = 'sluice-sticky'
/**
 * The group client heartbeats from the event loop the node's engines share: a node busy with a burst can
 * answer a second or two late. A session timeout of 20 s tolerates that (stage 1 saw spurious rebalances
 * at 10 s); the price is that a node killed with -9 loses its tasks to the others after 20 s.
 */
const SESSION_TIMEOUT_MS = 20_000
const REBALANCE_TIMEOUT_MS = 30_000
const HEARTBEAT_MS = 2000
/**
 * After a broker restart the group client can stay out of the group for good: the coordinator drops the
 * members whose heartbeats did not reach it within the session timeout, and the client neither heartbeats
 * successfully again nor rejoins (seen with @platformatic/kafka 1.35: the group stays EMPTY, every task
 * without an owner, every pull query failing 55000). A node that has heard no answered heartbeat (nor a
 * join) for longer than this replaces its client and joins again, as the same static member. Longer than a
 * session timeout plus a rebalance timeout: a rejoin the client makes by itself may wait that long for
 * the group without heartbeating, and must not be cut short.
 */
const SILENT_REJOIN_MS = SESSION_TIMEOUT_MS + REBALANCE_TIMEOUT_MS
/** The group's confirmation (describeGroups) is asked at most this often; task starts come in bursts. */
const CONFIRM_CACHE_MS = 1000

export function groupName(cluster: string): string {
  return `_sluice_${cluster}`
}

/**
 * The assignment (assignor.ts): sticky to the members' current tasks, shares differing by at most one, the
 * tasks that must move placed on caught-up standby copies where the shares allow, the rest by rendezvous
 * ranking. Partition p of every stream topic goes to task p's owner (the topics are co-partitioned: a key's
 * events of two streams are in the same task, and a task engine reads partition p of each).
 */
export function stickyAssign(members: ReadonlyMap<string, MemberInfo>, partitionsOf: ReadonlyMap<string, number>): Map<string, Record<string, number[]>> {
  const out = new Map<string, Record<string, number[]>>([...members.keys()].sort().map((id) => [id, {}]))
  const owners = assignTasks(members, Math.max(0, ...partitionsOf.values()))
  const topics = [...partitionsOf.keys()].sort()
  owners.forEach((id, p) => {
    for (const topic of topics) if (p < partitionsOf.get(topic)!) (out.get(id)![topic] ??= []).push(p)
  })
  return out
}

function infoOf(sub: ExtendedGroupProtocolSubscription | Omit<ExtendedGroupProtocolSubscription, 'memberId'> | undefined): MemberInfo | null {
  try {
    const raw = sub?.metadata
    if (raw === undefined) return null
    const info = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8')) as MemberInfo | null
    return info !== null && typeof info === 'object' && typeof info.node === 'string' ? info : null
  } catch {
    return null
  }
}

/** A standby copy as a member announces it: [task, lag in changelog records (null: unknown)]. */
export type HeldCopy = readonly [task: number, lag: number | null]

/**
 * The leader's log line for a plan that places tasks without an owner among the members (a node left) while
 * others have one: how many went to a node keeping a caught-up standby copy of them. Silent when a member
 * does not announce what it owns (an older version) or none does (the group forming).
 */
function logMoves(infos: ReadonlyMap<string, MemberInfo>, plan: ReadonlyMap<string, Record<string, number[]>>, tasks: number): void {
  if ([...infos.values()].some((m) => !Array.isArray(m.owned))) return
  const claimed = new Set([...infos.values()].flatMap((m) => m.owned!))
  if (claimed.size === 0) return
  const orphans = new Map<number, string>()
  for (const [id, byTopic] of plan) for (const t of tasksOf(byTopic)) if (!claimed.has(t)) orphans.set(t, id)
  if (orphans.size === 0) return
  const onCopy = [...orphans].filter(([t, id]) => caughtUp(infos.get(id)!, tasks).has(t)).map(([t]) => t)
  console.log(
    `sluice: cluster assignment: ${orphans.size} task(s) without an owner (${[...orphans.keys()].sort((a, b) => a - b).join(', ')}), ${onCopy.length} of them to a node keeping a caught-up standby copy${onCopy.length > 0 ? ` (${onCopy.sort((a, b) => a - b).join(', ')})` : ''}`,
  )
}

export class Membership {
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  private topics = new Set<string>()
  private owned: Record<string, number[]> = {}
  /** The group generation `owned` was assigned in (-1: none yet). */
  private ownedGeneration = -1
  /**
   * The protocol the client sends at every join: its metadata is read at each join, so that a rejoin
   * announces the tasks owned and the copies held then.
   */
  private readonly protocol: { name: string; version: number; readonly metadata: string }
  private joining: Promise<void> = Promise.resolve()
  private closed = false
  /** When the last rebalance began and how long the last one took (ms). */
  lastRebalanceMs: number | null = null
  generation = -1

  /** When a heartbeat was last answered, or a join or rebalance began or ended (the client was alive in the group). */
  private lastHeard = Date.now()
  /** Our own join is under way (it may wait for a rebalance, without heartbeats). */
  private inJoin = false
  private readonly watchdog: NodeJS.Timeout

  constructor(
    private readonly cluster: string,
    private readonly brokers: readonly string[],
    private readonly me: MemberInfo,
    /**
     * Called with this node's tasks after every join (the same tasks too: a task fenced here may be
     * registered again once a join after the fence gave it to this node, task-fencing.ts).
     */
    private readonly onTasks: (tasks: number[]) => void = () => undefined,
    /** The standby copies the node keeps now (standby.ts `held`), announced to the assignor. */
    private readonly held: () => readonly HeldCopy[] = () => [],
  ) {
    const announce = () => this.announcement()
    this.protocol = {
      name: PROTOCOL,
      version: 1,
      get metadata() {
        return announce()
      },
    }
    this.consumer = this.newConsumer()
    this.watchdog = setInterval(() => this.checkHeard(), HEARTBEAT_MS)
    this.watchdog.unref()
  }

  private checkHeard(): void {
    if (this.closed || this.inJoin || this.topics.size === 0) return
    const silent = Date.now() - this.lastHeard
    if (silent <= SILENT_REJOIN_MS) return
    console.error(`sluice: cluster group: no heartbeat answered for ${Math.round(silent / 1000)} s; joining again with a new group client`)
    this.lastHeard = Date.now()
    const old = this.consumer
    this.joining = this.joining
      .then(async () => {
        // Closed first: its leave (if it gets through) must not remove the new client's membership.
        await Promise.race([new Promise<void>((done) => old.close(true, () => done())), new Promise((r) => setTimeout(r, 3000).unref())])
        if (this.closed) return
        this.consumer = this.newConsumer()
        await this.join()
      })
      .catch((err: unknown) => console.error(`sluice: cluster group join failed: ${(err as Error).message}`))
  }

  private newConsumer(): Consumer<Buffer, Buffer, Buffer, Buffer> {
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      clientId: `sluice-${this.cluster}-${this.me.node}`,
      groupId: groupName(this.cluster),
      // Static membership: a node restarted on its data directory takes its place (and tasks) back at once.
      groupInstanceId: `sluice-${this.me.node}`,
      bootstrapBrokers: [...this.brokers],
      autocreateTopics: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: REBALANCE_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_MS,
      // In the constructor too: the client rejoins by itself (after a rebalance) with these.
      protocols: [this.protocol],
      partitionAssigner: (_current, members, topics, metadata) => this.assign(members, topics, metadata),
      retries: 5,
    })
    // A rejoin the client gave up on is an 'error' event (unheard, it would end the process): join again.
    consumer.on('error', (err: Error) => {
      if (this.closed) return
      console.error(`sluice: cluster group: ${err.message}; joining again`)
      setTimeout(() => {
        if (!this.closed) this.joining = this.joining.then(() => this.join()).catch((e: unknown) => console.error(`sluice: cluster group join failed: ${(e as Error).message}`))
      }, 1000).unref()
    })
    consumer.on('consumer:group:join', () => this.joined())
    consumer.on('consumer:group:rebalance', () => {
      this.rebalanceStarted = Date.now()
      this.confirmed = null
      this.lastHeard = Date.now()
    })
    consumer.on('consumer:heartbeat:end', () => {
      if (consumer === this.consumer) this.lastHeard = Date.now()
    })
    return consumer
  }

  private rebalanceStarted = Date.now()

  /** This node's group metadata now (version 2): who it is, the tasks it owns, the copies it keeps. */
  private announcement(): string {
    let held: HeldCopy[] = []
    try {
      held = [...this.held()]
    } catch (err) {
      // A join must not fail for it: the node announces no copies, and its tasks move as before.
      console.error(`sluice: cluster group: the standby copies held here are unknown (${(err as Error).message})`)
    }
    const info: MemberInfo = { node: this.me.node, pg: this.me.pg, http: this.me.http, v: 2, owned: tasksOf(this.owned), gen: this.ownedGeneration, held }
    return JSON.stringify(info)
  }

  /** The tasks this node owns now: topic -> partitions. */
  tasks(): Record<string, number[]> {
    return this.owned
  }

  /** Subscribes to the topics (joining, or rejoining when they changed). */
  follow(topics: readonly string[]): Promise<void> {
    const next = new Set(topics)
    if (next.size === this.topics.size && [...next].every((t) => this.topics.has(t))) return this.joining
    this.topics = next
    this.joining = this.joining.then(() => this.join()).catch((err: unknown) => console.error(`sluice: cluster group join failed: ${(err as Error).message}`))
    return this.joining
  }

  private async join(): Promise<void> {
    if (this.closed || this.topics.size === 0) return
    this.rebalanceStarted = Date.now()
    this.inJoin = true
    try {
      for (const t of this.topics) this.consumer.topics.track(t)
      await this.consumer.joinGroup({})
    } finally {
      this.inJoin = false
      this.lastHeard = Date.now()
    }
    this.joined()
  }

  private joined(): void {
    this.lastHeard = Date.now()
    const next: Record<string, number[]> = {}
    for (const a of this.consumer.assignments ?? []) next[a.topic] = [...a.partitions].sort((x, y) => x - y)
    const before = JSON.stringify(this.owned)
    this.owned = next
    this.ownedGeneration = this.consumer.generationId
    this.generation++
    this.confirmed = null
    if (JSON.stringify(next) !== before) {
      this.lastRebalanceMs = Date.now() - this.rebalanceStarted
      console.log(`sluice: cluster rebalance done in ${this.lastRebalanceMs} ms; tasks here: ${JSON.stringify(next)}`)
    }
    this.onTasks(tasksOf(next))
  }

  /** The last answer of `confirmation`, and when it was asked. */
  private confirmed: { at: number; answer: Promise<GroupConfirmation | null> } | null = null

  /**
   * What the coordinator says now: whether the group is stable, and which node owns each task (the
   * registration gate of task-fencing.ts). Asked at most once a second; null when it cannot be asked (a
   * broker outage).
   */
  confirmation(): Promise<GroupConfirmation | null> {
    if (this.confirmed !== null && Date.now() - this.confirmed.at < CONFIRM_CACHE_MS) return this.confirmed.answer
    const answer = this.describe().catch(() => null)
    this.confirmed = { at: Date.now(), answer }
    return answer
  }

  private async describe(): Promise<GroupConfirmation> {
    const admin = new Admin({ clientId: `sluice-${this.cluster}-describe`, bootstrapBrokers: [...this.brokers], retries: 1 })
    try {
      const groups = await admin.describeGroups({ groups: [groupName(this.cluster)] })
      const group = groups.get(groupName(this.cluster))
      const owners = new Map<number, string>()
      const nodes: string[] = []
      if (group === undefined) return { stable: false, owners, nodes }
      for (const m of group.members.values()) {
        const node = infoOf(m.metadata)?.node ?? m.clientId
        nodes.push(node)
        const byTopic: Record<string, number[]> = {}
        for (const [topic, a] of m.assignments ?? new Map()) byTopic[topic] = [...a.partitions]
        for (const task of tasksOf(byTopic)) owners.set(task, node)
      }
      return { stable: group.state === 'STABLE', owners, nodes }
    } finally {
      await new Promise<void>((done) => admin.close(() => done()))
    }
  }

  private assign(members: Map<string, ExtendedGroupProtocolSubscription>, topics: Set<string>, metadata: { topics: Map<string, { partitionsCount: number }> }): GroupPartitionsAssignments[] {
    const infos = new Map<string, MemberInfo>()
    for (const [id, sub] of members) infos.set(id, infoOf(sub) ?? { node: id, pg: '', http: null })
    const partitionsOf = new Map<string, number>()
    for (const t of topics) partitionsOf.set(t, metadata.topics.get(t)?.partitionsCount ?? 0)
    const plan = stickyAssign(infos, partitionsOf)
    logMoves(infos, plan, Math.max(0, ...partitionsOf.values()))
    return [...plan].map(([memberId, byTopic]) => ({
      memberId,
      assignments: new Map(Object.entries(byTopic).map(([topic, partitions]) => [topic, { topic, partitions }])),
    }))
  }

  /** Every member of the group as the coordinator knows it now. */
  async members(): Promise<ClusterMember[]> {
    const admin = new Admin({ clientId: `sluice-${this.cluster}-describe`, bootstrapBrokers: [...this.brokers], retries: 2 })
    try {
      const groups = await admin.describeGroups({ groups: [groupName(this.cluster)] })
      const group = groups.get(groupName(this.cluster))
      if (group === undefined) return []
      return [...group.members.values()].map((m) => {
        const info = infoOf(m.metadata) ?? { node: m.clientId, pg: '', http: null }
        const tasks: Record<string, number[]> = {}
        for (const [topic, a] of m.assignments ?? new Map()) tasks[topic] = [...a.partitions].sort((x, y) => x - y)
        return { ...info, memberId: m.id, tasks }
      })
    } finally {
      await new Promise<void>((done) => admin.close(() => done()))
    }
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.watchdog)
    // A join waiting on a rebalance is not waited for long: closing the client ends it.
    await Promise.race([this.joining, new Promise((r) => setTimeout(r, 3000).unref())])
    await new Promise<void>((done) => this.consumer.close(true, () => done()))
  }
}
