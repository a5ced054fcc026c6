/**
 * A full disk under a real server: writes are refused with 53100 and keep nothing, reads stay whole, and
 * ingest resumes by itself once there is room. The data directory sits on a small tmpfs the test mounts
 * (it needs root, as CI has); where that is impossible the test says so and skips.
 */
import { spawnSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const ROWS_PER_INSERT = 100
const PAD = 'x'.repeat(2000)

describe('a full disk', () => {
  let root: string
  let mnt: string
  let mounted = false
  let server: SluiceProcess
  let client: pg.Client

  beforeAll(async () => {
    root = await tempDataDir()
    mnt = join(root, 'small')
    await mkdir(mnt)
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]).status === 0
    if (!mounted) {
      console.log('disk-full: skipped: cannot mount a small tmpfs here (needs root)')
      return
    }
    server = await startSluice({ dataDir: join(mnt, 'data'), checkpointMs: 200 })
    client = await server.client()
    await client.query(`CREATE STREAM s (id BIGINT NOT NULL, pad TEXT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 4)`)
    await client.query('CREATE MATERIALIZED VIEW per_id AS SELECT id, count(*) AS n FROM s GROUP BY id')
  })

  afterAll(async () => {
    await client?.end().catch(() => undefined)
    await server?.kill()
    if (mounted) spawnSync('umount', ['-l', mnt])
    await removeDir(root)
  })

  const insert = (first: number): Promise<unknown> => {
    const values = Array.from({ length: ROWS_PER_INSERT }, (_, i) => `(${first + i}, '${PAD}', now())`).join(', ')
    return client.query(`INSERT INTO s VALUES ${values}`)
  }

  const total = async (): Promise<number> => Number((await client.query('SELECT coalesce(sum(n), 0) AS n FROM per_id')).rows[0].n)

  it('INSERT and COPY answer 53100 once the disk is full, keep none of their rows, and ingest resumes when space returns', async () => {
    if (!mounted) return
    let accepted = 0
    let failure: { code?: string; message?: string } | null = null
    for (let i = 0; i < 400 && failure === null; i++) {
      try {
        await insert(i * ROWS_PER_INSERT)
        accepted++
      } catch (err) {
        failure = err as { code?: string; message?: string }
      }
    }
    expect(failure).toMatchObject({ code: '53100' })
    expect(failure!.message).toMatch(/no space left on device/)
    // Each accepted INSERT is counted whole; the refused one left nothing (all partitions or none).
    await eventually(total, (n) => n === accepted * ROWS_PER_INSERT)
    // COPY on a full disk: refused as a whole too.
    const lines = Array.from({ length: 500 }, (_, i) => `${1_000_000 + i}\t${PAD}\t2026-12-06 10:00:00+00`).join('\n') + '\n'
    const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-c', 'COPY s FROM STDIN'], { input: lines, encoding: 'utf8' })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(/53100/)
    expect(await total()).toBe(accepted * ROWS_PER_INSERT)
    // The server still answers reads, and knows the view is whole.
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])

    // Room again: the same statements go through without restarting anything.
    expect(spawnSync('mount', ['-o', 'remount,size=256m', mnt]).status).toBe(0)
    await insert(5_000_000)
    const ok = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'analyst', '-d', 'sluice', '-v', 'ON_ERROR_STOP=1', '-c', 'COPY s FROM STDIN'], { input: lines, encoding: 'utf8' })
    expect(ok.stderr).toBe('')
    expect(ok.stdout).toMatch(/COPY 500/)
    await eventually(total, (n) => n === accepted * ROWS_PER_INSERT + ROWS_PER_INSERT + 500)
    await client.query('CHECKPOINT')
    await client.end()

    // A clean stop exits 0, and everything acknowledged is there after a restart.
    await server.stop()
    expect(server.child.exitCode).toBe(0)
    server = await startSluice({ dataDir: join(mnt, 'data'), checkpointMs: 200 })
    client = await server.client()
    await eventually(total, (n) => n === accepted * ROWS_PER_INSERT + ROWS_PER_INSERT + 500)
  })
})

describe('a full disk under checkpoints', () => {
  let root: string
  let mnt: string
  let mounted = false
  let server: SluiceProcess | undefined

  beforeAll(async () => {
    root = await tempDataDir()
    mnt = join(root, 'small')
    await mkdir(mnt)
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]).status === 0
    if (!mounted) console.log('disk-full: skipped: cannot mount a small tmpfs here (needs root)')
  })

  afterAll(async () => {
    await server?.kill()
    if (mounted) spawnSync('umount', ['-l', mnt])
    await removeDir(root)
  })

  it('a failed checkpoint loses nothing: the engine says degraded, refuses events with 53100, and recovers by itself when space returns', async () => {
    if (!mounted) return
    // Leave a few MB, so that the log takes events and RocksDB then finds no room for the checkpoint.
    const filler = join(mnt, 'filler')
    expect(spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=60']).status).toBe(0)
    server = await startSluice({ dataDir: join(mnt, 'data'), checkpointMs: 60_000 })
    let client = await server.client()
    await client.query(`CREATE STREAM s (id BIGINT NOT NULL, pad TEXT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 4)`)
    await client.query('CREATE MATERIALIZED VIEW per_id AS SELECT id, last_value(pad) AS p, count(*) AS n FROM s GROUP BY id')
    const pad = 'y'.repeat(500)
    const batch = (first: number, n: number): string => `INSERT INTO s VALUES ${Array.from({ length: n }, (_, i) => `(${first + i}, '${pad}', now())`).join(', ')}`
    let accepted = 0
    let failure: { code?: string; message?: string } | null = null
    for (let i = 0; i < 40 && failure === null; i++) {
      try {
        await client.query(batch(i * 1000, 1000))
        accepted++
        // A checkpoint after each, so that the one that finds no room is a checkpoint, not an append.
        await client.query('CHECKPOINT')
      } catch (err) {
        failure = err as { code?: string; message?: string }
      }
    }
    expect(failure).toMatchObject({ code: '53100' })
    const status = async (): Promise<string> => (await client.query(`SELECT status FROM sluice_queries WHERE name = 'per_id'`)).rows[0].status
    expect(failure!.message).toMatch(/checkpoint/)
    expect(await status()).toBe('degraded')
    // While checkpoints fail, events are refused (they could only pile up in memory), with 53100.
    await expect(client.query(batch(900_000, 10))).rejects.toMatchObject({ code: '53100' })
    const total = async (): Promise<number> => Number((await client.query('SELECT coalesce(sum(n), 0) AS n FROM per_id')).rows[0].n)

    // Room again: checkpoints resume by themselves and so does ingest, without a restart.
    spawnSync('rm', ['-f', filler])
    await eventually(status, (s) => s === 'running', 20_000)
    await client.query(batch(1_000_000, 1000))
    await client.query('CHECKPOINT')
    await eventually(total, (n) => n === (accepted + 1) * 1000)
    await client.end()

    // Everything acknowledged is there after a kill -9.
    await server.kill()
    server = await startSluice({ dataDir: join(mnt, 'data'), checkpointMs: 200 })
    client = await server.client()
    await eventually(total, (n) => n === (accepted + 1) * 1000)
    await client.end()
  }, 120_000)
})
