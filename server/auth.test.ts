/**
 * Authentication unit tests: the SCRAM-SHA-256, MD5 and cleartext exchanges driven in memory by a client
 * written here from the RFCs with node:crypto alone (not with auth.ts's helpers), the RFC 7677 example, and
 * verifiers and hashes made by the real PostgreSQL on 127.0.0.1:5432. Then the startup over real sockets:
 * SSLRequest answered 'S' or 'N', TLS set up on the same socket, CancelRequest inside TLS, and the
 * read-only allow-list over statements parsed by the real parser.
 */
import { execFileSync } from 'node:child_process'
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import { initParser, parseStatements } from '../parser/index.ts'
import {
  type AuthStep,
  type Authenticator,
  checkPassword,
  createAuthenticator,
  formatScramSecret,
  md5Secret,
  parseClientFinal,
  parseClientFirst,
  parseScramSecret,
  parseSecret,
  saslPrep,
  type Secret,
  scramSecret,
  verifyClientProof,
} from './auth.ts'
import type { Backend, BackendFactory, Outcome, PreparedStatement, StartupInfo } from './backend.ts'
import { startListener, type Listener } from './listener.ts'
import { UserDirectory, parseUsersFile, readOnlyPermits } from './users.ts'

// ---- an independent client ------------------------------------------------------------------------

const H = (b: Buffer): Buffer => createHash('sha256').update(b).digest()
const HMAC = (k: Buffer, s: string): Buffer => createHmac('sha256', k).update(s).digest()

/** An 'R' message: its code and payload. */
function readAuth(message: Buffer): { code: number; payload: Buffer } {
  expect(String.fromCharCode(message[0]!)).toBe('R')
  expect(message.readInt32BE(1)).toBe(message.length - 1)
  return { code: message.readInt32BE(5), payload: message.subarray(9) }
}

const passwordBody = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8')

function saslInitial(mechanism: string, data: string): Buffer {
  const d = Buffer.from(data, 'utf8')
  const len = Buffer.alloc(4)
  len.writeInt32BE(d.length)
  return Buffer.concat([Buffer.from(`${mechanism}\0`), len, d])
}

