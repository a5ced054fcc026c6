/**
 * A Sluice server: the engine, the Postgres-protocol listener whose sessions drive it, and an HTTP endpoint
 * that ingests newline-delimited JSON (`POST /streams/<name>`) and answers `/metrics`, `/health` and `/ready`.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createSecureContext } from 'node:tls'
import { SluiceError, SqlState, toSluiceError } from '../common/errors.ts'
import { initParser } from '../parser/index.ts'
import { Engine, type EngineOptions } from '../executor/engine.ts'
import { decodeThreadByDefault } from '../executor/decode-worker.ts'
import type { BackendFactory, StartupInfo } from './backend.ts'
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_RESERVED_CONNECTIONS, checkConnectionLimits, startListener } from './listener.ts'
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottleOptions } from './login-throttle.ts'
import { DEFAULT_MAX_MESSAGE_LENGTH, MAX_STARTUP_LENGTH, PG_MAX_MESSAGE_LENGTH } from './wire/reader.ts'
import { type AuthMethod, mockSalt } from './auth.ts'
import { denialHeaders, httpIdentity } from './http-auth.ts'
import type { ConnectionSecurity } from './connection.ts'
import { UserDirectory, readOnlyViolation, readUsersFile, type UserSpec } from './users.ts'
import { Session } from './session.ts'
import { INITIAL_PARAMETERS, startupTimeZone } from './settings.ts'
import { DEFAULT_QUERY_LIMITS, SessionRegistry } from './sessions.ts'
import { IDEMPOTENCY_KEY, ingestBatch } from './http-ingest.ts'
import { ConsoleServer } from './console/router.ts'
import { OpsEndpoints } from './ops-http.ts'
import { handlePeerRows, isPeerRequest } from './http-cluster.ts'
// Cluster mode's modules (and their Kafka clients) load only for a node: `sluice serve --cluster`.
import type { ClusterNode } from '../cluster/node.ts'

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
  /** Largest protocol message after authentication, in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number
  /** Sessions at most, authenticated or authenticating (default 100). */
  readonly maxConnections?: number
  /** Of those, how many only admins may take (default 3). */
  readonly reservedConnections?: number
  /** Failed-login throttling per client address; `failures: 0` turns it off. */
  readonly loginThrottle?: Partial<LoginThrottleOptions>
  /** Source events a SUBSCRIBE may fall behind by before it is ended with 53400; 0: no limit (see executor/change-feed.ts). */
  readonly subscribeMaxLag?: number
  /** Memory budget of one pull query in bytes (default 256 MiB; sessions may change theirs with sluice.query_memory). */
  readonly queryMemory?: number
  /** Default statement_timeout in milliseconds (0, the default, is none). */
  readonly statementTimeoutMs?: number
  /** Cluster mode (cluster/node.ts): the cluster this process is a node of; needs `kafkaBrokers`. */
  readonly cluster?: string
  /** Cluster mode: state changelog topics (default true; false: a moved task re-reads its input instead). */
  readonly clusterChangelog?: boolean
  /** Cluster mode: standby copies of each task kept on other nodes (default 0; cluster/standby.ts). */
  readonly clusterStandbys?: number
}

export interface RunningServer {
  readonly engine: Engine
  readonly port: number
  readonly httpPort: number | null
  /** TLS and authentication as configured. */
  readonly security: ConnectionSecurity
  /** The cluster node, in cluster mode. */
  readonly cluster?: ClusterNode
  close(): Promise<void>
}

const MAX_HTTP_BODY = 64 * 1024 * 1024

/** Where the secret behind unknown users' mock challenges is kept, so that they look the same after a restart. */
const MOCK_SECRET_FILE = 'auth-mock-secret'
const MOCK_SECRET_BYTES = 32

