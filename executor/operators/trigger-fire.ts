/**
 * TriggerFire: the firing end of a CREATE TRIGGER. Its input rows are the events that passed WHEN (with
 * the joined profile as of each event); for each it decides, per key, whether the firing is delivered
 * (NOTIFY on the trigger's channel), held out (recorded, not delivered: the holdout group, chosen by a
 * hash of trigger and key so a key is always in or out), or suppressed (inactive period, cooldown, cap).
 *
 * Per-key state ([firings so far, event time of the last one]) and the counters live in the trigger's state
 * table and are checkpointed with its offsets. Every decision is kept as an audit row under the event's
 * source position. Delivery happens as the event is processed: after a crash, events after the last
 * checkpoint are processed again and their notifications can be sent twice (at least once).
 */
import type { Row, Value } from '../../common/types.ts'
import { compileProjection } from '../../planner/compile.ts'
import type { EvalContext } from '../../planner/runtime.ts'
import type { TriggerDef } from '../../planner/trigger-plan.ts'
import type { NotificationHub } from '../notifications.ts'
import { WebhookDelivery, type WebhookJob } from '../webhook.ts'
import { positionRows } from './held-rows.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'
import type { PositionEncoder } from './append-project.ts'

export type FiringOutcome = 'delivered' | 'held_out' | 'suppressed_cooldown' | 'suppressed_cap' | 'suppressed_priority' | 'inactive'

/** A firing a trigger could give for one event, before its options and its priority group decide. */
export interface Candidate {
  readonly partition: number
  readonly offset: number
  readonly key: string
  readonly keyValues: readonly Value[]
  readonly time: number
  readonly output: Row
}

/**
 * Priority groups: at most one trigger of a group fires per event. Triggers offer their candidates while
 * the stream's triggers see a batch; `settle` then goes through the events in order and, per event and
 * group, lets the triggers decide by priority (highest first, then by name): the first that fires wins,
 * the later ones count the event as suppressed_priority.
 */
export class PriorityArbiter {
  private readonly offers: { group: string; priority: number; trigger: TriggerFire; candidate: Candidate }[] = []

  offer(group: string, priority: number, trigger: TriggerFire, candidate: Candidate): void {
    this.offers.push({ group, priority, trigger, candidate })
  }

  async settle(): Promise<void> {
    if (this.offers.length === 0) return
    const offers = this.offers.splice(0)
    offers.sort((a, b) => a.candidate.partition - b.candidate.partition || a.candidate.offset - b.candidate.offset || a.group.localeCompare(b.group) || b.priority - a.priority || a.trigger.def.name.localeCompare(b.trigger.def.name))
    let event = ''
    let taken = false
    for (const o of offers) {
      const id = `${o.candidate.partition}:${o.candidate.offset}:${o.group}`
      if (id !== event) {
        event = id
        taken = false
      }
      if (await o.trigger.decide(o.candidate, !taken)) taken = true
    }
    for (const t of new Set(offers.map((o) => o.trigger))) t.saveCounters()
  }
}

/** Counters of a trigger, as sluice_triggers shows them. */
export interface TriggerCounters {
  fires: number
  delivered: number
  held_out: number
  suppressed_cooldown: number
  suppressed_cap: number
  suppressed_priority: number
  inactive: number
  /** Webhook deliveries that failed after their last retry (each is a dead letter). */
  errors: number
  /** Event time of the last firing delivered or held out (microseconds), or null. */
  last_fire: number | null
}

const COUNTERS_KEY_VALUE = '\u0000counters'
const OUTBOX_KEY_VALUE = '\u0000outbox'
const START_KEY_VALUE = '\u0000start'

/** Where a webhook that failed for good is reported: the engine files it as a dead letter. */
export type DeadLetterSink = (trigger: string, partition: number, offset: number, body: string, reason: string) => void

/** Appends a row to a stream (the engine's INSERT). */
export type StreamInserter = (stream: string, row: Row) => Promise<void>

export class TriggerFire {
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly countersKey: string
  private counters: TriggerCounters | null = null
  /** Per source partition, the first offset that may fire: the stream's end when the trigger was created. */
  private startAt: number[] | null = null
  private readonly startKey: string
  private readonly outboxPrefix: string
  private readonly webhook: WebhookDelivery | null

