/**
 * A sink into a MySQL or MariaDB table (InnoDB), exactly once, as the PostgreSQL sink does it: each
 * `deliver` is one transaction that locks the sink's row of `sluice_sink_progress` (in the table's
 * database), skips batches at or below its position, writes the rest with multi-row statements
 * (INSERT ... VALUES (...), (...); upserts with ON DUPLICATE KEY UPDATE, tombstones with one DELETE per
 * chunk of keys) and moves the position, then COMMIT. A refused row (SQLSTATE class 22 or 23, e.g. a
 * duplicate key or a value too long in strict mode) fails the statement: the transaction is done again row
 * by row in savepoints and the refused rows go to `sluice_sink_dead_letters`. Times are written in UTC.
 * The transaction, the fallback and the progress row are shared with PostgreSQL (sql-sink-writer.ts).
 */
import mysql from 'mysql2/promise'
import { SqlState } from '../../common/errors.ts'
import type { Column } from '../../common/types.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import { latestByKey, quoteMyName, recordRow, type SinkBatch, type SinkRecord, type SinkTarget } from './sink-target.ts'
import { CONNECT_TIMEOUT_MS, SqlSinkWriter, openError, tableMismatch, type SqlDialect } from './sql-sink-writer.ts'

/** Sluice types as MySQL column types, and the DATA_TYPEs accepted in an existing table. */
const MY_TYPES: Readonly<Record<string, { readonly ddl: string; readonly accepts: readonly string[] }>> = {
  bool: { ddl: 'BOOLEAN', accepts: ['tinyint', 'bit', 'smallint', 'int'] },
  int2: { ddl: 'SMALLINT', accepts: ['smallint', 'mediumint', 'int', 'bigint', 'decimal'] },
  int4: { ddl: 'INT', accepts: ['int', 'bigint', 'decimal'] },
  int8: { ddl: 'BIGINT', accepts: ['bigint', 'decimal'] },
  float4: { ddl: 'FLOAT', accepts: ['float', 'double'] },
  float8: { ddl: 'DOUBLE', accepts: ['double'] },
  numeric: { ddl: 'DECIMAL(38,10)', accepts: ['decimal', 'double'] },
  text: { ddl: 'TEXT', accepts: ['varchar', 'char', 'text', 'tinytext', 'mediumtext', 'longtext'] },
  timestamptz: { ddl: 'DATETIME(6)', accepts: ['datetime', 'timestamp'] },
  timestamp: { ddl: 'DATETIME(6)', accepts: ['datetime', 'timestamp'] },
  date: { ddl: 'DATE', accepts: ['date', 'datetime'] },
  interval: { ddl: 'VARCHAR(100)', accepts: ['varchar', 'text'] },
  json: { ddl: 'JSON', accepts: ['json', 'longtext', 'text'] },
  jsonb: { ddl: 'JSON', accepts: ['json', 'longtext', 'text'] },
  bytea: { ddl: 'LONGBLOB', accepts: ['blob', 'mediumblob', 'longblob', 'varbinary'] },
}

export function myColumnType(c: Column, isKey: boolean): { ddl: string; accepts: readonly string[] } {
  if (c.type.element !== undefined) return MY_TYPES.json!
  const t = MY_TYPES[c.type.name] ?? MY_TYPES.text!
  // A key column must be indexable: TEXT is not, without a prefix.
  return isKey && t.ddl === 'TEXT' ? { ddl: 'VARCHAR(255)', accepts: t.accepts } : t
}

const ROWS_PER_STATEMENT = 1000

/** MySQL's (and MariaDB's) part of the shared SQL sink code (sql-sink-writer.ts). */
function mysqlDialect(connection: string): SqlDialect<mysql.Connection> {
  return {
    label: 'MySQL',
    begin: 'START TRANSACTION',
    param: () => '?',
    query: async (conn, sql, params) => {
      const [rows] = await conn.query(sql, params as unknown[] | undefined)
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
    },
    // HY000 is MySQL's "general error": no SQLSTATE worth passing on.
    sqlState: (err) => {
      const s = (err as { sqlState?: unknown }).sqlState
      return typeof s === 'string' && /^[0-9A-Z]{5}$/.test(s) && s !== 'HY000' ? s : undefined
    },
    noSuchTable: (err) => (err as { errno?: unknown }).errno === 1146, // ER_NO_SUCH_TABLE
    connectBare: async () => {
      const conn = await mysql.createConnection({ uri: mysqlUri(connection), connectTimeout: CONNECT_TIMEOUT_MS })
      conn.on('error', () => undefined)
      return conn
    },
    end: (conn) => conn.end(),
  }
}

/** mysql2 takes `mysql://` URLs; `mariadb://` ones are the same. */
const mysqlUri = (connection: string): string => connection.replace(/^mariadb:/i, 'mysql:')

export class MysqlSinkTarget implements SinkTarget {
  private conn: mysql.Connection | null = null
  private readonly sql: SqlSinkWriter<mysql.Connection>
  private readonly table: string
  private readonly database: string | null
  private readonly bare: string
  private readonly columns: readonly Column[]

