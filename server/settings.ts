/**
 * A session's settings: what SET, RESET, SET LOCAL, set_config() and current_setting() read and write,
 * the ParameterStatus changes reported to the client, the session TimeZone, and how a transaction's end
 * keeps or undoes what it changed (as in PostgreSQL: SET LOCAL ends at COMMIT, everything the transaction
 * set goes back at ROLLBACK).
 */
import { SqlState, type SqlStateCode } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import type { SessionSettings } from '../expr/runtime.ts'
import { formatBytes, parseTimeoutSetting } from '../executor/query-budget.ts'
import { QUERY_MEMORY, checkLimitSetting } from './limit-settings.ts'
import { PROGRESS_NOTICES, checkProgressSetting } from './progress-notices.ts'
import type { Outcome, StartupInfo } from './backend.ts'
import { type TimeZone, UTC_ZONE, resolveTimeZone } from './wire/timezone.ts'
import type { QueryDefaults } from './sessions.ts'

/** ParameterStatus values sent at startup and the SHOW defaults. */
export const INITIAL_PARAMETERS: ReadonlyMap<string, string> = new Map([
  ['server_version', '15.0'],
  ['server_encoding', 'UTF8'],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['TimeZone', 'UTC'],
  ['integer_datetimes', 'on'],
  ['standard_conforming_strings', 'on'],
  ['IntervalStyle', 'postgres'],
  ['is_superuser', 'on'],
  ['application_name', ''],
  ['default_transaction_read_only', 'off'],
  ['in_hot_standby', 'off'],
])

/** Settings whose changes are reported to the client with ParameterStatus, as Postgres does. */
const REPORTED = new Set(['client_encoding', 'datestyle', 'timezone', 'application_name', 'intervalstyle', 'standard_conforming_strings', 'is_superuser'])

const EXTRA_SETTINGS: Record<string, string> = {
  transaction_isolation: 'read committed',
  transaction_read_only: 'off',
  default_transaction_isolation: 'read committed',
  extra_float_digits: '1',
  search_path: '"$user", public',
  max_identifier_length: '63',
  lc_collate: 'C',
  lc_ctype: 'C',
  statement_timeout: '0',
  server_version_num: '150000',
  [PROGRESS_NOTICES]: 'off',
}

/** What the settings need of their session: whether a transaction block is open, and where NOTICEs go. */
export interface SettingsHost {
  inTransactionBlock(): boolean
  notice(message: string, sqlstate: SqlStateCode): void
}

export class Settings {
  private readonly settings = new Map<string, string>()
  private readonly parameterChanges = new Map<string, string>()
  /** TimeZone: how text-format timestamptz values are shown. */
  private zone: TimeZone = UTC_ZONE
  /** The zones this session has used, by the name settings show (SET LOCAL and ROLLBACK restore by name). */
  private readonly zones = new Map<string, TimeZone>([[UTC_ZONE.name, UTC_ZONE]])

  constructor(
    startup: StartupInfo,
    private readonly defaults: QueryDefaults,
    private readonly host: SettingsHost,
  ) {
    for (const [k, v] of INITIAL_PARAMETERS) this.settings.set(k.toLowerCase(), v)
    for (const [k, v] of Object.entries(EXTRA_SETTINGS)) this.settings.set(k, v)
    this.settings.set('application_name', startup.applicationName)
    this.settings.set('session_authorization', startup.user)
    // Roles (server/users.ts): a read-only user is no superuser; `ssl` tells whether this session is encrypted.
    this.settings.set('is_superuser', startup.role === 'readonly' ? 'off' : 'on')
    this.settings.set('ssl', startup.ssl === true ? 'on' : 'off')
    for (const [k, v] of startup.serverSettings ?? []) this.settings.set(k, v)
    const zone = startupTimeZone(startup)
    if (zone !== undefined) {
      this.zone = zone
      this.zones.set(zone.name, zone)
      this.settings.set('timezone', zone.name)
    }
    // Query limits: the server's defaults, then the startup packet's options (PGOPTIONS='-c statement_timeout=5s').
    this.settings.set('statement_timeout', String(defaults.statementTimeoutMs))
    this.settings.set(QUERY_MEMORY, formatBytes(defaults.queryMemory))
    for (const key of ['statement_timeout', QUERY_MEMORY]) {
      const given = startup.options.get(key)
      if (given !== undefined) this.settings.set(key, checkLimitSetting(key, given))
    }
  }

  get(name: string): string | undefined {
    return this.settings.get(name)
  }

  /** Every setting by name, as SHOW ALL lists them. */
  entries(): IterableIterator<[string, string]> {
    return this.settings.entries()
  }

  timeZone(): TimeZone {
    return this.zone
  }

  /** statement_timeout in milliseconds, 0 for none. */
  statementTimeoutMs(): number {
    return parseTimeoutSetting(this.settings.get('statement_timeout') ?? '') ?? 0
  }

  /** Settings the session changed (SET, set_config): pg_settings' source `session`. */
  private readonly changedSettings = new Set<string>()
  /** Values that SET LOCAL / set_config(..., true) replaced in the open transaction, restored when it ends. */
  private readonly localRestore = new Map<string, string | undefined>()
  /** Every setting's value before the open transaction changed it, restored if it rolls back. */
  private readonly transactionRestore = new Map<string, string | undefined>()

