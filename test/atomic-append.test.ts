/**
 * Appends survive a kill -9 whole or not at all: a COPY that was cut short by a crash leaves none of its
 * rows, one that completed leaves all of them, never a part (the embedded log commits a batch across
 * partitions at once; executor/log/stream-log.ts).
 */
import { spawn } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir } from './helpers/sluice-process.ts'

const ROWS = 100_000

describe('kill -9 during COPY', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await removeDir(d)
  })

  it('each COPY is counted whole or not at all after a restart, whatever the moment of the kill', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    let server = await startSluice({ dataDir })
    server.psql(`CREATE STREAM s (id BIGINT NOT NULL, batch INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 4)`)
    server.psql('CREATE MATERIALIZED VIEW per_batch AS SELECT batch, count(*) AS n FROM s GROUP BY batch')
    const outcomes: string[] = []
    // How long a whole COPY takes here from the last row sent to its answer, to aim the kills inside it.
    const copyMs = await timedCopy(server.port, rowsOf(99))
    const aims = [0.3, 0.7, 0.95, 1.2]
    for (let round = 0; round < aims.length; round++) {
      const lines = rowsOf(round)
      const psql = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'analyst', '-d', 'sluice', '-c', 'COPY s FROM STDIN'], { stdio: ['pipe', 'pipe', 'pipe'] })
      const psqlExited = new Promise((r) => psql.once('exit', r))
      let out = ''
      psql.stdout.on('data', (d: Buffer) => (out += d.toString()))
      psql.stdin.on('error', () => {
        // psql may go before it read all its input: the server it wrote to was killed.
      })
      const sent = new Promise((r) => psql.stdin.once('finish', r))
      psql.stdin.end(lines)
      // Kill the server at a different moment of each round, once psql has handed over every row: while
      // they are parsed, while they are appended, or just after.
      await sent
      await new Promise((r) => setTimeout(r, Math.round(copyMs * aims[round]!)))
      await server.kill('SIGKILL')
      await psqlExited
      server = await startSluice({ dataDir })
      const rows = (await eventually(
        async () => server.psql(`SELECT coalesce(sum(n), 0) FROM per_batch WHERE batch = ${round}`, { args: ['-At'] }).stdout.trim(),
        (v) => v !== '',
      ))
      const n = Number(rows)
      // Acknowledged means all of it must be there; otherwise none or all (the commit may have landed just
      // before the kill).
      if (/COPY 100000/.test(out)) expect(n).toBe(ROWS)
      else expect([0, ROWS]).toContain(n)
      outcomes.push(`${out.includes('COPY') ? 'acknowledged' : 'cut'}:${n}`)
    }
    // After catching up, the view holds exactly the whole batches the log holds.
    const total = Number(server.psql('SELECT count(*) FROM s', { args: ['-At'] }).stdout.trim())
    const viewed = Number(server.psql('SELECT coalesce(sum(n), 0) FROM per_batch', { args: ['-At'] }).stdout.trim())
    expect(total % ROWS).toBe(0)
    expect(total).toBeGreaterThanOrEqual(ROWS)
    expect(viewed).toBe(total)
    console.log(`atomic-append: ${outcomes.join(', ')}`)
    await server.stop()
  }, 240_000)
})

const rowsOf = (batch: number): string => Array.from({ length: ROWS }, (_, i) => `${i}\t${batch}\t2026-12-06 10:00:00+00`).join('\n') + '\n'

/** Milliseconds from the last row handed to psql to psql's exit, for one COPY that is left to finish. */
async function timedCopy(port: number, lines: string): Promise<number> {
  const psql = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-c', 'COPY s FROM STDIN'], { stdio: ['pipe', 'ignore', 'inherit'] })
  const exited = new Promise<number | null>((r) => psql.once('exit', r))
  const sent = new Promise((r) => psql.stdin.once('finish', r))
  psql.stdin.end(lines)
  await sent
  const t0 = performance.now()
  expect(await exited).toBe(0)
  return performance.now() - t0
}
