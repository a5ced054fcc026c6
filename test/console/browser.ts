/** The system's Chromium driven by puppeteer-core (no browser is downloaded): for the console's browser tests and screenshots. */
import { existsSync } from 'node:fs'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

export function chromiumPath(): string {
  const given = process.env.CHROMIUM_PATH
  if (given !== undefined && given !== '') return given
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`no Chromium found (looked at ${CANDIDATES.join(', ')}; set CHROMIUM_PATH)`)
  return found
}

export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container has no user namespace for the sandbox; the pages are our own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
    defaultViewport: { width: 1200, height: 800 },
  })
}

/** Logs in through the login form. */
export async function logIn(page: Page, base: string, who: { user: string; password: string }): Promise<void> {
  await page.goto(`${base}/`)
  await page.waitForSelector('form.login input[name=user]')
  await page.type('input[name=user]', who.user)
  await page.type('input[name=password]', who.password)
  await page.click('form.login button[type=submit]')
  await page.waitForSelector('nav.nav')
}

/** Types `sql` into the editor (replacing what is there) and runs it. */
export async function runInEditor(page: Page, sql: string): Promise<void> {
  await page.waitForSelector('#sql')
  await page.$eval('#sql', (el) => ((el as HTMLTextAreaElement).value = ''))
  // Set the value in one go and tell Preact (typing long SQL key by key is slow).
  await page.$eval('#sql', (el, text) => {
    const area = el as HTMLTextAreaElement
    area.value = text
    area.dispatchEvent(new Event('input', { bubbles: true }))
  }, sql)
  await page.click('#run')
}

/** Waits until the page's text matches. */
export async function waitForText(page: Page, selector: string, want: RegExp, timeout = 20_000): Promise<string> {
  const handle = await page.waitForFunction(
    (sel: string, source: string, flags: string) => {
      const el = document.querySelector(sel)
      const text = el?.textContent ?? ''
      return new RegExp(source, flags).test(text) ? text : false
    },
    { timeout, polling: 100 },
    selector,
    want.source,
    want.flags,
  )
  return (await handle.jsonValue()) as string
}
