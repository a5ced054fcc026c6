/**
 * Reads: what pull queries and the system tables read of the running engine (a view's rows or one group of
 * them, a stream's events, late events, trigger counters, state sizes), and waiting until a view has caught
 * up with what was appended before a SELECT.
 */
import { SqlState, planError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { type StreamDef } from '../../planner/catalog.ts'
import type { StreamSource } from '../source.ts'
import { jsonCodec } from '../state/codec.ts'
import { type StreamDecoder } from '../record-decoder.ts'
import { ContinuousQuery } from '../continuous-query.ts'
import { TriggerFire } from '../operators/trigger-fire.ts'
import { type TriggerDef } from '../../planner/trigger-plan.ts'
import { EnginePart, LATE_PREFIX, prefixRange } from './state.ts'

export class Reads extends EnginePart {
  /** Name, stream, channel, status and counters of every trigger (sluice_triggers). */
  async triggerStats(): Promise<{ def: TriggerDef; status: string; lastError: string | null; counters: Awaited<ReturnType<TriggerFire['stats']>> }[]> {
    const out = []
    for (const t of this.triggers.values()) {
      // Cluster mode: the front engine fires nothing; the counters are the tasks' (cluster/outputs.ts).
      if (this.s.clusterReads !== null) {
        out.push({ def: t.def, ...(await this.s.clusterReads.triggerStats(t.def.name)) })
        continue
      }
      out.push({ def: t.def, status: t.query.status, lastError: t.query.lastError ? `${t.query.lastError.sqlstate}: ${t.query.lastError.message}` : null, counters: await t.operator.stats() })
    }
    return out
  }

  query(name: string): ContinuousQuery | undefined {
    return this.queries.get(name)
  }

  allQueries(): ContinuousQuery[] {
    return [...this.queries.values()]
  }

  streamRuntime(name: string): { readonly def: StreamDef; readonly log: StreamSource; readonly decode: StreamDecoder; readonly closed: boolean } | undefined {
    return this.streams.get(name)
  }

  /**
   * Waits (up to `timeoutMs`) until the view has processed everything appended to its stream before this
   * call, so a SELECT after an INSERT sees the inserted events.
   */
  async waitCaughtUp(viewName: string, timeoutMs = 2000): Promise<void> {
    const q = this.queries.get(viewName)
    if (q === undefined) return
    if (q.slots.some((slot) => !this.streams.has(slot.stream))) return
    const targets = q.slots.map((slot) => this.streams.get(slot.stream)!.log.endOffset(slot.partition))
    const deadline = Date.now() + timeoutMs
    while (q.status === 'running' && q.settled.some((o, p) => o < targets[p]!) && Date.now() < deadline) {
      this.wake()
      await new Promise<void>((resolve) => {
        this.progressWaiters.push(resolve)
        setTimeout(resolve, 50).unref()
      })
    }
  }

  /**
   * The view row of one group, got by key from a GROUP BY view's state ([] when there is none or HAVING
   * hides it); null when the view keeps its rows otherwise and must be read whole.
   */
  async viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null> {
    const q = this.queries.get(name)
    if (q === undefined) throw planError(SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    if (this.s.clusterReads !== null && this.catalog.get(name)?.kind === 'view') return this.s.clusterReads.viewPoint(name, keyValues)
    const keyed = q.operator.keyed
    if (keyed === null) return null
    const [row] = await keyed.lookup([[...keyValues]])
    return row === null || row === undefined ? [] : [row]
  }

  async *viewRows(name: string): AsyncGenerator<Row> {
    const q = this.queries.get(name)
    if (q === undefined) throw planError(SqlState.undefinedTable, `materialized view "${name}" does not exist`)
    // Cluster mode: the tasks of every node hold the rows (cluster/pull.ts), and a trigger's audit.
    if (this.s.clusterReads !== null && (this.catalog.get(name)?.kind === 'view' || this.triggers.has(name))) yield* this.s.clusterReads.viewRows(name)
    else yield* q.rows()
  }

  /**
   * Every event currently in a stream's log, decoded (dead letters skipped); with `ends`, only those before
   * each partition's end there (a transaction's snapshot: server/transaction-snapshot.ts).
   */
  async *streamRows(name: string, ends?: readonly number[]): AsyncGenerator<Row> {
    const rt = this.streams.get(name)
    if (rt === undefined) throw planError(SqlState.undefinedTable, `stream "${name}" does not exist`)
    for (let p = 0; p < rt.def.partitions; p++) {
      const end = Math.min(rt.log.endOffset(p), ends?.[p] ?? Infinity)
      let offset = 0
      while (offset < end) {
        const { records, nextOffset, offsets, timestamps } = await rt.log.read(p, offset, Math.min(this.batchSize, end - offset))
        if (records.length === 0) break
        for (let i = 0; i < records.length; i++) {
          try {
            const row = rt.decode(records[i]!, p, offsets?.[i] ?? offset + i, timestamps?.[i] ?? null)
            if (row !== null) yield row
          } catch {
            // Dead letters are listed in sluice_dead_letters, not here.
          }
        }
        offset = nextOffset
      }
    }
  }

  async lateEvents(): Promise<(Record<string, unknown>)[]> {
    const out: Record<string, unknown>[] = []
    for await (const [, v] of this.db.scan(prefixRange(LATE_PREFIX))) out.push(jsonCodec.decode(v) as Record<string, unknown>)
    for (const q of this.queries.values()) for (const l of q.pendingLate) out.push({ ...l, query: q.name, stream: l.stream ?? q.view.plan.source.name })
    return out
  }

  tableStats(id: number): { entries: number } {
    return { entries: this.tables.get(id)?.stats().cached ?? 0 }
  }
}
