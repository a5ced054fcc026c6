/**
 * What many queries over one micro-batch can share instead of each computing it again: per row, the value
 * of the stream's watermark expression; from any row on, how many events there are and their largest
 * watermark; and, per column asked for, which rows hold which value and the rows in order of value.
 * Triggers use it so that one whose WHEN requires `NEW.type = 'fight'` or `NEW.level BETWEEN 20 AND 40`
 * looks only at the rows that satisfy it (an index on the event's conditions), however many triggers watch
 * the stream. Conditions on the columns of a joined view (`p.spent > 100`) are indexed the same way, from
 * each event's view row read once per batch for all the triggers that join the view.
 */
import type { Row, Value } from '../common/types.ts'
import { assertNever } from '../common/errors.ts'
import type { IndexKey, KeySource, RangeKey } from '../planner/index-key.ts'
import { SortedColumn } from './sorted-column.ts'

export interface BatchLike {
  readonly offsets: readonly number[]
  readonly rows: readonly (Row | null)[]
  /** The source partition, which a lookup join is told (absent: 0). */
  readonly partition?: number
}

/** A batch of one partition: what a lookup join reads the view for. */
export interface PartitionBatch extends BatchLike {
  readonly partition: number
}

/**
 * How a trigger reads its joined view (its lookup join), for keys on the view's columns: `rows` gives each
 * event's view row (null: none). Triggers joining the same view the same way pass the same `lookup`, so
 * the view rows of a batch are read once for all of them.
 */
export interface JoinedView {
  readonly lookup: { rows(batch: PartitionBatch, keys: readonly (Value[] | null)[]): Promise<(Row | null)[]> }
  /** The event's columns holding the view's key. */
  readonly keyIndexes: readonly number[]
}

/** Keys on a joined view are looked at when the event's keys leave more than 1/VIEW_KEYS_PAST of the batch. */
const VIEW_KEYS_PAST = 4

/** The values of one column, per row of the batch (null for dead letters and events without a view row). */
type ColumnValues = (i: number) => Value

/**
 * Per key (by keyId): how many rows satisfy it, which, and a bitmap of them when another key's rows were
 * checked against it; also the rows of all of a trigger's keys together (by their ids joined with `&`).
 */
interface KeyMemo {
  readonly counts: Map<string, number>
  readonly rows: Map<string, readonly number[]>
  readonly bitmaps: Map<string, Uint8Array>
}

export class BatchIndex {
  /** Events (non-null rows) from row i to the end. */
  private readonly eventsFrom: Int32Array
  /** Largest watermark value from row i to the end (-Infinity: none). */
  private readonly watermarkFrom: Float64Array
  /** Per column asked for (`e3`: the event's fourth; `v1.2`: the third of the first joined view's row). */
  private readonly columns = new Map<string, Map<Value, number[]>>()
  /** Per column and domain asked for in a range (`e3:number`): its rows ordered by value. */
  private readonly sorted = new Map<string, SortedColumn>()
  /** Per joined view (lookup and key columns): a tag for column names, and each event's view row. */
  private readonly joins = new Map<object, Map<string, { tag: string; rows: Promise<readonly (Row | null)[]> }>>()
  private readonly viewRows = new Map<string, readonly (Row | null)[]>()
  private joinCount = 0
  /** The counts and rows of the keys asked for (by keyId), on the event's columns and per joined view. */
  private readonly eventMemo: KeyMemo = { counts: new Map(), rows: new Map(), bitmaps: new Map() }
  private readonly viewMemos = new Map<string, KeyMemo>()
  /** Every event's row, for triggers without a usable key (built once). */
  private allEvents: readonly number[] | null = null

