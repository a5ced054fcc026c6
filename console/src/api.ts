/** The console's calls to the server (server/console/router.ts), all same-origin with the session cookie. */

export interface ApiError {
  sqlstate: string
  message: string
  detail?: string
  hint?: string
  position?: number
}

export interface ResultSet {
  tag: string
  columns: { name: string; type: string }[] | null
  rows: (string | null)[][]
  truncated: boolean
}

export interface RunAnswer {
  results: ResultSet[]
  error?: ApiError
}

export interface PlanNode {
  name: string
  text: string
  details: string[]
  children: PlanNode[]
}

export type Rec = Record<string, string | null>

export interface Overview {
  streams: Rec[]
  queries: Rec[]
  partitions: Rec[]
  sinks: Rec[]
  triggers: Rec[]
  deadLetters: Rec[]
  lateEvents: Rec[]
  progress: Rec[] | null
  at: number
}

export interface Me {
  user: string
  role: 'admin' | 'readonly'
  loginRequired: boolean
}

/** Raised for 401: the app shows the login page. */
export class LoggedOut extends Error {}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  })
  if (res.status === 401 && path !== '/api/login') throw new LoggedOut()
  const json = (await res.json()) as T & { error?: ApiError }
  if (!res.ok) throw Object.assign(new Error(json.error?.message ?? res.statusText), { api: json.error })
  return json
}

export const me = (): Promise<Me> => call('GET', '/api/me')
export const login = (user: string, password: string): Promise<Me> => call('POST', '/api/login', { user, password })
export const logout = (): Promise<unknown> => call('POST', '/api/logout', {})
export const runSql = (sql: string): Promise<RunAnswer> => call('POST', '/api/sql', { sql })
export const explain = (sql: string): Promise<{ plans?: PlanNode[]; lines?: string[]; error?: ApiError }> => call('POST', '/api/explain', { sql })
export const overview = (): Promise<Overview> => call('GET', '/api/overview')

/** A result set's rows as objects by column name. */
export function records(r: ResultSet | undefined): Rec[] {
  if (r === undefined || r.columns === null) return []
  const names = r.columns.map((c) => c.name)
  return r.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i] ?? null])))
}

/** Runs one SELECT and gives its rows as objects; throws its error. */
export async function select(sql: string): Promise<Rec[]> {
  const a = await runSql(sql)
  if (a.error !== undefined) throw Object.assign(new Error(a.error.message), { api: a.error })
  return records(a.results[0])
}

/** A SQL string literal. */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`
/** A SQL identifier, quoted. */
export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`
