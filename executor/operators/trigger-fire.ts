/**
 * TriggerFire: the firing end of a CREATE TRIGGER. Its input rows are the events that passed WHEN (with
 * the joined profile as of each event); for each it decides, per key, whether the firing is delivered
 * (NOTIFY on the trigger's channel), held out (recorded, not delivered: the holdout group, chosen by a
 * hash of trigger and key so a key is always in or out), or suppressed (inactive period, cooldown, cap).
 *
 * The counters and the audit of every decision (encoded per batch, one entry per partition and checkpoint,
 * see trigger-audit.ts) live in the trigger's state table; the per-key state (only while cooldown or max_fires read it) in the table all
 * triggers of the stream share (see trigger-key-state.ts). All are checkpointed with its offsets.
 * Delivery happens as the event is processed: after a crash, events after the last checkpoint are
 * processed again and their notifications can be sent twice (at least once).
 *
 * Firings are the hot path: with a thousand triggers on a stream, every matching event fires several.
 * So deciding is synchronous, and a firing allocates its payload and no more (no candidate object, key
 * string or audit array of its own) unless its options or target need them.
 */
import type { Row, Value } from '../../common/types.ts'
import { compileExpr, compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { TriggerDef } from '../../planner/trigger-plan.ts'
import type { NotificationHub } from '../notifications.ts'
import { WebhookDelivery, type WebhookJob } from '../webhook.ts'
import type { WebhookAllowList } from '../webhook-policy.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { Mutation } from '../state/rocks.ts'
import { OperatorDefaults, type ChangeSink, type OperatorBatch, type StreamOperator } from './operator.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'
import type { PositionEncoder } from './append-project.ts'
import { AuditLog, OUTCOMES, Outcome, auditRows, type FiringOutcome } from './trigger-audit.ts'
import { KEY_STATE_MARKER, NOT_KEPT, type StreamKeyState, keepsKeyState, keptMarker, keptUnder, newTag, rebuildKeyState } from './trigger-key-state.ts'

export type { FiringOutcome } from './trigger-audit.ts'

/** A firing a trigger in a priority group could give for one event, before the group decides. */
export interface Candidate {
  readonly partition: number
  readonly offset: number
  /** The encoded key for the holdout hash ('' when the holdout is not used). */
  readonly key: string
  /** The key of the per-key state in the stream's table ('' when the trigger keeps none). */
  readonly stateKey: string
  readonly time: number
  /** The event (with the joined view's columns): the key values are read from it. */
  readonly row: Row
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
    // The per-key state of all candidates, loaded at once: loading one trigger's keys could evict another's.
    const byStore = new Map<StreamKeyState, string[]>()
    for (const o of offers) {
      if (o.candidate.stateKey === '') continue
      const store = o.trigger.keyStates
      const keys = byStore.get(store)
      if (keys === undefined) byStore.set(store, [o.candidate.stateKey])
      else keys.push(o.candidate.stateKey)
    }
    for (const [store, keys] of byStore) await store.load(keys)
    offers.sort((a, b) => a.candidate.partition - b.candidate.partition || a.candidate.offset - b.candidate.offset || a.group.localeCompare(b.group) || b.priority - a.priority || a.trigger.def.name.localeCompare(b.trigger.def.name))
    let event = ''
    let taken = false
    for (const o of offers) {
      const id = `${o.candidate.partition}:${o.candidate.offset}:${o.group}`
      if (id !== event) {
        event = id
        taken = false
      }
      if (o.trigger.decide(o.candidate, !taken)) taken = true
    }
    for (const t of new Set(offers.map((o) => o.trigger))) await t.finishBatch()
  }
}

/**
 * Counters of a trigger, as sluice_triggers shows them. fires = delivered + held_out + suppressed_* +
 * inactive + pending + failed: a webhook firing counts as pending until the receiver confirms it
 * (delivered) or it fails for good (failed).
 */
export interface TriggerCounters {
  fires: number
  /** Sent: NOTIFY published, row inserted, or webhook answered 2xx. */
  delivered: number
  held_out: number
  suppressed_cooldown: number
  suppressed_cap: number
  suppressed_priority: number
  inactive: number
  /** Webhook firings in the outbox: not yet answered 2xx, and not yet failed. */
  pending: number
  /** Webhook firings that failed for good (refused, redirected, or out of retries): each is a dead letter. */
  failed: number
  /** Webhook attempts that failed and were tried again. */
  retried: number
  /** Event time of the last firing delivered or held out (microseconds), or null. */
  last_fire: number | null
}