  constructor(
    public def: TriggerDef,
    private readonly table: KeyedTable,
    private readonly encodeKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly hub: NotificationHub,
    private readonly ctx: EvalContext,
    private readonly deadLetter: DeadLetterSink,
    private readonly insert: StreamInserter,
  ) {
    if (def.plan.body.kind !== 'project') throw new Error('a trigger plan projects its payload')
    this.project = compileProjection(def.plan.body.output)
    this.countersKey = encodeKey([COUNTERS_KEY_VALUE])
    this.startKey = encodeKey([START_KEY_VALUE])
    this.outboxPrefix = encodeKey([OUTBOX_KEY_VALUE])
    const action = def.spec.action
    this.webhook =
      action.kind === 'webhook'
        ? new WebhookDelivery(
            action,
            (job) => this.table.delete(job.id),
            (job, reason) => {
              this.table.delete(job.id)
              if (this.counters !== null) this.counters.errors++
              const [, partition, offset] = job.idempotencyKey.split(':').map(Number)
              this.deadLetter(this.def.name, partition ?? 0, offset ?? 0, job.body, reason)
            },
          )
        : null
  }

  /**
   * A new trigger fires for the events that arrive after it is created, not for the stream's history:
   * `offsets` are the stream's end offsets at creation, kept in the trigger's state.
   */
  startFrom(offsets: readonly number[]): string {
    this.startAt = offsets.slice()
    this.table.set(this.startKey, this.startAt)
    return this.startKey
  }

  /** After a restart: webhook firings that were not confirmed delivered are sent again. */
  async resume(): Promise<void> {
    if (this.webhook === null) return
    for await (const [key, value] of this.table.scan()) {
      if (!key.startsWith(this.outboxPrefix)) continue
      const [url, idempotencyKey, body] = value as string[]
      this.webhook.submit({ id: key, url: url!, idempotencyKey: idempotencyKey!, body: body! })
    }
  }

  /** Stops webhook deliveries (the trigger is dropped or the server stops). */
  close(): void {
    this.webhook?.close()
  }

  /**
   * Takes the events of a micro-batch that passed WHEN. A trigger in a priority group hands its candidate
   * firings to the group's arbiter, which decides after every trigger of the stream has seen the batch;
   * the others decide at once.
   */
  async process(partition: number, offsets: readonly number[], rows: readonly Row[]): Promise<void> {
    if (rows.length === 0 && this.counters !== null) return
    const candidates = await this.candidates(partition, offsets, rows)
    if (this.def.spec.priorityGroup !== null && this.arbiter !== null) {
      for (const c of candidates) this.arbiter.offer(this.def.spec.priorityGroup, this.def.spec.priority, this, c)
      return
    }
    for (const c of candidates) await this.decide(c, true)
    this.saveCounters()
  }

  /** The firings a batch could give: the events from the trigger's start on, with their key, time and output. */
  private async candidates(partition: number, offsets: readonly number[], rows: readonly Row[]): Promise<Candidate[]> {
    const spec = this.def.spec
    const keys = rows.map((r) => this.encodeKey(spec.keyIndexes.map((i) => r[i] ?? null)))
    await this.table.load([...keys, this.countersKey, this.startKey])
    this.counters ??= decodeCounters(this.table.get(this.countersKey))
    this.startAt ??= ((this.table.get(this.startKey) as number[] | undefined) ?? []).slice()
    const firstOffset = this.startAt[partition] ?? 0
    const empty: Value[] = []
    const out: Candidate[] = []
    for (let i = 0; i < rows.length; i++) {
      if (offsets[i]! < firstOffset) continue
      const row = rows[i]!
      const t = spec.timeIndex !== null && typeof row[spec.timeIndex] === 'number' ? (row[spec.timeIndex] as number) : Date.now() * 1000
      out.push({ partition, offset: offsets[i]!, key: keys[i]!, keyValues: spec.keyIndexes.map((k) => row[k] ?? null), time: t, output: this.project(row, empty, this.ctx) })
    }
    return out
  }

