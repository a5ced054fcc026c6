/**
 * A Sluice server: the engine, the Postgres-protocol listener whose sessions drive it, and an HTTP endpoint
 * that ingests newline-delimited JSON (`POST /streams/<name>`).
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { toSluiceError } from '../common/errors.ts'
import { initParser } from '../parser/index.ts'
import { Engine, type EngineOptions } from '../executor/engine.ts'
import type { BackendFactory, StartupInfo } from './backend.ts'
import { startListener } from './listener.ts'
import { INITIAL_PARAMETERS, Session } from './session.ts'

export interface ServerOptions extends EngineOptions {
  readonly host?: string
  /** Postgres protocol port; 0 picks a free one. */
  readonly port?: number
  /** HTTP ingest port; undefined disables it, 0 picks a free one. */
  readonly httpPort?: number
}

export interface RunningServer {
  readonly engine: Engine
  readonly port: number
  readonly httpPort: number | null
  close(): Promise<void>
}

const MAX_HTTP_BODY = 64 * 1024 * 1024

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  await initParser()
  const engine = await Engine.open(options)
  const factory: BackendFactory = {
    open: (startup: StartupInfo) => new Session(engine, startup),
    initialParameters: (startup: StartupInfo) => {
      const params = new Map(INITIAL_PARAMETERS)
      params.set('application_name', startup.applicationName)
      params.set('session_authorization', startup.user)
      return params
    },
  }
  const host = options.host ?? '127.0.0.1'
  const listener = await startListener({ host, port: options.port ?? 6866, factory })
  let http: HttpServer | null = null
  let httpPort: number | null = null
  if (options.httpPort !== undefined) {
    http = createServer((req, res) => void handleIngest(engine, req, res))
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
    async close() {
      await listener.close()
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()))
      await engine.close()
    },
  }
}

/** `POST /streams/<name>` with one JSON object per line; answers `{"inserted": n}`. */
async function handleIngest(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const m = /^\/streams\/([A-Za-z_][A-Za-z0-9_]*)\/?$/.exec(req.url ?? '')
  if (req.method !== 'POST' || m === null) return reply(404, { error: 'POST newline-delimited JSON to /streams/<name>' })
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_HTTP_BODY) return reply(413, { error: `body larger than ${MAX_HTTP_BODY} bytes` })
    chunks.push(chunk as Buffer)
  }
  const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l.trim() !== '')
  try {
    const n = await engine.insertJson(m[1]!.toLowerCase(), lines)
    reply(200, { inserted: n })
  } catch (err) {
    const e = toSluiceError(err)
    reply(e.sqlstate === '42P01' ? 404 : 400, { error: e.message, sqlstate: e.sqlstate })
  }
}
