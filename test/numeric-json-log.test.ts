/**
 * Numbers in JSON keep their digits end to end: a jsonb column's `2.50` and `1.0` go into a stream's log and
 * come back as written (jsonb holds numbers as numeric), before and after kill -9; JSON built from numerics
 * (to_jsonb, json_build_object) writes the numeric's own text.
 */
import { afterAll, describe, expect, test } from 'vitest'
import { removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

describe('numbers in JSON keep their digits through the log', () => {
  let sluice: SluiceProcess | undefined
  let dataDir = ''
  afterAll(async () => {
    await sluice?.stop()
    if (dataDir) await removeDir(dataDir)
  })

  const q = (sql: string): string => sluice!.psql(sql, { args: ['-At', '-F', '|'] }).stdout.trim()

  test('jsonb and json columns read back from the log as written, across kill -9', async () => {
    dataDir = await tempDataDir()
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    sluice.psql(`CREATE STREAM docs (id INT NOT NULL, doc JSONB, raw JSON, amount NUMERIC) WITH (key = 'id');
      INSERT INTO docs VALUES (1, '{"price": 2.50, "qty": [1.0, 12345678901234567.89], "tag": "a\\"}"}', '{"p":0.10}', 1.50);
      INSERT INTO docs VALUES (2, '1e2', '[1.000]', 0.0)`)
    // Read from the log itself, after a checkpoint, and again after kill -9.
    const expected = [
      '1|{"qty": [1.0, 12345678901234567.89], "tag": "a\\"}", "price": 2.50}|{"p":0.10}|{"a" : 1.50, "d" : {"qty": [1.0, 12345678901234567.89], "tag": "a\\"}", "price": 2.50}}|1.50',
      '2|100|[1.000]|{"a" : 0.0, "d" : 100}|0.0',
    ].join('\n')
    const read = (): string =>
      q(`SELECT id, doc, raw, json_build_object('a', amount, 'd', doc), to_jsonb(amount) FROM docs ORDER BY id`)
    expect(read()).toBe(expected)
    await sluice.kill('SIGKILL')
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    expect(read()).toBe(expected)
    expect(q(`SELECT doc->'price', doc->'qty'->0 FROM docs WHERE id = 1`)).toBe('2.50|1.0')
  }, 120_000)
})
