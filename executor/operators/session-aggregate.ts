/**
 * SessionAggregate: GROUP BY over SESSION(stream, ts, gap, key ...) windows.
 *
 * State, one entry per session key: the key's sessions, ordered by start, each
 *   [start, last event time, buffered rows | null, groups]
 * where `groups` holds one accumulator per GROUP BY group inside the session (the same layout as
 * KeyedAggregate's: group key values, then aggregate slots).
 *
 * An event whose [ts, ts + gap) overlaps a session joins it; one that overlaps several (a late event
 * bridging a gap) merges them, and the merged session's groups are folded again from its buffered rows in
 * event-time order, so any aggregate merges correctly without a merge function of its own. A session keeps
 * its rows only while it can still change: once the watermark passes its end plus the allowed lateness it
 * is final, its rows are dropped and only the groups remain. An event that would change a final session, or
 * start a new session that is already past the lateness, is late. Rows are dropped when the watermark makes
 * the session final, whether or not its key sees another event: otherwise every event of a key that went
 * quiet stayed in memory for good (see `finalizing`).
 *
 * WHERE filters which events are counted, not which shape the sessions: as in the batch form of the query,
 * the TVF sees every event of the key, the WHERE clause then drops rows from the groups.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compileAggregates, type CompiledAggregates } from '../../expr/compile-aggregates.ts'
import { compilePredicate, compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { SessionWindowSpec, ViewPlan } from '../../planner/view-plan.ts'
import { columnsUsed } from '../../expr/bound.ts'
import type { KeyedTable } from './keyed-table.ts'
import { followTable, type ViewFollower } from './view-follower.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'
import { OperatorDefaults, type ChangeSink, type OperatorBatch, type StreamOperator } from './operator.ts'

/** One session: [start, last event time, rows (null once final), groups as [encoded group key, acc] pairs]. */
type Session = [number, number, Row[] | null, [string, Value[]][]]

/** A session key's state entry: its sessions, ordered by start. */
export type SessionEntry = Session[]

/** Sessions becoming final are gone through in buckets of this much event time (µs): their rows go up to this much later. */
const FINAL_BUCKET = 1_000_000

const START = 0
const LAST = 1
const ROWS = 2
const GROUPS = 3