  private constructor(
    private readonly def: SinkDef,
    private readonly connection: string,
    private readonly tag: string,
  ) {
    const parts = (def.target.kind === 'mysql' ? def.target.table : def.topic).split('.')
    this.database = parts.length === 2 ? parts[0]! : null
    this.bare = parts[parts.length - 1]!
    this.table = quoteMyName(parts.join('.'))
    this.columns = def.columns
    this.sql = new SqlSinkWriter(mysqlDialect(connection), def, tag, this.name('sluice_sink_progress'), this.name('sluice_sink_dead_letters'), '`key`, `row`, `sqlstate`')
  }

  get deadLetters(): number {
    return this.sql.deadLetters
  }

  static async open(def: SinkDef, connection: string, tag: string, prepare: boolean): Promise<MysqlSinkTarget> {
    const target = new MysqlSinkTarget(def, connection, tag)
    if (prepare) {
      try {
        await target.prepareTable(await target.connect())
      } catch (err) {
        await target.close()
        throw openError('MySQL', def.name, err)
      }
    }
    return target
  }

  private name(table: string): string {
    return this.database === null ? quoteMyName(table) : quoteMyName(`${this.database}.${table}`)
  }

  private async connect(): Promise<mysql.Connection> {
    if (this.conn !== null) return this.conn
    const conn = await mysql.createConnection({ uri: mysqlUri(this.connection), connectTimeout: CONNECT_TIMEOUT_MS, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true })
    conn.on('error', () => {
      if (this.conn === conn) this.conn = null
    })
    try {
      await conn.query("SET time_zone = '+00:00', sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')")
      await withDdlLock(conn, async () => {
        await conn.query(`CREATE TABLE IF NOT EXISTS ${this.name('sluice_sink_progress')} (sink VARCHAR(191) PRIMARY KEY, position BIGINT NOT NULL) ENGINE=InnoDB`)
        await conn.query(
          `CREATE TABLE IF NOT EXISTS ${this.name('sluice_sink_dead_letters')} (sink VARCHAR(191) NOT NULL, position BIGINT NOT NULL, \`key\` TEXT, \`row\` LONGTEXT, \`sqlstate\` VARCHAR(5), reason TEXT NOT NULL, filed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`,
        )
      })
      await conn.query(`INSERT IGNORE INTO ${this.name('sluice_sink_progress')} (sink, position) VALUES (?, -1)`, [this.tag])
    } catch (err) {
      await conn.end().catch(() => undefined)
      throw err
    }
    this.conn = conn
    return conn
  }

  private async prepareTable(conn: mysql.Connection): Promise<void> {
    await withDdlLock(conn, () => this.prepareTableLocked(conn))
  }

