/** Small HTTP helpers of the console: JSON answers, JSON bodies, cookies. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SluiceError, SqlState } from '../../common/errors.ts'

/** Request bodies the console accepts (a statement, a login) are small. */
export const MAX_CONSOLE_BODY = 1024 * 1024

export function replyJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

/** An error as the API reports it: the fields of a Postgres ErrorResponse. */
export function replyError(res: ServerResponse, status: number, err: SluiceError): void {
  replyJson(res, status, { error: { sqlstate: err.sqlstate, message: err.message, detail: err.detail, hint: err.hint } })
}

/** Reads a JSON object body; throws 22023 (bad request) when it is too large or not an object. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_CONSOLE_BODY) throw badRequest(`body larger than ${MAX_CONSOLE_BODY} bytes`)
    chunks.push(chunk as Buffer)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw badRequest('the body is not JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badRequest('the body must be a JSON object')
  return parsed as Record<string, unknown>
}

export const badRequest = (message: string): SluiceError => new SluiceError('plan', SqlState.invalidParameterValue, message)

/** The request's cookies by name (the first of a repeated name wins). */
export function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim())
  }
  return out
}
