/**
 * The console in a real browser (the system's Chromium through puppeteer-core) against a server with
 * authentication on: log in, deploy a windowed view from the editor, insert through psql and watch the
 * live table and the chart change, see a failing view's error, an error's position marked, EXPLAIN drawn,
 * read a dead letter sent by HTTP ingest, and a read-only user refused a deploy.
 */
import type { Browser, Page } from 'puppeteer-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN, type ConsoleServer, READER, startConsoleServer } from './console/harness.ts'
import { launchBrowser, logIn, runInEditor, waitForText } from './console/browser.ts'

let server: ConsoleServer
let browser: Browser
let page: Page

beforeAll(async () => {
  ;[server, browser] = await Promise.all([startConsoleServer(), launchBrowser()])
  page = await browser.newPage()
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

const chartPoints = async (): Promise<number> => Number(/(\d+) windows/.exec(await page.$eval('#chart-points', (el) => el.textContent ?? ''))?.[1] ?? -1)

describe('console in a browser', () => {
  it('asks for a login, and logs in', async () => {
    await logIn(page, server.base, ADMIN)
    expect(await page.$eval('.who', (el) => el.textContent)).toMatch(/alice · admin/)
  })

  it('deploys a view from the editor, then shows its rows and chart live as psql inserts', async () => {
    await page.goto(`${server.base}/sql`)
    await runInEditor(
      page,
      `CREATE STREAM clicks (page text, ms int, ts timestamptz NOT NULL, WATERMARK FOR ts AS ts) WITH (partitions = 2);
CREATE MATERIALIZED VIEW per_page AS SELECT window_start, page, count(*) AS hits, avg(ms) AS avg_ms FROM TUMBLE(clicks, ts, INTERVAL '10 seconds') GROUP BY window_start, page;`,
    )
    await waitForText(page, '.editor', /CREATE MATERIALIZED VIEW/)
    await page.goto(`${server.base}/views/per_page`)
    await waitForText(page, '.view-page h1', /running/)
    await waitForText(page, '#row-count', /^0 rows$/)
    server.psql("INSERT INTO clicks VALUES ('home', 10, '2026-01-01 00:00:01+00'), ('cart', 30, '2026-01-01 00:00:02+00')")
    await waitForText(page, '#row-count', /^2 rows$/)
    expect(await chartPoints()).toBe(1)
    expect(await page.$eval('#chart-measure option:checked', (el) => el.textContent)).toBe('hits')
    expect(await page.$eval('#chart-dimension option:checked', (el) => el.textContent)).toBe('page')
    server.psql("INSERT INTO clicks VALUES ('home', 20, '2026-01-01 00:00:03+00'), ('home', 5, '2026-01-01 00:00:12+00')")
    await waitForText(page, '#row-count', /^3 rows$/)
    await page.waitForFunction(() => /2 windows, 2 series/.test(document.querySelector('#chart-points')?.textContent ?? ''), { timeout: 20_000 })
    // The live table shows the updated count of the first window.
    await waitForText(page, 'table.live', /home2/)
    // The chart is drawn: uPlot's canvas is there with the series' legend.
    expect(await page.$$eval('.chart-box canvas', (els) => els.length)).toBeGreaterThan(0)
    expect(await page.$eval('.chart-box', (el) => el.textContent)).toMatch(/cart.*home|home.*cart/)
  })

  it('marks an error position in the editor and draws EXPLAIN as a graph', async () => {
    await page.goto(`${server.base}/sql`)
    await runInEditor(page, 'SELECT page, nosuch FROM clicks')
    await waitForText(page, '#sql-error', /42703/)
    expect(await page.$eval('#error-mark', (el) => el.textContent)).toBe('nosuch')
    await page.$eval('#sql', (el) => {
      const area = el as HTMLTextAreaElement
      area.value = 'SELECT page, count(*) FROM clicks GROUP BY page'
      area.dispatchEvent(new Event('input', { bubbles: true }))
    })
    await page.click('#explain')
    await page.waitForSelector('svg.plan g.op')
    const ops = await page.$$eval('svg.plan .op-name', (els) => els.map((e) => e.textContent))
    expect(ops).toEqual(['HashAggregate', 'LogScan'])
    expect(await page.$$eval('svg.plan line.edge', (els) => els.length)).toBe(1)
  })

  it("shows a failing view's error on the overview and on its page", async () => {
    await page.goto(`${server.base}/sql`)
    await runInEditor(page, 'CREATE MATERIALIZED VIEW ratio AS SELECT page, sum(100 / ms) AS r FROM clicks GROUP BY page')
    await waitForText(page, '.editor', /CREATE MATERIALIZED VIEW/)
    server.psql("INSERT INTO clicks VALUES ('zero', 0, '2026-01-01 00:00:20+00')")
    await page.goto(`${server.base}/`)
    await waitForText(page, '#views tr[data-name=ratio]', /failed.*division by zero/)
    await page.goto(`${server.base}/views/ratio`)
    await waitForText(page, '.view-page', /22012: division by zero/)
  })

  it('lists a dead letter sent by HTTP ingest, with its raw record and reason', async () => {
    const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`
    const res = await fetch(`${server.base}/streams/clicks`, { method: 'POST', headers: { authorization: auth }, body: '{"page": "x", "ms": "not a number", "ts": "2026-01-01T00:00:30Z"}\n' })
    expect(res.status).toBe(422)
    await page.goto(`${server.base}/dead-letters`)
    await waitForText(page, '.records table', /clicks/)
    await page.click('.records table button.cell')
    const detail = await waitForText(page, '#record-detail', /not a number/)
    expect(detail).toMatch(/reason/)
  })

  it('lets a read-only user look but not deploy', async () => {
    const context = await browser.createBrowserContext()
    const reader = await context.newPage()
    try {
      await logIn(reader, server.base, READER)
      await reader.goto(`${server.base}/sql`)
      await runInEditor(reader, 'DROP MATERIALIZED VIEW per_page')
      await waitForText(reader, '#sql-error', /42501.*read-only/)
      await reader.goto(`${server.base}/`)
      await waitForText(reader, '#views', /per_page/)
    } finally {
      await context.close()
    }
  })
})
