/**
 * One bad event never poisons a stream, on a real `sluice serve` with HTTP ingest and a files directory:
 * event times that are NaN, infinite or out of range go to sluice_dead_letters (HTTP, files) with a reason
 * naming the column and the value, and never become a watermark, so the valid events after them are counted
 * by a TUMBLE view, also after a restart. INSERT and COPY refuse bad text with the SQLSTATE the real
 * PostgreSQL at 127.0.0.1:5432 gives for the same text, and nothing of the statement is appended. The HTTP
 * answer counts accepted and rejected records; an Idempotency-Key appends a retried batch once. A watermark
 * can be inspected (sluice_watermarks) and reset by an admin. Kafka topics get the same treatment as HTTP.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, writeFile, appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { eventually, removeDir, startSluice, tempDataDir, type SluiceProcess } from './helpers/sluice-process.ts'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' }

const STREAM = `CREATE STREAM ev (id INT, name TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1 second')`
const VIEW = `CREATE MATERIALIZED VIEW per_minute AS SELECT window_start, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1 minute') GROUP BY window_start, window_end`
const FILE_STREAM = `CREATE STREAM fev (id INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'file', path = 'fev.jsonl')`
const FILE_VIEW = `CREATE MATERIALIZED VIEW fev_per_minute AS SELECT window_start, count(*) AS n FROM TUMBLE(fev, ts, INTERVAL '1 minute') GROUP BY window_start, window_end`

/** The poisonous event times a tester sent, as JSON values. */
const POISON = ['1e300', '9e15', '"infinity"', 'NaN']

const event = (id: number, minute: number, second = 0): string =>
  JSON.stringify({ id, name: `n${id}`, ts: `2026-12-06T10:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}Z` })

/** A timestamp as `2026-12-06 10:01:09` (UTC). */
const shownTime = (d: Date | null): string | null => (d === null ? null : d.toISOString().slice(0, 19).replace('T', ' '))

/** psql's SQLSTATE for a statement (with VERBOSITY verbose), or 'ok'. */
function psqlState(args: readonly string[], input?: Buffer): { state: string; stderr: string } {
  const r = spawnSync('psql', ['-X', '-v', 'VERBOSITY=verbose', ...args], { input, encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } })
  const m = /ERROR:\s+([0-9A-Z]{5}):/.exec(r.stderr)
  return { state: m === null ? (r.status === 0 ? 'ok' : `exit ${r.status}: ${r.stderr}`) : m[1]!, stderr: r.stderr }
}

