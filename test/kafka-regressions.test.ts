/**
 * Regressions found by testers, against a real broker (test/helpers/kafka.ts) with records produced by kcat:
 * a view created on a Kafka stream that other views already read starts from the beginning of the stream,
 * as documented (it started at the others' position); and the documented closed-windows sink works when
 * the windows' `window_end` is selected (it failed with XX000 "Invalid time value").
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initParser, parseStatements } from '../parser/index.ts'
import { Engine } from '../executor/engine.ts'

const streamSql = (topic: string, name = 'clicks') => `CREATE STREAM ${name} (user_id INT NOT NULL, page TEXT, ts TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = '${topic}', format = 'json', start = 'earliest')`

const click = (user: number, page: string, second: number) => JSON.stringify({ user_id: user, page, ts: new Date(Date.UTC(2026, 11, 1, 10, 0, second)).toISOString() })

describe('Kafka regressions', () => {
  let kafka: KafkaBroker
  let sluice: SluiceProcess
  let client: pg.Client
  beforeAll(async () => {
    kafka = await sharedKafka()
    sluice = await startSluice({ kafka: kafka.brokers, checkpointMs: 100 })
    client = await sluice.client()
  }, 300_000)
  afterAll(async () => {
    await client?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    await kafka?.stop()
  })

  const count = async (view: string): Promise<number> => Number((await client.query(`SELECT coalesce(sum(n), 0) AS n FROM ${view}`)).rows[0].n)

  test('a view created on a Kafka stream that other views already read starts from the beginning of the stream', async () => {
    const topic = `late-view-${Date.now()}`
    await kafka.createTopic(topic, 2)
    await client.query(streamSql(topic))
    await client.query('CREATE MATERIALIZED VIEW first_counts AS SELECT page, count(*) AS n FROM clicks GROUP BY page')
    await kafka.produce(topic, Array.from({ length: 300 }, (_, i) => click(i, `p${i % 3}`, i % 60)))
    await eventually(() => count('first_counts'), (n) => n === 300, 60_000)
    // The first view has read (and the fetcher released) every record so far; the new view still sees them.
    await client.query('CREATE MATERIALIZED VIEW late_counts AS SELECT page, count(*) AS n FROM clicks GROUP BY page')
    await kafka.produce(topic, Array.from({ length: 100 }, (_, i) => click(1000 + i, `p${i % 3}`, i % 60)))
    await eventually(() => count('first_counts'), (n) => n === 400, 60_000)
    const late = await eventually(() => count('late_counts'), (n) => n === 400, 60_000)
    expect(late).toBe(400)
    // Per page the two agree, and the first view counted nothing twice while the stream was read again.
    const rows = async (v: string) => (await client.query(`SELECT page, n FROM ${v} ORDER BY page`)).rows.map((r) => `${r.page}=${r.n}`).join(',')
    expect(await rows('late_counts')).toBe(await rows('first_counts'))
    expect(await rows('first_counts')).toBe('p0=134,p1=133,p2=133')
  }, 180_000)

  test('a sink created on a Kafka stream that a view already read gets every record of the stream, once', async () => {
    // The sink had no one to fetch the released records again for it: its first read got an empty batch
    // that ended at the fetcher's position, and it moved over the 300 records the view had read.
    const [topic, out] = [`late-sink-${Date.now()}`, `late-sink-out-${Date.now()}`]
    await kafka.createTopic(topic, 2)
    await kafka.createTopic(out, 1)
    await client.query(streamSql(topic, 'sink_clicks'))
    await client.query('CREATE MATERIALIZED VIEW sink_first AS SELECT page, count(*) AS n FROM sink_clicks GROUP BY page')
    await kafka.produce(topic, Array.from({ length: 300 }, (_, i) => click(i, `p${i % 3}`, i % 60)))
    await eventually(() => count('sink_first'), (n) => n === 300, 60_000)
    await client.query(`CREATE SINK sink_copy FROM sink_clicks INTO KAFKA TOPIC '${out}'`)
    // And a view right after it, while the fetcher is being sent back for the sink.
    await client.query('CREATE MATERIALIZED VIEW sink_late AS SELECT page, count(*) AS n FROM sink_clicks GROUP BY page')
    await kafka.produce(topic, Array.from({ length: 100 }, (_, i) => click(1000 + i, `p${i % 3}`, i % 60)))
    await eventually(() => count('sink_late'), (n) => n === 400, 60_000)
    const users = async () => kafka.consume(out).map((r) => (JSON.parse(r.value!) as { user_id: number }).user_id)
    await eventually(async () => (await users()).length, (n) => n >= 400, 60_000)
    await client.query('CHECKPOINT')
    const got = await users()
    expect(got.length).toBe(400)
    expect(new Set(got).size).toBe(400)
    expect(await count('sink_first')).toBe(400)
  }, 180_000)

  test("the docs' closed-windows sink, with window_end selected, writes each closed window once, also when created after the windows closed", async () => {
    const [early, late] = [`closed-ends-${Date.now()}`, `closed-ends-late-${Date.now()}`]
    await kafka.createTopic(early, 1)
    await kafka.createTopic(late, 1)
    await client.query("CREATE STREAM taps (user_id INT NOT NULL, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (key = 'user_id')")
    await client.query(`CREATE MATERIALIZED VIEW taps_per_10s AS SELECT window_start, window_end, count(*) AS n
      FROM TUMBLE(taps, ts, INTERVAL '10 seconds') GROUP BY window_start, window_end EMIT ON WINDOW CLOSE`)
    await client.query('CREATE MATERIALIZED VIEW closed_taps AS SELECT * FROM taps_per_10s')
    // One sink before the events (it gets the windows as they close), one after (it starts with the rows).
    await client.query(`CREATE SINK closed_taps_early FROM closed_taps INTO KAFKA TOPIC '${early}'`)
    const at = (s: number) => `'${new Date(Date.UTC(2026, 10, 23, 10, 0, s)).toISOString()}'`
    // Windows 10:00:00 (3 taps), :10 (2), :20 (1); the tap at :31 closes the first three.
    await client.query(`INSERT INTO taps VALUES (1, ${at(1)}), (2, ${at(2)}), (3, ${at(9)}), (1, ${at(11)}), (2, ${at(15)})`)
    await client.query(`INSERT INTO taps VALUES (3, ${at(22)}), (4, ${at(31)})`)
    await eventually(async () => (await client.query('SELECT count(*)::int AS n FROM closed_taps')).rows[0].n, (n) => n === 3)
    await client.query('CHECKPOINT')
    await client.query(`CREATE SINK closed_taps_late FROM closed_taps INTO KAFKA TOPIC '${late}'`)
    const read = (topic: string) => kafka.consume(topic).map((r) => JSON.parse(r.value!) as { window_start: string; window_end: string; n: number })
    const windows = [
      { window_start: '2026-11-23T10:00:00.000Z', window_end: '2026-11-23T10:00:10.000Z', n: 3 },
      { window_start: '2026-11-23T10:00:10.000Z', window_end: '2026-11-23T10:00:20.000Z', n: 2 },
      { window_start: '2026-11-23T10:00:20.000Z', window_end: '2026-11-23T10:00:30.000Z', n: 1 },
    ]
    for (const topic of [early, late]) {
      await eventually(async () => read(topic).length, (n) => n >= 3, 60_000)
      expect(read(topic)).toEqual(windows)
    }
    const sinks = (await client.query("SELECT name, status, records_out, last_error FROM sluice_sinks WHERE name LIKE 'closed_taps_%' ORDER BY name")).rows
    expect(sinks).toEqual([
      { name: 'closed_taps_early', status: 'running', records_out: '3', last_error: null },
      { name: 'closed_taps_late', status: 'running', records_out: '3', last_error: null },
    ])
  }, 120_000)

  test('records arriving while the engine is idle are taken at once, not at its next checkpoint', async () => {
    // An engine whose checkpoints are 30 s apart, read without queries (a pull query wakes the loop, so a
    // server with clients polling hid this): an idle loop slept until its next checkpoint, so a record
    // produced into a quiet topic waited up to 30 s. Each arrival must now wake it.
    await initParser()
    const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-idle-'))
    const engine = await Engine.open({ dataDir: dir, checkpointIntervalMs: 30_000, kafkaBrokers: [kafka.brokers] })
    try {
      const topic = `idle-wake-${Date.now()}`
      await kafka.createTopic(topic, 1)
      for (const p of parseStatements(`${streamSql(topic)}; CREATE MATERIALIZED VIEW idle_counts AS SELECT page, count(*) AS n FROM clicks GROUP BY page`)) {
        const st = p.statement
        if (st.kind === 'create_stream') await engine.createStream(st, p.text)
        else if (st.kind === 'create_view') await engine.createView(st, p.text)
      }
      const taken = async () => engine.query('idle_counts')!.eventsIn
      const waits: number[] = []
      for (let i = 1; i <= 3; i++) {
        // Quiet first, so that the loop has gone to sleep.
        await new Promise((r) => setTimeout(r, 1500))
        const t0 = Date.now()
        await kafka.produce(topic, [click(i, 'p', i)])
        await eventually(taken, (n) => n === i, 60_000)
        waits.push(Date.now() - t0)
      }
      // Well under the 30 s between checkpoints (generous for a loaded machine: kcat's start and the fetch
      // are in it too).
      expect(Math.max(...waits), `waits ${waits.join(', ')} ms`).toBeLessThan(10_000)
    } finally {
      await engine.close()
      await rm(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
