/**
 * Cluster throughput and failover (`npm run bench:cluster`): a keyed aggregation (count and sum per player)
 * over a backlog of keyed events in a Kafka topic, computed by clusters of 1, 2 and 3 real
 * `sluice serve --cluster` processes on this machine, and the time a 3-node cluster takes to answer
 * completely again after one node is killed with -9.
 *
 *   npm run bench:cluster -- [--events 1000000] [--players 100000] [--partitions 6] [--nodes 1,2,3]
 *                            [--failover | --no-failover] [--timeout 900] [--changelog on|off|both]
 *                            [--standbys 0|1|both] [--view count|profile] [--answers all|first|lookup]
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
 * `--view count` (the default, the view of every figure before `--view` existed): count and sum per player
 * over events of a player, a score and a time. `--view profile`: the per-player profile a CRM keeps (count,
 * sum, lowest and highest score, wins, first and last seen, last kind, highest level, last device and
 * country) over events that also carry a kind, a level, a device and a country; the same view name and `n`.
 *
 * `--answers first`: the answer (`SELECT sum(n) FROM per_player`) is asked of the first node (the first
 * survivor after the kill) only, not of every node at once; each node's answer is the whole cluster's,
 * gathered from every task, and gathering a view of millions of rows takes minutes on this machine.
 * `--answers lookup`: every node is asked for the count of ten players of each task, each routed to its
 * key's task (a CRM's read), instead of the whole view; a run is then complete when the tasks have taken
 * in every event and those lookups give the players' counts.
 *
 * The state at the kill is given two ways: `state_bytes`, the sum over the running tasks of
 * sluice_tasks.state_bytes (the keys and values the views hold in their stores, as of the last checkpoint;
 * standby copies not counted), with `moved_bytes` the part of it the killed node ran; and `state_mib`, the
 * nodes' data directories on disk (RocksDB's files with their write-ahead logs and not yet compacted
 * levels, the standby copies and the nodes' own files).
 *
 * Prints one line per run:
 *   RESULT cluster nodes=<n> changelog=<on|off> standbys=<n> view=<v> events=<n> seconds=<s> eps=<n> ingest_s=<s> cpu_s=<s> cpu_us_per_event=<n>
 *          (ingest_s: until the tasks had taken in every event; seconds and eps: until every node's answer
 *          counted them, which gathers every row of the view on every node)
 *   RESULT cluster_state nodes=<n> changelog=<on|off> standbys=<n> view=<v> players=<n> state_bytes=<n> state_mib_logical=<n> bytes_per_player=<n> moved_bytes=<n> state_mib=<n>
 *   RESULT cluster_failover nodes=<n> changelog=<on|off> standbys=<n> view=<v> state_bytes=<n> state_mib=<n> tasks_s=<s> seconds=<s>
 *          (tasks_s: until the survivors' tasks have taken in every event again; seconds: until every
 *          survivor's answer counts every event)
 *   RESULT cluster_restore task=<p> from=<changelog|standby> records=<n> ms=<n> [resumed_at=<offset>]   (each task the failover moved)
 */
import { readFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { startKafka } from '../test/helpers/kafka.ts'
import { startCluster, type TestCluster } from '../test/helpers/cluster.ts'
import type { SluiceProcess } from '../test/helpers/sluice-process.ts'
import { restoreLines, standbyRestoreLines } from '../test/helpers/cluster-runs.ts'
import { partitionOfKey } from '../cluster/kafka-io.ts'

interface Options {
  readonly events: number
  readonly players: number
  readonly partitions: number
  readonly nodes: readonly number[]
  readonly failover: boolean
  readonly timeoutS: number
  readonly changelogs: readonly boolean[]
  readonly standbys: readonly number[]
  readonly view: ViewKind
  readonly answers: Answers
}

type Answers = 'all' | 'first' | 'lookup'

type ViewKind = 'count' | 'profile'

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
    view: viewKind(get('view') ?? 'count'),
    answers: answersMode(get('answers') ?? 'all'),
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

function answersMode(v: string): Answers {
  if (v === 'all' || v === 'first' || v === 'lookup') return v
  throw new Error(`--answers takes all, first or lookup, not ${v}`)
}

function viewKind(v: string): ViewKind {
  if (v === 'count' || v === 'profile') return v
  throw new Error(`--view takes count or profile, not ${v}`)
}

const WATERMARK = `WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`

/** The stream's columns and the view, per --view (both views are per_player with the count as n). */
const SCHEMAS: Record<ViewKind, { columns: string; view: string }> = {
  count: {
    columns: `player TEXT NOT NULL, score INT, ts TIMESTAMPTZ NOT NULL, ${WATERMARK}`,
    view: 'CREATE MATERIALIZED VIEW per_player AS SELECT player, count(*) AS n, sum(score) AS total FROM plays GROUP BY player',
  },
  profile: {
    columns: `player TEXT NOT NULL, score INT, kind TEXT, level INT, device TEXT, country TEXT, ts TIMESTAMPTZ NOT NULL, ${WATERMARK}`,
    view:
      'CREATE MATERIALIZED VIEW per_player AS SELECT player, count(*) AS n, sum(score) AS total, min(score) AS low, max(score) AS high, ' +
      "count(*) FILTER (WHERE kind = 'win') AS wins, min(ts) AS first_seen, max(ts) AS last_seen, last_value(kind) AS last_kind, " +
      'max(level) AS level, last_value(device) AS device, last_value(country) AS country FROM plays GROUP BY player',
  },
}

const BASE = Date.UTC(2026, 0, 1)
const KINDS = ['loss', 'win', 'login', 'purchase', 'level_up']
const DEVICES = ['android', 'ios', 'web', 'switch']
const COUNTRIES = ['DE', 'FR', 'US', 'BR', 'JP', 'IN', 'GB', 'ES', 'IT', 'PL', 'SE', 'MX']

/**
 * Keyed lines for kcat (`key<TAB>json`), events `from` .. `from + count - 1`: deterministic players, scores
 * and times, 1 ms apart (for `profile` also a kind, a level, a device and a country; a player keeps its
 * device and country).
 */
function eventLines(view: ViewKind, from: number, count: number, players: number): string[] {
  const lines: string[] = new Array(count)
  for (let j = 0; j < count; j++) {
    const i = from + j
    const p = (i * 7919) % players
    const player = `p${p}`
    const common = `"player":"${player}","score":${(i * 31) % 97},"ts":"${new Date(BASE + i).toISOString()}"`
    lines[j] =
      view === 'count'
        ? `${player}\t{${common}}`
        : `${player}\t{${common},"kind":"${KINDS[(i * 13) % KINDS.length]}","level":${1 + Math.floor(i / players) + (p % 40)},"device":"${DEVICES[p % DEVICES.length]}","country":"${COUNTRIES[(p * 7) % COUNTRIES.length]}"}`
  }
  return lines
}

/** Events per kcat call: the lines of one call are one file (and one string while written). */
const PRODUCE_CHUNK = 1_000_000

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
async function untilComplete(nodes: readonly SluiceProcess[], events: number, deadline: number, answers: Answering, takenAll?: () => void): Promise<number> {
  for (;;) {
    const taken = await Promise.all(nodes.map(takenIn))
    if (taken.reduce<number>((a, t) => a + (t ?? 0), 0) >= events) {
      takenAll?.()
      break
    }
    if (Date.now() > deadline) throw new Error(`not taken in in time: nodes' tasks took in ${JSON.stringify(taken)} of ${events}`)
    await new Promise((r) => setTimeout(r, 250))
  }
  for (;;) {
    const answered = await Promise.all(answers.nodes.map(answers.complete))
    if (answered.every((a) => a === true)) return Date.now()
    if (Date.now() > deadline) throw new Error(`not complete in time: nodes answer ${JSON.stringify(answered)} (of ${events} events)`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Which nodes are asked for the answer, and whether a node's answer is complete (true) or what it gave. */
interface Answering {
  readonly nodes: readonly SluiceProcess[]
  readonly complete: (node: SluiceProcess) => Promise<true | unknown>
}

function answering(opts: Options, nodes: readonly SluiceProcess[]): Answering {
  const asked = opts.answers === 'all' ? nodes : nodes.slice(0, 1)
  if (opts.answers !== 'lookup') return { nodes: asked, complete: async (node) => { const c = await counted(node); return c === opts.events || c } }
  const sample = samplePlayers(opts)
  return {
    nodes: asked,
    complete: async (node) => {
      for (const [player, want] of sample) {
        const got = await numberOn(node, `SELECT coalesce(sum(n), 0)::bigint AS n FROM per_player WHERE player = '${player}'`)
        if (got !== want) return `${player}: ${got} of ${want}`
      }
      return true
    },
  }
}

/** Ten players of each partition with the number of events each has (see eventLines). */
function samplePlayers(opts: Options): [string, number][] {
  const players = BigInt(opts.players)
  const inverse = modInverse(7919n, players)
  const perPartition = new Map<number, number>()
  const out: [string, number][] = []
  for (let p = 0; p < opts.players && out.length < 10 * opts.partitions; p += 1 + Math.floor(opts.players / 997)) {
    const part = partitionOfKey(`p${p}`, opts.partitions)
    if ((perPartition.get(part) ?? 0) >= 10) continue
    perPartition.set(part, (perPartition.get(part) ?? 0) + 1)
    // Player p's events are i = p / 7919 (mod players), then every `players` events after it.
    const first = Number((BigInt(p) * inverse) % players)
    out.push([`p${p}`, first < opts.events ? 1 + Math.floor((opts.events - 1 - first) / opts.players) : 0])
  }
  return out
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1]
  }
  if (r0 !== 1n) throw new Error(`--answers lookup needs a number of players not divisible by 7919`)
  return ((s0 % m) + m) % m
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
    for (let from = 0; from < opts.events; from += PRODUCE_CHUNK) {
      await kafka.produce(topic, eventLines(opts.view, from, Math.min(PRODUCE_CHUNK, opts.events - from), opts.players), { keyed: true, args: ['-X', 'partitioner=murmur2_random'] })
    }
    console.log(`produced ${opts.events} events (view ${opts.view}) of ${Math.min(opts.players, opts.events)} players to ${topic} (${opts.partitions} partitions) in ${((Date.now() - began) / 1000).toFixed(1)} s`)
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
  const schema = SCHEMAS[opts.view]
  first.psql(`CREATE STREAM plays (${schema.columns}) WITH (key = 'player', topic = '${topic}', partitions = ${opts.partitions})`)
  await untilSettled(first, n, opts.partitions, deadline())
  const cpuBefore = await Promise.all(cluster.nodes.map((p) => cpuSeconds(p.child.pid)))
  const t0 = Date.now()
  // A node answers once its task engines have the view; on a loaded machine, over a backlog, that can take
  // longer than the statement waits (the command is written and applied all the same): the time counts.
  const created = first.psql(schema.view, { allowError: true })
  if (created.status !== 0 && !/was written/.test(created.stderr)) throw new Error(`CREATE MATERIALIZED VIEW failed: ${created.stderr}`)
  let takenAll = 0
  const done = await untilComplete(cluster.nodes, opts.events, deadline(), answering(opts, cluster.nodes), () => (takenAll = Date.now()))
  const cpuAfter = await Promise.all(cluster.nodes.map((p) => cpuSeconds(p.child.pid)))
  const seconds = (done - t0) / 1000
  const cpu = cpuAfter.reduce((a, c, i) => a + c - cpuBefore[i]!, 0)
  console.log(
    `RESULT cluster nodes=${n} changelog=${changelog} standbys=${standbys} view=${opts.view} events=${opts.events} seconds=${seconds.toFixed(1)} eps=${Math.round(opts.events / seconds)} ingest_s=${((takenAll - t0) / 1000).toFixed(1)} ` +
      `cpu_s=${cpu.toFixed(1)} cpu_us_per_event=${((cpu * 1e6) / opts.events).toFixed(1)}`,
  )
  const tag = `nodes=${n} changelog=${changelog} standbys=${standbys} view=${opts.view}`
  if (!failover) {
    await reportState(cluster.nodes, -1, tag, opts)
    return
  }
  // Checkpoints are written every second; let the last one land so the state on disk is the whole state
  // (and the standby copies, if any, catch up with it).
  await new Promise((r) => setTimeout(r, 2000))
  if (standbys > 0) await untilCopiesCaughtUp(cluster.nodes, deadline())
  const victim = cluster.nodes.length - 1
  const state = await reportState(cluster.nodes, victim, tag, opts)
  const killedAt = Date.now()
  await cluster.kill(victim)
  const survivors = cluster.nodes.filter((_, i) => i !== victim)
  const logFrom = survivors.map((node) => node.output().length)
  let tasksBack = 0
  const back = await untilComplete(survivors, opts.events, deadline(), answering(opts, survivors), () => (tasksBack = Date.now()))
  console.log(
    `RESULT cluster_failover ${tag} state_bytes=${state.bytes} state_mib=${state.mib} tasks_s=${((tasksBack - killedAt) / 1000).toFixed(1)} seconds=${((back - killedAt) / 1000).toFixed(1)}`,
  )
  // The moved tasks' restores from their changelogs or their standby copies, as the survivors logged them.
  for (const r of survivors.flatMap((node, i) => restoreLines(node.output().slice(logFrom[i])))) {
    console.log(`RESULT cluster_restore task=${r.task} from=changelog records=${r.records} ms=${r.ms} resumed_at=${r.resumeAt}`)
  }
  for (const r of survivors.flatMap((node, i) => standbyRestoreLines(node.output().slice(logFrom[i])))) {
    console.log(`RESULT cluster_restore task=${r.task} from=standby records=${r.records} ms=${r.ms} copy_applied=${r.applied}`)
  }
}

/** Bytes the running tasks' views hold on the node (sluice_tasks.state_bytes, summed). */
const stateBytesOn = (node: SluiceProcess) =>
  numberOn(node, "SELECT coalesce(sum(state_bytes), 0)::bigint AS n FROM sluice_tasks WHERE stream = 'plays' AND status = 'running' AND state_bytes IS NOT NULL")

/**
 * The state as it stands (before the kill, if `victim` is a node's index): logical bytes over every running
 * task and the victim's part of them, and the data directories on disk; prints a cluster_state line.
 */
async function reportState(nodes: readonly SluiceProcess[], victim: number, tag: string, opts: Options): Promise<{ bytes: number; mib: number }> {
  const perNode = await Promise.all(nodes.map(stateBytesOn))
  if (perNode.some((b) => b === null)) throw new Error(`a node did not give its tasks' state_bytes: ${JSON.stringify(perNode)}`)
  const bytes = perNode.reduce<number>((a, b) => a + b!, 0)
  const mib = diskMiB(nodes.map((p) => p.dataDir))
  const players = Math.min(opts.players, opts.events)
  console.log(
    `RESULT cluster_state ${tag} players=${players} state_bytes=${bytes} state_mib_logical=${Math.round(bytes / 2 ** 20)} bytes_per_player=${(bytes / players).toFixed(1)} ` +
      `moved_bytes=${victim < 0 ? 0 : perNode[victim]} state_mib=${mib}`,
  )
  return { bytes, mib }
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
