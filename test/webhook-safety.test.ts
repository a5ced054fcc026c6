/**
 * Where webhooks may go and what they show, against real `sluice serve` processes and a real HTTP receiver
 * on 127.0.0.1: loopback is refused unless `--webhook-allow` names it (at CREATE TRIGGER when the URL says
 * so, at delivery otherwise, as a failure and never a delivery), a redirect is not followed, and a
 * read-only user (test/auth.test.ts has the users file) sees URLs without their credentials and tokens.
 */
import { writeFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const ALLOW_RECEIVER = ['--webhook-allow', '127.0.0.1']
const CSV = { args: ['-A', '-t', '-F', ','] }

/** What the receiver saw: per path, the requests (method and headers). */
const seen = new Map<string, { method: string; headers: IncomingHttpHeaders }[]>()
const hits = (path: string) => seen.get(path) ?? []
let server: Server
let port = 0

beforeAll(async () => {
  // /ok accepts; /redirect answers 302 to /internal (which would accept anything that came).
  server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!
      seen.set(path, [...hits(path), { method: req.method ?? '', headers: req.headers }])
      if (path === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/internal` }).end()
      else res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((r) => server.close(r))
})

async function errorOf(c: pg.Client, sql: string): Promise<{ code?: string; position?: string; message: string }> {
  try {
    await c.query(sql)
  } catch (err) {
    return err as { code?: string; position?: string; message: string }
  }
  throw new Error(`no error from: ${sql}`)
}

describe('webhook destinations', () => {
  let dataDir: string
  let sluice: SluiceProcess | undefined
  beforeAll(async () => {
    dataDir = await tempDataDir()
  })
  afterAll(async () => {
    await sluice?.stop()
    await removeDir(dataDir)
  })

  test('loopback only when allowed: refused at CREATE TRIGGER with its position, and at delivery as failed, not delivered', async () => {
    sluice = await startSluice({ dataDir, args: ALLOW_RECEIVER })
    sluice.psql('CREATE STREAM pings (id INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = \'id\')')
    sluice.psql(`CREATE TRIGGER ping_hook AFTER INSERT ON pings FOR EACH ROW EXECUTE WEBHOOK 'http://127.0.0.1:${port}/ok', NEW.id::text WITH (retries = 3, backoff = INTERVAL '10 milliseconds')`)
    sluice.psql("INSERT INTO pings VALUES (1, '2026-12-01 10:00:00+00')")
    const counters = () => sluice!.psql("SELECT fires, delivered, pending, failed, retried FROM sluice_triggers WHERE name = 'ping_hook'", CSV).stdout.trim()
    await eventually(async () => counters(), (c) => c === '1,1,0,0,0')
    expect(hits('/ok').length).toBe(1)

    // The same server without the allow-list: the trigger comes back from the catalog, and its receiver
    // on loopback is refused at connect time, at once (no retries), as a failed delivery.
    await sluice.stop()
    sluice = await startSluice({ dataDir })
    sluice.psql("INSERT INTO pings VALUES (2, '2026-12-01 10:00:01+00'), (3, '2026-12-01 10:00:02+00')")
    await eventually(async () => counters(), (c) => c === '3,1,0,2,0')
    expect(hits('/ok').length).toBe(1)
    const letters = sluice.psql("SELECT reason FROM sluice_dead_letters WHERE stream = 'ping_hook'", { args: ['-A', '-t'] }).stdout.trim().split('\n')
    expect(letters).toHaveLength(2)
    expect(letters[0]).toContain('127.0.0.1 is a loopback address')
    const audit = sluice.psql("SELECT key, outcome FROM sluice_trigger_audit WHERE trigger = 'ping_hook' ORDER BY key", CSV).stdout.trim()
    expect(audit).toBe('1,delivered\n2,failed\n3,failed')

    // A new trigger whose URL is a refused address literal is refused when created, at the URL.
    const c = await sluice.client()
    try {
      const sql = `CREATE TRIGGER to_loopback AFTER INSERT ON pings FOR EACH ROW EXECUTE WEBHOOK 'http://127.0.0.1:${port}/ok'`
      const e = await errorOf(c, sql)
      expect(e.code).toBe('42501')
      expect(e.message).toContain('127.0.0.1 is a loopback address')
      expect(Number(e.position)).toBe(sql.indexOf("'http") + 1)
      for (const url of ['http://[::1]/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://localhost:8080/x', 'http://0x7f.1/x']) {
        expect((await errorOf(c, `CREATE TRIGGER bad AFTER INSERT ON pings FOR EACH ROW EXECUTE WEBHOOK '${url}'`)).code).toBe('42501')
      }
      expect((await errorOf(c, "CREATE TRIGGER bad AFTER INSERT ON pings FOR EACH ROW EXECUTE WEBHOOK 'http://exa mple.com/'")).code).toBe('22023')
      expect((await c.query("SELECT count(*)::int AS n FROM sluice_triggers WHERE name IN ('to_loopback', 'bad')")).rows[0].n).toBe(0)
    } finally {
      await c.end()
    }
  }, 60_000)
})

describe('webhook answers and secrets', () => {
  let dir: string
  let sluice: SluiceProcess
  const alice = () => new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'alice', password: 's3cret', database: 'sluice' })
  const bob = () => new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'bob', password: 'hunter2', database: 'sluice' })

  beforeAll(async () => {
    dir = await tempDataDir()
    const users = join(dir, 'users')
    writeFileSync(users, 'alice:admin:s3cret\nbob:readonly:hunter2\n')
    sluice = await startSluice({ dataDir: join(dir, 'data'), args: [...ALLOW_RECEIVER, '--users', users, '--auth', 'password'] })
  })
  afterAll(async () => {
    await sluice?.stop()
    await removeDir(dir)
  })

  test('a 302 is not followed: the firing fails with its status and is not retried', async () => {
    const c = alice()
    await c.connect()
    try {
      await c.query("CREATE STREAM orders (id INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id')")
      await c.query(`CREATE TRIGGER order_hook AFTER INSERT ON orders FOR EACH ROW EXECUTE WEBHOOK 'http://127.0.0.1:${port}/redirect', NEW.id::text WITH (retries = 3, backoff = INTERVAL '10 milliseconds')`)
      await c.query("INSERT INTO orders VALUES (1, '2026-12-01 10:00:00+00')")
      const counters = async () => Object.values((await c.query("SELECT fires, delivered, pending, failed, retried FROM sluice_triggers WHERE name = 'order_hook'")).rows[0] ?? {}).join(',')
      await eventually(counters, (s) => s === '1,0,0,1,0')
      expect(hits('/redirect').map((h) => h.method)).toEqual(['POST'])
      expect(hits('/internal')).toEqual([])
      const reason = (await c.query("SELECT reason FROM sluice_dead_letters WHERE stream = 'order_hook'")).rows[0]?.reason as string
      expect(reason).toContain('HTTP 302 (redirects are not followed)')
    } finally {
      await c.end()
    }
  }, 30_000)

  test('credentials in a webhook URL are used, shown to an admin, and hidden from a read-only user in every system table', async () => {
    const url = `http://hookuser:pa55word@127.0.0.1:${port}/ok?campaign=7&token=t0ken&signature=s1gn`
    const admin = alice()
    const reader = bob()
    await admin.connect()
    await reader.connect()
    try {
      await admin.query("CREATE STREAM visits (id INT NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id')")
      await admin.query(`CREATE TRIGGER visit_hook AFTER INSERT ON visits FOR EACH ROW EXECUTE WEBHOOK '${url}', NEW.id::text`)
      const before = hits('/ok').length
      await admin.query("INSERT INTO visits VALUES (1, '2026-12-01 10:00:00+00')")
      await eventually(async () => hits('/ok').length - before, (n) => n === 1)
      expect(hits('/ok').at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('hookuser:pa55word').toString('base64')}`)

      const target = "SELECT target, sql FROM sluice_triggers WHERE name = 'visit_hook'"
      const full = (await admin.query(target)).rows[0]
      expect(full.target).toBe(url)
      expect(full.sql).toContain(url)

      const shown = `http://***@127.0.0.1:${port}/ok?campaign=7&token=***&signature=***`
      const hidden = (await reader.query(target)).rows[0]
      expect(hidden.target).toBe(shown)
      expect(hidden.sql).toContain(shown)
      // The trigger's query in sluice_queries, and a join (the relational path) show no more.
      const everything = [
        ...(await reader.query("SELECT * FROM sluice_triggers WHERE name = 'visit_hook'")).rows,
        ...(await reader.query("SELECT sql FROM sluice_queries WHERE name = 'visit_hook'")).rows,
        ...(await reader.query('SELECT t.sql, q.sql AS q FROM sluice_triggers t JOIN sluice_queries q ON q.name = t.name')).rows,
        ...(await reader.query('SHOW QUERIES')).rows,
      ]
      expect(everything.length).toBeGreaterThanOrEqual(4)
      const text = JSON.stringify(everything)
      expect(text).toContain('***')
      for (const secret of ['pa55word', 'hookuser', 't0ken', 's1gn']) expect(text).not.toContain(secret)
    } finally {
      await admin.end()
      await reader.end()
    }
  }, 30_000)
})
