/**
 * The console's HTTP API against a real server with authentication on: logins and the session cookie,
 * statements run with the user's role, errors with SQLSTATE and position, EXPLAIN as a tree, the overview,
 * a view's live rows over Server-Sent Events, and the bundle's size.
 */
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DIST } from '../console/build.ts'
import { ADMIN, ApiClient, type ConsoleServer, READER, startConsoleServer } from './console/harness.ts'

let server: ConsoleServer
let admin: ApiClient

beforeAll(async () => {
  server = await startConsoleServer()
  admin = new ApiClient(server.base)
  expect((await admin.login(ADMIN)).status).toBe(200)
})

afterAll(async () => {
  await server?.stop()
})

describe('console logins', () => {
  it('sets an HttpOnly, SameSite=Strict cookie and knows the user and role', async () => {
    const c = new ApiClient(server.base)
    const res = await c.login(READER)
    expect(res.status).toBe(200)
    const set = res.headers.get('set-cookie') ?? ''
    expect(set).toMatch(/HttpOnly/)
    expect(set).toMatch(/SameSite=Strict/)
    expect(await (await c.get('/api/me')).json()).toEqual({ user: 'bob', role: 'readonly', loginRequired: true })
  })

  it('refuses a wrong password, no cookie, a forged cookie and a logged-out cookie', async () => {
    const wrong = await new ApiClient(server.base).login({ user: ADMIN.user, password: 'nope' })
    expect(wrong.status).toBe(401)
    expect(((await wrong.json()) as { error: { sqlstate: string } }).error.sqlstate).toBe('28P01')
    expect((await fetch(`${server.base}/api/me`)).status).toBe(401)
    const forged = await fetch(`${server.base}/api/me`, { headers: { cookie: 'sluice_console=abc.def' } })
    expect(forged.status).toBe(401)
    const c = new ApiClient(server.base)
    await c.login(ADMIN)
    const cookie = c.cookieHeader
    expect((await c.get('/api/me')).status).toBe(200)
    await c.post('/api/logout', {})
    expect((await fetch(`${server.base}/api/me`, { headers: { cookie } })).status).toBe(401)
  })

  it('takes POSTs only as application/json (a form of another site cannot send one unasked)', async () => {
    const res = await fetch(`${server.base}/api/sql`, { method: 'POST', headers: { cookie: admin.cookieHeader, 'content-type': 'text/plain' }, body: '{"sql":"SELECT 1"}' })
    expect(res.status).toBe(415)
  })
})

describe('console statements', () => {
  it('runs statements as the user: the admin deploys, the read-only user reads and is refused changes', async () => {
    expect((await admin.sql("CREATE STREAM api_s (k text, v int, ts timestamptz NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 2)")).error).toBeUndefined()
    const created = await admin.sql("CREATE MATERIALIZED VIEW api_w AS SELECT window_start, k, count(*) AS n FROM TUMBLE(api_s, ts, INTERVAL '10 seconds') GROUP BY window_start, k")
    expect(created.results[0]!.tag).toBe('CREATE MATERIALIZED VIEW')
    const reader = new ApiClient(server.base)
    await reader.login(READER)
    const refused = await reader.sql('DROP MATERIALIZED VIEW api_w')
    expect(refused.error?.sqlstate).toBe('42501')
    const read = await reader.sql("SELECT name FROM sluice_queries WHERE name = 'api_w'")
    expect(read.results[0]!.rows).toEqual([['api_w']])
  })

  it('reports errors with SQLSTATE and the position in characters', async () => {
    const a = await admin.sql('SELECT 1 + nosuchcolumn')
    expect(a.error?.sqlstate).toBe('42703')
    expect(a.error?.position).toBe(12)
    const syntax = await admin.sql("SELECT 'é', 1 +")
    expect(syntax.error?.sqlstate).toBe('42601')
    expect(syntax.error?.position).toBe(16)
  })

  it('gives EXPLAIN as an operator tree', async () => {
    const res = (await (await admin.post('/api/explain', { sql: 'SELECT k, count(*) FROM api_s GROUP BY k' })).json()) as { plans: { name: string; children: { name: string }[] }[] }
    expect(res.plans).toHaveLength(1)
    expect(res.plans[0]!.name).toBe('HashAggregate')
    expect(res.plans[0]!.children[0]!.name).toBe('LogScan')
  })

  it('reads the overview from the system tables', async () => {
    const o = (await (await admin.get('/api/overview')).json()) as { streams: { name: string }[]; queries: { name: string; status: string }[]; progress: unknown }
    expect(o.streams.map((s) => s.name)).toContain('api_s')
    expect(o.queries.find((q) => q.name === 'api_w')?.status).toBe('running')
  })
})

describe('console live rows', () => {
  it('sends the columns, the snapshot and then each change as Server-Sent Events', async () => {
    server.psql("INSERT INTO api_s VALUES ('a', 1, '2026-01-01 00:00:01+00')")
    const controller = new AbortController()
    const res = await fetch(`${server.base}/api/live/api_w`, { headers: { cookie: admin.cookieHeader }, signal: controller.signal })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = res.body!.getReader()
    let text = ''
    const until = async (want: RegExp) => {
      while (!want.test(text)) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`feed ended: ${text}`)
        text += Buffer.from(value).toString('utf8')
      }
    }
    await until(/event: columns\ndata: \{"columns":\[\{"name":"window_start"/)
    await until(/\[1,"2026-01-01 00:00:00\+00","a","1"\]/)
    server.psql("INSERT INTO api_s VALUES ('a', 1, '2026-01-01 00:00:02+00')")
    await until(/\[-1,"2026-01-01 00:00:00\+00","a","1"\][^\n]*\[1,"2026-01-01 00:00:00\+00","a","2"\]|\[1,"2026-01-01 00:00:00\+00","a","2"\]/)
    controller.abort()
  })

  it("checks SUBSCRIBE's min_interval (which live pages use)", async () => {
    expect((await admin.sql("SUBSCRIBE api_w WITH (min_interval = 'soon')")).error?.sqlstate).toBe('22023')
    expect((await admin.sql("SUBSCRIBE api_w WITH (min_interval = '2 min')")).error?.sqlstate).toBe('22023')
    // A valid one plans; the editor then declines to wait on a SUBSCRIBE that never ends.
    expect((await admin.sql("SUBSCRIBE api_w WITH (min_interval = '250ms')")).error?.sqlstate).toBe('0A000')
  })

  it('answers an unknown view with a failure event', async () => {
    const res = await admin.get('/api/live/no_such_view')
    const body = await res.text()
    expect(body).toMatch(/event: failure\ndata: \{"sqlstate":"42P01"/)
  })
})

describe('console bundle', () => {
  it('serves the app at / and under page paths, and the bundle is under 300 KB gzipped', async () => {
    for (const path of ['/', '/views/api_w', '/sql']) {
      const res = await fetch(`${server.base}${path}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toMatch(/<script type="module" src="\/assets\/app.js">/)
    }
    const js = readFileSync(`${DIST}app.js`)
    const css = readFileSync(`${DIST}app.css`)
    const gzipped = gzipSync(js).length + gzipSync(css).length
    expect(gzipped).toBeGreaterThan(10_000)
    expect(gzipped).toBeLessThan(300 * 1024)
  })
})
