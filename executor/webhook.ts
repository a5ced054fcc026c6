/**
 * Webhook delivery for triggers: POST a JSON body to a URL, with a timeout per attempt, retries with
 * exponential backoff, and an `Idempotency-Key` header (trigger and event position) so that the receiver
 * can recognise a delivery it has seen: after a crash, or when a response was lost, the same firing is
 * sent again (at least once). Deliveries run beside the engine loop, a few at a time, and never hold it up.
 *
 * Only a 2xx answer is a delivery. Every attempt first asks the policy (webhook-policy.ts) where it may
 * connect, and connects only to the addresses it checked. A redirect is not followed: a 3xx answer fails
 * the delivery with its status (following one would let a receiver send the server's POST, or a GET,
 * anywhere). A refusal by the policy and a 3xx are not retried; other failures are, and after the last
 * attempt the firing is handed to `onFailed` (a dead letter).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { type Destination, type Resolver, type WebhookAllowList, WebhookRefused, bareHost, destinationOf, portOf } from './webhook-policy.ts'
import { redactSecrets, redactUrl } from './webhook-secrets.ts'

export interface WebhookJob {
  /** Where the job is kept until it is done (the trigger's outbox key). */
  readonly id: string
  readonly url: string
  readonly idempotencyKey: string
  readonly body: string
}

export interface WebhookPolicy {
  readonly timeoutMs: number
  readonly retries: number
  readonly backoffMs: number
}

/** What happens to jobs, as it happens (the trigger keeps its counters and outbox from these). */
export interface WebhookEvents {
  /** The receiver answered 2xx. */
  delivered(job: WebhookJob): void
  /** An attempt failed and another follows. */
  retrying(job: WebhookJob, reason: string): void
  /** The last attempt failed, or the job cannot succeed (refused by the policy, redirected). */
  failed(job: WebhookJob, reason: string): void
}

const MAX_IN_FLIGHT = 8
const MAX_BACKOFF_MS = 30_000
/** Response bytes read before the connection is dropped: only the status matters. */
const MAX_RESPONSE_BYTES = 64 * 1024

/** An attempt's failure that another attempt would not change. */
class Permanent extends Error {}

export class WebhookDelivery {
  private readonly queue: WebhookJob[] = []
  private readonly queued = new Set<string>()
  private inFlight = 0
  private closed = false

  constructor(
    private readonly policy: WebhookPolicy,
    private readonly allow: WebhookAllowList,
    private readonly events: WebhookEvents,
    private readonly resolve?: Resolver,
  ) {}

  /** Queues a job (once: a job already queued or under way is not queued twice). */
  submit(job: WebhookJob): void {
    if (this.closed || this.queued.has(job.id)) return
    this.queued.add(job.id)
    this.queue.push(job)
    this.pump()
  }

  get pending(): number {
    return this.queued.size
  }

  close(): void {
    this.closed = true
    this.queue.length = 0
  }

  private pump(): void {
    while (!this.closed && this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const job = this.queue.shift()!
      this.inFlight++
      void this.deliver(job).finally(() => {
        this.inFlight--
        this.queued.delete(job.id)
        this.pump()
      })
    }
  }

  private async deliver(job: WebhookJob): Promise<void> {
    const shown = redactUrl(job.url)
    let attempt = 0
    for (;;) {
      let reason: string
      try {
        const status = await this.attempt(job)
        if (this.closed) return
        if (status >= 200 && status < 300) return this.events.delivered(job)
        if (status >= 300 && status < 400) throw new Permanent(`HTTP ${status} (redirects are not followed)`)
        reason = `HTTP ${status}`
      } catch (err) {
        if (this.closed) return
        const e = err as Error
        if (e instanceof WebhookRefused) return this.events.failed(job, `webhook ${shown} refused: ${redactSecrets(e.message)}`)
        if (e instanceof Permanent) return this.events.failed(job, `webhook ${shown} failed: ${e.message}`)
        reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${this.policy.timeoutMs} ms` : redactSecrets(e.message)
      }
      if (attempt >= this.policy.retries) return this.events.failed(job, `webhook ${shown} failed after ${attempt + 1} attempts: ${reason}`)
      this.events.retrying(job, reason)
      await sleep(Math.min(MAX_BACKOFF_MS, this.policy.backoffMs * 2 ** attempt))
      attempt++
      if (this.closed) return
    }
  }

  /** One POST: checks the destination (resolving its host), connects to a checked address; the status. */
  private async attempt(job: WebhookJob): Promise<number> {
    const signal = AbortSignal.timeout(this.policy.timeoutMs)
    const destination = await withSignal(destinationOf(this.allow, job.url, this.resolve), signal)
    return post(destination, { 'content-type': 'application/json', 'idempotency-key': job.idempotencyKey }, job.body, signal)
  }
}

/** POSTs `body` to the destination, connecting only to its checked addresses; resolves with the status. */
function post(d: Destination, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<number> {
  const url = d.url
  const host = bareHost(url)
  // The socket asks this instead of DNS: the addresses the policy checked, nothing resolved anew.
  const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options.all) callback(null, d.addresses.map((a) => ({ address: a.address, family: a.family })))
    else callback(null, d.addresses[0]!.address, d.addresses[0]!.family)
  }) as unknown as LookupFunction
  const auth = url.username !== '' || url.password !== '' ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined
  const options: RequestOptions & { servername?: string } = {
    method: 'POST',
    hostname: host,
    port: portOf(url),
    path: `${url.pathname}${url.search}`,
    headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    lookup,
    signal,
    agent: false,
    ...(auth === undefined ? {} : { auth }),
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<number>((resolve, reject) => {
    const req = send(options, (res: IncomingMessage) => {
      let read = 0
      res.on('data', (chunk: Buffer) => {
        read += chunk.length
        if (read > MAX_RESPONSE_BYTES) res.destroy()
      })
      res.on('error', () => undefined)
      res.on('close', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', (err) => reject(signal.aborted ? (signal.reason as Error) : err))
    req.end(body)
  })
}

function withSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason as Error)
    if (signal.aborted) return abort()
    signal.addEventListener('abort', abort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())