const COUNTERS_KEY_VALUE = '\u0000counters'
const OUTBOX_KEY_VALUE = '\u0000outbox'
const START_KEY_VALUE = '\u0000start'
/** Where a webhook firing's end (delivered or failed) is kept for the audit: [partition, offset, outcome]. */
const END_KEY_VALUE = '\u0000end'

/** Where a webhook that failed for good is reported: the engine files it as a dead letter. */
export type DeadLetterSink = (trigger: string, partition: number, offset: number, body: string, reason: string) => void

/** Appends a row to a stream (the engine's INSERT). */
export type StreamInserter = (stream: string, row: Row) => Promise<void>

const EMPTY: Value[] = []

/** Its table's entries: counters, start offsets, outbox jobs, webhook ends and audit batches, each a Value[] record. */
export type TriggerEntry = Value[]

export class TriggerFire extends OperatorDefaults implements StreamOperator {
  readonly role = 'trigger'
  readonly keyed = null
  /** Firing is done as events come: a trigger has nothing to do when the watermark moves. */
  readonly idleOnWatermark = true
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  /** The payload alone (its first column), for actions other than EXECUTE INSERT: no row per firing. */
  private readonly payloadOf: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value) | null
  private readonly countersKey: string
  private counters: TriggerCounters | null = null
  /** Per source partition, the first offset that may fire: the stream's end when the trigger was created. */
  private startAt: number[] | null = null
  private readonly startKey: string
  private readonly outboxPrefix: string
  private readonly endPrefix: string
  private readonly webhook: WebhookDelivery | null
  /** The tag under which the stream's table holds this trigger's complete per-key state, or null (see trigger-key-state.ts). */
  private keyTag: number | null = null
  private readonly keyStateKey: string
  /** The decisions since the last checkpoint, appended to the table when one is built. */
  private readonly audit = new AuditLog()
  /** Rows for EXECUTE INSERT from the batch under way, inserted in order when it is done. */
  private inserts: Row[] = []
  /** The FNV-1a state after the trigger's name, where every key's holdout hash starts. */
  private readonly holdoutSeed: number

  constructor(
    public def: TriggerDef,
    private readonly table: KeyedTable<TriggerEntry>,
    private readonly encodeKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly hub: NotificationHub,
    private readonly ctx: EvalContext,
    private readonly deadLetter: DeadLetterSink,
    private readonly insert: StreamInserter,
    /** The per-key state of the triggers of the stream this one reads (its table is opened on first use). */
    readonly keyStates: StreamKeyState,
    /** Where webhooks may go (the server's --webhook-allow). */
    webhookAllow: WebhookAllowList,
    /** Called when a webhook's end changed the table outside a batch (a checkpoint should keep it). */
    private readonly touched: () => void = () => undefined,
  ) {
    super()
    if (def.plan.body.kind !== 'project') throw new Error('a trigger plan projects its payload')
    this.project = compileProjection(def.plan.body.output)
    const first = def.plan.body.output[0]
    this.payloadOf = def.spec.action.kind === 'insert' || first === undefined ? null : compileExpr(first)
    this.countersKey = encodeKey([COUNTERS_KEY_VALUE])
    this.startKey = encodeKey([START_KEY_VALUE])
    this.outboxPrefix = encodeKey([OUTBOX_KEY_VALUE])
    this.endPrefix = encodeKey([END_KEY_VALUE])
    this.keyStateKey = encodeKey([KEY_STATE_MARKER])
    this.holdoutSeed = holdoutSeed(def.name)
    const action = def.spec.action
    this.webhook =
      action.kind === 'webhook'
        ? new WebhookDelivery(action, webhookAllow, {
            delivered: (job) => this.ended(job, Outcome.Delivered),
            retrying: () => {
              if (this.counters === null) return
              this.counters.retried++
              this.saveCounters()
            },
            failed: (job, reason) => {
              const [partition, offset] = this.ended(job, Outcome.Failed)
              this.deadLetter(this.def.name, partition, offset, job.body, reason)
            },
          })
        : null
  }

  /**
   * A webhook firing is done: out of the outbox, counted delivered or failed instead of pending, and its
   * end kept for the audit. All in the table, so the next checkpoint has the outbox and counters agree.
   */
  private ended(job: WebhookJob, outcome: Outcome.Delivered | Outcome.Failed): [number, number] {
    // The idempotency key ends with the event's partition and offset (the name before may hold ':').
    const parts = job.idempotencyKey.split(':')
    const partition = Number(parts[parts.length - 2] ?? 0)
    const offset = Number(parts[parts.length - 1] ?? 0)
    this.table.delete(job.id)
    this.table.set(this.encodeKey([END_KEY_VALUE, partition, offset]), [partition, offset, outcome])
    if (this.counters !== null) {
      this.counters.pending = Math.max(0, this.counters.pending - 1)
      this.counters[OUTCOMES[outcome]!]++
      this.saveCounters()
    }
    this.touched()
    return [partition, offset]
  }

  /**
   * A new trigger fires for the events that arrive after it is created, not for the stream's history:
   * `offsets` are the stream's end offsets at creation, kept in the trigger's state.
   */
  startFrom(offsets: readonly number[]): string {
    this.startAt = offsets.slice()
    this.table.set(this.startKey, this.startAt)
    // Nothing has fired yet: the per-key state its options read is complete as it is (empty, under a new tag).
    // (A trigger on a view may have seen a batch already, and started keeping it: that tag stays.)
    if (keepsKeyState(this.def.spec)) {
      this.keyTag ??= newTag()
      this.table.set(this.keyStateKey, keptMarker(this.keyTag))
    }
    // A trigger just created has nothing stored: its first batch need not read the counters and the rest.
    this.counters ??= decodeCounters(undefined)
    this.opened = true
    return this.startKey
  }

  /** After a restart: webhook firings that were not confirmed delivered are sent again. */
  async resume(): Promise<void> {
    if (this.webhook === null) return
    // The counters first: a delivery that ends moves its firing from pending to delivered or failed.
    if (!this.opened) await this.open()
    const jobs: WebhookJob[] = []
    for await (const [key, value] of this.table.scan()) {
      if (!key.startsWith(this.outboxPrefix)) continue
      const [url, idempotencyKey, body] = value as string[]
      jobs.push({ id: key, url: url!, idempotencyKey: idempotencyKey!, body: body! })
    }
    const c = this.counters
    if (c !== null && this.table.get(this.countersKey)?.[0] !== COUNTERS_LAYOUT && jobs.length > 0) {
      // Counters of the earlier layout counted a webhook firing delivered when it was sent: those still
      // in the outbox are pending.
      c.pending = jobs.length
      c.delivered = Math.max(0, c.delivered - jobs.length)
      this.saveCounters()
    }
    for (const job of jobs) this.webhook.submit(job)
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
  async process(batch: OperatorBatch): Promise<void> {
    const signs = batch.signs
    if (signs === undefined) return this.fire(batch.partition, batch.offsets, batch.rows)
    // On a view whose rows change, a trigger fires on the new rows; the withdrawn old ones pass it by.
    await this.fire(batch.partition, batch.offsets.filter((_, j) => signs[j]! > 0), batch.rows.filter((_, j) => signs[j]! > 0))
  }

  /**
   * `process` at once where the trigger need not wait: its state read, no per-key state to load (no
   * cooldown or cap), no rows to insert and no priority group to wait for. The most common trigger.
   */
  processNow(batch: OperatorBatch): Promise<void> | null {
    const spec = this.def.spec
    if (batch.signs !== undefined || !this.opened || this.keyTag !== null || keepsKeyState(spec) || spec.action.kind === 'insert' || (spec.priorityGroup !== null && this.arbiter !== null)) return this.process(batch)
    if (batch.rows.length === 0) return null
    this.decideRows(batch.partition, batch.offsets, batch.rows, null, null)
    this.endBatch()
    return null
  }

  /** Takes the rows that passed WHEN (see process), by source offset. */
  async fire(partition: number, offsets: readonly number[], rows: readonly Row[]): Promise<void> {
    if (rows.length === 0 && this.opened) return
    if (!this.opened) await this.open()
    const spec = this.def.spec
    const group = spec.priorityGroup !== null && this.arbiter !== null ? spec.priorityGroup : null
    const keep = keepsKeyState(spec)
    if (keep !== (this.keyTag !== null)) await this.switchKeyState(keep)
    // Encoded keys of the per-key state, loaded for the whole batch at once.
    let stateKeys: string[] | null = null
    if (keep) {
      stateKeys = new Array<string>(rows.length)
      for (let i = 0; i < rows.length; i++) stateKeys[i] = this.keyOf(rows[i]!, this.encodeStateKey)
      // Deciding follows at once: nothing else loads keys of the stream's table in between.
      if (group === null) await this.keyStates.load(stateKeys)
    }
    this.decideRows(partition, offsets, rows, stateKeys, group)
    if (group === null) await this.finishBatch()
  }

  /** Decides the rows (or offers them to the group's arbiter); `stateKeys`: their keys in the per-key state, if kept. */
  private decideRows(partition: number, offsets: readonly number[], rows: readonly Row[], stateKeys: readonly string[] | null, group: string | null): void {
    const spec = this.def.spec
    // Encoded keys for the holdout hash.
    let keys: string[] | null = null
    if (spec.holdout > 0) {
      keys = new Array<string>(rows.length)
      for (let i = 0; i < rows.length; i++) keys[i] = this.keyOf(rows[i]!, this.encodeKey)
    }
    const firstOffset = this.startAt![partition] ?? 0
    const payloadOf = spec.action.kind === 'insert' ? null : this.payloadOf
    for (let i = 0; i < rows.length; i++) {
      const offset = offsets[i]!
      if (offset < firstOffset) continue
      const row = rows[i]!
      const time = spec.timeIndex !== null && typeof row[spec.timeIndex] === 'number' ? (row[spec.timeIndex] as number) : Date.now() * 1000
      const key = keys === null ? '' : keys[i]!
      const stateKey = stateKeys === null ? '' : stateKeys[i]!
      if (group !== null) {
        const output = payloadOf === null ? this.project(row, EMPTY, this.ctx) : [payloadOf(row, EMPTY, this.ctx) ?? null]
        this.arbiter!.offer(group, spec.priority, this, { partition, offset, key, stateKey, time, row, output })
      } else if (payloadOf !== null) this.decideOne(partition, offset, key, stateKey, time, row, null, payloadOf(row, EMPTY, this.ctx) ?? null, true)
      else {
        const output = this.project(row, EMPTY, this.ctx)
        this.decideOne(partition, offset, key, stateKey, time, row, output, output[0] ?? null, true)
      }
    }
  }

  /**
   * Decides a candidate of a priority group and carries it out. With `mayFire` false (another trigger of
   * its group fires for this event) a firing that would have gone out is suppressed instead. Returns
   * whether it fired (delivered or held out).
   */
  decide(c: Candidate, mayFire: boolean): boolean {
    return this.decideOne(c.partition, c.offset, c.key, c.stateKey, c.time, c.row, c.output, c.output[0] ?? null, mayFire)
  }

  /** `output`: the projected row (null where only the payload was computed: no EXECUTE INSERT); `payload` its first column. */
  private decideOne(partition: number, offset: number, key: string, stateKey: string, time: number, row: Row, output: Row | null, payload: Value, mayFire: boolean): boolean {
    const spec = this.def.spec
    const counters = this.counters!
    const tag = stateKey === '' ? null : this.keyTag
    const id = this.def.id
    let fires = 0
    let last: number | null = null
    if (tag !== null) {
      this.keyStates.read(stateKey, id, tag)
      fires = this.keyStates.firings
      last = this.keyStates.lastFire
    }
    let outcome: Outcome
    if (!this.def.enabled || (spec.activeFrom !== null && time < spec.activeFrom) || (spec.activeUntil !== null && time >= spec.activeUntil)) outcome = Outcome.Inactive
    else if (spec.cooldown !== null && last !== null && time < last + spec.cooldown) outcome = Outcome.SuppressedCooldown
    else if (spec.maxFires !== null && fires >= spec.maxFires) outcome = Outcome.SuppressedCap
    else if (!mayFire) outcome = Outcome.SuppressedPriority
    else if (spec.holdout > 0 && holdoutShareFrom(this.holdoutSeed, key) < spec.holdout) outcome = Outcome.HeldOut
    // A webhook is delivered when its receiver says so: until then the firing is pending.
    else outcome = spec.action.kind === 'webhook' ? Outcome.Pending : Outcome.Delivered
    counters.fires++
    counters[OUTCOMES[outcome]!]++
    const didFire = outcome === Outcome.Delivered || outcome === Outcome.HeldOut || outcome === Outcome.Pending
    if (didFire) {
      if (tag !== null) this.keyStates.record(stateKey, id, tag, fires + 1, time)
      counters.last_fire = time
      if (outcome !== Outcome.HeldOut) {
        if (spec.action.kind === 'insert') this.inserts.push(output!)
        else this.deliver(partition, offset, time, row, typeof payload === 'string' ? payload : '')
      }
    }
    this.audit.add(partition, offset, time, row, spec.keyIndexes, outcome, spec.action.kind === 'insert' ? JSON.stringify(output) : payload)
    return didFire
  }

  /**
   * The end of a batch (or of the arbiter's decisions): its audit is encoded and the counters marked for
   * the next checkpoint, then the rows of EXECUTE INSERT go to their stream, in the order of their events.
   */
  async finishBatch(): Promise<void> {
    this.endBatch()
    if (this.inserts.length === 0 || this.def.spec.action.kind !== 'insert') return
    const stream = this.def.spec.action.stream
    const rows = this.inserts
    this.inserts = []
    for (const r of rows) await this.insert(stream, r)
  }

  /** The batch's audit is complete and the counters changed (what ends every batch, at once). */
  private endBatch(): void {
    this.audit.seal()
    this.countersChanged = true
  }

  /** The arbiter of the stream's priority groups, set by the engine for triggers that have a group. */
  arbiter: PriorityArbiter | null = null

  /** The counters as stored, written in place: a batch marks them dirty, the checkpoint encodes them once. */
  private readonly storedCounters: Value[] = []
  /** Whether batches changed the counters since they were last written to the table. */
  private countersChanged = false

  /**
   * A checkpoint is being built: the audit since the last one and the counters go into the table first
   * (once per checkpoint rather than per batch: with a thousand triggers, per-batch entries were most of
   * what a checkpoint wrote), then its dirty entries into the checkpoint's batch.
   */
  override checkpoint(out: Mutation[]): void {
    this.audit.flush(this.table, this.encodePosition)
    if (this.countersChanged) this.saveCounters()
    super.checkpoint(out)
  }

  private saveCounters(): void {
    this.countersChanged = false
    if (this.counters === null) return
    encodeCounters(this.counters, this.storedCounters)
    this.table.set(this.countersKey, this.storedCounters)
  }

  /** Whether `open` read what the trigger keeps in memory between batches. */
  private opened = false

  /** Reads the counters, the start offsets and under which tag per-key state is kept (once). */
  private async open(): Promise<void> {
    await this.table.load([this.countersKey, this.startKey, this.keyStateKey])
    this.counters ??= decodeCounters(this.table.get(this.countersKey))
    this.startAt ??= ((this.table.get(this.startKey) as number[] | undefined) ?? []).slice()
    // startFrom may have set the tag already (a trigger created in this run).
    if (this.keyTag === null) this.keyTag = keptUnder(this.table.get(this.keyStateKey))
    this.opened = true
  }

  /**
   * An option that reads per-key state came (rebuild it from the audit under a new tag; also after an
   * upgrade from state kept in the trigger's own table) or went (stop keeping it: its parts go stale).
   */
  private async switchKeyState(keep: boolean): Promise<void> {
    if (keep) {
      this.keyStates.register(this.def.id)
      // From the whole audit, the firings since the last checkpoint too.
      this.audit.flush(this.table, this.encodePosition)
      const { tag } = await rebuildKeyState(this.table, this.keyStates, this.def.id)
      this.keyTag = tag
      this.table.set(this.keyStateKey, keptMarker(tag))
    } else {
      this.keyTag = null
      this.keyStates.unregister(this.def.id)
      this.table.set(this.keyStateKey, NOT_KEPT.slice())
    }
  }

  private readonly encodeStateKey = (values: readonly Value[]): string => this.keyStates.encodeKey(values)

  private keyOf(row: Row, encode: KeyEncoder): string {
    const ki = this.def.spec.keyIndexes
    if (ki.length === 1) return encode([row[ki[0]!] ?? null])
    return encode(ki.map((i) => row[i] ?? null))
  }

  private deliver(partition: number, offset: number, time: number, row: Row, payload: string): void {
    const action = this.def.spec.action
    if (action.kind === 'notify') {
      this.hub.notify(action.channel, payload)
      return
    }
    if (action.kind !== 'webhook') return
    // Kept in the outbox (checkpointed with the state) until the receiver confirms, so a crash loses none.
    const idempotencyKey = `${this.def.name}:${partition}:${offset}`
    const key = this.def.spec.keyIndexes.map((i) => row[i] ?? null)
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
      this.counters ??= decodeCounters(this.table.get(this.countersKey))
    }
    return { ...this.counters }
  }

  /** Audit rows: [event time, key values, outcome, payload] per candidate firing, by source position. */
  async *rows(): AsyncGenerator<Row> {
    // The firings since the last checkpoint are in the audit too.
    this.audit.flush(this.table, this.encodePosition)
    const ends = new Map<string, FiringOutcome>()
    if (this.def.spec.action.kind === 'webhook') {
      for await (const [key, value] of this.table.scan()) {
        if (key.startsWith(this.endPrefix)) ends.set(`${String(value[0])}:${String(value[1])}`, OUTCOMES[value[2] as number] ?? 'pending')
      }
    }
    yield* auditRows(this.table, ends)
  }

  describe(): string {
    return 'TriggerFire'
  }

  /** A trigger is no relation: no view reads it, no SUBSCRIBE follows it. */
  follow(): null {
    return null
  }

  changes(_key: string, value: TriggerEntry, sink: ChangeSink): void {
    sink.append(value)
  }

  rowsForReader(): Promise<Row[]> {
    return Promise.resolve([])
  }

}

