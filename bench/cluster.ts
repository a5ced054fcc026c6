/**
 * Cluster throughput and failover (`npm run bench:cluster`): a keyed aggregation (count and sum per player)
 * over a backlog of keyed events in a Kafka topic, computed by clusters of 1, 2 and 3 real
 * `sluice serve --cluster` processes on this machine, and the time a 3-node cluster takes to answer
 * completely again after one node is killed with -9.
 *
 *   npm run bench:cluster -- [--events 1000000] [--players 100000] [--partitions 6] [--nodes 1,2,3]
 *                            [--failover | --no-failover] [--timeout 900] [--changelog on|off|both]
 *                            [--standbys 0|1|both]
 *
 * The events are produced once (kcat, keyed, Kafka's Java partitioning) and every cluster reads the same
 * topic from its start. A run is timed from the view's creation (once the cluster's group has settled) to
 * the moment every node's `SELECT sum(n) FROM per_player` counts every event (watched through sluice_tasks
 * until the tasks have taken in every event, so that the watching costs little); CPU seconds are the nodes'
 * own (user + system, from /proc), so they show whether the work was split or repeated on every node.
 *
 * `--changelog on` (the default here): the nodes write state changelogs
 * (docs/cluster.md, stage 3); `off`: without (a task moved by the failover re-reads its partition); `both`:
 * each cluster size both ways. `--standbys 1`: the nodes keep a standby copy of each task
 * (docs/cluster.md, "Standby copies"), so a task moved by the failover replays only its changelog's tail;
 * `both`: clusters of more than one node both ways (with changelogs only).
 *
 * Prints one line per run:
 *   RESULT cluster nodes=<n> changelog=<on|off> standbys=<n> events=<n> seconds=<s> eps=<n> cpu_s=<s> cpu_us_per_event=<n>
 *   RESULT cluster_failover nodes=<n> changelog=<on|off> standbys=<n> state_mib=<n> seconds=<s>
 *   RESULT cluster_restore task=<p> from=<changelog|standby> records=<n> ms=<n> [resumed_at=<offset>]   (each task the failover moved)
 */
import { readFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { startKafka } from '../test/helpers/kafka.ts'
import { startCluster, type TestCluster } from '../test/helpers/cluster.ts'
import type { SluiceProcess } from '../test/helpers/sluice-process.ts'
import { restoreLines, standbyRestoreLines } from '../test/helpers/cluster-runs.ts'

interface Options {
  readonly events: number
  readonly players: number
  readonly partitions: number
  readonly nodes: readonly number[]
  readonly failover: boolean
  readonly timeoutS: number
  readonly changelogs: readonly boolean[]
  readonly standbys: readonly number[]
}

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i < 0 ? undefined : argv[i + 1]
  }
  const num = (name: string, dflt: number): number => {
    const v = get(name)
    const n = v === undefined ? dflt : Number(v.replace(/_/g, ''))
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, not ${v}`)
    return n
  }
  const nodes = (get('nodes') ?? '1,2,3').split(',').map(Number)
  if (nodes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--nodes takes a list of node counts, e.g. 1,2,3')
  return {
    events: num('events', 1_000_000),
    players: num('players', 100_000),
    partitions: num('partitions', 6),
    nodes,
    failover: !argv.includes('--no-failover'),
    timeoutS: num('timeout', 900),
    changelogs: changelogModes(get('changelog') ?? 'on'),
    standbys: standbyModes(get('standbys') ?? '0'),
  }
}

function changelogModes(v: string): boolean[] {
  if (v === 'on') return [true]
  if (v === 'off') return [false]
  if (v === 'both') return [true, false]
  throw new Error(`--changelog takes on, off or both, not ${v}`)
}

function standbyModes(v: string): number[] {
  if (v === 'both') return [0, 1]
  if (/^\d+$/.test(v)) return [Number(v)]
  throw new Error(`--standbys takes a number of copies or both, not ${v}`)
}

const BASE = Date.UTC(2026, 0, 1)

/** Keyed lines for kcat (`key<TAB>json`): deterministic players, scores and times, 1 ms apart. */
function eventLines(events: number, players: number): string[] {
  const lines: string[] = new Array(events)
  for (let i = 0; i < events; i++) {
    const player = `p${(i * 7919) % players}`
    lines[i] = `${player}\t{"player":"${player}","score":${(i * 31) % 97},"ts":"${new Date(BASE + i).toISOString()}"}`
  }
  return lines
}

/** User + system CPU seconds of a process so far (Linux). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** The number `sql` (one row, column n) gives on the node, or null while it cannot answer. */
async function numberOn(node: SluiceProcess, sql: string): Promise<number | null> {
  let client
  try {
    client = await node.client()
    const r = await client.query(sql)
    return Number((r.rows[0] as { n: string }).n)
  } catch {
    return null
  } finally {
    await client?.end().catch(() => undefined)
  }
}

/** The count the node's view gives over every player. */
const counted = (node: SluiceProcess) => numberOn(node, 'SELECT coalesce(sum(n), 0)::bigint AS n FROM per_player')

/** Events the tasks running on the node have taken in (sluice_tasks). */
const takenIn = (node: SluiceProcess) => numberOn(node, "SELECT coalesce(sum(events), 0)::bigint AS n FROM sluice_tasks WHERE stream = 'plays' AND status = 'running'")

/**
 * Waits until the nodes' tasks have taken in every event (a cheap look at sluice_tasks: polling the view
 * itself would gather every task's rows on every node at every look, a cost that grows with the nodes),
 * then until every node's view counts them all; returns the time it did.
 */
async function untilComplete(nodes: readonly SluiceProcess[], events: number, deadline: number): Promise<number> {
  for (;;) {
    const taken = await Promise.all(nodes.map(takenIn))
    if (taken.reduce<number>((a, t) => a + (t ?? 0), 0) >= events) break
    if (Date.now() > deadline) throw new Error(`not taken in in time: nodes' tasks took in ${JSON.stringify(taken)} of ${events}`)
    await new Promise((r) => setTimeout(r, 250))
  }
  for (;;) {
    const counts = await Promise.all(nodes.map(counted))
    if (counts.every((c) => c === events)) return Date.now()
    if (Date.now() > deadline) throw new Error(`not complete in time: nodes count ${JSON.stringify(counts)} of ${events}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Waits until the group has given every task of the stream an owner, with `nodes` owners. */
async function untilSettled(node: SluiceProcess, nodes: number, partitions: number, deadline: number): Promise<void> {
  for (;;) {
    const out = node.psql("SELECT task, owner FROM sluice_tasks WHERE stream = 'plays' AND owner IS NOT NULL", { args: ['-tA'], allowError: true }).stdout.trim()
    const rows = out === '' ? [] : out.split('\n')
    if (rows.length === partitions && new Set(rows.map((l) => l.split('|')[1])).size === Math.min(nodes, partitions)) return
    if (Date.now() > deadline) throw new Error(`the group did not settle in time: ${JSON.stringify(rows)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

function diskMiB(dirs: readonly string[]): number {
  const out = execFileSync('du', ['-sk', ...dirs], { encoding: 'utf8' })
  return Math.round(out.split('\n').filter(Boolean).reduce((a, l) => a + Number(l.split('\t')[0]), 0) / 1024)
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const kafka = await startKafka()
  const topic = `bench_plays_${Date.now().toString(36)}`
  try {
    await kafka.createTopic(topic, opts.partitions)
    const began = Date.now()
    await kafka.produce(topic, eventLines(opts.events, opts.players), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    console.log(`produced ${opts.events} events of ${opts.players} players to ${topic} (${opts.partitions} partitions) in ${((Date.now() - began) / 1000).toFixed(1)} s`)
    const largest = Math.max(...opts.nodes)
    for (const n of opts.nodes) {
      for (const changelog of opts.changelogs) for (const standbys of opts.standbys) {
        // Copies follow changelogs, and a single node has no other node to keep them on.
        if (standbys > 0 && (!changelog || n === 1)) continue
        const cluster = await startCluster({ nodes: n, kafka, checkpointMs: 1000, args: changelog ? ['--standbys', String(standbys)] : ['--no-changelog'] })
        try {
          await runOne(cluster, n, topic, opts, opts.failover && n === largest && n > 1, changelog ? 'on' : 'off', standbys)
        } catch (err) {
          // What the nodes said last is the only clue.
          for (const node of cluster.nodes) console.error(`node on ${node.dataDir}:\n${node.output().slice(-3000)}`)
          throw err
        } finally {
          await cluster.stop()
        }
      }
    }
  } finally {
    await kafka.stop()
  }
}

async function runOne(cluster: TestCluster, n: number, topic: string, opts: Options, failover: boolean, changelog: 'on' | 'off', standbys: number): Promise<void> {
  const deadline = () => Date.now() + opts.timeoutS * 1000
  const first = cluster.nodes[0]!
  first.psql(
    `CREATE STREAM plays (player TEXT NOT NULL, score INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') ` +
      `WITH (key = 'player', topic = '${topic}', partitions = ${opts.partitions})`,
  )
  await untilSettled(first, n, opts.partitions, deadline())
  const cpuBefore = await Promise.all(cluster.nodes.map((p) => cpuSeconds(p.child.pid)))
  const t0 = Date.now()
  // A node answers once its task engines have the view; on a loaded machine, over a backlog, that can take
  // longer than the statement waits (the command is written and applied all the same): the time counts.
  const created = first.psql('CREATE MATERIALIZED VIEW per_player AS SELECT player, count(*) AS n, sum(score) AS total FROM plays GROUP BY player', { allowError: true })
  if (created.status !== 0 && !/was written/.test(created.stderr)) throw new Error(`CREATE MATERIALIZED VIEW failed: ${created.stderr}`)
  const done = await untilComplete(cluster.nodes, opts.events, deadline())
  const cpuAfter = await Promise.all(cluster.nodes.map((p) => cpuSeconds(p.child.pid)))
  const seconds = (done - t0) / 1000
  const cpu = cpuAfter.reduce((a, c, i) => a + c - cpuBefore[i]!, 0)
  console.log(
    `RESULT cluster nodes=${n} changelog=${changelog} standbys=${standbys} events=${opts.events} seconds=${seconds.toFixed(1)} eps=${Math.round(opts.events / seconds)} ` +
      `cpu_s=${cpu.toFixed(1)} cpu_us_per_event=${((cpu * 1e6) / opts.events).toFixed(1)}`,
  )
  if (!failover) return
  // Checkpoints are written every second; let the last one land so the state on disk is the whole state
  // (and the standby copies, if any, catch up with it).
  await new Promise((r) => setTimeout(r, 2000))
  if (standbys > 0) await untilCopiesCaughtUp(cluster.nodes, deadline())
  const victim = cluster.nodes.length - 1
  const stateMiB = diskMiB(cluster.nodes.map((p) => p.dataDir))
  const killedAt = Date.now()
  await cluster.kill(victim)
  const survivors = cluster.nodes.filter((_, i) => i !== victim)
  const logFrom = survivors.map((node) => node.output().length)
  const back = await untilComplete(survivors, opts.events, deadline())
  console.log(`RESULT cluster_failover nodes=${n} changelog=${changelog} standbys=${standbys} state_mib=${stateMiB} seconds=${((back - killedAt) / 1000).toFixed(1)}`)
  // The moved tasks' restores from their changelogs or their standby copies, as the survivors logged them.
  for (const r of survivors.flatMap((node, i) => restoreLines(node.output().slice(logFrom[i])))) {
    console.log(`RESULT cluster_restore task=${r.task} from=changelog records=${r.records} ms=${r.ms} resumed_at=${r.resumeAt}`)
  }
  for (const r of survivors.flatMap((node, i) => standbyRestoreLines(node.output().slice(logFrom[i])))) {
    console.log(`RESULT cluster_restore task=${r.task} from=standby records=${r.records} ms=${r.ms} copy_applied=${r.applied}`)
  }
}

/** Waits until every standby copy shown by the nodes has applied its changelog to the end. */
async function untilCopiesCaughtUp(nodes: readonly SluiceProcess[], deadline: number): Promise<void> {
  for (;;) {
    const behind = await Promise.all(nodes.map((node) => numberOn(node, "SELECT coalesce(sum(lag), 0)::bigint AS n FROM sluice_tasks WHERE status = 'standby'")))
    if (behind.every((b) => b === 0)) return
    if (Date.now() > deadline) throw new Error(`standby copies not caught up in time: ${JSON.stringify(behind)} changelog records behind`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

await main()
