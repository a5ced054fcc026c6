/**
 * Starts a real `sluice serve` process on free ports with its own data directory, for integration tests
 * that talk to it over real sockets (psql, node-postgres) and may kill it with SIGKILL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { sluiceEntry } from './sluice-bundle.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')
// Generous: several servers start at once in some tests, and a loaded 2-core machine compiles slowly.
const START_TIMEOUT_MS = 60_000

export interface SluiceProcess {
  readonly port: number
  readonly httpPort: number | null
  readonly dataDir: string
  readonly child: ChildProcess
  /** Everything the process printed so far. */
  output(): string
  client(): Promise<pg.Client>
  /** psql -c, returning stdout; throws with stderr on a non-zero exit unless `allowError`. */
  psql(sql: string, opts?: { allowError?: boolean; args?: string[] }): { stdout: string; stderr: string; status: number }
  kill(signal?: NodeJS.Signals): Promise<void>
  stop(): Promise<void>
}

export async function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sluice-test-'))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

export async function startSluice(
  opts: {
    dataDir?: string
    checkpointMs?: number
    http?: boolean
    kafka?: string
    /** More `sluice serve` flags (`--users`, `--tls-cert`, ...). */
    args?: readonly string[]
    /** More environment variables for the server (test-only fault injection). */
    env?: Readonly<Record<string, string>>
  } = {},
): Promise<SluiceProcess> {
  const dataDir = opts.dataDir ?? (await tempDataDir())
  // SLUICE_CPU_PROF=<dir>: the server writes a CPU profile there when it exits (for benchmarks' profiles).
  const profile = process.env.SLUICE_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SLUICE_CPU_PROF}`] : []
  const args = [...profile, ...sluiceEntry(), 'serve', '--port', '0', '--data', dataDir, '--checkpoint-ms', String(opts.checkpointMs ?? 200)]
  args.push(...(opts.http ? ['--http-port', '0'] : ['--no-http']))
  if (opts.kafka !== undefined) args.push('--kafka', opts.kafka)
  args.push(...(opts.args ?? []))
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))

  const deadline = Date.now() + START_TIMEOUT_MS
  let port = 0
  let httpPort: number | null = null
  while (Date.now() < deadline) {
    const m = /listening for Postgres clients on [^:]+:(\d+)/.exec(out)
    if (m) {
      port = Number(m[1])
      const h = /HTTP ingest on http:\/\/[^:]+:(\d+)/.exec(out)
      httpPort = h ? Number(h[1]) : null
      if (!opts.http || httpPort !== null) break
    }
    if (child.exitCode !== null) throw new Error(`sluice exited early (${child.exitCode}):\n${out}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  if (port === 0) {
    child.kill('SIGKILL')
    throw new Error(`sluice did not start within ${START_TIMEOUT_MS} ms:\n${out}`)
  }

  const proc: SluiceProcess = {
    port,
    httpPort,
    dataDir,
    child,
    output: () => out,
    async client() {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'analyst', database: 'sluice' })
      await c.connect()
      return c
    },
    psql(sql, o = {}) {
      const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', ...(o.args ?? []), '-c', sql], {
        encoding: 'utf8',
        env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
      })
      const res = { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 }
      if (res.status !== 0 && !o.allowError) throw new Error(`psql failed (${res.status}): ${res.stderr}`)
      return res
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
    async stop() {
      await proc.kill('SIGTERM')
    },
  }
  return proc
}

/** Polls `probe` until it returns a value for which `done` holds, or fails after `timeoutMs`. */
/**
 * Runs `body` against a server of its own on a fresh data directory (with `files`, the files directory is
 * `<data>/<files>`, passed as --files; else the default `<data>/files`), then closes the client, stops the
 * server and removes the directory.
 */
export async function withSluice(opts: { files?: string }, body: (client: pg.Client, dirs: { dataDir: string; filesDir: string }) => Promise<void>): Promise<void> {
  const dataDir = await tempDataDir()
  const filesDir = join(dataDir, opts.files ?? 'files')
  if (opts.files !== undefined) await mkdir(filesDir)
  const sluice = await startSluice({ dataDir, ...(opts.files === undefined ? {} : { args: ['--files', filesDir] }) })
  const client = await sluice.client()
  try {
    await body(client, { dataDir, filesDir })
  } finally {
    await client.end()
    await sluice.stop()
    await removeDir(dataDir)
  }
}

export async function eventually<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  let lastErr: unknown
  while (Date.now() < deadline) {
    try {
      last = await probe()
      if (done(last)) return last
    } catch (err) {
      lastErr = err
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const shown = JSON.stringify(last, (_, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v))
  throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${shown?.slice(0, 2000)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`)
}

export { spawnSync }
