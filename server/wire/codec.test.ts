/**
 * Wire codec tests: framing edge cases in the reader, decoding of messages produced by a real client
 * encoder (pg-protocol's serializer), backend messages checked by a real client parser (pg-protocol's
 * parser), and parameter/cell value conversions.
 */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { parse as parseBackend, serialize } from 'pg-protocol'
import { SluiceError } from '../../common/errors.ts'
import { Types, arrayOf } from '../../common/types.ts'
import { AUTH_MESSAGE_LIMIT, DEFAULT_MAX_MESSAGE_LENGTH, FrameReader, MAX_AUTH_MESSAGE_LENGTH, MAX_STARTUP_LENGTH, decodeFrontend, decodeStartup, type Frame } from './reader.ts'
import * as W from './writer.ts'
import { checkResultFormat, decodeParam, encodeBinary, encodeCell, encodeNumeric, encodeText } from './values.ts'

function framesOf(reader: FrameReader): Frame[] {
  const out: Frame[] = []
  for (let f = reader.next(); f !== null; f = reader.next()) out.push(f)
  return out
}

const messagesOf = (reader: FrameReader) =>
  framesOf(reader).map((f) => {
    if (f.kind !== 'message') throw new Error('unexpected startup frame')
    return decodeFrontend(f.type, f.body)
  })

function expectProtocolViolation(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    expect((err as SluiceError).sqlstate).toBe('08P01')
    return
  }
  throw new Error('expected a protocol violation')
}

/** Backend messages as node-postgres' own parser sees them. */
async function parsedByClient(...messages: Buffer[]): Promise<Record<string, unknown>[]> {
  const stream = new PassThrough()
  const out: Record<string, unknown>[] = []
  const done = parseBackend(stream, (m) => out.push(m as unknown as Record<string, unknown>))
  stream.end(Buffer.concat(messages))
  await done
  return out
}

describe('FrameReader', () => {
  it('reassembles a startup packet delivered one byte at a time', () => {
    const packet = serialize.startup({ user: 'alice', database: 'db', application_name: 'app' })
    const reader = new FrameReader(true)
    for (let i = 0; i < packet.length - 1; i++) {
      reader.push(packet.subarray(i, i + 1))
      expect(reader.next()).toBeNull()
    }
    reader.push(packet.subarray(packet.length - 1))
    const frame = reader.next()
    expect(frame?.kind).toBe('startup')
    const startup = decodeStartup(frame!.body)
    expect(startup).toEqual({ kind: 'startup', major: 3, minor: 0, params: new Map([['user', 'alice'], ['database', 'db'], ['application_name', 'app'], ['client_encoding', 'UTF8']]) })
    expect(reader.bufferedBytes).toBe(0)
  })

  it('decodes SSLRequest and CancelRequest packets', () => {
    const reader = new FrameReader(true)
    reader.push(serialize.requestSsl())
    expect(decodeStartup(framesOf(reader)[0]!.body)).toEqual({ kind: 'ssl_request' })
    reader.push(serialize.cancel(1234, -99))
    expect(decodeStartup(framesOf(reader)[0]!.body)).toEqual({ kind: 'cancel_request', processId: 1234, secretKey: -99 })
  })

  it('splits several messages arriving in one chunk', () => {
    const reader = new FrameReader(false)
    reader.push(Buffer.concat([serialize.query('select 1'), serialize.sync(), serialize.flush(), serialize.end()]))
    expect(messagesOf(reader)).toEqual([{ type: 'query', sql: 'select 1' }, { type: 'sync' }, { type: 'flush' }, { type: 'terminate' }])
  })

  it('handles a message split across chunks, including inside the header', () => {
    const q = serialize.query('select 42 as answer')
    const both = Buffer.concat([q, serialize.sync()])
    for (const cut of [1, 3, 5, 9, q.length - 1, q.length, q.length + 2]) {
      const reader = new FrameReader(false)
      reader.push(both.subarray(0, cut))
      const first = messagesOf(reader)
      reader.push(both.subarray(cut))
      expect([...first, ...messagesOf(reader)]).toEqual([{ type: 'query', sql: 'select 42 as answer' }, { type: 'sync' }])
    }
  })

  it('joins a large message arriving in many small chunks', () => {
    const sql = `select '${'x'.repeat(100_000)}'`
    const q = serialize.query(sql)
    const reader = new FrameReader(false)
    for (let i = 0; i < q.length; i += 1000) {
      expect(reader.next()).toBeNull()
      reader.push(q.subarray(i, i + 1000))
    }
    expect(messagesOf(reader)).toEqual([{ type: 'query', sql }])
  })

  it('rejects message lengths below 4 and above the limit', () => {
    const tooShort = Buffer.from([0x51, 0, 0, 0, 3])
    expectProtocolViolation(() => {
      const r = new FrameReader(false)
      r.push(tooShort)
      r.next()
    })
    const tooLong = Buffer.alloc(5)
    tooLong[0] = 0x51
    tooLong.writeInt32BE(DEFAULT_MAX_MESSAGE_LENGTH + 1, 1)
    const err = (() => {
      const r = new FrameReader(false)
      r.push(tooLong)
      try {
        r.next()
      } catch (e) {
        return e as SluiceError
      }
      return null
    })()
    // Past the configured limit: 08P01 as PostgreSQL answers an over-long message, naming the limit.
    expect(err?.sqlstate).toBe('08P01')
    expect(err?.message).toBe(`invalid message length ${DEFAULT_MAX_MESSAGE_LENGTH + 1}: the server's limit is ${DEFAULT_MAX_MESSAGE_LENGTH} bytes`)
    expect(err?.hint).toMatch(/--max-message-bytes/)
    expectProtocolViolation(() => {
      const r = new FrameReader(true)
      r.push(Buffer.from('GET / HTTP/1.1\r\n'))
      r.next()
    })
  })
})

