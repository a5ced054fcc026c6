/**
 * A real Kafka broker for tests: `KAFKA_BROKERS=host:port` points at an existing cluster; otherwise
 * scripts/kafka/broker.sh starts a single-node KRaft broker from the cached Maven Central jars on free
 * ports, and stops it afterwards (or when this process dies). Topics get unique names per test.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { Admin } from '@platformatic/kafka'

const run = promisify(execFile)
const SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'kafka', 'broker.sh')

export interface KafkaBroker {
  readonly brokers: string
  createTopic(name: string, partitions: number): Promise<void>
  /** Produces lines with kcat, an independent client (one message per line, keys from `key:value` if keyed). */
  produce(topic: string, lines: readonly string[], opts?: { keyed?: boolean; /** More kcat flags (`-X partitioner=murmur2_random`). */ args?: readonly string[] }): Promise<void>
  /** Every committed record of a topic (read_committed) with kcat: key, value (null for tombstones), partition. */
  consume(topic: string): { key: string; value: string | null; partition: number }[]
  /** Restarts the broker on its data (only for a broker these tests started; the address stays the same). */
  restart?(): Promise<void>
  stop(): Promise<void>
}

export async function startKafka(): Promise<KafkaBroker> {
  const existing = process.env.KAFKA_BROKERS
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-'))
  let brokers: string
  let owned = false
  if (existing !== undefined && existing !== '') {
    brokers = existing
  } else {
    const { stdout } = await run('bash', [SCRIPT, 'start', dir], { env: { ...process.env, SLUICE_KAFKA_WATCH_PID: String(process.pid) }, maxBuffer: 1 << 20, timeout: 240_000 })
    const m = /KAFKA_BROKERS=(\S+)/.exec(stdout)
    if (m === null) throw new Error(`broker.sh start printed no address: ${stdout}`)
    brokers = m[1]!
    owned = true
  }
  return {
    brokers,
    async createTopic(name, partitions) {
      const admin = new Admin({ clientId: 'sluice-test-admin', bootstrapBrokers: brokers.split(',') })
      try {
        await admin.createTopics({ topics: [name], partitions, replicas: 1 })
      } finally {
        await new Promise<void>((done) => admin.close(() => done()))
      }
    },
    async produce(topic, lines, opts = {}) {
      const file = join(dir, `produce-${topic}-${Date.now()}.txt`)
      await writeFile(file, lines.join('\n') + '\n')
      const args = ['-b', brokers, '-t', topic, '-P', '-l', '-X', 'linger.ms=20', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=1000000']
      if (opts.keyed) args.push('-K', '\t')
      args.push(...(opts.args ?? []))
      args.push(file)
      const r = spawnSync('kcat', args, { encoding: 'utf8', timeout: 300_000 })
      if (r.status !== 0) throw new Error(`kcat failed (${r.status}): ${r.stderr}`)
    },
    consume(topic) {
      const r = spawnSync('kcat', ['-b', brokers, '-t', topic, '-C', '-e', '-q', '-o', 'beginning', '-X', 'isolation.level=read_committed', '-Z', '-f', '%p\t%k\t%S\t%s\n'], {
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 1 << 28,
      })
      if (r.status !== 0) throw new Error(`kcat failed (${r.status}): ${r.stderr}`)
      return r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [p, key, size, ...rest] = l.split('\t')
          return { partition: Number(p), key: key!, value: size === '-1' ? null : rest.join('\t') }
        })
    },
    ...(owned
      ? {
          async restart() {
            await run('bash', [SCRIPT, 'stop', dir], { timeout: 120_000 })
            const { stdout } = await run('bash', [SCRIPT, 'start', dir], { env: { ...process.env, SLUICE_KAFKA_WATCH_PID: String(process.pid) }, maxBuffer: 1 << 20, timeout: 240_000 })
            if (!stdout.includes(`KAFKA_BROKERS=${brokers}`)) throw new Error(`the broker came back elsewhere: ${stdout}`)
          },
        }
      : {}),
    async stop() {
      if (owned) await run('bash', [SCRIPT, 'stop', dir], { timeout: 120_000 }).catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
