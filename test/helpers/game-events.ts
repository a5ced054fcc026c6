/** Deterministic game events for tests, and the expected results computed independently of Sluice. */

export interface GameEvent {
  readonly player_id: number
  readonly game: string
  readonly type: string
  readonly result: string | null
  readonly level: number | null
  readonly amount: number | null
  /** Milliseconds since the epoch. */
  readonly ts: number
}

const GAMES = ['chess', 'poker', 'go']
const TYPES = ['game_start', 'game_end', 'fight', 'login', 'transaction']

/** A small linear congruential generator: same seed, same events, on every machine. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

export function gameEvents(count: number, seed = 1, start = Date.UTC(2026, 10, 23, 10, 0, 0), players = 50): GameEvent[] {
  const r = rng(seed)
  const out: GameEvent[] = []
  let ts = start
  for (let i = 0; i < count; i++) {
    ts += Math.floor(r() * 2000)
    const type = TYPES[Math.floor(r() * TYPES.length)]!
    out.push({
      player_id: 1 + Math.floor(r() * players),
      game: GAMES[Math.floor(r() * GAMES.length)]!,
      type,
      result: type === 'fight' ? (r() < 0.5 ? 'loss' : 'win') : null,
      level: type === 'game_start' ? 1 + Math.floor(r() * 150) : null,
      amount: type === 'transaction' ? Math.round(r() * 10000) / 100 : null,
      ts,
    })
  }
  return out
}

const sqlText = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'`)
const sqlNum = (v: number | null) => (v === null ? 'NULL' : String(v))

/** One INSERT statement for a batch of events. */
export function insertSql(events: readonly GameEvent[]): string {
  const rows = events.map(
    (e) => `(${e.player_id}, ${sqlText(e.game)}, ${sqlText(e.type)}, ${sqlText(e.result)}, ${sqlNum(e.level)}, ${sqlNum(e.amount)}, '${new Date(e.ts).toISOString()}')`,
  )
  return `INSERT INTO game_events (player_id, game, type, result, level, amount, ts) VALUES ${rows.join(',\n')}`
}

/** Expected game ends per (minute window, game), keyed `${windowStartIso}|${game}`. */
export function expectedGameEnds(events: readonly GameEvent[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const e of events) {
    if (e.type !== 'game_end') continue
    const start = Math.floor(e.ts / 60_000) * 60_000
    const key = `${new Date(start).toISOString()}|${e.game}`
    out.set(key, (out.get(key) ?? 0) + 1)
  }
  return out
}
