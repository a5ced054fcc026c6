/** A view's catch-up as the overview shows it: a bar and `42 %, 3 min left`. */
import type { Rec } from './api.ts'

/**
 * The catch-up of a view, from the progress table when the server has one (sluice_progress: position
 * against end_offset, fraction, seconds_left); its columns are looked for by name, so that a table without
 * some of them still shows what it has.
 */
export function progressOf(progress: readonly Rec[], view: string): { fraction: number; text: string } | null {
  const row = progress.find((r) => (r.query ?? r.view ?? r.name) === view)
  if (!row) return null
  const position = Number(row.position ?? NaN)
  const end = Number(row.end_offset ?? NaN)
  const fraction = row.fraction != null ? Number(row.fraction) : Number.isFinite(position) && Number.isFinite(end) && end > 0 ? position / end : NaN
  if (!Number.isFinite(fraction)) return null
  const left = row.seconds_left != null ? Number(row.seconds_left) : NaN
  const eta = !Number.isFinite(left) ? '' : left <= 0 ? ', caught up' : `, ${formatSeconds(left)} left`
  return { fraction: Math.min(1, Math.max(0, fraction)), text: `${Math.floor(100 * fraction)} %${eta}` }
}

export const formatSeconds = (s: number): string => (s < 90 ? `${Math.ceil(s)} s` : s < 5400 ? `${Math.ceil(s / 60)} min` : `${(s / 3600).toFixed(1)} h`)

