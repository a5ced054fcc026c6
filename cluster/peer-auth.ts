/**
 * Requests between the nodes of a cluster (the internal read endpoint) carry an HMAC of their body under
 * the cluster's secret, with the time they were signed: a node answers only its peers. The secret is
 * written once to the command topic by the first node of the cluster (node.ts), so every node that can
 * read the cluster's commands has it and nothing needs configuring; who can read that topic can run the
 * cluster's DDL anyway.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const PEER_AUTH_HEADER = 'x-sluice-peer'
/** How far a signature's time may be from the receiver's clock. */
const MAX_SKEW_MS = 5 * 60_000

const mac = (secret: string, at: string, body: string): string => createHmac('sha256', secret).update(`${at}\n${body}`).digest('hex')

export function signPeerRequest(secret: string, body: string, now = Date.now()): string {
  const at = String(now)
  return `${at}.${mac(secret, at, body)}`
}

export function verifyPeerRequest(secret: string | null, header: string | undefined, body: string, now = Date.now()): boolean {
  if (secret === null || header === undefined) return false
  const dot = header.indexOf('.')
  if (dot < 0) return false
  const at = header.slice(0, dot)
  if (!/^\d+$/.test(at) || Math.abs(now - Number(at)) > MAX_SKEW_MS) return false
  const want = Buffer.from(mac(secret, at, body), 'hex')
  const got = Buffer.from(header.slice(dot + 1), 'hex')
  return got.length === want.length && timingSafeEqual(got, want)
}

/** The peer endpoint a node asks another node's tasks for their rows on (pull.ts). */
export const PEER_ROWS_PATH = '/_cluster/rows'
