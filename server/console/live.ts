/**
 * A view's rows live, over Server-Sent Events: the view is read with SUBSCRIBE in a session of the user,
 * and each batch of changes goes out as one `rows` event of `[diff, ...cells]` arrays (after a `columns`
 * event). The cost of a slow browser is bounded where SUBSCRIBE's is: while the socket does not drain, no
 * more changes are taken, so the subscription's queue fills to its buffer, it stops reading its view and
 * the engine goes on without it; once it is more than --subscribe-max-lag events behind it ends with
 * 53400, sent as a `failure` event (executor/change-feed.ts).
 */
import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import { formatValue } from '../../common/types.ts'
import { toSluiceError } from '../../common/errors.ts'
import type { Backend, ResultColumn, RowCursor } from '../backend.ts'
import { apiError } from './statements.ts'

/**
 * How often a page's feed looks for changes: a person reads no more than a few updates a second, and
 * looking less often than every engine step reads each changed entry once per look (see
 * SubscriptionOptions.minIntervalMs), which is what keeps open pages cheap for the engine.
 */
export const LIVE_INTERVAL = '100ms'

/** Changes sent in one event at most. */
export const MAX_BATCH_ROWS = 2000
/** A comment line this often keeps proxies from closing an idle feed. */
const HEARTBEAT_MS = 15_000

/** Columns of SUBSCRIBE's rows before the relation's: sluice_timestamp and sluice_diff. */
const LEADING = 2

/** Streams `view`'s changes to `res` until the client goes away, the server closes it or the feed fails. */
export async function streamView(backend: Backend, view: string, res: ServerResponse): Promise<void> {
  const sql = `SUBSCRIBE ${quoteIdent(view)} WITH (min_interval = '${LIVE_INTERVAL}')`
  let cursor: RowCursor | null = null
  const closed = new AbortController()
  res.once('close', () => {
    closed.abort()
    cursor?.close()
    backend.cancel()
  })
  try {
    const [statement] = backend.prepare(sql, [])
    const outcome = await backend.execute(statement!, [])
    if (outcome.kind !== 'rows') return void res.writeHead(500).end()
    cursor = outcome.cursor
    if (closed.signal.aborted) return cursor.close()
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    const columns = outcome.columns.slice(LEADING)
    await send(res, 'columns', { columns: columns.map((c) => ({ name: c.name, type: c.type.name })) }, closed.signal)
    const heartbeat = setInterval(() => res.write(':\n\n'), HEARTBEAT_MS)
    try {
      await pump(cursor, columns, res, closed.signal)
    } finally {
      clearInterval(heartbeat)
    }
  } catch (err) {
    if (closed.signal.aborted) return
    // Without a position: the statement is ours, not the user's.
    const e = { ...apiError(toSluiceError(err)), position: undefined }
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' })
    res.write(event('failure', e))
  } finally {
    cursor?.close()
    res.end()
  }
}

async function pump(cursor: RowCursor, columns: readonly ResultColumn[], res: ServerResponse, closed: AbortSignal): Promise<void> {
  for (;;) {
    const { rows, done } = await cursor.next(MAX_BATCH_ROWS)
    if (closed.aborted) return
    if (rows.length > 0) {
      const out = rows.map((r) => [Number(r[1]), ...columns.map((c, i) => formatValue(r[i + LEADING] ?? null, c.type))])
      await send(res, 'rows', out, closed)
    }
    if (done) return
  }
}

/** Writes one event; waits for the socket to drain before the next is taken (the backpressure). */
async function send(res: ServerResponse, name: string, data: unknown, closed: AbortSignal): Promise<void> {
  if (res.write(event(name, data))) return
  await once(res, 'drain', { signal: closed }).catch(() => {})
}

const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`
