/**
 * Webhook delivery for triggers: POST a JSON body to a URL, with a timeout per attempt, retries with
 * exponential backoff, and an `Idempotency-Key` header (trigger and event position) so that the receiver
 * can recognise a delivery it has seen: after a crash, or when a response was lost, the same firing is
 * sent again (at least once). After the last failed attempt the firing is handed to `onFailed` (a dead
 * letter). Deliveries run beside the engine loop, a few at a time, and never hold it up.
 */
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

const MAX_IN_FLIGHT = 8
const MAX_BACKOFF_MS = 30_000

export class WebhookDelivery {
  private readonly queue: WebhookJob[] = []
  private readonly queued = new Set<string>()
  private inFlight = 0
  private closed = false

  constructor(
    private readonly policy: WebhookPolicy,
    private readonly onDelivered: (job: WebhookJob) => void,
    private readonly onFailed: (job: WebhookJob, reason: string) => void,
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
    let lastError = ''
    for (let attempt = 0; attempt <= this.policy.retries && !this.closed; attempt++) {
      if (attempt > 0) await sleep(Math.min(MAX_BACKOFF_MS, this.policy.backoffMs * 2 ** (attempt - 1)))
      try {
        const res = await fetch(job.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': job.idempotencyKey },
          body: job.body,
          signal: AbortSignal.timeout(this.policy.timeoutMs),
        })
        await res.arrayBuffer().catch(() => undefined)
        if (res.ok) {
          if (!this.closed) this.onDelivered(job)
          return
        }
        lastError = `HTTP ${res.status}`
      } catch (err) {
        lastError = (err as Error).name === 'TimeoutError' ? `no answer within ${this.policy.timeoutMs} ms` : (err as Error).message
      }
    }
    if (!this.closed) this.onFailed(job, `webhook ${job.url} failed after ${this.policy.retries + 1} attempts: ${lastError}`)
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())
