/**
 * The cluster's task assignor (docs/cluster.md, "Tasks" and "Standby copies"), pure and deterministic: the
 * group's leader runs it (membership.ts) on what every member announced when it joined, and any node, or a
 * test, computes the same plan from the same members.
 *
 * A task is a partition number p; partition p of every stream topic goes to the task's owner. In order:
 *
 * 1. **Shares**: the tasks divided evenly, the remainder one more each to as many members, so shares differ
 *    by at most one and no member is left without a task while there are as many tasks as members.
 * 2. **Sticky**: a member keeps the tasks it says it owns (version 2 metadata), up to its share. The extra
 *    ones of the remainder go first to members that keep more than the even share. A member that must give
 *    tasks up (a member joined) gives up first those the rendezvous plan (below) gives to another member,
 *    then those ranking lowest for it. A member that said nothing of what it owns (an older version, during a
 *    rolling upgrade) is taken to own, of the tasks nobody claims, those the rendezvous plan gives it, which
 *    is what an older leader gave it.
 * 3. **Copies**: the tasks left (their owner left, or gave them up, or none had one) go to members holding a
 *    caught-up standby copy of them (lag at most ACCEPTABLE_LAG changelog records), as many as the shares
 *    allow: a maximum matching of tasks to copy holders with room (augmenting paths over a small flow
 *    network; tasks number tens). Task 0's copy counts when the member holds a copy of task 0 or of the
 *    global task, which runs with task 0 and whose copies go with task 0's (standby.ts).
 * 4. **Rendezvous**: the rest, in task order, to the member the rendezvous plan gives it when that member has
 *    room, else to the member ranking highest for it (rendezvous hashing on node id and p) that has room.
 *
 * The rendezvous plan is what the assignor did before members announced anything: task p to the
 * highest-ranking member below its share, in task order. With no member announcing what it owns or holds
 * (a cluster forming, or every member of an older version) steps 2 and 3 do nothing and step 4 is exactly
 * that plan; a node restarted on its data directory with nothing moved meanwhile gets the same tasks back.
 */
import { createHash } from 'node:crypto'

/** What a node announces in its group metadata. */
export interface MemberInfo {
  readonly node: string
  readonly pg: string
  readonly http: string | null
  /** Version of the announcement: 2 adds `owned`, `gen` and `held`; absent in a version 1 one. */
  readonly v?: number
  /** The tasks the group gave the member in the generation it last joined (absent: it does not say). */
  readonly owned?: readonly number[]
  /** The group generation `owned` comes from: a task two members claim goes to the later one. */
  readonly gen?: number
  /** Standby copies it keeps: [task, lag in changelog records, null when unknown]; the global task is -1. */
  readonly held?: ReadonlyArray<readonly [number, number | null]>
}

/**
 * A copy at most this many changelog records behind counts as caught up (Kafka Streams'
 * `acceptable.recovery.lag` default): a task placed on it replays at most that many records.
 */
export const ACCEPTABLE_LAG = 10_000

const GLOBAL = -1

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Node `node`'s weight for task `p` (rendezvous hashing): the assignor and the standby placement (standby.ts) rank by it. */
export function rank(node: string, p: number): number {
  const key = `${node}\0task\0${p}`
  let w = weights.get(key)
  if (w === undefined) {
    // The standby placement runs the assignor once per node every few seconds: the weights are kept.
    if (weights.size >= 100_000) weights.clear()
    weights.set(key, (w = createHash('sha1').update(key).digest().readUInt32BE(0)))
  }
  return w
}

const weights = new Map<string, number>()

/** The tasks of an assignment (topic -> partitions): every partition number it holds of any topic. */
export function tasksOf(byTopic: Readonly<Record<string, readonly number[]>>): number[] {
  return [...new Set(Object.values(byTopic).flat())].sort((a, b) => a - b)
}

/**
 * The tasks of the announcement that are tasks (integers in [0, tasks)); the announcement comes from another
 * process, maybe another version: anything else in it is ignored.
 */
function taskList(raw: unknown, tasks: number): number[] {
  if (!Array.isArray(raw)) return []
  return [...new Set(raw.filter((t): t is number => Number.isInteger(t) && t >= 0 && t < tasks))].sort((a, b) => a - b)
}

/**
 * The caught-up copies member `info` announces: task -> lag (task 0's is the least of task 0's and the global
 * task's, which go together).
 */
