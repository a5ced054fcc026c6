/**
 * Catching up with a long stream, on a real `sluice serve`: events written into the stream's embedded log
 * while the server is down (a million, straight through the log's own writer, which is quicker than any
 * client) make its view catch up after the restart, during which /ready answers 503 naming the view and
 * then 200, and /health stays 200. A psql session with `SET sluice.progress_notices = on` sees NOTICEs while
 * its CREATE MATERIALIZED VIEW over that stream catches up, and the CREATE returns once it has;
 * statement_timeout and pg_cancel_backend end such a wait with 57014, the view staying created; node-postgres
 * receives the NOTICEs while the statement still runs. sluice_progress shows it all.
 */
import { spawnSync } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { StreamLog } from '../executor/log/stream-log.ts'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const EVENTS = 1_000_000
const PARTITIONS = 2
const CHUNK = 100_000

/** Appends `count` JSON events to the stream's log in the data directory (the server must be stopped). */
async function writeEvents(dataDir: string, count: number): Promise<void> {
  const [dir] = await readdir(join(dataDir, 'streams'))
  const log = await StreamLog.open(join(dataDir, 'streams', dir!), PARTITIONS)
  try {
    for (let from = 0; from < count; from += CHUNK) {
      const byPartition: string[][] = Array.from({ length: PARTITIONS }, () => [])
      for (let i = from; i < Math.min(count, from + CHUNK); i++) byPartition[i % PARTITIONS]!.push(`{"id":${i},"k":"k${i % 100}","ts":"2026-12-06T10:00:00Z"}`)
      await log.appendBatch(byPartition)
    }
  } finally {
    await log.close()
  }
}

