/**
 * stddev / variance over integers and numeric in continuous views: the state (count, exact Σx and Σx²) lives
 * in RocksDB and the results keep PostgreSQL's digits across kill -9; the same values asked of the real
 * PostgreSQL give the same text.
 */
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { AS_TEXT } from './helpers/oracle.ts'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const ROWS: readonly [string, number, string][] = [
  ['a', 10, '1.50'],
  ['a', -1, '2.25'],
  ['a', 2147483647, '12345678901234567.89'],
  ['b', 7, '0.0000000001'],
  ['b', 7, '-3.5'],
  ['b', 123456, '0'],
]

const SELECT = `SELECT g, stddev(i) AS si, variance(i) AS vi, var_pop(n) AS vpn, stddev_pop(n) AS spn, stddev_samp(n) AS ssn, var_samp(i) AS vsi`

describe('numeric statistics in continuous views', () => {
  let sluice: SluiceProcess | undefined
  let dataDir = ''
  afterAll(async () => {
    await sluice?.stop()
    if (dataDir) await removeDir(dataDir)
  })

  test('agree with PostgreSQL and survive kill -9', async () => {
    const oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await oracle.connect()
    const values = ROWS.map(([g, i, n]) => `('${g}', ${i}, ${n}::numeric)`).join(', ')
    const expected = (await oracle.query({ text: `${SELECT} FROM (VALUES ${values}) t(g, i, n) GROUP BY g ORDER BY g`, types: AS_TEXT })).rows
    await oracle.end()
    expect(expected).toHaveLength(2)

    dataDir = await tempDataDir()
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    sluice.psql(`CREATE STREAM obs (g TEXT NOT NULL, i INT NOT NULL, n NUMERIC NOT NULL) WITH (key = 'g');
      CREATE MATERIALIZED VIEW stats AS ${SELECT} FROM obs GROUP BY g;
      INSERT INTO obs VALUES ${ROWS.map(([g, i, n]) => `('${g}', ${i}, ${n})`).join(', ')}`)
    const read = async (): Promise<unknown[]> => {
      const c = await sluice!.client()
      try {
        return (await c.query({ text: 'SELECT * FROM stats ORDER BY g', types: AS_TEXT })).rows
      } finally {
        await c.end()
      }
    }
    await eventually(read, (rows) => JSON.stringify(rows) === JSON.stringify(expected), 60_000)
    await sluice.kill('SIGKILL')
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    expect(await read()).toEqual(expected)
  }, 120_000)
})
