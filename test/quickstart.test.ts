/**
 * docs/quickstart.md, run as written: every sql block (up to the Kafka section) goes through psql in
 * order, the curl block goes to the HTTP ingest (run by sh, not bash), and each output block shown after a sql block must appear
 * in what psql printed for it. A quickstart that drifts from the product fails here.
 */
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

interface Block {
  readonly lang: string
  readonly text: string
  readonly section: string
}

/** The fenced blocks of a markdown text, with the heading they are under. */
function blocks(markdown: string): Block[] {
  const out: Block[] = []
  let section = ''
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('## ')) section = line.slice(3)
    const fence = /^```(\w*)\s*$/.exec(line)
    if (fence === null) continue
    const body: string[] = []
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!)
    out.push({ lang: fence[1]!, text: body.join('\n'), section })
  }
  return out
}

/** Table lines of psql's aligned output, without footers and blank lines, spaces collapsed. */
const tableLines = (s: string): string[] =>
  s
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !/^\(\d+ rows?\)$/.test(l))

describe('docs/quickstart.md', () => {
  let sluice: SluiceProcess
  /** The page's /tmp/sluice-files, the server's --files directory. */
  let files: string
  beforeAll(async () => {
    files = await tempDataDir()
    sluice = await startSluice({ http: true, args: ['--files', files] })
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    if (files) await removeDir(files)
  })

  test('every command works and prints what the page shows', () => {
    const all = blocks(readFileSync(resolve(import.meta.dirname, '..', 'docs', 'quickstart.md'), 'utf8'))
    // Shell blocks that send events (curl) or write a file for a file stream run; those that start a server do not.
    const steps = all.filter((b) => !b.section.includes('Kafka') && (b.lang === 'sql' || (b.lang === 'sh' && (b.text.includes('curl') || b.text.includes('> /tmp/sluice-files/')))))
    expect(steps.length).toBeGreaterThan(8)
    let checked = 0
    for (let i = 0; i < all.length; i++) {
      const b = all[i]!
      if (!steps.includes(b)) continue
      if (b.lang === 'sh') {
        const cmd = b.text.replace(/127\.0\.0\.1:6867/g, `127.0.0.1:${sluice.httpPort}`).replace(/\/tmp\/sluice-files/g, files).replace(/\\\n/g, ' ')
        // POSIX sh (dash here), not bash: the page's commands must work in any shell.
        const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' })
        expect(r.status, r.stderr).toBe(0)
        // An output block right after a curl shows its answer.
        const shown = all[i + 1]
        if (b.text.includes('curl') && shown !== undefined && shown.lang === '' && shown.section === b.section) expect(r.stdout.trim()).toBe(shown.text.trim())
        continue
      }
      const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-f', '-'], {
        input: b.text,
        encoding: 'utf8',
      })
      expect(r.status, `${b.section}: ${r.stderr}`).toBe(0)
      // An output block right after a sql block shows what it prints: its lines appear in order.
      const next = all[i + 1]
      if (next !== undefined && next.lang === '' && next.section === b.section && next.text.includes('|')) {
        const got = tableLines(r.stdout)
        let at = 0
        for (const want of tableLines(next.text)) {
          // A notification is asynchronous: psql prints it after whichever command it came during.
          if (want.startsWith('Asynchronous notification')) {
            expect(got, `${b.section}: "${want}" not in\n${r.stdout}`).toContain(want)
            continue
          }
          const found = got.indexOf(want, at)
          expect(found, `${b.section}: "${want}" not in\n${r.stdout}`).toBeGreaterThanOrEqual(0)
          at = found + 1
        }
        checked++
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3)
  })
})