export function caughtUp(info: MemberInfo, tasks: number): Map<number, number> {
  const out = new Map<number, number>()
  if (!Array.isArray(info.held)) return out
  for (const h of info.held as unknown[]) {
    if (!Array.isArray(h)) continue
    const [raw, lag] = h as unknown[]
    const task = raw === GLOBAL ? 0 : raw
    if (typeof lag !== 'number' || !(lag >= 0 && lag <= ACCEPTABLE_LAG) || !Number.isInteger(task) || (task as number) < 0 || (task as number) >= tasks) continue
    out.set(task as number, Math.min(lag, out.get(task as number) ?? Infinity))
  }
  return out
}

/** Task -> member id: the plan for `tasks` tasks over `members` (member id -> announcement). */
export function assignTasks(members: ReadonlyMap<string, MemberInfo>, tasks: number): string[] {
  // In node id order (then member id): every tie below is broken by node id, so that the standby placement,
  // which knows nodes and not member ids, computes the same plans (standby.ts).
  const ids = [...members.keys()].sort((a, b) => cmp(members.get(a)!.node, members.get(b)!.node) || cmp(a, b))
  const n = ids.length
  if (n === 0 || tasks <= 0) return []
  const order = new Map(ids.map((id, i) => [id, i]))
  const before = (a: string, b: string) => order.get(a)! - order.get(b)!
  const base = Math.floor(tasks / n)
  const extra = tasks % n
  const info = (id: string) => members.get(id)!
  const copies = new Map(ids.map((id) => [id, caughtUp(info(id), tasks)]))
  // Member `id`'s weight for task p; and the members from the highest weight for p down.
  const weight = (id: string, p: number) => rank(info(id).node, p)
  const byRank = new Map<number, string[]>()
  const ranked = (p: number) => {
    let r = byRank.get(p)
    if (r === undefined) byRank.set(p, (r = [...ids].sort((a, b) => weight(b, p) - weight(a, p) || before(a, b))))
    return r
  }
  const home = rendezvousPlan(ids, tasks, base, extra, ranked)

  // 2. Who owns what: a member's own word, the later generation winning a task claimed twice (the first in
  // member order on a tie); for a member that does not say, what the rendezvous plan gives it of the rest.
  const claim: (string | undefined)[] = new Array(tasks)
  const claimGen: number[] = new Array(tasks).fill(-Infinity)
  for (const id of ids) {
    const m = info(id)
    if (!Array.isArray(m.owned)) continue
    const gen = typeof m.gen === 'number' ? m.gen : -1
    for (const t of taskList(m.owned, tasks)) if (claim[t] === undefined || gen > claimGen[t]!) ((claim[t] = id), (claimGen[t] = gen))
  }
  for (let t = 0; t < tasks; t++) if (claim[t] === undefined && !Array.isArray(info(home[t]!).owned)) claim[t] = home[t]

  const kept = new Map<string, number[]>(ids.map((id) => [id, []]))
  for (let t = 0; t < tasks; t++) if (claim[t] !== undefined) kept.get(claim[t]!)!.push(t)
  // The remainder's extra tasks: to members keeping more than the even share first, the most first, then
  // those the rendezvous plan gives one.
  const homes = new Map<string, number>()
  for (const h of home) homes.set(h, (homes.get(h) ?? 0) + 1)
  const homeCount = (id: string) => homes.get(id) ?? 0
  const bigger = new Set(
    ids
      .filter((id) => kept.get(id)!.length > base)
      .sort((a, b) => kept.get(b)!.length - kept.get(a)!.length || homeCount(b) - homeCount(a) || before(a, b))
      .slice(0, extra),
  )
  let pool = extra - bigger.size
  const owner: (string | undefined)[] = new Array(tasks)
  const count = new Map<string, number>()
  for (const id of ids) {
    const cap = base + (bigger.has(id) ? 1 : 0)
    // Kept first: tasks the rendezvous plan gives this member, then those ranking highest for it.
    const mine = kept.get(id)!.sort((a, b) => Number(home[b] === id) - Number(home[a] === id) || weight(id, b) - weight(id, a) || a - b).slice(0, cap)
    for (const t of mine) owner[t] = id
    count.set(id, mine.length)
  }
  const free = [...Array(tasks).keys()].filter((t) => owner[t] === undefined)

  // 3. Tasks without an owner (not those given up: they go home in step 4) to caught-up copy holders, as
  // many as the shares allow.
  const orphans = free.filter((t) => claim[t] === undefined)
  const holders = orphans.map((t) => {
    const lag = (id: string) => copies.get(id)!.get(t)!
    // The least behind first, then by rank: the order the matching tries them in.
    return ids.filter((id) => copies.get(id)!.has(t)).sort((a, b) => lag(a) - lag(b) || weight(b, t) - weight(a, t) || before(a, b))
  })
  const matched = matchCopies(
    orphans,
    holders,
    ids.map((id) => Math.max(0, base + (bigger.has(id) ? 1 : 0) - count.get(id)!)),
    ids.map((id) => !bigger.has(id) && count.get(id)! <= base),
    pool,
    ids,
  )
  const room = (id: string) => count.get(id)! < base || (count.get(id)! === base && (bigger.has(id) || pool > 0))
  const give = (t: number, id: string) => {
    owner[t] = id
    const c = count.get(id)! + 1
    count.set(id, c)
    if (c === base + 1 && !bigger.has(id)) {
      bigger.add(id)
      pool--
    }
  }
  for (const [t, id] of matched) give(t, id)

  // 4. The rest by rendezvous.
  for (const t of free) {
    if (owner[t] !== undefined) continue
    give(t, room(home[t]!) ? home[t]! : ranked(t).find(room)!)
  }
  return owner as string[]
}

