/**
 * Protocol limits against a real server: what an unauthenticated or misbehaving client can make the
 * server hold (RSS of the server process, read from /proc), connection slots (53300 to node-postgres),
 * failed-login throttling per address, and unknown users answered exactly like wrong passwords.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect, Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SluiceProcess, eventually, removeDir, startSluice, tempDataDir } from './helpers/sluice-process.ts'
import { type BackendMessage, errorFields } from './helpers/raw-pg.ts'

const run = promisify(execFile)

/** A users file: an admin and a read-only user, with plain passwords. */
async function usersFile(): Promise<{ dir: string; path: string }> {
  const dir = await tempDataDir()
  const path = join(dir, 'users')
  writeFileSync(path, 'alice:admin:alice-pw\nrita:readonly:rita-pw\n')
  return { dir, path }
}

/** A raw connection that keeps every backend message; for bytes no driver would send. */
class Raw {
  readonly messages: BackendMessage[] = []
  private pending = Buffer.alloc(0)
  private waiter: (() => void) | null = null
  closed = false

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk])
      while (this.pending.length >= 5 && this.pending.length >= 1 + this.pending.readInt32BE(1)) {
        const len = this.pending.readInt32BE(1)
        this.messages.push({ type: String.fromCharCode(this.pending[0]!), body: this.pending.subarray(5, 1 + len) })
        this.pending = this.pending.subarray(1 + len)
      }
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  static async open(port: number, user: string): Promise<Raw> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const raw = new Raw(socket)
    raw.socket.write(serialize.startup({ user, database: 'sluice' }))
    return raw
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = null
    w?.()
  }

  /** The next message (consumed); fails after `ms` or when the socket closes first. */
  async next(ms = 10_000): Promise<BackendMessage> {
    const deadline = Date.now() + ms
    for (;;) {
      const m = this.messages.shift()
      if (m !== undefined) return m
      if (this.closed) throw new Error('connection closed')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no message within ${ms} ms`)
      await new Promise<void>((resolve) => {
        this.waiter = resolve
        setTimeout(resolve, left).unref()
      })
    }
  }

  async untilClosed(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${ms} ms`)
      await new Promise<void>((resolve) => {
        this.waiter = resolve
        setTimeout(resolve, 100).unref()
      })
    }
  }
}

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/**
 * One SCRAM attempt with a made-up proof (so no key derivation on our side): the server's messages, and
 * how long the server took to answer the client-first and the client-final message.
 */
async function scramAttempt(port: number, user: string): Promise<{ sasl: string; serverFirst: Record<string, string>; error: Record<string, string>; firstMs: number; finalMs: number }> {
  const raw = await Raw.open(port, user)
  try {
    const sasl = await raw.next()
    const clientNonce = randomBytes(18).toString('base64')
    let t = process.hrtime.bigint()
    raw.socket.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', `n,,n=,r=${clientNonce}`))
    const cont = await raw.next()
    const firstMs = Number(process.hrtime.bigint() - t) / 1e6
    const serverFirst = Object.fromEntries(cont.body.subarray(4).toString().split(',').map((a) => [a[0]!, a.slice(2)]))
    t = process.hrtime.bigint()
    raw.socket.write(serialize.sendSCRAMClientFinalMessage(`c=biws,r=${serverFirst.r},p=${randomBytes(32).toString('base64')}`))
    const error = await raw.next()
    const finalMs = Number(process.hrtime.bigint() - t) / 1e6
    expect(error.type).toBe('E')
    return { sasl: `${sasl.type}${sasl.body.toString('hex')}`, serverFirst, error: errorFields(error), firstMs, finalMs }
  } finally {
    raw.socket.destroy()
  }
}

