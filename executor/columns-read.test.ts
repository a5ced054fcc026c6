import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { initParser, parseStatements } from '../parser/index.ts'
import { covers, unionRead } from './columns-read.ts'
import { Engine } from './engine.ts'

const STREAM = `CREATE STREAM ev (id BIGINT NOT NULL, kind TEXT, amount BIGINT, note TEXT, url TEXT, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (partitions = 2)`

const dirs: string[] = []
const engines: Engine[] = []
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function open(decodeThread: boolean): Promise<Engine> {
  await initParser()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-columns-read-'))
  dirs.push(dir)
  const engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 100, batchSize: 1024, decodeThread })
  engines.push(engine)
  return engine
}

async function run(engine: Engine, sql: string): Promise<void> {
  for (const p of parseStatements(sql)) {
    const s = p.statement
    if (s.kind === 'create_stream') await engine.createStream(s, p.text)
    else if (s.kind === 'create_view') await engine.createView(s, p.text)
    else if (s.kind === 'create_trigger') await engine.createTrigger(s, p.text)
    else throw new Error(`not handled here: ${s.kind}`)
  }
}

const readOf = (engine: Engine, name: string): number[] | null => {
  const r = engine.query(name)!.columnsRead
  return r === null ? null : [...r].sort((a, b) => a - b)
}

async function rowsOf(engine: Engine, view: string): Promise<string[]> {
  const out: string[] = []
  for await (const r of engine.viewRows(view)) out.push(r.map(String).join('|'))
  return out.sort()
}

describe('the columns a stream’s readers read', () => {
  it('are those the plan names, with the watermark’s; every column for joins, patterns, triggers and SELECT *', async () => {
    const engine = await open(false)
    await run(
      engine,
      `${STREAM};
      CREATE MATERIALIZED VIEW by_kind AS SELECT kind, sum(amount) AS total FROM ev GROUP BY kind;
      CREATE MATERIALIZED VIEW per_window AS SELECT count(*) FILTER (WHERE note = 'x') AS n, window_start FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY window_start;
      CREATE MATERIALIZED VIEW sessions AS SELECT id, count(*) AS n FROM SESSION(ev, ts, INTERVAL '1 minute', id) GROUP BY id, window_start;
      CREATE MATERIALIZED VIEW ranked AS SELECT id, row_number() OVER (PARTITION BY kind ORDER BY ts) AS r FROM ev;
      CREATE MATERIALIZED VIEW everything AS SELECT * FROM ev WHERE id > 0;
      CREATE MATERIALIZED VIEW per_id AS SELECT id, max(amount) AS top FROM ev GROUP BY id;
      CREATE MATERIALIZED VIEW joined AS SELECT e.url, p.top FROM ev e JOIN per_id p ON e.id = p.id;
      CREATE MATERIALIZED VIEW streaks AS SELECT * FROM ev MATCH_RECOGNIZE (PARTITION BY id ORDER BY ts MEASURES count(*) AS n PATTERN (A B) DEFINE B AS B.amount > A.amount);
      CREATE TRIGGER big AFTER INSERT ON ev FOR EACH ROW WHEN (NEW.amount > 90) EXECUTE NOTIFY big, NEW.note`,
    )
    // id 0, kind 1, amount 2, note 3, url 4, ts 5 (the watermark's column, always read).
    expect(readOf(engine, 'by_kind')).toEqual([1, 2, 5])
    expect(readOf(engine, 'per_window')).toEqual([3, 5])
    expect(readOf(engine, 'sessions')).toEqual([0, 5])
    expect(readOf(engine, 'ranked')).toEqual([0, 1, 5])
    expect(readOf(engine, 'everything')).toBeNull()
    expect(readOf(engine, 'joined')).toBeNull()
    expect(readOf(engine, 'streaks')).toBeNull()
    expect(readOf(engine, 'big')).toBeNull()
    expect(unionRead([new Set([1]), new Set([2])])).toEqual(new Set([1, 2]))
    expect(unionRead([new Set([1]), null])).toBeNull()
    expect(covers(new Set([1, 2]), new Set([2]))).toBe(true)
    expect(covers(new Set([1]), new Set([2]))).toBe(false)
    expect(covers(new Set([1]), null)).toBe(false)
    expect(covers(null, new Set([7]))).toBe(true)
  })

  it('leave the other columns unmade and still checked, with the thread and without; a view added later gets its columns', async () => {
    const results: unknown[] = []
    for (const decodeThread of [false, true]) {
      const engine = await open(decodeThread)
      await run(engine, `${STREAM}; CREATE MATERIALIZED VIEW by_kind AS SELECT kind, sum(amount) AS total, count(*) AS n FROM ev GROUP BY kind`)
      const event = (i: number): string => {
        // Every 89th record has a bad value in a column by_kind does not read: still a dead letter.
        if (i % 89 === 0) return JSON.stringify({ id: i, kind: `k${i % 3}`, amount: i, note: { not: 'text' }, url: 5, ts: '2026-12-07T10:00:00Z' }).replace('{"not":"text"}', '"\\u0000"')
        if (i % 97 === 0) return `{"id": ${i}, "kind": "k${i % 3}", "amount": ${i}, "url": "u", "note": "a\tb", "ts": "2026-12-07T10:00:00Z"}`
        return JSON.stringify({ id: i, kind: `k${i % 3}`, amount: i, note: `note ${i}`, url: `https://example.com/${i}`, ts: '2026-12-07T10:00:00Z' })
      }
      let next = 0
      const append = async (n: number): Promise<void> => {
        await engine.insertJson('ev', Array.from({ length: n }, () => event(next++)))
      }
      for (let k = 0; k < 3; k++) await append(6000)
      await engine.waitCaughtUp('by_kind', 30_000)
      // A view over the columns by_kind left out, from the start of the stream, while more comes in.
      await run(engine, `CREATE MATERIALIZED VIEW notes AS SELECT max(note) AS note, max(url) AS url, count(*) AS n FROM ev`)
      for (let k = 0; k < 3; k++) await append(6000)
      await engine.waitCaughtUp('by_kind', 30_000)
      await engine.waitCaughtUp('notes', 30_000)
      await engine.checkpoint()
      const dead = (await engine.deadLetters()).map((d) => `${d.offset}: ${d.reason}`).sort()
      results.push({ byKind: await rowsOf(engine, "by_kind"), notes: await rowsOf(engine, "notes"), dead })
      if (decodeThread) expect(engine.batchesDecodedOnThread).toBeGreaterThan(5)
    }
    expect(results[1]).toEqual(results[0])
    const first = results[0] as { byKind: string[]; notes: string[]; dead: string[] }
    // 36,000 events: every 89th a NUL in note, every 97th (not the 89th) a raw tab in a string.
    const bad = Array.from({ length: 36_000 }, (_, i) => i).filter((i) => i % 89 === 0 || i % 97 === 0)
    expect(first.dead.length).toBe(bad.length)
    const good = Array.from({ length: 36_000 }, (_, i) => i).filter((i) => i % 89 !== 0 && i % 97 !== 0)
    const want = [0, 1, 2].map((k) => {
      const of = good.filter((i) => i % 3 === k)
      return `k${k}|${of.reduce((a, b) => a + b, 0)}|${of.length}`
    })
    expect(first.byKind).toEqual(want)
    const maxOf = (xs: string[]): string => xs.reduce((a, b) => (b > a ? b : a))
    expect(first.notes).toEqual([`${maxOf(good.map((i) => `note ${i}`))}|${maxOf(good.map((i) => `https://example.com/${i}`))}|${good.length}`])
  })
})