  constructor(
    private readonly batch: BatchLike,
    watermarkOf: ((row: Row) => Value) | null,
  ) {
    const n = batch.rows.length
    this.eventsFrom = new Int32Array(n + 1)
    this.watermarkFrom = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY)
    for (let i = n - 1; i >= 0; i--) {
      const row = batch.rows[i]
      this.eventsFrom[i] = this.eventsFrom[i + 1]! + (row === null || row === undefined ? 0 : 1)
      let w = this.watermarkFrom[i + 1]!
      if (row !== null && row !== undefined && watermarkOf !== null) {
        const v = watermarkOf(row)
        if (typeof v === 'number' && v > w) w = v
      }
      this.watermarkFrom[i] = w
    }
  }

  /** The first row at or after source offset `from`. */
  firstAt(from: number): number {
    const offsets = this.batch.offsets
    let lo = 0
    let hi = offsets.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (offsets[mid]! < from) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  events(start: number): number {
    return this.eventsFrom[start] ?? 0
  }

  maxWatermark(start: number): number {
    return this.watermarkFrom[start] ?? Number.NEGATIVE_INFINITY
  }

  /** The rows (indexes, ascending) whose event `column` equals `value`. */
  rowsWith(column: number, value: Value): readonly number[] {
    return this.equalRows(`e${column}`, this.eventColumn(column), value)
  }

  /**
   * The rows (ascending) that satisfy every key on the event's columns, and every key on the joined view's
   * columns when those were looked at: the rows of the key that holds the fewest, kept where each other key
   * holds too (from the fewest up; each key's rows as a bitmap of the batch, shared by the triggers that
   * have the key). A trigger whose keys cover its condition so gets the rows that satisfy it and no other.
   * Keys on a joined view's columns need `joined` (without it they are not used), and are looked at only
   * when the event's keys leave more than a quarter of the batch: reading every event's view row costs more
   * than testing the few rows the event keys leave. With no usable key, every event's row. The result is
   * kept for the batch under the keys' ids: triggers that segment alike (the same type and band of levels,
   * the same countries) share it.
   */
  async narrowest(keys: readonly IndexKey[], joined: JoinedView | null = null): Promise<readonly number[]> {
    const ids = setIds(keys)
    const onEvent = ids.event === '' ? null : this.allHold(keys, 'event', ids.event, null)
    if (onEvent !== null && onEvent.length === 0) return onEvent
    if (joined === null || ids.view === '' || (onEvent !== null && onEvent.length <= this.batch.rows.length / VIEW_KEYS_PAST)) {
      return onEvent ?? (this.allEvents ??= this.eventRows())
    }
    return this.narrowestJoined(keys, joined, ids, onEvent)
  }

  /** `narrowest` without a joined view, at once: the rows that satisfy every key on the event's columns. */
  narrowestOnEvent(keys: readonly IndexKey[]): readonly number[] {
    const ids = setIds(keys)
    return ids.event === '' ? (this.allEvents ??= this.eventRows()) : this.allHold(keys, 'event', ids.event, null)
  }

  /** `narrowest` where the keys on the joined view's columns are looked at. */
  private async narrowestJoined(keys: readonly IndexKey[], joined: JoinedView, ids: { event: string; view: string }, onEvent: readonly number[] | null): Promise<readonly number[]> {
    const tag = await this.join(joined)
    const onView = this.allHold(keys, 'view', ids.view, tag)
    if (onEvent === null) return onView
    const memo = this.memo(tag)
    const id = `${ids.event}|${ids.view}`
    let both = memo.rows.get(id)
    if (both === undefined) memo.rows.set(id, (both = intersectRows(onEvent, onView)))
    return both
  }

  /** The rows that satisfy every key of `keys` on `source` (there is one at least; `id`: theirs together). */
  private allHold(keys: readonly IndexKey[], source: KeySource, id: string, tag: string | null): readonly number[] {
    const memo = this.memo(tag)
    let rows = memo.rows.get(id)
    if (rows !== undefined) return rows
    const mine: { key: IndexKey; n: number }[] = []
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!
      if (key.source !== source) continue
      const n = this.count(key, tag)
      if (n === 0) {
        memo.rows.set(id, (rows = []))
        return rows
      }
      mine.push({ key, n })
    }
    mine.sort((a, b) => a.n - b.n)
    rows = this.rowsFor(mine[0]!.key, tag)
    for (let k = 1; k < mine.length && rows.length > 0; k++) {
      const marked = this.bitmap(mine[k]!.key, tag)
      const kept: number[] = []
      for (let j = 0; j < rows.length; j++) if (marked[rows[j]!] === 1) kept.push(rows[j]!)
      rows = kept
    }
    memo.rows.set(id, rows)
    return rows
  }

  /** The key's rows as a bitmap of the batch (1: the row satisfies it), kept for the batch. */
  private bitmap(key: IndexKey, tag: string | null): Uint8Array {
    const memo = this.memo(tag)
    const id = keyId(key)
    let marked = memo.bitmaps.get(id)
    if (marked === undefined) {
      marked = new Uint8Array(this.batch.rows.length)
      const rows = this.rowsFor(key, tag)
      for (let j = 0; j < rows.length; j++) marked[rows[j]!] = 1
      memo.bitmaps.set(id, marked)
    }
    return marked
  }

  /**
   * The rows (indexes, ascending) that satisfy the key; `tag` names the joined view (see `join`). The rows
   * and counts of every key are kept for the batch: triggers often segment alike (the same event type, the
   * same countries, the same band of levels), and then only the first trigger puts them together. Keys are
   * told apart by what they say (`keyId`), not by object: each trigger has keys of its own.
   */
  rowsFor(key: IndexKey, tag: string | null = null): readonly number[] {
    const memo = this.memo(tag)
    const id = keyId(key)
    let rows = memo.rows.get(id)
    if (rows === undefined) {
      const [name, values] = this.column(key, tag)
      if (key.kind === 'eq') rows = this.equalRows(name, values, key.value)
      else rows = key.kind === 'set' ? this.setRows(name, values, key.values) : this.sortedColumn(name, values, key).rowsBetween(key.lower, key.upper)
      memo.rows.set(id, rows)
    }
    return rows
  }

  /** How many rows satisfy the key. */
  count(key: IndexKey, tag: string | null = null): number {
    const memo = this.memo(tag)
    const id = keyId(key)
    let n = memo.counts.get(id)
    if (n !== undefined) return n
    const [name, values] = this.column(key, tag)
    switch (key.kind) {
      case 'eq':
        n = this.equalRows(name, values, key.value).length
        break
      case 'set':
        n = 0
        for (const v of key.values) n += this.equalRows(name, values, v).length
        break
      case 'range':
        n = this.sortedColumn(name, values, key).countBetween(key.lower, key.upper)
        break
      default:
        return assertNever(key)
    }
    memo.counts.set(id, n)
    return n
  }

  /** The counts and rows of the keys asked for, on the event's columns (tag null) or a joined view's. */
  private memo(tag: string | null): KeyMemo {
    if (tag === null) return this.eventMemo
    let m = this.viewMemos.get(tag)
    if (m === undefined) this.viewMemos.set(tag, (m = { counts: new Map(), rows: new Map(), bitmaps: new Map() }))
    return m
  }

  /**
   * Reads each event's row of the joined view (once per batch and join, whoever asks first) and returns the
   * join's tag, by which keys on its columns are told apart from another view's.
   */
  async join(joined: JoinedView): Promise<string> {
    let ways = this.joins.get(joined.lookup)
    if (ways === undefined) this.joins.set(joined.lookup, (ways = new Map()))
    const by = joined.keyIndexes.join(',')
    let known = ways.get(by)
    if (known === undefined) {
      const rows = this.batch.rows
      const keys = rows.map((row) => (row === null || row === undefined ? null : joined.keyIndexes.map((k) => row[k] ?? null)))
      const batch: PartitionBatch = { partition: this.batch.partition ?? 0, offsets: this.batch.offsets, rows }
      // The read is shared as a promise: a second trigger asking while it is under way waits for the same.
      known = { tag: `v${++this.joinCount}`, rows: joined.lookup.rows(batch, keys) }
      ways.set(by, known)
    }
    this.viewRows.set(known.tag, await known.rows)
    return known.tag
  }

  /** The key's column: its name in this index and its value per row. */
  private column(key: IndexKey, tag: string | null): [string, ColumnValues] {
    if (key.source === 'event') return [`e${key.column}`, this.eventColumn(key.column)]
    const rows = tag === null ? undefined : this.viewRows.get(tag)
    if (tag === null || rows === undefined) throw new Error('a key on a joined view needs the view rows read first (join)')
    const c = key.column
    return [`${tag}:${c}`, (i) => rows[i]?.[c] ?? null]
  }

  private eventColumn(column: number): ColumnValues {
    const rows = this.batch.rows
    return (i) => rows[i]?.[column] ?? null
  }

  /** Every event's row (dead letters left out). */
  private eventRows(): number[] {
    const out: number[] = []
    this.batch.rows.forEach((row, i) => {
      if (row !== null && row !== undefined) out.push(i)
    })
    return out
  }

  private equalRows(name: string, values: ColumnValues, value: Value): readonly number[] {
    let index = this.columns.get(name)
    if (index === undefined) {
      index = new Map()
      const rows = this.batch.rows
      for (let i = 0; i < rows.length; i++) {
        if (rows[i] === null || rows[i] === undefined) continue
        const v = values(i)
        const list = index.get(v)
        if (list === undefined) index.set(v, [i])
        else list.push(i)
      }
      this.columns.set(name, index)
    }
    // NULL is a key of the map (the rows without a value) but never equals anything.
    return value === null ? [] : (index.get(value) ?? [])
  }

  /** The union of the rows of each value (the values are distinct, so the lists are disjoint). */
  private setRows(name: string, values: ColumnValues, wanted: readonly Value[]): readonly number[] {
    let out: readonly number[] = []
    for (const v of wanted) out = mergeRows(out, this.equalRows(name, values, v))
    return out
  }

  private sortedColumn(name: string, values: ColumnValues, key: RangeKey): SortedColumn {
    const full = `${name}:${key.domain}`
    let s = this.sorted.get(full)
    if (s === undefined) {
      s = new SortedColumn(this.batch.rows.length, values, key.domain)
      this.sorted.set(full, s)
    }
    return s
  }
}

