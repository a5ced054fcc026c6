/**
 * Clients that do not read must not grow the server. Against a real `sluice serve`, subscribers that stop
 * reading (a raw socket that never calls read, for a simple-protocol SUBSCRIBE, an extended-protocol one
 * and a COPY (SUBSCRIBE ...) TO STDOUT; a DECLAREd cursor never FETCHed) sit through 200,000 events
 * inserted from another session. The server's resident memory stays within a bound, the inserts and a
 * continuous view keep their pace, the subscribers further behind than --subscribe-max-lag are ended with
 * 53400 (the raw ones disconnected, FATAL), the one within it is paused and then gets every event in order,
 * and a node-postgres cursor that reads slowly gets every change in order.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serialize } from 'pg-protocol'
import type pg from 'pg'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'
import { startServer } from '../server/server.ts'
import { type BackendMessage, RawPg, dataRowCells, errorFields } from './helpers/raw-pg.ts'

/** Events a subscriber may fall behind by here: between what the late subscriber and the early ones miss. */
const MAX_LAG = 150_000
const WARM_UP = 10_000
const CONTROL = 40_000
const LOAD = 200_000
const BATCH = 2_000
/**
 * Resident memory the slow subscribers may add to the server's peak under the same insert load without
 * them. A paused subscriber holds at most 8,192 changes (about 1.5 MB of rows here) and its connection one
 * flush (64 KiB) beyond what the socket buffers; the five here come to under 10 MB. The rest is slack for
 * the garbage V8 has not yet collected. Without the bound, a single subscriber that never read added about
 * 200 MB over the same load, and kept it after it left.
 */
const RSS_BOUND_MB = 64
/**
 * The server's V8 old space is capped, so that its resident size follows what it keeps rather than how
 * late V8 collects: uncapped, the heap swings by up to 100 MB of garbage between major collections under
 * this load with no subscriber at all, while what survives a collection stays under 60 MB. A server that
 * kept every change for a subscriber that never reads (about 1 KB each) runs out of heap well before the
 * 200,000 events.
 */
const HEAP_CAP_MB = 128

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

/** The `id` column of each DataRow of a stream subscription (sluice_timestamp, sluice_diff, id, page, ts). */
const rowIds = (messages: readonly BackendMessage[]): number[] => messages.filter((m) => m.type === 'D').map((m) => Number(dataRowCells(m)[2]!.toString()))
/** The `id` column of each COPY text line. */
const copyIds = (messages: readonly BackendMessage[]): number[] =>
  messages
    .filter((m) => m.type === 'd')
    .map((m) => m.body.toString('utf8'))
    .join('')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number(l.split('\t')[2]))
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

/** Reads again and waits for the server to close the connection; its messages. */
async function readToClose(c: RawPg): Promise<BackendMessage[]> {
  c.socket.resume()
  await eventually(async () => c.closed, (closed) => closed, 30_000)
  return c.messages.splice(0)
}

