/**
 * Time zones as PostgreSQL's TimeZone setting and AT TIME ZONE name them, and what they change: how timestamptz values are shown in text (PostgreSQL
 * prints the local time in the zone with its offset: `2026-03-29 03:00:00+02`, `+05:30`, `-03:30:52`).
 * Binary timestamptz is UTC microseconds and does not change. Zones are what PostgreSQL accepts: tz database
 * names (any case, DST from the tz data via Intl), a number of hours (`+02`, `-5.5`, ISO sign: east is
 * positive), and POSIX-style `STD offset` (`UTC+3`, `<+0330>-3:30`, POSIX sign: west is positive).
 */
import { SluiceError, SqlState } from './errors.ts'
import { MICROS_PER_SECOND, formatTimestamp } from './types.ts'

export interface TimeZone {
  /** The setting as SHOW TimeZone answers (PostgreSQL's spelling of it). */
  readonly name: string
  /** Seconds east of UTC at this instant (milliseconds since the epoch). */
  offsetSeconds(utcMillis: number): number
}

const fixedZone = (name: string, seconds: number): TimeZone => ({ name, offsetSeconds: () => seconds })

export const UTC_ZONE: TimeZone = fixedZone('UTC', 0)

const invalidZone = (spec: string): SluiceError =>
  new SluiceError('execution', SqlState.invalidParameterValue, `invalid value for parameter "TimeZone": "${spec}"`)

/** `[+-]h[:mm[:ss]]` as seconds, or undefined. */
function clockSeconds(text: string): number | undefined {
  const m = /^([+-]?)(\d{1,2})(?::?(\d{2}))?(?::(\d{2}))?$/.exec(text)
  if (m === null) return undefined
  const s = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)
  return m[1] === '-' ? -s : s
}

/** `+02`, `-05:30`: PostgreSQL's numeric offset spelling (EncodeTimezone), seconds only when present. */
export function formatOffset(seconds: number): string {
  const sign = seconds < 0 ? '-' : '+'
  const abs = Math.abs(seconds)
  const h = Math.floor(abs / 3600)
  const m = Math.floor((abs % 3600) / 60)
  const s = abs % 60
  return `${sign}${pad2(h)}${m !== 0 || s !== 0 ? `:${pad2(m)}` : ''}${s !== 0 ? `:${pad2(s)}` : ''}`
}

const pad2 = (n: number): string => String(n).padStart(2, '0')

const zones = new Map<string, TimeZone>()

/** The zone a TimeZone setting names; 22023 as PostgreSQL says for one it does not know. */
export function resolveTimeZone(spec: string): TimeZone {
  const key = spec.trim()
  let zone = zones.get(key)
  if (zone === undefined) {
    zone = parseZone(key)
    if (zones.size > 256) zones.clear()
    zones.set(key, zone)
  }
  return zone
}

function parseZone(spec: string): TimeZone {
  const lower = spec.toLowerCase()
  if (lower === 'utc') return UTC_ZONE
  if (lower === 'gmt') return fixedZone('GMT', 0)
  // A number of hours, ISO sign; shown as PostgreSQL shows it, in POSIX form: '+02' -> <+02>-02.
  if (/^[+-]?\d+(\.\d+)?$/.test(spec)) {
    const seconds = Math.round(Number(spec) * 3600)
    if (Math.abs(seconds) > 15 * 3600 + 59 * 60) throw invalidZone(spec)
    const iso = formatOffset(seconds)
    return fixedZone(`<${iso}>${formatOffset(-seconds)}`, seconds)
  }
  // POSIX `STD offset` without DST rules: the offset is hours west of UTC.
  const posix = /^([A-Za-z]{3,}|<[+-]?[A-Za-z0-9]+>)([+-]?\d{1,2}(?::\d{2}(?::\d{2})?)?)$/.exec(spec)
  if (posix !== null) {
    const west = clockSeconds(posix[2]!)
    if (west === undefined || Math.abs(west) > 24 * 3600) throw invalidZone(spec)
    return fixedZone(spec, -west)
  }
  let canonical: string
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone: spec }).resolvedOptions().timeZone
  } catch {
    throw invalidZone(spec)
  }
  return ianaZone(canonical.toLowerCase() === lower ? canonical : spec, spec)
}

/** A tz database zone; offsets from Intl, remembered per hour when the hour holds no transition. */
function ianaZone(name: string, id: string): TimeZone {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: id, timeZoneName: 'longOffset', year: 'numeric' })
  const exact = (ms: number): number => {
    const part = format.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT'
    return part === 'GMT' ? 0 : (clockSeconds(part.slice(3)) ?? 0)
  }
  const byHour = new Map<number, number | null>()
  return {
    name,
    offsetSeconds(ms: number): number {
      const hour = Math.floor(ms / 3_600_000)
      let known = byHour.get(hour)
      if (known === undefined) {
        // Constant over the hour when its two ends agree (zones change offset at most once an hour).
        const start = exact(hour * 3_600_000)
        known = start === exact(hour * 3_600_000 + 3_599_999) ? start : null
        if (byHour.size > 4096) byHour.clear()
        byHour.set(hour, known)
      }
      return known ?? exact(ms)
    },
  }
}

/** A timestamptz shown in a zone: its local time there and the offset, as PostgreSQL's ISO DateStyle. */
export function formatTimestamptz(micros: number, zone: TimeZone): string {
  if (!Number.isFinite(micros) || zone === UTC_ZONE) return formatTimestamp(micros, true)
  const offset = zone.offsetSeconds(Math.floor(micros / 1000))
  if (offset === 0) return formatTimestamp(micros, true)
  return `${formatTimestamp(micros + offset * 1_000_000, false)}${formatOffset(offset)}`
}

/**
 * The instant a wall-clock time in `zone` names (both microseconds; `local` counts as if the wall clock were
 * UTC). As PostgreSQL decides it: a time skipped by a spring-forward transition and a time repeated by a
 * fall-back one both take the interpretation that is the later instant.
 */
export function localToUtc(local: number, zone: TimeZone): number {
  if (!Number.isFinite(local) || zone === UTC_ZONE) return local
  const ms = Math.floor(local / 1000)
  const before = zone.offsetSeconds(ms - 86_400_000)
  const after = zone.offsetSeconds(ms + 86_400_000)
  if (before === after) {
    const o = zone.offsetSeconds(ms - before * 1000)
    return local - o * MICROS_PER_SECOND
  }
  const a = local - before * MICROS_PER_SECOND
  const b = local - after * MICROS_PER_SECOND
  const aValid = zone.offsetSeconds(Math.floor(a / 1000)) === before
  const bValid = zone.offsetSeconds(Math.floor(b / 1000)) === after
  if (aValid && !bValid) return a
  if (bValid && !aValid) return b
  return Math.max(a, b)
}

/** The wall-clock time of an instant in `zone`, as microseconds counted as if the wall clock were UTC. */
export function utcToLocal(micros: number, zone: TimeZone): number {
  if (!Number.isFinite(micros) || zone === UTC_ZONE) return micros
  return micros + zone.offsetSeconds(Math.floor(micros / 1000)) * MICROS_PER_SECOND
}
