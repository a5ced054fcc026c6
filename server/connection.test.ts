/**
 * Connection and listener tests over real sockets: node-postgres, psql and a raw pg-protocol client talk
 * to a listener whose Backend is a small in-test fake returning canned outcomes. The fake stands in for
 * the session logic only; every protocol byte is real.
 */
import { execFile } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { parse as parseBackend, serialize } from 'pg-protocol'
import { SluiceError, executionError, planError, syntaxError } from '../common/errors.ts'
import { Types, type Row, type SqlType } from '../common/types.ts'
import type { Backend, BackendFactory, BoundParam, Notice, Notification, Outcome, PreparedStatement, ResultColumn, StartupInfo, TransactionStatus } from './backend.ts'
import { startListener, type Listener } from './listener.ts'
import { decodeParam } from './wire/values.ts'
import { arrayCursor } from './row-cursor.ts'

// ---- fake backend --------------------------------------------------------------------------------

type Kind = 'series' | 'param' | 'literal' | 'numeric' | 'begin' | 'commit' | 'fail' | 'set' | 'copy_in' | 'copy_out' | 'sleep' | 'notice'

interface FakeStatement extends PreparedStatement {
  readonly kind: Kind
  readonly arg: number
}

const col = (name: string, type: SqlType): ResultColumn => ({ name, type, typeModifier: -1, tableOid: 0, columnNumber: 0 })


const rows = (columns: readonly ResultColumn[], data: Row[]): Outcome => ({ kind: 'rows', columns, cursor: arrayCursor(data), tag: (n) => `SELECT ${n}` })

const opened: FakeBackend[] = []

/** Waits until `cond` holds, polling, failing after `ms`: never a fixed sleep. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}
const copied: string[] = []

class FakeBackend implements Backend {
  status: TransactionStatus = 'I'
  closed = false
  private changes = new Map<string, string>()
  private listener: ((m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void) | null = null
  private onCancel: (() => void) | null = null

  constructor(readonly startup: StartupInfo) {}

  prepare(sql: string, _oids: readonly number[]): PreparedStatement[] {
    const out: FakeStatement[] = []
    for (const m of sql.matchAll(/[^;]+/g)) {
      const text = m[0].trim()
      if (text === '') continue
      const offset = m.index + m[0].indexOf(text)
      out.push(this.classify(sql, text, offset))
    }
    return out
  }

  private classify(sql: string, text: string, offset: number): FakeStatement {
    const base = { sql, arg: 0, paramTypes: [] as SqlType[], columns: null as ResultColumn[] | null }
    let m: RegExpMatchArray | null
    if ((m = /^select n from series\((\d+)\)$/i.exec(text))) return { ...base, kind: 'series', arg: Number(m[1]), columns: [col('n', Types.int4)] }
    if (/^select \$1::int4 as v$/i.test(text)) return { ...base, kind: 'param', paramTypes: [Types.int4], columns: [col('v', Types.int4)] }
    if ((m = /^select (\d+)$/i.exec(text))) return { ...base, kind: 'literal', arg: Number(m[1]), columns: [col('?column?', Types.int4)] }
    if (/^select numeric$/i.test(text)) return { ...base, kind: 'numeric', columns: [col('x', Types.numeric)] }
    const simple: Record<string, Kind> = { begin: 'begin', commit: 'commit', fail: 'fail', 'set timezone': 'set', 'copy in': 'copy_in', 'copy out': 'copy_out', sleep: 'sleep', notice: 'notice' }
    const kind = simple[text.toLowerCase()]
    if (kind !== undefined) return { ...base, kind }
    if ((m = /\bfrom (\w+)/i.exec(text))) {
      const start = offset + text.indexOf(m[1]!, m.index)
      throw planError('42P01', `relation "${m[1]}" does not exist`, { start, end: start + m[1]!.length })
    }
    throw syntaxError(`syntax error at or near "${text.split(/\s+/)[0]}"`, { start: offset, end: offset + 1 })
  }

  async execute(statement: PreparedStatement, params: readonly BoundParam[]): Promise<Outcome> {
    const s = statement as FakeStatement
    if (this.status === 'E' && s.kind !== 'commit') throw new SluiceError('execution', '25P02', 'current transaction is aborted')
    switch (s.kind) {
      case 'series':
        return rows(s.columns!, Array.from({ length: s.arg }, (_, i) => [i + 1]))
      case 'param':
        return rows(s.columns!, [[decodeParam(params[0]!, Types.int4)]])
      case 'literal':
        return rows(s.columns!, [[s.arg]])
      case 'numeric':
        return rows(s.columns!, [[1.5]])
      case 'begin':
        this.status = 'T'
        return { kind: 'command', tag: 'BEGIN' }
      case 'commit':
        this.status = 'I'
        return { kind: 'command', tag: 'COMMIT' }
      case 'fail':
        throw executionError('22012', 'division by zero')
      case 'set':
        this.changes.set('TimeZone', 'Europe/Paris')
        return { kind: 'command', tag: 'SET' }
      case 'notice':
        this.listener?.({ kind: 'notice', notice: { severity: 'NOTICE', sqlstate: '00000', message: 'hello from the backend' } })
        return { kind: 'command', tag: 'DO' }
      case 'sleep':
        return new Promise((_, reject) => {
          this.onCancel = () => reject(new SluiceError('execution', '57014', 'canceling statement due to user request'))
        })
      case 'copy_in': {
        const chunks: Buffer[] = []
        return {
          kind: 'copy_in',
          columnCount: 1,
          format: 0,
          sink: {
            write: async (c) => void chunks.push(c),
            end: async () => {
              const text = Buffer.concat(chunks).toString()
              copied.push(text)
              return `COPY ${text.split('\n').filter((l) => l !== '').length}`
            },
            abort: (reason) => void copied.push(`aborted: ${reason}`),
          },
        }
      }
      case 'copy_out': {
        let n = 0
        async function* chunks() {
          for (const line of ['a\n', 'b\n', 'c\n']) {
            n++
            yield Buffer.from(line)
          }
        }
        return { kind: 'copy_out', columnCount: 1, format: 0, chunks: chunks(), tag: (k) => `COPY ${k}`, rowCount: () => n, cancel: () => {} }
      }
    }
  }

  transactionStatus(): TransactionStatus {
    return this.status
  }

  statementFailed(_error: SluiceError): void {
    if (this.status === 'T') this.status = 'E'
  }

  takeParameterChanges(): ReadonlyMap<string, string> {
    const c = this.changes
    this.changes = new Map()
    return c
  }

  onAsync(listener: (m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void): void {
    this.listener = listener
  }

  /** A 'sleep' statement is waiting to be cancelled. */
  get sleeping(): boolean {
    return this.onCancel !== null
  }

  cancel(): void {
    this.onCancel?.()
  }

  close(): void {
    this.closed = true
  }
}

