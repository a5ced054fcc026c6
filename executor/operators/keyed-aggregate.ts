/**
 * KeyedAggregate: GROUP BY over a stream, optionally per tumbling window, with one accumulator array per
 * group in the state store: `[key values..., aggregate slots...]`. Per micro-batch it computes every row's
 * key, loads all missing keys with one multi-get, then folds the rows in synchronously.
 *
 * The view's rows are the finalized groups; in `on_window_close` mode only windows the watermark has passed.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compileAggregates, type CompiledAggregates } from '../../expr/compile-aggregates.ts'
import { compilePredicate, compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import type { KeyedTable } from './keyed-table.ts'
import { OperatorDefaults, type ChangeSink, type KeyedReads, type OperatorBatch, type StreamOperator } from './operator.ts'
import type { SliceSpec } from '../../planner/hop-slices.ts'
import { followTable, type ViewFollower } from './view-follower.ts'

export type KeyEncoder = (values: readonly Value[]) => string

/** A group's state entry: `[key values..., aggregate slots..., (latest event time), (row count)]`. */
export type GroupEntry = Value[]

/** A sliced HOP view's slices: their table, keyed in a namespace of its own, and the slicing. */
export interface SliceState {
  readonly table: KeyedTable<GroupEntry>
  readonly encodeKey: KeyEncoder
  readonly spec: SliceSpec
}

/** The parameter row of compiled expressions: views have no parameters. */
const EMPTY: Value[] = []

