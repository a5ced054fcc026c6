/**
 * Builds the web console into console/dist: one minified script (Preact and uPlot bundled in, nothing
 * loaded from elsewhere at run time), one stylesheet and index.html. Run by `npm install` (prepare) and
 * `npm start` (prestart); takes well under a second.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url))

export const DIST = here('./dist/')

const INDEX = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice console</title>
<link rel="icon" href="/assets/favicon.svg">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<div id="app"></div>
<script type="module" src="/assets/app.js"></script>
</body>
</html>
`

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d4ed8"/><path d="M3 5h10M3 8h7M3 11h4" stroke="#fff" stroke-width="1.6"/></svg>`

/**
 * Writes a file whole or not at all (a temporary file renamed over it), so that a server reading the
 * console while another build runs (test files build it in parallel) never serves half a file.
 */
function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${DIST}.${basename(path)}.${process.pid}.tmp`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

/** Builds the bundle into console/dist. */
export async function buildConsole(): Promise<void> {
  mkdirSync(DIST, { recursive: true })
  const out = await build({
    entryPoints: { app: here('./src/main.tsx') },
    outdir: DIST,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  })
  for (const f of out.outputFiles) writeAtomically(f.path, f.contents)
  writeAtomically(`${DIST}index.html`, INDEX)
  writeAtomically(`${DIST}favicon.svg`, FAVICON)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await buildConsole()
