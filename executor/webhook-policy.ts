/**
 * Where webhooks may go. A trigger's URL is written by any SQL user, and the server POSTs to it from inside
 * the operator's network: without a policy, `EXECUTE WEBHOOK 'http://10.0.0.5/admin'` reaches what no SQL
 * user should. So:
 *
 * - The operator's allow-list (`--webhook-allow host[:port],*.domain[:port],*`) names the hosts webhooks may
 *   reach; an empty list admits every host, at public addresses only.
 * - Addresses that are not public (loopback, private, link-local, unspecified, multicast, reserved, ...) are
 *   refused unless the host is named exactly in the list (`127.0.0.1`, `crm.internal`): a wildcard admits
 *   public addresses only.
 * - The check is on the addresses the host resolves to, all of them, at connect time, and the connection
 *   goes to a checked address (the caller passes `Destination.addresses` to the socket), so a name that
 *   resolves to a public address for the check and to a private one for the connect cannot slip past.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

/** One allow-list entry: a host (exact, or `*.domain` for its subdomains, or `*` for any), and maybe a port. */
export interface AllowEntry {
  readonly host: string
  readonly wildcard: boolean
  readonly port: number | null
}

export interface WebhookAllowList {
  readonly entries: readonly AllowEntry[]
}

export const OPEN_TO_PUBLIC: WebhookAllowList = { entries: [] }

/** A destination the policy admits: its URL and the checked addresses to connect to. */
export interface Destination {
  readonly url: URL
  readonly addresses: readonly { readonly address: string; readonly family: 4 | 6 }[]
}

/** Why a URL may not be reached (trying again gives the same answer); `malformed` when it is no http(s) URL. */
export class WebhookRefused extends Error {
  override readonly name = 'WebhookRefused'
  constructor(
    message: string,
    readonly malformed = false,
  ) {
    super(message)
  }
}

/**
 * Parses `host[:port],*.domain[:port],[v6]:port,...` (the `--webhook-allow` value). Throws with a readable
 * message on a malformed entry.
 */
export function parseAllowList(text: string | readonly string[]): WebhookAllowList {
  const parts = (typeof text === 'string' ? text.split(',') : text.flatMap((t) => t.split(','))).map((p) => p.trim()).filter((p) => p !== '')
  return { entries: parts.map(parseEntry) }
}

function parseEntry(entry: string): AllowEntry {
  if (entry === '*') return { host: '*', wildcard: true, port: null }
  let host: string
  let port: string | null = null
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close < 0) throw new Error(`webhook allow-list entry "${entry}": unclosed [`)
    host = entry.slice(0, close + 1)
    const rest = entry.slice(close + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new Error(`webhook allow-list entry "${entry}": expected :port after ]`)
      port = rest.slice(1)
    }
  } else if (entry.indexOf(':') !== entry.lastIndexOf(':')) {
    host = `[${entry}]` // a bare IPv6 address, no port
  } else {
    const colon = entry.indexOf(':')
    host = colon < 0 ? entry : entry.slice(0, colon)
    port = colon < 0 ? null : entry.slice(colon + 1)
  }
  const wildcard = host.startsWith('*.')
  if (wildcard) host = host.slice(2)
  if (host === '' || host.includes('*')) throw new Error(`webhook allow-list entry "${entry}": expected host[:port], *.domain[:port] or *`)
  let normal: string
  try {
    // The same normalisation as the trigger's URL gets (case, IPv4 forms such as 0x7f.1, IPv6 compression).
    normal = new URL(`http://${host}/`).hostname
  } catch {
    throw new Error(`webhook allow-list entry "${entry}": "${host}" is not a host name or address`)
  }
  if (port !== null && !/^\d{1,5}$/.test(port)) throw new Error(`webhook allow-list entry "${entry}": the port must be a number`)
  const n = port === null ? null : Number(port)
  if (n !== null && (n < 1 || n > 65535)) throw new Error(`webhook allow-list entry "${entry}": the port must be from 1 to 65535`)
  return { host: normal, wildcard, port: n }
}

/** The URL's port, or the scheme's default. */
export const portOf = (url: URL): number => (url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80)

/** The host as a socket wants it (an IPv6 literal without brackets). */
export const bareHost = (url: URL): string => (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname)

/**
 * How the allow-list admits the URL's host: 'named' (listed exactly: any address), 'public' (by a wildcard,
 * or by the empty list: public addresses only), or a refusal.
 */
function admission(list: WebhookAllowList, url: URL): 'named' | 'public' | WebhookRefused {
  if (list.entries.length === 0) return 'public'
  const host = url.hostname
  const port = portOf(url)
  let admitted: 'named' | 'public' | null = null
  for (const e of list.entries) {
    if (e.port !== null && e.port !== port) continue
    if (!e.wildcard && e.host === host) return 'named'
    if (e.wildcard && (e.host === '*' || host.endsWith(`.${e.host}`))) admitted = 'public'
  }
  return admitted ?? new WebhookRefused(`host ${host}:${port} is not in the webhook allow-list (sluice serve --webhook-allow)`)
}

