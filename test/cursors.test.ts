/**
 * SQL cursors and extended-protocol portals against a real `sluice serve`, with node-postgres and a raw
 * protocol client: DECLARE / FETCH / MOVE / CLOSE with PostgreSQL's errors and transaction rules, BINARY
 * cursors, and portals with row limits, Close, Flush, pipelining and error recovery until Sync.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serialize } from 'pg-protocol'
import type pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { RawPg, commandTag, dataRowCells, errorFields, rowDescription } from './helpers/raw-pg.ts'

describe('cursors and portals', () => {
  let sluice: SluiceProcess
  let c: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    c = await sluice.client()
    await c.query('CREATE STREAM scores (player_id BIGINT NOT NULL, points INT, ts TIMESTAMPTZ NOT NULL)')
    await c.query('CREATE MATERIALIZED VIEW totals AS SELECT player_id, sum(points) AS total FROM scores GROUP BY player_id')
    const values = Array.from({ length: 10 }, (_, i) => `(${i + 1}, ${(i + 1) * 10}, '2026-11-23 10:00:00+00')`).join(', ')
    await c.query(`INSERT INTO scores VALUES ${values}`)
    await eventually(async () => (await c.query('SELECT count(*)::int AS n FROM totals')).rows[0].n, (n) => n === 10)
  })
  afterAll(async () => {
    await c?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  const ids = (r: pg.QueryResult) => r.rows.map((x) => Number(x.player_id))

  test('DECLARE, FETCH n / NEXT / ALL, MOVE, CLOSE inside a transaction block', async () => {
    await c.query('BEGIN')
    const declared = await c.query('DECLARE c1 NO SCROLL CURSOR FOR SELECT player_id, total FROM totals ORDER BY player_id')
    expect(declared.command).toBe('DECLARE')
    const two = await c.query('FETCH 2 c1')
    expect(two.command).toBe('FETCH')
    expect(two.rowCount).toBe(2)
    expect(two.rows).toEqual([{ player_id: '1', total: '10' }, { player_id: '2', total: '20' }])
    expect(ids(await c.query('FETCH NEXT FROM c1'))).toEqual([3])
    expect(ids(await c.query('FETCH c1'))).toEqual([4])
    const moved = await c.query('MOVE FORWARD 3 IN c1')
    expect([moved.command, moved.rowCount]).toEqual(['MOVE', 3])
    expect(ids(await c.query('FETCH FORWARD 1 FROM c1'))).toEqual([8])
    expect(ids(await c.query('FETCH ALL IN c1'))).toEqual([9, 10])
    expect((await c.query('FETCH c1')).rows).toEqual([])
    expect((await c.query('CLOSE c1')).command).toBe('CLOSE')
    await expect(c.query('FETCH c1')).rejects.toMatchObject({ code: '34000', message: 'cursor "c1" does not exist' })
    // The failed FETCH aborted the transaction, as in PostgreSQL.
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' })
    await c.query('ROLLBACK')
  })

  test('errors: outside a transaction block, duplicates, backward fetches, unknown cursors', async () => {
    await expect(c.query('DECLARE c2 CURSOR FOR SELECT * FROM totals')).rejects.toMatchObject({ code: '25P01', message: 'DECLARE CURSOR can only be used in transaction blocks' })
    await expect(c.query('FETCH nope')).rejects.toMatchObject({ code: '34000' })
    await expect(c.query('CLOSE nope')).rejects.toMatchObject({ code: '34000' })
    await c.query('BEGIN')
    await c.query('DECLARE c2 CURSOR FOR SELECT * FROM totals')
    await expect(c.query('DECLARE c2 CURSOR FOR SELECT * FROM totals')).rejects.toMatchObject({ code: '42P03' })
    await c.query('ROLLBACK')
    await c.query('BEGIN')
    await c.query('DECLARE c3 CURSOR FOR SELECT * FROM totals')
    await expect(c.query('FETCH PRIOR FROM c3')).rejects.toMatchObject({ code: '55000', message: 'cursor can only scan forward' })
    await c.query('ROLLBACK')
    await expect(c.query('DECLARE c4 SCROLL CURSOR FOR SELECT 1')).rejects.toMatchObject({ code: '0A000' })
  })

  test('COMMIT closes cursors, WITH HOLD ones survive it; ROLLBACK closes those it declared; CLOSE ALL', async () => {
    await c.query('BEGIN')
    await c.query('DECLARE plain CURSOR FOR SELECT player_id FROM totals ORDER BY player_id')
    await c.query('DECLARE held CURSOR WITH HOLD FOR SELECT player_id FROM totals ORDER BY player_id')
    expect(ids(await c.query('FETCH 1 held'))).toEqual([1])
    await c.query('COMMIT')
    await expect(c.query('FETCH plain')).rejects.toMatchObject({ code: '34000' })
    expect(ids(await c.query('FETCH 2 held'))).toEqual([2, 3])

    // WITH HOLD also works outside a transaction block.
    await c.query('DECLARE held2 CURSOR WITH HOLD FOR SELECT 42 AS answer')
    await c.query('BEGIN')
    await c.query('DECLARE doomed CURSOR WITH HOLD FOR SELECT 1 AS x')
    await c.query('ROLLBACK')
    await expect(c.query('FETCH doomed')).rejects.toMatchObject({ code: '34000' })
    expect(ids(await c.query('FETCH held'))).toEqual([4])
    expect((await c.query('FETCH held2')).rows).toEqual([{ answer: 42 }])
    expect((await c.query('CLOSE ALL')).command).toBe('CLOSE')
    await expect(c.query('FETCH held')).rejects.toMatchObject({ code: '34000' })
  })

  test('psql: COPY (SELECT ...) TO STDOUT writes the text format', () => {
    const out = sluice.psql("COPY (SELECT player_id, total, NULL::text AS none, 'a\tb' AS tab FROM totals WHERE player_id <= 2 ORDER BY player_id) TO STDOUT")
    expect(out.stdout).toBe('1\t10\t\\N\ta\\tb\n2\t20\t\\N\ta\\tb\n')
  })

  test('BINARY cursors send binary cells in the simple protocol', async () => {
    const raw = await RawPg.open(sluice.port, 'analyst', 'sluice')
    try {
      raw.send(serialize.query("BEGIN; DECLARE b BINARY CURSOR FOR SELECT player_id, total, 'x' AS t FROM totals WHERE player_id = 3; FETCH ALL b; COMMIT"))
      const msgs = await raw.until('Z')
      expect(msgs.find((m) => m.type === 'E')).toBeUndefined()
      const desc = rowDescription(msgs.find((m) => m.type === 'T')!)
      expect(desc.map((f) => f.format)).toEqual([1, 1, 1])
      const cells = dataRowCells(msgs.find((m) => m.type === 'D')!)
      expect(cells.map((b) => b?.toString('hex'))).toEqual(['0000000000000003', '000000000000001e', '78'])
      expect(msgs.filter((m) => m.type === 'C').map(commandTag)).toEqual(['BEGIN', 'DECLARE CURSOR', 'FETCH 1', 'COMMIT'])
      // Arrays too, in array_send's format: ndim 1, no NULLs, int4, 2 elements from 1, then each element.
      raw.send(serialize.query('BEGIN; DECLARE a BINARY CURSOR FOR SELECT ARRAY[1, 2] AS xs; FETCH ALL a; COMMIT'))
      const arrays = await raw.until('Z')
      expect(arrays.find((m) => m.type === 'E')).toBeUndefined()
      const arrayCells = dataRowCells(arrays.find((m) => m.type === 'D')!)
      expect(arrayCells[0]?.toString('hex')).toBe('00000001' + '00000000' + '00000017' + '00000002' + '00000001' + '00000004' + '00000001' + '00000004' + '00000002')
    } finally {
      raw.close()
    }
  })

  test('portals: row limits suspend, Flush sends, Close frees, errors skip to Sync, pipelines run in order', async () => {
    const raw = await RawPg.open(sluice.port, 'analyst', 'sluice')
    const types = (msgs: { type: string }[]) => msgs.map((m) => m.type).join('')
    try {
      raw.send(
        serialize.parse({ name: 'all', text: 'SELECT player_id FROM totals ORDER BY player_id' }),
        serialize.bind({ statement: 'all', portal: 'p' }),
        serialize.execute({ portal: 'p', rows: 4 }),
        serialize.flush(),
      )
      expect(types(await raw.until('s'))).toBe('12DDDDs')
      raw.send(serialize.execute({ portal: 'p', rows: 4 }), serialize.flush())
      expect(types(await raw.until('s'))).toBe('DDDDs')
      raw.send(serialize.execute({ portal: 'p', rows: 4 }), serialize.sync())
      const last = await raw.until('Z')
      expect(types(last)).toBe('DDCZ')
      expect(commandTag(last[2]!)).toBe('SELECT 10')
      // Outside a transaction block Sync ended the portal; the statement stays until closed.
      raw.send(serialize.execute({ portal: 'p' }), serialize.sync())
      expect(errorFields((await raw.until('Z')).find((m) => m.type === 'E')!).C).toBe('34000')
      raw.send(serialize.close({ type: 'S', name: 'all' }), serialize.bind({ statement: 'all' }), serialize.sync())
      const closed = await raw.until('Z')
      expect(types(closed)).toBe('3EZ')
      expect(errorFields(closed[1]!).C).toBe('26000')

      // A pipeline: the failing statement's error, everything after it skipped until Sync, then normal again.
      raw.send(
        serialize.parse({ text: 'SELECT count(*) AS n FROM totals' }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.parse({ text: 'SELECT nope FROM totals' }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.parse({ text: 'SELECT 1' }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.sync(),
        serialize.parse({ text: 'SELECT 2 AS two' }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.sync(),
      )
      const first = await raw.until('Z')
      expect(types(first)).toBe('12DCEZ')
      expect(errorFields(first[4]!).C).toBe('42703')
      const second = await raw.until('Z')
      expect(types(second)).toBe('12DCZ')
      expect(dataRowCells(second[2]!)[0]!.toString()).toBe('2')
    } finally {
      raw.close()
    }
  })
})