/** Two ascending lists of distinct rows as one. */
function mergeRows(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a.length === 0) return b
  if (b.length === 0) return a
  const out = new Array<number>(a.length + b.length)
  let i = 0
  let j = 0
  let k = 0
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!
  while (i < a.length) out[k++] = a[i++]!
  while (j < b.length) out[k++] = b[j++]!
  return out
}

/** The rows in both of two ascending lists. */
function intersectRows(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a[i]!
    const y = b[j]!
    if (x === y) {
      out.push(x)
      i++
      j++
    } else if (x < y) i++
    else j++
  }
  return out
}

/**
 * Whether `row` (the event's `width` columns, then the joined view's) satisfies every key: for a trigger whose
 * keys cover its condition (planner/index-key.ts, keysCover), the condition itself. The same comparisons as
 * the index's: equality as the map of values finds them, ranges by JavaScript's operators on values of the
 * key's domain (no NULL, no NaN).
 */
export function keysHold(keys: readonly IndexKey[], row: Row, width: number): boolean {
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!
    if (!keyHolds(key, row[key.source === 'event' ? key.column : width + key.column] ?? null)) return false
  }
  return true
}

/**
 * Whether the event (its own columns, before a join) satisfies every key on the event's columns. Every key
 * is a condition WHEN requires, so an event failing one need not be joined to the view at all.
 */
