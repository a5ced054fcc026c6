/**
 * Schema browsing: real psql's \l, \dn, \dt, \dm, \d and \d+ against a real Sluice server, and the catalog
 * SQL psql and pgjdbc send (test/sql/catalog/) run through node-postgres against Sluice and, as the oracle,
 * against the real PostgreSQL on 127.0.0.1:5432 for an equivalent table and materialized view: the result
 * columns must have the same names and type OIDs, and rows describing the same relation must agree.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const SQL_DIR = join(import.meta.dirname, 'sql', 'catalog')

/** The named queries of a file; a first line `-- params: a, b` gives the values bound to $1, $2. */
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
    // The group key is the view's primary key.
    expect(out).toMatch(/^Indexes:\n\s+"ends_pkey" PRIMARY KEY, btree \(game\)/m)
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

  /** The column names of the first table psql printed (its second line), or null for a message. */
  const header = (out: string): string[] | null => {
    const line = out.split('\n')[1]
    return line?.includes('|') ? line.split('|').map((c) => c.trim()) : null
  }
  const META_COMMANDS = ['\\ddp', '\\des', '\\dew', '\\det', '\\deu', '\\dL', '\\dO', '\\dRs', '\\dRp', '\\dX', '\\dc', '\\dC', '\\dF', '\\dFd', '\\dFp', '\\dFt', '\\db', '\\dl', '\\lo_list', '\\do', '\\l+', '\\dP', '\\dA', '\\dAc', '\\dAf', '\\dAo', '\\dAp', '\\dx', '\\dT', '\\dD', '\\df', '\\da', '\\dy', '\\du', '\\dp', '\\dn+', '\\dt+', '\\dm+', '\\di+', '\\drds', '\\dd', '\\dconfig', '\\dconfig+ search_path', '\\sv sluice.sluice_queries']
  for (const command of META_COMMANDS) {
    it(`${command} runs and shows PostgreSQL's columns`, () => {
      const ours = sluice.psql(command)
      expect(ours.stderr).not.toMatch(/ERROR|error/)
      const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', ORACLE_DB, '-c', command], { encoding: 'utf8' })
      const theirs = header(r.stdout)
      if (header(ours.stdout) !== null && theirs !== null) expect(header(ours.stdout)).toEqual(theirs)
    })
  }

  it('\\d of an unknown relation says so', () => {
    const r = sluice.psql('\\d nothing_here', { allowError: true })
    expect(r.stderr + r.stdout).toContain('Did not find any relation named "nothing_here"')
  })
})

/** `:oid` and `:name` of the captured SQL (and of its parameters), for relation `name` on one server. */
async function fill(client: pg.Client, sql: string, name: string): Promise<pg.QueryConfig> {
  const r = await client.query(`SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = '${name}'`)
  // `:oid`, not the `::oid` of a cast.
  const subst = (s: string): string => s.replace(/(?<!:):oid\b/g, String(r.rows[0].oid)).replace(/(?<!:):name\b/g, name)
  const m = /^-- params:(.*)\n/.exec(sql)
  const values = m === null ? [] : m[1]!.split(',').map((v) => subst(v.trim()))
  return { text: subst(m === null ? sql : sql.slice(m[0].length)), values }
}

const fields = (r: pg.QueryResult): string[] => r.fields.map((f) => `${f.name}:${f.dataTypeID}`)