  /**
   * Decides one candidate firing and carries it out. With `mayFire` false (another trigger of its priority
   * group fires for this event) a firing that would have gone out is suppressed instead. Returns whether
   * it fired (delivered or held out).
   */
  async decide(c: Candidate, mayFire: boolean): Promise<boolean> {
    const spec = this.def.spec
    const counters = this.counters!
    const state = this.table.get(c.key) ?? [0, null]
    const fires = state[0] as number
    const last = state[1] as number | null
    const payload = c.output[0]
    counters.fires++
    let outcome: FiringOutcome
    if (!this.def.enabled || (spec.activeFrom !== null && c.time < spec.activeFrom) || (spec.activeUntil !== null && c.time >= spec.activeUntil)) outcome = 'inactive'
    else if (spec.cooldown !== null && last !== null && c.time < last + spec.cooldown) outcome = 'suppressed_cooldown'
    else if (spec.maxFires !== null && fires >= spec.maxFires) outcome = 'suppressed_cap'
    else if (!mayFire) outcome = 'suppressed_priority'
    else outcome = spec.holdout > 0 && holdoutShare(this.def.name, c.key) < spec.holdout ? 'held_out' : 'delivered'
    counters[outcome]++
    const fired = outcome === 'delivered' || outcome === 'held_out'
    if (fired) {
      this.table.set(c.key, [fires + 1, c.time])
      counters.last_fire = c.time
      if (outcome === 'delivered') {
        if (spec.action.kind === 'insert') await this.insert(spec.action.stream, c.output)
        else this.deliver(c.partition, c.offset, c.time, c.keyValues, typeof payload === 'string' ? payload : '')
      }
    }
    const audited = spec.action.kind === 'insert' ? JSON.stringify(c.output) : (payload ?? null)
    this.table.append(this.encodePosition(c.partition, c.offset), [c.time, c.keyValues as Value[], outcome, audited])
    return fired
  }

  /** Keeps the counters with the state (after a batch, or after the arbiter decided). */
  saveCounters(): void {
    if (this.counters !== null) this.table.set(this.countersKey, encodeCounters(this.counters))
  }

  /** The arbiter of the stream's priority groups, set by the engine for triggers that have a group. */
  arbiter: PriorityArbiter | null = null

  private deliver(partition: number, offset: number, time: number, key: readonly Value[], payload: string): void {
    const action = this.def.spec.action
    if (action.kind === 'notify') {
      this.hub.publish({ channel: action.channel, payload, senderPid: 0 })
      return
    }
    if (action.kind !== 'webhook') return
    // Kept in the outbox (checkpointed with the state) until the receiver confirms, so a crash loses none.
    const idempotencyKey = `${this.def.name}:${partition}:${offset}`
    const body = JSON.stringify({ trigger: this.def.name, idempotency_key: idempotencyKey, event_time: new Date(time / 1000).toISOString(), key, payload: jsonOrText(payload) })
    const id = this.encodeKey([OUTBOX_KEY_VALUE, partition, offset])
    this.table.set(id, [action.url, idempotencyKey, body])
    const job: WebhookJob = { id, url: action.url, idempotencyKey, body }
    this.webhook!.submit(job)
  }

  /** The counters (read from the state after a restart). */
  async stats(): Promise<TriggerCounters> {
    if (this.counters === null) {
      await this.table.load([this.countersKey])
      this.counters = decodeCounters(this.table.get(this.countersKey))
    }
    return { ...this.counters }
  }

  /** Audit rows: [event time, key values, outcome, payload] per candidate firing, by source position. */
  rows(): AsyncGenerator<Row> {
    return positionRows(this.table)
  }
}

/** Where a key falls in [0, 1) for the holdout, from a hash of trigger and key (FNV-1a, then mixed). */
export function holdoutShare(trigger: string, key: string): number {
  let h = 0x811c9dc5
  const s = `${trigger}\u0000${key}`
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}

const FIELDS = ['fires', 'delivered', 'held_out', 'suppressed_cooldown', 'suppressed_cap', 'inactive', 'errors', 'suppressed_priority'] as const

function decodeCounters(v: Value[] | undefined): TriggerCounters {
  const c: TriggerCounters = { fires: 0, delivered: 0, held_out: 0, suppressed_cooldown: 0, suppressed_cap: 0, suppressed_priority: 0, inactive: 0, errors: 0, last_fire: null }
  if (v === undefined) return c
  FIELDS.forEach((f, i) => (c[f] = typeof v[i] === 'number' ? v[i] : 0))
  const last = v[v.length - 1]
  c.last_fire = typeof last === 'number' && v.length > FIELDS.length ? last : null
  return c
}

const encodeCounters = (c: TriggerCounters): Value[] => [...FIELDS.map((f) => c[f]), c.last_fire]

/** A payload that is JSON goes into the webhook body as JSON, anything else as a string. */
function jsonOrText(payload: string): unknown {
  try {
    return JSON.parse(payload)
  } catch {
    return payload
  }
}