export function eventKeysHold(keys: readonly IndexKey[], row: Row): boolean {
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!
    if (key.source === 'event' && !keyHolds(key, row[key.column] ?? null)) return false
  }
  return true
}

function keyHolds(key: IndexKey, v: Value): boolean {
  if (v === null) return false
  switch (key.kind) {
    case 'eq':
      return v === key.value
    case 'set':
      return (key.values as readonly Value[]).includes(v)
    case 'range': {
      if (typeof v !== key.domain || v !== v) return false
      const x = v as number | string
      const lo = key.lower
      if (lo !== null && (lo.inclusive ? !(x >= lo.value) : !(x > lo.value))) return false
      const hi = key.upper
      return hi === null || (hi.inclusive ? x <= hi.value : x < hi.value)
    }
    default:
      return assertNever(key)
  }
}

/** A key's identity: its source, column and condition (computed once per key: a trigger keeps its keys). */
const keyIds = new WeakMap<IndexKey, string>()

/** The ids of a trigger's keys on the event's columns and on the view's, each joined by `&` ('' for none). */
const keySetIds = new WeakMap<readonly IndexKey[], { event: string; view: string }>()

function setIds(keys: readonly IndexKey[]): { event: string; view: string } {
  let ids = keySetIds.get(keys)
  if (ids === undefined) {
    const of = (source: KeySource) => keys.filter((k) => k.source === source).map(keyId).join('&')
    ids = { event: of('event'), view: of('view') }
    keySetIds.set(keys, ids)
  }
  return ids
}

function keyId(key: IndexKey): string {
  let id = keyIds.get(key)
  if (id === undefined) {
    const what = key.kind === 'eq' ? [key.value] : key.kind === 'set' ? key.values : [key.domain, key.lower, key.upper]
    id = JSON.stringify([key.source, key.column, key.kind, what])
    keyIds.set(key, id)
  }
  return id
}

const indexes = new WeakMap<BatchLike, BatchIndex>()

/** The batch's shared index (built on first use; the stream's queries share one watermark expression). */
export function batchIndex(batch: BatchLike, watermarkOf: ((row: Row) => Value) | null): BatchIndex {
  let index = indexes.get(batch)
  if (index === undefined) {
    index = new BatchIndex(batch, watermarkOf)
    indexes.set(batch, index)
  }
  return index
}
