/** The losing streak of queries/losing_streak.sql, computed independently of the engine. */
import type { GameEvent } from './game-events.ts'

/**
 * Three lost fights in a row within an hour, computed directly: per player in time order, a streak starts
 * at a loss; other event types do not break it, a won fight does; after a streak the search goes on after
 * its third loss, after a failed start at the next event.
 */
export function expectedStreaks(events: readonly GameEvent[]): string[] {
  const byPlayer = new Map<number, GameEvent[]>()
  for (const e of events) byPlayer.set(e.player_id, [...(byPlayer.get(e.player_id) ?? []), e])
  const out: string[] = []
  const isLoss = (e: GameEvent) => e.type === 'fight' && e.result === 'loss'
  for (const [player, list] of byPlayer) {
    const es = list.slice().sort((a, b) => a.ts - b.ts)
    let pos = 0
    while (pos < es.length) {
      if (!isLoss(es[pos]!)) {
        pos++
        continue
      }
      const losses = [pos]
      let k = pos + 1
      for (; k < es.length && losses.length < 3 && es[k]!.ts < es[pos]!.ts + 3_600_000; k++) {
        if (es[k]!.type !== 'fight') continue
        if (!isLoss(es[k]!)) break
        losses.push(k)
      }
      if (losses.length === 3) {
        out.push(`${player}|${new Date(es[pos]!.ts).toISOString()}|${new Date(es[losses[2]!]!.ts).toISOString()}|3`)
        pos = losses[2]! + 1
      } else pos++
    }
  }
  return out.sort()
}
