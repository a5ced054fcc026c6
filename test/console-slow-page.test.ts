/**
 * A live page that stops reading (a stalled browser tab) costs the server no more than a stalled SUBSCRIBE:
 * its feed stops taking changes while the socket does not drain, and once it is more than
 * --subscribe-max-lag events behind it is ended with 53400, while the engine and other pages go on.
 */
import { get, type IncomingMessage } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ADMIN, ApiClient, type ConsoleServer, startConsoleServer } from './console/harness.ts'
import { eventually } from './helpers/sluice-process.ts'

const MAX_LAG = 2000

let server: ConsoleServer
let admin: ApiClient

beforeAll(async () => {
  server = await startConsoleServer(['--subscribe-max-lag', String(MAX_LAG)])
  admin = new ApiClient(server.base)
  await admin.login(ADMIN)
  expect((await admin.sql("CREATE STREAM wide (id int, pad text); CREATE MATERIALIZED VIEW wide_rows AS SELECT id, pad FROM wide")).error).toBeUndefined()
})

afterAll(async () => {
  await server?.stop()
})

function openPaused(path: string, cookie: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = get(`${server.base}${path}`, { headers: { cookie } }, (res) => {
      res.pause()
      resolve(res)
    })
    req.on('error', reject)
  })
}

it('ends a page that stopped reading with 53400 once it is too far behind, and the engine goes on', async () => {
  const stalled = await openPaused('/api/live/wide_rows', admin.cookieHeader)
  const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`
  // Far more changes than the socket buffers hold (40 MB: loopback TCP buffers alone took in the 9 MB this
  // wrote before, so the page was never behind): the feed must stop taking them and fall behind.
  const pad = 'x'.repeat(1000)
  for (let b = 0; b < 20; b++) {
    const lines = Array.from({ length: 2000 }, (_, i) => `{"id": ${b * 2000 + i}, "pad": "${pad}"}`).join('\n')
    const res = await fetch(`${server.base}/streams/wide`, { method: 'POST', headers: { authorization: auth }, body: lines })
    expect(res.status).toBe(200)
  }
  // The engine went on without the stalled page: the view has every event.
  await eventually(
    async () => (await admin.sql("SELECT events_in FROM sluice_queries WHERE name = 'wide_rows'")).results[0]?.rows[0]?.[0],
    (n) => n === '40000',
    30_000,
  )
  // Now read what the stalled page was sent: it ends with the 53400 failure, short of all 40,000 rows.
  stalled.resume()
  let text = ''
  // Bounded: a page that was not ended is a live feed that never ends, which must fail here, not hang.
  const giveUp = setTimeout(() => stalled.destroy(), 30_000)
  try {
    for await (const chunk of stalled) text += (chunk as Buffer).toString('utf8')
  } catch {
    // destroyed by giveUp: the assertions below say what was missing
  } finally {
    clearTimeout(giveUp)
  }
  expect(text).toMatch(/event: failure\ndata: \{"sqlstate":"53400"/)
  const rowsSent = [...text.matchAll(/\[1,"\d+"/g)].length
  expect(rowsSent).toBeLessThan(40_000)
  // Another page opened now gets the whole view.
  const fresh = await fetch(`${server.base}/api/live/wide_rows`, { headers: { cookie: admin.cookieHeader } })
  const reader = fresh.body!.getReader()
  const decoder = new TextDecoder()
  // Counted chunk by chunk (a search of all that came so far on each chunk is quadratic in 40 MB); the
  // last three characters are carried over, too few to hold a whole match, so none is counted twice.
  let rows = 0
  let tail = ''
  while (rows < 40_000) {
    const { value, done } = await reader.read()
    if (done) break
    const piece = tail + decoder.decode(value, { stream: true })
    rows += (piece.match(/\[1,"/g) ?? []).length
    tail = piece.slice(-3)
  }
  await reader.cancel()
  expect(rows).toBe(40_000)
}, 90_000)
