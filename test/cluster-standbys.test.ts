/**
 * Standby copies (docs/cluster.md, "Standby copies") against the shared broker and three real node processes
 * started with `--standbys 1`: every task has one copy, on a node other than its owner (the global task's
 * with task 0's), sluice_tasks shows them following their changelogs, and after a kill -9 of the owner of
 * task 0 the group's leader gives each of the dead node's tasks to the survivor keeping its copy (the members
 * announce their copies in the group metadata; the copy was placed where the assignor moves the task), so
 * every moved task restores from its copy, replaying only the changelog's tail; the copies follow the new
 * owners, and every answer stays exact.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { logEndedNodes, startCluster, type TestCluster } from './helpers/cluster.ts'
import { sharedKafka } from './helpers/kafka.ts'
import { eventually, type SluiceProcess } from './helpers/sluice-process.ts'
import { COLUMNS, LATENESS, VIEWS, json, ownerOfTasks, plays, viewRows, type Play } from './helpers/cluster-plays.ts'
import { standbyRestoreLines } from './helpers/cluster-runs.ts'

/** A global view (a count of players by their count: it reads every partition, in the global task). */
const BY_COUNT = 'CREATE MATERIALIZED VIEW by_count AS SELECT n, count(*) AS players FROM per_player GROUP BY n'

/** The standby rows a node shows: task -> [changelog position, lag]. */
function standbyRows(node: SluiceProcess): Map<number, [number, number | null]> {
  const out = node.psql("SELECT task, changelog_position, lag FROM sluice_tasks WHERE stream = 'plays' AND status = 'standby'", { args: ['-tA'], allowError: true }).stdout.trim()
  return new Map(
    (out === '' ? [] : out.split('\n')).map((l) => {
      const [task, position, lag] = l.split('|')
      return [Number(task), [Number(position), lag === '' ? null : Number(lag)]] as const
    }),
  )
}

/** The views' answers after `events`, worked out here. */
function expected(events: readonly Play[]): { perPlayer: string; byCount: string } {
  const per = new Map<string, [number, number]>()
  for (const e of events) {
    const [n, total] = per.get(e.player) ?? [0, 0]
    per.set(e.player, [n + 1, total + e.score])
  }
  const byCount = new Map<number, number>()
  for (const [n] of per.values()) byCount.set(n, (byCount.get(n) ?? 0) + 1)
  return {
    perPlayer: [...per].map(([p, [n, total]]) => `${p}|${n}|${total}`).sort().join('\n'),
    byCount: [...byCount].map(([n, c]) => `${n}|${c}`).sort().join('\n'),
  }
}

