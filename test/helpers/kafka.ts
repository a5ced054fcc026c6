/**
 * A real Kafka broker for tests: `KAFKA_BROKERS=host:port` points at an existing cluster; otherwise
 * scripts/kafka/broker.sh starts a single-node KRaft broker from the cached Maven Central jars on free
 * ports, and stops it afterwards (or when this process dies). Topics get unique names per test.
 *
 * `sharedKafka()` is for files that neither restart nor reconfigure the broker: under vitest (globalSetup
 * test/helpers/kafka-shared.ts) every such file of the run gets the same broker, started by the first file
 * that asks for it, which saves a JVM start per file. Elsewhere it is `startKafka()`.
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

/** Set by the vitest globalSetup: the directory of the run's shared broker and the pid it lives as long as. */
export const SHARED_DIR_ENV = 'SLUICE_SHARED_KAFKA_DIR'
export const SHARED_OWNER_ENV = 'SLUICE_SHARED_KAFKA_OWNER'

/** Stops the broker of `dir` started by broker.sh (nothing when none runs there). */
export async function stopBroker(dir: string): Promise<void> {
  await run('bash', [SCRIPT, 'stop', dir], { timeout: 120_000 })
}

/** Starts a broker in `dir` (or prints the address of the one running there) for as long as `watchPid` lives. */
async function brokerStart(dir: string, watchPid: number, lock = false): Promise<string> {
  // broker.sh waits 90 s by default; a test run on a loaded machine needs longer (within the 240 s below).
  const env = { SLUICE_KAFKA_START_TIMEOUT: '200', ...process.env, SLUICE_KAFKA_WATCH_PID: String(watchPid) }
  // Under flock(1) the first caller starts the broker and the others wait, then read its address; --close,
  // or the broker started under the lock would hold it for as long as it runs.
  const [cmd, args] = lock ? ['flock', ['--close', join(dir, '.start.lock'), 'bash', SCRIPT, 'start', dir]] : ['bash', [SCRIPT, 'start', dir]]
  const { stdout } = await run(cmd, args, { env, maxBuffer: 1 << 20, timeout: 240_000 })
  const m = /KAFKA_BROKERS=(\S+)/.exec(stdout)
  if (m === null) throw new Error(`broker.sh start printed no address: ${stdout}`)
  return m[1]!
}

export async function startKafka(): Promise<KafkaBroker> {
  const existing = process.env.KAFKA_BROKERS
  if (existing !== undefined && existing !== '') return handle(existing, await mkdtemp(join(tmpdir(), 'sluice-kafka-')), false)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-'))
  return handle(await brokerStart(dir, process.pid), dir, true)
}

/** The run's shared broker (see the file comment): no `restart`, and `stop` leaves it running for the others. */
export async function sharedKafka(): Promise<KafkaBroker> {
  const shared = process.env[SHARED_DIR_ENV]
  const owner = Number(process.env[SHARED_OWNER_ENV])
  if (process.env.KAFKA_BROKERS || !shared || !Number.isInteger(owner) || !hasFlock()) return startKafka()
  return handle(await brokerStart(shared, owner, true), await mkdtemp(join(tmpdir(), 'sluice-kafka-')), false)
}

let flockFound: boolean | undefined
function hasFlock(): boolean {
  flockFound ??= spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0
  return flockFound
}

/** A client of the broker at `brokers`; `dir` holds this handle's scratch files and, when `owned`, the broker. */
function handle(brokers: string, dir: string, owned: boolean): KafkaBroker {
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
            await stopBroker(dir)
            const again = await brokerStart(dir, process.pid)
            if (again !== brokers) throw new Error(`the broker came back elsewhere: ${again}`)
          },
        }
      : {}),
    async stop() {
      if (owned) await stopBroker(dir).catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
