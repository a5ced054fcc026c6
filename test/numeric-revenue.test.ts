/**
 * Money stays exact end to end: one million amounts of 0.01 in a `numeric(12,2)` column, COPYed in by
 * psql, summed by continuous views (per shop and overall) in a real server on real RocksDB, read back over
 * psql and node-postgres (text and binary) as exactly 10000.00, and still exactly that after kill -9 in the
 * middle of the load and again after it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serialize } from 'pg-protocol'
import { afterAll, describe, expect, test } from 'vitest'
import { AS_TEXT } from './helpers/oracle.ts'
import { RawPg, dataRowCells } from './helpers/raw-pg.ts'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const SHOPS = 8
const TOTAL = 1_000_000
const FIRST = 600_000

describe('exact revenue over a million 0.01 amounts, across kill -9', () => {
  let sluice: SluiceProcess | undefined
  let dir = ''
  let dataDir = ''
  afterAll(async () => {
    await sluice?.stop()
    if (dataDir) await removeDir(dataDir)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const lines = (from: number, to: number): string => {
    let out = ''
    for (let i = from; i < to; i++) out += `shop_${i % SHOPS}\t0.01\t2026-12-04 10:00:00+00\n`
    return out
  }
  const copy = async (name: string, from: number, to: number) => {
    const file = join(dir, name)
    await writeFile(file, lines(from, to))
    expect(sluice!.psql(`\\copy sales FROM '${file}'`).stdout.trim()).toBe(`COPY ${to - from}`)
  }
  const overall = () => sluice!.psql('SELECT revenue, n FROM revenue', { args: ['-At', '-F', ','] }).stdout.trim()

  test('sum(amount) is 10000.00 exactly, per shop 1250.00, before and after kill -9', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-revenue-'))
    dataDir = await tempDataDir()
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    sluice.psql(`CREATE STREAM sales (shop TEXT NOT NULL, amount NUMERIC(12,2) NOT NULL, ts TIMESTAMPTZ NOT NULL) WITH (key = 'shop', partitions = 2);
      CREATE MATERIALIZED VIEW revenue_by_shop AS SELECT shop, count(*) AS n, sum(amount) AS revenue, avg(amount) AS mean, max(amount) AS top FROM sales GROUP BY shop;
      CREATE MATERIALIZED VIEW revenue AS SELECT count(*) AS n, sum(amount) AS revenue FROM sales`)

    // The first part, then kill -9 while the views may still be working through it.
    await copy('first.tsv', 0, FIRST)
    await sluice.kill('SIGKILL')
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    await copy('second.tsv', FIRST, TOTAL)
    await eventually(async () => overall(), (v) => v === `10000.00,${TOTAL}`, 240_000)

    const c = await sluice.client()
    try {
      const shops = await c.query({ text: 'SELECT shop, n, revenue, mean, top FROM revenue_by_shop ORDER BY shop', types: AS_TEXT })
      expect(shops.rows).toEqual(Array.from({ length: SHOPS }, (_, i) => ({ shop: `shop_${i}`, n: String(TOTAL / SHOPS), revenue: '1250.00', mean: '0.01000000000000000000', top: '0.01' })))
      const total = await c.query({ text: 'SELECT revenue, revenue * 100 AS cents, revenue / 3 AS third, pg_typeof(revenue)::text AS t FROM revenue', types: AS_TEXT })
      expect(total.rows[0]).toEqual({ revenue: '10000.00', cents: '1000000.00', third: '3333.3333333333333333', t: 'numeric' })
      expect(total.fields[0]!.dataTypeID).toBe(1700)
    } finally {
      await c.end()
    }

    // Binary format: numeric_send's bytes, as PostgreSQL sends 10000.00 (ndigits 1, weight 1, dscale 2, digit 1).
    const raw = await RawPg.open(sluice.port, 'analyst', 'sluice')
    try {
      raw.send(serialize.parse({ text: 'SELECT revenue FROM revenue' }), serialize.bind({ binary: true }), serialize.execute({}), serialize.sync())
      const row = (await raw.until('Z')).find((m) => m.type === 'D')!
      expect(dataRowCells(row)[0]!.toString('hex')).toBe('0001' + '0001' + '0000' + '0002' + '0001')
    } finally {
      raw.close()
    }

    // kill -9 after the load: the sums come back from RocksDB exactly.
    await sluice.kill('SIGKILL')
    sluice = await startSluice({ dataDir, checkpointMs: 200 })
    expect(overall()).toBe(`10000.00,${TOTAL}`)
    expect(sluice.psql('SELECT sum(revenue) FROM revenue_by_shop', { args: ['-At'] }).stdout.trim()).toBe('10000.00')
  }, 600_000)
})
