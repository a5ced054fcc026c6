/**
 * The web console on the HTTP port, beside `POST /streams/<name>` ingest:
 *
 *   GET  /api/me                 who is logged in ({user, role, loginRequired}); 401 when nobody
 *   POST /api/login              {user, password}: sets the session cookie
 *   POST /api/logout
 *   POST /api/sql                {sql}: runs its statements ({results, error?}, see statements.ts)
 *   POST /api/explain            {sql}: EXPLAIN of it as an operator tree ({plans, lines} or {error})
 *   GET  /api/overview           the system tables the overview shows (overview.ts)
 *   GET  /api/live/<view>        Server-Sent Events of the view's changes (live.ts)
 *   GET  anything else           the browser app (static.ts)
 *
 * Every API call runs as the logged-in user, through the same Session as a Postgres connection, so what a
 * user may do is decided in one place (server/users.ts). POSTs must be `application/json`, which a page of
 * another origin cannot send without the browser asking first; the cookie is SameSite=Strict besides.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SluiceError, SqlState, toSluiceError } from '../../common/errors.ts'
import type { Backend, BackendFactory } from '../backend.ts'
import type { ConnectionSecurity } from '../connection.ts'
import type { LoginThrottle } from '../login-throttle.ts'
import { openBackend, withBackend } from './backends.ts'
import { explainTree } from './explain-tree.ts'
import { badRequest, readJsonBody, replyError, replyJson } from './http.ts'
import { live } from './live-registry.ts'
import { ConsoleLogins, type ConsoleUser, loginRequired } from './logins.ts'
import { readOverview } from './overview.ts'
import { runStatements } from './statements.ts'
import { serveStatic } from './static.ts'
import { streamView } from './live.ts'

export interface ConsoleOptions {
  readonly factory: BackendFactory
  readonly security: ConnectionSecurity
  readonly throttle: LoginThrottle | null
}

const LIVE_PATH = /^\/api\/live\/([A-Za-z_][A-Za-z0-9_$]*)$/

export class ConsoleServer {
  private readonly logins: ConsoleLogins
  private readonly feeds = live()

  constructor(private readonly options: ConsoleOptions) {
    this.logins = new ConsoleLogins(options.security, options.throttle)
  }

  /** Answers one request; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res)
    } catch (err) {
      const e = toSluiceError(err)
      if (!res.headersSent) replyError(res, e.category === 'internal' ? 500 : 400, e)
      else res.end()
    }
  }

  /** Ends every live feed, so that the HTTP server can close. */
  close(): void {
    this.feeds.closeAll()
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://console').pathname
    if (!path.startsWith('/api/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return replyJson(res, 405, { error: { message: 'only GET here' } }, { allow: 'GET, HEAD' })
      return serveStatic(req, res, path)
    }
    if (req.method === 'POST' && !String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return replyError(res, 415, badRequest('POST application/json'))
    }
    const address = req.socket.remoteAddress ?? ''
    if (req.method === 'POST' && path === '/api/login') return this.login(req, res, address)
    if (req.method === 'POST' && path === '/api/logout') return replyJson(res, 200, {}, { 'set-cookie': this.logins.logout(req) })
    const user = this.logins.userOf(req)
    if (user === null) return replyError(res, 401, loginRequired())
    if (req.method === 'GET' && path === '/api/me') return replyJson(res, 200, { user: user.name, role: user.role, loginRequired: this.logins.required })
    if (req.method === 'POST' && path === '/api/sql') return this.sql(req, res, user, address)
    if (req.method === 'POST' && path === '/api/explain') return this.explain(req, res, user, address)
    if (req.method === 'GET' && path === '/api/overview') return replyJson(res, 200, await withBackend(this.options.factory, user, address, readOverview))
    const m = LIVE_PATH.exec(path)
    if (req.method === 'GET' && m !== null) return this.live(res, user, address, m[1]!.toLowerCase())
    replyError(res, 404, new SluiceError('plan', SqlState.undefinedObject, `no API ${req.method} ${path}`))
  }

  private async login(req: IncomingMessage, res: ServerResponse, address: string): Promise<void> {
    const body = await readJsonBody(req)
    try {
      const { user, cookie } = this.logins.login(String(body.user ?? ''), String(body.password ?? ''), address)
      replyJson(res, 200, { user: user.name, role: user.role, loginRequired: this.logins.required }, cookie === '' ? {} : { 'set-cookie': cookie })
    } catch (err) {
      const e = toSluiceError(err)
      replyError(res, e.sqlstate === SqlState.invalidAuthorization ? 429 : 401, e)
    }
  }

  private async sql(req: IncomingMessage, res: ServerResponse, user: ConsoleUser, address: string): Promise<void> {
    const sql = statementText(await readJsonBody(req))
    replyJson(res, 200, await withBackend(this.options.factory, user, address, (b) => runStatements(b, sql)))
  }

  private async explain(req: IncomingMessage, res: ServerResponse, user: ConsoleUser, address: string): Promise<void> {
    const sql = statementText(await readJsonBody(req))
    const prefix = 'EXPLAIN '
    const answer = await withBackend(this.options.factory, user, address, (b) => (statementCount(b, sql) > 1 ? Promise.resolve({ results: [], error: oneAtATime() }) : runStatements(b, prefix + sql)))
    if (answer.error !== undefined) {
      const p = answer.error.position
      return replyJson(res, 200, { error: { ...answer.error, position: p === undefined ? undefined : Math.max(1, p - prefix.length) } })
    }
    const lines = (answer.results[0]?.rows ?? []).map((r) => r[0] ?? '')
    replyJson(res, 200, { plans: explainTree(lines), lines })
  }

  private async live(res: ServerResponse, user: ConsoleUser, address: string, view: string): Promise<void> {
    const backend = openBackend(this.options.factory, user, address)
    const done = this.feeds.add(res)
    try {
      await streamView(backend, view, res)
    } finally {
      done()
      backend.close()
    }
  }
}

function statementText(body: Record<string, unknown>): string {
  if (typeof body.sql !== 'string') throw badRequest('the body needs "sql": the statement text')
  return body.sql
}

/** How many statements `sql` holds; 1 when it does not parse (EXPLAIN then reports the syntax error). */
function statementCount(b: Backend, sql: string): number {
  try {
    return b.prepare(sql, []).length
  } catch {
    return 1
  }
}

const oneAtATime = () => ({ sqlstate: SqlState.syntaxError, message: 'EXPLAIN takes one statement at a time' })