export class KeyedAggregate extends OperatorDefaults implements StreamOperator {
  readonly role = 'view'
  readonly keyed: KeyedReads = this
  private readonly keyOf: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly aggs: CompiledAggregates
  private readonly having: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => boolean) | null
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value[]
  private readonly keyCount: number
  /** Index of window_end in the key values (or of window_start, with the size added), for emit on close. */
  private readonly windowEnd: ((key: readonly Value[]) => number) | null
  /** With idle_ttl: the slot after the aggregates that keeps the group's latest event time, else -1. */
  private readonly lastSeenSlot: number
  private readonly timeIndex: number
  /**
   * While another view reads this one (on-window-close mode only): the groups of each window not yet
   * closed, by window end, so that closing a window hands its rows on without a scan.
   */
  private openWindows: Map<number, Set<string>> | null = null
  /**
   * While another view reads this one (updating mode): each group's row as it was before the step first
   * touched it (null: none visible), so that the step's changes can be handed on as withdrawals and additions.
   */
  private before: Map<string, Row | null> | null = null
  /**
   * Reading a view whose rows change: the slot counting the rows a group holds (a group whose rows were all
   * withdrawn is deleted), else -1.
   */
  private readonly rowsSlot: number

  /**
   * Sliced HOP windows (planner/hop-slices.ts): the slices' accumulators in their own table, and in memory
   * which groups each slice start holds (slice start -> group id -> slice key), rebuilt from that table
   * after a restart.
   */
  private readonly slices: SliceState | null
  private sliceIndex: Map<number, Map<string, string>> | null = null
  /** Sliced: windows whose end plus the allowed lateness is at or before this are put together. */
  private closedTo = Number.NEGATIVE_INFINITY

  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable<GroupEntry>,
    private readonly encodeKey: KeyEncoder,
    private readonly ctx: EvalContext,
    slices?: SliceState,
  ) {
    super()
    if (plan.body.kind !== 'aggregate') throw internalError('KeyedAggregate built for a non-aggregate plan')
    const agg = plan.body.aggregation
    this.keyCount = agg.keys.length
    this.keyOf = compileProjection(agg.keys)
    const changing = plan.source.source.kind === 'view' && plan.source.source.changes
    this.aggs = compileAggregates(agg.aggregates, this.keyCount, changing)
    this.slices = slices ?? null
    if (this.slices !== null && this.aggs.merge === undefined) throw internalError('sliced windows need aggregates that combine')
    this.having = agg.having ? compilePredicate(agg.having) : null
    this.project = compileProjection(plan.body.output)
    this.lastSeenSlot = plan.idleTtl !== null ? this.keyCount + this.aggs.slotCount : -1
    this.rowsSlot = changing ? this.keyCount + this.aggs.slotCount + (this.lastSeenSlot >= 0 ? 1 : 0) : -1
    this.timeIndex = plan.source.watermark?.columnIndex ?? -1
    const wk = plan.body.windowKey
    if (plan.window?.kind === 'session') throw internalError('KeyedAggregate built for a SESSION window')
    if (wk === null || plan.window === null) {
      this.windowEnd = null
    } else {
      const key = agg.keys[wk]!
      const isEnd = key.kind === 'column' && key.name === 'window_end'
      const size = plan.window.size
      this.windowEnd = isEnd ? (k) => k[wk] as number : (k) => (k[wk] as number) + size
    }
  }

  /**
   * Folds a micro-batch of prepared rows (windowed and filtered) into the state; reading a view whose rows
   * change, `signs[i]` -1 withdraws row i (its old version) instead.
   */
  async process(batch: OperatorBatch): Promise<void> {
    const { rows, signs, windowStarts } = batch
    if (rows.length === 0) return
    if (this.slices !== null) return this.processSlices(rows, windowStarts!)
    if (windowStarts !== undefined) return this.processWindows(rows, windowStarts)
    const { keys, keyValues } = this.keysOf(rows)
    await this.table.load(keys)
    if (signs === undefined) for (let i = 0; i < rows.length; i++) this.fold(keys[i]!, keyValues[i]!, rows[i]!)
    else for (let i = 0; i < rows.length; i++) signs[i]! < 0 ? this.withdraw(keys[i]!, rows[i]!) : this.fold(keys[i]!, keyValues[i]!, rows[i]!)
  }

  /**
   * Windowed rows where the rows of one event's windows are one array: before row i is read, its window
   * columns are set from `starts[i]`.
   */
  private async processWindows(rows: readonly Row[], starts: readonly number[]): Promise<void> {
    const size = (this.plan.window as { size: number }).size
    const { keys, keyValues } = this.keysAt(rows, starts, size, this.encodeKey)
    await this.table.load(keys)
    for (let i = 0; i < rows.length; i++) this.fold(keys[i]!, keyValues[i]!, this.atWindow(rows[i]!, starts[i]!, size))
  }

  /** Sets the row's window columns to [start, start + length) (rows of one event share one array). */
  private atWindow(row: Row, start: number, length: number): Row {
    const w = this.plan.source.columns.length
    const r = row as Value[]
    r[w] = start
    r[w + 1] = start + length
    return r
  }

  /** Each row's group key values and encoding, its window columns set from `starts[i]` first. */
  private keysAt(rows: readonly Row[], starts: readonly number[], length: number, encode: KeyEncoder): { keys: string[]; keyValues: Value[][] } {
    const n = rows.length
    const keys = new Array<string>(n)
    const keyValues = new Array<Value[]>(n)
    for (let i = 0; i < n; i++) {
      const kv = this.keyOf(this.atWindow(rows[i]!, starts[i]!, length), EMPTY, this.ctx)
      keyValues[i] = kv
      keys[i] = encode(kv)
    }
    return { keys, keyValues }
  }

  /** The slice length when HOP windows are sliced (the continuous query then hands over slice starts). */
  get sliceLength(): number | null {
    return this.slices?.spec.length ?? null
  }

  /**
   * What the watermark closed since the last call: sliced windows put together from their slices, or, while
   * another view reads this one, the rows of the windows it closed.
   */
  closeAt(watermark: number): Promise<Row[]> {
    return this.slices !== null ? this.closeSlicedWindows(watermark) : this.closeWindows(watermark)
  }

  describe(): string {
    return 'KeyedAggregate'
  }

  /** Sliced windows are put together when they close, whoever reads them; otherwise only for readers. */
  override onWatermark(watermark: number, forReaders: boolean): Promise<Row[]> {
    if (this.slices === null && !forReaders) return Promise.resolve([])
    return this.closeAt(watermark)
  }

  override detachReader(): void {
    this.untrack()
  }

  /** On-window-close views hand on closed windows; updating ones their changes. */
  rowsForReader(watermark: number): Promise<Row[]> {
    return this.plan.emit === 'on_window_close' && this.plan.window !== null ? this.trackWindows(watermark) : this.trackChanges()
  }

  /** A group is one keyed row (an upsert, a delete where HAVING hides it or it is gone). */
  changes(_key: string, value: GroupEntry, sink: ChangeSink): void {
    const out = this.output(value)
    sink.upsert(out.row, out.visible)
  }

  /** Sliced: the watermark up to which windows were put together before a restart (the checkpointed one). */
  override resumeAt(watermark: number): void {
    this.closedTo = watermark
  }

  /** Sliced HOP: each row goes into the accumulator of its slice (`starts[i]`) and group, once. */
  private async processSlices(rows: readonly Row[], starts: readonly number[]): Promise<void> {
    const { table, encodeKey } = this.slices!
    const index = await this.slicesByStart()
    const len = this.slices!.spec.length
    const { keys, keyValues } = this.keysAt(rows, starts, len, encodeKey)
    await table.load(keys)
    for (let i = 0; i < rows.length; i++) {
      const row = this.atWindow(rows[i]!, starts[i]!, len)
      let acc = table.get(keys[i]!)
      if (acc === undefined) {
        acc = keyValues[i]!
        this.indexSlice(index, starts[i]!, keys[i]!, acc)
        acc.push(...this.aggs.init())
      }
      this.aggs.update(acc, row, EMPTY, this.ctx)
      table.set(keys[i]!, acc)
    }
  }

  /** The group of a slice's key values: the key with its window columns left out. */
  private groupOf(keyValues: readonly Value[]): string {
    const { startKeys, endKeys } = this.slices!.spec
    const kv = keyValues.slice(0, this.keyCount)
    for (const k of startKeys) kv[k] = null
    for (const k of endKeys) kv[k] = null
    return this.encodeKey(kv)
  }

  private indexSlice(index: Map<number, Map<string, string>>, start: number, key: string, keyValues: readonly Value[]): void {
    let groups = index.get(start)
    if (groups === undefined) index.set(start, (groups = new Map()))
    groups.set(this.groupOf(keyValues), key)
  }

  /** The slice index, read from the slice table the first time (after a restart it holds the open slices). */
  private async slicesByStart(): Promise<Map<number, Map<string, string>>> {
    if (this.sliceIndex !== null) return this.sliceIndex
    const index = new Map<number, Map<string, string>>()
    const startKey = this.slices!.spec.startKeys[0]
    const endKey = this.slices!.spec.endKeys[0]
    const len = this.slices!.spec.length
    for await (const [key, acc] of this.slices!.table.scan()) {
      const start = startKey !== undefined ? (acc[startKey] as number) : (acc[endKey!] as number) - len
      this.indexSlice(index, start, key, acc)
    }
    this.sliceIndex ??= index
    return this.sliceIndex
  }

  /**
   * Sliced HOP: puts together every window the watermark closed since the last call (end plus the allowed
   * lateness reached) from its slices, as the view's rows; deletes slices no open window needs. Returns
   * the new rows in window-end order (for views reading this one).
   */
  async closeSlicedWindows(watermark: number): Promise<Row[]> {
    if (watermark <= this.closedTo) return []
    const { table: sliceTable, spec } = this.slices!
    const index = await this.slicesByStart()
    const w = this.plan.window as { size: number; slide: number; offset: number }
    const lateness = this.plan.source.allowedLateness
    const from = this.closedTo
    this.closedTo = watermark
    if (index.size === 0) return []
    // The latest window start at or before t.
    const startAtOrBefore = (t: number) => Math.floor((t - w.offset) / w.slide) * w.slide + w.offset
    const ends = new Set<number>()
    for (const s of index.keys()) {
      for (let start = startAtOrBefore(s); start > s - w.size; start -= w.slide) {
        const due = start + w.size + lateness
        if (due <= watermark && due > from) ends.add(start + w.size)
      }
    }
    const out: Row[] = []
    if (ends.size > 0) {
      // Only the slices of the windows that close now.
      const needed: string[] = []
      const starts = new Set<number>()
      for (const end of ends) for (let s = end - w.size; s < end; s += spec.length) starts.add(s)
      for (const s of starts) {
        const groups = index.get(s)
        if (groups !== undefined) for (const k of groups.values()) needed.push(k)
      }
      await sliceTable.load(needed)
      for (const end of [...ends].sort((a, b) => a - b)) {
        const start = end - w.size
        const windows = new Map<string, Value[]>()
        for (let s = start; s < end; s += spec.length) {
          const groups = index.get(s)
          if (groups === undefined) continue
          for (const [group, key] of groups) {
            const acc = sliceTable.get(key)
            if (acc === undefined) continue
            const whole = windows.get(group)
            if (whole !== undefined) {
              this.aggs.merge!(whole, acc)
              continue
            }
            const first = acc.slice()
            for (const k of spec.startKeys) first[k] = start
            for (const k of spec.endKeys) first[k] = end
            windows.set(group, first)
          }
        }
        for (const acc of windows.values()) {
          // A closed window's row is final (a late event goes to the late table): write-only, past the cache.
          this.table.append(this.encodeKey(acc.slice(0, this.keyCount)), acc)
          const o = this.output(acc)
          if (o.visible) out.push(o.row)
        }
      }
    }
    // A slice is done once the last window it is part of is closed.
    for (const [s, groups] of index) {
      if (startAtOrBefore(s) + w.size + lateness > watermark) continue
      for (const key of groups.values()) sliceTable.delete(key)
      index.delete(s)
    }
    return out
  }

  /** Takes one row back out of its group; the group goes when it holds no row. */
  private withdraw(key: string, row: Row): void {
    const acc = this.table.get(key)
    if (acc === undefined) throw internalError('a withdrawn row has no group')
    this.noteBefore(key, acc)
    this.aggs.retract!(acc, row, EMPTY, this.ctx)
    if (--(acc[this.rowsSlot] as number) === 0) this.table.delete(key)
    else this.table.set(key, acc)
  }

  /** Another view reading this one: keep the group's row as it is before the step changes it. */
  private noteBefore(key: string, acc: readonly Value[] | undefined): void {
    if (this.before === null || this.before.has(key)) return
    this.before.set(key, acc === undefined ? null : this.visibleRow(acc))
  }

  private visibleRow(acc: readonly Value[]): Row | null {
    const o = this.output(acc)
    return o.visible ? o.row : null
  }

  /** Another view starts reading this one's changes; returns the rows now (what it starts from). */
  async trackChanges(): Promise<Row[]> {
    this.before = new Map()
    const out: Row[] = []
    for await (const row of this.rows(Number.POSITIVE_INFINITY)) out.push(row)
    return out
  }

  /**
   * The changes since the last call, per group touched: its old row withdrawn (sign -1) and its new row
   * added (+1), where they differ; appended to `rows` and `signs`.
   */
  override takeChanges(rows: Row[], signs: number[]): void {
    const before = this.before
    if (before === null || before.size === 0) return
    for (const [key, old] of before) {
      const acc = this.table.get(key)
      const now = acc === undefined ? null : this.visibleRow(acc)
      if (old !== null && now !== null && sameRow(old, now)) continue
      if (old !== null) {
        rows.push(old)
        signs.push(-1)
      }
      if (now !== null) {
        rows.push(now)
        signs.push(1)
      }
    }
    before.clear()
  }

  /** Each row's group key values and their encoding. */
  private keysOf(rows: readonly Row[]): { keys: string[]; keyValues: Value[][] } {
    const n = rows.length
    const keys = new Array<string>(n)
    const keyValues = new Array<Value[]>(n)
    const empty: Value[] = []
    for (let i = 0; i < n; i++) {
      const kv = this.keyOf(rows[i]!, empty, this.ctx)
      keyValues[i] = kv
      keys[i] = this.encodeKey(kv)
    }
    return { keys, keyValues }
  }

  /** Folds one row into its (loaded) group, creating the group from `keyValues` if it is new. */
  private fold(key: string, keyValues: Value[], row: Row): Value[] {
    let acc = this.table.get(key)
    if (this.before !== null) this.noteBefore(key, acc)
    if (acc === undefined) {
      acc = keyValues
      acc.push(...this.aggs.init())
      if (this.lastSeenSlot >= 0) acc.push(null)
      if (this.rowsSlot >= 0) acc.push(0)
      if (this.openWindows !== null) this.trackOpen(key, acc)
    }
    if (this.rowsSlot >= 0) (acc[this.rowsSlot] as number)++
    this.aggs.update(acc, row, EMPTY, this.ctx)
    if (this.lastSeenSlot >= 0) this.touch(acc, row)
    this.table.set(key, acc)
    return acc
  }

  private trackOpen(key: string, acc: readonly Value[]): void {
    const end = this.windowEnd!(acc)
    let keys = this.openWindows!.get(end)
    if (keys === undefined) this.openWindows!.set(end, (keys = new Set()))
    keys.add(key)
  }

  /**
   * Another view starts reading this one: from now on closing windows hand their rows on (closeWindows).
   * One pass over the state finds the windows still open; returns the rows of those already closed (what
   * a new reader starts from).
   */
  async trackWindows(watermark: number): Promise<Row[]> {
    if (this.plan.emit !== 'on_window_close' || this.windowEnd === null) throw internalError('only on-window-close views hand on closed windows')
    // Sliced windows exist only once closed: each call of closeSlicedWindows hands on the new ones.
    if (this.slices === null) this.openWindows = new Map()
    const lateness = this.plan.source.allowedLateness
    const closed: Row[] = []
    for await (const [key, acc] of this.table.scan()) {
      if (this.windowEnd(acc) + lateness > watermark) {
        this.trackOpen(key, acc)
        continue
      }
      const o = this.output(acc)
      if (o.visible) closed.push(o.row)
    }
    return closed
  }

  /** No view reads this one any more. */
  untrack(): void {
    this.openWindows = null
    this.before = null
  }

  /**
   * The rows of the windows the watermark has closed since the last call (end plus the allowed lateness
   * reached), in window-end order, then group key order; empty unless another view reads this one.
   */
  async closeWindows(watermark: number): Promise<Row[]> {
    const open = this.openWindows
    if (open === null) return []
    const lateness = this.plan.source.allowedLateness
    const ends = [...open.keys()].filter((end) => end + lateness <= watermark).sort((a, b) => a - b)
    if (ends.length === 0) return []
    const out: Row[] = []
    for (const end of ends) {
      const keys = [...open.get(end)!].sort()
      open.delete(end)
      await this.table.load(keys)
      for (const key of keys) {
        const acc = this.table.get(key)
        if (acc === undefined) continue
        const o = this.output(acc)
        if (o.visible) out.push(o.row)
      }
    }
    return out
  }

  /** Keeps the group's latest event time, for idle_ttl. */
  private touch(acc: Value[], row: Row): void {
    const ts = row[this.timeIndex]
    const last = acc[this.lastSeenSlot]
    if (typeof ts === 'number' && (typeof last !== 'number' || ts > last)) acc[this.lastSeenSlot] = ts
  }

  /**
   * Deletes the groups the watermark has retired: windows past end + lateness + retention, idle groups
   * past their latest event time + idle_ttl. Returns how many were deleted and the earliest time at which
   * one of the remaining groups will be due.
   */
  override async expire(watermark: number): Promise<{ deleted: number; next: number; scanned: number }> {
    const retention = this.plan.retention
    const ttl = this.plan.idleTtl
    const lateness = this.plan.source.allowedLateness
    const due = (acc: readonly Value[]): number => {
      if (retention !== null && this.windowEnd !== null) return this.windowEnd(acc) + lateness + retention
      const last = acc[this.lastSeenSlot]
      return ttl !== null && typeof last === 'number' ? last + ttl : Number.POSITIVE_INFINITY
    }
    const expired: string[] = []
    let next = Number.POSITIVE_INFINITY
    let scanned = 0
    for await (const [key, acc] of this.table.scan()) {
      scanned++
      const at = due(acc)
      if (at <= watermark) {
        expired.push(key)
        // A reader of this view sees the group withdrawn.
        this.noteBefore(key, acc)
      }
      else if (at < next) next = at
    }
    for (const key of expired) this.table.delete(key)
    return { deleted: expired.length, next, scanned }
  }

  /**
   * Like `process`, for a view that lookup joins read as of each event: `rows` are all events of a batch
   * in order, `passes[i]` whether event i gets through WHERE. Returns, per event, the view row of its own
   * key right after it (null where the key has no visible row yet).
   */
  async processTracked(rows: readonly Row[], passes: readonly boolean[]): Promise<(Row | null)[]> {
    const { keys, keyValues } = this.keysOf(rows)
    await this.table.load(keys)
    return rows.map((row, i) => {
      const acc = passes[i] ? this.fold(keys[i]!, keyValues[i]!, row) : this.table.get(keys[i]!)
      if (acc === undefined) return null
      const o = this.output(acc)
      return o.visible ? o.row : null
    })
  }

  /** The current view rows of the given group keys (null where a key has no visible row). */
  async lookup(keyValues: readonly Value[][]): Promise<(Row | null)[]> {
    const keys = keyValues.map((kv) => this.encodeKey(kv))
    await this.table.load(keys)
    return keys.map((k) => {
      const acc = this.table.get(k)
      if (acc === undefined) return null
      const o = this.output(acc)
      return o.visible ? o.row : null
    })
  }

  /** The view row of one group's accumulator, and whether HAVING lets it show. */
  output(acc: readonly Value[]): { readonly row: Row; readonly visible: boolean } {
    const empty: Value[] = []
    const a = this.aggs.finalize(acc)
    const visible = this.having === null || this.having(acc, empty, this.ctx, a)
    return { row: this.project(acc, empty, this.ctx, a), visible }
  }

  /**
   * Live results by entry: each group is one row (none when HAVING hides it). In on-window-close mode a
   * group's row appears when the watermark (`watermark()`, the query's) passes its window's end plus the
   * allowed lateness, without its entry changing: see followClosed.
   */
  follow(watermark?: () => number): ViewFollower | null {
    if (this.plan.emit === 'on_window_close' && this.windowEnd !== null) return watermark === undefined ? null : this.followClosed(watermark)
    const empty: Value[] = []
    return followTable(this.table, (_key, acc) => {
      if (acc === undefined) return []
      const a = this.aggs.finalize(acc)
      if (this.having !== null && !this.having(acc, empty, this.ctx, a)) return []
      return [this.project(acc, empty, this.ctx, a)]
    })
  }

  /**
   * Live results of an on-window-close view: entries written while their window was open wait, by window
   * end, until the watermark closes it; then (and for entries written already closed: sliced windows, put
   * together at close, and deletions) their rows are handed on. A step costs what was written or closed in
   * it, not the size of the view.
   */
  private followClosed(watermark: () => number): ViewFollower {
    const table = this.table
    const windowEnd = this.windowEnd!
    const lateness = this.plan.source.allowedLateness
    const rowsOf = (acc: readonly Value[] | undefined): Row[] => {
      if (acc === undefined) return []
      const o = this.output(acc)
      return o.visible ? [o.row] : []
    }
    const journal = table.journal()
    const waiting = new Map<number, Set<string>>()
    const wait = (key: string, end: number) => {
      let keys = waiting.get(end)
      if (keys === undefined) waiting.set(end, (keys = new Set()))
      keys.add(key)
    }
    return {
      async *entries() {
        const limit = watermark() - lateness
        for await (const [key, acc] of table.scan()) {
          const end = windowEnd(acc)
          if (end > limit) {
            wait(key, end)
            continue
          }
          const rows = rowsOf(acc)
          if (rows.length > 0) yield [key, rows] as const
        }
      },
      async changed() {
        const limit = watermark() - lateness
        const out: (readonly [string, Row[]])[] = []
        const written = journal.drain()
        if (written.length > 0) {
          await table.load(written)
          for (const key of written) {
            const acc = table.get(key)
            if (acc !== undefined && windowEnd(acc) > limit) wait(key, windowEnd(acc))
            else out.push([key, rowsOf(acc)])
          }
        }
        const due: string[] = []
        for (const [end, keys] of waiting) {
          if (end > limit) continue
          waiting.delete(end)
          for (const key of keys) due.push(key)
        }
        if (due.length > 0) {
          await table.load(due)
          for (const key of due) out.push([key, rowsOf(table.get(key))])
        }
        return out
      },
      close: () => journal.close(),
    }
  }

  /** The view's current rows. `watermark` hides open windows in on-window-close mode. */
  async *rows(watermark: number): AsyncGenerator<Row> {
    const onClose = this.plan.emit === 'on_window_close' && this.windowEnd !== null
    const lateness = this.plan.source.allowedLateness
    const empty: Value[] = []
    for await (const [, acc] of this.table.scan()) {
      // Final only once late events can no longer change it: the watermark passed the end plus the lateness.
      if (onClose && this.windowEnd!(acc) + lateness > watermark) continue
      const a = this.aggs.finalize(acc)
      if (this.having !== null && !this.having(acc, empty, this.ctx, a)) continue
      yield this.project(acc, empty, this.ctx, a)
    }
  }
}

/** Two rows with the same values (values are primitives or small JSON-able objects). */
function sameRow(a: Row, b: Row): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null || JSON.stringify(x) !== JSON.stringify(y)) return false
  }
  return true
}
