/**
 * What each known attack costs everyone else. A server (SCRAM authentication, HTTP ingest) holds two
 * 100,000-row views; a producer feeds a canary stream at a steady rate (one INSERT every 10 ms, never
 * catching up: when the server stalls, events are lost to the measurement) and a continuous view counts it;
 * a probe session sends `SELECT 1` every 10 ms. First alone (the baseline), then during each attack for S
 * seconds. Prints one RESULT line per phase: the probe's latency (p50, p99, max), the canary's events/s,
 * its ratio to the baseline, what the attack's statements ended with, and whether the phase met the
 * target (a second session answers within 100 ms, the canary keeps at least 90 % of its events/s).
 *
 *   npm run bench:attacks
 *   npm run bench:attacks -- --seconds 10 --rate 5000 --only cross_join,regex_bomb
 */
import { writeFileSync } from 'node:fs'
import { type Socket, connect as connectSocket } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { removeDir, startSluice, tempDataDir } from '../test/helpers/sluice-process.ts'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rows: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '5000' },
    only: { type: 'string', default: '' },
  },
})
const SECONDS = Number(args.seconds)
const ROWS = Number(args.rows)
/** Canary events per second the producer offers: one INSERT of RATE / 100 rows every 10 ms. */
const RATE = Number(args.rate)
const PROBE_TARGET_MS = 100
const RATIO_TARGET = 0.9
const USER = 'bench'
const PASSWORD = 'bench-pw'

const usersDir = await tempDataDir()
const usersPath = join(usersDir, 'users')
writeFileSync(usersPath, `${USER}:admin:${PASSWORD}\n`)
const sluice = await startSluice({ http: true, args: ['--users', usersPath, '--auth', 'scram-sha-256'] })

const connect = async (): Promise<pg.Client> => {
  const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: USER, password: PASSWORD, database: 'sluice' })
  c.on('error', () => {})
  await c.connect()
  return c
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const percentile = (xs: readonly number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN

/** Tallies what the attack's statements ended with: `53200 x3, ok x2`. */
class Outcomes {
  private readonly counts = new Map<string, number>()
  add(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1)
  }
  async of(p: Promise<unknown>): Promise<void> {
    this.add(await p.then(
      () => 'ok',
      (e: { code?: string; message?: string }) => e.code ?? e.message ?? 'error',
    ))
  }
  toString(): string {
    return [...this.counts].map(([k, n]) => `${k} x${n}`).join(', ') || 'none'
  }
}

/** An attack: runs until `stopped()`, tallying outcomes; cleans up after itself before resolving. */
type Attack = (stopped: () => boolean, outcomes: Outcomes) => Promise<void>

const CROSS = 'SELECT a.id, b.id, a.t FROM big_a a, big_b b'

/** Opens a raw socket and sends a startup packet; resolves once the server asked for authentication. */
async function unauthenticated(): Promise<Socket> {
  // From another address: the server throttles failed logins per address, and the attacker is not the probe.
  const s = connectSocket({ port: sluice.port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  s.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve)
    s.once('error', reject)
  })
  const asked = new Promise<void>((resolve) => s.once('data', () => resolve()))
  s.write(serialize.startup({ user: USER, database: 'sluice' }))
  await asked
  return s
}

