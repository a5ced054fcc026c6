/**
 * TLS, password authentication and roles end to end: real `sluice serve` processes started with a users
 * file (one user with a plain password, one with a SCRAM verifier printed by `sluice password`, one with a
 * PostgreSQL md5 hash) and a self-signed certificate made by openssl, reached by node-postgres and psql.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SluiceProcess, removeDir, startSluice } from './helpers/sluice-process.ts'

const ROOT = resolve(import.meta.dirname, '..')

let dir: string
let tlsArgs: string[]
let usersFile: string
/** Users file, SCRAM (default) and a certificate. */
let scram: SluiceProcess
let md5: SluiceProcess
/** No certificate: plain text only. */
let cleartext: SluiceProcess

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-auth-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  tlsArgs = ['--tls-cert', cert, '--tls-key', key]
  // bob's line holds no password: the verifier comes from `sluice password`, reading it on stdin.
  const verifier = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'sluice.ts'), 'password'], { cwd: ROOT, input: 'hunter2\n', encoding: 'utf8' }).trim()
  expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[^$]+\$[^:]+:.+$/)
  const carolHash = `md5${createHash('md5').update('tiger' + 'carol').digest('hex')}`
  usersFile = join(dir, 'users')
  writeFileSync(usersFile, `# name:role:secret\nalice:admin:s3cret\nbob:readonly:${verifier}\ncarol:admin:${carolHash}\n`)
  ;[scram, md5, cleartext] = await Promise.all([
    startSluice({ http: true, args: ['--users', usersFile, ...tlsArgs] }),
    startSluice({ args: ['--users', usersFile, '--auth', 'md5'] }),
    startSluice({ args: ['--users', usersFile, '--auth', 'password'] }),
  ])
}, 60_000)

afterAll(async () => {
  for (const p of [scram, md5, cleartext]) {
    if (p === undefined) continue
    await p.stop()
    await removeDir(p.dataDir)
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

function client(server: SluiceProcess, user: string, password?: string, ssl = false): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: server.port, user, database: 'sluice', ...(password === undefined ? {} : { password }), ...(ssl ? { ssl: { rejectUnauthorized: false } } : {}) })
}

/** Connects and returns the client with the ParameterStatus values it was sent. */
async function login(server: SluiceProcess, user: string, password: string, ssl = false): Promise<{ c: pg.Client; params: Map<string, string> }> {
  const c = client(server, user, password, ssl)
  const params = new Map<string, string>()
  const connection = (c as unknown as { connection: { on(e: 'parameterStatus', f: (m: { parameterName: string; parameterValue: string }) => void): void } }).connection
  connection.on('parameterStatus', (m) => params.set(m.parameterName, m.parameterValue))
  await c.connect()
  return { c, params }
}

/** The error a failing connect gives, as `code message`. */
async function refused(c: pg.Client): Promise<string> {
  try {
    await c.connect()
  } catch (err) {
    const e = err as { code?: string; message: string }
    return `${e.code ?? '-'} ${e.message}`
  }
  await c.end()
  return 'connected'
}

async function errorOf(c: pg.Client, sql: string): Promise<string> {
  try {
    await c.query(sql)
  } catch (err) {
    const e = err as { code?: string; message: string }
    return `${e.code} ${e.message}`
  }
  return 'ok'
}

function psql(server: SluiceProcess, conninfo: string, sql: string[], password?: string) {
  const args = ['-X', '-w', '-At', `host=127.0.0.1 port=${server.port} dbname=sluice ${conninfo}`, ...sql.flatMap((s) => ['-c', s])]
  const { PGPASSWORD: _, ...inherited } = process.env
  const env = { ...inherited, PGCONNECT_TIMEOUT: '10', ...(password === undefined ? {} : { PGPASSWORD: password }) }
  const r = spawnSync('psql', args, { encoding: 'utf8', env })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status }
}