/** Runs a whole SCRAM exchange as RFC 5802 describes the client side; returns the final step and what the client checked. */
function scramLogin(auth: Authenticator, password: string, opts: { gs2?: string } = {}): { step: AuthStep; serverSignatureOk: boolean; salt: string } {
  const first = readAuth(auth.start())
  expect(first.code).toBe(10)
  expect(first.payload.toString()).toBe('SCRAM-SHA-256\0\0')
  const gs2 = opts.gs2 ?? 'n,,'
  const clientNonce = randomBytes(18).toString('base64')
  const bare = `n=,r=${clientNonce}`
  const cont = auth.receive(saslInitial('SCRAM-SHA-256', gs2 + bare))
  if (cont.kind !== 'continue') throw new Error(`expected SASLContinue, got ${cont.kind}`)
  const serverFirstMsg = readAuth(cont.message)
  expect(serverFirstMsg.code).toBe(11)
  const serverFirst = serverFirstMsg.payload.toString()
  const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]))
  expect(attrs.r!.startsWith(clientNonce)).toBe(true)
  expect(attrs.r!.length).toBeGreaterThan(clientNonce.length)
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256')
  const clientKey = HMAC(salted, 'Client Key')
  const withoutProof = `c=${Buffer.from(gs2).toString('base64')},r=${attrs.r}`
  const authMessage = `${bare},${serverFirst},${withoutProof}`
  const signature = HMAC(H(clientKey), authMessage)
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!))
  const step = auth.receive(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`))
  let serverSignatureOk = false
  if (step.kind === 'ok') {
    const final = readAuth(step.messages[0]!)
    expect(final.code).toBe(12)
    serverSignatureOk = final.payload.toString() === `v=${HMAC(HMAC(salted, 'Server Key'), authMessage).toString('base64')}`
  }
  return { step, serverSignatureOk, salt: attrs.s! }
}

const failure = (step: AuthStep): string => (step.kind === 'fail' ? `${step.error.sqlstate} ${step.error.message}` : step.kind)

function sluiceErrorOf(f: () => unknown): SluiceError {
  try {
    f()
  } catch (err) {
    if (err instanceof SluiceError) return err
    throw err
  }
  throw new Error('expected a SluiceError')
}

// ---- SCRAM ---------------------------------------------------------------------------------------

describe('SCRAM-SHA-256', () => {
  it('reproduces the RFC 7677 example exchange', () => {
    const secret = scramSecret('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096)
    const clientFirst = parseClientFirst('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')
    expect(clientFirst).toEqual({ gs2Header: 'n,,', bare: 'n=user,r=rOprNGfwEbeRWgbNEkqO', nonce: 'rOprNGfwEbeRWgbNEkqO' })
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'
    const final = parseClientFinal('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')
    const authMessage = `${clientFirst.bare},${serverFirst},${final.withoutProof}`
    expect(verifyClientProof(secret, authMessage, final.proof)).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')
    // One flipped bit of the proof is refused.
    const bad = Buffer.from(final.proof)
    bad[0] = bad[0]! ^ 1
    expect(verifyClientProof(secret, authMessage, bad)).toBeNull()
  })

  it('accepts the right password and proves itself to the client', () => {
    const secret = parseSecret('correct horse')
    const r = scramLogin(createAuthenticator('scram-sha-256', 'alice', secret), 'correct horse')
    expect(r.step.kind).toBe('ok')
    expect(r.serverSignatureOk).toBe(true)
  })

  it('accepts a client that supports channel binding but was offered none (y,,)', () => {
    const r = scramLogin(createAuthenticator('scram-sha-256', 'alice', parseSecret('pw')), 'pw', { gs2: 'y,,' })
    expect(r.step.kind).toBe('ok')
  })

  it('refuses a wrong password and an unknown user with the same 28P01', () => {
    const secret = parseSecret('correct horse')
    expect(failure(scramLogin(createAuthenticator('scram-sha-256', 'alice', secret), 'battery staple').step)).toBe(
      '28P01 password authentication failed for user "alice"',
    )
    const ghost = scramLogin(createAuthenticator('scram-sha-256', 'ghost', null), 'anything')
    expect(failure(ghost.step)).toBe('28P01 password authentication failed for user "ghost"')
    // The fake salt of an unknown user is stable, so probing twice does not tell it apart from a real one.
    expect(scramLogin(createAuthenticator('scram-sha-256', 'ghost', null), 'x').salt).toBe(ghost.salt)
    expect(scramLogin(createAuthenticator('scram-sha-256', 'phantom', null), 'x').salt).not.toBe(ghost.salt)
  })

  it('cannot use an md5 secret, and fails without telling why', () => {
    const r = scramLogin(createAuthenticator('scram-sha-256', 'carol', parseSecret(md5Secret('pw', 'carol'))), 'pw')
    expect(failure(r.step)).toBe('28P01 password authentication failed for user "carol"')
  })

  it('rejects malformed and mismatched messages as protocol violations', () => {
    const start = () => {
      const a = createAuthenticator('scram-sha-256', 'alice', parseSecret('pw'))
      a.start()
      return a
    }
    expect(sluiceErrorOf(() => start().receive(saslInitial('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc'))).sqlstate).toBe('08P01')
    expect(sluiceErrorOf(() => start().receive(saslInitial('SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=abc'))).message).toMatch(/channel binding/)
    expect(sluiceErrorOf(() => start().receive(saslInitial('SCRAM-SHA-256', 'x,,n=,r=abc'))).message).toBe('malformed SCRAM message')
    expect(sluiceErrorOf(() => start().receive(saslInitial('SCRAM-SHA-256', 'n,a=bob,n=,r=abc'))).sqlstate).toBe('0A000')
    expect(sluiceErrorOf(() => start().receive(Buffer.from('SCRAM-SHA-256\0'))).sqlstate).toBe('08P01')
    // A final message echoing another nonce, or another gs2 header, is refused before any proof is checked.
    const a = start()
    const cont = a.receive(saslInitial('SCRAM-SHA-256', 'n,,n=,r=clientnonce'))
    expect(cont.kind).toBe('continue')
    const proof = Buffer.alloc(32).toString('base64')
    expect(sluiceErrorOf(() => a.receive(Buffer.from(`c=biws,r=clientnonceXYZ,p=${proof}`))).detail).toBe('Nonce does not match.')
    const b = start()
    const nonce = readAuth((b.receive(saslInitial('SCRAM-SHA-256', 'n,,n=,r=cn')) as { message: Buffer }).message).payload.toString().split(',')[0]!.slice(2)
    expect(sluiceErrorOf(() => b.receive(Buffer.from(`c=${Buffer.from('y,,').toString('base64')},r=${nonce},p=${proof}`))).message).toMatch(/channel binding check failed/)
  })

  it('stores and reads verifiers in PostgreSQL text form', () => {
    const s = scramSecret('pw', Buffer.from('0123456789abcdef'), 4096)
    const text = formatScramSecret(s)
    expect(text).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/)
    expect(parseScramSecret(text)).toEqual(s)
    expect(parseScramSecret('SCRAM-SHA-256$4096:abc$short:short')).toBeNull()
    expect(() => parseSecret('SCRAM-SHA-256$nope')).toThrow(/malformed SCRAM-SHA-256 verifier/)
  })

  it('normalizes passwords with SASLprep as RFC 4013 shows', () => {
    expect(saslPrep('user')).toBe('user')
    expect(saslPrep('I\u00ADX')).toBe('IX')
    expect(saslPrep('\u00AA')).toBe('a')
    expect(saslPrep('\u2168')).toBe('IX')
    expect(saslPrep('a\u00A0b')).toBe('a b')
    // Prohibited output: PostgreSQL then uses the password as given instead of refusing it.
    expect(saslPrep('\u00E9\u0007')).toBe('\u00E9\u0007')
  })
})

// ---- MD5 and cleartext ------------------------------------------------------------------------------

const md5 = (s: string | Buffer): string => createHash('md5').update(s).digest('hex')

function md5Login(auth: Authenticator, user: string, password: string): AuthStep {
  const { code, payload } = readAuth(auth.start())
  expect(code).toBe(5)
  expect(payload.length).toBe(4)
  return auth.receive(passwordBody(`md5${md5(Buffer.concat([Buffer.from(md5(password + user)), payload]))}`))
}

describe('MD5 and cleartext', () => {
  it('checks salted MD5 responses against a password or a stored hash', () => {
    expect(md5Login(createAuthenticator('md5', 'bob', parseSecret('pw')), 'bob', 'pw').kind).toBe('ok')
    expect(md5Login(createAuthenticator('md5', 'bob', parseSecret(`md5${md5('pwbob')}`)), 'bob', 'pw').kind).toBe('ok')
    expect(failure(md5Login(createAuthenticator('md5', 'bob', parseSecret('pw')), 'bob', 'wrong'))).toBe('28P01 password authentication failed for user "bob"')
    expect(failure(md5Login(createAuthenticator('md5', 'nobody', null), 'nobody', 'pw'))).toBe('28P01 password authentication failed for user "nobody"')
    // Each challenge has its own salt: a captured response does not work twice.
    const salts = new Set([0, 1, 2, 3].map(() => readAuth(createAuthenticator('md5', 'bob', parseSecret('pw')).start()).payload.toString('hex')))
    expect(salts.size).toBe(4)
  })

  it('switches to SCRAM for a user whose secret is a SCRAM verifier, as PostgreSQL does', () => {
    const auth = createAuthenticator('md5', 'bob', parseSecret(formatScramSecret(scramSecret('pw'))))
    expect(auth.method).toBe('scram-sha-256')
    expect(scramLogin(auth, 'pw').step.kind).toBe('ok')
  })

  it('checks cleartext passwords against every secret form; an empty password never passes', () => {
    const login = (secret: string | null, password: string) => {
      const a = createAuthenticator('password', 'dora', secret === null ? null : parseSecret(secret))
      expect(readAuth(a.start()).code).toBe(3)
      return a.receive(passwordBody(password)).kind
    }
    for (const stored of ['pw', md5Secret('pw', 'dora'), formatScramSecret(scramSecret('pw'))]) {
      expect(login(stored, 'pw')).toBe('ok')
      expect(login(stored, 'pW')).toBe('fail')
      expect(login(stored, '')).toBe('fail')
    }
    expect(login(null, 'pw')).toBe('fail')
    expect(sluiceErrorOf(() => createAuthenticator('password', 'dora', null).receive(Buffer.from('no terminator'))).sqlstate).toBe('08P01')
  })
  it('checks an unknown user at the cost of a known one (cleartext: one key derivation each)', () => {
    const attempt = (secret: Secret | null) => () => createAuthenticator('password', 'erin', secret).receive(passwordBody('guess'))
    // The three kinds are timed in turn, round after round, so that a machine whose speed drifts (another
    // test file runs beside this one) slows them alike; the median of each is compared.
    const kinds = [attempt(parseSecret(formatScramSecret(scramSecret('pw')))), attempt(null), attempt(parseSecret(md5Secret('pw', 'erin')))]
    const times: number[][] = kinds.map(() => [])
    for (let round = 0; round < 31; round++) {
      kinds.forEach((f, k) => {
        const t = process.hrtime.bigint()
        f()
        times[k]!.push(Number(process.hrtime.bigint() - t))
      })
    }
    const [known, unknown, md5Known] = times.map((ts) => ts.sort((x, y) => x - y)[15]!) as [number, number, number]
    // Without the mock derivation an unknown user answered hundreds of times faster; a factor of 3 either
    // way leaves room for a busy machine.
    expect(unknown / known).toBeGreaterThan(1 / 3)
    expect(unknown / known).toBeLessThan(3)
    expect(md5Known / known).toBeGreaterThan(1 / 3)
  })

  it('derives unknown users\' mock secrets from the server secret: stable across restarts, distinct per name', () => {
    const serverSecret = Buffer.alloc(32, 9)
    const saltOf = (user: string, mockSecret: Buffer) => scramLogin(createAuthenticator('scram-sha-256', user, null, { mockSecret }), 'x').salt
    expect(saltOf('ghost', serverSecret)).toBe(saltOf('ghost', Buffer.from(serverSecret)))
    expect(saltOf('ghost', serverSecret)).not.toBe(saltOf('ghost', Buffer.alloc(32, 8)))
    expect(Buffer.from(saltOf('ghost', serverSecret), 'base64')).toHaveLength(16)
  })
})

// ---- against the real PostgreSQL ------------------------------------------------------------------

describe('secrets made by the real PostgreSQL', () => {
  let admin: pg.Client
  const role = `sluice_auth_${process.pid}`

  beforeAll(async () => {
    admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await admin.connect()
    await admin.query(`DROP ROLE IF EXISTS ${role}`)
  })

  afterAll(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${role}`)
    await admin.end()
  })

  async function storedSecret(encryption: 'scram-sha-256' | 'md5', password: string): Promise<string> {
    await admin.query(`SET password_encryption = '${encryption}'`)
    await admin.query(`DROP ROLE IF EXISTS ${role}`)
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    const { rows } = await admin.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])
    return rows[0]!.rolpassword
  }

  it('reads a SCRAM verifier from pg_authid and authenticates with it', async () => {
    const text = await storedSecret('scram-sha-256', 'Tr0ub4dor&3')
    const secret = parseSecret(text)
    expect(secret.kind).toBe('scram')
    if (secret.kind !== 'scram') return
    expect(formatScramSecret(secret.scram)).toBe(text)
    // Same password and salt: the verifier we compute is byte for byte PostgreSQL's.
    expect(formatScramSecret(scramSecret('Tr0ub4dor&3', secret.scram.salt, secret.scram.iterations))).toBe(text)
    expect(checkPassword(secret, role, 'Tr0ub4dor&3')).toBe(true)
    expect(checkPassword(secret, role, 'tr0ub4dor&3')).toBe(false)
    expect(scramLogin(createAuthenticator('scram-sha-256', role, secret), 'Tr0ub4dor&3').serverSignatureOk).toBe(true)
  })

  it('computes the md5 hash PostgreSQL stores', async () => {
    expect(md5Secret('Tr0ub4dor&3', role)).toBe(await storedSecret('md5', 'Tr0ub4dor&3'))
  })
})