describe('catalog SQL against PostgreSQL as the oracle', () => {
  const captured = ['psql.sql', 'pgjdbc.sql', 'sqlalchemy.sql', 'pg_dump.sql', 'pgcli.sql'].flatMap(queries)
  for (const [name, sql] of captured) {
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

  const jdbc = (n: string): string => queries('pgjdbc.sql').find(([q]) => q === n)![1]

  it("pgjdbc's getTables and getColumns return the stream and the view with their types", async () => {
    const tables = await s.query(await fill(s, jdbc('getTables'), 'ends'))
    expect(tables.rows.map((r) => [r.TABLE_SCHEM, r.TABLE_NAME, r.TABLE_TYPE])).toEqual([
      ['public', 'ends_pkey', 'INDEX'],
      ['public', 'ends', 'MATERIALIZED VIEW'],
      ['public', 'game_events', 'TABLE'],
    ])
    // row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) numbers the columns.
    for (const rel of ['ends', 'game_events']) {
      const columns = await s.query(await fill(s, jdbc('getColumns'), rel))
      const theirs = await oracle.query(await fill(oracle, jdbc('getColumns'), rel))
      const pick = (r: pg.QueryResult) => r.rows.map((x) => [x.relname, x.attname, x.atttypid, x.attnotnull, x.attnum, x.typtype])
      expect(pick(columns).length).toBeGreaterThan(0)
      expect(pick(columns)).toEqual(pick(theirs))
    }
    const all = await s.query(await fill(s, jdbc('getColumns'), 'game_events'))
    expect(all.rows.map((x) => [x.attname, x.attnum])).toContainEqual(['ts', '4'])
  })

  it("pgjdbc's TypeInfoCache and ResultSetMetaData queries find the same types and columns", async () => {
    for (const n of ['typeInfoCache_byOid', 'typeInfoCache_oidByName', 'typeInfoCache_typeByOid']) {
      const ours = await s.query(await fill(s, jdbc(n), 'ends'))
      expect(ours.rows.length).toBe(1)
      expect(ours.rows).toEqual((await oracle.query(await fill(oracle, jdbc(n), 'ends'))).rows)
    }
    const all = await s.query(jdbc('typeInfoCache_allTypes'))
    const pick = (r: pg.QueryResult) => r.rows.find((x) => x.typname === '_int8')
    expect(pick(all)).toEqual(pick(await oracle.query(jdbc('typeInfoCache_allTypes'))))
    const md = async (c: pg.Client) => (await c.query(await fill(c, jdbc('resultSetMetaData'), 'game_events'))).rows.map((r) => Object.values(r).slice(1)).sort()
    expect(await md(s)).toEqual(await md(oracle))
  })

  it("a keyed view's group key is its primary key; a stream has none", async () => {
    const pk = (rel: string) => fill(s, jdbc('getPrimaryKeys'), rel).then((q) => s.query(q))
    expect((await pk('ends')).rows).toEqual([{ TABLE_CAT: 'sluice', TABLE_SCHEM: 'public', TABLE_NAME: 'ends', COLUMN_NAME: 'game', KEY_SEQ: 1, PK_NAME: 'ends_pkey' }])
    expect((await pk('game_events')).rows).toEqual([])
    // PostgreSQL shows the same index for a materialized view with a unique index on the key.
    await oracle.query('CREATE UNIQUE INDEX IF NOT EXISTS ends_pkey ON ends (game) NULLS NOT DISTINCT')
    const cols = (r: pg.QueryResult) => r.rows.map((x) => [x.TABLE_NAME, x.NON_UNIQUE, x.INDEX_NAME, x.TYPE, x.ORDINAL_POSITION, x.COLUMN_NAME, x.ASC_OR_DESC])
    const ours = await s.query(await fill(s, jdbc('getIndexInfo'), 'ends'))
    expect(cols(ours)).toEqual(cols(await oracle.query(await fill(oracle, jdbc('getIndexInfo'), 'ends'))))
    expect(cols(ours)).toEqual([['ends', false, 'ends_pkey', 3, 1, 'game', 'A']])
    const def = await s.query(`SELECT pg_catalog.pg_get_indexdef(i.indexrelid, 0, true) AS d, pg_catalog.pg_get_constraintdef(c.oid) AS k
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_constraint c ON c.conindid = i.indexrelid WHERE i.indrelid = 'ends'::regclass`)
    expect(def.rows).toEqual([{ d: 'CREATE UNIQUE INDEX ends_pkey ON public.ends USING btree (game) NULLS NOT DISTINCT', k: 'PRIMARY KEY (game)' }])
    await oracle.query('DROP INDEX ends_pkey')
  })
})

describe('relational pull queries', () => {
  for (const [name, sql] of queries('relational.sql')) {
    it(`${name} returns the rows PostgreSQL returns`, async () => {
      const ours = await s.query({ text: sql, rowMode: 'array' })
      const theirs = await oracle.query({ text: sql, rowMode: 'array' })
      expect(fields(ours)).toEqual(fields(theirs))
      expect(ours.rows.length).toBeGreaterThan(0)
      expect(ours.rows).toEqual(theirs.rows)
    })
  }

  it('window functions are refused where PostgreSQL refuses them', async () => {
    await expect(s.query('SELECT g FROM generate_series(1, 3) AS g WHERE row_number() OVER () > 1')).rejects.toThrow(/window functions are not allowed in WHERE/)
    await expect(s.query('SELECT row_number() OVER (ORDER BY ends) FROM ends')).resolves.toBeDefined()
  })

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
      { relname: 'ends_pkey', n: '1', has_not_null: false },
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

  it('= ANY($1) takes an untyped parameter as an array of the left side (pgcli\'s \\dt)', async () => {
    const sql = "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = ANY($1) AND n.nspname = 'public' ORDER BY 1"
    const ours = await s.query(sql, ['{r,m,""}'])
    expect(ours.rows).toEqual([{ relname: 'ends' }, { relname: 'game_events' }])
    expect(ours.rows).toEqual((await oracle.query(sql, ['{r,m,""}'])).rows)
  })

  it('set_config(..., true) lasts until the transaction ends; false until the session does, unless rolled back', async () => {
    const run = async (c: pg.Client) => {
      const out: unknown[] = []
      const get = async () => out.push((await c.query("SELECT current_setting('application_name') AS v")).rows[0].v)
      await c.query("SELECT set_config('application_name', 'outside', true)")
      await get()
      await c.query('BEGIN')
      await c.query("SELECT set_config('application_name', 'inside', true)")
      await get()
      await c.query('COMMIT')
      await get()
      await c.query("SELECT set_config('application_name', 'kept', false)")
      await get()
      await c.query('BEGIN')
      await c.query("SELECT set_config('application_name', 'rolled back', false)")
      await c.query('ROLLBACK')
      await get()
      await c.query('BEGIN')
      await c.query("SET LOCAL application_name = 'local'")
      await c.query("SET application_name = 'after local'")
      await c.query('COMMIT')
      await get()
      await c.query("SELECT set_config('application_name', '', false)")
      return out
    }
    const ours = await run(s)
    expect(ours).toEqual(['', 'inside', '', 'kept', 'kept', 'after local'])
    expect(ours).toEqual(await run(oracle))
    await expect(s.query("SELECT current_setting('no_such_setting')")).rejects.toMatchObject({ code: '42704' })
  })

  it('relation OIDs are user OIDs (from the persisted catalog id)', async () => {
    const before = (await s.query(`SELECT 'ends'::regclass::oid AS o`)).rows[0].o
    expect(Number(before)).toBeGreaterThanOrEqual(16384)
  })
})