describe('standby copies of tasks', () => {
  let cluster: TestCluster
  const topic = `standbys_${Date.now().toString(36)}`

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, kafka: await sharedKafka(), args: ['--standbys', '1'] })
    const [n0] = cluster.nodes
    n0!.psql(`CREATE STREAM plays (${COLUMNS}) WITH (key = 'player', partitions = 6, topic = '${topic}', ${LATENESS})`)
    n0!.psql(VIEWS[0]!)
    n0!.psql(BY_COUNT)
    await eventually(async () => ownerOfTasks(n0!), (owners) => owners.size === 6 && new Set(owners.values()).size === 3, 90_000)
  }, 150_000)

  afterAll(async () => {
    logEndedNodes(cluster)
    await cluster?.stop()
  }, 60_000)

  test('copies follow the changelogs; a kill -9 moves every task of the dead node onto its copy, which replays only the tail', async () => {
    const nodes = [...cluster.nodes]
    const [n0, n1] = nodes
    const produce = (events: readonly Play[]) => cluster.kafka.produce(topic, events.map((p) => `${p.player}\t${json(p)}`), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    const sent: Play[] = []
    const send = async (from: number, count: number) => {
      const events = plays(from, count)
      await produce(events)
      sent.push(...events)
    }
    const exact = async (node: SluiceProcess) => {
      const want = expected(sent)
      await eventually(() => viewRows(node, 'per_player'), (rows) => rows === want.perPlayer, 90_000)
      await eventually(() => viewRows(node, 'by_count'), (rows) => rows === want.byCount, 90_000)
    }

    // Checkpoints in several parts, so that each changelog has a history a cold restore would replay.
    for (let part = 0; part < 4; part++) {
      await send(part * 1500, 1500)
      await eventually(() => viewRows(n0!, 'per_player'), (rows) => rows.split('\n').reduce((a, l) => a + Number(l.split('|')[1] ?? 0), 0) === sent.length, 60_000)
    }
    await exact(n0!)

    // Every task has one copy, on a node other than its owner, caught up with its changelog; each node's
    // count includes the global task's copy when it keeps task 0's.
    const owners = await ownerOfTasks(n0!)
    const ids = nodes.map((n) => n.psql('SELECT node FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim())
    const copies = await eventually(
      async () => nodes.map((n) => standbyRows(n)),
      (rows) => {
        const held = rows.flatMap((r, i) => [...r.keys()].map((t) => [t, ids[i]!] as const))
        return held.length === 6 && new Set(held.map(([t]) => t)).size === 6 && held.every(([t, at]) => owners.get(t) !== at) && rows.every((r) => [...r.values()].every(([pos, lag]) => pos > 0 && lag === 0))
      },
      60_000,
    )
    for (const [i, node] of nodes.entries()) {
      const want = String(copies[i]!.size + (copies[i]!.has(0) ? 1 : 0))
      const count = await eventually(async () => node.psql('SELECT standby_tasks FROM sluice_cluster WHERE is_self', { args: ['-tA'] }).stdout.trim(), (c) => c === want, 30_000)
      expect(count).toBe(want)
      // Other nodes' rows leave it NULL.
      expect(node.psql('SELECT count(*) FROM sluice_cluster WHERE NOT is_self AND standby_tasks IS NULL', { args: ['-tA'] }).stdout.trim()).toBe('2')
    }

    // They follow: more events move every copy's position on, and the lag back to 0.
    const before = nodes.map((n) => standbyRows(n))
    await send(6000, 1500)
    await exact(n1!)
    for (const [i, node] of nodes.entries()) {
      await eventually(async () => standbyRows(node), (r) => r.size === before[i]!.size && [...r].every(([t, [pos, lag]]) => pos > before[i]!.get(t)![0] && lag === 0), 60_000)
    }
    // Settled (the last checkpoint of those events applied on every copy: the same positions twice, a second
    // apart), so that what the kill leaves for the restore to replay is what was not copied yet: nothing.
    let last = ''
    await eventually(
      async () => {
        const now = JSON.stringify(nodes.flatMap((n) => [...standbyRows(n)]))
        const same = now === last && !now.includes('null')
        last = now
        if (!same) await new Promise((r) => setTimeout(r, 1000))
        return same
      },
      (same) => same,
      60_000,
    )

    // kill -9 of the owner of task 0 (so the global task moves too); each of its tasks goes to the survivor
    // keeping its copy.
    const victim = ids.indexOf(owners.get(0)!)
    const survivors = nodes.filter((_, i) => i !== victim)
    const holder = new Map(copies.flatMap((r, i) => [...r.keys()].map((t) => [t, ids[i]!] as const)))
    const moved = [...owners].filter(([, o]) => o === ids[victim]).map(([t]) => t)
    expect(moved.length).toBe(2)
    const logBefore = survivors.map((n) => n.output().length)
    const logs = () => survivors.map((n, i) => n.output().slice(logBefore[i]))
    await cluster.kill(victim)
    await send(7500, 1500)
    const after = await eventually(async () => ownerOfTasks(survivors[0]!), (o) => o.size === 6 && [...o.values()].every((id) => id !== ids[victim]), 90_000)
    for (const t of moved) expect(after.get(t), `task ${t} goes to the node keeping its copy`).toBe(holder.get(t))
    for (const [t, o] of owners) if (o !== ids[victim]) expect(after.get(t), `task ${t} stays with its owner`).toBe(o)
    const restored = await eventually(
      async () => logs().flatMap((out) => standbyRestoreLines(out)),
      (rs) => [...moved, -1].every((t) => rs.some((r) => r.task === t)),
      90_000,
    )
    console.log(`restored from standby copies after the kill -9: ${restored.map((r) => r.line).join('; ')}`)
    for (const r of restored) {
      // A cold restore replays the whole log, offsets 0 to `end`; the copy was at `from`, and only the rest is
      // replayed: the dead node's last checkpoint or two, against the task's whole history.
      expect(r.from, r.line).toBeGreaterThan(0)
      expect((r.end - r.from) * 4, r.line).toBeLessThanOrEqual(r.end)
      expect(r.records * 4, r.line).toBeLessThanOrEqual(r.applied)
    }
    // No other restore of the moved tasks: the copies were used.
    for (const out of logs()) expect(out).not.toMatch(/task (\d+|global) restored from its changelog in/)
    // The leader said so (it is one of the survivors).
    expect(logs().join('\n')).toMatch(new RegExp(`cluster assignment: 2 task\\(s\\) without an owner \\(${[...moved].sort().join(', ')}\\), 2 of them to a node keeping a caught-up standby copy`))

    // Exact after the move, and after more events on the tasks restored from the copies.
    await exact(survivors[0]!)
    await send(9000, 1500)
    await exact(survivors[1]!)
    // The copies follow the new owners: each survivor keeps a copy of every task of the other, caught up.
    for (const node of survivors) {
      const theirs = [...after].filter(([, o]) => o !== ids[nodes.indexOf(node)]).map(([t]) => t).sort()
      await eventually(async () => standbyRows(node), (r) => [...r.keys()].sort().join() === theirs.join() && [...r.values()].every(([, lag]) => lag === 0), 60_000)
    }
  }, 300_000)
})