describe('limits before authentication (SCRAM)', () => {
  let sluice: SluiceProcess
  let users: { dir: string; path: string }
  const serverArgs = () => ['--users', users.path, '--login-failures', '0', '--max-message-bytes', '1000000']

  beforeAll(async () => {
    users = await usersFile()
    // Throttling off here: this block fails hundreds of logins on purpose.
    sluice = await startSluice({ args: serverArgs() })
  }, 60_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    if (users) await removeDir(users.dir)
  })

  const login = async (user: string, password: string): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user, password, database: 'sluice' })
    await c.connect()
    return c
  }

  it('8 connections announcing 256 MB password messages cost the server no memory, and psql is answered meanwhile', async () => {
    const pid = sluice.child.pid!
    const chunk = Buffer.alloc(64 * 1024, 0x41)
    /** Announces 256 MB, then sends up to 16 MB of it for as long as the server keeps the socket open. */
    const pour = async (raw: Raw) => {
      const header = Buffer.alloc(5)
      header[0] = 0x70
      header.writeInt32BE(256 * 1024 * 1024, 1)
      raw.socket.write(header)
      for (let sent = 0; sent < 16 * 1024 * 1024 && !raw.closed && !raw.socket.destroyed; sent += chunk.length) {
        if (!raw.socket.write(chunk)) await new Promise<void>((resolve) => {
          raw.socket.once('drain', resolve)
          raw.socket.once('close', resolve)
        })
      }
    }
    // Warm up (sessions, queries, one refused oversize message) so that the baseline includes what the
    // first of each allocates once; RSS moves by a few MB with the garbage collector anyway.
    for (let i = 0; i < 3; i++) {
      const warm = await login('alice', 'alice-pw')
      await warm.query('select 1')
      await warm.end()
    }
    const probe = await Raw.open(sluice.port, 'alice')
    await probe.next()
    await pour(probe)
    await probe.untilClosed()
    const before = rssKb(pid)
    const flood = await Promise.all(Array.from({ length: 8 }, () => Raw.open(sluice.port, 'alice')))
    for (const raw of flood) expect((await raw.next()).type).toBe('R') // AuthenticationSASL
    const psql = run('psql', ['-X', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'alice', '-d', 'sluice', '-Atc', 'select 41 + 1'], {
      env: { ...process.env, PGPASSWORD: 'alice-pw', PGCONNECT_TIMEOUT: '10' },
    })
    await Promise.all(flood.map(pour))
    for (const raw of flood) {
      await raw.untilClosed()
      const error = raw.messages.find((m) => m.type === 'E')
      expect(error && errorFields(error)).toMatchObject({ S: 'FATAL', C: '08P01', M: 'invalid message length 268435456 for message type 0x70' })
    }
    expect((await psql).stdout.trim()).toBe('42')
    const after = rssKb(pid)
    console.log(`server RSS before the flood ${before} kB, after ${after} kB (growth ${after - before} kB)`)
    // Before the limits, each of these connections made the server buffer everything it was sent (16 MB each).
    expect(after - before).toBeLessThan(8 * 1024)
  }, 60_000)

  it('answers an unknown user exactly as a known user with a wrong password, in messages and in time', async () => {
    const known: Awaited<ReturnType<typeof scramAttempt>>[] = []
    const unknown: Awaited<ReturnType<typeof scramAttempt>>[] = []
    for (let i = 0; i < 200; i++) {
      known.push(await scramAttempt(sluice.port, 'alice'))
      unknown.push(await scramAttempt(sluice.port, 'alicf'))
    }
    const shape = (a: Awaited<ReturnType<typeof scramAttempt>>) => ({
      sasl: a.sasl,
      nonce: a.serverFirst.r!.length,
      salt: Buffer.from(a.serverFirst.s!, 'base64').length,
      iterations: a.serverFirst.i,
      error: { ...a.error, M: a.error.M!.replace(/"[^"]*"/, '"?"') },
    })
    expect(shape(unknown[0]!)).toEqual(shape(known[0]!))
    expect(known[0]!.error).toMatchObject({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "alice"' })
    // A known user's salt is stable; so is the unknown one's (derived from the name), so probing twice tells nothing.
    expect(new Set(unknown.map((a) => a.serverFirst.s)).size).toBe(1)
    const figures = {
      knownFirst: median(known.map((a) => a.firstMs)),
      unknownFirst: median(unknown.map((a) => a.firstMs)),
      knownFinal: median(known.map((a) => a.finalMs)),
      unknownFinal: median(unknown.map((a) => a.finalMs)),
    }
    console.log(`SCRAM reply medians over 200 attempts (ms): ${JSON.stringify(figures)}`)
    // Same work on both paths; allow for a busy machine (within 0.5 ms or a factor of 2).
    for (const [k, u] of [[figures.knownFirst, figures.unknownFirst], [figures.knownFinal, figures.unknownFinal]] as const) {
      expect(Math.abs(k - u) < 0.5 || (u / k > 0.5 && u / k < 2)).toBe(true)
    }
  }, 120_000)

  it('closes a session whose message exceeds --max-message-bytes with 08P01, and SHOW tells the limits', async () => {
    const c = await login('alice', 'alice-pw')
    expect((await c.query('show max_connections')).rows).toEqual([{ max_connections: '100' }])
    expect((await c.query('show max_message_bytes')).rows).toEqual([{ max_message_bytes: '1000000' }])
    const ended = new Promise<void>((resolve) => c.on('end', resolve))
    c.on('error', () => {})
    const err = await c.query(`select '${'x'.repeat(1_000_001)}'`).then(
      () => null,
      (e: { code?: string; message: string }) => e,
    )
    expect(err?.code).toBe('08P01')
    expect(err?.message).toMatch(/^invalid message length \d+: the server's limit is 1000000 bytes$/)
    await ended
    // The server goes on.
    const d = await login('alice', 'alice-pw')
    expect((await d.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    await d.end()
  }, 30_000)

  it('shows a known and an unknown user the same salts after a restart', async () => {
    const salts = async () => [(await scramAttempt(sluice.port, 'alice')).serverFirst.s, (await scramAttempt(sluice.port, 'ghost')).serverFirst.s]
    const before = await salts()
    const dataDir = sluice.dataDir
    await sluice.stop()
    sluice = await startSluice({ dataDir, args: serverArgs() })
    expect(await salts()).toEqual(before)
    // The known user still logs in (its verifier was rebuilt with the same salt).
    await (await login('alice', 'alice-pw')).end()
  }, 60_000)
})

describe('connection slots', () => {
  let sluice: SluiceProcess
  let users: { dir: string; path: string }

  beforeAll(async () => {
    users = await usersFile()
    sluice = await startSluice({ args: ['--users', users.path, '--auth', 'trust', '--max-connections', '3', '--reserved-connections', '1'] })
  }, 60_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    if (users) await removeDir(users.dir)
  })

  const attempt = async (user: string): Promise<pg.Client | { code?: string; message: string }> => {
    const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user, database: 'sluice' })
    c.on('error', () => {})
    try {
      await c.connect()
      return c
    } catch (err) {
      return err as { code?: string; message: string }
    }
  }
  const client = (r: Awaited<ReturnType<typeof attempt>>): pg.Client => {
    if (!(r instanceof pg.Client)) throw new Error(`expected a connection, got ${r.code} ${r.message}`)
    return r
  }

  it('keeps the last slot for admins and refuses everyone past max_connections with 53300', async () => {
    const r1 = client(await attempt('rita'))
    const r2 = client(await attempt('rita'))
    expect(await attempt('rita')).toMatchObject({ code: '53300', message: 'remaining connection slots are reserved for admin users' })
    const admin = client(await attempt('alice'))
    expect(await attempt('alice')).toMatchObject({ code: '53300', message: 'sorry, too many clients already' })
    expect(await attempt('rita')).toMatchObject({ code: '53300', message: 'sorry, too many clients already' })
    expect((await admin.query('show max_connections')).rows).toEqual([{ max_connections: '3' }])
    expect((await admin.query('show superuser_reserved_connections')).rows).toEqual([{ superuser_reserved_connections: '1' }])
    // A closed session frees its slot (the server notices the close on its own time: poll).
    await r2.end()
    const again = await eventually(
      () => attempt('alice'),
      (r) => r instanceof pg.Client,
    )
    for (const c of [r1, admin, client(again)]) await c.end()
  }, 30_000)
})

describe('failed-login throttling', () => {
  let sluice: SluiceProcess
  let users: { dir: string; path: string }

  beforeAll(async () => {
    users = await usersFile()
    sluice = await startSluice({ http: true, args: ['--users', users.path, '--auth', 'password', '--login-failures', '3', '--login-lockout-ms', '2000'] })
  }, 60_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    if (users) await removeDir(users.dir)
  })

  /** Logs in from `localAddress` (any 127.x.y.z is this machine); resolves to null or the error. */
  const tryLogin = async (user: string, password: string, localAddress = '127.0.0.1'): Promise<{ code?: string; message: string; detail?: string } | null> => {
    const stream = () => {
      const s = new Socket()
      const plain = s.connect.bind(s) as (o: object) => Socket
      ;(s as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) => plain({ port, host, localAddress })
      return s
    }
    const c = new pg.Client({ host: '127.0.0.1', port: sluice.port, user, password, database: 'sluice', stream })
    c.on('error', () => {})
    try {
      await c.connect()
      await c.end()
      return null
    } catch (err) {
      return err as { code?: string; message: string }
    }
  }

  it('refuses an address after repeated failures, whoever it claims to be, while other addresses log in', async () => {
    for (const user of ['alice', 'nobody', 'alice']) {
      expect(await tryLogin(user, 'wrong')).toMatchObject({ code: '28P01', message: `password authentication failed for user "${user}"` })
    }
    // Locked out: even the right password is refused before being looked at.
    const refused = await tryLogin('alice', 'alice-pw')
    expect(refused).toMatchObject({ code: '28000', message: 'too many failed login attempts from this address' })
    expect(refused?.detail).toMatch(/^3 failed logins; the next attempt is accepted in [12] s\.$/)
    expect(await tryLogin('alice', 'alice-pw', '127.0.0.2')).toBeNull()
    // The lockout ends by itself.
    await eventually(
      () => tryLogin('alice', 'alice-pw'),
      (r) => r === null,
      10_000,
    )
  }, 30_000)

  it('counts failed HTTP Basic logins of the ingest endpoint against the address too', async () => {
    /** POSTs one event from `localAddress` with `user:password`; the status and the answer's sqlstate. */
    const post = (user: string, password: string, localAddress: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: sluice.httpPort!, path: '/streams/nope', method: 'POST', localAddress, headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } },
          (res) => {
            let body = ''
            res.on('data', (d: Buffer) => (body += d.toString()))
            res.on('end', () => resolve(`${res.statusCode} ${(JSON.parse(body) as { sqlstate?: string }).sqlstate}`))
          },
        )
        req.on('error', reject)
        req.end('{"x": 1}\n')
      })
    for (let i = 0; i < 3; i++) expect(await post('alice', 'wrong', '127.0.0.3')).toBe('401 28P01')
    // Locked out: the right password too, before it is looked at; and a Postgres login from there as well.
    expect(await post('alice', 'alice-pw', '127.0.0.3')).toBe('429 28000')
    expect(await tryLogin('alice', 'alice-pw', '127.0.0.3')).toMatchObject({ code: '28000' })
    // Another address is not held back (the stream does not exist: the credentials were accepted).
    expect(await post('alice', 'alice-pw', '127.0.0.4')).toBe('404 42P01')
  }, 30_000)
})

