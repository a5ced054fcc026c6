/**
 * The internal endpoint of a cluster node (`POST /_cluster/rows` on the HTTP port): a peer gathering a
 * view's rows (cluster/pull.ts) asks for those of the tasks this node owns. Only peers get in: the request
 * carries an HMAC of its body under the cluster's secret (cluster/peer-auth.ts). The answer is a stream of
 * row frames (cluster/row-frames.ts), written as the client reads them; 503 when a task cannot answer yet
 * (the asking node waits and asks again), 403 for a request not signed by a peer.
 */
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClusterNode } from '../cluster/node.ts'
import { PEER_AUTH_HEADER } from '../cluster/peer-auth.ts'
import { PEER_ROWS_PATH } from '../cluster/pull.ts'
import { endFrame, errorFrame, rowFrame } from '../cluster/row-frames.ts'

/** A request body is a view name, task numbers and at most one key: small. */
const MAX_BODY = 1 << 20

export const isPeerRequest = (req: IncomingMessage): boolean => req.method === 'POST' && (req.url ?? '').split('?', 1)[0] === PEER_ROWS_PATH

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
  const answer = node.peerRows(req.headers[PEER_AUTH_HEADER] as string | undefined, body)
  if (answer.kind === 'denied') return reply(403, 'not a peer of this cluster')
  if (answer.kind !== 'rows') return reply(answer.kind === 'bad' ? 400 : 503, answer.message)
  let gone = false
  res.on('close', () => (gone = true))
  res.writeHead(200, { 'content-type': 'application/x-sluice-rows' })
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