/** Reads the data directory's mock-authentication secret, creating it (owner-only) on first start. */
async function loadMockSecret(dataDir: string): Promise<Buffer> {
  await mkdir(dataDir, { recursive: true })
  const path = join(dataDir, MOCK_SECRET_FILE)
  try {
    const handle = await open(path, 'wx', 0o600)
    const secret = randomBytes(MOCK_SECRET_BYTES)
    try {
      await handle.writeFile(secret)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const secret = readFileSync(path)
  if (secret.length !== MOCK_SECRET_BYTES) throw configError(`${path} is not a ${MOCK_SECRET_BYTES}-byte secret; delete it to have a new one made`)
  return secret
}

/** Checks the limit options at start; a bad value must not become a server nobody can use. */
function protocolLimits(options: ServerOptions): { maxMessageBytes: number; maxConnections: number; reserved: number; throttle: LoginThrottleOptions } {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_LENGTH
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < MAX_STARTUP_LENGTH || maxMessageBytes > PG_MAX_MESSAGE_LENGTH) {
    throw configError(`max_message_bytes must be an integer from ${MAX_STARTUP_LENGTH} to ${PG_MAX_MESSAGE_LENGTH}, not ${maxMessageBytes}`)
  }
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const reserved = options.reservedConnections ?? Math.min(DEFAULT_RESERVED_CONNECTIONS, maxConnections - 1)
  checkConnectionLimits(maxConnections, reserved)
  return { maxMessageBytes, maxConnections, reserved, throttle: { ...DEFAULT_LOGIN_THROTTLE, ...options.loginThrottle } }
}

/** Runs `start`, which binds a port; an address in use or a port we may not bind becomes one clear sentence. */
async function listenOn(what: string, host: string, port: number, start: () => Promise<void>): Promise<void> {
  try {
    await start()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const reason = e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'address not available' : e.message
    const out = new Error(`cannot listen for ${what} on ${host}:${port}: ${reason}${e.code ? ` (${e.code})` : ''}`) as NodeJS.ErrnoException
    out.code = e.code
    throw out
  }
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  await initParser()
  const limits = protocolLimits(options)
  const maxLag = options.subscribeMaxLag
  if (maxLag !== undefined && !(Number.isSafeInteger(maxLag) && maxLag >= 0)) {
    throw new SluiceError('plan', SqlState.invalidParameterValue, `--subscribe-max-lag must be a whole number of events (0: no limit), not ${maxLag}`)
  }
  const mockSecret = await loadMockSecret(options.dataDir)
  const security = connectionSecurity(options, mockSecret)
  const throttle = new LoginThrottle(limits.throttle)
  // A cluster node's own engine keeps the catalog and reads no partition: its task engines compute the views.
  const engine = await Engine.open(options.cluster === undefined ? { ...options, decodeThread: options.decodeThread ?? decodeThreadByDefault() } : { ...options, kafkaPartitions: [] })
  if (maxLag !== undefined) engine.changes.limits = { ...engine.changes.limits, maxLag }
  let node: ClusterNode | null = null
  try {
    if (options.cluster !== undefined) {
      if ((options.kafkaBrokers ?? []).length === 0) throw configError('--cluster needs --kafka host:port (the cluster lives in Kafka)')
      const { ClusterNode } = await import('../cluster/node.ts')
      node = await ClusterNode.start(engine, { name: options.cluster, brokers: options.kafkaBrokers!, dataDir: options.dataDir, changelog: options.clusterChangelog ?? true, standbys: options.clusterStandbys ?? 0 })
    }
    const server = await serve(engine, options, limits, security, throttle, node)
    const clusterNode = node
    if (clusterNode === null) return server
    const host = options.host ?? '127.0.0.1'
    clusterNode.join(`${host}:${server.port}`, server.httpPort === null ? null : `${host}:${server.httpPort}`)
    return { ...server, cluster: clusterNode, close: async () => (await clusterNode.close(), await server.close()) }
  } catch (err) {
    // Nothing may stay open (RocksDB's lock in particular) when the server cannot start.
    await node?.close().catch(() => {})
    await engine.close().catch(() => {})
    throw err
  }
}

async function serve(engine: Engine, options: ServerOptions, limits: ReturnType<typeof protocolLimits>, security: ConnectionSecurity, throttle: LoginThrottle, node: ClusterNode | null): Promise<RunningServer> {
  const serverSettings = new Map([
    ['max_connections', String(limits.maxConnections)],
    ['superuser_reserved_connections', String(limits.reserved)],
    ['max_message_bytes', String(limits.maxMessageBytes)],
  ])
  const sessions = new SessionRegistry({
    queryMemory: options.queryMemory ?? DEFAULT_QUERY_LIMITS.queryMemory,
    statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_QUERY_LIMITS.statementTimeoutMs,
  })
  const factory: BackendFactory = {
    open: (startup: StartupInfo) => new Session(engine, { ...startup, serverSettings }, sessions),
    initialParameters: (startup: StartupInfo) => {
      const params = new Map(INITIAL_PARAMETERS)
      params.set('application_name', startup.applicationName)
      params.set('session_authorization', startup.user)
      params.set('is_superuser', startup.role === 'readonly' ? 'off' : 'on')
      const zone = startupTimeZone(startup)
      if (zone !== undefined) params.set('TimeZone', zone.name)
      return params
    },
  }
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 6866
  let listener!: Awaited<ReturnType<typeof startListener>>
  await listenOn('Postgres clients', host, port, async () => {
    listener = await startListener({
      host,
      port,
      factory,
      security,
      maxConnections: limits.maxConnections,
      reservedConnections: limits.reserved,
      messageLimit: { bytes: limits.maxMessageBytes, kind: 'configured' },
      throttle: throttle.enabled ? throttle : null,
    })
  })
  let http: HttpServer | null = null
  let webConsole: ConsoleServer | null = null
  let httpPort: number | null = null
  let ops: OpsEndpoints | null = null
  if (options.httpPort !== undefined) {
    const httpThrottle = throttle.enabled ? throttle : null
    // Ops endpoints (/metrics, /health, /ready: ops-http.ts) first, then POST /streams/ to ingest, then the
    // web console (server/console/router.ts), which answers any other GET with its page and so comes last.
    const endpoints = (ops = new OpsEndpoints(engine, sessions, security, httpThrottle))
    const ingest = (req: IncomingMessage) => req.method === 'POST' && (req.url ?? '').startsWith('/streams/')
    webConsole = new ConsoleServer({ factory, security, throttle: httpThrottle })
    http = createServer((req, res) => {
      if (endpoints.handles(req)) void endpoints.serve(req, res)
      else if (node !== null && isPeerRequest(req)) void handlePeerRows(node, req, res).catch(() => res.destroy())
      else if (ingest(req)) void handleIngest(engine, security, httpThrottle, req, res)
      else void webConsole!.handle(req, res)
    })
    try {
      await listenOn('HTTP ingest', host, options.httpPort, () =>
        new Promise<void>((resolve, reject) => {
          http!.once('error', reject)
          http!.listen(options.httpPort, host, () => resolve())
        }),
      )
    } catch (err) {
      endpoints.close()
      await listener.close()
      throw err
    }
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
      webConsole?.close()
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()))
      ops?.close()
      await engine.close()
    },
  }
}