describe('sluice serve ports', () => {
  let first: SluiceProcess

  beforeAll(async () => {
    first = await startSluice({ http: true })
  }, 60_000)

  afterAll(async () => {
    await first?.stop()
    if (first) await removeDir(first.dataDir)
  })

  /** Runs `sluice serve` to its exit (it must fail to start); its status and what it printed. */
  const serveFails = async (args: string[]): Promise<{ status: number | null; stderr: string }> => {
    const dataDir = await tempDataDir()
    try {
      await run(process.execPath, ['--import', 'tsx', 'bin/sluice.ts', 'serve', '--data', dataDir, ...args], { timeout: 30_000 })
      return { status: 0, stderr: '' }
    } catch (err) {
      const e = err as { code?: number; stderr?: string }
      return { status: e.code ?? null, stderr: e.stderr ?? '' }
    } finally {
      await removeDir(dataDir)
    }
  }

  it('reports a port in use in one line with status 1, for the Postgres and the HTTP port', async () => {
    const pgBusy = await serveFails(['--port', String(first.port), '--no-http'])
    expect(pgBusy).toEqual({ status: 1, stderr: `sluice: cannot listen for Postgres clients on 127.0.0.1:${first.port}: address already in use (EADDRINUSE)\n` })
    const httpBusy = await serveFails(['--port', '0', '--http-port', String(first.httpPort)])
    expect(httpBusy).toEqual({ status: 1, stderr: `sluice: cannot listen for HTTP ingest on 127.0.0.1:${first.httpPort}: address already in use (EADDRINUSE)\n` })
  }, 60_000)

  it('refuses a data directory another running server has open, in one line with status 1', async () => {
    let failed: { code?: number; stderr?: string } | null = null
    try {
      await run(process.execPath, ['--import', 'tsx', 'bin/sluice.ts', 'serve', '--data', first.dataDir, '--port', '0', '--no-http'], { timeout: 30_000 })
    } catch (err) {
      failed = err as { code?: number; stderr?: string }
    }
    expect(failed?.code).toBe(1)
    expect(failed?.stderr).toBe(`sluice: the data directory is in use by another running Sluice server (${first.dataDir})\n`)
    // The first server is unharmed.
    expect(first.psql('SELECT 1 AS one', { args: ['-At'] }).stdout.trim()).toBe('1')
  }, 60_000)

  it('puts the HTTP port next to --port when it is not given', async () => {
    // The Postgres port one below the first server's HTTP port: the derived HTTP port is that one, in use.
    const busy = await serveFails(['--port', String(first.httpPort! - 1)])
    if (first.httpPort! - 1 === first.port) {
      expect(busy.stderr).toMatch(/cannot listen for Postgres clients/)
    } else {
      expect(busy).toEqual({ status: 1, stderr: `sluice: cannot listen for HTTP ingest on 127.0.0.1:${first.httpPort}: address already in use (EADDRINUSE)\n` })
    }
    expect(await serveFails(['--port', 'seven'])).toEqual({ status: 2, stderr: 'sluice: --port must be a non-negative integer, not "seven"\n' })
  }, 60_000)
})
