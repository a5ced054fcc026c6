/**
 * What the overview page shows, read from the system tables in a session of the user (a read-only user
 * may read them): streams with their partitions' lag, dead letters and late events, views, triggers and
 * sinks with their status. Rates over time are the browser's to sample. A table that this server does not
 * have (the catch-up progress table of a later version) is left out rather than failing the page.
 */
import type { Backend } from '../backend.ts'
import { runStatements, type ResultSet } from './statements.ts'

export type NamedRow = Record<string, string | null>

export interface Overview {
  readonly streams: NamedRow[]
  readonly queries: NamedRow[]
  readonly partitions: NamedRow[]
  readonly sinks: NamedRow[]
  readonly triggers: NamedRow[]
  readonly deadLetters: NamedRow[]
  readonly lateEvents: NamedRow[]
  /** Catch-up progress per view, when the server keeps it (null: no such table). */
  readonly progress: NamedRow[] | null
  /** The server's clock when read (ms since the epoch), for rates and watermark delays. */
  readonly at: number
}

const QUERIES = {
  streams: 'SELECT name, partitions, events, closed, watermark FROM sluice_streams ORDER BY name',
  queries: 'SELECT name, source, status, events_in, events_per_second, lag, watermark, state_keys, state_bytes, late_events, output_per_second, last_error, limits FROM sluice_queries ORDER BY name',
  partitions: 'SELECT query, stream, partition, position, end_offset, lag FROM sluice_partitions ORDER BY query, stream, partition',
  sinks: 'SELECT name, source, topic, mode, status, records_out, batches_pending, last_error FROM sluice_sinks ORDER BY name',
  triggers: 'SELECT name, stream, target, status, fires, delivered, held_out, suppressed_cooldown, suppressed_cap, failed, last_fire, last_error FROM sluice_triggers ORDER BY name',
  deadLetters: 'SELECT stream, count(*) AS dead_letters FROM sluice_dead_letters GROUP BY stream',
  lateEvents: 'SELECT query, stream, count(*) AS late_events FROM sluice_late_events GROUP BY query, stream',
} as const

/** The optional progress table, read if present. */
export const PROGRESS_QUERY = 'SELECT * FROM sluice_progress'

/** Reads every part of the overview; a part that fails is left empty, so that the page shows the rest. */
export async function readOverview(backend: Backend): Promise<Overview> {
  const parts: Partial<Record<keyof typeof QUERIES, NamedRow[]>> = {}
  for (const [key, sql] of Object.entries(QUERIES) as [keyof typeof QUERIES, string][]) {
    const answer = await runStatements(backend, sql)
    parts[key] = answer.error === undefined ? records(answer.results[0]) : []
  }
  const progress = await runStatements(backend, PROGRESS_QUERY)
  return {
    streams: parts.streams ?? [],
    queries: parts.queries ?? [],
    partitions: parts.partitions ?? [],
    sinks: parts.sinks ?? [],
    triggers: parts.triggers ?? [],
    deadLetters: parts.deadLetters ?? [],
    lateEvents: parts.lateEvents ?? [],
    progress: progress.error === undefined ? records(progress.results[0]) : null,
    at: Date.now(),
  }
}

/** A result set's rows as objects by column name. */
export function records(r: ResultSet | undefined): NamedRow[] {
  if (r === undefined || r.columns === null) return []
  const names = r.columns.map((c) => c.name)
  return r.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i] ?? null])))
}
