/**
 * Random offers and purchases for the interval join tests: times on whole minutes (so that pairs at exactly
 * the bound are common), a few players (many-to-many matches), NULL players now and then (never matched),
 * delivered out of order by less than the streams' 2-minute watermark delay, both streams interleaved.
 */
import { rng } from './game-events.ts'

export const JOIN_DELAY_MS = 120_000

export interface JoinEvent {
  readonly side: 'offer' | 'purchase'
  readonly player: number | null
  /** The offer's name, or the purchase's amount. */
  readonly value: string | number
  readonly ts: number
}

export function joinEvents(seed: number, offers: number, purchases: number, opts: { players?: number; minutes?: number } = {}): JoinEvent[] {
  const r = rng(seed)
  const players = opts.players ?? 4
  const minutes = opts.minutes ?? 90
  const base = Date.UTC(2026, 11, 1, 9, 0, 0) + Math.floor(r() * 60) * 60_000
  const player = () => (r() < 0.08 ? null : 1 + Math.floor(r() * players))
  const at = () => base + Math.floor(r() * minutes) * 60_000 + (r() < 0.2 ? Math.floor(r() * 60) * 1000 : 0)
  const events: JoinEvent[] = []
  for (let i = 0; i < offers; i++) events.push({ side: 'offer', player: player(), value: `offer${i % 7}`, ts: at() })
  for (let i = 0; i < purchases; i++) events.push({ side: 'purchase', player: player(), value: 1 + Math.floor(r() * 50), ts: at() })
  // Delivered by time plus a jitter below the watermark delay: an event comes after events up to 2 minutes
  // later than itself, never after the watermark passed it.
  return events
    .map((e) => ({ e, k: e.ts + r() * (JOIN_DELAY_MS - 1000) }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.e)
}

const iso = (ts: number) => `'${new Date(ts).toISOString()}'`

/**
 * The INSERTs delivering `events` in order: runs of one stream's events, at most `chunk` per statement.
 * (Each stream's events keep their order across statements, and a join's watermark is the least of the two
 * streams', so even one statement per stream delivers them in time.)
 */
export function joinInserts(events: readonly JoinEvent[], offers: string, purchases: string, chunk = 40): string[] {
  const out: string[] = []
  let i = 0
  while (i < events.length) {
    const side = events[i]!.side
    const run: JoinEvent[] = []
    while (i < events.length && events[i]!.side === side && run.length < chunk) run.push(events[i++]!)
    out.push(insertOf(run, side === 'offer' ? offers : purchases))
  }
  return out
}

/** One INSERT per stream of all of `events` (in their order). */
export function joinInsertsPerStream(events: readonly JoinEvent[], offers: string, purchases: string): string[] {
  const o = events.filter((e) => e.side === 'offer')
  const p = events.filter((e) => e.side === 'purchase')
  return [...(o.length > 0 ? [insertOf(o, offers)] : []), ...(p.length > 0 ? [insertOf(p, purchases)] : [])]
}

function insertOf(run: readonly JoinEvent[], stream: string): string {
  const values = run.map((e) => `(${e.player ?? 'NULL'}, ${typeof e.value === 'string' ? `'${e.value}'` : e.value}, ${iso(e.ts)})`).join(', ')
  return `INSERT INTO ${stream} VALUES ${values}`
}
