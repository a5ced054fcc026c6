/**
 * HTTP ingest's Idempotency-Key across kill -9 of the server (docs/operations.md, "Idempotency-Key across
 * a crash"): a batch's key is committed with its records in the stream's log, not with the next checkpoint
 * (checkpoints are a minute apart here, so every kill lands between two), so a retry after the restart is
 * answered from memory and not appended again, and a batch the crash cut off before its commit is appended
 * by its retry: exactly once, whatever the moment of the kill.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'

const STREAM = 'CREATE STREAM taps (batch INT NOT NULL, seq INT NOT NULL, ts TIMESTAMPTZ NOT NULL)'
const VIEW = 'CREATE MATERIALIZED VIEW per_batch AS SELECT batch, count(*) AS n, count(DISTINCT seq) AS distinct_seq FROM taps GROUP BY batch'
const PER_BATCH = 50

const body = (batch: number, n = PER_BATCH): string =>
  Array.from({ length: n }, (_, seq) => JSON.stringify({ batch, seq, ts: new Date(Date.UTC(2026, 11, 7, 10, 0, seq)).toISOString() })).join('\n')

interface Answer {
  readonly status: number
  readonly body: unknown
  readonly replayed: string | null
}

async function post(sluice: SluiceProcess, batch: number, perBatch = PER_BATCH): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/taps`, { method: 'POST', body: body(batch, perBatch), headers: { 'idempotency-key': `taps-${batch}` } })
  return { status: res.status, body: await res.json(), replayed: res.headers.get('idempotent-replayed') }
}

/** The stream and its view, checkpointed so that a restart finds them. */
async function createTaps(sluice: SluiceProcess): Promise<void> {
  const c = await sluice.client()
  try {
    for (const sql of [STREAM, VIEW, 'CHECKPOINT']) await c.query(sql)
  } finally {
    await c.end()
  }
}

/**
 * A server of the describe block's own on a fresh data directory (checkpoints a minute apart), with the
 * stream and its view; `start` (re)starts it on that directory, handing each process to `set`.
 */
function tapsServer(set: (s: SluiceProcess) => void, env: Readonly<Record<string, string>> = {}): () => Promise<void> {
  let dataDir = ''
  let current: SluiceProcess | undefined
  const start = async () => set((current = await startSluice({ dataDir, http: true, checkpointMs: 60_000, env })))
  beforeAll(async () => {
    dataDir = await tempDataDir()
    await start()
    await createTaps(current!)
  }, 120_000)
  afterAll(async () => {
    await current?.stop()
    if (dataDir) await removeDir(dataDir)
  })
  return start
}

describe('Idempotency-Key across kill -9', () => {
  let sluice: SluiceProcess
  const start = tapsServer((s) => (sluice = s))
  const perBatch = async (): Promise<Map<number, number>> => {
    const c = await sluice.client()
    try {
      return new Map((await c.query('SELECT batch, n FROM per_batch')).rows.map((r) => [Number(r.batch), Number(r.n)]))
    } finally {
      await c.end()
    }
  }
  const logged = async (): Promise<number> => {
    const c = await sluice.client()
    try {
      return Number((await c.query("SELECT events FROM sluice_streams WHERE name = 'taps'")).rows[0].events)
    } finally {
      await c.end()
    }
  }


  test('an answered batch, then kill -9 before any checkpoint: its retry is answered again and not appended', async () => {
    const first = await post(sluice, 1)
    expect(first).toMatchObject({ status: 200, body: { inserted: PER_BATCH, rejected: 0 }, replayed: null })
    await sluice.kill('SIGKILL')
    await start()
    const retry = await post(sluice, 1)
    expect(retry).toEqual({ ...first, replayed: 'true' })
    expect(await logged()).toBe(PER_BATCH)
    // The view, replayed from the log after the crash, counts the batch once.
    const counts = await eventually(perBatch, (m) => m.get(1) === PER_BATCH, 60_000)
    expect(counts.get(1)).toBe(PER_BATCH)
  }, 180_000)

  test('kill -9 with keyed batches under way: every batch is appended exactly once, answered or cut off', async () => {
    const batches = Array.from({ length: 60 }, (_, i) => 100 + i)
    const answered = new Map<number, Answer>()
    // Batches go in waves of six; the server is killed once a third have their answers.
    const sending = (async () => {
      for (let i = 0; i < batches.length; i += 6) {
        const wave = batches.slice(i, i + 6)
        const answers = await Promise.allSettled(wave.map((b) => post(sluice, b)))
        answers.forEach((a, k) => {
          if (a.status === 'fulfilled' && a.value.status === 200) answered.set(wave[k]!, a.value)
        })
        if (answers.some((a) => a.status === 'rejected')) return
      }
    })()
    await eventually(async () => answered.size, (n) => n >= 20, 60_000)
    await sluice.kill('SIGKILL')
    await sending
    const cutOff = batches.filter((b) => !answered.has(b))
    expect(answered.size).toBeGreaterThanOrEqual(20)
    expect(cutOff.length).toBeGreaterThan(0)

    await start()
    // Every client retries every batch it has no answer for, and (as clients do) some it has one for.
    for (const b of batches) {
      const again = await post(sluice, b)
      expect(again.status, `batch ${b}`).toBe(200)
      const first = answered.get(b)
      if (first !== undefined) expect(again, `batch ${b}`).toEqual({ ...first, replayed: 'true' })
    }
    const counts = await eventually(perBatch, (m) => batches.every((b) => (m.get(b) ?? 0) >= PER_BATCH), 60_000)
    for (const b of batches) expect(counts.get(b), `batch ${b}`).toBe(PER_BATCH)
    // Each batch in the log once (batch 1 from the first test included).
    expect(await logged()).toBe(PER_BATCH * (1 + batches.length))
    console.log(`kill -9 under way: ${answered.size} batches answered before the kill, ${cutOff.length} cut off`)
  }, 300_000)
})