// ---- users file and the read-only allow-list ---------------------------------------------------------

describe('users', () => {
  it('parses name:role:secret lines, keeping colons in the secret', () => {
    const specs = parseUsersFile('# comment\n\nalice:admin:pa:ss\r\nbob : readonly :SCRAM-SHA-256$4096:c2FsdA==$a:b\n')
    expect(specs).toEqual([
      { name: 'alice', role: 'admin', secret: 'pa:ss' },
      { name: 'bob', role: 'readonly', secret: 'SCRAM-SHA-256$4096:c2FsdA==$a:b' },
    ])
    expect(() => parseUsersFile('carol:root:pw')).toThrow(/line 1: role must be one of admin, readonly/)
    expect(() => parseUsersFile('carol')).toThrow(/line 1: expected name:role:secret/)
    expect(() => new UserDirectory([{ name: 'x', role: 'admin', secret: '' }])).toThrow(/empty password/)
  })

  it('lets read-only users read and refuses everything else, including kinds it does not know', async () => {
    await initParser()
    const kinds = (sql: string) => parseStatements(sql).map((p) => readOnlyPermits(p.statement))
    const allowed = ['SELECT 1', 'SHOW streams', 'SHOW TimeZone', "SET TimeZone = 'UTC'", 'BEGIN', 'COMMIT', 'ROLLBACK', 'LISTEN ch', 'UNLISTEN *', 'EXPLAIN SELECT 1', 'DISCARD ALL', 'DEALLOCATE ALL']
    const denied = [
      'CREATE STREAM s (a INT)',
      'INSERT INTO s VALUES (1)',
      'DROP STREAM s',
      'DROP MATERIALIZED VIEW v',
      'ALTER STREAM s CLOSE',
      "NOTIFY ch, 'x'",
      'CHECKPOINT',
      'CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM s',
    ]
    for (const sql of allowed) expect([sql, kinds(sql)]).toEqual([sql, [true]])
    for (const sql of denied) {
      let verdict: boolean[]
      try {
        verdict = kinds(sql)
      } catch {
        continue // not parsed by this build: nothing to allow
      }
      expect([sql, verdict]).toEqual([sql, [false]])
    }
    const synthetic = (kind: string) => readOnlyPermits({ kind } as unknown as ast.Statement)
    for (const k of ['subscribe', 'copy_to', 'declare_cursor', 'fetch', 'close_cursor']) expect(synthetic(k)).toBe(true)
    for (const k of ['copy_from', 'grant', 'create_user', 'something_new']) expect(synthetic(k)).toBe(false)
    const explainAnalyze = { kind: 'explain', analyze: true, statement: { kind: 'insert' } } as unknown as ast.Statement
    expect(readOnlyPermits(explainAnalyze)).toBe(false)
  })
})

