/**
 * The TimeZone setting against the real PostgreSQL on 127.0.0.1:5432: the same instants shown in the same
 * zones (DST changes, half-hour and LMT offsets, numeric and POSIX zones), SHOW TimeZone, the
 * ParameterStatus sent on a change, 22023 for an unknown zone, and binary timestamptz left alone.
 */
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import pg from 'pg'
import { serialize } from 'pg-protocol'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { RawPg, dataRowCells } from './helpers/raw-pg.ts'

const ZONES = ['UTC', 'Europe/Berlin', 'europe/berlin', 'Asia/Kolkata', 'America/St_Johns', 'America/New_York', '+02', '-5.5', 'UTC+3', 'UTC-02:30', 'EST5EDT', 'Australia/Lord_Howe']
const INSTANTS = [
  '2026-03-29 00:59:59.999999+00',
  '2026-03-29 01:00:00+00',
  '2026-10-25 00:30:00+00',
  '2026-10-25 01:00:00+00',
  '2026-10-25 01:30:00.5+00',
  '1890-01-01 00:00:00+00',
  '1969-07-20 20:17:40+00',
  '2000-01-01 00:00:00+00',
  '2038-01-19 03:14:08+00',
  'infinity',
]
const SELECT = `SELECT ${INSTANTS.map((t, i) => `'${t}'::timestamptz AS t${i}`).join(', ')}, ARRAY['${INSTANTS[0]}'::timestamptz, NULL] AS arr`

/** Text as the server sent it: no client-side parsing of timestamps. */
const raw = { getTypeParser: () => (v: string) => v }

describe('TimeZone as PostgreSQL', () => {
  let sluice: SluiceProcess
  let ours: pg.Client
  let theirs: pg.Client
  beforeAll(async () => {
    sluice = await startSluice()
    ours = await sluice.client()
    theirs = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
    await theirs.connect()
  })
  afterAll(async () => {
    await ours?.end()
    await theirs?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(ZONES)('SET TimeZone = %s: SHOW and every instant as PostgreSQL shows them', async (zone) => {
    const run = async (c: pg.Client) => {
      await c.query(`SET TimeZone = '${zone}'`)
      const shown = (await c.query('SHOW timezone')).rows[0].TimeZone
      const row = (await c.query({ text: SELECT, types: raw })).rows[0]
      return { shown, row }
    }
    expect(await run(ours)).toEqual(await run(theirs))
  })

  test('SET TIME ZONE, a number of hours, LOCAL and RESET', async () => {
    const run = async (c: pg.Client) => {
      const out: string[] = []
      for (const sql of ["SET TIME ZONE 'Asia/Kolkata'", 'SET TIME ZONE 2', 'SET TIME ZONE LOCAL', "SET TimeZone TO 'America/St_Johns'", 'RESET TimeZone']) {
        await c.query(sql)
        out.push((await c.query({ text: "SELECT '2026-06-01 00:00:00+00'::timestamptz AS t", types: raw })).rows[0].t)
      }
      return out
    }
    // PostgreSQL's default zone is the server's (Etc/UTC here); Sluice's is UTC: the same offset.
    expect(await run(ours)).toEqual(await run(theirs))
  })

  test('an unknown zone is 22023 and leaves the zone as it was', async () => {
    for (const c of [ours, theirs]) {
      await c.query("SET TimeZone = 'Asia/Kolkata'")
      await expect(c.query("SET TimeZone = 'Nowhere/Else'")).rejects.toMatchObject({ code: '22023', message: 'invalid value for parameter "TimeZone": "Nowhere/Else"' })
      expect((await c.query({ text: "SELECT '2026-06-01 00:00:00+00'::timestamptz AS t", types: raw })).rows[0].t).toBe('2026-06-01 05:30:00+05:30')
    }
  })

  test('ParameterStatus TimeZone on a change; binary timestamptz is the same UTC microseconds in any zone', async () => {
    const sluiceRaw = await RawPg.open(sluice.port, 'analyst', 'sluice')
    const pgRaw = await RawPg.open(5432, 'postgres', 'postgres')
    try {
      for (const c of [sluiceRaw, pgRaw]) {
        c.send(serialize.query("SET TimeZone = 'Europe/Berlin'"))
        const msgs = await c.until('Z')
        const status = msgs.filter((m) => m.type === 'S').map((m) => m.body.toString('utf8').split('\0').slice(0, 2))
        expect(status).toContainEqual(['TimeZone', 'Europe/Berlin'])
      }
      const binary = async (c: RawPg) => {
        c.send(serialize.parse({ text: "SELECT '2026-03-29 01:00:00+00'::timestamptz" }), serialize.bind({ binary: true }), serialize.execute({}), serialize.sync())
        return dataRowCells((await c.until('Z')).find((m) => m.type === 'D')!)[0]!.toString('hex')
      }
      expect(await binary(sluiceRaw)).toBe(await binary(pgRaw))
    } finally {
      sluiceRaw.close()
      pgRaw.close()
    }
  })

  test('TimeZone from the startup packet: PGTZ and PGOPTIONS; an unknown one refuses the connection', () => {
    const psql = (port: number, user: string, db: string, env: Record<string, string>) =>
      spawnSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-c', 'SHOW TimeZone', '-c', "SELECT '2026-06-01 00:00:00+00'::timestamptz"], { encoding: 'utf8', env: { ...process.env, ...env } })
    const envs: Record<string, string>[] = [{ PGTZ: 'America/St_Johns' }, { PGOPTIONS: '-c TimeZone=Asia/Kolkata' }, { PGOPTIONS: '-c timezone=UTC+3' }]
    for (const env of envs) {
      const a = psql(sluice.port, 'analyst', 'sluice', env)
      const b = psql(5432, 'postgres', 'postgres', env)
      expect(a.stdout, JSON.stringify(env)).toBe(b.stdout)
      expect(a.status).toBe(0)
    }
    const bad = psql(sluice.port, 'analyst', 'sluice', { PGTZ: 'Nowhere/Else' })
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toContain('invalid value for parameter "TimeZone": "Nowhere/Else"')
  })
})
