/**
 * The live sessions of a server, by process id (the BackendKeyData pid): what pg_cancel_backend and
 * pg_terminate_backend reach, and what pg_stat_activity shows. Also the server-wide defaults of the query
 * limits that each session starts from (executor/query-budget.ts).
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Value } from '../common/types.ts'
import { DEFAULT_QUERY_MEMORY } from '../executor/query-budget.ts'
import type { Role } from './users.ts'

export interface SessionActivity {
  readonly state: 'active' | 'idle' | 'idle in transaction' | 'idle in transaction (aborted)'
  readonly query: string
  /** Microseconds since the epoch. */
  readonly queryStart: number | null
}

/** What other sessions may see of, and do to, a session. */
export interface SessionHandle {
  readonly pid: number
  readonly user: string
  readonly database: string
  readonly applicationName: string
  readonly clientAddr: string
  /** Microseconds since the epoch. */
  readonly backendStart: number
  activity(): SessionActivity
  /** Cancels the statement it runs now, as a CancelRequest would. */
  cancel(): void
  /** Ends its connection with FATAL 57P01. */
  terminate(): void
}

export interface QueryDefaults {
  /** Memory budget of one pull query in bytes (sluice.query_memory); 0 is none. */
  readonly queryMemory: number
  /** statement_timeout in milliseconds; 0 is none. */
  readonly statementTimeoutMs: number
}

export const DEFAULT_QUERY_LIMITS: QueryDefaults = { queryMemory: DEFAULT_QUERY_MEMORY, statementTimeoutMs: 0 }

export class SessionRegistry {
  private readonly byPid = new Map<number, SessionHandle>()

  constructor(readonly defaults: QueryDefaults = DEFAULT_QUERY_LIMITS) {}

  add(handle: SessionHandle): void {
    this.byPid.set(handle.pid, handle)
  }

  remove(pid: number): void {
    this.byPid.delete(pid)
  }

  all(): SessionHandle[] {
    return [...this.byPid.values()]
  }

  /**
   * pg_cancel_backend / pg_terminate_backend from `caller`: false when no session has that pid (PostgreSQL
   * warns and returns false); 42501 when the caller may not signal it (only its own sessions, unless admin).
   */
  signal(caller: { readonly user: string; readonly role?: Role }, pid: number, action: 'cancel' | 'terminate'): boolean {
    const target = this.byPid.get(pid)
    if (target === undefined) return false
    if (caller.role === 'readonly' && target.user !== caller.user) {
      const what = action === 'cancel' ? 'cancel query' : 'terminate process'
      throw new SluiceError('execution', SqlState.insufficientPrivilege, `permission denied to ${what}`, {
        detail: `Only roles with the admin role may ${what === 'cancel query' ? 'cancel queries' : 'terminate processes'} of other users' sessions.`,
      })
    }
    if (action === 'cancel') target.cancel()
    else target.terminate()
    return true
  }

  /** pg_stat_activity's rows, by column name. */
  activityRows(): Record<string, Value>[] {
    return this.all().map((s) => {
      const a = s.activity()
      return {
        datname: s.database,
        pid: s.pid,
        usename: s.user,
        application_name: s.applicationName,
        client_addr: s.clientAddr === '' ? null : s.clientAddr,
        backend_start: s.backendStart,
        query_start: a.queryStart,
        state_change: a.queryStart,
        state: a.state,
        query: a.query,
        backend_type: 'client backend',
      }
    })
  }
}