  private async prepareTableLocked(conn: mysql.Connection): Promise<void> {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
      [this.database, this.bare],
    )
    const keys = new Set(this.def.keyColumns)
    const shown = this.def.target.kind === 'mysql' ? this.def.target.table : this.def.topic
    if (rows.length === 0) {
      const cols = this.columns.map((c, i) => `${quoteMyName(c.name)} ${myColumnType(c, keys.has(i)).ddl}${keys.has(i) && this.def.mode === 'upsert' ? ' NOT NULL' : ''}`)
      if (this.def.mode === 'upsert') cols.push(`PRIMARY KEY (${this.def.keyColumns.map((k) => quoteMyName(this.columns[k]!.name)).join(', ')})`)
      await conn.query(`CREATE TABLE ${this.table} (${cols.join(', ')}) ENGINE=InnoDB`)
      return
    }
    const existing = new Map(rows.map((r) => [String(r.name).toLowerCase(), String(r.type).toLowerCase()]))
    this.columns.forEach((c, i) => {
      const t = existing.get(c.name.toLowerCase())
      const want = myColumnType(c, keys.has(i))
      if (t === undefined) throw tableMismatch(SqlState.undefinedColumn, `table ${shown} has no column "${c.name}" for the sink's column of type ${want.ddl}`)
      if (!want.accepts.includes(t)) throw tableMismatch(SqlState.datatypeMismatch, `column "${c.name}" of table ${shown} is ${t}, but the sink writes ${want.ddl}`)
    })
    if (this.def.mode === 'upsert') {
      const [idx] = await conn.query<mysql.RowDataPacket[]>(
        `SELECT INDEX_NAME AS name, GROUP_CONCAT(LOWER(COLUMN_NAME) ORDER BY LOWER(COLUMN_NAME)) AS cols FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 GROUP BY INDEX_NAME`,
        [this.database, this.bare],
      )
      const want = this.def.keyColumns.map((k) => this.columns[k]!.name.toLowerCase()).sort().join(',')
      if (!idx.some((i) => i.cols === want)) throw tableMismatch(SqlState.invalidColumnReference, `table ${shown} has no primary key or unique index on (${want}), which an upsert sink needs`)
    }
  }

  async deliver(batches: readonly SinkBatch[]): Promise<void> {
    if (batches.length === 0) return
    const conn = await this.connect()
    await this.sql.deliver(conn, batches, (todo) => this.writeBulk(conn, todo), this.rowWriter(conn), (err) => this.broken(err))
  }

  private values(row: readonly unknown[]): unknown[] {
    return row.map((v, i) => myValue(v, this.columns[i]!))
  }

  private async writeBulk(conn: mysql.Connection, batches: readonly SinkBatch[]): Promise<void> {
    const names = this.columns.map((c) => quoteMyName(c.name)).join(', ')
    const records = this.def.mode === 'upsert' ? latestByKey(batches) : batches.flatMap((b) => b.records.filter((r) => r.value !== null))
    const rows: unknown[][] = []
    const gone: unknown[][] = []
    for (const r of records) {
      const row = this.values(recordRow(r, this.columns, this.def.keyColumns))
      if (r.value === null) gone.push(this.def.keyColumns.map((k) => row[k]))
      else rows.push(row)
    }
    const keyNames = this.def.keyColumns.map((k) => quoteMyName(this.columns[k]!.name))
    for (let i = 0; i < gone.length; i += ROWS_PER_STATEMENT) {
      await conn.query(`DELETE FROM ${this.table} WHERE (${keyNames.join(', ')}) IN (?)`, [gone.slice(i, i + ROWS_PER_STATEMENT)])
    }
    const upsert = this.def.mode === 'upsert' ? this.onDuplicate() : ''
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      await conn.query(`INSERT INTO ${this.table} (${names}) VALUES ?${upsert}`, [rows.slice(i, i + ROWS_PER_STATEMENT)])
    }
  }

  private onDuplicate(): string {
    const keys = new Set(this.def.keyColumns)
    const others = this.columns.filter((_, i) => !keys.has(i)).map((c) => quoteMyName(c.name))
    const first = quoteMyName(this.columns[this.def.keyColumns[0]!]!.name)
    return ` ON DUPLICATE KEY UPDATE ${others.length === 0 ? `${first} = ${first}` : others.map((n) => `${n} = VALUES(${n})`).join(', ')}`
  }

  /** The row-by-row path's statement per record (in its savepoint; see sql-sink-writer.ts). */
  private rowWriter(conn: mysql.Connection): (r: SinkRecord) => Promise<void> {
    const names = this.columns.map((c) => quoteMyName(c.name)).join(', ')
    const keyNames = this.def.keyColumns.map((k) => `${quoteMyName(this.columns[k]!.name)} = ?`).join(' AND ')
    const upsert = this.def.mode === 'upsert' ? this.onDuplicate() : ''
    return async (r) => {
      const row = this.values(recordRow(r, this.columns, this.def.keyColumns))
      if (r.value === null) await conn.query(`DELETE FROM ${this.table} WHERE ${keyNames}`, this.def.keyColumns.map((k) => row[k]))
      else await conn.query(`INSERT INTO ${this.table} (${names}) VALUES (?)${upsert}`, [row])
    }
  }

  private broken(err: unknown): Error {
    const conn = this.conn
    this.conn = null
    conn?.destroy()
    return this.sql.error(err)
  }

  send(): Promise<void> {
    return Promise.reject(new Error('MySQL sinks are exactly once: batches go through deliver'))
  }

  lastDelivered(): Promise<number> {
    return Promise.resolve(-1)
  }

  async close(): Promise<void> {
    const conn = this.conn
    this.conn = null
    await conn?.end().catch(() => undefined)
  }

  drop(): Promise<void> {
    return this.sql.dropProgress()
  }
}

/** A JSON value as MySQL takes it: times as UTC `YYYY-MM-DD HH:MM:SS.ffffff`, booleans as 1/0, JSON as text. */
function myValue(v: unknown, c: Column): unknown {
  if (v === null || v === undefined) return null
  if (c.type.element !== undefined) return JSON.stringify(v)
  switch (c.type.name) {
    case 'timestamptz':
    case 'timestamp':
    case 'date': {
      const s = String(v)
      const t = s.replace('T', ' ').replace(/Z$/, '')
      return c.type.name === 'date' ? t.slice(0, 10) : t
    }
    case 'bool':
      return v === true || v === 't' || v === 'true' ? 1 : 0
    case 'json':
    case 'jsonb':
      return JSON.stringify(v)
    case 'bytea':
      return typeof v === 'string' && v.startsWith('\\x') ? Buffer.from(v.slice(2), 'hex') : v
    default:
      return typeof v === 'object' ? JSON.stringify(v) : v
  }
}

/**
 * Runs `ddl` holding a named lock every Sluice sink takes around its CREATE TABLEs: in cluster mode each
 * task's part of a sink (and every node's check at CREATE) creates or checks the same tables at once, and a
 * check followed by a CREATE TABLE would race.
 */
async function withDdlLock<T>(conn: mysql.Connection, ddl: () => Promise<T>): Promise<T> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT GET_LOCK('sluice_sink_ddl', 60) AS got")
  if (Number(rows[0]?.got) !== 1) throw new Error('could not take the sink DDL lock (sluice_sink_ddl) within 60 s')
  try {
    return await ddl()
  } finally {
    await conn.query("SELECT RELEASE_LOCK('sluice_sink_ddl')").catch(() => undefined)
  }
}
