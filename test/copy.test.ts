/**
 * COPY stream FROM STDIN with real psql (`\copy` sends COPY ... FROM STDIN and streams the file as CopyData):
 * text and CSV, all or nothing, the line of a bad record in the error.
 */
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
