/** The session settings that limit pull queries: checked as PostgreSQL checks its GUCs. */
import { SluiceError, SqlState } from '../common/errors.ts'
import { parseMemorySetting, parseTimeoutSetting } from '../executor/query-budget.ts'

/** The setting of a pull query's memory budget (executor/query-budget.ts). */
export const QUERY_MEMORY = 'sluice.query_memory'

/** Checks a value of statement_timeout or sluice.query_memory; returns it as SHOW prints it. */
export function checkLimitSetting(key: string, value: string): string {
  if (key !== QUERY_MEMORY) {
    // PostgreSQL's int GUC range for statement_timeout: 0 .. 2147483647 ms, with its two messages.
    const negative = /^\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(value)
    if (negative !== null) throw new SluiceError('execution', SqlState.invalidParameterValue, `-${negative[1]} ms is outside the valid range for parameter "${key}" (0 .. 2147483647)`)
    const ms = parseTimeoutSetting(value)
    if (ms !== null && ms > 2147483647) throw new SluiceError('execution', SqlState.invalidParameterValue, `invalid value for parameter "${key}": "${value}"`, { hint: 'Value exceeds integer range.' })
  }
  const parsed = key === QUERY_MEMORY ? parseMemorySetting(value) : parseTimeoutSetting(value)
  if (parsed === null || parsed < 0) {
    throw new SluiceError('execution', SqlState.invalidParameterValue, `invalid value for parameter "${key}": "${value}"`, {
      hint: key === QUERY_MEMORY ? 'Valid units for this parameter are "B", "kB", "MB", "GB" and "TB".' : 'Valid units for this parameter are "us", "ms", "s", "min", "h" and "d".',
    })
  }
  return value.trim()
}
