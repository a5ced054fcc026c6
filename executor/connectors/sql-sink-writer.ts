/**
 * What the PostgreSQL and MySQL sinks do alike, around their own bulk writes: exactly once through the
 * sink's row of `sluice_sink_progress` (each delivery one transaction that locks the row, skips the batches
 * at or below its position, writes the rest and moves the position, then COMMIT); the fallback when a row
 * is refused (the same batches again, row by row, each in a savepoint, refused rows filed in
 * `sluice_sink_dead_letters` in that transaction); errors as SQLSTATEs; and DROP SINK's removal of the
 * progress row. Each database says how it differs in a `SqlDialect`.
 */
import { SluiceError, SqlState, knownSqlState, type SqlStateCode } from '../../common/errors.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import { redactConnections } from './connection-secrets.ts'
import { latestByKey, type SinkBatch, type SinkRecord } from './sink-target.ts'

/** SQLSTATE classes of a row the table refuses: data exceptions (22) and integrity violations (23). */
const ROW_REFUSED = /^2[23]/
export const CONNECT_TIMEOUT_MS = 10_000

/** How one database differs, for the shared transaction and fallback code. */
export interface SqlDialect<C> {
  /** `PostgreSQL` or `MySQL`, in error messages. */
  readonly label: string
  /** The statement that starts a transaction. */
  readonly begin: string
  /** The i-th (from 1) parameter of a statement: `$1` or `?`. */
  param(i: number): string
  /** Runs a statement with parameters; the rows it returns (none for most). */
  query(conn: C, sql: string, params?: readonly unknown[]): Promise<readonly Record<string, unknown>[]>
  /** The SQLSTATE a database error carries, if any. */
  sqlState(err: unknown): string | undefined
  /** Whether the error says a table does not exist. */
  noSuchTable(err: unknown): boolean
  /** A connection of its own, without the sink's setup (for DROP SINK); `end` closes it. */
  connectBare(): Promise<C>
  end(conn: C): Promise<void>
}

/** The transaction, the row-by-row fallback and the progress row of one SQL sink. */
export class SqlSinkWriter<C> {
  deadLetters = 0

  constructor(
    private readonly dialect: SqlDialect<C>,
    private readonly def: SinkDef,
    /** This sink's name in the progress table: stable across restarts, unique per installation. */
    private readonly tag: string,
    /** The quoted names of the progress and dead letter tables, beside the sink's table. */
    private readonly progressTable: string,
    private readonly deadLetterTable: string,
    /** The dead letter table's `key`, `row` and `sqlstate` columns, quoted as the database needs (reserved words differ). */
    private readonly deadLetterColumns: string,
  ) {}

  /**
   * One delivery: `bulk` in a transaction; when the database refuses a row, the batches again with
   * `writeOne` per record. `broken` turns any other failure into the error to retry on (and drops the
   * connection).
   */
  async deliver(conn: C, batches: readonly SinkBatch[], bulk: (todo: readonly SinkBatch[]) => Promise<void>, writeOne: (r: SinkRecord) => Promise<void>, broken: (err: unknown) => Error): Promise<void> {
    try {
      await this.inTransaction(conn, batches, bulk)
    } catch (err) {
      if (!ROW_REFUSED.test(this.dialect.sqlState(err) ?? '')) throw broken(err)
      await this.inTransaction(conn, batches, (todo) => this.rowByRow(conn, todo, writeOne)).catch((e: unknown) => {
        throw broken(e)
      })
    }
  }