  /** The settings as current_setting(), set_config() and pg_settings see them. */
  readonly view: SessionSettings = {
    get: (name) => this.settings.get(name),
    set: (name, value, local) => this.assign(name, value, local),
    entries: () =>
      [...this.settings].map(([name, value]) => {
        const known = INITIAL_PARAMETERS.get(canonicalName(name)) ?? EXTRA_SETTINGS[name]
        // What differs from the server's default without a SET came with the connection (application_name);
        // what has no server default (session_authorization, ssl) is the connection's own.
        const boot = known ?? (this.changedSettings.has(name) ? null : value)
        const source = this.changedSettings.has(name) ? 'session' : value === boot ? 'default' : 'client'
        return { name, value, boot, source }
      }),
  }

  /** Sets one setting; a local one lasts until the transaction ends (outside a block, only the statement). */
  assign(key: string, value0: string, local: boolean): void {
    // set_config() reaches here without SET's checks: the limits are checked the same way.
    const value = key === PROGRESS_NOTICES ? checkProgressSetting(value0) : key === 'statement_timeout' || key === QUERY_MEMORY ? checkLimitSetting(key, value0) : value0
    if (local) {
      if (!this.host.inTransactionBlock()) return
      if (!this.localRestore.has(key)) this.localRestore.set(key, this.settings.get(key))
    }
    if (this.host.inTransactionBlock() && !this.transactionRestore.has(key)) this.transactionRestore.set(key, this.settings.get(key))
    // A session-level SET after SET LOCAL in the same transaction outlives it.
    if (!local) this.localRestore.delete(key)
    this.settings.set(key, value)
    this.changedSettings.add(key)
    if (key === 'timezone') this.zone = this.zones.get(value) ?? resolveTimeZone(value)
    if (REPORTED.has(key)) this.parameterChanges.set(canonicalName(key), value)
  }

  /** At COMMIT local settings end; at ROLLBACK every setting the transaction made goes back, as in PostgreSQL. */
  endTransaction(committed: boolean): void {
    for (const [key, value] of committed ? this.localRestore : this.transactionRestore) {
      if (value === undefined) this.settings.delete(key)
      else this.settings.set(key, value)
      if (key === 'timezone') this.zone = value === undefined ? UTC_ZONE : (this.zones.get(value) ?? resolveTimeZone(value))
      if (REPORTED.has(key) && value !== undefined) this.parameterChanges.set(canonicalName(key), value)
    }
    this.localRestore.clear()
    this.transactionRestore.clear()
  }

  /** SET, SET LOCAL and RESET of one setting, or RESET ALL. */
  set(s: ast.SetVariable): Outcome {
    const key = s.name.toLowerCase()
    if (key === 'statement_timeout' || key === QUERY_MEMORY) {
      const defaults = this.defaults
      const fallback = key === QUERY_MEMORY ? formatBytes(defaults.queryMemory) : String(defaults.statementTimeoutMs)
      this.assign(key, s.value === null ? fallback : checkLimitSetting(key, s.value), s.local)
      return { kind: 'command', tag: s.value === null ? 'RESET' : 'SET' }
    }
    const value = s.value ?? INITIAL_PARAMETERS.get(canonicalName(key)) ?? EXTRA_SETTINGS[key] ?? ''
    if (key === 'all' && s.value === null) {
      for (const [k, v] of INITIAL_PARAMETERS) this.settings.set(k.toLowerCase(), v)
      if (this.zone !== UTC_ZONE) this.parameterChanges.set('TimeZone', UTC_ZONE.name)
      this.zone = UTC_ZONE
      return { kind: 'command', tag: 'RESET' }
    }
    if (s.local && !this.host.inTransactionBlock()) this.host.notice('SET LOCAL can only be used in transaction blocks', SqlState.noActiveSqlTransaction)
    // An unknown zone is 22023 and changes nothing, as in PostgreSQL; assign() keeps the zone in step.
    let given = value
    if (key === 'timezone') {
      const zone = s.value === null ? UTC_ZONE : resolveTimeZone(value)
      // Settings hold the zone's display name (`<-05:30>+05:30`), which is no input: keep the zone by it.
      this.zones.set(zone.name, zone)
      given = zone.name
    }
    this.assign(key, given, s.local)
    for (const m of s.more ?? []) this.assign(m.name, m.value, s.local)
    return { kind: 'command', tag: s.value === null ? 'RESET' : 'SET' }
  }

  takeParameterChanges(): ReadonlyMap<string, string> {
    const out = new Map(this.parameterChanges)
    this.parameterChanges.clear()
    return out
  }
}

export function canonicalName(key: string): string {
  for (const k of INITIAL_PARAMETERS.keys()) if (k.toLowerCase() === key) return k
  return key
}

/**
 * The TimeZone a client asked for at startup: `timezone` in the startup packet (libpq sends PGTZ so) or
 * `-c TimeZone=...` in its options (PGOPTIONS). Unknown zones are 22023, which refuses the connection.
 */
export function startupTimeZone(startup: Pick<StartupInfo, 'options'>): TimeZone | undefined {
  for (const [k, v] of startup.options) if (k.toLowerCase() === 'timezone') return resolveTimeZone(v)
  return undefined
}
