/**
 * A sink into a PostgreSQL table, exactly once. Each call of `deliver` is one PostgreSQL transaction that
 * locks the sink's row of `sluice_sink_progress` (beside the table, in its schema), skips the batches whose
 * number is not above the position found there (a crash after the commit, before Sluice forgot them), writes
 * the rest and moves the position to the last batch. Whatever goes wrong before COMMIT leaves nothing; a
 * COMMIT whose answer was lost is found out by the next attempt's position.
 *
 * Bulk path: appends are one `COPY table FROM STDIN`; upserts keep the last record of each key, COPY them into
 * a temporary table and apply them with one DELETE (tombstones) and one INSERT ... ON CONFLICT DO UPDATE;
 * a large transaction of keys the table lacks is COPied straight into it (copyNewKeys).
 * A row the table refuses (a constraint, a value out of range) fails the bulk statement: the transaction is
 * then done again row by row, each row in a savepoint, and the refused rows go to `sluice_sink_dead_letters`
 * in that same transaction with the reason. The transaction, the fallback and the progress row are the
 * code shared with the MySQL sink (sql-sink-writer.ts); what is PostgreSQL's own is here.
 */
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { SqlState } from '../../common/errors.ts'
import type { Column } from '../../common/types.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import { exactNumber, latestByKey, quotePgName, recordRow, valueText, type SinkBatch, type SinkRecord, type SinkTarget } from './sink-target.ts'
import { CONNECT_TIMEOUT_MS, SqlSinkWriter, openError, tableMismatch, type SqlDialect } from './sql-sink-writer.ts'

/** Sluice types as PostgreSQL column types (a table created by a sink), and the udt names accepted in an existing one. */
const PG_TYPES: Readonly<Record<string, { readonly ddl: string; readonly accepts: readonly string[] }>> = {
  bool: { ddl: 'boolean', accepts: ['bool'] },
  int2: { ddl: 'smallint', accepts: ['int2', 'int4', 'int8', 'numeric'] },
  int4: { ddl: 'integer', accepts: ['int4', 'int8', 'numeric'] },
  int8: { ddl: 'bigint', accepts: ['int8', 'numeric'] },
  float4: { ddl: 'real', accepts: ['float4', 'float8'] },
  float8: { ddl: 'double precision', accepts: ['float8'] },
  numeric: { ddl: 'numeric', accepts: ['numeric'] },
  text: { ddl: 'text', accepts: ['text', 'varchar', 'bpchar'] },
  timestamptz: { ddl: 'timestamptz', accepts: ['timestamptz'] },
  timestamp: { ddl: 'timestamp', accepts: ['timestamp', 'timestamptz'] },
  date: { ddl: 'date', accepts: ['date', 'timestamp', 'timestamptz'] },
  interval: { ddl: 'interval', accepts: ['interval'] },
  json: { ddl: 'json', accepts: ['json', 'jsonb'] },
  jsonb: { ddl: 'jsonb', accepts: ['jsonb', 'json'] },
  bytea: { ddl: 'bytea', accepts: ['bytea'] },
}

export function pgColumnType(c: Column): { ddl: string; accepts: readonly string[] } {
  const base = PG_TYPES[(c.type.element ?? c.type).name] ?? PG_TYPES.text!
  if (c.type.element === undefined) return base
  return { ddl: `${base.ddl}[]`, accepts: base.accepts.map((a) => `_${a}`) }
}

const UNIQUE_VIOLATION = '23505'
/** Percent of each page an upsert table fills on insert; the rest is for updated row versions. */
const UPSERT_FILLFACTOR = 70
/** Upserts of fewer records always go through staging (a failed direct COPY is not worth it). */
const DIRECT_MIN_RECORDS = 1000
/** Upsert transactions that go straight to staging after a direct COPY met an existing key. */
const DIRECT_BACKOFF = 50

/** PostgreSQL's part of the shared SQL sink code (sql-sink-writer.ts). */
function postgresDialect(connection: string, sink: string): SqlDialect<pg.Client> {
  const connect = (): pg.Client => new pg.Client({ connectionString: connection, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: `sluice sink ${sink}` })
  return {
    label: 'PostgreSQL',
    begin: 'BEGIN',
    param: (i) => `$${i}`,
    query: async (client, sql, params) => (await client.query(sql, params as unknown[] | undefined)).rows as Record<string, unknown>[],
    sqlState: (err) => {
      const code = (err as { code?: unknown }).code
      return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
    },
    noSuchTable: (err) => (err as { code?: unknown }).code === '42P01',
    connectBare: async () => {
      const client = connect()
      client.on('error', () => undefined)
      await client.connect()
      return client
    },
    end: (client) => client.end(),
  }
}