async function probe(server: SluiceProcess, path: '/health' | '/ready'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** psql with the extra arguments, its NOTICE lines and its exit status. */
function psql(server: SluiceProcess, commands: readonly string[]): { status: number; notices: string[]; stderr: string; stdout: string } {
  const args = ['-X', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', ...commands.flatMap((c) => ['-c', c])]
  const r = spawnSync('psql', args, { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } })
  return { status: r.status ?? -1, notices: r.stderr.split('\n').filter((l) => l.startsWith('NOTICE:')), stderr: r.stderr, stdout: r.stdout }
}

describe('catching up with a long stream', () => {
  let dataDir: string
  let sluice: SluiceProcess

  beforeAll(async () => {
    dataDir = await tempDataDir()
    const first = await startSluice({ dataDir, http: true })
    first.psql(`CREATE STREAM big (id BIGINT, k TEXT, ts TIMESTAMPTZ NOT NULL) WITH (partitions = ${PARTITIONS})`)
    first.psql('CREATE MATERIALIZED VIEW per_k AS SELECT k, count(*) AS n FROM big GROUP BY k')
    await first.stop()
    await writeEvents(dataDir, EVENTS)
  }, 120_000)

  afterAll(async () => {
    await sluice?.stop()
    await removeDir(dataDir)
  })

  test('/ready is 503 naming the view while it catches up after a restart, then 200; /health stays 200', async () => {
    sluice = await startSluice({ dataDir, http: true })
    const waiting = await probe(sluice, '/ready')
    expect(waiting.status).toBe(503)
    expect(waiting.body.status).toBe('catching_up')
    const [entry] = waiting.body.not_ready as { query: string; position: number; target: number }[]
    expect(entry).toMatchObject({ query: 'per_k', target: EVENTS })
    expect(entry!.position).toBeLessThan(EVENTS)
    expect(await probe(sluice, '/health')).toMatchObject({ status: 200, body: { status: 'ok' } })
    const ready = await eventually(() => probe(sluice, '/ready'), (r) => r.status === 200, 60_000)
    expect(ready.body).toEqual({ status: 'ready' })
    expect(sluice.psql("SELECT sum(n) FROM per_k").stdout).toContain(String(EVENTS))
    const progress = sluice.psql("SELECT position, end_offset, remaining, fraction, seconds_left FROM sluice_progress WHERE query = 'per_k'", { args: ['-At'] }).stdout.trim()
    expect(progress).toBe(`${EVENTS}|${EVENTS}|0|1|0`)
  }, 90_000)

  test('psql sees progress NOTICEs while its CREATE MATERIALIZED VIEW catches up, and the CREATE waits for it', () => {
    // Many groups and aggregates: a catch-up of some seconds even on a fast idle machine.
    const view = 'CREATE MATERIALIZED VIEW per_k2 AS SELECT id % 2000 AS g, count(*) AS n, sum(id) AS s, max(k) AS hi FROM big GROUP BY g'
    const r = psql(sluice, ['SET sluice.progress_notices = on', view, "SELECT remaining FROM sluice_progress WHERE query = 'per_k2'"])
    expect(r.status, r.stderr).toBe(0)
    const total = EVENTS.toLocaleString('en-US')
    // At least one NOTICE on the way (the catch-up takes seconds), then the last one.
    const during = r.notices.filter((n) => n.includes(' left') || n.includes('not known yet'))
    expect(during.length, r.stderr).toBeGreaterThan(0)
    for (const n of during) expect(n).toMatch(new RegExp(`^NOTICE:  00000: view per_k2: [0-9,]+ of ${total} events \\(\\d+ %\\), (about .+ left|time left not known yet)$`))
    expect(r.notices.at(-1)).toBe(`NOTICE:  00000: view per_k2: ${total} of ${total} events (100 %), caught up`)
    // Returned once caught up: nothing remains.
    expect(r.stdout).toMatch(/remaining\s*\n-+\n\s*0\n/)
  }, 60_000)

  test('without the setting the CREATE returns at once; statement_timeout ends the wait with 57014 and the view stays', () => {
    const plain = psql(sluice, ['CREATE MATERIALIZED VIEW per_k3 AS SELECT k, count(*) AS n FROM big GROUP BY k'])
    expect(plain.status, plain.stderr).toBe(0)
    expect(plain.notices).toEqual([])
    const r = psql(sluice, ['SET sluice.progress_notices = on', "SET statement_timeout = '200ms'", 'CREATE MATERIALIZED VIEW per_k4 AS SELECT k, count(*) AS n FROM big GROUP BY k'])
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('ERROR:  57014: canceling statement due to statement timeout')
    expect(r.stderr).toContain('DETAIL:  Materialized view "per_k4" was created; it goes on catching up (see sluice_progress).')
    expect(sluice.psql("SELECT count(*) FROM sluice_progress WHERE query IN ('per_k3', 'per_k4')", { args: ['-At'] }).stdout.trim()).toBe('2')
    const bad = psql(sluice, ['SET sluice.progress_notices = maybe'])
    expect(bad.stderr).toContain('ERROR:  22023: parameter "sluice.progress_notices" requires a Boolean value')
    const shown = psql(sluice, ['SHOW sluice.progress_notices', 'SET sluice.progress_notices = yes', 'SHOW sluice.progress_notices', "SELECT set_config('sluice.progress_notices', 'bogus', false)"])
    expect(shown.stdout).toMatch(/\boff\b[\s\S]*\bon\b/)
    expect(shown.stderr).toContain('requires a Boolean value')
  }, 60_000)

  test('node-postgres gets the NOTICEs while the CREATE runs; pg_cancel_backend ends the wait with 57014', async () => {
    const [session, admin] = [await sluice.client(), await sluice.client()]
    try {
      const notices: string[] = []
      session.on('notice', (n) => notices.push(n.message ?? ''))
      await session.query('SET sluice.progress_notices = on')
      const pid = Number((await session.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
      let settled = false
      const creating = session
        .query('CREATE MATERIALIZED VIEW per_k5 AS SELECT id % 20000 AS g, count(*) AS n, sum(id) AS s, max(k) AS hi FROM big GROUP BY g')
        .then(
          () => null,
          (err: unknown) => err as { code?: string; message: string; detail?: string },
        )
        .finally(() => (settled = true))
      await eventually(async () => notices.length, (n) => n > 0, 30_000)
      // The NOTICE came while the statement was still running.
      expect(settled).toBe(false)
      expect(notices[0]).toMatch(/^view per_k5: [0-9,]+ of [0-9,]+ events \(\d+ %\), /)
      expect((await admin.query(`SELECT pg_cancel_backend(${pid}) AS ok`)).rows[0].ok).toBe(true)
      const err = await creating
      expect(err).toMatchObject({ code: '57014', message: 'canceling statement due to user request' })
      expect(err!.detail).toContain('per_k5')
      // The session goes on, and the view is there.
      expect((await session.query("SELECT count(*) AS n FROM sluice_progress WHERE query = 'per_k5'")).rows[0].n).toBe('1')
    } finally {
      await session.end()
      await admin.end()
    }
  }, 60_000)
})