const factory: BackendFactory = {
  open: (startup) => {
    if (startup.database === 'nope') throw new SluiceError('auth', '3D000', 'database "nope" does not exist')
    const b = new FakeBackend(startup)
    opened.push(b)
    return b
  },
  initialParameters: (startup) =>
    new Map([
      ['server_version', '15.0'],
      ['server_encoding', 'UTF8'],
      ['client_encoding', 'UTF8'],
      ['DateStyle', 'ISO, MDY'],
      ['integer_datetimes', 'on'],
      ['application_name', startup.applicationName],
    ]),
}

// ---- raw protocol client ---------------------------------------------------------------------------

type Msg = Record<string, unknown> & { name: string }

/** A minimal client: pg-protocol's serializer out, its parser in, messages collected in order. */
class RawClient {
  readonly messages: Msg[] = []
  private waiter: (() => void) | null = null
  closed = false

  private constructor(readonly socket: Socket) {
    void parseBackend(socket, (m) => {
      this.messages.push(m as unknown as Msg)
      this.waiter?.()
    }).catch(() => {})
    socket.on('close', () => {
      this.closed = true
      this.waiter?.()
    })
    socket.on('error', () => {})
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawClient(socket)
  }

  static async startup(port: number): Promise<RawClient> {
    const c = await RawClient.connect(port)
    c.send(serialize.startup({ user: 'raw', database: 'db' }))
    await c.until('readyForQuery')
    return c
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs))
  }

  /** Messages received up to and including the next one named `name` (consumed from the log). */
  async until(name: string): Promise<Msg[]> {
    for (;;) {
      const i = this.messages.findIndex((m) => m.name === name)
      if (i >= 0) return this.messages.splice(0, i + 1)
      if (this.closed) throw new Error(`connection closed before ${name}; got ${this.messages.map((m) => m.name).join(', ')}`)
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => (this.waiter = resolve))
  }
}

