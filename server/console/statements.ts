/**
 * Running the editor's statements: each through a Backend session of the logged-in user, the same Session
 * the Postgres endpoint plans and runs statements with, so the read-only role, the query limits and every
 * permission check apply unchanged. Results come back as column names and types and rows of text cells (as
 * psql shows them); an error as the fields of a Postgres ErrorResponse, its position in characters.
 */
import { SluiceError, SqlState, assertNever, toSluiceError } from '../../common/errors.ts'
import { formatValue } from '../../common/types.ts'
import type { Backend, Outcome } from '../backend.ts'
import { errorFieldsOf } from '../wire/writer.ts'

/** Rows one statement gives the browser at most; the rest are counted as cut off, never held. */
export const MAX_RESULT_ROWS = 10_000

export interface ResultSet {
  /** CommandComplete tag: `CREATE MATERIALIZED VIEW`, `SELECT 3`. */
  readonly tag: string
  readonly columns: readonly { readonly name: string; readonly type: string }[] | null
  readonly rows: readonly (string | null)[][]
  /** More rows were there than MAX_RESULT_ROWS. */
  readonly truncated: boolean
}

export interface ApiError {
  readonly sqlstate: string
  readonly message: string
  readonly detail?: string
  readonly hint?: string
  /** 1-based character position in the statement text, as psql's LINE 1: ^ marker uses. */
  readonly position?: number
}

export interface RunAnswer {
  readonly results: ResultSet[]
  /** The statement that failed (the ones before it ran and are in `results`). */
  readonly error?: ApiError
}

/** Runs each statement of `sql` in turn, stopping at the first error. */
export async function runStatements(backend: Backend, sql: string, maxRows = MAX_RESULT_ROWS): Promise<RunAnswer> {
  const results: ResultSet[] = []
  try {
    for (const statement of backend.prepare(sql, [])) {
      results.push(await collect(await backend.execute(statement, []), maxRows))
    }
    return { results }
  } catch (err) {
    const e = toSluiceError(err)
    // An internal error is a bug: the operator's log gets the statement and the stack to report it with.
    if (e.sqlstate === SqlState.internalError) console.error(`sluice console: internal error in: ${sql}\n${e.stack ?? e.message}`)
    backend.statementFailed(e)
    return { results, error: apiError(e, sql) }
  }
}

export function apiError(e: SluiceError, sql?: string): ApiError {
  const f = errorFieldsOf(e, 'ERROR', sql)
  return { sqlstate: f.code, message: f.message, detail: f.detail, hint: f.hint, position: f.position }
}

/** Reads an outcome into a result set, taking at most `maxRows` rows. */
async function collect(outcome: Outcome, maxRows: number): Promise<ResultSet> {
  switch (outcome.kind) {
    case 'command':
      return { tag: outcome.tag, columns: null, rows: [], truncated: false }
    case 'empty':
      return { tag: '', columns: null, rows: [], truncated: false }
    case 'rows': {
      const { cursor, columns } = outcome
      if (cursor.live === true) {
        cursor.close()
        throw notHere('SUBSCRIBE never ends', "Open the view's page to watch its rows live.")
      }
      try {
        const { rows, done } = await cursor.next(maxRows + 1)
        const shown = rows.slice(0, maxRows).map((r) => columns.map((c, i) => formatValue(r[i] ?? null, c.type)))
        return { tag: outcome.tag(shown.length), columns: columns.map((c) => ({ name: c.name, type: c.type.name })), rows: shown, truncated: rows.length > maxRows || (!done && rows.length >= maxRows) }
      } finally {
        cursor.close()
      }
    }
    case 'copy_in':
      outcome.sink.abort('COPY FROM STDIN is not available in the console')
      throw notHere('COPY FROM STDIN needs a client that sends data', 'Use psql, or POST newline-delimited JSON to /streams/<name>.')
    case 'copy_out': {
      outcome.cancel()
      throw notHere('COPY TO STDOUT needs a client that receives data', 'Run the SELECT itself, or download the view as CSV from its page.')
    }
    default:
      return assertNever(outcome, 'outcome')
  }
}

const notHere = (message: string, hint: string): SluiceError => new SluiceError('unsupported', SqlState.featureNotSupported, `${message}: not available in the console`, { hint })