  /** BEGIN, the position (locked), the batches above it written by `write`, the new position, COMMIT. */
  private async inTransaction(conn: C, batches: readonly SinkBatch[], write: (todo: readonly SinkBatch[]) => Promise<void>): Promise<void> {
    const { dialect: d } = this
    await d.query(conn, d.begin)
    try {
      const rows = await d.query(conn, `SELECT position FROM ${this.progressTable} WHERE sink = ${d.param(1)} FOR UPDATE`, [this.tag])
      const position = rows.length === 0 ? -1 : Number(rows[0]!.position)
      const todo = batches.filter((b) => b.batch > position)
      if (todo.length > 0) {
        await write(todo)
        await d.query(conn, `UPDATE ${this.progressTable} SET position = ${d.param(1)} WHERE sink = ${d.param(2)}`, [todo[todo.length - 1]!.batch, this.tag])
      }
      await d.query(conn, 'COMMIT')
    } catch (err) {
      await d.query(conn, 'ROLLBACK').catch(() => undefined)
      throw err
    }
  }

  /** The careful path: each record (row or tombstone) in a savepoint; a refused one becomes a dead letter. */
  private async rowByRow(conn: C, batches: readonly SinkBatch[], writeOne: (r: SinkRecord) => Promise<void>): Promise<void> {
    const { dialect: d } = this
    const file = `INSERT INTO ${this.deadLetterTable} (sink, position, ${this.deadLetterColumns}, reason) VALUES (${[1, 2, 3, 4, 5, 6].map((i) => d.param(i)).join(', ')})`
    for (const b of batches) {
      for (const r of recordsToWrite(this.def, b)) {
        await d.query(conn, 'SAVEPOINT sluice_row')
        try {
          await writeOne(r)
          await d.query(conn, 'RELEASE SAVEPOINT sluice_row')
        } catch (err) {
          const code = d.sqlState(err)
          if (!ROW_REFUSED.test(code ?? '')) throw err
          await d.query(conn, 'ROLLBACK TO SAVEPOINT sluice_row')
          await d.query(conn, file, [this.def.name, b.batch, r.key, r.value, code ?? null, (err as Error).message])
          this.deadLetters++
        }
      }
    }
  }

  /** The error a failed delivery is retried on: the database's SQLSTATE where Sluice knows it, the password hidden. */
  error(err: unknown): SluiceError {
    const foreign = this.dialect.sqlState(err)
    const state = knownSqlState(foreign, SqlState.connectionFailure)
    const code = foreign !== undefined && foreign !== state ? ` (SQLSTATE ${foreign})` : ''
    return new SluiceError('execution', state, `${this.dialect.label}: ${redactConnections((err as Error).message)}${code}`)
  }

  /** DROP SINK: the sink's row of the progress table goes, on a connection of its own; rows and dead letters stay. */
  async dropProgress(): Promise<void> {
    const { dialect: d } = this
    let conn: C | null = null
    try {
      conn = await d.connectBare()
      await d.query(conn, `DELETE FROM ${this.progressTable} WHERE sink = ${d.param(1)}`, [this.tag])
    } catch (err) {
      // No progress table: the sink never reached the database, and has nothing there.
      if (!d.noSuchTable(err)) throw this.error(err)
    } finally {
      if (conn !== null) await d.end(conn).catch(() => undefined)
    }
  }
}

/** The records of a batch a sink writes: an upsert sink each key's last, an append sink its rows (no tombstones). */
export function recordsToWrite(def: SinkDef, batch: SinkBatch): readonly SinkRecord[] {
  return def.mode === 'upsert' ? latestByKey([batch]) : batch.records.filter((r) => r.value !== null)
}

/** An existing table that does not fit the sink: the user's to fix. */
export function tableMismatch(sqlstate: SqlStateCode, message: string): SluiceError {
  return new SluiceError('plan', sqlstate, message, { hint: 'Drop the table, or alter it to match the sink, or sink into another table (it is created when absent).' })
}

/** CREATE SINK could not reach or prepare the database: a connection error with the password hidden. */
export function openError(label: string, sink: string, err: unknown): SluiceError {
  if (err instanceof SluiceError) return err
  return new SluiceError('execution', SqlState.connectionFailure, `${label} sink "${sink}": ${redactConnections((err as Error).message)}`, {
    hint: 'Check the connection option and that the database is running.',
  })
}
