/**
 * The operations endpoints of the HTTP port: `GET /metrics` (Prometheus text format; with authentication
 * on, HTTP Basic credentials of any user), `GET /health` and `GET /ready` (open: orchestrators probe them;
 * see health.ts). docs/operations.md describes them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Engine } from '../executor/engine.ts'
import type { ConnectionSecurity } from './connection.ts'
import { HealthProbes, type ProbeAnswer } from './health.ts'
import { denialHeaders, httpIdentity } from './http-auth.ts'
import type { LoginThrottle } from './login-throttle.ts'
import { MetricsRegistry } from './metrics.ts'
import { CONTENT_TYPE } from './prometheus-text.ts'
import type { SessionRegistry } from './sessions.ts'

const PATHS = new Set(['/metrics', '/health', '/ready'])

export class OpsEndpoints {
  private readonly metrics: MetricsRegistry
  private readonly probes: HealthProbes

  /** Made once the catalog is replayed: readiness waits for the queries as they are now. */
  constructor(
    engine: Engine,
    sessions: SessionRegistry,
    private readonly security: ConnectionSecurity,
    private readonly throttle: LoginThrottle | null,
  ) {
    this.metrics = new MetricsRegistry(engine, sessions)
    this.probes = new HealthProbes(engine)
  }

  /** Whether the request is for one of these endpoints (any method: others are answered 405). */
  handles(req: IncomingMessage): boolean {
    return PATHS.has(pathOf(req.url))
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'application/json', JSON.stringify({ error: `${path} answers GET` }), { allow: 'GET, HEAD' })
    }
    if (path === '/health') return answer(res, this.probes.health())
    if (path === '/ready') return answer(res, this.probes.ready())
    const who = httpIdentity(this.security, this.throttle, req)
    if (who.kind === 'denied') {
      return send(res, who.status, 'application/json', JSON.stringify({ error: who.error.message, sqlstate: who.error.sqlstate }), denialHeaders(who.status))
    }
    try {
      send(res, 200, CONTENT_TYPE, await this.metrics.render())
    } catch (err) {
      console.error(`sluice: /metrics failed: ${(err as Error).stack ?? String(err)}`)
      send(res, 500, 'application/json', JSON.stringify({ error: 'metrics could not be gathered' }))
    }
  }

  close(): void {
    this.metrics.close()
  }
}

const pathOf = (url: string | undefined): string => {
  const path = (url ?? '').split('?', 1)[0]!
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

const answer = (res: ServerResponse, a: ProbeAnswer): void => send(res, a.status, 'application/json', JSON.stringify(a.body), { 'cache-control': 'no-store' })

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
