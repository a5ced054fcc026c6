import { describe, expect, test } from 'vitest'
import { ACCEPTABLE_LAG } from './assignor.ts'
import { rank, stickyAssign, tasksOf, type MemberInfo } from './membership.ts'
import { standbyPlacement } from './standby.ts'
import { GLOBAL_TASK } from './task-label.ts'

const member = (node: string): MemberInfo => ({ node, pg: `${node}:6866`, http: null })
const members = (...nodes: string[]) => new Map(nodes.map((n) => [`m-${n}`, member(n)]))
const topics = new Map([['plays', 6], ['clicks', 6], ['wide', 12]])

/** Task -> member, for one topic. */
function owners(plan: Map<string, Record<string, number[]>>, topic: string): Map<number, string> {
  const out = new Map<number, string>()
  for (const [id, byTopic] of plan) for (const p of byTopic[topic] ?? []) out.set(p, id)
  return out
}

describe('stickyAssign', () => {
  test('gives every task to exactly one member, each member its fair share, partition p of every topic together', () => {
    const plan = stickyAssign(members('a', 'b', 'c'), topics)
    for (const [topic, n] of topics) {
      const o = owners(plan, topic)
      expect([...o.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i))
    }
    for (const id of plan.keys()) expect(tasksOf(plan.get(id)!)).toHaveLength(4)
    // A task is a partition number: its partitions of all topics have one owner (co-partitioned streams).
    expect(owners(plan, 'plays')).toEqual(owners(plan, 'clicks'))
    for (const [p, id] of owners(plan, 'plays')) expect(owners(plan, 'wide').get(p)).toBe(id)
  })

  test('a member that leaves: its tasks go to the others; when it comes back it gets the same tasks back', () => {
    const three = stickyAssign(members('a', 'b', 'c'), topics)
    const two = stickyAssign(members('a', 'c'), topics)
    for (const [topic, n] of topics) {
      const before = owners(three, topic)
      const after = owners(two, topic)
      expect(after.size).toBe(n)
      expect(new Set(after.values())).toEqual(new Set(['m-a', 'm-c']))
      // Most tasks stay where they were (rendezvous ranking); not guaranteed for all (see docs/cluster.md).
      const stayed = [...before].filter(([p, id]) => id !== 'm-b' && after.get(p) === id).length
      expect(stayed).toBeGreaterThanOrEqual(((n * 2) / 3) * 0.5)
      expect(owners(stickyAssign(members('c', 'b', 'a'), topics), topic)).toEqual(before)
    }
  })

  test('shares differ by at most one: no member is left without a task while there are tasks enough', () => {
    // Node ids as nodes make them (random): with the shares capped at the rounded-up share alone, 6 tasks
    // over 4 members went 2, 2, 2, 0 in about one set of ids in eleven.
    let seed = 7
    const id = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed.toString(36))
    for (let round = 0; round < 2_000; round++) {
      const n = 2 + (round % 5)
      const tasks = n + (round % 9)
      const plan = stickyAssign(members(...Array.from({ length: n }, id)), new Map([['plays', tasks]]))
      const sizes = [...plan.values()].map((t) => tasksOf(t).length)
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(tasks)
      expect(Math.max(...sizes) - Math.min(...sizes), `${tasks} tasks over ${n}: ${sizes}`).toBeLessThanOrEqual(1)
    }
  })

  test('the same plan whoever computes it, and nothing for no members', () => {
    expect(stickyAssign(members('x', 'y'), topics)).toEqual(stickyAssign(members('y', 'x'), topics))
    expect(stickyAssign(new Map(), topics).size).toBe(0)
  })
})

/** Version 2 announcements: the tasks each node owns under `owners` (task -> node) and the copies it holds. */
function announced(nodes: readonly string[], owners: readonly string[], copies: ReadonlyMap<number, readonly string[]>, gen = 1, lag = 0): Map<string, MemberInfo> {
  return new Map(
    nodes.map((n) => [
      `m-${n}`,
      {
        ...member(n),
        v: 2,
        owned: owners.flatMap((o, t) => (o === n ? [t] : [])),
        gen,
        held: [...copies].filter(([, hs]) => hs.includes(n)).map(([t]) => [t, lag] as const),
      },
    ]),
  )
}