/** The plan without announcements (the assignor before version 2): task p to the highest-ranking member below its share, in task order. */
function rendezvousPlan(ids: readonly string[], tasks: number, base: number, extra: number, ranked: (p: number) => string[]): string[] {
  const count = new Map(ids.map((id) => [id, 0]))
  const out: string[] = []
  for (let p = 0; p < tasks; p++) {
    const pick = ranked(p).find((id) => count.get(id)! < base || (count.get(id)! === base && extra > 0))!
    if (count.get(pick)! === base) extra--
    count.set(pick, count.get(pick)! + 1)
    out.push(pick)
  }
  return out
}

/**
 * A maximum matching of free tasks to the members holding their copy (holders in order of preference), with
 * member i taking at most `room[i]` tasks, plus one more for members `canGrow[i]` while the remainder's
 * `pool` lasts: a max flow source -> task -> holder -> sink (room) or -> pool -> sink, by augmenting paths
 * found depth-first in a fixed order, so the same input gives the same matching.
 */
function matchCopies(free: readonly number[], holders: readonly string[][], room: readonly number[], canGrow: readonly boolean[], pool: number, ids: readonly string[]): Map<number, string> {
  const F = free.length
  const M = ids.length
  // Nodes: 0 source, 1..F tasks, F+1..F+M members, F+M+1 pool, F+M+2 sink.
  const S = 0
  const POOL = F + M + 1
  const T = F + M + 2
  const to: number[] = []
  const cap: number[] = []
  const adj: number[][] = Array.from({ length: T + 1 }, () => [])
  const edge = (a: number, b: number, c: number) => {
    adj[a]!.push(to.length)
    to.push(b), cap.push(c)
    adj[b]!.push(to.length)
    to.push(a), cap.push(0)
  }
  const index = new Map(ids.map((id, i) => [id, i]))
  for (let i = 0; i < F; i++) {
    edge(S, 1 + i, 1)
    for (const h of holders[i]!) edge(1 + i, F + 1 + index.get(h)!, 1)
  }
  for (let j = 0; j < M; j++) {
    if (room[j]! > 0) edge(F + 1 + j, T, room[j]!)
    if (canGrow[j]) edge(F + 1 + j, POOL, 1)
  }
  if (pool > 0) edge(POOL, T, pool)
  const augment = (v: number, seen: Set<number>): boolean => {
    if (v === T) return true
    seen.add(v)
    for (const e of adj[v]!) {
      if (cap[e]! > 0 && !seen.has(to[e]!) && augment(to[e]!, seen)) {
        cap[e]!--
        cap[e ^ 1]!++
        return true
      }
    }
    return false
  }
  while (augment(S, new Set())) {
    // Each path places one more task on a copy (or moves placed ones to other copies to make room).
  }
  const out = new Map<number, string>()
  for (let i = 0; i < F; i++) {
    for (const e of adj[1 + i]!) {
      // A forward edge to a member whose capacity was used: the task goes there.
      if (e % 2 === 0 && to[e]! > F && to[e]! <= F + M && cap[e] === 0) out.set(free[i]!, ids[to[e]! - F - 1]!)
    }
  }
  return out
}
