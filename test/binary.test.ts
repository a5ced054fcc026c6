/**
 * Binary format against the real PostgreSQL: the same values, asked for in binary (result format 1) from
 * Sluice and from PostgreSQL on 127.0.0.1:5432, must come back as the same bytes; and those bytes sent back
 * as binary parameters must make the same round trip. Raw protocol (test/helpers/raw-pg.ts), since
 * node-postgres cannot show binary cells.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serialize } from 'pg-protocol'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { RawPg, dataRowCells, errorFields, rowDescription } from './helpers/raw-pg.ts'

const PG_PORT = 5432

/** One value per type, written so that PostgreSQL and Sluice print it identically. */
const VALUES: [name: string, sql: string][] = [
  ['i2', '7::int2'],
  ['i4', '(-70000)::int4'],
  ['i8', '1099511627776::int8'],
  ['f4', '1.5::float4'],
  ['f8', '0.1::float8'],
  ['b', 'true'],
  ['t', "'hé'::text"],
  ['vc', "'v'::varchar"],
  ['n', '12.5::numeric'],
  ['n2', '(-123456789.25)::numeric'],
  ['n3', '0.00001::numeric'],
  ['n4', '10000::numeric'],
  ['n0', '0::numeric'],
  ['n5', '12345678901234567.89::numeric'],
  ['n6', '1.50::numeric'],
  ['n7', '0.000::numeric'],
  ['n8', "'NaN'::numeric"],
  ['n9', "'-Infinity'::numeric"],
  ['n10', '(-0.0000000000000000000001)::numeric'],
  ['n11', '123.456::numeric(10,2)'],
  ['tz', "'2026-01-02 03:04:05.123456+00'::timestamptz"],
  ['ts', "'2026-01-02 03:04:05.5'::timestamp"],
  ['tm', "'12:34:56.789'::time"],
  ['d', "'2026-01-02'::date"],
  ['d0', "'1999-12-31'::date"],
  ['by', "'\\x00ff'::bytea"],
  ['j', `'{"a": 1}'::json`],
  ['jb', `'{"a": 1}'::jsonb`],
  ['iv', "'1 mon 2 days 00:00:03'::interval"],
  ['ai2', "'{1,NULL,-3}'::int2[]"],
  ['ai4', "'{70000}'::int4[]"],
  ['ai8', "'{1,NULL,1099511627776}'::int8[]"],
  ['af4', "'{1.5,NULL}'::float4[]"],
  ['af8', "'{0.1,-2}'::float8[]"],
  ['an', "'{12.5,NULL,0}'::numeric[]"],
  ['ab', "'{t,f,NULL}'::bool[]"],
  ['at', `'{a,NULL,"b c",""}'::text[]`],
  ['ae', "'{}'::int8[]"],
  ['aet', "'{}'::text[]"],
  ['atz', "'{2026-01-02 03:04:05.5+00,NULL}'::timestamptz[]"],
  ['ad', "'{2026-01-02}'::date[]"],
  ['aiv', "'{1 day}'::interval[]"],
  ['ajb', `'{"{\\"a\\": 1}"}'::jsonb[]`],
]

const SELECT = `SELECT ${VALUES.map(([n, v]) => `${v} AS ${n}`).join(', ')}`

/** Runs `sql` with binary parameters and binary results; the cells of its one row and the result fields. */
async function binaryRow(c: RawPg, sql: string, params: Buffer[] = []): Promise<{ cells: (Buffer | null)[]; fields: ReturnType<typeof rowDescription> }> {
  c.send(serialize.parse({ text: sql }), serialize.bind({ values: params, binary: true }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync())
  const msgs = await c.until('Z')
  const err = msgs.find((m) => m.type === 'E')
  if (err !== undefined) throw new Error(`${sql}: ${JSON.stringify(errorFields(err))}`)
  const rows = msgs.filter((m) => m.type === 'D')
  expect(rows.length).toBe(1)
  return { cells: dataRowCells(rows[0]!), fields: rowDescription(msgs.find((m) => m.type === 'T')!) }
}

describe('binary format, byte for byte as PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: RawPg
  let theirs: RawPg
  beforeAll(async () => {
    sluice = await startSluice()
    ours = await RawPg.open(sluice.port, 'analyst', 'sluice')
    theirs = await RawPg.open(PG_PORT, 'postgres', 'postgres')
  })
  afterAll(async () => {
    ours?.close()
    theirs?.close()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test('results: every type gives the bytes PostgreSQL gives', async () => {
    const a = await binaryRow(ours, SELECT)
    const b = await binaryRow(theirs, SELECT)
    expect(a.fields.map((f) => f.format)).toEqual(VALUES.map(() => 1))
    VALUES.forEach(([name], i) => {
      expect(a.cells[i]?.toString('hex'), name).toBe(b.cells[i]?.toString('hex'))
      // varchar is text inside Sluice; the bytes are the same.
      if (name !== 'vc') expect(a.fields[i]!.typeOid, name).toBe(b.fields[i]!.typeOid)
    })
  })

  test('parameters: binary values PostgreSQL produced are read back to the same bytes', async () => {
    const { cells, fields } = await binaryRow(theirs, SELECT)
    const types = fields.map((f) => ({ 21: 'int2', 23: 'int4', 20: 'int8', 700: 'float4', 701: 'float8', 16: 'bool', 25: 'text', 1043: 'text', 1700: 'numeric', 1184: 'timestamptz', 1114: 'timestamp', 1082: 'date', 1083: 'time', 17: 'bytea', 114: 'json', 3802: 'jsonb', 1186: 'interval', 1005: 'int2[]', 1007: 'int4[]', 1016: 'int8[]', 1021: 'float4[]', 1022: 'float8[]', 1231: 'numeric[]', 1000: 'bool[]', 1009: 'text[]', 1185: 'timestamptz[]', 1182: 'date[]', 1187: 'interval[]', 3807: 'jsonb[]' })[f.typeOid])
    const echo = `SELECT ${types.map((t, i) => `$${i + 1}::${t} AS c${i}`).join(', ')}`
    const back = await binaryRow(ours, echo, cells as Buffer[])
    const oracle = await binaryRow(theirs, echo, cells as Buffer[])
    VALUES.forEach(([name], i) => {
      expect(back.cells[i]?.toString('hex'), name).toBe(cells[i]!.toString('hex'))
      expect(oracle.cells[i]?.toString('hex'), name).toBe(cells[i]!.toString('hex'))
    })
  })
})
