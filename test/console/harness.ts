/**
 * A Sluice server with authentication on and the console built, for the console's tests, screenshots and
 * benchmark: an admin (alice) and a read-only user (bob), a cookie jar per user for the JSON API, psql as
 * alice.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildConsole } from '../../console/build.ts'
import { type SluiceProcess, removeDir, startSluice } from '../helpers/sluice-process.ts'

export const ADMIN = { user: 'alice', password: 's3cret-a' }
export const READER = { user: 'bob', password: 's3cret-b' }

export interface ConsoleServer {
  readonly sluice: SluiceProcess
  readonly base: string
  /** Runs SQL through psql as the admin; throws on failure. */
  psql(sql: string): string
  stop(): Promise<void>
}

export async function startConsoleServer(extraArgs: readonly string[] = []): Promise<ConsoleServer> {
  await buildConsole()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-console-'))
  const users = join(dir, 'users')
  writeFileSync(users, `${ADMIN.user}:admin:${ADMIN.password}\n${READER.user}:readonly:${READER.password}\n`)
  const sluice = await startSluice({ http: true, args: ['--users', users, ...extraArgs] })
  return {
    sluice,
    base: `http://127.0.0.1:${sluice.httpPort}`,
    psql(sql) {
      const r = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', ADMIN.user, '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
        encoding: 'utf8',
        env: { ...process.env, PGPASSWORD: ADMIN.password, PGCONNECT_TIMEOUT: '10' },
      })
      if (r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.stderr}`)
      return r.stdout
    },
    async stop() {
      await sluice.stop()
      await removeDir(sluice.dataDir)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A logged-in API client (its session cookie kept). */
export class ApiClient {
  private cookie = ''
  constructor(private readonly base: string) {}

  async login(who: { user: string; password: string }): Promise<Response> {
    const res = await fetch(`${this.base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) })
    const set = res.headers.get('set-cookie')
    if (set !== null) this.cookie = set.split(';')[0]!
    return res
  }

  get(path: string): Promise<Response> {
    return fetch(`${this.base}${path}`, { headers: { cookie: this.cookie } })
  }

  post(path: string, body: unknown): Promise<Response> {
    return fetch(`${this.base}${path}`, { method: 'POST', headers: { cookie: this.cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  }

  async sql(sql: string): Promise<{ results: { tag: string; columns: { name: string }[] | null; rows: (string | null)[][] }[]; error?: { sqlstate: string; message: string; position?: number } }> {
    return (await this.post('/api/sql', { sql })).json() as never
  }

  get cookieHeader(): string {
    return this.cookie
  }
}
