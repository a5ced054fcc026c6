/**
 * The seam between the wire protocol (server/wire, server/connection) and the session logic that plans and
 * runs statements (server/session). The connection speaks bytes and protocol states; a Backend speaks
 * statements and values. Neither knows how the other does its job.
 */
import type { SluiceError, SqlStateCode } from '../common/errors.ts'
import type { Row, SqlType } from '../common/types.ts'
import type { Role } from './users.ts'
import type { TimeZone } from './wire/timezone.ts'

/** One column of a result, enough for RowDescription. */
export interface ResultColumn {
  readonly name: string
  readonly type: SqlType
  /** pg_attribute.atttypmod of the column, -1 when none. */
  readonly typeModifier: number
  /** OID of the relation the column comes from, 0 if not a plain column. */
  readonly tableOid: number
  /** Attribute number in that relation, 0 if not a plain column. */
  readonly columnNumber: number
}

/** A result column of a computed value, from no relation. */
export const column = (name: string, type: SqlType): ResultColumn => ({ name, type, typeModifier: -1, tableOid: 0, columnNumber: 0 })

/** A statement parsed and planned enough to describe its parameters and result. */
export interface PreparedStatement {
  readonly sql: string
  /** Parameter types, inferred or as given in Parse; `unknown` where nothing could be inferred. */
  readonly paramTypes: readonly SqlType[]
  /** Result columns, or null when the statement returns no rows (NoData). */
  readonly columns: readonly ResultColumn[] | null
}

/** A parameter value as it arrived in Bind. */
export interface BoundParam {
  /** 0 = text, 1 = binary. */
  readonly format: 0 | 1
  /** null for SQL NULL. */
  readonly data: Buffer | null
}

/** Rows produced lazily, so that portals with a row limit can suspend and resume. */
export interface RowCursor {
  /** Up to `max` more rows (max <= 0 means all that remain); done when no rows are left after these. */
  next(max: number): Promise<{ readonly rows: readonly Row[]; readonly done: boolean }>
  close(): void
  /** Rows arrive over time (SUBSCRIBE): `next` may wait, so the connection writes out what it has first. */
  readonly live?: boolean
  /** Live cursors: aborts when no more rows will come (a subscriber too far behind was ended), so a wait for a full socket to drain can stop. */
  readonly stopped?: AbortSignal
}

/** What executing a statement produced. */
export type Outcome =
  /** Only a CommandComplete with this tag (`CREATE STREAM`, `INSERT 0 5`, `SET`). */
  | { readonly kind: 'command'; readonly tag: string }
  /** A result set; `tag(n)` builds the CommandComplete tag once n rows were sent (`SELECT 3`, `FETCH 2`). */
  | {
      readonly kind: 'rows'
      readonly columns: readonly ResultColumn[]
      readonly cursor: RowCursor
      readonly tag: (rowCount: number) => string
      /** Result formats the statement itself asks for (FETCH from a BINARY cursor); the simple protocol uses them. */
      readonly formats?: readonly (0 | 1)[]
    }
  /** COPY ... FROM STDIN: the connection enters copy-in mode and feeds the data to `sink`. */
  | {
      readonly kind: 'copy_in'
      readonly columnCount: number
      readonly format: 0 | 1
      readonly sink: CopyInSink
    }
  /** COPY ... TO STDOUT: the connection sends CopyOutResponse, then each chunk as CopyData, then CopyDone. */
  | {
      readonly kind: 'copy_out'
      readonly columnCount: number
      readonly format: 0 | 1
      readonly chunks: AsyncIterable<Buffer>
      readonly tag: (rowCount: number) => string
      /** Rows sent so far, for the final tag. */
      readonly rowCount: () => number
      readonly cancel: () => void
      /** Chunks arrive over time (COPY of a SUBSCRIBE): each is written out at once, not when enough queued. */
      readonly live?: boolean
      /** As RowCursor.stopped, for COPY of a live source. */
      readonly stopped?: AbortSignal
    }
  /** An empty query string. */
  | { readonly kind: 'empty' }

export interface CopyInSink {
  write(chunk: Buffer): Promise<void>
  /** End of data; resolves with the CommandComplete tag (`COPY 1000`). */
  end(): Promise<string>
  /** The client sent CopyFail or the connection broke: discard what was written. */
  abort(reason: string): void
}

export type TransactionStatus = 'I' | 'T' | 'E'

export interface Notice {
  readonly severity: 'NOTICE' | 'WARNING' | 'INFO' | 'DEBUG' | 'LOG'
  readonly sqlstate: SqlStateCode
  readonly message: string
  readonly detail?: string
  readonly hint?: string
}

export interface Notification {
  readonly processId: number
  readonly channel: string
  readonly payload: string
}

/** One client session's logic. Created by a BackendFactory after startup. */
export interface Backend {
  /**
   * Parses `sql` into one prepared statement per SQL statement (the simple protocol may send several;
   * the connection rejects more than one in Parse). An empty string gives an empty array.
   * Throws SluiceError (42601 with a span for syntax errors, 42P01, ...).
   */
  prepare(sql: string, paramTypeOids: readonly number[]): PreparedStatement[]
  /**
   * The result columns of a cursor opened by DECLARE, which Postgres clients may Describe as a portal of
   * the same name (SQL cursors and protocol portals share one namespace); undefined when there is none.
   */
  cursorColumns?(name: string): { readonly columns: readonly ResultColumn[]; readonly binary: boolean } | undefined
  /** Runs a prepared statement with its bound parameters. Throws SluiceError. */
  execute(statement: PreparedStatement, params: readonly BoundParam[]): Promise<Outcome>
  /** Status for ReadyForQuery; the backend tracks BEGIN/COMMIT/ROLLBACK and failed transactions itself. */
  transactionStatus(): TransactionStatus
  /** Called by the connection when a statement failed, so the backend can enter the failed-transaction state. */
  statementFailed(error: SluiceError): void
  /** The session's TimeZone, in which text-format timestamptz cells are shown; UTC when absent. */
  timeZone?(): TimeZone
  /** ParameterStatus values changed by the last statement (after `SET TimeZone`, ...), then cleared. */
  takeParameterChanges(): ReadonlyMap<string, string>
  /** Async messages (notices, notifications) to deliver to the client; the connection subscribes once. */
  onAsync(listener: (message: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void): void
  /** Cancel the statement running now, if any (CancelRequest with this session's key). */
  cancel(): void
  /** The connection subscribes once: the session asks it to end with this FATAL error (pg_terminate_backend). */
  onTerminate?(handler: (error: SluiceError) => void): void
  /** The connection is gone. */
  close(): void
}

export interface StartupInfo {
  readonly user: string
  readonly database: string
  readonly applicationName: string
  readonly options: ReadonlyMap<string, string>
  readonly processId: number
  readonly remoteAddress: string
  /** What the authenticated user may do (server/users.ts); absent means admin. */
  readonly role?: Role
  /** The connection is encrypted with TLS. */
  readonly ssl?: boolean
  /** Server-wide settings the session shows (max_connections, ...). */
  readonly serverSettings?: ReadonlyMap<string, string>
}

export interface BackendFactory {
  /** Creates the session after authentication; throws SluiceError (e.g. 3D000 unknown database). */
  open(startup: StartupInfo): Backend
  /** ParameterStatus values sent at startup (server_version, server_encoding, client_encoding, DateStyle, ...). */
  initialParameters(startup: StartupInfo): ReadonlyMap<string, string>
}
