/**
 * `npm run docs:screenshots`: starts a server with authentication on, deploys a small demo (a stream, a
 * windowed view, a trigger, a view that fails, a dead letter, late events), and saves a 1200x800
 * screenshot of each console page into docs/console/, shown in docs/console.md.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'puppeteer-core'
import { ADMIN, startConsoleServer } from './harness.ts'
import { launchBrowser, logIn, runInEditor, waitForText } from './browser.ts'

const OUT = fileURLToPath(new URL('../../docs/console/', import.meta.url))

const DEMO = `CREATE STREAM clicks (page text, ms int, ts timestamptz NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (partitions = 4, key = 'page');
CREATE MATERIALIZED VIEW per_page AS SELECT window_start, page, count(*) AS hits, avg(ms) AS avg_ms FROM TUMBLE(clicks, ts, INTERVAL '10 seconds') GROUP BY window_start, page;
CREATE MATERIALIZED VIEW slow_pages AS SELECT page, max(ms) AS worst FROM clicks WHERE ms > 200 GROUP BY page;
CREATE MATERIALIZED VIEW per_mille AS SELECT page, sum(1000 / ms) AS x FROM clicks GROUP BY page;
CREATE TRIGGER slow_alert AFTER INSERT ON clicks FOR EACH ROW WHEN (NEW.ms > 250) EXECUTE NOTIFY slow, NEW.page WITH (cooldown = INTERVAL '20 seconds');`

const PAGES = ['home', 'search', 'cart', 'checkout']

/** A small deterministic generator, so that the screenshots look the same each time. */
function lcg(seed: number): () => number {
  let x = seed
  return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648)
}

/** `n` clicks from `start` (ms), `stepMs` apart: pages with their own popularity, now and then a slow one. */
function clicks(start: number, n: number, stepMs: number, random: () => number): string[] {
  const rows: string[] = []
  for (let i = 0; i < n; i++) {
    const r = random()
    const page = PAGES[r < 0.4 ? 0 : r < 0.7 ? 1 : r < 0.9 ? 2 : 3]!
    const ms = Math.round(30 + random() * 200 + (random() < 0.08 ? 200 : 0))
    rows.push(`{"page": "${page}", "ms": ${ms}, "ts": "${new Date(start + i * stepMs).toISOString()}"}`)
  }
  return rows
}

async function shoot(page: Page, name: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 400))
  await page.screenshot({ path: `${OUT}${name}.png`, type: 'png' })
  console.log(`docs/console/${name}.png`)
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true })
  const server = await startConsoleServer()
  const browser = await launchBrowser()
  let flow: NodeJS.Timeout | undefined
  try {
    const page = await browser.newPage()
    await page.goto(`${server.base}/`)
    await page.waitForSelector('form.login')
    await page.type('input[name=user]', ADMIN.user)
    await shoot(page, 'login')
    await logIn(page, server.base, ADMIN)
    await page.goto(`${server.base}/sql`)
    await runInEditor(page, DEMO)
    await waitForText(page, '.editor', /CREATE TRIGGER/)
    const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`
    const post = (lines: string[]) => fetch(`${server.base}/streams/clicks`, { method: 'POST', headers: { authorization: auth }, body: `${lines.join('\n')}\n` })
    const random = lcg(7)
    // Three minutes of history, then a click every 50 ms while the pages are shot.
    let now = Date.now() - 180_000
    await post(clicks(now, 1800, 100, random))
    now += 180_000
    flow = setInterval(() => {
      void post(clicks(now, 10, 50, random))
      now += 500
    }, 500)
    server.psql(`INSERT INTO clicks VALUES ('home', 0, '${new Date(now).toISOString()}'), ('home', 50, '${new Date(now - 3_600_000).toISOString()}')`)
    await post([`{"page": "home", "ms": "fast", "ts": "${new Date(now).toISOString()}"}`, '{"page": "cart", "ts": "yesterday"}'])
    await page.goto(`${server.base}/`)
    await waitForText(page, '#views', /division by zero/)
    await new Promise((r) => setTimeout(r, 4500))
    await shoot(page, 'overview')
    await page.goto(`${server.base}/sql`)
    await runInEditor(page, 'SELECT page, count(*) AS hits, max(ms) AS worst FROM clicks WHERE ms > 100 GROUP BY page ORDER BY hits DESC')
    await page.waitForSelector('.result table')
    await page.click('#explain')
    await page.waitForSelector('svg.plan g.op')
    await shoot(page, 'sql-editor')
    await runInEditor(page, 'SELECT page, nosuch FROM clicks')
    await page.waitForSelector('#error-mark')
    await shoot(page, 'sql-error')
    await page.goto(`${server.base}/views/per_page`)
    await page.waitForSelector('.chart-box canvas')
    await waitForText(page, '#row-count', /[1-9]\d* rows/)
    await shoot(page, 'view')
    await page.goto(`${server.base}/triggers/slow_alert`)
    await page.waitForSelector('svg.bars rect')
    await shoot(page, 'trigger')
    await page.goto(`${server.base}/dead-letters`)
    await page.waitForSelector('.records table button.cell')
    await page.click('.records table button.cell')
    await page.waitForSelector('#record-detail')
    await shoot(page, 'dead-letters')
    await page.goto(`${server.base}/late-events`)
    await page.waitForSelector('.records table')
    await shoot(page, 'late-events')
  } finally {
    clearInterval(flow)
    await browser.close()
    await server.stop()
  }
}

await main()