const names = (msgs: Msg[]) => msgs.map((m) => m.name)

// ---- tests -----------------------------------------------------------------------------------------

let listener: Listener
let port: number
const clients: pg.Client[] = []

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'db', application_name: 'tests' })
  await c.connect()
  clients.push(c)
  return c
}

beforeAll(async () => {
  listener = await startListener({ host: '127.0.0.1', port: 0, factory })
  port = listener.port
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})))
  await listener.close()
})

describe('connection with node-postgres', () => {
  it('starts a session with the startup parameters and runs a simple query', async () => {
    const c = await client()
    const backend = opened.at(-1)!
    expect(backend.startup).toMatchObject({ user: 'alice', database: 'db', applicationName: 'tests' })
    expect(backend.startup.options.get('client_encoding')).toBe('UTF8')
    const r = await c.query('select n from series(3)')
    expect(r.rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(r.command).toBe('SELECT')
    expect(r.rowCount).toBe(3)
    expect(r.fields[0]).toMatchObject({ name: 'n', dataTypeID: 23 })
  })

  it('streams a large result in batches', async () => {
    const c = await client()
    const r = await c.query('select n from series(100000)')
    expect(r.rowCount).toBe(100000)
    expect(r.rows.at(-1)).toEqual({ n: 100000 })
  })

  it('runs several statements of one simple query in order', async () => {
    const c = await client()
    const results = (await c.query('select 7; select n from series(2); begin; commit')) as unknown as pg.QueryResult[]
    expect(results.map((r) => r.command)).toEqual(['SELECT', 'SELECT', 'BEGIN', 'COMMIT'])
    expect(results[1]!.rows).toEqual([{ n: 1 }, { n: 2 }])
  })

  it('runs parameterized queries through the extended protocol, named and unnamed', async () => {
    const c = await client()
    expect((await c.query('select $1::int4 as v', [41])).rows).toEqual([{ v: 41 }])
    for (const v of [1, 2, 3]) {
      const r = await c.query({ name: 'by-name', text: 'select $1::int4 as v', values: [v] })
      expect(r.rows).toEqual([{ v }])
    }
    expect((await c.query({ text: 'select $1::int4 as v', values: [null] })).rows).toEqual([{ v: null }])
  })

  it('sends binary results on request, numeric included', async () => {
    const c = await client()
    // `binary` is a real node-postgres option that its type definitions leave out.
    const binary = (config: { name?: string; text: string; values?: unknown[] }) => c.query({ ...config, binary: true } as pg.QueryConfig)
    expect((await binary({ text: 'select $1::int4 as v', values: [9] })).rows).toEqual([{ v: 9 }])
    // Arrays are what binary output still refuses (0A000): see server/wire/codec.test.ts.
    expect((await binary({ name: 'numeric-binary', text: 'select numeric' })).rows).toEqual([{ x: 1.5 }])
    expect((await c.query('select numeric')).rows).toEqual([{ x: '1.5' }])
  })

  it('reports an error with its character position and keeps the connection usable', async () => {
    const c = await client()
    await expect(c.query('select 1 from missing')).rejects.toMatchObject({ code: '42P01', position: '15', severity: 'ERROR' })
    expect((await c.query('select 5')).rows).toEqual([{ '?column?': 5 }])
    // Position counts characters: the emoji before the error is one character though two UTF-16 units.
    await expect(c.query("select '😀' from gone")).rejects.toMatchObject({ position: '17' })
    // Simple query: the error stops the rest of the statements.
    await expect(c.query('select 1; fail; select 2')).rejects.toMatchObject({ code: '22012' })
    // Extended protocol: an error, then a successful query on the same connection.
    await expect(c.query('select 1 from nowhere where x = $1', [1])).rejects.toMatchObject({ code: '42P01', position: '15' })
    await expect(c.query('select $1::int4 as v', ['not a number'])).rejects.toMatchObject({ code: '22P02' })
    expect((await c.query('select $1::int4 as v', [3])).rows).toEqual([{ v: 3 }])
  })

  it('passes ParameterStatus changes and notices to the client', async () => {
    const c = await client()
    const notices: string[] = []
    c.on('notice', (n) => notices.push(n.message ?? ''))
    const statuses: [string, string][] = []
    const conn = (c as unknown as { connection: { on(e: string, f: (m: { parameterName: string; parameterValue: string }) => void): void } }).connection
    conn.on('parameterStatus', (m) => statuses.push([m.parameterName, m.parameterValue]))
    await c.query('set timezone')
    expect(statuses).toEqual([['TimeZone', 'Europe/Paris']])
    await c.query('notice')
    expect(notices).toEqual(['hello from the backend'])
  })

  it('cancels a running statement with a CancelRequest from another socket', async () => {
    const c = await client()
    const backend = opened.at(-1)!
    const pending = c.query('sleep')
    await until(() => backend.sleeping)
    const key = c as unknown as { processID: number; secretKey: number }
    const raw = connect(port, '127.0.0.1')
    raw.on('connect', () => raw.write(serialize.cancel(key.processID, key.secretKey)))
    await expect(pending).rejects.toMatchObject({ code: '57014' })
    expect((await c.query('select 1')).rows).toEqual([{ '?column?': 1 }])
  })

  it('fails startup for a database the factory refuses', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'nope' })
    await expect(c.connect()).rejects.toMatchObject({ code: '3D000', severity: 'FATAL' })
  })
})