/** Where a key falls in [0, 1) for the holdout, from a hash of trigger and key (FNV-1a, then mixed). */
export function holdoutShare(trigger: string, key: string): number {
  return holdoutShareFrom(holdoutSeed(trigger), key)
}

/** FNV-1a over `${trigger}\u0000`: the part of the holdout hash that is the same for every key. */
function holdoutSeed(trigger: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < trigger.length; i++) h = Math.imul(h ^ trigger.charCodeAt(i), 0x01000193)
  return Math.imul(h, 0x01000193) // the separator, \u0000: h ^ 0 is h
}

function holdoutShareFrom(seed: number, key: string): number {
  let h = seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}

/** The stored counters: COUNTERS_LAYOUT, FIELDS in order, then last_fire. */
const COUNTERS_LAYOUT = 'counters/2'
const FIELDS = ['fires', 'delivered', 'held_out', 'suppressed_cooldown', 'suppressed_cap', 'inactive', 'failed', 'suppressed_priority', 'pending', 'retried'] as const
/** The earlier layout (no marker; `errors` was failed, and webhook firings counted delivered when sent). */
const FIELDS_1 = ['fires', 'delivered', 'held_out', 'suppressed_cooldown', 'suppressed_cap', 'inactive', 'failed', 'suppressed_priority'] as const