export class PostgresSinkTarget implements SinkTarget {
  private client: pg.Client | null = null
  private readonly sql: SqlSinkWriter<pg.Client>
  /** See copyNewKeys. */
  private skipDirect = 0
  private readonly table: string
  private readonly schema: string | null
  private readonly columns: readonly Column[]
  private readonly stage: string

  private constructor(
    private readonly def: SinkDef,
    private readonly connection: string,
    /** This sink's name in the progress table: stable across restarts, unique per installation. */
    private readonly tag: string,
  ) {
    const parts = (def.target.kind === 'postgres' ? def.target.table : def.topic).split('.')
    this.schema = parts.length === 2 ? parts[0]! : null
    this.table = quotePgName(parts.join('.'))
    this.columns = def.columns
    this.stage = `"sluice_stage_${def.id}"`
    this.sql = new SqlSinkWriter(postgresDialect(connection, def.name), def, tag, this.name('sluice_sink_progress'), this.name('sluice_sink_dead_letters'), 'key, "row", sqlstate')
  }

  get deadLetters(): number {
    return this.sql.deadLetters
  }

  /** At CREATE (`prepare`): the table is created, or checked against the sink's columns; errors are the user's. */
  static async open(def: SinkDef, connection: string, tag: string, prepare: boolean): Promise<PostgresSinkTarget> {
    const target = new PostgresSinkTarget(def, connection, tag)
    if (prepare) {
      try {
        await target.prepareTable(await target.connect())
      } catch (err) {
        await target.close()
        throw openError('PostgreSQL', def.name, err)
      }
    }
    return target
  }

  private name(table: string): string {
    return this.schema === null ? `"${table}"` : quotePgName(`${this.schema}.${table}`)
  }

