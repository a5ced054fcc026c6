/**
 * Schema browsing: real psql's \l, \dn, \dt, \dm, \d and \d+ against a real Sluice server, and the catalog
 * SQL psql and pgjdbc send (test/sql/catalog/) run through node-postgres against Sluice and, as the oracle,
 * against the real PostgreSQL on 127.0.0.1:5432 for an equivalent table and materialized view: the result
 * columns must have the same names and type OIDs, and rows describing the same relation must agree.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const SQL_DIR = join(import.meta.dirname, 'sql', 'catalog')

function queries(file: string): [string, string][] {
  const text = readFileSync(join(SQL_DIR, file), 'utf8')
  return text
    .split(/^-- name: /m)
    .slice(1)
    .map((block) => {
      const nl = block.indexOf('\n')
      return [block.slice(0, nl).trim(), block.slice(nl + 1).trim()]
    })
}

const STREAM = `CREATE STREAM game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, ts TIMESTAMPTZ NOT NULL, score DOUBLE PRECISION,
  WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')`
const VIEW = 'CREATE MATERIALIZED VIEW ends AS SELECT game, count(*) AS ends, max(ts) AS last_ts FROM game_events GROUP BY game'
const ORACLE_DB = `sluice_catalog_oracle_${process.pid}`

let sluice: SluiceProcess
let s: pg.Client
let admin: pg.Client
let oracle: pg.Client

beforeAll(async () => {
  sluice = await startSluice()
  s = await sluice.client()
  await s.query(STREAM)
  await s.query(VIEW)
  admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${ORACLE_DB}`)
  await admin.query(`CREATE DATABASE ${ORACLE_DB}`)
  oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: ORACLE_DB })
  await oracle.connect()
  await oracle.query('CREATE TABLE game_events (player_id BIGINT NOT NULL, game TEXT, type TEXT, ts TIMESTAMPTZ NOT NULL, score DOUBLE PRECISION)')
  await oracle.query('CREATE MATERIALIZED VIEW ends AS SELECT game, count(*) AS ends, max(ts) AS last_ts FROM game_events GROUP BY game')
}, 60_000)

afterAll(async () => {
  await s?.end()
  await oracle?.end()
  await admin?.query(`DROP DATABASE IF EXISTS ${ORACLE_DB}`)
  await admin?.end()
  const dir = sluice?.dataDir
  await sluice?.stop()
  if (dir) await removeDir(dir)
})

describe('psql meta-commands', () => {
  it('\\d+ of a view lists its columns with their types and its definition', () => {
    const out = sluice.psql('\\d+ ends').stdout
    expect(out).toContain('Materialized view "public.ends"')
    expect(out).toMatch(/^\s*game\s+\|\s+text\s+\|/m)
    expect(out).toMatch(/^\s*ends\s+\|\s+bigint\s+\|/m)
    expect(out).toMatch(/^\s*last_ts\s+\|\s+timestamp with time zone\s+\|/m)
    expect(out).toContain('View definition:')
    expect(out).toContain('count(*) AS ends')
  })

  it('\\d of a stream shows it as a table with NOT NULL columns', () => {
    const out = sluice.psql('\\d game_events').stdout
    expect(out).toContain('Table "public.game_events"')
    expect(out).toMatch(/^\s*player_id\s+\|\s+bigint\s+\|\s+\|\s+not null/m)
    expect(out).toMatch(/^\s*score\s+\|\s+double precision\s+\|\s+\|\s+\|/m)
  })

  it('\\dt, \\dm, \\dn, \\l and \\d list the stream, the view, the schemas and the database', () => {
    expect(sluice.psql('\\dt').stdout).toMatch(/public \| game_events \| table/)
    expect(sluice.psql('\\dt').stdout).not.toContain('ends')
    expect(sluice.psql('\\dm').stdout).toMatch(/public \| ends\s+\| materialized view/)
    const schemas = sluice.psql('\\dn').stdout
    expect(schemas).toMatch(/^ public /m)
    expect(schemas).toMatch(/^ sluice /m)
    expect(sluice.psql('\\l').stdout).toMatch(/^ sluice\s+\|/m)
    const all = sluice.psql('\\d').stdout
    expect(all).toMatch(/sluice \| sluice_queries\s+\| view/)
  })

  it('\\d of an unknown relation says so', () => {
    const r = sluice.psql('\\d nothing_here', { allowError: true })
    expect(r.stderr + r.stdout).toContain('Did not find any relation named "nothing_here"')
  })
})

/** `:oid` and `:name` of the captured SQL, for relation `name` on one server. */
async function fill(client: pg.Client, sql: string, name: string): Promise<string> {
  const r = await client.query(`SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = '${name}'`)
  return sql.replaceAll(':oid', String(r.rows[0].oid)).replaceAll(':name', name)
}