describe('slow subscribers', () => {
  let sluice: SluiceProcess
  let db: pg.Client
  let nextId = 0

  /** Inserts `n` events in batches from the `db` session, calling `onBatch` after each; events per second. */
  const insert = async (n: number, onBatch: () => Promise<void> | void = () => {}): Promise<number> => {
    const started = Date.now()
    for (let done = 0; done < n; done += BATCH) {
      const values: string[] = []
      for (let i = 0; i < BATCH; i++, nextId++) values.push(`(${nextId}, 'p${nextId % 50}', '2026-12-01 10:00:00+00')`)
      await db.query(`INSERT INTO clicks VALUES ${values.join(',')}`)
      await onBatch()
    }
    return (n * 1000) / (Date.now() - started)
  }
  const viewTotal = async (): Promise<number> => Number((await db.query('SELECT sum(n)::bigint AS t FROM per_page')).rows[0].t)

  beforeAll(async () => {
    const nodeOptions = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --max-old-space-size=${HEAP_CAP_MB}`.trim()
    try {
      sluice = await startSluice({ checkpointMs: 200, args: ['--subscribe-max-lag', String(MAX_LAG)] })
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = nodeOptions
    }
    db = await sluice.client()
    // One partition: a stream subscription's order is then the order of the inserts.
    await db.query("CREATE STREAM clicks (id BIGINT NOT NULL, page TEXT, ts TIMESTAMPTZ NOT NULL) WITH (key = 'id', partitions = 1)")
    await db.query('CREATE MATERIALIZED VIEW per_page AS SELECT page, count(*) AS n FROM clicks GROUP BY page')
  })
  afterAll(async () => {
    await db?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test('subscribers that stop reading are paused or ended; memory, the engine and other readers are unaffected', async () => {
    const pid = sluice.child.pid!
    // The control: the same inserts with no subscriber, for the server's rate and its memory's high mark.
    let peak = rssMb(pid)
    const sample = () => {
      try {
        peak = Math.max(peak, rssMb(pid))
      } catch {
        // The server is gone (out of memory): the next query fails the test.
      }
      return peak
    }
    let sampler = setInterval(sample, 100)
    let controlPeak: number
    let controlRate: number
    try {
      await insert(WARM_UP)
      controlRate = await insert(CONTROL)
      await eventually(viewTotal, (t) => t === nextId, 20_000)
    } finally {
      clearInterval(sampler)
      controlPeak = sample()
    }
    const opened: RawPg[] = []
    const open = async () => {
      const c = await RawPg.open(sluice.port, 'analyst', 'sluice')
      opened.push(c)
      return c
    }
    const cursors: pg.Client[] = []
    try {
      // Never read once started (the socket is paused after the row description: the subscription exists).
      const simple = await open()
      simple.send(serialize.query('SUBSCRIBE clicks'))
      await simple.until('T')
      simple.socket.pause()
      const copy = await open()
      copy.send(serialize.query('COPY (SUBSCRIBE clicks) TO STDOUT'))
      await copy.until('H')
      copy.socket.pause()
      // A cursor never FETCHed while the load runs.
      const idle = await sluice.client()
      cursors.push(idle)
      await idle.query('BEGIN')
      await idle.query('DECLARE idle CURSOR FOR SUBSCRIBE clicks WITH (snapshot = false)')
      // A cursor that reads slowly: nothing until 40,000 events came, then FETCH by 5,000.
      const slow = await sluice.client()
      cursors.push(slow)
      await slow.query('BEGIN')
      await slow.query('DECLARE slow CURSOR FOR SUBSCRIBE clicks WITH (snapshot = false)')
      const slowFrom = nextId
      const slowIds: number[] = []
      let loading = true
      const slowReader = (async () => {
        await eventually(async () => nextId - slowFrom, (n) => n >= 40_000, 120_000)
        while (slowIds.length < LOAD) {
          const r = await slow.query(`FETCH 5000 slow WITH (timeout = '${loading ? 1 : 10}s')`)
          for (const row of r.rows) slowIds.push(Number(row.id))
          if (r.rows.length === 0 && !loading) break
        }
      })()

      peak = rssMb(pid)
      sampler = setInterval(sample, 100)
      let late: RawPg | null = null
      let lateFrom = 0
      const loadFrom = nextId
      let loadRate: number
      try {
        // Half way in, one more client subscribes with the extended protocol and stops reading: it stays
        // within the lag limit.
        loadRate = await insert(LOAD, async () => {
          if (nextId - loadFrom !== LOAD / 2) return
          late = await open()
          lateFrom = nextId
          late.send(
            serialize.parse({ text: 'SUBSCRIBE clicks WITH (snapshot = false)' }),
            serialize.bind({}),
            serialize.describe({ type: 'P', name: '' }),
            serialize.execute({}),
            serialize.sync(),
          )
          // The row description comes once the subscription has its starting point.
          await late.until('T')
          late.socket.pause()
        })
        loading = false
        // The view keeps up: it has every event soon after the last insert.
        await eventually(viewTotal, (t) => t === nextId, 15_000)
      } finally {
        clearInterval(sampler)
      }
      const total = nextId
      const loadPeak = sample()
      console.log(
        `inserts: ${controlRate.toFixed(0)} events/s alone, ${loadRate.toFixed(0)} events/s with the slow subscribers; ` +
          `server RSS peak ${controlPeak.toFixed(0)} MB alone, ${loadPeak.toFixed(0)} MB with them`,
      )
      expect(loadPeak - controlPeak).toBeLessThan(RSS_BOUND_MB)
      // The engine never waits for a client: the rate is the control's (within what a shared machine varies
      // by between runs; an engine held up by a full socket would stall outright).
      expect(loadRate).toBeGreaterThan(controlRate / 3)

      // The slow reader got every event since it declared its cursor, once, in order.
      await slowReader
      expect(slowIds).toEqual(range(slowFrom, total))

      // The cursor never FETCHed fell more than the limit behind: FETCH says so.
      await expect(idle.query('FETCH 10 idle')).rejects.toMatchObject({ code: '53400', message: expect.stringContaining('subscriber fell behind') })
      await idle.query('ROLLBACK')

      // The raw clients that never read were disconnected, after what the socket held, with a FATAL 53400.
      for (const [c, ids] of [
        [simple, rowIds],
        [copy, copyIds],
      ] as const) {
        const messages = await readToClose(c)
        const error = messages.at(-1)!
        expect(error.type).toBe('E')
        expect(errorFields(error)).toMatchObject({ S: 'FATAL', C: '53400' })
        expect(errorFields(error).M).toMatch(/^subscriber fell behind: \d+ events not yet read, more than the limit of 150000$/)
        // What it did get is the start of the stream, in order (its snapshot, then live events).
        const got = ids(messages)
        expect(got.length).toBeGreaterThan(0)
        expect(got).toEqual(range(0, got.length))
      }

      // The extended-protocol client within the limit was only paused: reading again, it gets every event
      // since it subscribed, in order.
      const lateClient = late! as RawPg
      lateClient.socket.resume()
      await eventually(async () => lateClient.messages.filter((m) => m.type === 'D').length, (n) => n >= total - lateFrom, 30_000)
      expect(rowIds(lateClient.messages)).toEqual(range(lateFrom, total))
      expect(lateClient.closed).toBe(false)
      lateClient.close()
      await slow.query('COMMIT')

      // With the slow clients gone the memory they could have held is not kept, and a new subscriber works.
      await eventually(async () => opened.every((c) => c.closed), (all) => all, 10_000)
      const after = rssMb(pid)
      console.log(`server RSS ${after.toFixed(0)} MB once the slow clients left`)
      expect(after - controlPeak).toBeLessThan(RSS_BOUND_MB)
      const fresh = await open()
      fresh.send(serialize.query('COPY (SUBSCRIBE per_page) TO STDOUT'))
      const lines = async () =>
        fresh.messages
          .filter((m) => m.type === 'd')
          .map((m) => m.body.toString('utf8'))
          .join('')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => l.split('\t').slice(1))
      await eventually(lines, (l) => l.length === 50)
      await db.query(`INSERT INTO clicks VALUES (${nextId++}, 'p0', '2026-12-01 10:00:00+00')`)
      const n0 = total / 50
      await eventually(lines, (l) => l.length === 52)
      expect((await lines()).slice(50)).toEqual([
        ['-1', 'p0', String(n0)],
        ['1', 'p0', String(n0 + 1)],
      ])
    } finally {
      for (const c of opened) c.socket.destroy()
      for (const c of cursors) await c.end().catch(() => {})
    }
  }, 300_000)

  test('--subscribe-max-lag must be a whole number of events', async () => {
    const dir = await tempDataDir()
    try {
      for (const bad of [-1, 1.5, Number.NaN]) {
        await expect(startServer({ dataDir: dir, port: 0, subscribeMaxLag: bad })).rejects.toMatchObject({ sqlstate: '22023', message: expect.stringContaining('--subscribe-max-lag') })
      }
    } finally {
      await removeDir(dir)
    }
  })
})