/** Task -> node of a plan over members `m-<node>`. */
function byTask(plan: Map<string, Record<string, number[]>>, tasks: number): string[] {
  const out: string[] = new Array(tasks)
  for (const [id, byTopic] of plan) for (const p of tasksOf(byTopic)) out[p] = id.slice(2)
  return out
}

/** The assignor before members announced anything (kept here as the reference an all-version-1 group must still get). */
function rendezvousReference(nodes: readonly string[], tasks: number): string[] {
  const ids = [...nodes].sort()
  const base = Math.floor(tasks / ids.length)
  let extra = tasks % ids.length
  const count = new Map(ids.map((id) => [id, 0]))
  const out: string[] = []
  for (let p = 0; p < tasks; p++) {
    const ranked = ids.map((id) => ({ id, w: rank(id, p) })).sort((a, b) => b.w - a.w || (a.id < b.id ? -1 : 1))
    const pick = ranked.find((r) => count.get(r.id)! < base || (count.get(r.id)! === base && extra > 0))!.id
    if (count.get(pick)! === base) extra--
    count.set(pick, count.get(pick)! + 1)
    out.push(pick)
  }
  return out
}

/** The copy placement before it followed the assignor: the highest-ranking node other than the owner. */
function rankPlacement(nodes: readonly string[], owners: readonly string[]): Map<number, string[]> {
  return new Map(owners.map((o, t) => [t, [nodes.filter((n) => n !== o).sort((a, b) => rank(b, t) - rank(a, t))[0]!]]))
}

function checkShares(after: readonly string[], nodes: readonly string[], why: string): void {
  const sizes = nodes.map((n) => after.filter((o) => o === n).length)
  expect(sizes.reduce((a, b) => a + b, 0), why).toBe(after.length)
  expect(Math.max(...sizes) - Math.min(...sizes), `${why}: ${sizes}`).toBeLessThanOrEqual(1)
}

