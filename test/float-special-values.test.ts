/**
 * Infinity, -Infinity and NaN in double precision / real columns survive the embedded log (which stores
 * each event as JSON, where they have no spelling): inserted into a stream, seen through a continuous view
 * and by a pull query over the stream, before and after a restart, as PostgreSQL shows them.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const psqlRows = (server: SluiceProcess, sql: string): string => server.psql(sql, { args: ['-At'] }).stdout.trim()

describe('Infinity and NaN through the log', () => {
  const dirs: string[] = []
  let server: SluiceProcess | undefined
  afterAll(async () => {
    await server?.stop()
    for (const d of dirs) await removeDir(d)
  })

  it('round-trip from INSERT through a view and a pull query, and across a restart', async () => {
    const dataDir = await tempDataDir()
    dirs.push(dataDir)
    server = await startSluice({ dataDir, checkpointMs: 200 })
    server.psql('CREATE STREAM m (k text, x double precision, r real, xs double precision[])')
    server.psql('CREATE MATERIALIZED VIEW m_view AS SELECT k, max(x) AS hi, min(x) AS lo, count(*) AS n, max(r) AS rhi FROM m GROUP BY k')
    server.psql(
      "INSERT INTO m VALUES ('a', 'Infinity', 'Infinity', ARRAY['Infinity'::float8, 1, NULL]), ('b', '-Infinity', '-Infinity', ARRAY['-Infinity']::float8[]), ('c', 'NaN', 'NaN', ARRAY['NaN']::float8[]), ('d', 1.5, 2.5, NULL)",
    )
    const want = ['a|Infinity|Infinity|{Infinity,1,NULL}', 'b|-Infinity|-Infinity|{-Infinity}', 'c|NaN|NaN|{NaN}', 'd|1.5|2.5|'].join('\n')
    const wantView = ['a|Infinity|Infinity|1|Infinity', 'b|-Infinity|-Infinity|1|-Infinity', 'c|NaN|NaN|1|NaN', 'd|1.5|1.5|1|2.5'].join('\n')
    const readStream = (s: SluiceProcess): string => psqlRows(s, 'SELECT k, x, r, xs FROM m ORDER BY k')
    const readView = (s: SluiceProcess): string => psqlRows(s, 'SELECT k, hi, lo, n, rhi FROM m_view ORDER BY k')
    expect(readStream(server)).toBe(want)
    expect(await eventually(async () => readView(server!), (v) => v === wantView)).toBe(wantView)
    // NaN sorts above every number and Infinity, as in PostgreSQL.
    server.psql("INSERT INTO m VALUES ('a', 'NaN', 0, NULL), ('c', 'Infinity', 0, NULL)")
    const wantAfter = ['a|NaN|Infinity|2|Infinity', 'b|-Infinity|-Infinity|1|-Infinity', 'c|NaN|Infinity|2|NaN', 'd|1.5|1.5|1|2.5'].join('\n')
    expect(await eventually(async () => readView(server!), (v) => v === wantAfter)).toBe(wantAfter)

    await server.stop()
    server = await startSluice({ dataDir, checkpointMs: 200 })
    // NaN sorts after every number, as in PostgreSQL.
    expect(psqlRows(server, 'SELECT k, x, r, xs FROM m ORDER BY k, x')).toBe(
      ['a|Infinity|Infinity|{Infinity,1,NULL}', 'a|NaN|0|', 'b|-Infinity|-Infinity|{-Infinity}', 'c|Infinity|0|', 'c|NaN|NaN|{NaN}', 'd|1.5|2.5|'].join('\n'),
    )
    expect(await eventually(async () => readView(server!), (v) => v === wantAfter)).toBe(wantAfter)
  })
})
