/**
 * Random event sets for the differential (oracle) tests: events about 7 s apart with distinct times, then
 * delivered out of order by up to 20 s, which stays within the 1-minute lateness those tests declare.
 */
import { rng } from './game-events.ts'

export interface OracleEvent {
  readonly player: number
  readonly amount: number | null
  readonly ts: number
}

export function shuffledEvents(seed: number, count: number, opts: { players: number; nullShare: number }): OracleEvent[] {
  const r = rng(seed)
  const base = Date.UTC(2026, 10, 23, 9, 0, 0) + Math.floor(r() * 3_600_000)
  const out: OracleEvent[] = []
  for (let i = 0; i < count; i++) {
    out.push({ player: 1 + Math.floor(r() * opts.players), amount: r() < opts.nullShare ? null : 1 + Math.floor(r() * 100), ts: base + i * 7000 + Math.floor(r() * 1000) })
  }
  return out.map((e, i) => ({ e, k: i * 7000 + (r() - 0.5) * 40_000 })).sort((a, b) => a.k - b.k).map((x) => x.e)
}

/** `(player, amount, ts), ...` for an INSERT into (player_id, amount, ts). */
export const valuesSql = (es: readonly OracleEvent[]): string =>
  es.map((e) => `(${e.player}, ${e.amount ?? 'NULL'}, '${new Date(e.ts).toISOString()}')`).join(', ')

/** Result rows as sorted strings, comparable across the two engines. */
export const asRows = (rows: readonly unknown[][]): string[] =>
  rows.map((r) => r.map((v) => (v instanceof Date ? v.toISOString() : v === null ? 'NULL' : String(v))).join('|')).sort()
