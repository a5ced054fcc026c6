/**
 * SUBSCRIBE on the server side: resolves the relation, creates the executor's Subscription and shapes its
 * changes into result rows
 *
 *   sluice_timestamp bigint   -- processing time of the change, ms since the Unix epoch
 *   [sluice_progressed bool]  -- only WITH (progress = true): true on progress rows, whose other columns are NULL
 *   sluice_diff bigint        -- +1 the row came, -1 it left
 *   the relation's columns...
 *
 * and into the three ways of reading them: a RowCursor that never ends (a plain query or a portal; each
 * `next` waits for at least one row), the COPY text format (`COPY (SUBSCRIBE v) TO STDOUT`) and a cursor
 * for DECLARE / FETCH (server/cursors.ts). Reading stops when the client cancels (57014) or goes away, or
 * when it falls more than the server's --subscribe-max-lag behind (53400; see executor/change-feed.ts).
 * In cluster mode the subscription is the merge of every task's (cluster/subscribe.ts), read the same way.
 */
import { SluiceError, SqlState, planError, syntaxError } from '../common/errors.ts'
import { Types, type Row, type SqlType, type Value, formatValue } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import type { Engine } from '../executor/engine.ts'
import { Subscription, type FeedItem, type LiveFeed } from '../executor/change-feed.ts'
import type { ResultColumn, RowCursor } from './backend.ts'
import { QueryGuard, parseTimeoutSetting } from '../executor/query-budget.ts'

/** Lets a waiting read end when the client sends a CancelRequest. */
export interface CancelSignal {
  /** Bumped by every cancel; a read that started at another generation was cancelled. */
  readonly generation: number
  /** Aborts at the next cancel. */
  readonly signal: AbortSignal
}

export const canceledError = (): SluiceError => new SluiceError('execution', SqlState.queryCanceled, 'canceling statement due to user request')

const column = (name: string, type: SqlType): ResultColumn => ({ name, type, typeModifier: -1, tableOid: 0, columnNumber: 0 })

/** A SUBSCRIBE resolved against the catalog: its result columns, ready to start. */
export interface SubscribePlan {
  readonly relation: string
  readonly kind: 'view' | 'stream'
  readonly columns: readonly ResultColumn[]
  readonly snapshot: boolean
  readonly progress: boolean
  /** WITH (min_interval = '100ms'): look for changes at most this often (ms); 0 after every engine step. */
  readonly minIntervalMs: number
}

/** The longest min_interval: a subscription that looks less often than this is not live any more. */
export const MAX_MIN_INTERVAL_MS = 60_000

/** Checks the relation and options; throws 42P01 for an unknown relation, 22023 for a bad option. */
export function planSubscribe(s: ast.Subscribe, engine: Engine): SubscribePlan {
  const name = s.relation.parts.at(-1) ?? ''
  const entry = engine.catalog.get(name)
  if (entry === undefined) throw planError(SqlState.undefinedTable, `relation "${name}" does not exist`, s.relation.span)
  if (entry.kind === 'stream' && entry.source.kind === 'kafka') {
    throw new SluiceError('unsupported', SqlState.featureNotSupported, `SUBSCRIBE to stream "${name}" reading a Kafka topic is not supported`, {
      span: s.relation.span,
      hint: `Create a materialized view (SELECT * FROM ${name}) and SUBSCRIBE to it.`,
    })
  }
  let snapshot = true
  let progress = false
  let minIntervalMs = 0
  for (const o of s.options) {
    if (o.name === 'min_interval') {
      minIntervalMs = minInterval(o)
      continue
    }
    if (typeof o.value !== 'boolean') throw new SluiceError('plan', SqlState.invalidParameterValue, `option "${o.name}" takes true or false`, { span: o.span })
    if (o.name === 'snapshot') snapshot = o.value
    else if (o.name === 'progress') progress = o.value
    else throw syntaxError(`unknown SUBSCRIBE option "${o.name}"`, o.span, 'SUBSCRIBE takes snapshot, progress and min_interval.')
  }
  const leading = [column('sluice_timestamp', Types.int8), ...(progress ? [column('sluice_progressed', Types.bool)] : []), column('sluice_diff', Types.int8)]
  return { relation: name, kind: entry.kind, columns: [...leading, ...entry.columns.map((c) => column(c.name, c.type))], snapshot, progress, minIntervalMs }
}

/** min_interval: a duration (`'100ms'`, `'1s'`) or a number of milliseconds, from 0 to a minute. */
function minInterval(o: ast.OptionDef): number {
  const ms = typeof o.value === 'number' ? o.value : typeof o.value === 'string' ? parseTimeoutSetting(o.value) : null
  if (ms === null || !Number.isFinite(ms) || ms < 0 || ms > MAX_MIN_INTERVAL_MS) {
    throw new SluiceError('plan', SqlState.invalidParameterValue, `option "min_interval" takes a duration from 0 to ${MAX_MIN_INTERVAL_MS / 1000} seconds ('250ms', '1s')`, { span: o.span })
  }
  return Math.round(ms)
}