// ---- startup over real sockets ---------------------------------------------------------------------

/** A session stub: every statement is a no-op except `sleep`, which waits until cancelled. */
class StubBackend implements Backend {
  static cancelled = 0
  static opened: StartupInfo[] = []
  private wake: (() => void) | null = null
  constructor(startup: StartupInfo) {
    StubBackend.opened.push(startup)
  }
  prepare(sql: string): PreparedStatement[] {
    return sql.trim() === '' ? [] : [{ sql, paramTypes: [], columns: null }]
  }
  async execute(statement: PreparedStatement): Promise<Outcome> {
    if (statement.sql.trim() === 'sleep') {
      await new Promise<void>((resolve) => (this.wake = resolve))
      throw new SluiceError('execution', '57014', 'canceling statement due to user request')
    }
    return { kind: 'command', tag: 'OK' }
  }
  transactionStatus() {
    return 'I' as const
  }
  statementFailed(): void {}
  takeParameterChanges(): ReadonlyMap<string, string> {
    return new Map()
  }
  onAsync(): void {}
  cancel(): void {
    StubBackend.cancelled++
    this.wake?.()
  }
  close(): void {}
}

const factory: BackendFactory = { open: (s) => new StubBackend(s), initialParameters: () => new Map([['server_version', '15.0']]) }

