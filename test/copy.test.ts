/**
 * COPY stream FROM STDIN with real psql (`\copy` sends COPY ... FROM STDIN and streams the file as CopyData):
 * text and CSV, all or nothing, the line of a bad record in the error.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

describe('COPY FROM STDIN', () => {
  let sluice: SluiceProcess
  let dir: string
  beforeAll(async () => {
    sluice = await startSluice()
    dir = await mkdtemp(join(tmpdir(), 'sluice-copy-'))
    sluice.psql(`CREATE STREAM plays (player_id BIGINT NOT NULL, game TEXT, score DOUBLE PRECISION, ts TIMESTAMPTZ NOT NULL) WITH (key = 'player_id', partitions = 2);
      CREATE MATERIALIZED VIEW per_game AS SELECT game, count(*) AS n, sum(score) AS total FROM plays GROUP BY game`)
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const perGame = () => sluice.psql('SELECT game, n, total FROM per_game ORDER BY game', { args: ['-At', '-F', ','] }).stdout.trim()

  test('psql \\copy in text format: 20,000 rows in one COPY, escapes and NULLs', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `${i}\t${i % 2 === 0 ? 'chess' : 'go\\tplus'}\t${i % 2 === 0 ? '1' : '\\N'}\t2026-12-04 10:00:00+00`)
    await writeFile(join(dir, 'plays.tsv'), `${lines.join('\n')}\n`)
    const r = sluice.psql(`\\copy plays FROM '${join(dir, 'plays.tsv')}'`)
    expect(r.stdout.trim()).toBe('COPY 20000')
    expect(perGame()).toBe('chess,10000,10000\ngo\tplus,10000,')
  })

  test('CSV with a header and a column list; quoted commas and newlines', async () => {
    await writeFile(join(dir, 'plays.csv'), 'ts,player_id,game\n2026-12-04 11:00:00+00,1,"poker, texas"\n2026-12-04 11:00:01+00,2,"two\nlines"\n')
    const r = sluice.psql(`\\copy plays (ts, player_id, game) FROM '${join(dir, 'plays.csv')}' WITH (FORMAT csv, HEADER)`)
    expect(r.stdout.trim()).toBe('COPY 2')
    const rows = sluice.psql("SELECT game, n FROM per_game WHERE game LIKE 'poker%' OR game LIKE 'two%' ORDER BY game", { args: ['-At', '-F', '|'] }).stdout.trim()
    expect(rows).toBe('poker, texas|1\ntwo\nlines|1')
  })

  test('a bad record fails the whole COPY with its line; nothing of it is appended', async () => {
    const before = perGame()
    await writeFile(join(dir, 'bad.csv'), '1,chess,1,2026-12-04 12:00:00+00\n2,chess,lots,2026-12-04 12:00:01+00\n')
    const r = sluice.psql(`\\copy plays FROM '${join(dir, 'bad.csv')}' CSV`, { allowError: true })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('ERROR:')
    expect(r.stderr).toContain('COPY plays, line 2, column score: "lots"')
    expect(perGame()).toBe(before)
  })

  test('COPY into a view or an unknown column is refused', () => {
    expect(sluice.psql(`\\copy per_game FROM '${join(dir, 'bad.csv')}' CSV`, { allowError: true }).stderr).toContain('cannot copy to materialized view "per_game"')
    expect(sluice.psql(`\\copy plays (nope) FROM '${join(dir, 'bad.csv')}' CSV`, { allowError: true }).stderr).toContain('column "nope" of relation "plays" does not exist')
  })
})

/**
 * COPY ... TO STDOUT against the real PostgreSQL on 127.0.0.1:5432: the same rows in a Sluice stream and a
 * PostgreSQL table, the same COPY statement run by psql on both, the same bytes out.
 */