/**
 * Starts reading the relation's changes; close the subscription when done. Resolves once its starting
 * point is set (the snapshot taken), so every change the client causes after it hears back is delivered.
 */
export async function startSubscription(plan: SubscribePlan, engine: Engine): Promise<LiveFeed> {
  const options = { snapshot: plan.snapshot, progress: plan.progress, minIntervalMs: plan.minIntervalMs }
  // A cluster node's own engine computes no view: its tasks do, on every node (cluster/subscribe.ts).
  if (engine.clustered) {
    const feed = plan.kind === 'view' ? engine.clusterSubscribe(plan.relation, options) : null
    if (feed === null) throw new SluiceError('unsupported', SqlState.featureNotSupported, `SUBSCRIBE to stream "${plan.relation}" is not supported in cluster mode`, { hint: `Create a materialized view (SELECT * FROM ${plan.relation}) and SUBSCRIBE to it.` })
    return feed
  }
  const source =
    plan.kind === 'view'
      ? { kind: 'view' as const, view: () => engine.query(plan.relation) }
      : { kind: 'stream' as const, stream: () => engine.streamRuntime(plan.relation) }
  const sub = new Subscription(engine.changes, source, options)
  await sub.ready()
  return sub
}

/** A feed item as a result row of the plan's columns. */
export function feedRow(item: FeedItem, plan: SubscribePlan): Row {
  const width = plan.columns.length - (plan.progress ? 3 : 2)
  if (item.kind === 'progress') return [item.timestamp, true, null, ...new Array<Value>(width).fill(null)]
  const row: Row = plan.progress ? [item.timestamp, false, item.diff] : [item.timestamp, item.diff]
  for (let i = 0; i < width; i++) row.push(item.row[i] ?? null)
  return row
}

/**
 * Waits for at least one row (up to `timeoutMs`, null = forever), then takes up to `max` (<= 0: all there
 * are). Throws 57014 when cancelled, the subscription's error when it failed; [] on timeout or end.
 */
export async function takeLive(sub: LiveFeed, plan: SubscribePlan, max: number, timeoutMs: number | null, cancel: CancelSignal, generation: number): Promise<Row[]> {
  if (cancel.generation !== generation) throw canceledError()
  await sub.wait(timeoutMs, cancel.signal)
  if (cancel.generation !== generation) throw canceledError()
  return sub.take(max).map((item) => feedRow(item, plan))
}

/**
 * An endless RowCursor over a subscription: each `next` waits for rows; done only once the subscription ends.
 * `deadline` (statement_timeout) ends it with 57014; `cancel.signal` must then also abort at the deadline.
 */
export function liveCursor(sub: LiveFeed, plan: SubscribePlan, cancel: CancelSignal, deadline?: { checkInterrupts(): void }): RowCursor {
  const generation = cancel.generation
  // Rows already queued (a large snapshot) come without waiting: sent a slice at a time, so that the
  // sending gives the event loop back.
  const slices = QueryGuard.unlimited()
  return {
    next: async (max) => {
      for (;;) {
        deadline?.checkInterrupts()
        const rows = await takeLive(sub, plan, max, null, cancel, generation)
        if (slices.tick(rows.length)) await slices.pause()
        if (rows.length > 0 || sub.ended) return { rows, done: rows.length === 0 && sub.ended && sub.pending === 0 }
      }
    },
    close: () => sub.close(),
    live: true,
    stopped: sub.stopped,
  }
}

/** COPY text format of one row: tab-separated, `\N` for NULL, backslash escapes as PostgreSQL writes them. */
export function copyTextLine(row: readonly Value[], types: readonly SqlType[]): string {
  let line = ''
  for (let i = 0; i < types.length; i++) {
    if (i > 0) line += '\t'
    const s = formatValue(row[i] ?? null, types[i]!)
    line += s === null ? '\\N' : escapeCopyText(s)
  }
  return `${line}\n`
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }

function escapeCopyText(s: string): string {
  return /[\\\b\f\n\r\t\v]/.test(s) ? s.replace(/[\\\b\f\n\r\t\v]/g, (ch) => COPY_ESCAPES[ch]!) : s
}

/** COPY TO STDOUT chunks of a RowCursor's rows, one chunk per batch it hands out, with a running count. */
export function copyChunks(cursor: RowCursor, types: readonly SqlType[]): { chunks: AsyncIterable<Buffer>; rowCount: () => number } {
  let count = 0
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const { rows, done } = await cursor.next(1024)
        if (rows.length > 0) {
          count += rows.length
          yield Buffer.from(rows.map((r) => copyTextLine(r, types)).join(''), 'utf8')
        }
        if (done) return
      }
    } finally {
      cursor.close()
    }
  }
  return { chunks: chunks(), rowCount: () => count }
}
