/**
 * The limits a materialized view or trigger may be given, so that one script producing too much is
 * stopped before it hurts the others:
 *
 *   CREATE MATERIALIZED VIEW v WITH (max_state = '1 GB', max_output_rate = 10000) AS ...
 *   CREATE TRIGGER t ... EXECUTE NOTIFY ch WITH (max_output_rate = 100)
 *
 * `max_state` is a size in PostgreSQL's memory units (B, kB, MB, GB, TB; powers of 1024); `max_output_rate`
 * is rows per second (a view's row changes, a trigger's firings). The executor enforces them
 * (executor/query-limit-enforcement.ts).
 */
import { SqlState, planError } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'

export interface QueryLimits {
  /** Bytes of state (keys and values as stored) past which the query is stopped; null: no limit. */
  readonly maxStateBytes: number | null
  /** Rows per second (over the last few seconds) past which the query is stopped; null: no limit. */
  readonly maxOutputRate: number | null
}

export const NO_LIMITS: QueryLimits = { maxStateBytes: null, maxOutputRate: null }

export const LIMIT_OPTIONS: readonly string[] = ['max_state', 'max_output_rate']

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }

/**
 * A size such as '64MB', '1 GB', '512kB' or a number of bytes, as PostgreSQL reads memory settings (units
 * are read case-insensitively here); undefined when the text is not one.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (m === null) return undefined
  const unit = m[2]!.toLowerCase()
  const factor = unit === '' ? 1 : UNITS[unit]
  if (factor === undefined) return undefined
  return Math.round(Number(m[1]) * factor)
}

/** The limits among `options` (others are left to the caller), each checked; errors point at the option. */
export function queryLimits(options: readonly ast.OptionDef[]): QueryLimits {
  let maxStateBytes: number | null = null
  let maxOutputRate: number | null = null
  for (const o of options) {
    if (o.name === 'max_state') {
      const bytes = typeof o.value === 'number' ? o.value : typeof o.value === 'string' ? parseSize(o.value) : undefined
      if (bytes === undefined || !Number.isFinite(bytes)) {
        throw planError(SqlState.invalidParameterValue, `invalid value for option "max_state": ${optionText(o.value)}`, o.span, 'Give a size such as \'64MB\' or \'1 GB\' (units B, kB, MB, GB, TB).')
      }
      if (!(bytes > 0)) throw planError(SqlState.invalidParameterValue, 'max_state must be positive', o.span)
      maxStateBytes = bytes
    } else if (o.name === 'max_output_rate') {
      const rate = typeof o.value === 'number' ? o.value : typeof o.value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(o.value) ? Number(o.value) : undefined
      if (rate === undefined || !Number.isFinite(rate) || !(rate > 0)) {
        throw planError(SqlState.invalidParameterValue, `invalid value for option "max_output_rate": ${optionText(o.value)}`, o.span, 'Give a positive number of rows per second, such as 10000.')
      }
      maxOutputRate = rate
    }
  }
  return { maxStateBytes, maxOutputRate }
}

const optionText = (v: ast.OptionValue): string => (typeof v === 'object' ? 'an expression' : JSON.stringify(v))

/** A size as PostgreSQL prints memory settings: the largest unit that divides it exactly. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['kB', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`
  }
  return `${bytes}B`
}

/** A measured size, rounded to one decimal in the largest unit it reaches: '2.4MB', '900B'. */
export function formatApproxSize(bytes: number): string {
  for (const [unit, factor] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['kB', 1024]] as const) {
    if (bytes >= factor) return `${Math.round((bytes / factor) * 10) / 10}${unit}`
  }
  return `${bytes}B`
}

/** The limits as EXPLAIN and error messages print them, e.g. `max_state 1MB, max_output_rate 100`; '' for none. */
export function describeLimits(limits: QueryLimits): string {
  const parts: string[] = []
  if (limits.maxStateBytes !== null) parts.push(`max_state ${formatSize(limits.maxStateBytes)}`)
  if (limits.maxOutputRate !== null) parts.push(`max_output_rate ${limits.maxOutputRate}`)
  return parts.join(', ')
}

/** ALTER ... SET changes the limits only (other options are fixed at CREATE): 22023 at any other option. */
export function onlyLimitOptions(options: readonly ast.OptionDef[], what: string): void {
  for (const o of options) {
    if (!LIMIT_OPTIONS.includes(o.name)) {
      throw planError(SqlState.invalidParameterValue, `${what} SET cannot change option "${o.name}"`, o.span, `It changes ${LIMIT_OPTIONS.join(' and ')}; drop and create the view to change the others.`)
    }
  }
}