describe('COPY TO STDOUT, byte for byte as PostgreSQL', () => {
  const ORACLE_DB = 'sluice_copy_oracle'
  const COLUMNS = 'id bigint, i2 smallint, i4 int, f8 double precision, f4 real, n numeric, b boolean, t text, vc varchar, ts timestamptz, d date, iv interval, tags text[], ids bigint[], nums float8[]'
  const ROWS = [
    `(1, 7, -70000, 0.1, 1.5, 12.5, true, 'a,b "q" tab\tx\\y', 'v', '2026-03-29 00:59:59.5+00', '2026-01-02', '1 day 02:00:00', '{x,NULL,"y z"}', '{1,NULL,3}', '{0.5,-2}')`,
    `(2, -1, 0, -2.5e-7, 0, -0.001, false, '', '', '2026-10-25 00:30:00+00', '1999-12-31', '-3 mons', '{}', '{}', '{}')`,
    `(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    `(4, 32767, 2147483647, 1e20, 3.25, 123456789.25, true, E'two\\nlines\\r\\\\. é', 'NULL', '1969-07-20 20:17:40+00', '2026-02-28', '00:00:00.000001', '{"",NULL,"a\\\\b","{}"}', '{9007199254740991}', '{1e-5}')`,
    `(5, 0, 1, 1, 1, 0, false, E'\\\\.', ';', '2000-01-01 00:00:00+00', '2000-01-01', '1 year 2 mons 3 days 04:05:06.7', '{"q\\"uote",comma\\,}', '{-1}', '{1e300,-0.25}')`,
  ]
  let sluice: SluiceProcess
  const oracle = (sql: string, o: { env?: Record<string, string>; binary?: boolean } = {}) => {
    const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-d', ORACLE_DB, '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, ...o.env } })
    if (r.status !== 0) throw new Error(`PostgreSQL: ${r.stderr.toString()}`)
    return r.stdout
  }
  const ours = (sql: string, o: { env?: Record<string, string> } = {}) => {
    const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, ...o.env } })
    if (r.status !== 0) throw new Error(`Sluice: ${r.stderr.toString()}`)
    return r.stdout
  }

  beforeAll(async () => {
    sluice = await startSluice()
    spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `CREATE DATABASE ${ORACLE_DB}`])
    oracle(`DROP MATERIALIZED VIEW IF EXISTS copy_by_flag; DROP TABLE IF EXISTS copy_rows; CREATE TABLE copy_rows (${COLUMNS}); INSERT INTO copy_rows VALUES ${ROWS.join(', ')};
      CREATE MATERIALIZED VIEW copy_by_flag AS SELECT b, count(*) AS n, sum(i4) AS total FROM copy_rows GROUP BY b`)
    sluice.psql(`CREATE STREAM copy_rows (${COLUMNS}) WITH (partitions = 1)`)
    sluice.psql(`INSERT INTO copy_rows VALUES ${ROWS.join(', ')}`)
    sluice.psql('CREATE MATERIALIZED VIEW copy_by_flag AS SELECT b, count(*) AS n, sum(i4) AS total FROM copy_rows GROUP BY b')
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  const STATEMENTS = [
    'COPY copy_rows TO STDOUT',
    'COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT',
    'COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)',
    'COPY copy_rows (id, t, tags) TO STDOUT WITH (FORMAT csv, HEADER true)',
    "COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';', NULL 'NULL', QUOTE '''', ESCAPE '\\')",
    'COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE (t, id))',
    'COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)',
    "COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT text, DELIMITER '|', NULL '', HEADER)",
    'COPY (SELECT t FROM copy_rows ORDER BY id) TO STDOUT CSV HEADER',
    'COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT binary)',
    'COPY (SELECT * FROM copy_rows WHERE id < 0) TO STDOUT WITH (FORMAT binary)',
    'COPY (SELECT * FROM copy_by_flag ORDER BY b) TO STDOUT WITH (FORMAT csv, HEADER)',
  ]

  test.each(STATEMENTS)('%s', (sql) => {
    const theirs = oracle(sql)
    expect(theirs.length).toBeGreaterThan(0)
    expect(ours(sql).toString('hex')).toBe(theirs.toString('hex'))
  })

  test('COPY of a materialized view: its rows, as PostgreSQL gives them for COPY (SELECT * FROM view)', () => {
    // PostgreSQL copies a view only through a query; Sluice takes the view's name as well.
    const sorted = (b: Buffer) => b.toString('utf8').split('\n').sort().join('\n')
    const theirs = sorted(oracle('COPY (SELECT * FROM copy_by_flag) TO STDOUT WITH (FORMAT csv)'))
    expect(theirs.split('\n').length).toBe(4)
    expect(sorted(ours('COPY copy_by_flag TO STDOUT WITH (FORMAT csv)'))).toBe(theirs)
  })

  test('timestamptz in the session TimeZone (PGTZ), as PostgreSQL shows it', () => {
    for (const zone of ['Europe/Berlin', 'Asia/Kolkata', 'America/St_Johns', 'UTC+3']) {
      const sql = 'COPY (SELECT id, ts FROM copy_rows ORDER BY id) TO STDOUT WITH (FORMAT csv)'
      expect(ours(sql, { env: { PGTZ: zone } }).toString(), zone).toBe(oracle(sql, { env: { PGTZ: zone } }).toString())
    }
  })

  test('bad options are refused as PostgreSQL refuses them; the session goes on', () => {
    const r = sluice.psql('COPY copy_rows TO STDOUT WITH (FORMAT csv, FORCE_QUOTE (nope))', { allowError: true })
    expect(r.stderr).toContain('column "nope" does not exist')
    expect(sluice.psql("COPY copy_rows TO STDOUT WITH (FORMAT text, QUOTE '\"')", { allowError: true }).stderr).toContain('COPY quote available only in CSV mode')
    expect(sluice.psql('COPY copy_rows TO STDOUT WITH (FORMAT xml)', { allowError: true }).stderr).toContain('COPY format "xml" not recognized')
  })
})