  private async connect(): Promise<pg.Client> {
    if (this.client !== null) return this.client
    const client = new pg.Client({ connectionString: this.connection, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: `sluice sink ${this.def.name}` })
    // A connection that breaks (the server restarted, the backend terminated) is dropped and made anew.
    client.on('error', () => {
      if (this.client === client) this.client = null
    })
    try {
      await client.connect()
      await withDdlLock(client, async () => {
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.name('sluice_sink_progress')} (sink text PRIMARY KEY, position bigint NOT NULL)`)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.name('sluice_sink_dead_letters')} (sink text NOT NULL, position bigint NOT NULL, key text, "row" text, sqlstate text, reason text NOT NULL, filed_at timestamptz NOT NULL DEFAULT now())`,
        )
      })
      await client.query(`INSERT INTO ${this.name('sluice_sink_progress')} (sink, position) VALUES ($1, -1) ON CONFLICT (sink) DO NOTHING`, [this.tag])
      if (this.def.mode === 'upsert') {
        const cols = this.columns.map((c) => `"${c.name}" ${pgColumnType(c).ddl}`).join(', ')
        await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${this.stage} (${cols}, sluice_deleted boolean NOT NULL) ON COMMIT DELETE ROWS`)
      }
    } catch (err) {
      await client.end().catch(() => undefined)
      throw err
    }
    this.client = client
    return client
  }

  /** Creates the table when absent; otherwise every column must be there with a type that takes the values. */
  private async prepareTable(client: pg.Client): Promise<void> {
    await withDdlLock(client, () => this.prepareTableLocked(client))
  }

  private async prepareTableLocked(client: pg.Client): Promise<void> {
    const t = this.def.target.kind === 'postgres' ? this.def.target.table : this.def.topic
    const bare = t.split('.').pop()!
    const { rows } = await client.query<{ column_name: string; udt_name: string }>(
      `SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2`,
      [this.schema, bare],
    )
    const keys = this.def.keyColumns.map((k) => `"${this.columns[k]!.name}"`)
    if (rows.length === 0) {
      const cols = this.columns.map((c) => `"${c.name}" ${pgColumnType(c).ddl}`)
      if (this.def.mode === 'upsert') cols.push(`PRIMARY KEY (${keys.join(', ')})`)
      // An upsert table's rows are updated over and over: room left in each page lets PostgreSQL update
      // them in place (HOT: no new index entries when no key changes).
      await client.query(`CREATE TABLE ${this.table} (${cols.join(', ')})${this.def.mode === 'upsert' ? ` WITH (fillfactor = ${UPSERT_FILLFACTOR})` : ''}`)
      return
    }
    const existing = new Map(rows.map((r) => [r.column_name, r.udt_name]))
    for (const c of this.columns) {
      const udt = existing.get(c.name)
      if (udt === undefined) throw tableMismatch(SqlState.undefinedColumn, `table ${t} has no column "${c.name}" for the sink's column of type ${pgColumnType(c).ddl}`)
      if (!pgColumnType(c).accepts.includes(udt)) throw tableMismatch(SqlState.datatypeMismatch, `column "${c.name}" of table ${t} is ${udt}, but the sink writes ${pgColumnType(c).ddl}`)
    }
    if (this.def.mode === 'upsert') {
      const { rows: indexes } = await client.query<{ cols: string[] }>(
        `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
          WHERE i.indrelid = $1::regclass AND i.indisunique GROUP BY i.indexrelid`,
        [this.table],
      )
      const want = this.def.keyColumns.map((k) => this.columns[k]!.name).sort()
      if (!indexes.some((i) => i.cols.length === want.length && i.cols.every((c, j) => c === want[j]))) {
        throw tableMismatch(SqlState.invalidColumnReference, `table ${t} has no primary key or unique index on (${want.join(', ')}), which an upsert sink needs`)
      }
    }
  }

  async deliver(batches: readonly SinkBatch[]): Promise<void> {
    if (batches.length === 0) return
    const client = await this.connect()
    await this.sql.deliver(client, batches, (todo) => this.writeBulk(client, todo), this.rowWriter(client), (err) => this.broken(err))
  }

  private async writeBulk(client: pg.Client, batches: readonly SinkBatch[]): Promise<void> {
    const names = this.columns.map((c) => `"${c.name}"`)
    if (this.def.mode === 'append') {
      const rows = batches.flatMap((b) => b.records.filter((r) => r.value !== null))
      await this.copy(client, `COPY ${this.table} (${names.join(', ')}) FROM STDIN`, rows, false)
      return
    }
    const records = latestByKey(batches)
    if (await this.copyNewKeys(client, records, names)) return
    await this.copy(client, `COPY ${this.stage} (${names.join(', ')}, sluice_deleted) FROM STDIN`, records, true)
    const keys = this.def.keyColumns.map((k) => names[k]!)
    if (records.some((r) => r.value === null)) {
      await client.query(`DELETE FROM ${this.table} t USING ${this.stage} s WHERE s.sluice_deleted AND ${keys.map((k) => `t.${k} = s.${k}`).join(' AND ')}`)
    }
    const others = names.filter((n) => !keys.includes(n))
    const onConflict = others.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${others.map((n) => `${n} = EXCLUDED.${n}`).join(', ')}`
    // The staging table empties itself at COMMIT (ON COMMIT DELETE ROWS).
    await client.query(`INSERT INTO ${this.table} (${names.join(', ')}) SELECT ${names.join(', ')} FROM ${this.stage} WHERE NOT sluice_deleted ON CONFLICT (${keys.join(', ')}) ${onConflict}`)
  }

  /**
   * Keys the table does not have yet (a view's first rows, a backlog of new groups) need no upsert: the
   * records are COPied straight into the table, in a savepoint. A key that is there already fails the COPY
   * (23505) and the staging path takes over; after such a failure the next transactions go straight to
   * staging for a while, since a view's later changes are mostly to keys the table has.
   */
  private async copyNewKeys(client: pg.Client, records: readonly SinkRecord[], names: readonly string[]): Promise<boolean> {
    if (this.skipDirect > 0) {
      this.skipDirect--
      return false
    }
    if (records.length < DIRECT_MIN_RECORDS || records.some((r) => r.value === null)) return false
    await client.query('SAVEPOINT sluice_direct')
    try {
      await this.copy(client, `COPY ${this.table} (${names.join(', ')}) FROM STDIN`, records, false)
      await client.query('RELEASE SAVEPOINT sluice_direct')
      return true
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err
      await client.query('ROLLBACK TO SAVEPOINT sluice_direct')
      this.skipDirect = DIRECT_BACKOFF
      return false
    }
  }

  /** COPY in text format, in chunks of lines (no row ever holds the whole batch as one string). */
  private async copy(client: pg.Client, sql: string, records: readonly SinkRecord[], withDeleted: boolean): Promise<void> {
    if (records.length === 0) return
    const columns = this.columns
    const keys = this.def.keyColumns
    const names = columns.map((c) => c.name)
    // Numbers and plain strings (most values) are written as they are; the rest through valueText.
    const plain = columns.map((c) => c.type.element === undefined && c.type.name !== 'json' && c.type.name !== 'jsonb' && c.type.name !== 'bool')
    const exact = columns.map((c) => c.type.element === undefined && c.type.name === 'numeric')
    function* chunks(): Generator<string> {
      let out = ''
      for (const r of records) {
        const o = r.value === null ? null : (JSON.parse(r.value) as Record<string, unknown>)
        const row = o === null ? recordRow(r, columns, keys) : null
        for (let i = 0; i < columns.length; i++) {
          const v = row === null ? o![names[i]!] : row[i]
          if (i > 0) out += '\t'
          if (v === null || v === undefined) out += '\\N'
          else if (exact[i] && typeof v === 'number') out += exactNumber(v, r.value!, names[i]!)
          else if (plain[i] && typeof v === 'number') out += String(v)
          else if (plain[i] && typeof v === 'string') out += copyEscape(v)
          else out += copyEscape(valueText(v, columns[i]!, 'postgres')!)
        }
        out += withDeleted ? (r.value === null ? '\tt\n' : '\tf\n') : '\n'
        if (out.length > 65_536) {
          yield out
          out = ''
        }
      }
      if (out.length > 0) yield out
    }
    await pipeline(Readable.from(chunks()), client.query(copyFrom(sql)))
  }

  /** The row-by-row path's statement per record (in its savepoint; see sql-sink-writer.ts). */
  private rowWriter(client: pg.Client): (r: SinkRecord) => Promise<void> {
    const names = this.columns.map((c) => `"${c.name}"`)
    const keys = this.def.keyColumns.map((k) => names[k]!)
    const casts = this.columns.map((c, i) => `$${i + 1}::${pgColumnType(c).ddl}`)
    const others = names.filter((n) => !keys.includes(n))
    let insert = `INSERT INTO ${this.table} (${names.join(', ')}) VALUES (${casts.join(', ')})`
    if (this.def.mode === 'upsert') insert += ` ON CONFLICT (${keys.join(', ')}) ${others.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${others.map((n) => `${n} = EXCLUDED.${n}`).join(', ')}`}`
    const del = `DELETE FROM ${this.table} WHERE ${this.def.keyColumns.map((k, j) => `${names[k]} = $${j + 1}::${pgColumnType(this.columns[k]!).ddl}`).join(' AND ')}`
    return async (r) => {
      const row = recordRow(r, this.columns, this.def.keyColumns)
      const texts = row.map((v, i) => valueText(v, this.columns[i]!, 'postgres'))
      if (r.value === null) await client.query(del, this.def.keyColumns.map((k) => texts[k]))
      else await client.query(insert, texts)
    }
  }

  /** After a failure the connection is not trusted again: the next attempt connects anew. */
  private broken(err: unknown): Error {
    const client = this.client
    this.client = null
    void client?.end().catch(() => undefined)
    return this.sql.error(err)
  }

  send(): Promise<void> {
    return Promise.reject(new Error('PostgreSQL sinks are exactly once: batches go through deliver'))
  }

  /** Found inside each transaction instead (deliver skips what the table has). */
  lastDelivered(): Promise<number> {
    return Promise.resolve(-1)
  }

  async close(): Promise<void> {
    const client = this.client
    this.client = null
    await client?.end().catch(() => undefined)
  }

  drop(): Promise<void> {
    return this.sql.dropProgress()
  }
}

/** COPY text format: backslash, tab, newline and carriage return are escaped. */
function copyEscape(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s
}

/**
 * Runs `ddl` holding a session advisory lock that every Sluice sink takes around its CREATE TABLEs: in cluster
 * mode each task's part of a sink (and every node's check at CREATE) creates or checks the same tables at
 * the same moment, and PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent one (it can
 * fail on the catalog's unique index instead of finding the table).
 */
async function withDdlLock<T>(client: pg.Client, ddl: () => Promise<T>): Promise<T> {
  await client.query(`SELECT pg_advisory_lock(hashtext('sluice sink ddl'))`)
  try {
    return await ddl()
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('sluice sink ddl'))`).catch(() => undefined)
  }
}