const ATTACKS: Record<string, Attack> = {
  /** The catastrophic-backtracking pattern, back to back: the engine's matcher is linear-time. */
  regex_bomb: async (stopped, outcomes) => {
    const c = await connect()
    const bomb = `SELECT '${'a'.repeat(54)}!' ~ '^(a+)+$' AS m, '${'a'.repeat(5000)}!' ~ '(.*a){20}' AS n`
    while (!stopped()) await outcomes.of(c.query(bomb))
    await c.end()
  },
  /** Cross joins of the two 100,000-row views, back to back: each ends with 53200 (256 MiB) or 57014. */
  cross_join: async (stopped, outcomes) => {
    const c = await connect()
    await c.query("SET statement_timeout = '30s'")
    while (!stopped()) await outcomes.of(c.query(CROSS))
    await c.end()
  },
  /** 8 unauthenticated connections, each announcing a 256 MB password message and pouring bytes into it. */
  password_flood: async (stopped, outcomes) => {
    const chunk = Buffer.alloc(64 * 1024, 0x41)
    const header = Buffer.alloc(5)
    header[0] = 0x70
    header.writeInt32BE(256 * 1024 * 1024, 1)
    const one = async (): Promise<void> => {
      while (!stopped()) {
        const s = await unauthenticated()
        let closed = false
        s.once('close', () => (closed = true))
        s.write(header)
        for (let sent = 0; sent < 16 * 1024 * 1024 && !closed && !stopped(); sent += chunk.length) {
          if (!s.write(chunk)) await new Promise<void>((resolve) => {
            s.once('drain', resolve)
            s.once('close', resolve)
          })
        }
        outcomes.add(closed ? 'refused' : 'still open')
        s.destroy()
      }
    }
    await Promise.all(Array.from({ length: 8 }, one))
  },
  /** Clients that SUBSCRIBE (to the canary stream, and to a 100,000-row view's snapshot) and never read. */
  non_reading_subscriber: async (stopped, outcomes) => {
    const clients = await Promise.all(Array.from({ length: 4 }, connect))
    clients.forEach((c, i) => {
      // Each ends when the attacker drops its connection ("Connection terminated").
      void outcomes.of(c.query(i % 2 === 0 ? 'SUBSCRIBE TO ticks' : 'SUBSCRIBE TO big_a'))
      // The socket is no longer read: the server's buffers for it must stay bounded.
      ;(c as unknown as { connection: { stream: Socket } }).connection.stream.pause()
    })
    while (!stopped()) await sleep(50)
    for (const c of clients) (c as unknown as { connection: { stream: Socket } }).connection.stream.destroy()
  },
  /**
   * HTTP batches of 1,000 events, a quarter of them with poisonous event times (1e300, 9e15, infinity,
   * NaN), ten a second (a flood of valid events would measure ingest capacity, not the poison).
   */
  poisoned_http: async (stopped, outcomes) => {
    const poison = ['1e300', '9e15', '"infinity"', 'NaN']
    let id = 0
    while (!stopped()) {
      const lines: string[] = []
      for (let i = 0; i < 1000; i++, id++) {
        const ts = i % 4 === 0 ? poison[(i >> 2) % poison.length]! : `"2026-12-06T10:00:${String(i % 60).padStart(2, '0')}Z"`
        lines.push(`{"id": ${id}, "ts": ${ts}}`)
      }
      const res = await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/pev`, {
        method: 'POST',
        body: lines.join('\n'),
        headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
      })
      await res.arrayBuffer()
      outcomes.add(`HTTP ${res.status}`)
      await sleep(100)
    }
  },
  /** A statement nested 50,000 parentheses deep, back to back: refused with 54001. */
  deep_nesting: async (stopped, outcomes) => {
    const c = await connect()
    const sql = `SELECT ${'('.repeat(50_000)}1${')'.repeat(50_000)}`
    while (!stopped()) await outcomes.of(c.query(sql))
    await c.end()
  },
  /** CREATE MATERIALIZED VIEW over the 100,000-event stream, waited for until caught up, then dropped; again. */
  view_backfill: async (stopped, outcomes) => {
    const c = await connect()
    while (!stopped()) {
      await c.query('CREATE MATERIALIZED VIEW backfill AS SELECT g, count(*) AS n, max(t) AS m FROM big GROUP BY g')
      while (!stopped() && Number((await c.query('SELECT sum(n) AS n FROM backfill')).rows[0]?.n ?? 0) < ROWS) await sleep(20)
      outcomes.add(stopped() ? 'unfinished' : 'caught up')
      await c.query('DROP MATERIALIZED VIEW backfill')
    }
    await c.end()
  },
}

interface Phase {
  readonly latencies: number[]
  readonly eventsPerSecond: number
  readonly outcomes: Outcomes
}

async function phase(attack: Attack | null): Promise<Phase> {
  const [probe, producer, reader] = await Promise.all([connect(), connect(), connect()])
  const count = async (): Promise<number> => Number((await reader.query('SELECT n FROM tick_count')).rows[0]?.n ?? 0)
  const outcomes = new Outcomes()
  let over = false
  const stopped = (): boolean => over
  const attacking = attack === null ? Promise.resolve() : attack(stopped, outcomes).catch((e: Error) => outcomes.add(`attack failed: ${e.message}`))
  // Let the attack start before measuring.
  await sleep(200)
  const start = await count()
  const t0 = performance.now()
  const end = t0 + SECONDS * 1000
  const latencies: number[] = []
  const probing = (async () => {
    while (performance.now() < end) {
      const s = performance.now()
      await probe.query('SELECT 1')
      latencies.push(performance.now() - s)
      await sleep(10)
    }
  })()
  const values = Array.from({ length: Math.max(1, Math.round(RATE / 100)) }, (_, i) => `(${i})`).join(', ')
  const producing = (async () => {
    // One INSERT per 10 ms tick; ticks missed while an INSERT waited are not made up.
    let next = performance.now()
    while (performance.now() < end) {
      await producer.query(`INSERT INTO ticks VALUES ${values}`)
      next += 10
      const now = performance.now()
      if (next < now) next = now
      else await sleep(next - now)
    }
  })()
  await Promise.all([probing, producing])
  const consumed = (await count()) - start
  const elapsed = (performance.now() - t0) / 1000
  over = true
  await attacking
  await Promise.all([probe, producer, reader].map((c) => c.end()))
  latencies.sort((a, b) => a - b)
  return { latencies, eventsPerSecond: consumed / elapsed, outcomes }
}

function report(name: string, p: Phase, baseline: number): void {
  const l = p.latencies
  const ratio = p.eventsPerSecond / baseline
  const max = l.at(-1) ?? NaN
  const meets = max <= PROBE_TARGET_MS && ratio >= RATIO_TARGET
  console.log(
    `RESULT attack=${name} select1_p50_ms=${percentile(l, 0.5).toFixed(1)} select1_p99_ms=${percentile(l, 0.99).toFixed(1)} select1_max_ms=${max.toFixed(1)} probes=${l.length}` +
      ` canary_events_per_s=${p.eventsPerSecond.toFixed(0)} ratio_to_baseline=${ratio.toFixed(2)} meets_target=${meets ? 'yes' : 'no'} outcomes="${p.outcomes}"`,
  )
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
  await c.query("CREATE STREAM pev (id int, ts timestamptz NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (partitions = 1)")
  await c.query('CREATE MATERIALIZED VIEW pev_count AS SELECT count(*) AS n FROM pev')
  for (const v of ['big_a', 'big_b']) while (Number((await c.query(`SELECT count(*) AS n FROM ${v}`)).rows[0].n) < ROWS) await sleep(200)
  await c.end()
  const only = args.only === '' ? Object.keys(ATTACKS) : args.only.split(',')
  console.log(`attacks: ${only.join(', ')}; ${SECONDS} s each; canary offered ${RATE} events/s; views of ${ROWS} rows`)
  const base = await phase(null)
  report('baseline', base, base.eventsPerSecond)
  for (const name of only) {
    const attack = ATTACKS[name]
    if (attack === undefined) throw new Error(`unknown attack "${name}" (known: ${Object.keys(ATTACKS).join(', ')})`)
    report(name, await phase(attack), base.eventsPerSecond)
    // Each attack starts from a quiet server: let the garbage of the last one go.
    await sleep(1000)
  }
} finally {
  await sluice.stop()
  await removeDir(sluice.dataDir)
  await removeDir(usersDir)
}