function decodeCounters(v: Value[] | undefined): TriggerCounters {
  const c: TriggerCounters = { fires: 0, delivered: 0, held_out: 0, suppressed_cooldown: 0, suppressed_cap: 0, suppressed_priority: 0, inactive: 0, pending: 0, failed: 0, retried: 0, last_fire: null }
  if (v === undefined) return c
  const current = v[0] === COUNTERS_LAYOUT
  const fields: readonly (typeof FIELDS)[number][] = current ? FIELDS : FIELDS_1
  const at = current ? 1 : 0
  fields.forEach((f, i) => (c[f] = typeof v[at + i] === 'number' ? (v[at + i] as number) : 0))
  const last = v[v.length - 1]
  c.last_fire = typeof last === 'number' && v.length > at + fields.length ? last : null
  return c
}

/** The stored form of the counters, into `out`. */
function encodeCounters(c: TriggerCounters, out: Value[]): void {
  out[0] = COUNTERS_LAYOUT
  for (let i = 0; i < FIELDS.length; i++) out[i + 1] = c[FIELDS[i]!]
  out[FIELDS.length + 1] = c.last_fire
}

/** A payload that is JSON goes into the webhook body as JSON, anything else as a string. */
function jsonOrText(payload: string): unknown {
  try {
    return JSON.parse(payload)
  } catch {
    return payload
  }
}