describe('stickyAssign with announcements (version 2): sticky, and moved tasks onto their standby copies', () => {
  let seed = 17
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
  const id = () => Math.floor(random() * 2 ** 31).toString(36)
  const shape = () => {
    const n = 2 + Math.floor(random() * 5)
    return { nodes: Array.from({ length: n }, id), tasks: 6 + Math.floor(random() * 19) }
  }
  const plays = (tasks: number) => new Map([['plays', tasks]])

  test('a group of version 1 members, or one forming, gets the plan of the assignor before announcements', () => {
    for (let round = 0; round < 300; round++) {
      const { nodes, tasks } = shape()
      const want = rendezvousReference(nodes, tasks)
      expect(byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)).toEqual(want)
      expect(byTask(stickyAssign(announced(nodes, [], new Map()), plays(tasks)), tasks)).toEqual(want)
    }
  })

  test('a member leaves (2,000 random groups, 2-6 nodes, 6-24 tasks): every task it owned lands on its copy, nothing else moves', () => {
    let moved = 0
    let onCopyBefore = 0
    let onCopyNow = 0
    let movedBefore = 0
    // By the number of nodes before the departure: [moved, on their copy before, now].
    const byNodes = new Map<number, [number, number, number]>()
    for (let round = 0; round < 2_000; round++) {
      const { nodes, tasks } = shape()
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const own = new Map(owners.map((o, t) => [t, o]))
      const copies = standbyPlacement(nodes, own, 1)
      const gone = nodes[Math.floor(random() * nodes.length)]!
      const rest = nodes.filter((n) => n !== gone)
      const after = byTask(stickyAssign(announced(rest, owners, copies), plays(tasks)), tasks)
      checkShares(after, rest, `${tasks} tasks over ${rest.length}`)
      // Before: version 1 members (no announcements) and the copies on the highest-ranking other node.
      const before = rendezvousReference(rest, tasks)
      const rankCopies = rankPlacement(nodes, owners)
      for (let t = 0; t < tasks; t++) {
        if (owners[t] !== gone) {
          expect(after[t], `task ${t} of ${owners[t]} stays`).toBe(owners[t])
          if (before[t] !== owners[t]) movedBefore++
          continue
        }
        moved++
        expect(after[t], `task ${t} lands on its copy`).toBe(copies.get(t)![0])
        const f = byNodes.get(nodes.length) ?? [0, 0, 0]
        byNodes.set(nodes.length, f)
        f[0]++
        if (after[t] === copies.get(t)![0]) (onCopyNow++, f[2]++)
        if (before[t] === rankCopies.get(t)![0]) (onCopyBefore++, f[1]++)
      }
    }
    const pc = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`
    console.log(
      `moved tasks landing on their copy: before ${pc(onCopyBefore, moved)} (and ${movedBefore} tasks of surviving members moved too), now ${pc(onCopyNow, moved)} of ${moved}; ` +
        [...byNodes].sort(([a], [b]) => a - b).map(([n, [m, b, a]]) => `${n} nodes: ${pc(b, m)} -> ${pc(a, m)} of ${m}`).join(', '),
    )
    expect(moved).toBeGreaterThan(5_000)
    expect(onCopyBefore / moved).toBeLessThan(0.95)
  })

  test('copies anywhere (random holders, some behind): a moved task misses its copy only when the holder has no room under the shares', () => {
    let moved = 0
    let onCopy = 0
    for (let round = 0; round < 2_000; round++) {
      const { nodes, tasks } = shape()
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const copies = new Map<number, string[]>()
      const behind = new Set<number>()
      for (let t = 0; t < tasks; t++) {
        const others = nodes.filter((n) => n !== owners[t])
        copies.set(t, [others[Math.floor(random() * others.length)]!])
        if (random() < 0.1) behind.add(t)
      }
      const gone = nodes[Math.floor(random() * nodes.length)]!
      const rest = nodes.filter((n) => n !== gone)
      const infos = announced(rest, owners, copies)
      // A copy further behind than ACCEPTABLE_LAG is announced but not preferred.
      for (const [mid, info] of infos) infos.set(mid, { ...info, held: info.held!.map(([t]) => [t, behind.has(t) ? ACCEPTABLE_LAG + 1 : 0] as const) })
      const after = byTask(stickyAssign(infos, plays(tasks)), tasks)
      checkShares(after, rest, `${tasks} tasks over ${rest.length}`)
      const count = (n: string) => after.filter((o) => o === n).length
      const base = Math.floor(tasks / rest.length)
      const full = rest.filter((n) => count(n) === base + 1).length === tasks % rest.length
      for (let t = 0; t < tasks; t++) {
        if (owners[t] !== gone) continue
        if (behind.has(t)) continue
        moved++
        const holder = copies.get(t)![0]!
        if (after[t] === holder) {
          onCopy++
          continue
        }
        // Missed: its holder is at its share's ceiling (base + 1, or base with every extra task taken).
        expect(count(holder) === base + 1 || (count(holder) === base && full), `task ${t}: holder ${holder} had room`).toBe(true)
        // And no other task was placed on that holder for a copy it could have swapped: every task moved onto
        // the holder is a task of its own copy (the matching would otherwise have made room).
        for (let u = 0; u < tasks; u++) if (owners[u] === gone && after[u] === holder) expect(copies.get(u)![0] === holder && !behind.has(u), `task ${u} took ${holder}'s room from task ${t}`).toBe(true)
      }
    }
    console.log(`copies on random other nodes: ${((100 * onCopy) / moved).toFixed(1)}% of ${moved} moved tasks landed on theirs`)
    expect(onCopy / moved).toBeGreaterThan(0.5)
  })

  test('maximal: no other placement of the moved tasks within the shares puts more of them on a copy (small groups, two copies each, every placement tried)', () => {
    for (let round = 0; round < 400; round++) {
      const n = 3 + (round % 3)
      const nodes = Array.from({ length: n }, id)
      const tasks = n + Math.floor(random() * 6)
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const copies = new Map<number, string[]>()
      for (let t = 0; t < tasks; t++) {
        const others = nodes.filter((m) => m !== owners[t]).sort(() => random() - 0.5)
        copies.set(t, others.slice(0, 1 + Math.floor(random() * 2)))
      }
      const gone = nodes[round % n]!
      const rest = nodes.filter((m) => m !== gone)
      const after = byTask(stickyAssign(announced(rest, owners, copies), plays(tasks)), tasks)
      const orphans = [...owners.keys()].filter((t) => owners[t] === gone)
      const got = orphans.filter((t) => copies.get(t)!.includes(after[t]!)).length
      // Every placement of the orphans on the survivors, the others staying, within the shares.
      let best = 0
      const kept = rest.map((m) => owners.filter((o) => o === m).length)
      const place = (i: number, counts: number[], on: number): void => {
        if (i === orphans.length) {
          if (Math.max(...counts) - Math.min(...counts) <= 1) best = Math.max(best, on)
          return
        }
        for (const [j, m] of rest.entries()) {
          counts[j]!++
          place(i + 1, counts, on + (copies.get(orphans[i]!)!.includes(m) ? 1 : 0))
          counts[j]!--
        }
      }
      place(0, [...kept], 0)
      expect(got, `${tasks} tasks, ${n} nodes, ${orphans.length} moved`).toBe(best)
    }
  })

  test('over histories (joins, returns, departures of one or two nodes, the copies placed again after each), a single departure always lands on the copies', () => {
    let single = 0
    let singleOn = 0
    let double = 0
    let doubleOn = 0
    for (let c = 0; c < 150; c++) {
      const tasks = 6 + Math.floor(random() * 19)
      let nodes = Array.from({ length: 2 + Math.floor(random() * 5) }, id)
      const away: string[] = []
      let owners = byTask(stickyAssign(announced(nodes, [], new Map()), plays(tasks)), tasks)
      for (let step = 0; step < 12; step++) {
        const copies = standbyPlacement(nodes, new Map(owners.map((o, t) => [t, o])), 1)
        const r = random()
        let next: string[]
        const gone = nodes[Math.floor(random() * nodes.length)]
        if (nodes.length > 2 && r < 0.4) next = nodes.filter((n) => n !== gone)
        else if (nodes.length > 3 && r < 0.5) next = nodes.slice(2)
        else if (away.length > 0 && r < 0.75) next = [...nodes, away.pop()!]
        else if (nodes.length < Math.min(tasks, 7)) next = [...nodes, id()]
        else continue
        for (const n of nodes) if (!next.includes(n)) away.push(n)
        const infos = announced(
          next.filter((n) => nodes.includes(n)),
          owners,
          copies,
          step + 1,
        )
        for (const n of next) if (!nodes.includes(n)) infos.set(`m-${n}`, { ...member(n), v: 2, owned: [], gen: -1, held: [] })
        const after = byTask(stickyAssign(infos, plays(tasks)), tasks)
        checkShares(after, next, `${tasks} tasks over ${next.length}`)
        const left = nodes.length - next.filter((n) => nodes.includes(n)).length
        for (let t = 0; t < tasks; t++) {
          if (next.includes(owners[t]!) || left === 0) continue
          const on = after[t] === copies.get(t)![0]
          if (left === 1) (single++, singleOn += on ? 1 : 0)
          else (double++, doubleOn += on ? 1 : 0)
          if (left === 1) expect(on, `task ${t} of the node that left`).toBe(true)
        }
        owners = after
        nodes = next
      }
    }
    console.log(`over histories: ${single} tasks of single departures, all on their copy; ${((100 * doubleOn) / double).toFixed(1)}% of ${double} tasks of two nodes leaving together`)
    expect(single).toBeGreaterThan(1_000)
  })

  test('a member joins: it takes its share, from members over theirs; no other task moves', () => {
    for (let round = 0; round < 500; round++) {
      const { nodes, tasks } = shape()
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const copies = standbyPlacement(nodes, new Map(owners.map((o, t) => [t, o])), 1)
      const joiner = id()
      const infos = announced(nodes, owners, copies)
      infos.set(`m-${joiner}`, { ...member(joiner), v: 2, owned: [], gen: -1, held: [] })
      const after = byTask(stickyAssign(infos, plays(tasks)), tasks)
      checkShares(after, [...nodes, joiner], `${tasks} tasks over ${nodes.length + 1}`)
      for (let t = 0; t < tasks; t++) if (after[t] !== owners[t]) expect(after[t], `task ${t} moved to another old member`).toBe(joiner)
    }
  })

  test('a node killed and back (no announcement of tasks it owns yet) gets back its own tasks where the shares allow', () => {
    let back = 0
    let had = 0
    for (let round = 0; round < 500; round++) {
      const { nodes, tasks } = shape()
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const gone = nodes[round % nodes.length]!
      const rest = nodes.filter((n) => n !== gone)
      const copies = standbyPlacement(nodes, new Map(owners.map((o, t) => [t, o])), 1)
      const middle = byTask(stickyAssign(announced(rest, owners, copies), plays(tasks)), tasks)
      const infos = announced(rest, middle, standbyPlacement(rest, new Map(middle.map((o, t) => [t, o])), 1), 2)
      infos.set(`m-${gone}`, { ...member(gone), v: 2, owned: [], gen: -1, held: [] })
      const after = byTask(stickyAssign(infos, plays(tasks)), tasks)
      checkShares(after, nodes, `${tasks} tasks over ${nodes.length}`)
      for (let t = 0; t < tasks; t++) {
        if (owners[t] !== gone) continue
        had++
        if (after[t] === gone) back++
      }
    }
    console.log(`a node killed and back got ${((100 * back) / had).toFixed(1)}% of its old tasks back`)
    // Members give up first the tasks the rendezvous plan gives the returning node, which are its old ones
    // (92.1% here). It misses one when its share was one of the larger ones: members keeping more than the
    // even share keep the larger shares, stickiness first.
    expect(back / had).toBeGreaterThan(0.85)
  })

  test('a rolling upgrade: members without announcements keep what the plan gave them; shares hold', () => {
    for (let round = 0; round < 500; round++) {
      const { nodes, tasks } = shape()
      const owners = byTask(stickyAssign(members(...nodes), plays(tasks)), tasks)
      const copies = standbyPlacement(nodes, new Map(owners.map((o, t) => [t, o])), 1)
      const gone = nodes[round % nodes.length]!
      const rest = nodes.filter((n) => n !== gone)
      const infos = announced(rest, owners, copies)
      // Every other member still of the older version: its announcement has no owned, gen nor held.
      const old = rest.filter((_, i) => i % 2 === round % 2)
      for (const n of old) infos.set(`m-${n}`, member(n))
      const after = byTask(stickyAssign(infos, plays(tasks)), tasks)
      checkShares(after, rest, `${tasks} tasks over ${rest.length}, ${old.length} of an older version`)
      // Deterministic whatever order the members come in.
      expect(byTask(stickyAssign(new Map([...infos].reverse()), plays(tasks)), tasks)).toEqual(after)
      // Announcing members keep their tasks (the shares allow it on a departure).
      for (let t = 0; t < tasks; t++) if (owners[t] !== gone && !old.includes(owners[t]!)) expect(after[t]).toBe(owners[t])
    }
  })

  test('announcements from another version or garbage are tolerated: bad entries are ignored', () => {
    const nodes = ['a', 'b', 'c']
    const infos = new Map<string, MemberInfo>([
      ['m-a', { ...member('a'), v: 3, owned: [0, 1, 'x', -1, 99, 1.5] as unknown as number[], gen: 4, held: [[2, 0], 'junk', [null, 0], [3, null], [5, -4]] as unknown as [number, number][] }],
      ['m-b', { ...member('b'), owned: null as unknown as number[], held: {} as unknown as [number, number][] }],
      ['m-c', { ...member('c'), v: 2, owned: [2, 3], gen: 4, held: [[-1, 0]] }],
    ])
    const after = byTask(stickyAssign(infos, plays(6)), 6)
    checkShares(after, nodes, 'garbage')
    expect(after[0]).toBe('a')
    expect(after[1]).toBe('a')
    expect(after[2]).toBe('c')
    expect(after[3]).toBe('c')
    // Task 0 twice claimed: the later generation wins.
    const twice = byTask(stickyAssign(new Map([...infos, ['m-c', { ...infos.get('m-c')!, owned: [0, 3], gen: 5 }]]), plays(6)), 6)
    expect(twice[0]).toBe('c')
  })

  test('a copy of the global task counts as a copy of task 0 (the global task runs with task 0)', () => {
    const owners = ['a', 'b', 'b', 'c', 'c', 'a']
    // a leaves; b holds the global task's copy, c holds task 5's. b and c both have room for one.
    const infos = announced(['b', 'c'], owners, new Map([[5, ['c']]]))
    infos.set('m-b', { ...infos.get('m-b')!, held: [[GLOBAL_TASK, 3]] })
    const after = byTask(stickyAssign(infos, plays(6)), 6)
    expect(after[0]).toBe('b')
    expect(after[5]).toBe('c')
    // Behind more than ACCEPTABLE_LAG: not a copy to prefer.
    infos.set('m-b', { ...infos.get('m-b')!, held: [[GLOBAL_TASK, ACCEPTABLE_LAG + 1]] })
    infos.set('m-c', { ...infos.get('m-c')!, held: [[0, 0]] })
    const behind = byTask(stickyAssign(infos, plays(6)), 6)
    expect(behind[0]).toBe('c')
  })
})
