import { describe, expect, test } from 'vitest'
import { stickyAssign, tasksOf, type MemberInfo } from './membership.ts'
import { standbyPlacement, standbyTasksOf } from './standby.ts'
import { GLOBAL_TASK } from './tasks.ts'

const member = (node: string): MemberInfo => ({ node, pg: `${node}:6866`, http: null })

/** Task -> owner node, as the assignor gives `nodes` the tasks of a 'plays' topic of `tasks` partitions. */
function owners(nodes: readonly string[], tasks: number): Map<number, string> {
  const plan = stickyAssign(new Map(nodes.map((n) => [`m-${n}`, member(n)])), new Map([['plays', tasks]]))
  const out = new Map<number, string>()
  for (const [id, byTopic] of plan) for (const p of tasksOf(byTopic)) out.set(p, id.slice(2))
  return out
}

describe('standbyPlacement', () => {
  test('n copies of every task, never on its owner, on distinct nodes; the global task with task 0', () => {
    const nodes = ['a', 'b', 'c', 'd']
    const own = owners(nodes, 12)
    for (const n of [1, 2, 3]) {
      const place = standbyPlacement(nodes, own, n)
      for (const [task, owner] of own) {
        const copies = place.get(task)!
        expect(copies).toHaveLength(n)
        expect(new Set(copies).size).toBe(n)
        expect(copies).not.toContain(owner)
        for (const c of copies) expect(nodes).toContain(c)
      }
      expect(place.get(GLOBAL_TASK)).toEqual(place.get(0))
    }
  })

  test('more copies asked than other nodes: every other node; none asked: none', () => {
    const own = owners(['a', 'b'], 6)
    const place = standbyPlacement(['a', 'b'], own, 3)
    for (const [task, owner] of own) expect(place.get(task)).toEqual([owner === 'a' ? 'b' : 'a'])
    expect(standbyPlacement(['a', 'b'], own, 0).size).toBe(0)
    // A single node keeps no copy of its own tasks.
    for (const copies of standbyPlacement(['a'], owners(['a'], 6), 1).values()) expect(copies).toEqual([])
  })

  test('every node computes the same placement, whatever order it lists the members in', () => {
    const own = owners(['n1', 'n2', 'n3'], 6)
    const a = standbyPlacement(['n1', 'n2', 'n3'], own, 1)
    const b = standbyPlacement(['n3', 'n1', 'n2', 'n1'], new Map([...own].reverse()), 1)
    expect(new Map([...b].sort(([x], [y]) => x - y))).toEqual(new Map([...a].sort(([x], [y]) => x - y)))
    // Each node's share of the copies, over the nodes, is every task once (one copy each).
    const mine = ['n1', 'n2', 'n3'].flatMap((me) => standbyTasksOf(me, a).filter((t) => t !== GLOBAL_TASK))
    expect(mine.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5])
  })

  test('it follows a rebalance: a node that joins or leaves changes the owners, and the copies follow them', () => {
    const before = owners(['a', 'b', 'c'], 6)
    const after = owners(['a', 'b', 'c', 'd'], 6)
    const place = standbyPlacement(['a', 'b', 'c', 'd'], after, 1)
    for (const [task, owner] of after) expect(place.get(task)).not.toContain(owner)
    // Some task moved to the new node, and its copy is not on the new node.
    const moved = [...after].filter(([t, o]) => before.get(t) !== o)
    expect(moved.length).toBeGreaterThan(0)
    for (const [t] of moved) expect(place.get(t)!.length).toBe(1)
  })

  test('when an owner leaves, every task of it goes where its copy is (the copy is where the assignor would move it)', () => {
    // Over many clusters of random-looking node ids, the members announcing what they own and hold.
    let moved = 0
    let onCopy = 0
    for (let k = 0; k < 300; k++) {
      const nodes = Array.from({ length: 3 + (k % 3) }, (_, i) => `x${k}${'abcde'[i]}`)
      const tasks = 6 + (k % 7)
      const own = owners(nodes, tasks)
      const place = standbyPlacement(nodes, own, 2)
      const gone = nodes[k % nodes.length]!
      const infos = new Map(
        nodes
          .filter((n) => n !== gone)
          .map((n) => [`m-${n}`, { ...member(n), v: 2, owned: [...own].filter(([, o]) => o === n).map(([t]) => t), gen: 1, held: [...place].filter(([, c]) => c.includes(n)).map(([t]) => [t, 0] as const) }]),
      )
      const after = new Map<number, string>()
      for (const [id, byTopic] of stickyAssign(infos, new Map([['plays', tasks]]))) for (const p of tasksOf(byTopic)) after.set(p, id.slice(2))
      for (const [task, owner] of own) {
        if (owner !== gone) continue
        moved++
        // On one of its two copies: the first is where the assignor would move it, so all of them fit.
        if (place.get(task)!.includes(after.get(task)!)) onCopy++
      }
    }
    expect(moved).toBeGreaterThan(500)
    expect(onCopy).toBe(moved)
  })
})
