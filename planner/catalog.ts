/**
 * The catalog: streams and materialized views by name. The engine persists each entry's defining SQL and
 * replays it on start, so the catalog itself only holds what planning needs.
 */
import { SqlState, planError, type Span } from '../common/errors.ts'
import type { Column } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { ViewPlan } from './view-plan.ts'

export type OptionValue = string | number | boolean

export interface WatermarkSpec {
  /** Index of the event-time column. */
  readonly columnIndex: number
  /** The watermark of one row, e.g. `ts - INTERVAL '5 seconds'`, over the stream's row. */
  readonly expr: BoundExpr
  readonly sql: string
}

/** CREATE STREAM: a durable, partitioned log of events with a schema. */
export interface StreamDef {
  readonly kind: 'stream'
  readonly id: number
  readonly name: string
  readonly columns: readonly Column[]
  readonly watermark: WatermarkSpec | null
  readonly options: Readonly<Record<string, OptionValue>>
  readonly partitions: number
  /** Column whose value chooses the partition; null spreads events by round robin. */
  readonly keyColumn: number | null
  /** How long after the watermark passed a window still accepts events, in microseconds. */
  readonly allowedLateness: number
  readonly source: StreamSourceDef
  readonly format: StreamFormat
  /** Columns filled from record metadata instead of the record itself (Kafka streams). */
  readonly metadata: readonly MetadataColumn[]
  readonly sql: string
}

export type MetadataKey = 'partition' | 'offset' | 'timestamp'

export interface MetadataColumn {
  readonly index: number
  readonly key: MetadataKey
}

/** How records are encoded: JSON objects, or delimited lines whose fields map to the columns in order. */
export type StreamFormat =
  | { readonly kind: 'json' }
  | { readonly kind: 'csv' | 'tsv'; readonly typeColumn?: number; readonly typeId?: string }

/** Where a stream's events come from. */
export type StreamSourceDef =
  | { readonly kind: 'embedded' }
  | { readonly kind: 'kafka'; readonly topic: string; readonly start: 'earliest' | 'latest'; readonly groupId: string }
  /** The lines of a file, `path` as given (relative to the server's file directory, or inside it). */
  | { readonly kind: 'file'; readonly path: string }
  /**
   * Another view's rows, as a view over a view reads them (planner/view-source.ts): `stream` is the stream
   * at the root of the chain; the rows' watermark is the read view's minus `lag`. With `changes`, the read
   * view changes its rows, and each change comes as the old row withdrawn and the new one added.
   */
  | { readonly kind: 'view'; readonly view: string; readonly stream: string; readonly lag: number; readonly changes: boolean }

/** CREATE MATERIALIZED VIEW: a continuous query whose result is kept current. */
export interface ViewDef {
  readonly kind: 'view'
  readonly id: number
  readonly name: string
  readonly columns: readonly Column[]
  readonly plan: ViewPlan
  readonly sql: string
  /** ALTER MATERIALIZED VIEW ... SET statements run since the CREATE, in order (replayed after it). */
  readonly alters?: readonly string[]
  /** A hidden view (planner/hidden-views.ts): the view whose aggregating subquery it is, which owns it. */
  readonly owner?: string
}

export type CatalogEntry = StreamDef | ViewDef

export class Catalog {
  private readonly entries = new Map<string, CatalogEntry>()
  /** Changes with every add and remove: plans cached against the catalog are valid while it stays. */
  version = 0
  private nextId = 1

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name)
  }

  has(name: string): boolean {
    return this.entries.has(name)
  }

  stream(name: string, span?: Span): StreamDef {
    const e = this.entries.get(name)
    if (e === undefined) throw planError(SqlState.undefinedTable, `relation "${name}" does not exist`, span)
    if (e.kind !== 'stream') throw planError(SqlState.datatypeMismatch, `"${name}" is not a stream`, span)
    return e
  }

  relation(name: string, span?: Span): CatalogEntry {
    const e = this.entries.get(name)
    if (e === undefined) throw planError(SqlState.undefinedTable, `relation "${name}" does not exist`, span)
    return e
  }

  /** Reserves the id of a new entry (used as its state namespace). Ids are never reused. */
  allocateId(): number {
    return this.nextId++
  }

  /** Makes sure ids replayed from disk are not handed out again. */
  reserveId(id: number): void {
    if (id >= this.nextId) this.nextId = id + 1
  }

  add(entry: CatalogEntry): void {
    if (this.entries.has(entry.name)) throw planError(SqlState.duplicateTable, `relation "${entry.name}" already exists`)
    this.reserveId(entry.id)
    this.entries.set(entry.name, entry)
    this.version++
  }

  remove(name: string): void {
    this.entries.delete(name)
    this.version++
  }

  /** Views that read the stream or view, or look up the view, called `name` (which DROP must refuse or cascade to). */
  dependents(name: string): ViewDef[] {
    return this.views().filter((v) => v.plan.source.name === name || v.plan.join?.view === name || v.plan.intervalJoin?.right.name === name)
  }

  /** Every view that depends on `name`, directly or through other views; each after the views it depends on. */
  allDependents(name: string): ViewDef[] {
    const out: ViewDef[] = []
    const seen = new Set<string>()
    const visit = (n: string) => {
      for (const d of this.dependents(n)) {
        if (seen.has(d.name)) continue
        seen.add(d.name)
        out.push(d)
        visit(d.name)
      }
    }
    visit(name)
    return out.sort((a, b) => a.id - b.id)
  }

  /** Views as users created them: hidden views (planner/hidden-views.ts) are not listed. */
  userViews(): ViewDef[] {
    return this.views().filter((v) => v.owner === undefined)
  }

  streams(): StreamDef[] {
    return [...this.entries.values()].filter((e): e is StreamDef => e.kind === 'stream').sort((a, b) => a.id - b.id)
  }

  views(): ViewDef[] {
    return [...this.entries.values()].filter((e): e is ViewDef => e.kind === 'view').sort((a, b) => a.id - b.id)
  }
}
