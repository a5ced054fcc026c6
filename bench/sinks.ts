/**
 * Rows per second into PostgreSQL through the sink's writer (the path every checkpointed batch takes:
 * outbox records -> one transaction with COPY, the upsert's staging table and the progress row), against
 * psql's own `\copy` of the same rows (the ceiling). Two cases:
 *   - upsert: a profile of N keys (player_id, games, total, last_seen) into a table with a primary key, first
 *     into the empty table, then the same keys again with new values (every row an update);
 *   - append: N events into a table without one.
 * The records are made as the sink runtime makes them (JSON rows), in transactions of 100,000 records as
 * it delivers a backlog. Usage (PostgreSQL on 127.0.0.1:5432, user postgres, trust):
 *   npm run bench:sinks                      # 1M rows each
 *   npm run bench:sinks -- --rows 200000 --runs 1   # best of --runs interleaved runs (3 by default)
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Types, type Column } from '../common/types.ts'
import type { SinkDef } from '../planner/sink-plan.ts'
import { PostgresSinkTarget } from '../executor/connectors/postgres-sink.ts'
import type { SinkBatch, SinkRecord } from '../executor/connectors/sink-target.ts'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } } })
const ROWS = Number(values.rows)
const RUNS = Number(values.runs)
const PER_TRANSACTION = 100_000
const DB = `sluice_bench_sinks_${process.pid}`
const URL = `postgresql://postgres@127.0.0.1:5432/${DB}`
const BASE = Date.parse('2026-12-01T00:00:00Z')

const col = (name: string, type: Column['type']): Column => ({ name, type, nullable: true })
const PROFILE = [col('player_id', Types.int8), col('games', Types.int8), col('total', Types.numeric), col('last_seen', Types.timestamptz)]
const EVENTS = [col('id', Types.int8), col('player_id', Types.int8), col('type', Types.text), col('amount', Types.int4), col('ts', Types.timestamptz)]

function def(name: string, columns: readonly Column[], mode: 'upsert' | 'append', id: number): SinkDef {
  return { kind: 'sink', id, name, from: name, mode, delivery: 'exactly_once', topic: name, target: { kind: 'postgres', table: name, connection: URL }, keyColumns: mode === 'upsert' ? [0] : [], columns, sql: '' }
}

function profileRow(i: number): Record<string, unknown> {
  return { player_id: i, games: (i % 50) + 1, total: String(i * 3), last_seen: new Date(BASE + i).toISOString() }
}

function eventRow(i: number): Record<string, unknown> {
  return { id: i, player_id: i % 10_000, type: i % 3 === 0 ? 'fight' : 'trade', amount: i % 1000, ts: new Date(BASE + i).toISOString() }
}

function records(make: (i: number) => Record<string, unknown>, keyed: boolean): SinkBatch[] {
  const batches: SinkBatch[] = []
  for (let start = 0; start < ROWS; start += PER_TRANSACTION) {
    const recs: SinkRecord[] = []
    for (let i = start; i < Math.min(ROWS, start + PER_TRANSACTION); i++) recs.push({ key: keyed ? String(i) : null, value: JSON.stringify(make(i)) })
    batches.push({ batch: batches.length, records: recs })
  }
  return batches
}

function copyText(make: (i: number) => Record<string, unknown>, columns: readonly Column[]): string {
  let out = ''
  for (let i = 0; i < ROWS; i++) {
    const o = make(i)
    out += `${columns.map((c) => String(o[c.name])).join('\t')}\n`
  }
  return out
}

function psql(sql: string): number {
  const t0 = performance.now()
  const r = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', DB, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  return performance.now() - t0
}

async function sinkRun(client: pg.Client, d: SinkDef, batches: readonly SinkBatch[]): Promise<number> {
  const target = await PostgresSinkTarget.open(d, URL, `bench-${d.name}`, true)
  const t0 = performance.now()
  // As the sink runtime does with a backlog: one delivery per transaction-sized group of batches, in order.
  for (const b of batches) await target.deliver([b])
  const ms = performance.now() - t0
  await target.close()
  const n = Number((await client.query(`SELECT count(*) AS n FROM ${d.name}`)).rows[0].n)
  if (n !== ROWS) throw new Error(`${d.name}: ${n} rows, expected ${ROWS}`)
  return ms
}

const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
await admin.connect()
await admin.query(`CREATE DATABASE ${DB}`)
const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-sinks-'))
const client = new pg.Client({ connectionString: URL })
await client.connect()
try {
  const results: string[] = []
  for (const [name, columns, mode, make] of [
    ['profile', PROFILE, 'upsert', profileRow],
    ['events', EVENTS, 'append', eventRow],
  ] as const) {
    const file = join(dir, `${name}.tsv`)
    await writeFile(file, copyText(make, columns))
    const ddl = columns.map((c) => `${c.name} ${c.type.name}`).join(', ')
    const batches = records(make, mode === 'upsert')
    // Interleaved runs, the best of each kept: on a shared machine the load changes from one second to the next.
    let copyMs = Infinity
    let sinkMs = Infinity
    let sinkCpuMs = Infinity
    let updateMs = Infinity
    for (let run = 0; run < RUNS; run++) {
      await client.query(`DROP TABLE IF EXISTS ${name}_copy, ${name}, sluice_sink_progress`)
      await client.query(`CREATE TABLE ${name}_copy (${ddl}${mode === 'upsert' ? `, PRIMARY KEY (${columns[0]!.name})` : ''})`)
      copyMs = Math.min(copyMs, psql(`\\copy ${name}_copy FROM '${file}'`))
      const cpu0 = process.cpuUsage()
      sinkMs = Math.min(sinkMs, await sinkRun(client, def(name, columns, mode, mode === 'upsert' ? 1 : 2), batches))
      const cpu = process.cpuUsage(cpu0)
      sinkCpuMs = Math.min(sinkCpuMs, (cpu.user + cpu.system) / 1000)
      if (mode === 'upsert') {
        // The same keys again with new values: every row an update (the staging path).
        const again = records((i) => ({ ...make(i), games: 1000 + i }), true).map((b) => ({ ...b, batch: b.batch + batches.length }))
        updateMs = Math.min(updateMs, await sinkRun(client, def(name, columns, mode, 1), again))
      }
    }
    const copyRps = ROWS / (copyMs / 1000)
    const sinkRps = ROWS / (sinkMs / 1000)
    console.log(`${name} (${mode}): psql \\copy ${Math.round(copyRps).toLocaleString('en-US')} rows/s, sink ${Math.round(sinkRps).toLocaleString('en-US')} rows/s, ratio ${(sinkRps / copyRps).toFixed(2)}; Sluice's own CPU ${Math.round((sinkCpuMs * 1e6) / ROWS)} ns/row`)
    if (mode === 'upsert') {
      const updateRps = ROWS / (updateMs / 1000)
      console.log(`${name} (upsert, every key already there): sink ${Math.round(updateRps).toLocaleString('en-US')} rows/s, ratio ${(updateRps / copyRps).toFixed(2)}`)
      results.push(`RESULT sink_upsert_existing rows=${ROWS} runs=${RUNS} copy_rps=${Math.round(copyRps)} sink_rps=${Math.round(updateRps)} ratio=${(updateRps / copyRps).toFixed(2)}`)
    }
    results.push(`RESULT sink_${mode} rows=${ROWS} runs=${RUNS} copy_rps=${Math.round(copyRps)} sink_rps=${Math.round(sinkRps)} ratio=${(sinkRps / copyRps).toFixed(2)} sluice_cpu_ns_per_row=${Math.round((sinkCpuMs * 1e6) / ROWS)}`)
  }
  for (const r of results) console.log(r)
} finally {
  await client.end()
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)
  await admin.end()
  await rm(dir, { recursive: true, force: true })
}
