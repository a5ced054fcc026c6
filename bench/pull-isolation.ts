/**
 * What a heavy pull query costs everyone else. A server holds two 100,000-row views; for S seconds a
 * producer inserts events into a stream that a continuous view counts, and a probe session sends
 * `SELECT 1` every 10 ms. First alone, then while another session runs cross joins of the two views back to
 * back (each ends with 53200 at the default 256 MiB budget). Prints the probe's latency (p50, p99, max) and
 * the events/s the continuous view consumed, in both phases.
 *
 *   npm run bench:pull-isolation
 *   npm run bench:pull-isolation -- --seconds 10
 */
import { parseArgs } from 'node:util'
import pg from 'pg'
import { removeDir, startSluice } from '../test/helpers/sluice-process.ts'

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, rows: { type: 'string', default: '100000' } } })
const SECONDS = Number(args.seconds)
const ROWS = Number(args.rows)
const HEAVY = 'SELECT a.id, b.id, a.t FROM big_a a, big_b b'

const sluice = await startSluice()
const connect = async (): Promise<pg.Client> => {
  const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'bench', database: 'sluice' })
  c.on('error', () => {})
  await c.connect()
  return c
}

interface Phase {
  readonly latencies: number[]
  readonly eventsPerSecond: number
  readonly heavyOutcomes: string[]
}

const percentile = (xs: readonly number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN

async function phase(withHeavy: boolean): Promise<Phase> {
  const [probe, producer, reader, heavy] = await Promise.all([connect(), connect(), connect(), connect()])
  const count = async (): Promise<number> => Number((await reader.query('SELECT n FROM tick_count')).rows[0]?.n ?? 0)
  const start = await count()
  const t0 = performance.now()
  const end = t0 + SECONDS * 1000
  const latencies: number[] = []
  const heavyOutcomes: string[] = []
  const probing = (async () => {
    while (performance.now() < end) {
      const s = performance.now()
      await probe.query('SELECT 1')
      latencies.push(performance.now() - s)
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  const producing = (async () => {
    const values = Array.from({ length: 500 }, (_, i) => `(${i})`).join(', ')
    while (performance.now() < end) await producer.query(`INSERT INTO ticks VALUES ${values}`)
  })()
  const heavying = (async () => {
    while (withHeavy && performance.now() < end) {
      const s = performance.now()
      const outcome = await heavy.query(HEAVY).then(
        (r) => `${r.rowCount} rows`,
        (e: { code?: string }) => e.code ?? 'error',
      )
      heavyOutcomes.push(`${outcome} after ${(performance.now() - s).toFixed(0)} ms`)
    }
  })()
  await Promise.all([probing, producing, heavying])
  const elapsed = (performance.now() - t0) / 1000
  const consumed = (await count()) - start
  await Promise.all([probe, producer, reader, heavy].map((c) => c.end()))
  latencies.sort((a, b) => a - b)
  return { latencies, eventsPerSecond: consumed / elapsed, heavyOutcomes }
}

try {
  const c = await connect()
  await c.query('CREATE STREAM big (id int, g int, t text) WITH (partitions = 1)')
  for (let s = 0; s < ROWS; s += 5000) {
    const values: string[] = []
    for (let i = s; i < Math.min(ROWS, s + 5000); i++) values.push(`(${i}, ${i % 100}, 'name${i}')`)
    await c.query(`INSERT INTO big VALUES ${values.join(', ')}`)
  }
  await c.query('CREATE MATERIALIZED VIEW big_a AS SELECT id, g, t FROM big')
  await c.query('CREATE MATERIALIZED VIEW big_b AS SELECT id, g FROM big')
  await c.query('CREATE STREAM ticks (n int) WITH (partitions = 1)')
  await c.query('CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks')
  while (Number((await c.query('SELECT count(*) AS n FROM big_a')).rows[0].n) < ROWS) await new Promise((r) => setTimeout(r, 200))
  await c.end()
  for (const withHeavy of [false, true]) {
    const p = await phase(withHeavy)
    const l = p.latencies
    console.log(
      `${withHeavy ? 'with cross joins' : 'alone           '}: SELECT 1 p50 ${percentile(l, 0.5).toFixed(1)} ms, p99 ${percentile(l, 0.99).toFixed(1)} ms, max ${l.at(-1)!.toFixed(1)} ms (${l.length} probes); continuous view ${p.eventsPerSecond.toFixed(0)} events/s` +
        (withHeavy ? `; heavy queries: ${p.heavyOutcomes.join(', ')}` : ''),
    )
  }
} finally {
  await sluice.stop()
  await removeDir(sluice.dataDir)
}
