/**
 * The internal endpoints of a cluster node on the HTTP port: `POST /_cluster/rows`, where a peer gathering
 * a view's rows (cluster/pull.ts) asks for those of the tasks this node owns, and `POST /_cluster/subscribe`,
 * where a peer's SUBSCRIBE (cluster/subscribe.ts) follows their changes: a stream that ends only with an
 * error frame (the tasks moved: 40001; the subscriber fell behind: 53400) or when the peer goes away. Its
 * writer takes changes only as the socket drains, so a slow subscriber fills its own queue (bounded, see
 * executor/change-feed.ts), never this node's memory. Only peers get in: the request
 * carries an HMAC of its body under the cluster's secret (cluster/peer-auth.ts). The answer is a stream of
 * row frames (cluster/row-frames.ts), written as the client reads them; 503 when a task cannot answer yet
 * (the asking node waits and asks again), 403 for a request not signed by a peer.
 */
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClusterNode } from '../cluster/node.ts'
import { PEER_AUTH_HEADER, PEER_ROWS_PATH } from '../cluster/peer-auth.ts'
import { endFrame, errorFrame, rowFrame } from '../cluster/row-frames.ts'
import { PEER_SUBSCRIBE_PATH, itemRow, tasksMoved, type MergedFeed } from '../cluster/subscribe.ts'

/** A request body is a view name, task numbers and at most one key: small. */
const MAX_BODY = 1 << 20

const PEER_PATHS = new Set([PEER_ROWS_PATH, PEER_SUBSCRIBE_PATH])

export const isPeerRequest = (req: IncomingMessage): boolean => req.method === 'POST' && PEER_PATHS.has((req.url ?? '').split('?', 1)[0]!)

export async function handlePeerRows(node: ClusterNode, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
    res.end(text)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) return reply(413, 'request too large')
    chunks.push(chunk as Buffer)
  }
  const body = Buffer.concat(chunks).toString('utf8')
  const signature = req.headers[PEER_AUTH_HEADER] as string | undefined
  const answer = (req.url ?? '').startsWith(PEER_SUBSCRIBE_PATH) ? node.peerSubscribe(signature, body) : node.peerRows(signature, body)
  if (answer.kind === 'denied') return reply(403, 'not a peer of this cluster')
  if (answer.kind !== 'rows' && answer.kind !== 'feed') return reply(answer.kind === 'bad' ? 400 : 503, answer.message)
  let gone = false
  res.on('close', () => (gone = true))
  res.writeHead(200, { 'content-type': 'application/x-sluice-rows' })
  if (answer.kind === 'feed') return writeFeed(answer.feed, res, () => gone)
  const rows = answer.rows
  try {
    for await (const row of rows) {
      if (gone) break
      if (!res.write(rowFrame(row))) await Promise.race([once(res, 'drain'), once(res, 'close')])
    }
    if (!gone) res.end(endFrame())
  } catch (err) {
    if (!gone) res.end(errorFrame(err))
  } finally {
    await rows.return(undefined)
  }
}

/** Changes in frames as the socket takes them; the feed's failure as the last frame. */
async function writeFeed(feed: MergedFeed, res: ServerResponse, gone: () => boolean): Promise<void> {
  res.on('close', () => feed.close())
  try {
    for (;;) {
      await feed.wait(null)
      if (gone()) return
      const items = feed.takeItems(FEED_BATCH)
      if (items.length === 0) {
        // Ended without a failure: only by the close above, or a stop of this node.
        if (feed.ended) throw tasksMoved('the node answering for them is stopping')
        continue
      }
      if (!res.write(Buffer.concat(items.map((item) => rowFrame(itemRow(item)))))) await Promise.race([once(res, 'drain'), once(res, 'close')])
    }
  } catch (err) {
    if (!gone()) res.end(errorFrame(err))
  } finally {
    feed.close()
  }
}

/** Changes written to the socket at a time. */
const FEED_BATCH = 512