/**
 * The window that used to append a retry twice: the batch committed to the log, the process killed before
 * the state store got its key. A test-only switch kills the server there (SIGKILL, at random, ~1 keyed
 * batch in 20); clients retry every batch until it is answered, across all the restarts.
 */
describe('kill -9 between the append and the key store, over and over', () => {
  const BATCHES = 300
  const SMALL = 10
  const CLIENTS = 3
  let sluice: SluiceProcess
  let restarting: Promise<void> | null = null
  let restarts = 0
  const start = tapsServer((s) => (sluice = s), { SLUICE_TEST_KILL_BEFORE_KEY_SAVE: '0.05' })
  /** The server up again after a kill, restarted once however many clients saw it go. */
  const restart = async (dead: SluiceProcess): Promise<void> => {
    if (sluice !== dead) return
    restarting ??= (async () => {
      await dead.kill('SIGKILL')
      restarts++
      await start()
      restarting = null
    })()
    await restarting
  }


  test('a few hundred keyed batches: none lost, none appended twice', async () => {
    const answers = new Map<number, Answer[]>()
    let next = 0
    let replayedAfterKill = 0
    const client = async () => {
      for (let b = next++; b < BATCHES; b = next++) {
        let failed = false
        for (let attempt = 0; ; attempt++) {
          expect(attempt, `batch ${b} retried too often`).toBeLessThan(50)
          const target = sluice
          try {
            const a = await post(target, b, SMALL)
            expect(a.status, `batch ${b}`).toBe(200)
            answers.set(b, [...(answers.get(b) ?? []), a])
            if (failed && a.replayed === 'true') replayedAfterKill++
            break
          } catch (err) {
            // The server was killed under this request: wait for it to come back, then send the batch again.
            if (err instanceof Error && err.name === 'AssertionError') throw err
            failed = true
            await eventually(async () => target.child.exitCode !== null || target.child.signalCode !== null, (gone) => gone, 30_000)
            await restart(target)
          }
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, client))
    expect(answers.size).toBe(BATCHES)
    // The switch fired: the window was hit, and batches it cut off after their commit were replayed.
    expect(restarts).toBeGreaterThanOrEqual(5)
    expect(replayedAfterKill).toBeGreaterThan(0)
    for (const [b, [a]] of answers) expect(a!.body, `batch ${b}`).toEqual({ inserted: SMALL, rejected: 0, errors: [] })

    const c = await sluice.client()
    try {
      const events = Number((await c.query("SELECT events FROM sluice_streams WHERE name = 'taps'")).rows[0].events)
      expect(events).toBe(BATCHES * SMALL)
      const counts = await eventually(
        async () => new Map((await c.query('SELECT batch, n, distinct_seq FROM per_batch')).rows.map((r) => [Number(r.batch), [Number(r.n), Number(r.distinct_seq)]])),
        (m) => m.size === BATCHES && [...m.values()].every(([n]) => n === SMALL),
        60_000,
      )
      for (let b = 0; b < BATCHES; b++) expect(counts.get(b), `batch ${b}`).toEqual([SMALL, SMALL])
    } finally {
      await c.end()
    }
    console.log(`kill -9 between append and key store: ${restarts} kills, ${replayedAfterKill} retries answered from the log's keys, ${BATCHES} batches each once`)
  }, 600_000)
})