/** A self-signed certificate made by the real openssl into a temp dir. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  return { cert, key }
}

const int32s = (...values: number[]): Buffer => {
  const b = Buffer.alloc(values.length * 4)
  values.forEach((v, i) => b.writeInt32BE(v, i * 4))
  return b
}
const SSL_REQUEST = int32s(8, 80877103)
const GSSENC_REQUEST = int32s(8, 80877104)

/** Connects, sends `bytes`, and resolves with the first chunk the server answers (or '' on close). */
function ask(port: number, bytes: Buffer): Promise<{ socket: Socket; answer: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes))
    socket.once('data', (answer) => resolve({ socket, answer }))
    socket.once('close', () => resolve({ socket, answer: Buffer.alloc(0) }))
    socket.once('error', reject)
  })
}

describe('startup with TLS', () => {
  let dir: string
  let context: SecureContext
  let plain: Listener
  let secure: Listener

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'))
    const { cert, key } = selfSigned(dir)
    context = createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) })
    plain = await startListener({ host: '127.0.0.1', port: 0, factory })
    secure = await startListener({ host: '127.0.0.1', port: 0, factory, security: { tls: context, auth: 'trust', users: null } })
  })

  afterAll(async () => {
    await plain.close()
    await secure.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("answers SSLRequest with 'N' without a certificate and 'S' with one; GSSENCRequest always with 'N'", async () => {
    for (const [port, request, expected] of [
      [plain.port, SSL_REQUEST, 'N'],
      [secure.port, SSL_REQUEST, 'S'],
      [secure.port, GSSENC_REQUEST, 'N'],
    ] as const) {
      const { socket, answer } = await ask(port, request)
      expect(answer.toString()).toBe(expected)
      socket.destroy()
    }
  })

  it('refuses bytes sent after SSLRequest before the answer', async () => {
    const { socket, answer } = await ask(secure.port, Buffer.concat([SSL_REQUEST, int32s(8, 196608)]))
    // An ErrorResponse in plain text, never 'S'.
    expect(String.fromCharCode(answer[0]!)).toBe('E')
    expect(answer.toString()).toContain('received unencrypted data after SSL request')
    socket.destroy()
  })

  it('runs the session inside TLS, and a CancelRequest inside TLS reaches it', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: secure.port, user: 'tls_user', database: 'db', ssl: { rejectUnauthorized: false } })
    await client.connect()
    const stream = (client as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream
    expect(stream.encrypted).toBe(true)
    expect(StubBackend.opened.at(-1)).toMatchObject({ user: 'tls_user', ssl: true, role: 'admin' })
    await client.query('select 1')
    const sleeping = client.query('sleep').then(
      () => 'finished',
      (err: Error) => err.message,
    )
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number }
    // psql cancels this way with sslmode=require: SSLRequest, 'S', TLS, then the CancelRequest inside.
    const { socket, answer } = await ask(secure.port, SSL_REQUEST)
    expect(answer.toString()).toBe('S')
    const tls = tlsConnect({ socket, rejectUnauthorized: false })
    await new Promise<void>((resolve) => tls.once('secureConnect', () => resolve()))
    tls.write(int32s(16, 80877102, processID, secretKey))
    await new Promise<void>((resolve) => tls.once('close', () => resolve()))
    expect(await sleeping).toBe('canceling statement due to user request')
    // The session goes on after the cancel.
    expect((await client.query('select 2')).command).toBe('OK')
    await client.end()
  })

  it('refuses an SSLRequest sent again inside TLS', async () => {
    const { socket, answer } = await ask(secure.port, SSL_REQUEST)
    expect(answer.toString()).toBe('S')
    const tls = tlsConnect({ socket, rejectUnauthorized: false })
    await new Promise<void>((resolve) => tls.once('secureConnect', () => resolve()))
    const reply = new Promise<Buffer>((resolve) => tls.once('data', resolve))
    tls.write(SSL_REQUEST)
    expect((await reply).toString()).toContain('encryption requested on an encrypted connection')
    tls.destroy()
  })
})