/**
 * The refusal a URL gets before anything is resolved, or null: a malformed URL, a host the allow-list does
 * not admit, or an address literal (or `localhost`) that is not public and not named in the list. This is
 * what CREATE TRIGGER checks; delivery checks the resolved addresses too.
 */
export function refusalOf(list: WebhookAllowList, text: string): WebhookRefused | null {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return new WebhookRefused(`"${text}" is not a URL`, true)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return new WebhookRefused(`a webhook URL is http or https, not ${url.protocol.slice(0, -1)}`, true)
  const admitted = admission(list, url)
  if (admitted instanceof WebhookRefused) return admitted
  if (admitted === 'named') return null
  const host = bareHost(url)
  if (isIP(host) !== 0) {
    const kind = addressKind(host)
    if (kind !== null) return refusedAddress(url, host, kind)
  } else if (host === 'localhost' || host.endsWith('.localhost')) {
    return refusedAddress(url, '127.0.0.1', 'loopback')
  }
  return null
}

const refusedAddress = (url: URL, address: string, kind: string): WebhookRefused =>
  new WebhookRefused(`${url.hostname} is ${address === bareHost(url) ? '' : `at ${address}, `}${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} address: webhooks reach it only when the server allows it (sluice serve --webhook-allow ${url.hostname})`)

export type Resolver = (host: string) => Promise<readonly { address: string; family: number }[]>

const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true })

/**
 * Checks the URL and every address its host resolves to; the destination's addresses are the only ones a
 * delivery may connect to. Throws WebhookRefused when the policy says no, or the resolver's error.
 */
export async function destinationOf(list: WebhookAllowList, text: string, resolve: Resolver = systemResolver): Promise<Destination> {
  const early = refusalOf(list, text)
  if (early !== null) throw early
  const url = new URL(text)
  const host = bareHost(url)
  const named = admission(list, url) === 'named'
  const family = isIP(host)
  const found = family !== 0 ? [{ address: host, family }] : await resolve(host)
  if (found.length === 0) throw new Error(`${host} has no address`)
  const addresses = found.map((a) => ({ address: a.address, family: (a.family === 6 ? 6 : 4) as 4 | 6 }))
  if (!named) {
    for (const a of addresses) {
      const kind = addressKind(a.address)
      if (kind !== null) throw refusedAddress(url, a.address, kind)
    }
  }
  return { url, addresses }
}

/**
 * What kind of not-public address this is, or null for a public one (or a string that is no address).
 * IPv4-mapped, IPv4-compatible and NAT64 IPv6 addresses are judged by the IPv4 address inside them.
 */
export function addressKind(address: string): string | null {
  const v = isIP(address)
  if (v === 4) return ipv4Kind(ipv4Bytes(address))
  if (v === 6) return ipv6Kind(ipv6Bytes(address))
  return null
}

function ipv4Kind(b: readonly number[]): string | null {
  const [a, c] = [b[0]!, b[1]!]
  if (b.every((x) => x === 0)) return 'unspecified'
  if (a === 0) return 'reserved ("this network")'
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && c >= 16 && c < 32) || (a === 192 && c === 168)) return 'private'
  if (a === 169 && c === 254) return 'link-local'
  if (a === 100 && c >= 64 && c < 128) return 'shared (carrier-grade NAT)'
  if (a === 198 && (c === 18 || c === 19)) return 'reserved (benchmarking)'
  if (a === 192 && c === 0 && b[2] === 0) return 'reserved (IETF protocol assignments)'
  if (a >= 224 && a < 240) return 'multicast'
  if (a >= 240) return a === 255 && b.every((x) => x === 255) ? 'broadcast' : 'reserved'
  return null
}

function ipv6Kind(b: readonly number[]): string | null {
  const zeroUpTo = (n: number) => b.slice(0, n).every((x) => x === 0)
  if (zeroUpTo(16)) return 'unspecified'
  if (zeroUpTo(15) && b[15] === 1) return 'loopback'
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64): the IPv4 address decides.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return ipv4Kind(b.slice(12))
  if (zeroUpTo(12)) return ipv4Kind(b.slice(12))
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0)) return ipv4Kind(b.slice(12))
  if (b[0] === 0xff) return 'multicast'
  if ((b[0]! & 0xfe) === 0xfc) return 'private (unique local)'
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local'
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'site-local'
  return null
}

const ipv4Bytes = (s: string): number[] => s.split('.').map(Number)

/** The 16 bytes of a valid IPv6 address (as net.isIP accepts it; a zone index is ignored). */
function ipv6Bytes(s: string): number[] {
  const text = s.split('%')[0]!
  const groups = (part: string): number[] => {
    if (part === '') return []
    const out: number[] = []
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = ipv4Bytes(g)
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else out.push(parseInt(g, 16))
    }
    return out
  }
  const gap = text.indexOf('::')
  const head = groups(gap < 0 ? text : text.slice(0, gap))
  const tail = gap < 0 ? [] : groups(text.slice(gap + 2))
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  return all.flatMap((g) => [g >> 8, g & 0xff])
}