describe('FrameReader limits', () => {
  /** A PasswordMessage header announcing `length` (the length word counts itself). */
  const passwordHeader = (length: number) => {
    const b = Buffer.alloc(5)
    b[0] = 0x70
    b.writeInt32BE(length, 1)
    return b
  }

  it('refuses an oversize password message from its length word alone, while authenticating', () => {
    const r = new FrameReader(false, AUTH_MESSAGE_LIMIT)
    r.push(passwordHeader(256 * 1024 * 1024))
    // Only the 5 header bytes are in: the refusal does not wait for (or keep) the body.
    expectProtocolViolation(() => r.next())
    const exact = new FrameReader(false, AUTH_MESSAGE_LIMIT)
    exact.push(passwordHeader(MAX_AUTH_MESSAGE_LENGTH))
    expect(exact.next()).toBeNull()
    const over = new FrameReader(false, AUTH_MESSAGE_LIMIT)
    over.push(passwordHeader(MAX_AUTH_MESSAGE_LENGTH + 1))
    expectProtocolViolation(() => over.next())
  })

  it('takes a SCRAM-sized password message while authenticating', () => {
    const r = new FrameReader(false, AUTH_MESSAGE_LIMIT)
    const final = `c=biws,r=${'x'.repeat(48)},p=${Buffer.alloc(32, 7).toString('base64')}`
    r.push(serialize.sendSCRAMClientFinalMessage(final))
    expect(framesOf(r)).toEqual([{ kind: 'message', type: 0x70, body: Buffer.from(final) }])
  })

  it('applies a configured limit after authentication', () => {
    const r = new FrameReader(false, { bytes: 1000, kind: 'configured' })
    const q = serialize.query('x'.repeat(995)) // length word 4 + 995 characters + NUL
    expect(q.readInt32BE(1)).toBe(1000)
    r.push(q)
    expect(framesOf(r)).toHaveLength(1)
    r.push(serialize.query('x'.repeat(996)))
    expect(() => r.next()).toThrow(/invalid message length 1001: the server's limit is 1000 bytes/)
  })

  it('refuses a startup packet over 10,000 bytes from its length word', () => {
    const r = new FrameReader(true)
    const b = Buffer.alloc(4)
    b.writeInt32BE(MAX_STARTUP_LENGTH + 1, 0)
    r.push(b)
    expectProtocolViolation(() => r.next())
  })

  it('drops what it holds on clear', () => {
    const r = new FrameReader(false)
    r.push(passwordHeader(1000))
    r.push(Buffer.alloc(500))
    expect(r.bufferedBytes).toBe(505)
    r.clear()
    expect(r.bufferedBytes).toBe(0)
    expect(r.next()).toBeNull()
  })
})

describe('decodeFrontend', () => {
  const one = (buf: Buffer) => {
    const r = new FrameReader(false)
    r.push(buf)
    const msgs = messagesOf(r)
    expect(msgs).toHaveLength(1)
    return msgs[0]
  }

  it('decodes the extended-protocol messages a real client sends', () => {
    expect(one(serialize.parse({ name: 's1', text: 'select $1::int', types: [23] }))).toEqual({
      type: 'parse',
      name: 's1',
      sql: 'select $1::int',
      paramTypeOids: [23],
    })
    expect(one(serialize.bind({ portal: 'p', statement: 's1', values: ['7', null, Buffer.from([1, 2])] }))).toEqual({
      type: 'bind',
      portal: 'p',
      statement: 's1',
      paramFormats: [0, 0, 1],
      params: [Buffer.from('7'), null, Buffer.from([1, 2])],
      resultFormats: [0],
    })
    expect(one(serialize.describe({ type: 'S', name: 's1' }))).toEqual({ type: 'describe', target: 'S', name: 's1' })
    expect(one(serialize.close({ type: 'P', name: 'p' }))).toEqual({ type: 'close', target: 'P', name: 'p' })
    expect(one(serialize.execute({ portal: 'p', rows: 10 }))).toEqual({ type: 'execute', portal: 'p', maxRows: 10 })
    expect(one(serialize.copyData(Buffer.from('1\t2\n')))).toEqual({ type: 'copy_data', data: Buffer.from('1\t2\n') })
    expect(one(serialize.copyDone())).toEqual({ type: 'copy_done' })
    expect(one(serialize.copyFail('oops'))).toEqual({ type: 'copy_fail', message: 'oops' })
  })

  it('rejects unknown types, truncated bodies and trailing bytes', () => {
    expectProtocolViolation(() => decodeFrontend(0x7a, Buffer.alloc(0)))
    const bind = serialize.bind({ values: ['1'] }).subarray(5)
    expectProtocolViolation(() => decodeFrontend(0x42, bind.subarray(0, bind.length - 3)))
    expectProtocolViolation(() => decodeFrontend(0x42, Buffer.concat([bind, Buffer.from([0])])))
    expectProtocolViolation(() => decodeFrontend(0x51, Buffer.from('no terminator')))
    expectProtocolViolation(() => decodeFrontend(0x53, Buffer.from([1])))
  })
})

describe('backend messages', () => {
  it('are understood by the node-postgres parser', async () => {
    const msgs = await parsedByClient(
      W.authenticationOk(),
      W.parameterStatus('TimeZone', 'UTC'),
      W.backendKeyData(42, -7),
      W.rowDescription([{ name: 'n', tableOid: 0, columnNumber: 0, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 }]),
      W.dataRow(['1', null, 'héllo', Buffer.from([0xff])]),
      W.commandComplete('SELECT 1'),
      W.parameterDescription([23, 25]),
      W.copyInResponse(0, 2),
      W.errorResponse({ severity: 'ERROR', code: '42601', message: 'syntax error', hint: 'h', detail: 'd', position: 8 }),
      W.readyForQuery('T'),
    )
    expect(msgs.map((m) => m.name)).toEqual([
      'authenticationOk',
      'parameterStatus',
      'backendKeyData',
      'rowDescription',
      'dataRow',
      'commandComplete',
      'parameterDescription',
      'copyInResponse',
      'error',
      'readyForQuery',
    ])
    expect(msgs[1]).toMatchObject({ parameterName: 'TimeZone', parameterValue: 'UTC' })
    expect(msgs[2]).toMatchObject({ processID: 42, secretKey: -7 })
    expect((msgs[3]!.fields as { name: string; dataTypeID: number }[])[0]).toMatchObject({ name: 'n', dataTypeID: 23 })
    expect(msgs[4]!.fields).toEqual(['1', null, 'héllo', Buffer.from([0xff]).toString('utf8')])
    expect(msgs[5]).toMatchObject({ text: 'SELECT 1' })
    expect(msgs[6]).toMatchObject({ parameterCount: 2, dataTypeIDs: [23, 25] })
    expect(msgs[7]).toMatchObject({ binary: false, columnTypes: [0, 0] })
    expect(msgs[8]).toMatchObject({ severity: 'ERROR', code: '42601', message: 'syntax error', hint: 'h', detail: 'd', position: '8' })
    expect(msgs[9]).toMatchObject({ status: 'T' })
  })

  it('report error positions in characters, 1-based', () => {
    expect(W.characterPosition('select x', 7)).toBe(8)
    // The emoji is two UTF-16 units but one character.
    expect(W.characterPosition("select '😀', x", 13)).toBe(13)
    expect(W.characterPosition(undefined, 4)).toBe(5)
    const err = new SluiceError('syntax', '42601', 'bad', { span: { start: 13, end: 14 } })
    expect(W.errorFieldsOf(err, 'ERROR', "select '😀', x").position).toBe(13)
  })
})

describe('values', () => {
  const text = (s: string | null) => ({ format: 0 as const, data: s === null ? null : Buffer.from(s) })
  const binary = (b: Buffer) => ({ format: 1 as const, data: b })

  it('decodes text parameters with the type parsers', () => {
    expect(decodeParam(text('42'), Types.int4)).toBe(42)
    expect(decodeParam(text('t'), Types.bool)).toBe(true)
    expect(decodeParam(text('1.5'), Types.float8)).toBe(1.5)
    expect(decodeParam(text(null), Types.int4)).toBe(null)
    expect(decodeParam(text('{1,2}'), arrayOf(Types.int4))).toEqual([1, 2])
    expect(() => decodeParam(text('abc'), Types.int4)).toThrow(SluiceError)
  })

  it('reads text arrays as array_in does: quotes, backslashes, NULL, spaces', () => {
    const texts = arrayOf(Types.text)
    expect(decodeParam(text('{"q\\"uote",comma\\,}'), texts)).toEqual(['q"uote', 'comma,'])
    expect(decodeParam(text('{ a , "b c" ,NULL, "NULL", \\NULL}'), texts)).toEqual(['a', 'b c', null, 'NULL', 'NULL'])
    expect(decodeParam(text(' { } '), texts)).toEqual([])
    expect(decodeParam(text('{"",x}'), texts)).toEqual(['', 'x'])
    expect(decodeParam(text('{1, 2,NULL}'), arrayOf(Types.int8))).toEqual([1, 2, null])
    expect(() => decodeParam(text('{a,}'), texts)).toThrow(expect.objectContaining({ sqlstate: '22P02', message: 'malformed array literal: "{a,}"' }))
    expect(() => decodeParam(text('{1,{2}}'), arrayOf(Types.int4))).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
  })

  it('decodes binary parameters', () => {
    const i4 = Buffer.alloc(4)
    i4.writeInt32BE(-5)
    expect(decodeParam(binary(i4), Types.int4)).toBe(-5)
    const i8 = Buffer.alloc(8)
    i8.writeBigInt64BE(1234567890123n)
    expect(decodeParam(binary(i8), Types.int8)).toBe(1234567890123)
    const f8 = Buffer.alloc(8)
    f8.writeDoubleBE(2.25)
    expect(decodeParam(binary(f8), Types.float8)).toBe(2.25)
    expect(decodeParam(binary(Buffer.from([1])), Types.bool)).toBe(true)
    expect(decodeParam(binary(Buffer.from('hé')), Types.text)).toBe('hé')
    // numeric -12.5: ndigits 2, weight 0, sign neg, dscale 1, digits [12, 5000]
    const num = Buffer.from([0, 2, 0, 0, 0x40, 0, 0, 1, 0, 12, 0x13, 0x88])
    expect(String(decodeParam(binary(num), Types.numeric))).toBe('-12.5')
    expect(() => decodeParam(binary(Buffer.alloc(3)), Types.int4)).toThrow(/incorrect binary data format/)
  })

  it('round-trips binary cells for fixed-size types and timestamps', () => {
    for (const [v, t] of [
      [7, Types.int2],
      [-70000, Types.int4],
      [2 ** 40, Types.int8],
      [0.5, Types.float8],
      [false, Types.bool],
      ['abc', Types.text],
      [Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 6, Types.timestamptz],
      [Date.UTC(1999, 11, 31) * 1000, Types.date],
      [{ months: 1, days: 2, micros: 3 }, Types.interval],
    ] as const) {
      const enc = encodeBinary(v, t)!
      expect(decodeParam(binary(enc), t)).toEqual(v)
    }
    expect(encodeBinary(null, Types.int4)).toBe(null)
    expect(decodeParam(binary(encodeBinary([1, null, 3], arrayOf(Types.int4))!), arrayOf(Types.int4))).toEqual([1, null, 3])
  })

  it('reads an integer of any width the driver picked, as the declared type, with 22003 out of range', () => {
    const int = (n: number, width: 2 | 4 | 8) => {
      const b = Buffer.alloc(width)
      if (width === 2) b.writeInt16BE(n)
      else if (width === 4) b.writeInt32BE(n)
      else b.writeBigInt64BE(BigInt(n))
      return b
    }
    // psycopg 3 declares a small Python int as int2 and sends 2 bytes, whatever the column is.
    expect(decodeParam(binary(int(5, 2)), Types.int8, Types.int2)).toBe(5)
    expect(decodeParam(binary(int(70000, 4)), Types.int8, Types.int4)).toBe(70000)
    expect(String(decodeParam(binary(int(7, 2)), Types.numeric, Types.int2))).toBe('7')
    expect(decodeParam(binary(int(7, 4)), Types.float8, Types.int4)).toBe(7)
    expect(decodeParam(binary(int(2 ** 40, 8)), Types.int8, Types.int8)).toBe(2 ** 40)
    // Undeclared (OID 0): the width says which integer it is.
    expect(decodeParam(binary(int(-3, 2)), Types.int8)).toBe(-3)
    expect(decodeParam(binary(int(-3, 4)), Types.int2)).toBe(-3)
    expect(String(decodeParam(binary(int(9, 4)), Types.numeric))).toBe('9')
    // A numeric sent for an integer column: rounded half away from zero, then range checked.
    expect(decodeParam(binary(encodeNumeric(12.5)), Types.int8, Types.numeric)).toBe(13)
    expect(decodeParam(binary(encodeNumeric(-12.5)), Types.int4, Types.numeric)).toBe(-13)
    const outOfRange = (v: Buffer, t: typeof Types.int2, declared: typeof Types.int2, message: string) =>
      expect(() => decodeParam(binary(v), t, declared)).toThrow(expect.objectContaining({ sqlstate: '22003', message }))
    outOfRange(int(70000, 4), Types.int2, Types.int4, 'smallint out of range')
    outOfRange(int(2 ** 40, 8), Types.int4, Types.int8, 'integer out of range')
    outOfRange(encodeNumeric(1e30), Types.int8, Types.numeric, 'bigint out of range')
    outOfRange(int(40000, 4), Types.int2, Types.unknown, 'smallint out of range')
    expect(() => decodeParam(binary(Buffer.alloc(3)), Types.int8, Types.int8)).toThrow(expect.objectContaining({ sqlstate: '22P03' }))
    expect(() => decodeParam(binary(encodeNumeric(Number.NaN)), Types.int8, Types.numeric)).toThrow(expect.objectContaining({ sqlstate: '0A000', message: 'cannot convert NaN to bigint' }))
    const nan = Buffer.alloc(8)
    nan.writeDoubleBE(Number.NaN)
    outOfRange(nan, Types.int8, Types.float8, 'bigint out of range')
  })


  it('formats text cells', () => {
    expect(encodeText(true, Types.bool)).toEqual(Buffer.from('t'))
    expect(encodeText(null, Types.text)).toBe(null)
    expect(encodeCell(3, Types.int8, 0)).toBe('3')
  })
})

/**
 * Binary formats byte by byte, as PostgreSQL's *_send functions write them: integers and floats big-endian
 * (float4/float8 IEEE 754), bool one byte, text its UTF-8 bytes, timestamps int64 microseconds since
 * 2000-01-01 00:00 UTC, date int32 days since then, interval int64 microseconds + int32 days + int32 months,
 * jsonb a version byte 1 then the text, numeric (numeric.c, numeric_send) int16 ndigits, int16 weight,
 * uint16 sign (0x0000 +, 0x4000 -, 0xC000 NaN, 0xD000 +Infinity, 0xF000 -Infinity), int16 dscale, then
 * base-10000 digits without leading or trailing zero digits.
 */
describe('binary formats, byte by byte', () => {
  const hex = (v: Parameters<typeof encodeBinary>[0], t: Parameters<typeof encodeBinary>[1]) => encodeBinary(v, t)!.toString('hex')
  const binary = (data: Buffer) => ({ format: 1 as const, data })
  const PG_EPOCH_MICROS = Date.UTC(2000, 0, 1) * 1000

  it('integers, floats, bool, text, bytea, json and jsonb', () => {
    expect(hex(7, Types.int2)).toBe('0007')
    expect(hex(-2, Types.int2)).toBe('fffe')
    expect(hex(-70000, Types.int4)).toBe('fffeee90')
    expect(hex(2 ** 40, Types.int8)).toBe('0000010000000000')
    expect(hex(-1, Types.int8)).toBe('ffffffffffffffff')
    expect(hex(1.5, Types.float4)).toBe('3fc00000')
    expect(hex(0.5, Types.float8)).toBe('3fe0000000000000')
    expect(hex(true, Types.bool)).toBe('01')
    expect(hex(false, Types.bool)).toBe('00')
    expect(hex('hé', Types.text)).toBe('68c3a9')
    expect(hex(Buffer.from([0, 255]), Types.bytea)).toBe('00ff')
    expect(hex('{"a":1}', Types.json)).toBe(Buffer.from('{"a":1}').toString('hex'))
    expect(hex('{"a": 1}', Types.jsonb)).toBe(`01${Buffer.from('{"a": 1}').toString('hex')}`)
  })

  it('timestamps, dates and intervals count from 2000-01-01', () => {
    expect(hex(PG_EPOCH_MICROS, Types.timestamptz)).toBe('0000000000000000')
    expect(hex(PG_EPOCH_MICROS + 1_000_000, Types.timestamp)).toBe('00000000000f4240')
    expect(hex(PG_EPOCH_MICROS - 1, Types.timestamptz)).toBe('ffffffffffffffff')
    expect(hex(Number.POSITIVE_INFINITY, Types.timestamptz)).toBe('7fffffffffffffff')
    expect(hex(PG_EPOCH_MICROS + 86_400_000_000, Types.date)).toBe('00000001')
    expect(hex(PG_EPOCH_MICROS - 86_400_000_000, Types.date)).toBe('ffffffff')
    expect(hex({ months: 1, days: 2, micros: 3 }, Types.interval)).toBe('0000000000000003' + '00000002' + '00000001')
    for (const [bytes, t] of [['00000000000f4240', Types.timestamptz], ['00000001', Types.date]] as const) {
      expect(hex(decodeParam(binary(Buffer.from(bytes, 'hex')), t), t)).toBe(bytes)
    }
  })

  it('numeric: base-10000 digits aligned on the decimal point, with weight and display scale', () => {
    const cases: [number, string][] = [
      [12.5, '0002' + '0000' + '0000' + '0001' + '000c' + '1388'],
      [-12.5, '0002' + '0000' + '4000' + '0001' + '000c' + '1388'],
      [0, '0000' + '0000' + '0000' + '0000'],
      [0.0001, '0001' + 'ffff' + '0000' + '0004' + '0001'],
      [0.00001, '0001' + 'fffe' + '0000' + '0005' + '03e8'],
      [10000, '0001' + '0001' + '0000' + '0000' + '0001'],
      [123456789.25, '0004' + '0002' + '0000' + '0002' + '0001' + '0929' + '1a85' + '09c4'],
      [Number.NaN, '0000' + '0000' + 'c000' + '0000'],
      // As PostgreSQL 15's numeric_send writes them: display scale 32.
      [Number.POSITIVE_INFINITY, '0000' + '0000' + 'd000' + '0020'],
      [Number.NEGATIVE_INFINITY, '0000' + '0000' + 'f000' + '0020'],
    ]
    for (const [v, bytes] of cases) {
      expect(encodeNumeric(v).toString('hex'), String(v)).toBe(bytes)
      expect(hex(v, Types.numeric)).toBe(bytes)
      // Back exactly, at the display scale sent (0.00001 has scale 5).
      const back = decodeParam(binary(Buffer.from(bytes, 'hex')), Types.numeric)
      expect(Number(back)).toBe(v)
      expect(encodeNumeric(back as number).toString('hex')).toBe(bytes)
    }
  })

  it('every type, arrays included, has a binary output format', () => {
    expect(() => checkResultFormat(Types.numeric, 1, 'x')).not.toThrow()
    expect(() => checkResultFormat(arrayOf(Types.int4), 1, 'xs')).not.toThrow()
  })

  /** array_send: ndim, flags (has NULLs), element OID, per dimension size and lower bound, then elements. */
  it('arrays: ndim, flags, element OID, dimension and lower bound, then length-prefixed elements', () => {
    expect(hex([1, 2], arrayOf(Types.int8))).toBe('00000001' + '00000000' + '00000014' + '00000002' + '00000001' + '00000008' + '0000000000000001' + '00000008' + '0000000000000002')
    expect(hex(['a', null], arrayOf(Types.text))).toBe('00000001' + '00000001' + '00000019' + '00000002' + '00000001' + '00000001' + '61' + 'ffffffff')
    // The empty array has no dimensions.
    expect(hex([], arrayOf(Types.int4))).toBe('00000000' + '00000000' + '00000017')
    expect(hex([true], arrayOf(Types.bool))).toBe('00000001' + '00000000' + '00000010' + '00000001' + '00000001' + '00000001' + '01')
    const types = [Types.int2, Types.int4, Types.int8, Types.float4, Types.float8, Types.numeric, Types.bool, Types.text, Types.timestamptz, Types.date, Types.interval, Types.jsonb, Types.json]
    const samples: unknown[] = [[1, null, -2], [70000, null], [2 ** 40, null], [1.5, null], [0.1, null], [12.5, 0, null], [true, false, null], ['x', 'y z', '', null], [PG_EPOCH_MICROS + 1, null], [PG_EPOCH_MICROS + 86_400_000_000, null], [{ months: 1, days: 2, micros: 3 }, null], ['{"a": 1}', null], ['[1]', null]]
    types.forEach((t, i) => {
      const enc = encodeBinary(samples[i] as never, arrayOf(t))!
      const back = decodeParam(binary(enc), arrayOf(t)) as unknown[]
      // numeric elements come back exact, as Numeric values.
      expect(t.name === 'numeric' ? back.map((x) => (x === null ? null : Number(x))) : back, t.name).toEqual(samples[i])
    })
    expect(decodeParam(binary(Buffer.from('00000000' + '00000000' + '00000017', 'hex')), arrayOf(Types.int8))).toEqual([])
    // int2vector counts from 0, as PostgreSQL's int2vectorsend writes it.
    expect(hex([1, 2], { name: 'int2', element: Types.int2, pgOid: 22, pgSize: -1 })).toBe('00000001' + '00000000' + '00000015' + '00000002' + '00000000' + '00000002' + '0001' + '00000002' + '0002')
  })

  it('array parameters: elements read as the array says, converted to the expected element type', () => {
    // psycopg 3 sends a list of small ints as int2[] (element OID 21) for a bigint[] parameter.
    const int2s = Buffer.from('00000001' + '00000000' + '00000015' + '00000002' + '00000001' + '00000002' + '0001' + '00000002' + 'fffe', 'hex')
    expect(decodeParam(binary(int2s), arrayOf(Types.int8), arrayOf(Types.int2))).toEqual([1, -2])
    expect(decodeParam(binary(int2s), arrayOf(Types.int8))).toEqual([1, -2])
    const twoDims = Buffer.from('00000002' + '00000000' + '00000017' + '00000001' + '00000001' + '00000001' + '00000001' + '00000004' + '00000001', 'hex')
    expect(() => decodeParam(binary(twoDims), arrayOf(Types.int4))).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
    expect(() => decodeParam({ format: 0, data: Buffer.from('{{1,2},{3,4}}') }, arrayOf(Types.int4))).toThrow(expect.objectContaining({ sqlstate: '0A000' }))
    expect(() => decodeParam(binary(int2s.subarray(0, int2s.length - 1)), arrayOf(Types.int8))).toThrow(expect.objectContaining({ sqlstate: '22P03' }))
  })
})