describe('connection with a raw protocol client', () => {
  it('suspends and resumes a portal executed with a row limit', async () => {
    const c = await RawClient.startup(port)
    c.send(
      serialize.parse({ text: 'select n from series(5)' }),
      serialize.bind({ portal: 'p1' }),
      serialize.describe({ type: 'P', name: 'p1' }),
      serialize.execute({ portal: 'p1', rows: 2 }),
      serialize.flush(),
    )
    const first = await c.until('portalSuspended')
    expect(names(first)).toEqual(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'dataRow', 'portalSuspended'])
    expect(first.filter((m) => m.name === 'dataRow').map((m) => m.fields)).toEqual([['1'], ['2']])
    c.send(serialize.execute({ portal: 'p1', rows: 2 }), serialize.flush())
    expect(names(await c.until('portalSuspended'))).toEqual(['dataRow', 'dataRow', 'portalSuspended'])
    c.send(serialize.execute({ portal: 'p1', rows: 2 }), serialize.sync())
    const last = await c.until('readyForQuery')
    expect(names(last)).toEqual(['dataRow', 'commandComplete', 'readyForQuery'])
    expect(last[1]).toMatchObject({ text: 'SELECT 5' })
    // The implicit transaction ended at Sync, and the portal with it.
    c.send(serialize.execute({ portal: 'p1' }), serialize.sync())
    expect(await c.until('readyForQuery')).toMatchObject([{ name: 'error', code: '34000' }, { name: 'readyForQuery' }])
    c.socket.end()
  })

  it('describes statements and discards messages after an error until Sync', async () => {
    const c = await RawClient.startup(port)
    c.send(serialize.parse({ name: 's', text: 'select $1::int4 as v' }), serialize.describe({ type: 'S', name: 's' }), serialize.sync())
    const described = await c.until('readyForQuery')
    expect(names(described)).toEqual(['parseComplete', 'parameterDescription', 'rowDescription', 'readyForQuery'])
    expect(described[1]).toMatchObject({ dataTypeIDs: [23] })
    c.send(
      serialize.parse({ name: 'bad', text: 'select x from nothing' }),
      serialize.bind({ statement: 'bad' }),
      serialize.execute({}),
      serialize.query('select 1'),
      serialize.sync(),
    )
    const failed = await c.until('readyForQuery')
    expect(names(failed)).toEqual(['error', 'readyForQuery'])
    expect(failed[0]).toMatchObject({ code: '42P01', position: '15' })
    c.send(serialize.bind({ statement: 's', values: ['1', '2'] }), serialize.sync())
    expect(await c.until('readyForQuery')).toMatchObject([{ name: 'error', code: '08P01' }, { name: 'readyForQuery' }])
    c.send(serialize.parse({ name: 's', text: 'select 1' }), serialize.sync())
    expect(await c.until('readyForQuery')).toMatchObject([{ name: 'error', code: '42P05' }, { name: 'readyForQuery' }])
    c.send(serialize.close({ type: 'S', name: 's' }), serialize.describe({ type: 'S', name: 's' }), serialize.sync())
    expect(await c.until('readyForQuery')).toMatchObject([{ name: 'closeComplete' }, { name: 'error', code: '26000' }, { name: 'readyForQuery' }])
    c.send(serialize.query(''))
    expect(names(await c.until('readyForQuery'))).toEqual(['emptyQuery', 'readyForQuery'])
    c.socket.end()
  })

  it('reports transaction status in ReadyForQuery', async () => {
    const c = await RawClient.startup(port)
    c.send(serialize.query('begin'))
    expect((await c.until('readyForQuery')).at(-1)).toMatchObject({ status: 'T' })
    c.send(serialize.query('fail'))
    expect((await c.until('readyForQuery')).at(-1)).toMatchObject({ status: 'E' })
    c.send(serialize.query('commit'))
    expect((await c.until('readyForQuery')).at(-1)).toMatchObject({ status: 'I' })
    c.socket.end()
  })

  it('runs COPY FROM STDIN and COPY TO STDOUT', async () => {
    const c = await RawClient.startup(port)
    c.send(serialize.query('copy in'))
    await c.until('copyInResponse')
    c.send(serialize.copyData(Buffer.from('1\n2\n')), serialize.copyData(Buffer.from('3\n')), serialize.copyDone())
    const done = await c.until('readyForQuery')
    expect(done[0]).toMatchObject({ name: 'commandComplete', text: 'COPY 3' })
    expect(copied.at(-1)).toBe('1\n2\n3\n')
    c.send(serialize.query('copy in'))
    await c.until('copyInResponse')
    c.send(serialize.copyData(Buffer.from('x\n')), serialize.copyFail('client gave up'))
    expect(await c.until('readyForQuery')).toMatchObject([{ name: 'error', code: '57014' }, { name: 'readyForQuery' }])
    expect(copied.at(-1)).toBe('aborted: COPY from stdin failed: client gave up')
    c.send(serialize.query('copy out'))
    const out = await c.until('readyForQuery')
    expect(names(out)).toEqual(['copyOutResponse', 'copyData', 'copyData', 'copyData', 'copyDone', 'commandComplete', 'readyForQuery'])
    expect(out.filter((m) => m.name === 'copyData').map((m) => (m.chunk as Buffer).toString())).toEqual(['a\n', 'b\n', 'c\n'])
    expect(out[5]).toMatchObject({ text: 'COPY 3' })
    c.socket.end()
  })

  it('disconnects a client sending garbage while other clients keep working', async () => {
    const good = await client()
    const before = opened.length
    const garbage = await RawClient.connect(port)
    garbage.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await garbage.waitClosed()
    expect(garbage.messages).toMatchObject([{ name: 'error', code: '08P01', severity: 'FATAL' }])
    expect(opened.length).toBe(before)

    // A bad message length after a valid startup: reported, then this socket alone is closed.
    const broken = await RawClient.startup(port)
    const backend = opened.at(-1)!
    broken.send(Buffer.from([0x51, 0, 0, 0, 2]))
    await broken.waitClosed()
    expect(broken.messages).toMatchObject([{ name: 'error', code: '08P01' }])
    await until(() => backend.closed)
    expect(backend.closed).toBe(true)

    expect((await good.query('select n from series(2)')).rows).toEqual([{ n: 1 }, { n: 2 }])
  })

  it('answers SSLRequest with N and continues in plain text', async () => {
    const c = await RawClient.connect(port)
    const firstByte = new Promise<number>((resolve) => c.socket.once('data', (d: Buffer) => resolve(d[0]!)))
    c.send(serialize.requestSsl())
    // The pg-protocol parser would misread the bare 'N'; look at the raw byte.
    expect(String.fromCharCode(await firstByte)).toBe('N')
    c.socket.end()
  })
})

describe('connection with psql', () => {
  it('runs a query from the psql command line', async () => {
    const { stdout } = await promisify(execFile)('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'x', '-d', 'y', '-w', '-X', '-c', 'select n from series(2)'], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5', PGSSLMODE: 'prefer' },
      timeout: 15_000,
    })
    expect(stdout).toContain('(2 rows)')
    expect(stdout.split('\n').map((l) => l.trim())).toEqual(expect.arrayContaining(['n', '1', '2']))
  })
})