const configError = (message: string): SluiceError => new SluiceError('auth', SqlState.invalidParameterValue, message)

/**
 * Reads the security options into what connections use, failing at start (not at the first login) on a
 * missing file, a bad certificate, or a method that could never let anyone in.
 */
export function connectionSecurity(options: ServerOptions, mockSecret?: Buffer): ConnectionSecurity {
  const specs = [...(options.usersFile === undefined ? [] : readUsersFile(options.usersFile)), ...(options.users ?? [])]
  const saltFor = mockSecret === undefined ? undefined : (user: string) => mockSalt(user, mockSecret)
  const users = specs.length === 0 && options.usersFile === undefined ? null : new UserDirectory(specs, saltFor)
  const auth = options.auth ?? (users === null ? 'trust' : 'scram-sha-256')
  if (auth !== 'trust' && users === null) throw configError(`authentication method ${auth} needs users (--users <file>)`)
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw configError('TLS needs both a certificate and a key (--tls-cert and --tls-key)')
  const tls =
    options.tlsCert === undefined || options.tlsKey === undefined
      ? null
      : createSecureContext({ cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) })
  return { tls, auth, users, mockSecret }
}

/**
 * `POST /streams/<name>` with one JSON object per line; answers how many events were accepted and rejected
 * and why (see http-ingest.ts). With an `Idempotency-Key` header, a retry of the batch gets the first answer
 * and is not appended again (see executor/ingest-keys.ts).
 */
async function handleIngest(engine: Engine, security: ConnectionSecurity, throttle: LoginThrottle | null, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
  const m = /^\/streams\/([A-Za-z_][A-Za-z0-9_]*)\/?$/.exec(req.url ?? '')
  if (req.method !== 'POST' || m === null) return reply(404, { error: 'POST newline-delimited JSON to /streams/<name>' })
  // With users configured, an insert (a write) needs an admin's HTTP Basic credentials.
  const who = httpIdentity(security, throttle, req)
  if (who.kind === 'denied') return reply(who.status, { error: who.error.message, detail: who.error.detail, sqlstate: who.error.sqlstate }, denialHeaders(who.status))
  if (who.kind === 'user' && who.role !== 'admin') {
    const error = readOnlyViolation(who.name)
    return reply(403, { error: error.message, sqlstate: error.sqlstate })
  }
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
    const answer = await engine.ingestKeys.answer(stream, key, () => ingestBatch(engine, stream, body, key))
    reply(answer.status, answer.body, answer.replayed ? { 'idempotent-replayed': 'true' } : {})
  } catch (err) {
    const e = toSluiceError(err)
    reply(500, { error: e.message, sqlstate: e.sqlstate })
  }
}
