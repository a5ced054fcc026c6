/**
 * A Sluice server: the engine, the Postgres-protocol listener whose sessions drive it, and an HTTP endpoint
 * that ingests newline-delimited JSON (`POST /streams/<name>`).
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createSecureContext } from 'node:tls'
import { SluiceError, SqlState, toSluiceError } from '../common/errors.ts'
import { initParser } from '../parser/index.ts'
import { Engine, type EngineOptions } from '../executor/engine.ts'
import type { BackendFactory, StartupInfo } from './backend.ts'
import { startListener } from './listener.ts'
import { type AuthMethod, checkPassword, passwordFailed } from './auth.ts'
import type { ConnectionSecurity } from './connection.ts'
import { UserDirectory, readOnlyViolation, readUsersFile, type UserSpec } from './users.ts'
import { INITIAL_PARAMETERS, Session } from './session.ts'
import { IDEMPOTENCY_KEY, ingestBatch } from './http-ingest.ts'

export interface ServerOptions extends EngineOptions {
  readonly host?: string
  /** Postgres protocol port; 0 picks a free one. */
  readonly port?: number
  /** HTTP ingest port; undefined disables it, 0 picks a free one. */
  readonly httpPort?: number
  /** A users file (`name:role:secret` lines, see server/users.ts). */
  readonly usersFile?: string
  /** Users given directly; added after (and overriding) those of the users file. */
  readonly users?: readonly UserSpec[]
  /** Authentication method; defaults to scram-sha-256 when users are configured, else trust. */
  readonly auth?: AuthMethod
  /** PEM certificate chain and private key files: with both, SSLRequest is answered 'S'. */
  readonly tlsCert?: string
  readonly tlsKey?: string
}

export interface RunningServer {
  readonly engine: Engine
  readonly port: number
  readonly httpPort: number | null
  /** TLS and authentication as configured. */
  readonly security: ConnectionSecurity
  close(): Promise<void>
}

const MAX_HTTP_BODY = 64 * 1024 * 1024

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  await initParser()
  const security = connectionSecurity(options)
  const engine = await Engine.open(options)
  const factory: BackendFactory = {
    open: (startup: StartupInfo) => new Session(engine, startup),
    initialParameters: (startup: StartupInfo) => {
      const params = new Map(INITIAL_PARAMETERS)
      params.set('application_name', startup.applicationName)
      params.set('session_authorization', startup.user)
      params.set('is_superuser', startup.role === 'readonly' ? 'off' : 'on')
      return params
    },
  }
  const host = options.host ?? '127.0.0.1'
  const listener = await startListener({ host, port: options.port ?? 6866, factory, security })
  let http: HttpServer | null = null
  let httpPort: number | null = null
  if (options.httpPort !== undefined) {
    http = createServer((req, res) => void handleIngest(engine, security, req, res))
    await new Promise<void>((resolve, reject) => {
      http!.once('error', reject)
      http!.listen(options.httpPort, host, () => resolve())
    })
    const addr = http.address()
    httpPort = typeof addr === 'object' && addr !== null ? addr.port : null
  }
  return {
    engine,
    port: listener.port,
    httpPort,
    security,
    async close() {
      await listener.close()
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()))
      await engine.close()
    },
  }
}

const configError = (message: string): SluiceError => new SluiceError('auth', SqlState.invalidParameterValue, message)

/**
 * Reads the security options into what connections use, failing at start (not at the first login) on a
 * missing file, a bad certificate, or a method that could never let anyone in.
 */
export function connectionSecurity(options: ServerOptions): ConnectionSecurity {
  const specs = [...(options.usersFile === undefined ? [] : readUsersFile(options.usersFile)), ...(options.users ?? [])]
  const users = specs.length === 0 && options.usersFile === undefined ? null : new UserDirectory(specs)
  const auth = options.auth ?? (users === null ? 'trust' : 'scram-sha-256')
  if (auth !== 'trust' && users === null) throw configError(`authentication method ${auth} needs users (--users <file>)`)
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw configError('TLS needs both a certificate and a key (--tls-cert and --tls-key)')
  const tls =
    options.tlsCert === undefined || options.tlsKey === undefined
      ? null
      : createSecureContext({ cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) })
  return { tls, auth, users }
}

/**
 * Whether an HTTP insert may go ahead: with users and a password method configured, it needs HTTP Basic
 * credentials of an admin (an insert is a write), checked like a cleartext password. Null when allowed.
 */
function ingestDenial(security: ConnectionSecurity, authorization: string | undefined): { status: 401 | 403; error: SluiceError } | null {
  if (security.users === null || security.auth === 'trust') return null
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '')
  const decoded = m === null ? '' : Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const name = colon < 0 ? '' : decoded.slice(0, colon)
  const user = security.users.get(name)
  if (user === null || !checkPassword(user.secret, name, decoded.slice(colon + 1))) {
    return { status: 401, error: name === '' ? new SluiceError('auth', SqlState.invalidPassword, 'HTTP Basic authentication required') : passwordFailed(name) }
  }
  return user.role === 'admin' ? null : { status: 403, error: readOnlyViolation(name) }
}

/**
 * `POST /streams/<name>` with one JSON object per line; answers how many events were accepted and rejected
 * and why (see http-ingest.ts). With an `Idempotency-Key` header, a retry of the batch gets the first answer
 * and is not appended again (see executor/ingest-keys.ts).
 */
async function handleIngest(engine: Engine, security: ConnectionSecurity, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
  const m = /^\/streams\/([A-Za-z_][A-Za-z0-9_]*)\/?$/.exec(req.url ?? '')
  if (req.method !== 'POST' || m === null) return reply(404, { error: 'POST newline-delimited JSON to /streams/<name>' })
  const denied = ingestDenial(security, req.headers.authorization)
  if (denied !== null) return reply(denied.status, { error: denied.error.message, sqlstate: denied.error.sqlstate }, denied.status === 401 ? { 'www-authenticate': 'Basic realm="sluice"' } : {})
  const key = req.headers['idempotency-key']
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
    return reply(400, { error: 'Idempotency-Key must be 1 to 255 visible ASCII characters', sqlstate: SqlState.invalidParameterValue })
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_HTTP_BODY) return reply(413, { error: `body larger than ${MAX_HTTP_BODY} bytes` })
    chunks.push(chunk as Buffer)
  }
  const stream = m[1]!.toLowerCase()
  const body = Buffer.concat(chunks)
  try {
    if (key === undefined) {
      const answer = await ingestBatch(engine, stream, body)
      return reply(answer.status, answer.body)
    }
    const answer = await engine.ingestKeys.answer(stream, key, () => ingestBatch(engine, stream, body))
    reply(answer.status, answer.body, answer.replayed ? { 'idempotent-replayed': 'true' } : {})
  } catch (err) {
    const e = toSluiceError(err)
    reply(500, { error: e.message, sqlstate: e.sqlstate })
  }
}
