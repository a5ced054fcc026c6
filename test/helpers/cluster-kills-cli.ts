/**
 * The kill acceptance, repeated: 3 nodes, a 6-partition stream, the per-player GROUP BY, per-minute
 * TUMBLE and MATCH_RECOGNIZE views; the events produced by kcat in three parts; a node (chosen at random)
 * killed with -9 at a random moment of the second part and started again at a random moment of the third;
 * then every view on every node compared with a single process reading the same topic.
 *
 *   npm run cluster:kills -- --rounds 10 --events 30000 --seed 1
 *
 * The moments come from the seed (the same seed gives the same moments) and are printed; a moment is the
 * number of events of the part produced before the kill (or the restart). One broker for every round, a
 * fresh cluster and topic per round. Ends with `RESULT cluster_kills rounds=N exact=K`; exit code 1 unless
 * every round was exact.
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, events: { type: 'string', default: '30000' }, seed: { type: 'string', default: String(Date.now() % 100_000) } } })
const rounds = Number(values.rounds)
const seed = Number(values.seed)
// The workload's lateness and waits scale with the events (helpers/cluster-plays.ts reads this at import).
process.env.SLUICE_CLUSTER_EVENTS = values.events

const { startKafka } = await import('./kafka.ts')
const { startCluster } = await import('./cluster.ts')
const { EVENTS, SCALE, ownerOfTasks } = await import('./cluster-plays.ts')
const { REPARTITIONED_NAMES, REPARTITIONED_VIEWS, createPlays, mismatchesWithOracle, producePlays, produceSentinels, startOracle } = await import('./cluster-runs.ts')
const { eventually, removeDir } = await import('./sluice-process.ts')

/** mulberry32: a small seeded generator, so that a seed names its moments. */
function random(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const rand = random(seed)
const part = Math.floor(EVENTS / 3)
const kafka = await startKafka()
let exact = 0
const failures: string[] = []
console.log(`cluster_kills: ${rounds} rounds, ${3 * part} events each (3 parts of ${part}), seed ${seed}, broker ${kafka.brokers}`)
try {
  for (let r = 1; r <= rounds; r++) {
    const victim = Math.floor(rand() * 3)
    const killAt = Math.floor(rand() * part)
    const restartAt = Math.floor(rand() * part)
    console.log(`round ${r}: kill -9 node ${victim} after ${killAt} events of part 2, restart it after ${restartAt} events of part 3`)
    const started = Date.now()
    const topic = `plays_${seed}_${r}`
    const cluster = await startCluster({ nodes: 3, kafka })
    let single: Awaited<ReturnType<typeof startOracle>> | undefined
    const witness = () => cluster.nodes[(victim + 1) % 3]!
    let mismatches: string[]
    try {
      await createPlays(cluster, 0, topic, REPARTITIONED_VIEWS)
      single = await startOracle(kafka, topic, REPARTITIONED_VIEWS)
      await producePlays(kafka, topic, 0, part)
      await eventually(async () => ownerOfTasks(witness()), (o) => o.size === 6 && new Set(o.values()).size === 3, 60_000 * SCALE)
      await producePlays(kafka, topic, part, killAt)
      await cluster.kill(victim)
      await producePlays(kafka, topic, part + killAt, part - killAt)
      await eventually(async () => ownerOfTasks(witness()), (o) => o.size === 6 && new Set(o.values()).size === 2, 90_000 * SCALE)
      await producePlays(kafka, topic, 2 * part, restartAt)
      // kcat blocks this process: the restarted node starts while the rest of the part is produced.
      const restarting = cluster.restart(victim)
      await producePlays(kafka, topic, 2 * part + restartAt, part - restartAt)
      await restarting
      const total = 3 * part + (await produceSentinels(kafka, topic, 3 * part))
      mismatches = await mismatchesWithOracle(cluster, single, total, REPARTITIONED_NAMES)
    } catch (err) {
      mismatches = [`the round did not complete: ${(err as Error).message.slice(0, 2000)}`]
    } finally {
      if (single !== undefined) {
        await single.kill()
        await removeDir(single.dataDir)
      }
      await cluster.stop()
    }
    const secs = Math.round((Date.now() - started) / 1000)
    if (mismatches.length === 0) {
      exact++
      console.log(`round ${r}: exact (${secs} s)`)
    } else {
      const detail = mismatches.map((m) => m.split('\n').slice(0, 2).join(' / ')).join('\n  ')
      failures.push(`round ${r} (node ${victim}, kill at ${killAt}, restart at ${restartAt}):\n  ${detail}`)
      console.log(`round ${r}: NOT exact (${secs} s)\n  ${detail}\n--- full ---\n${mismatches.join('\n')}`)
    }
  }
} finally {
  await kafka.stop()
}
for (const f of failures) console.log(f)
console.log(`RESULT cluster_kills rounds=${rounds} exact=${exact} seed=${seed} events=${3 * part}`)
process.exit(exact === rounds ? 0 : 1)