describe('startup with users', () => {
  let trust: Listener
  let scram: Listener
  const users = new UserDirectory([
    { name: 'reader', role: 'readonly', secret: 'pw' },
    { name: 'boss', role: 'admin', secret: 'pw' },
  ])

  beforeAll(async () => {
    trust = await startListener({ host: '127.0.0.1', port: 0, factory, security: { tls: null, auth: 'trust', users } })
    scram = await startListener({ host: '127.0.0.1', port: 0, factory, security: { tls: null, auth: 'scram-sha-256', users } })
  })

  afterAll(async () => {
    await trust.close()
    await scram.close()
  })

  const connectError = async (c: pg.Client): Promise<string> => {
    try {
      await c.connect()
    } catch (err) {
      return `${(err as { code?: string }).code} ${(err as Error).message}`
    }
    await c.end()
    return 'connected'
  }

  it('trust with users: listed names get in without a password and with their role, others do not', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: trust.port, user: 'reader', database: 'db' })
    await c.connect()
    expect(StubBackend.opened.at(-1)).toMatchObject({ user: 'reader', role: 'readonly', ssl: false })
    await c.end()
    expect(await connectError(new pg.Client({ host: '127.0.0.1', port: trust.port, user: 'ghost', database: 'db' }))).toBe('28000 role "ghost" does not exist')
  })

  it('gives the session the role of the user who logged in', async () => {
    for (const [user, role] of [['boss', 'admin'], ['reader', 'readonly']] as const) {
      const c = new pg.Client({ host: '127.0.0.1', port: scram.port, user, password: 'pw', database: 'db' })
      await c.connect()
      expect(StubBackend.opened.at(-1)).toMatchObject({ user, role })
      await c.end()
    }
  })

  it('refuses any message other than a password response during authentication', async () => {
    const params = Buffer.from('user\0boss\0database\0db\0\0')
    const startup = Buffer.concat([int32s(8 + params.length, 196608), params])
    const sessionsBefore = StubBackend.opened.length
    const { socket, answer } = await ask(scram.port, startup)
    expect(answer.subarray(0, 1).toString()).toBe('R')
    expect(answer.readInt32BE(5)).toBe(10)
    const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    const query = Buffer.from('SELECT 1\0')
    socket.write(Buffer.concat([Buffer.from('Q'), int32s(4 + query.length), query]))
    const error = (await reply).toString()
    expect(error).toContain('08P01')
    expect(error).toContain('expected password response')
    socket.destroy()
    expect(StubBackend.opened.length).toBe(sessionsBefore)
  })
})