describe('SCRAM-SHA-256 (the default with a users file)', () => {
  it('lets node-postgres in with the right password, for a plain password and for a SCRAM verifier', async () => {
    const a = await login(scram, 'alice', 's3cret')
    expect((await a.c.query('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }])
    expect(a.params.get('is_superuser')).toBe('on')
    await a.c.end()
    const b = await login(scram, 'bob', 'hunter2')
    expect((await b.c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    await b.c.end()
  })

  it('refuses a wrong password and an unknown user alike with 28P01', async () => {
    expect(await refused(client(scram, 'alice', 'S3cret'))).toBe('28P01 password authentication failed for user "alice"')
    expect(await refused(client(scram, 'mallory', 's3cret'))).toBe('28P01 password authentication failed for user "mallory"')
    // An md5 hash cannot answer SCRAM: carol cannot log in here, and is told nothing more.
    expect(await refused(client(scram, 'carol', 'tiger'))).toBe('28P01 password authentication failed for user "carol"')
  })

  it('refuses a client that has no password', async () => {
    const r = psql(scram, 'user=alice sslmode=disable', ['SELECT 1'])
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('no password supplied')
    // An empty password is not a password either.
    const empty = psql(scram, 'user=alice sslmode=disable', ['SELECT 1'], '')
    expect(empty.status).not.toBe(0)
  })
})

describe('TLS', () => {
  it('psql with sslmode=require and PGPASSWORD gets an encrypted session', () => {
    const r = psql(scram, 'user=alice sslmode=require', ['\\conninfo', 'SHOW ssl', 'SELECT 7'], 's3cret')
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/)
    expect(r.stdout.trim().split('\n').slice(-2)).toEqual(['on', '7'])
  })

  it('node-postgres with ssl gets TLS and SCRAM over it; without ssl the same server talks plain text', async () => {
    const secure = await login(scram, 'bob', 'hunter2', true)
    expect((secure.c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true)
    expect((await secure.c.query('SHOW ssl')).rows).toEqual([{ ssl: 'on' }])
    await secure.c.end()
    const plain = await login(scram, 'bob', 'hunter2')
    expect((await plain.c.query('SHOW ssl')).rows).toEqual([{ ssl: 'off' }])
    await plain.c.end()
  })

  it('sslmode=require fails against a server without a certificate, which still serves plain text', () => {
    const r = psql(cleartext, 'user=alice sslmode=require', ['SELECT 1'], 's3cret')
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('server does not support SSL')
    const plain = psql(cleartext, 'user=alice sslmode=prefer', ['SHOW ssl', 'SHOW is_superuser'], 's3cret')
    expect([plain.status, plain.stdout]).toEqual([0, 'off\non\n'])
  })
})

describe('md5 and cleartext', () => {
  it('md5: node-postgres logs in with a plain password and with a stored md5 hash; a wrong one is 28P01', async () => {
    for (const [user, password] of [['alice', 's3cret'], ['carol', 'tiger']] as const) {
      const { c } = await login(md5, user, password)
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: user }])
      await c.end()
    }
    expect(await refused(client(md5, 'carol', 'lion'))).toBe('28P01 password authentication failed for user "carol"')
    // bob has only a SCRAM verifier: the md5 configuration uses SCRAM for him, as PostgreSQL does.
    const { c } = await login(md5, 'bob', 'hunter2')
    await c.end()
    const r = psql(md5, 'user=carol', ['SELECT 1'], 'tiger')
    expect([r.status, r.stdout]).toEqual([0, '1\n'])
  })

  it('cleartext: right password in, wrong password and unknown user out', async () => {
    for (const [user, password] of [['alice', 's3cret'], ['bob', 'hunter2'], ['carol', 'tiger']] as const) {
      const { c } = await login(cleartext, user, password)
      await c.end()
    }
    expect(await refused(client(cleartext, 'alice', 'wrong'))).toBe('28P01 password authentication failed for user "alice"')
    expect(await refused(client(cleartext, 'nobody', 'wrong'))).toBe('28P01 password authentication failed for user "nobody"')
  })
})

describe('roles', () => {
  it('the admin can create, insert, read and drop', async () => {
    const { c } = await login(scram, 'alice', 's3cret')
    await c.query('CREATE STREAM role_admin (player_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL)')
    await c.query("INSERT INTO role_admin VALUES (1, '2026-01-01 00:00:00+00'), (2, '2026-01-01 00:00:01+00')")
    expect((await c.query('SELECT count(*)::int AS n FROM role_admin')).rows).toEqual([{ n: 2 }])
    await c.query('DROP STREAM role_admin')
    await c.end()
  })

  it('a read-only user can SELECT, SHOW, LISTEN and use transactions, gets 42501 for the rest, and the session goes on', async () => {
    const admin = await login(scram, 'alice', 's3cret')
    await admin.c.query('CREATE STREAM role_ro (player_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL)')
    await admin.c.query("INSERT INTO role_ro VALUES (7, '2026-01-01 00:00:00+00')")
    const { c, params } = await login(scram, 'bob', 'hunter2')
    expect(params.get('is_superuser')).toBe('off')
    expect((await c.query('SHOW is_superuser')).rows).toEqual([{ is_superuser: 'off' }])
    expect((await c.query('SELECT player_id::int AS p FROM role_ro')).rows).toEqual([{ p: 7 }])
    const denied = '42501 permission denied: role "bob" is read-only'
    expect(await errorOf(c, 'CREATE STREAM role_ro2 (a INT)')).toBe(denied)
    expect(await errorOf(c, "INSERT INTO role_ro VALUES (8, '2026-01-01 00:00:00+00')")).toBe(denied)
    expect(await errorOf(c, 'DROP STREAM role_ro')).toBe(denied)
    expect(await errorOf(c, 'CHECKPOINT')).toBe(denied)
    expect(await errorOf(c, "NOTIFY alerts, 'x'")).toBe(denied)
    expect(await errorOf(c, "SELECT pg_notify('alerts', 'x')")).toBe(denied)
    // The session is fine afterwards, and nothing was written.
    await c.query('BEGIN')
    expect((await c.query('SELECT count(*)::int AS n FROM role_ro')).rows).toEqual([{ n: 1 }])
    await c.query('COMMIT')
    // LISTEN works, and the admin's NOTIFY reaches the read-only session.
    await c.query('LISTEN alerts')
    const got = new Promise<string>((r) => c.once('notification', (n) => r(`${n.channel}:${n.payload}`)))
    await admin.c.query("NOTIFY alerts, 'hello'")
    expect(await got).toBe('alerts:hello')
    await c.query('UNLISTEN *')
    await c.end()
    await admin.c.query('DROP STREAM role_ro')
    await admin.c.end()
  })

  it('HTTP ingest needs an admin in HTTP Basic credentials once users are configured', async () => {
    const admin = await login(scram, 'alice', 's3cret')
    await admin.c.query('CREATE STREAM role_http (player_id BIGINT NOT NULL)')
    const post = async (credentials?: string) => {
      const headers: Record<string, string> = credentials === undefined ? {} : { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }
      const r = await fetch(`http://127.0.0.1:${scram.httpPort}/streams/role_http`, { method: 'POST', headers, body: '{"player_id": 1}\n' })
      return `${r.status} ${await r.text()}`
    }
    expect(await post()).toBe('401 {"error":"HTTP Basic authentication required","sqlstate":"28P01"}')
    expect(await post('alice:wrong')).toBe('401 {"error":"password authentication failed for user \\"alice\\"","sqlstate":"28P01"}')
    expect(await post('bob:hunter2')).toBe('403 {"error":"permission denied: role \\"bob\\" is read-only","sqlstate":"42501"}')
    expect(await post('alice:s3cret')).toBe('200 {"inserted":1,"rejected":0,"errors":[]}')
    expect((await admin.c.query('SELECT count(*)::int AS n FROM role_http')).rows).toEqual([{ n: 1 }])
    await admin.c.query('DROP STREAM role_http')
    await admin.c.end()
  })

  it('psql as the read-only user: the error, then the next statement runs', () => {
    const r = psql(scram, 'user=bob sslmode=require', ['CREATE STREAM nope (a INT)', 'SELECT 5'], 'hunter2')
    expect(r.stderr).toContain('ERROR:  permission denied: role "bob" is read-only')
    expect(r.stdout).toBe('5\n')
  })
})