const fields = (r: pg.QueryResult): string[] => r.fields.map((f) => `${f.name}:${f.dataTypeID}`)

describe('catalog SQL against PostgreSQL as the oracle', () => {
  for (const [name, sql] of [...queries('psql.sql'), ...queries('pgjdbc.sql')]) {
    for (const rel of ['ends', 'game_events']) {
      it(`${name} (${rel}) returns the same columns and type OIDs`, async () => {
        const ours = await s.query(await fill(s, sql, rel))
        const theirs = await oracle.query(await fill(oracle, sql, rel))
        expect(fields(ours)).toEqual(fields(theirs))
      })
    }
  }

  it('the column query of \\d returns the same rows for the stream and the view', async () => {
    const sql = queries('psql.sql').find(([n]) => n === 'columns')![1]
    for (const rel of ['ends', 'game_events']) {
      const ours = await s.query(await fill(s, sql, rel))
      const theirs = await oracle.query(await fill(oracle, sql, rel))
      expect(ours.rows.length).toBeGreaterThan(0)
      expect(ours.rows).toEqual(theirs.rows)
    }
  })

  it('\\dt and \\dm find the same relations', async () => {
    for (const n of ['list_tables', 'list_matviews']) {
      const sql = queries('psql.sql').find(([q]) => q === n)![1]
      const pick = (r: pg.QueryResult) => r.rows.map((x) => [x.Schema, x.Name, x.Type])
      expect(pick(await s.query(sql))).toEqual(pick(await oracle.query(sql)))
    }
  })

  it("pgjdbc's getTables and getColumns return the stream and the view with their types", async () => {
    const tables = await s.query(queries('pgjdbc.sql').find(([n]) => n === 'getTables')![1])
    expect(tables.rows.map((r) => [r.table_schem, r.table_name, r.table_type])).toEqual([
      ['public', 'ends', 'MATERIALIZED VIEW'],
      ['public', 'game_events', 'TABLE'],
    ])
    const columns = await s.query(queries('pgjdbc.sql').find(([n]) => n === 'getColumns')![1])
    const theirs = await oracle.query(queries('pgjdbc.sql').find(([n]) => n === 'getColumns')![1])
    const pick = (r: pg.QueryResult) => r.rows.map((x) => [x.relname, x.attname, x.atttypid, x.attnotnull, x.attnum])
    expect(pick(columns)).toEqual(pick(theirs))
    expect(pick(columns)).toContainEqual(['game_events', 'ts', 1184, true, 3 + 1])
  })
})

describe('relational pull queries', () => {
  it('joins, correlated subqueries, UNION ALL and ORDER BY positions', async () => {
    const r = await s.query(`
      SELECT c.relname, (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid) AS n,
             EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnotnull) AS has_not_null
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public'
      UNION ALL SELECT 'x', 0, false
      ORDER BY 1`)
    expect(r.rows).toEqual([
      { relname: 'ends', n: '3', has_not_null: false },
      { relname: 'game_events', n: '5', has_not_null: true },
      { relname: 'x', n: '0', has_not_null: false },
    ])
  })

  it('reads of views and system tables join with the catalog', async () => {
    const r = await s.query(`SELECT q.name, c.relkind FROM sluice_queries q LEFT JOIN pg_catalog.pg_class c ON c.relname = q.name`)
    expect(r.rows).toEqual([{ name: 'ends', relkind: 'm' }])
  })

  it('information_schema lists the columns of the stream', async () => {
    const r = await s.query(`SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'game_events' ORDER BY ordinal_position`)
    expect(r.rows.map((x) => [x.column_name, x.data_type, x.is_nullable])).toEqual([
      ['player_id', 'bigint', 'NO'],
      ['game', 'text', 'YES'],
      ['type', 'text', 'YES'],
      ['ts', 'timestamp with time zone', 'NO'],
      ['score', 'double precision', 'YES'],
    ])
  })

  it('relation OIDs are user OIDs (from the persisted catalog id)', async () => {
    const before = (await s.query(`SELECT 'ends'::regclass::oid AS o`)).rows[0].o
    expect(Number(before)).toBeGreaterThanOrEqual(16384)
  })
})