export class SessionAggregate extends OperatorDefaults implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly window: SessionWindowSpec
  private readonly width: number
  private readonly groupKeyOf: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly filter: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  private readonly aggs: CompiledAggregates
  private readonly having: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => boolean) | null
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value[]
  /** Positions of window_start / window_end among the group keys (-1 when not grouped by). */
  private readonly startKey: number
  private readonly endKey: number
  private readonly lateness: number
  /**
   * Stream columns that the group keys and the aggregates read (and WHERE, unless `filterFirst`): a buffered
   * row holds these only, in this order. Rows of a state written before held every column (`width` of them).
   */
  private readonly kept: readonly number[]
  /** Where the event time is in a buffered row. */
  private readonly keptTime: number
  /**
   * WHERE reads no window column, so it is decided once per event: a row it drops only shapes the sessions
   * (their start and end) and is not buffered; folding a buffered row needs no WHERE again.
   */
  private readonly filterFirst: boolean
  /**
   * The GROUP BY keys are session key columns and window columns only, so a session holds one group at
   * most, and a row joins the one there is without its group key being computed.
   */
  private readonly oneGroup: boolean
  /** The row a fold reads (stream columns, window_start, window_end), filled per fold: no copy per row. */
  private readonly folding: Value[]
  /** The session key values of the event being keyed (the encoder reads them, keeps nothing). */
  private readonly keyValues: Value[]
  /**
   * While another view reads this one (on-window-close mode): session keys by the time (end plus the
   * allowed lateness) at which one of their sessions will close, registered whenever a session changes; an
   * entry made stale by a session growing only costs a look. And the watermark up to which closed sessions
   * were handed on.
   */
  private closing: Map<number, Set<string>> | null = null
  private handedTo = Number.NEGATIVE_INFINITY
  /**
   * Session keys by when a session of theirs that still keeps its rows becomes final (its end plus the
   * allowed lateness), in buckets of FINAL_BUCKET; registered as sessions grow. When the watermark passes a
   * bucket, the cached entries of its keys drop the rows of their final sessions (`dropFinalRows`). An entry
   * made stale by a session growing only costs a look. Not checkpointed: after a restart the sessions open
   * before it drop their rows at their key's next event, as `finalize` does.
   */
  private readonly finalizing = new Map<number, Set<string>>()
  /** The watermark up to which `finalizing` was gone through. */
  private finalizedTo = Number.NEGATIVE_INFINITY

  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable<SessionEntry>,
    private readonly encodeKey: KeyEncoder,
    private readonly ctx: EvalContext,
  ) {
    super()
    if (plan.body.kind !== 'aggregate' || plan.window?.kind !== 'session') throw internalError('SessionAggregate built for a plan without SESSION aggregation')
    this.window = plan.window
    this.width = plan.source.columns.length
    const agg = plan.body.aggregation
    this.groupKeyOf = compileProjection(agg.keys)
    this.filter = plan.filter ? compilePredicate(plan.filter) : null
    this.aggs = compileAggregates(agg.aggregates, agg.keys.length)
    this.having = agg.having ? compilePredicate(agg.having) : null
    this.project = compileProjection(plan.body.output)
    const keyAt = (index: number) => agg.keys.findIndex((k) => k.kind === 'column' && k.index === index)
    this.startKey = keyAt(this.width)
    this.endKey = keyAt(this.width + 1)
    this.lateness = plan.source.allowedLateness
    this.filterFirst = plan.filter !== null && [...columnsUsed(plan.filter)].every((i) => i < this.width)
    const used = new Set<number>([this.window.timeIndex])
    const exprs = [...agg.keys, ...agg.aggregates.flatMap((a) => [...a.args, ...(a.filter ? [a.filter] : [])]), ...(plan.filter && !this.filterFirst ? [plan.filter] : [])]
    for (const e of exprs) columnsUsed(e, used)
    this.kept = [...used].filter((i) => i < this.width).sort((a, b) => a - b)
    this.keptTime = this.kept.indexOf(this.window.timeIndex)
    const sessionColumns = new Set([...this.window.keyIndexes, this.width, this.width + 1])
    this.oneGroup = agg.keys.every((k) => k.kind === 'column' && sessionColumns.has(k.index))
    this.folding = new Array<Value>(this.width + 2).fill(null)
    this.keyValues = new Array<Value>(this.window.keyIndexes.length).fill(null)
  }

  /** The row as a session buffers it: the `kept` columns. */
  private narrow(row: Row): Row {
    const kept = this.kept
    const out = new Array<Value>(kept.length)
    for (let j = 0; j < kept.length; j++) out[j] = row[kept[j]!] ?? null
    return out
  }

  /** A buffered row that holds every column: one of a state written before rows were narrowed (or every column is kept). */
  private whole(row: Row): boolean {
    return row.length === this.width
  }

  /** The event time of a buffered row. */
  private timeOf(row: Row): number {
    return (this.whole(row) ? row[this.window.timeIndex] : row[this.keptTime]) as number
  }

  /**
   * Folds a micro-batch of events (in arrival order) into the sessions of their keys. `watermark` is the
   * query's watermark before the batch; events too late for it go to `late`.
   */
  async process(batch: OperatorBatch): Promise<void> {
    const { rows, watermark, late } = batch
    const n = rows.length
    if (n === 0) return
    const keys = new Array<string>(n)
    const { keyIndexes, timeIndex } = this.window
    const keyValues = this.keyValues
    for (let i = 0; i < n; i++) {
      const row = rows[i]!
      for (let k = 0; k < keyIndexes.length; k++) keyValues[k] = row[keyIndexes[k]!] ?? null
      keys[i] = this.encodeKey(keyValues)
    }
    await this.table.load(keys)
    for (let i = 0; i < n; i++) {
      const row = rows[i]!
      const ts = row[timeIndex] as number
      const sessions = this.table.get(keys[i]!) ?? []
      this.finalize(sessions, watermark)
      const counted = !this.filterFirst || this.filter!(row, EMPTY, this.ctx)
      const reason = this.add(sessions, counted ? this.narrow(row) : null, ts, watermark)
      if (reason !== null) late(batch.partition, batch.offsets[i]!, ts, reason)
      else {
        this.table.set(keys[i]!, sessions)
        if (this.closing !== null) this.register(keys[i]!, sessions)
        this.registerFinal(keys[i]!, sessions, ts)
      }
    }
  }

  /** Registers when the session the event at `ts` joined becomes final (see `finalizing`). */
  private registerFinal(key: string, sessions: readonly Session[], ts: number): void {
    for (let j = 0; j < sessions.length; j++) {
      const s = sessions[j]!
      if (s[START] > ts || ts > s[LAST]) continue
      const bucket = Math.ceil((s[LAST] + this.window.gap + this.lateness) / FINAL_BUCKET)
      let keys = this.finalizing.get(bucket)
      if (keys === undefined) this.finalizing.set(bucket, (keys = new Set()))
      keys.add(key)
      return
    }
  }

  /**
   * Drops the rows of the sessions the watermark made final since the last call, in the cached entries
   * only (what is not cached holds no memory). The entry is not written again: RocksDB keeps the rows until
   * the key's next event, and `finalize` drops rows of final sessions whenever an entry is read for one.
   */
  private dropFinalRows(watermark: number): void {
    if (watermark <= this.finalizedTo || this.finalizing.size === 0) return
    this.finalizedTo = watermark
    for (const [bucket, keys] of this.finalizing) {
      if (bucket * FINAL_BUCKET > watermark) continue
      this.finalizing.delete(bucket)
      for (const key of keys) {
        const sessions = this.table.get(key)
        if (sessions !== undefined) this.finalize(sessions, watermark)
      }
    }
  }

  /** Registers when each open session of a key will close (see `closing`). */
  private register(key: string, sessions: readonly Session[]): void {
    for (const s of sessions) {
      const due = s[LAST] + this.window.gap + this.lateness
      if (due <= this.handedTo) continue
      let keys = this.closing!.get(due)
      if (keys === undefined) this.closing!.set(due, (keys = new Set()))
      keys.add(key)
    }
  }

  /**
   * Another view starts reading this one: from now on, sessions the watermark closes are handed on
   * (closeAt). One pass over the state finds the open ones; returns the rows of those already closed
   * (what a new reader starts from). After a restart `watermark` is the checkpointed one, up to which
   * closed sessions were handed on before.
   */
  async trackSessions(watermark: number): Promise<Row[]> {
    this.closing = new Map()
    this.handedTo = watermark
    const out: Row[] = []
    for await (const [key, value] of this.table.scan()) {
      const sessions = value
      this.register(key, sessions)
      out.push(...this.sessionRows(sessions.filter((s) => s[LAST] + this.window.gap + this.lateness <= watermark)))
    }
    return out
  }

  describe(): string {
    return 'SessionAggregate'
  }

  /** Sessions the watermark closed go to the views reading this one. */
  override onWatermark(watermark: number, forReaders: boolean): Promise<Row[]> {
    this.dropFinalRows(watermark)
    return forReaders ? this.closeAt(watermark) : Promise.resolve([])
  }

  override detachReader(): void {
    this.untrack()
  }

  rowsForReader(watermark: number): Promise<Row[]> {
    return this.trackSessions(watermark)
  }

  /** As a view sink sees it today: the entry as a record (sessions have no keyed row of their own). */
  changes(_key: string, value: SessionEntry, sink: ChangeSink): void {
    sink.append(value)
  }

  /** No view reads this one any more. */
  untrack(): void {
    this.closing = null
  }

  /** The rows of the sessions the watermark closed since the last call, in closing order, then key order. */
  async closeAt(watermark: number): Promise<Row[]> {
    const closing = this.closing
    if (closing === null || watermark <= this.handedTo) return []
    const from = this.handedTo
    this.handedTo = watermark
    const dues = [...closing.keys()].filter((due) => due <= watermark).sort((a, b) => a - b)
    const keys: string[] = []
    const seen = new Set<string>()
    for (const due of dues) {
      for (const key of [...closing.get(due)!].sort()) {
        if (seen.has(key)) continue
        seen.add(key)
        keys.push(key)
      }
      closing.delete(due)
    }
    if (keys.length === 0) return []
    await this.table.load(keys)
    const closed: { due: number; key: string; session: Session }[] = []
    for (const key of keys) {
      const sessions = this.table.get(key)
      for (const s of sessions ?? []) {
        const due = s[LAST] + this.window.gap + this.lateness
        if (due > from && due <= watermark) closed.push({ due, key, session: s })
      }
    }
    closed.sort((a, b) => a.due - b.due || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    return this.sessionRows(closed.map((c) => c.session))
  }

  /**
   * Drops the rows of sessions no event can change any more. Sessions become final in order (they are
   * disjoint, so ordered by end as by start), and none can be added before a final one (it would be late),
   * so the final ones are a prefix: the walk goes from the newest back to the first final one.
   */
  private finalize(sessions: Session[], watermark: number): void {
    for (let j = sessions.length - 1; j >= 0; j--) {
      const s = sessions[j]!
      if (s[ROWS] === null) break
      if (s[LAST] + this.window.gap + this.lateness <= watermark) s[ROWS] = null
    }
  }

  /** Adds one event to the sessions of its key (`row` null: WHERE dropped it, it only shapes them); returns why it is late, or null. */
  private add(sessions: Session[], row: Row | null, ts: number, watermark: number): string | null {
    const gap = this.window.gap
    // Sessions whose [start, last + gap) overlaps the event's own [ts, ts + gap). They are disjoint and
    // ordered, so the walk goes back from the newest until one ends before the event.
    let first = -1
    let last = -1
    for (let j = sessions.length - 1; j >= 0; j--) {
      const s = sessions[j]!
      if (s[LAST] + gap <= ts) break
      if (s[START] < ts + gap) {
        if (last === -1) last = j
        first = j
      }
    }
    if (first === -1) {
      if (ts + gap + this.lateness <= watermark) return 'session already closed: event time is behind the watermark by more than the gap and the allowed lateness'
      const session: Session = [ts, ts, row === null ? [] : [row], []]
      if (row !== null) this.fold(session, row)
      let at = 0
      while (at < sessions.length && sessions[at]![START] < ts) at++
      sessions.splice(at, 0, session)
      return null
    }
    for (let j = first; j <= last; j++) {
      if (sessions[j]![ROWS] === null) return 'session already closed: the event would change a session the watermark has finalized'
    }
    if (first === last) {
      // The common case: the event extends one session; its groups take it in directly.
      // State values are updated in place, as KeyedAggregate does: set() marks the key dirty.
      const s = sessions[first]!
      s[START] = Math.min(s[START], ts)
      s[LAST] = Math.max(s[LAST], ts)
      if (row !== null) {
        s[ROWS]!.push(row)
        this.fold(s, row)
      }
      return null
    }
    // A bridge: the sessions from first to last become one, folded again in event-time order.
    const rows: Row[] = row === null ? [] : [row]
    let start = ts
    let end = ts
    for (let j = first; j <= last; j++) {
      const s = sessions[j]!
      rows.push(...s[ROWS]!)
      start = Math.min(start, s[START])
      end = Math.max(end, s[LAST])
    }
    rows.sort((a, b) => this.timeOf(a) - this.timeOf(b))
    const merged: Session = [start, end, rows, []]
    for (const r of rows) this.fold(merged, r)
    sessions.splice(first, last - first + 1, merged)
    return null
  }

  /** Counts one buffered row in its group of the session, when WHERE lets it through. */
  private fold(session: Session, row: Row): void {
    const empty = EMPTY
    const r = this.withWindow(row, session)
    // A row buffered before WHERE was decided first (a state written before) is filtered here.
    if (this.filter !== null && (!this.filterFirst || this.whole(row)) && !this.filter(r, empty, this.ctx)) return
    const groups = session[GROUPS]
    if (this.oneGroup && groups.length === 1) {
      this.aggs.update(groups[0]![1], r, empty, this.ctx)
      return
    }
    const keyValues = this.groupKeyOf(r, empty, this.ctx)
    // The window columns change as the session grows: a group is known by its other keys.
    if (this.startKey >= 0) keyValues[this.startKey] = null
    if (this.endKey >= 0) keyValues[this.endKey] = null
    const groupKey = this.encodeKey(keyValues)
    let entry = groups.find(([k]) => k === groupKey)
    if (entry === undefined) {
      entry = [groupKey, [...keyValues, ...this.aggs.init()]]
      groups.push(entry)
    }
    this.aggs.update(entry[1], r, empty, this.ctx)
  }

  /**
   * The buffered row as the TVF gives it: its columns, then window_start and window_end of its session.
   * Filled into `folding`, which the caller reads before the next call (the expressions keep values, not rows).
   */
  private withWindow(row: Row, session: Session): Row {
    const r = this.folding
    const kept = this.kept
    // A whole row gives every column: WHERE, decided again for it, may read columns a narrowed row leaves out.
    if (this.whole(row)) for (let i = 0; i < this.width; i++) r[i] = row[i] ?? null
    else for (let j = 0; j < kept.length; j++) r[kept[j]!] = row[j]!
    r[this.width] = session[START]
    r[this.width + 1] = session[LAST] + this.window.gap
    return r
  }

  /** Deletes sessions past end + lateness + retention; returns the count and when the next one is due. */
  override async expire(watermark: number): Promise<{ deleted: number; next: number; scanned: number }> {
    const retention = this.plan.retention
    if (retention === null) return { deleted: 0, next: Number.POSITIVE_INFINITY, scanned: 0 }
    const changed: [string, Session[]][] = []
    let deleted = 0
    let next = Number.POSITIVE_INFINITY
    let scanned = 0
    for await (const [key, value] of this.table.scan()) {
      scanned++
      const sessions = value
      const kept = sessions.filter((s) => s[LAST] + this.window.gap + this.lateness + retention > watermark)
      for (const s of kept) next = Math.min(next, s[LAST] + this.window.gap + this.lateness + retention)
      if (kept.length < sessions.length) {
        deleted += sessions.length - kept.length
        changed.push([key, kept])
      }
    }
    for (const [key, kept] of changed) {
      if (kept.length === 0) this.table.delete(key)
      else this.table.set(key, kept)
    }
    return { deleted, next, scanned }
  }

  /** Live results by entry (a key's sessions), except in on-window-close mode (see KeyedAggregate.follow). */
  follow(): ViewFollower | null {
    if (this.plan.emit === 'on_window_close') return null
    return followTable(this.table, (_key, value) => (value === undefined ? [] : this.sessionRows(value)))
  }

  private sessionRows(sessions: readonly Session[]): Row[] {
    const empty: Value[] = []
    const out: Row[] = []
    for (const s of sessions) {
      for (const [, stored] of s[GROUPS]) {
        const acc = stored.slice()
        if (this.startKey >= 0) acc[this.startKey] = s[START]
        if (this.endKey >= 0) acc[this.endKey] = s[LAST] + this.window.gap
        const a = this.aggs.finalize(acc)
        if (this.having !== null && !this.having(acc, empty, this.ctx, a)) continue
        out.push(this.project(acc, empty, this.ctx, a))
      }
    }
    return out
  }

  /** The view's current rows: one per group of each session (final sessions only in on-window-close mode). */
  async *rows(watermark: number): AsyncGenerator<Row> {
    const onClose = this.plan.emit === 'on_window_close'
    const empty: Value[] = []
    for await (const [, value] of this.table.scan()) {
      for (const s of value) {
        const end = s[LAST] + this.window.gap
        if (onClose && end + this.lateness > watermark) continue
        for (const [, stored] of s[GROUPS]) {
          const acc = stored.slice()
          if (this.startKey >= 0) acc[this.startKey] = s[START]
          if (this.endKey >= 0) acc[this.endKey] = end
          const a = this.aggs.finalize(acc)
          if (this.having !== null && !this.having(acc, empty, this.ctx, a)) continue
          yield this.project(acc, empty, this.ctx, a)
        }
      }
    }
  }
}

/** The parameter row of compiled expressions: views have no parameters. */
const EMPTY: Value[] = []
