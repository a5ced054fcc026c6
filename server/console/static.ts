/**
 * The console's built files (console/dist, made by console/build.ts at `npm install` and `npm start`):
 * read once, kept with their gzip form, served with a content hash as ETag. Every page path that is not a
 * file gets index.html, since the browser app routes itself (`/views/<name>` is linkable).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

export const DIST_DIR = fileURLToPath(new URL('../../console/dist/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** The files served, by URL path. */
const FILES: Record<string, string> = { '/assets/app.js': 'app.js', '/assets/app.css': 'app.css', '/assets/favicon.svg': 'favicon.svg' }

interface Loaded {
  readonly type: string
  readonly body: Buffer
  readonly gzipped: Buffer
  readonly etag: string
}

const cache = new Map<string, Loaded | null>()

function load(file: string): Loaded | null {
  if (cache.has(file)) return cache.get(file)!
  let loaded: Loaded | null = null
  try {
    const body = readFileSync(DIST_DIR + file)
    const ext = file.slice(file.lastIndexOf('.'))
    loaded = { type: TYPES[ext] ?? 'application/octet-stream', body, gzipped: gzipSync(body), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }
  } catch {
    loaded = null
  }
  // A missing build is looked for again at the next request (it may be being built).
  if (loaded !== null) cache.set(file, loaded)
  return loaded
}

/** Serves a built file or index.html; 503 with how to build when the console was not built. */
export function serveStatic(req: IncomingMessage, res: ServerResponse, path: string): void {
  const file = FILES[path] ?? 'index.html'
  const f = load(file)
  if (f === null) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
    return void res.end('The console is not built: run `npm install` or `npm run build:console`.\n')
  }
  const headers: Record<string, string> = { 'content-type': f.type, etag: f.etag, 'cache-control': file === 'index.html' ? 'no-cache' : 'public, max-age=300', 'x-content-type-options': 'nosniff', vary: 'accept-encoding' }
  if (file === 'index.html') headers['content-security-policy'] = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
  if (req.headers['if-none-match'] === f.etag) {
    res.writeHead(304, headers)
    return void res.end()
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
  if (gzip) headers['content-encoding'] = 'gzip'
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : gzip ? f.gzipped : f.body)
}