describe('poisoned input', () => {
  let root: string
  let files: string
  let usersFile: string
  let sluice: SluiceProcess
  let client: pg.Client
  let oracle: pg.Client

  const start = async () => {
    sluice = await startSluice({ dataDir: join(root, 'data'), http: true, args: ['--files', files, '--users', usersFile, '--auth', 'trust'] })
    client = await sluice.client()
  }
  const restart = async () => {
    await client.end()
    await sluice.stop()
    await start()
  }
  const post = async (body: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${sluice.httpPort}/streams/ev`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers })
    return { status: res.status, body: (await res.json()) as { inserted?: number; rejected?: number; errors?: { line: number; reason: string }[]; error?: string }, replayed: res.headers.get('idempotent-replayed') }
  }
  const counts = async (view = 'per_minute'): Promise<Record<string, number>> => {
    const r = await client.query(`SELECT window_start AS w, n FROM ${view} ORDER BY window_start`)
    return Object.fromEntries(r.rows.map((x) => [(x.w as Date).toISOString().slice(11, 16), Number(x.n)]))
  }
  const total = async (view = 'per_minute') => Object.values(await counts(view)).reduce((a, b) => a + b, 0)
  const deadLetters = async (stream: string) => (await client.query('SELECT reason, raw FROM sluice_dead_letters WHERE stream = $1 ORDER BY "offset"', [stream])).rows as { reason: string; raw: string }[]
  const watermark = async () => shownTime((await client.query("SELECT watermark FROM sluice_queries WHERE name = 'per_minute'")).rows[0]!.watermark as Date | null)
  const lateEvents = async () => Number((await client.query("SELECT late_events FROM sluice_queries WHERE name = 'per_minute'")).rows[0]!.late_events)
  const events = async (stream: string) => Number((await client.query('SELECT events FROM sluice_streams WHERE name = $1', [stream])).rows[0]!.events)

  beforeAll(async () => {
    root = await tempDataDir()
    files = join(root, 'files')
    await mkdir(files, { recursive: true })
    usersFile = join(root, 'users')
    await writeFile(usersFile, 'analyst:admin:x\nviewer:readonly:x\n')
    await start()
    await client.query(STREAM)
    await client.query(VIEW)
    oracle = new pg.Client(PG)
    await oracle.connect()
    await oracle.query('SET TimeZone = UTC')
  })

  afterAll(async () => {
    await oracle?.end()
    await client?.end()
    await sluice?.stop()
    if (root) await removeDir(root)
  })

  test('over HTTP: each poisonous event time is rejected (422) and dead-lettered; valid events after it are counted', async () => {
    for (const [i, value] of POISON.entries()) {
      const r = await post(`{"id": ${100 + i}, "ts": ${value}}\n`)
      expect(r.status, value).toBe(422)
      expect(r.body.inserted).toBe(0)
      expect(r.body.rejected).toBe(1)
      expect(r.body.errors).toHaveLength(1)
      expect(r.body.errors![0]!.line).toBe(1)
      expect(r.body.errors![0]!.reason).toMatch(value === 'NaN' ? /malformed JSON/ : /column "ts": timestamp out of range for an event time/)
    }
    const ok = await post(`${event(1, 0, 5)}\n${event(2, 0, 30)}\n${event(3, 1, 10)}\n`)
    expect(ok).toMatchObject({ status: 200, body: { inserted: 3, rejected: 0, errors: [] } })
    expect(await eventually(counts, (c) => c['10:01'] === 1)).toEqual({ '10:00': 2, '10:01': 1 })
    expect(await watermark()).toBe('2026-12-06 10:01:09')
    expect(await lateEvents()).toBe(0)

    const dead = await eventually(() => deadLetters('ev'), (d) => d.length === 4)
    expect(dead.map((d) => d.reason)).toEqual([
      expect.stringContaining('column "ts": timestamp out of range for an event time: 1e+300'),
      expect.stringContaining('column "ts": timestamp out of range for an event time: 9000000000000000'),
      expect.stringContaining('column "ts": timestamp out of range for an event time: "infinity"'),
      expect.stringContaining('malformed JSON'),
    ])
    expect(dead[0]!.raw).toBe('{"id": 100, "ts": 1e300}')
  })

  test('the HTTP answer counts accepted and rejected records with line numbers; a body that is not JSON lines is 400', async () => {
    const before = await total()
    const mixed = await post(`${event(4, 1, 20)}\n\n{"id": 5, "ts": "2026-13-45 99:99:99"}\r\n${event(6, 1, 30)}\n{"id": 99999999999, "ts": "2026-12-06T10:01:40Z"}\n`)
    expect(mixed.status).toBe(200)
    expect(mixed.body).toEqual({
      inserted: 2,
      rejected: 2,
      errors: [
        { line: 3, reason: 'column "ts": date/time field value out of range: "2026-13-45 99:99:99"' },
        { line: 5, reason: 'column "id": value 99999999999 is out of range for type integer' },
      ],
    })
    const bytes = Buffer.concat([Buffer.from('{"id": 7, "name": "b'), Buffer.from([0xff]), Buffer.from('", "ts": "2026-12-06T10:01:45Z"}\n')])
    const binary = await post(bytes)
    expect(binary.status).toBe(422)
    expect(binary.body.errors![0]!.reason).toContain('invalid byte sequence for encoding "UTF8": 0xff')
    const nul = await post('{"id": 8, "name": "a\\u0000b", "ts": "2026-12-06T10:01:45Z"}')
    expect(nul.status).toBe(422)
    expect(nul.body.errors![0]!.reason).toContain('column "name": invalid byte sequence for encoding "UTF8": 0x00')
    const eventsBefore = await events('ev')
    const notJson = await post('player,ts\n1,2026-12-06\n')
    expect(notJson.status).toBe(400)
    expect(notJson.body.error).toContain('not newline-delimited JSON')
    expect(await events('ev')).toBe(eventsBefore)
    await eventually(total, (n) => n === before + 2)
    // Many rejections: the first ten reasons, and the count of all.
    const many = await post(Array.from({ length: 15 }, (_, i) => `{"id": ${i}, "ts": 1e300}`).join('\n'))
    expect(many).toMatchObject({ status: 422, body: { inserted: 0, rejected: 15 } })
    expect(many.body.errors).toHaveLength(10)
  })

  test('an Idempotency-Key appends a retried batch once and answers it again, also after a restart', async () => {
    const before = await total()
    const batch = `${event(20, 2, 1)}\n${event(21, 2, 2)}\n{"id": 22, "ts": "infinity"}\n`
    const first = await post(batch, { 'idempotency-key': 'batch-0001' })
    expect(first).toMatchObject({ status: 200, body: { inserted: 2, rejected: 1 }, replayed: null })
    // An answered append is in the log: the log's size says at once whether a retry appended again.
    const logged = await events('ev')
    const [again, concurrent] = await Promise.all([post(batch, { 'idempotency-key': 'batch-0001' }), post(batch, { 'idempotency-key': 'batch-0001' })])
    expect(again).toEqual({ ...first, replayed: 'true' })
    expect(concurrent).toEqual({ ...first, replayed: 'true' })
    expect(await events('ev')).toBe(logged)
    const other = await post(event(23, 2, 3), { 'idempotency-key': 'batch-0002' })
    expect(other).toMatchObject({ status: 200, body: { inserted: 1 } })
    expect((await post(event(24, 2, 4), { 'idempotency-key': 'bad key with spaces' })).status).toBe(400)
    await eventually(total, (n) => n === before + 3)
    await restart()
    const loggedBefore = await events('ev')
    expect(await post(batch, { 'idempotency-key': 'batch-0001' })).toEqual({ ...first, replayed: 'true' })
    // Nothing was appended twice, and the poison and every count survived the restart.
    expect(await events('ev')).toBe(loggedBefore)
    expect(await total()).toBe(before + 3)
    expect((await deadLetters('ev')).length).toBeGreaterThanOrEqual(4 + 4 + 15 + 1)
    expect(await lateEvents()).toBe(0)
    const after = await post(event(25, 2, 30))
    expect(after.status).toBe(200)
    await eventually(total, (n) => n === before + 4)
  })

  test('timestamp text reads as PostgreSQL reads it: the same value or the same SQLSTATE', async () => {
    const texts = [
      '2026-13-45 99:99:99', '2026-02-30', '2026-02-29', '2028-02-29 10:00', '2026-01-01 25:00:00', '2026-01-01 24:00:00',
      '2026-01-01 23:60:00', '2026-01-01 23:59:60', '2026-01-01 23:59:60.5', '0000-01-01', '0001-01-01', '294276-12-31 23:59:59',
      '294277-01-01', '4714-11-24 00:00:00 BC', '4714-11-23 23:00:00 BC', '0044-03-15 BC', '12026-01-01', '2026-01-01 10:00:00+16',
      '2026-01-01 10:00:00 +01:30', '2026-01-01T10:00:00.1234567Z', 'soon', 'infinity', '-infinity', 'epoch',
    ]
    for (const text of texts) {
      const sql = `SELECT ('${text}'::timestamptz)::text AS t`
      const want = await oracle.query(sql).then((r) => r.rows[0].t as string, (e: pg.DatabaseError) => e.code)
      const got = await client.query(sql).then((r) => r.rows[0].t as string, (e: pg.DatabaseError) => e.code)
      expect(got, text).toBe(want)
    }
  })

  test('numbers out of their type range are refused with the SQLSTATE PostgreSQL gives', async () => {
    const casts = ["'40000'::int2", "'2147483648'::int4", "'9223372036854775808'::int8", "'1e400'::float8", "'-1e400'::float8", "'1e-400'::float8", "'1e39'::float4", "'12x'::int4", "'32767'::int2", "'1e308'::float8"]
    for (const cast of casts) {
      const sql = `SELECT (${cast})::text AS v`
      const want = await oracle.query(sql).then((r) => r.rows[0].v as string, (e: pg.DatabaseError) => e.code)
      const got = await client.query(sql).then((r) => r.rows[0].v as string, (e: pg.DatabaseError) => e.code)
      expect(got, cast).toBe(want)
    }
  })

  test('INSERT refuses bad text with the SQLSTATE PostgreSQL gives, and infinity as an event time with 22008 and a hint', async () => {
    await oracle.query('CREATE TEMP TABLE ev (id INT, name TEXT, ts TIMESTAMPTZ NOT NULL)')
    const eventsBefore = await events('ev')
    const cases = [
      "INSERT INTO ev VALUES (1, 'a', '2026-13-45 99:99:99')",
      "INSERT INTO ev VALUES (1, 'a', '2026-02-30 10:00:00')",
      "INSERT INTO ev VALUES (1, 'a', 'soon')",
      "INSERT INTO ev VALUES (1, 'a', '294277-01-01')",
      "INSERT INTO ev VALUES (1, 'a', '2026-12-06 10:00:00+16')",
      "INSERT INTO ev VALUES ('99999999999', 'a', '2026-12-06 10:00:00')",
      "INSERT INTO ev VALUES (1, 'a', '2026-12-06 10:00:00'), (2, 'b', '2026-13-01 10:00:00')",
    ]
    for (const sql of cases) {
      const want = await oracle.query(sql).then(() => 'ok', (e: pg.DatabaseError) => e.code)
      const got = await client.query(sql).then(() => 'ok', (e: pg.DatabaseError) => e.code)
      expect(want, sql).not.toBe('ok')
      expect(got, sql).toBe(want)
    }
    // NUL in a parameter: PostgreSQL refuses it (22021).
    const nulSql = 'INSERT INTO ev (id, name, ts) VALUES ($1, $2, $3)'
    const nulParams = [1, 'a\0b', '2026-12-06 10:00:00+00']
    const nulWant = await oracle.query(nulSql, nulParams).then(() => 'ok', (e: pg.DatabaseError) => e.code)
    expect(nulWant).toBe('22021')
    expect(await client.query(nulSql, nulParams).then(() => 'ok', (e: pg.DatabaseError) => e.code)).toBe(nulWant)
    // 'infinity' is a timestamp PostgreSQL keeps, but not an event time: 22008 with a hint, not XX000.
    for (const text of ['infinity', '-infinity', '10000-01-01 00:00:00+00']) {
      await oracle.query(`INSERT INTO ev VALUES (1, 'a', '${text}')`)
      const err = await client.query(`INSERT INTO ev VALUES (1, 'a', '${text}')`).catch((e: pg.DatabaseError) => e)
      expect(err).toBeInstanceOf(Error)
      expect((err as pg.DatabaseError).code).toBe('22008')
      expect((err as pg.DatabaseError).message).toContain('timestamp out of range for an event time in column "ts"')
      expect((err as pg.DatabaseError).hint).toContain('0001-01-01 to 9999-12-31')
    }
    const viaCast = await client.query("INSERT INTO ev SELECT 1, 'a', 'infinity'::timestamptz").catch((e: pg.DatabaseError) => e)
    expect((viaCast as pg.DatabaseError).code).toBe('22008')
    expect(await events('ev')).toBe(eventsBefore)
  })

  test('COPY refuses bad text with the SQLSTATE PostgreSQL gives, and appends nothing of a failed COPY', async () => {
    const eventsBefore = await events('ev')
    const pgArgs = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE TEMP TABLE ev (id INT, name TEXT, ts TIMESTAMPTZ NOT NULL)', '-c', 'SET TimeZone = UTC', '-c', 'COPY ev FROM STDIN']
    const sluiceArgs = ['-h', '127.0.0.1', '-p', String(sluice.port), '-U', 'analyst', '-d', 'sluice', '-c', 'COPY ev FROM STDIN']
    const good = '1\tok\t2026-12-06 10:03:00+00\n'
    const cases: [string, Buffer][] = [
      ['date/time field out of range', Buffer.from(`${good}2\tx\t2026-13-45 99:99:99\n`)],
      ['bad timestamp syntax', Buffer.from(`${good}2\tx\tsoon\n`)],
      ['timestamp past PostgreSQL range', Buffer.from(`${good}2\tx\t294277-01-01\n`)],
      ['integer out of range', Buffer.from(`${good}99999999999\tx\t2026-12-06 10:03:00+00\n`)],
      ['invalid UTF-8', Buffer.concat([Buffer.from(`${good}2\tb`), Buffer.from([0xff]), Buffer.from('ad\t2026-12-06 10:03:00+00\n')])],
      ['truncated UTF-8', Buffer.concat([Buffer.from(`${good}2\tb`), Buffer.from([0xe2, 0x82]), Buffer.from('\t2026-12-06 10:03:00+00\n')])],
      ['NUL as an escape', Buffer.from(`${good}2\tb\\000x\t2026-12-06 10:03:00+00\n`)],
      ['invalid UTF-8 as escapes', Buffer.from(`${good}2\tb\\xff\t2026-12-06 10:03:00+00\n`)],
    ]
    for (const [what, data] of cases) {
      const want = psqlState(pgArgs, data)
      const got = psqlState(sluiceArgs, data)
      expect(want.state, `${what}: ${want.stderr}`).toMatch(/^22/)
      expect(got.state, `${what}: ${got.stderr}`).toBe(want.state)
      expect(got.stderr, what).toMatch(/COPY ev, line 2/)
    }
    const infinity = psqlState(pgArgs, Buffer.from(`${good}2\tx\tinfinity\n`))
    expect(infinity.state).toBe('ok')
    const refused = psqlState(sluiceArgs, Buffer.from(`${good}2\tx\tinfinity\n`))
    expect(refused.state).toBe('22008')
    expect(refused.stderr).toContain('HINT:')
    expect(await events('ev')).toBe(eventsBefore)
    // A good COPY still goes through.
    expect(psqlState(sluiceArgs, Buffer.from(good)).state).toBe('ok')
    expect(await events('ev')).toBe(eventsBefore + 1)
  })

  test('file streams: poisonous lines are dead letters, the valid lines after them are counted', async () => {
    const path = join(files, 'fev.jsonl')
    const lines = [...POISON.map((v, i) => `{"id": ${i}, "ts": ${v}}`), '{"id": 10, "ts": "2026-12-06T10:00:01Z"}', '{"id": 11, "ts": "2026-12-06T10:00:02Z"}', '{"id": 12, "ts": "2026-12-06T10:01:00Z"}']
    await writeFile(path, `${lines.join('\n')}\n`)
    await client.query(FILE_STREAM)
    await client.query(FILE_VIEW)
    expect(await eventually(() => counts('fev_per_minute'), (c) => c['10:01'] === 1)).toEqual({ '10:00': 2, '10:01': 1 })
    const dead = await eventually(() => deadLetters('fev'), (d) => d.length === 4)
    expect(dead.slice(0, 3).every((d) => d.reason.includes('column "ts": timestamp out of range for an event time'))).toBe(true)
    await appendFile(path, '{"id": 13, "ts": "2026-12-06T10:01:30Z"}\n')
    await eventually(() => counts('fev_per_minute'), (c) => c['10:01'] === 2)
  })

  test('sluice_watermarks shows each partition; ALTER STREAM ... RESET WATERMARK moves it, for admins only, across a restart', async () => {
    const rows = (await client.query("SELECT partition, partition_watermark, watermark FROM sluice_watermarks WHERE query = 'per_minute' ORDER BY partition")).rows
    expect(rows.length).toBeGreaterThan(0)
    const current = await watermark()
    expect(rows.every((r) => shownTime(r.watermark as Date) === current)).toBe(true)
    expect(rows.some((r) => shownTime(r.partition_watermark as Date) === current)).toBe(true)

    // A mistake: the watermark far ahead. Events of today are late.
    await client.query("ALTER STREAM ev RESET WATERMARK TO TIMESTAMPTZ '9999-01-01 00:00:00+00'")
    expect(await watermark()).toBe('9999-01-01 00:00:00')
    const lateBefore = await lateEvents()
    const totalBefore = await total()
    await post(event(30, 3, 30))
    await eventually(lateEvents, (n) => n === lateBefore + 1)

    // Read-only users may not reset; bad targets are refused with their SQLSTATE.
    const viewer = new pg.Client({ host: '127.0.0.1', port: sluice.port, user: 'viewer', database: 'sluice' })
    await viewer.connect()
    try {
      expect(await viewer.query('ALTER STREAM ev RESET WATERMARK').then(() => 'ok', (e: pg.DatabaseError) => e.code)).toBe('42501')
      expect((await viewer.query('SELECT count(*) AS n FROM sluice_watermarks')).rows[0].n).not.toBe('0')
    } finally {
      await viewer.end()
    }
    const inf = await client.query("ALTER STREAM ev RESET WATERMARK TO 'infinity'").catch((e: pg.DatabaseError) => e)
    expect(inf).toMatchObject({ code: '22008', hint: expect.stringContaining('9999-12-31') })
    expect(await client.query("ALTER STREAM ev RESET WATERMARK TO 'soon'").then(() => 'ok', (e: pg.DatabaseError) => e.code)).toBe('22007')
    expect(await client.query('ALTER STREAM nope RESET WATERMARK').then(() => 'ok', (e: pg.DatabaseError) => e.code)).toBe('42P01')

    // Back to what the valid events say (the late one included: it is a valid event, only too late to
    // count); the window the mistake closed counts again.
    await client.query('ALTER STREAM ev RESET WATERMARK')
    expect(await watermark()).toBe('2026-12-06 10:03:29')
    await post(event(31, 3, 40))
    await eventually(total, (n) => n === totalBefore + 1)
    expect(await lateEvents()).toBe(lateBefore + 1)
    const kept = await eventually(watermark, (w) => w === '2026-12-06 10:03:39')

    await restart()
    expect(await watermark()).toBe(kept)
    expect(await lateEvents()).toBe(lateBefore + 1)
    await post(event(32, 3, 50))
    await eventually(total, (n) => n === totalBefore + 2)
  })

  test('a reset moves the views reading a view along, and is refused while a sliced HOP view would move back', async () => {
    await client.query('CREATE STREAM ev2 (id INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts)')
    await client.query('CREATE MATERIALIZED VIEW ev2_rows AS SELECT id, ts FROM ev2')
    await client.query("CREATE MATERIALIZED VIEW ev2_counts AS SELECT window_start, count(*) AS n FROM TUMBLE(ev2_rows, ts, INTERVAL '1 minute') GROUP BY window_start, window_end")
    await client.query("CREATE MATERIALIZED VIEW ev2_hops AS SELECT window_start, count(*) AS n FROM HOP(ev2, ts, INTERVAL '1 minute', INTERVAL '5 minutes') GROUP BY window_start, window_end EMIT ON WINDOW CLOSE")
    await client.query("INSERT INTO ev2 VALUES (1, '2026-12-06 10:00:10+00'), (2, '2026-12-06 10:00:20+00')")
    const marks = async () => {
      const r = await client.query("SELECT query, max(watermark) AS w FROM sluice_watermarks WHERE stream = 'ev2' GROUP BY query ORDER BY query")
      return Object.fromEntries(r.rows.map((x) => [x.query as string, shownTime(x.w as Date | null)]))
    }
    const all = (w: string) => ({ ev2_counts: w, ev2_hops: w, ev2_rows: w })
    await eventually(marks, (m) => JSON.stringify(m) === JSON.stringify(all('2026-12-06 10:00:20')))
    await client.query("ALTER STREAM ev2 RESET WATERMARK TO '2026-12-06 11:00:00+00'")
    expect(await marks()).toEqual(all('2026-12-06 11:00:00'))
    const refused = await client.query('ALTER STREAM ev2 RESET WATERMARK').catch((e: pg.DatabaseError) => e)
    expect(refused).toMatchObject({ code: '55000', message: expect.stringContaining('"ev2_hops"') })
    expect(await marks()).toEqual(all('2026-12-06 11:00:00'))
    await client.query('DROP MATERIALIZED VIEW ev2_hops')
    await client.query('ALTER STREAM ev2 RESET WATERMARK')
    expect(await marks()).toEqual({ ev2_counts: '2026-12-06 10:00:20', ev2_rows: '2026-12-06 10:00:20' })
    await client.query("INSERT INTO ev2 VALUES (3, '2026-12-06 10:00:30+00')")
    const counted = async () => (await client.query('SELECT n FROM ev2_counts')).rows.map((x) => Number(x.n))
    expect(await eventually(counted, (n) => n[0] === 3)).toEqual([3])
  })
})

describe('poisoned input from Kafka', () => {
  let kafka: KafkaBroker
  beforeAll(async () => {
    kafka = await sharedKafka()
  }, 300_000)
  afterAll(async () => {
    await kafka?.stop()
  })

  test('poisonous event times in a topic are dead letters with their offsets; the valid records after them are counted', async () => {
    const topic = `poison-${Date.now()}`
    await kafka.createTopic(topic, 1)
    const sluice = await startSluice({ kafka: kafka.brokers })
    const client = await sluice.client()
    try {
      await client.query(`CREATE STREAM kev (id INT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = '${topic}', start = 'earliest')`)
      await client.query("CREATE MATERIALIZED VIEW kev_per_minute AS SELECT window_start, count(*) AS n FROM TUMBLE(kev, ts, INTERVAL '1 minute') GROUP BY window_start, window_end")
      const valid = ['{"id": 10, "ts": "2026-12-06T10:00:01Z"}', '{"id": 11, "ts": "2026-12-06T10:00:02Z"}', '{"id": 12, "ts": "2026-12-06T10:01:00Z"}']
      await kafka.produce(topic, [...POISON.map((v, i) => `{"id": ${i}, "ts": ${v}}`), '{"id": 5, "ts": "2026-13-45 99:99:99"}', ...valid])
      const counted = async () => (await client.query('SELECT n FROM kev_per_minute ORDER BY window_start')).rows.map((r) => Number(r.n))
      expect(await eventually(counted, (n) => n.length === 2 && n[1] === 1, 60_000)).toEqual([2, 1])
      const dead = (await client.query("SELECT \"offset\", reason FROM sluice_dead_letters WHERE stream = 'kev' ORDER BY \"offset\"")).rows
      expect(dead.map((d) => Number(d.offset))).toEqual([0, 1, 2, 3, 4])
      expect(dead[0].reason).toContain('column "ts": timestamp out of range for an event time: 1e+300')
      expect(dead[2].reason).toContain('"infinity"')
      expect(dead[4].reason).toContain('date/time field value out of range')
      expect(Number((await client.query("SELECT late_events FROM sluice_queries WHERE name = 'kev_per_minute'")).rows[0].late_events)).toBe(0)
    } finally {
      await client.end()
      await sluice.stop()
      await removeDir(sluice.dataDir)
    }
  })
})
