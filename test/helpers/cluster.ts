/**
 * A Sluice cluster for integration tests: the real Kafka broker (helpers/kafka.ts) and N real
 * `sluice serve --kafka ... --cluster NAME` processes, each with its own data directory, which a test
 * may kill (SIGKILL) and start again on the same directory.
 */
import { sharedKafka, startKafka, type KafkaBroker } from './kafka.ts'
import { removeDir, startSluice, tempDataDir, type SluiceProcess } from './sluice-process.ts'

export interface TestCluster {
  readonly name: string
  readonly kafka: KafkaBroker
  /** The running node processes by index (a killed node's entry is replaced when it is started again). */
  readonly nodes: SluiceProcess[]
  /** Starts another node (a fresh data directory unless one is given); returns its index. */
  addNode(dataDir?: string): Promise<number>
  /** kill -9 of node i. */
  kill(i: number): Promise<void>
  /** Starts node i again on its data directory. */
  restart(i: number): Promise<void>
  stop(): Promise<void>
}

export async function startCluster(opts: { nodes: number; name?: string; kafka?: KafkaBroker; checkpointMs?: number; args?: readonly string[] }): Promise<TestCluster> {
  const kafka = opts.kafka ?? (await startKafka())
  const name = opts.name ?? `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  const nodes: SluiceProcess[] = []
  const dirs: string[] = []
  let added = 0
  const start = (dataDir: string) => startSluice({ dataDir, kafka: kafka.brokers, http: true, checkpointMs: opts.checkpointMs ?? 200, args: ['--cluster', name, ...(opts.args ?? [])] })
  const cluster: TestCluster = {
    name,
    kafka,
    nodes,
    async addNode(dataDir) {
      // The index is taken before anything is awaited: nodes may be added at the same time.
      const i = added++
      const dir = dataDir ?? (await tempDataDir())
      dirs[i] = dir
      nodes[i] = await start(dir)
      return i
    },
    async kill(i) {
      await nodes[i]!.kill('SIGKILL')
    },
    async restart(i) {
      nodes[i] = await start(dirs[i]!)
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill('SIGKILL')))
      await Promise.all(dirs.map((d) => removeDir(d)))
      if (opts.kafka === undefined) await kafka.stop()
    },
  }
  try {
    // The first alone (it creates the command topic), then the others together.
    if (opts.nodes > 0) await cluster.addNode()
    const rest = await Promise.allSettled(Array.from({ length: opts.nodes - 1 }, () => cluster.addNode()))
    for (const r of rest) if (r.status === 'rejected') throw r.reason
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

/** A node that ended by itself: what it said last is the only clue (for a test's afterAll). */
export function logEndedNodes(cluster: TestCluster | undefined): void {
  for (const n of cluster?.nodes ?? []) if (n.child.exitCode !== null || n.child.signalCode !== null) console.log(`node on ${n.dataDir} ended (${n.child.exitCode ?? n.child.signalCode}):\n${n.output().slice(-4000)}`)
}

/** A cluster on the run's shared broker beside a single-process Sluice on the same broker: the oracle of a test. */
export interface ClusterWithOracle {
  readonly kafka: KafkaBroker
  readonly cluster: TestCluster
  readonly single: SluiceProcess
}

/**
 * Starts `nodes` nodes and one single process on the shared broker (for beforeAll); `stop` ends all of them,
 * logging nodes that ended by themselves (for afterAll).
 */
export async function startClusterWithOracle(nodes: number): Promise<ClusterWithOracle> {
  const kafka = await sharedKafka()
  const cluster = await startCluster({ nodes, kafka })
  const single = await startSluice({ kafka: kafka.brokers })
  return { kafka, cluster, single }
}

export async function stopClusterWithOracle(run: ClusterWithOracle | undefined): Promise<void> {
  logEndedNodes(run?.cluster)
  await run?.single.kill()
  if (run !== undefined) await removeDir(run.single.dataDir)
  await run?.cluster.stop()
  await run?.kafka.stop()
}
