import { describe, expect, it } from 'vitest'
import { Types, numericType, type Column, type Row } from '../common/types.ts'
import { DecodeError, compileByteDecoder, compileDecoder, type ByteDecoder } from './decode.ts'
import { JsonScanner, UNREAD } from './json-scan.ts'

const col = (name: string, type: Column['type'], nullable = true): Column => ({ name, type, nullable })

const COLUMNS: Column[] = [
  col('id', Types.int8, false),
  col('n4', Types.int4),
  col('n2', Types.int2),
  col('f8', Types.float8),
  col('f4', Types.float4),
  col('name', Types.text),
  col('ok', Types.bool),
  col('ts', Types.timestamptz),
  col('amount', Types.numeric),
  col('doc', Types.jsonb),
  col('must', Types.text, false),
  col('price', numericType(5, 2)),
]

type Outcome = { row: Row } | { error: string; decodeError: boolean }

function outcome(f: () => Row): Outcome {
  try {
    return { row: f() }
  } catch (err) {
    return { error: (err as Error).message, decodeError: err instanceof DecodeError }
  }
}

/** What compileDecoder gives, with the cells outside `read` null (as the byte decoder leaves them). */
function expected(record: string, read: ReadonlySet<number> | null): Outcome {
  const o = outcome(() => compileDecoder(COLUMNS)(record))
  if (!('row' in o) || read === null) return o
  return { row: o.row.map((v, i) => (read.has(i) ? v : null)) }
}

const byteDecoders = new Map<ReadonlySet<number> | null, ByteDecoder>()

function viaBytes(record: string, read: ReadonlySet<number> | null): Outcome {
  const bytes = Buffer.from(`xx${record}yy`, 'latin1')
  let decode = byteDecoders.get(read)
  if (decode === undefined) byteDecoders.set(read, (decode = compileByteDecoder(COLUMNS, read)!))
  return outcome(() => decode(bytes, 2, 2 + record.length))
}

/** Records the scanner takes and records it must leave to JSON.parse, each against compileDecoder. */
const CASES = [
  '{"id":1,"n4":2,"n2":3,"f8":1.5,"f4":2.25,"name":"a","ok":true,"ts":1795000000039,"must":"m"}',
  ' { "id" : 1 ,\t"name":"x y",\r\n"must":"m" } ',
  '{"id":1,"must":"m","extra":{"a":[1,2,{"b":null}],"c":"\\u00e9\\n"},"more":[[],{}],"z":-1.5e-3}',
  '{"id":-0,"f8":-0.0,"must":"m"}',
  '{"id":9007199254740993,"must":"m"}',
  '{"id":123456789012345,"n4":2147483647,"must":"m"}',
  '{"id":1234567890123456,"must":"m"}',
  '{"id":1,"n4":2147483648,"must":"m"}',
  '{"id":1,"n2":40000,"must":"m"}',
  '{"id":1,"f4":1e39,"must":"m"}',
  '{"id":1,"f8":1e400,"must":"m"}',
  '{"id":1.5,"must":"m"}',
  '{"id":"42","must":"m"}',
  '{"id":" 42 ","must":"m"}',
  '{"id":"x","must":"m"}',
  '{"id":1,"name":12,"must":"m"}',
  '{"id":1,"name":true,"must":"m"}',
  '{"id":1,"name":{"a":1},"must":"m"}',
  '{"id":1,"name":"tab\there","must":"m"}',
  '{"id":1,"name":"esc\\"aped","must":"m"}',
  '{"id":1,"name":"nul\\u0000","must":"m"}',
  '{"id":1,"ok":"t","must":"m"}',
  '{"id":1,"ok":0,"must":"m"}',
  '{"id":1,"ok":"maybe","must":"m"}',
  '{"id":1,"ts":"2026-12-07T10:00:00.123456Z","must":"m"}',
  '{"id":1,"ts":"2026-02-30T10:00:00Z","must":"m"}',
  '{"id":1,"ts":9e15,"must":"m"}',
  '{"id":1,"ts":true,"must":"m"}',
  '{"id":1,"amount":2.50,"must":"m"}',
  '{"id":1,"amount":null,"doc":null,"must":"m"}',
  '{"id":1,"amount":-12345678901234567890.125,"must":"m"}',
  '{"id":1,"amount":1e-7,"price":1.005,"must":"m"}',
  '{"id":1,"price":12345.5,"must":"m"}',
  '{"id":1,"price":"2.5","must":"m"}',
  '{"t":"amount","amount":2.50,"id":1,"must":"m"}',
  '{"meta":{"amount":2.5},"amount":2.50,"id":1,"must":"m"}',
  '{"meta":["x"],"amount":0.10,"id":1,"must":"m"}',
  '{"id":1,"doc":{"x":1.10},"must":"m"}',
  '{"id":1,"id":2,"must":"m"}',
  '{"must":"m"}',
  '{"id":null,"must":"m"}',
  '{"id":1}',
  '{"id":1,"must":null}',
  '{}',
  '[]',
  '1',
  'null',
  '',
  '{"id":1,"must":"m"',
  '{"id":1,"must":"m"}x',
  '{"id":1,"must":"m",}',
  '{"id":01,"must":"m"}',
  '{"id":1.,"must":"m"}',
  '{"id":1e,"must":"m"}',
  '{"id":-,"must":"m"}',
  '{"id":1,"must":"m","x":nul}',
  '{"id":1,"must":"m","x":tru}',
  '{"id":1,"must":"m","x":"bad \\q escape"}',
  '{"id":1,"must":"m","x":"\\u12g4"}',
  '{"id":1,"must":"m","x":[1,]}',
  '{"id":1,"must":"m","x":{"a" 1}}',
  '{"id":1,"ok":fals,"must":"m"}',
  '{"id":1,"ok":false,"must":"m"}',
  '{"id" :1 ,"must": "m"}',
  '{"i\\u0064":1,"must":"m"}',
  '{"id":1,"must":"m","__proto__":{"id":5}}',
  '{"id":1,\f"must":"m"}',
]

const SETS: (ReadonlySet<number> | null)[] = [null, new Set([0]), new Set([0, 5, 7]), new Set([1, 2, 3, 4, 6]), new Set([8, 9, 10]), new Set([11]), new Set()]

describe('decoding JSON records from their bytes (json-scan.ts)', () => {
  it('gives compileDecoder’s row or its error for every record and every set of columns read', () => {
    for (const record of CASES) {
      for (const read of SETS) {
        expect({ record, read: read && [...read], got: viaBytes(record, read) }).toEqual({ record, read: read && [...read], got: expected(record, read) })
      }
    }
  })

  it('agrees with JSON.parse on random records, valid and broken', () => {
    let seed = 7
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    const values = ['null', 'true', 'false', '0', '-0', '12', '-7', '1.25', '1.50', '999.995', '1e3', '2.5E-2', '123456789012345678', '"s"', '""', '"a b/c"', '"\\n"', '[1,"x"]', '{"k":[null]}', '{"amount":1.25}', '"2026-01-02T03:04:05Z"']
    const names = ['id', 'n4', 'n2', 'f8', 'f4', 'name', 'ok', 'ts', 'amount', 'doc', 'must', 'price', 'other', 'amount', 'price']
    const spaces = ['', ' ', '\n', '\t', '\r\n ']
    const noise = ['', ',', '}', '"', ':', 'x', '\\', '\u0001', '{']
    let scanned = 0
    for (let k = 0; k < 10_000; k++) {
      const members: string[] = []
      for (let m = rand(8); m > 0; m--) members.push(`"${names[rand(names.length)]}"${spaces[rand(5)]}:${spaces[rand(5)]}${values[rand(values.length)]}`)
      if (rand(3) > 0) members.push('"id":1', '"must":"m"')
      let record = `${spaces[rand(5)]}{${members.join(`,${spaces[rand(5)]}`)}}${spaces[rand(5)]}`
      if (rand(6) === 0) {
        const at = rand(record.length + 1)
        record = record.slice(0, at) + noise[rand(noise.length)] + record.slice(at + rand(2))
      }
      const read = SETS[rand(SETS.length)]!
      expect({ record, got: viaBytes(record, read) }).toEqual({ record, got: expected(record, read) })
      const bytes = Buffer.from(record, 'latin1')
      const scanner = new JsonScanner(COLUMNS.map((c) => ({ name: c.name, plain: true, text: true })))
      if (scanner.scan(bytes, 0, bytes.length, [])) scanned++
    }
    // The comparison must have gone through the scanner's own path, not only JSON.parse's.
    expect(scanned).toBeGreaterThan(2000)
  })

  it('leaves the text of a column not read unmade, and reads values as JSON.parse does', () => {
    const scanner = new JsonScanner([
      { name: 'a', plain: true, text: false },
      { name: 'b', plain: true, text: true },
      { name: 'c', plain: true, text: true },
    ])
    const values: unknown[] = []
    const record = Buffer.from('{"c":1.5e2,"a":"long text","b":"kept","d":[{"x":"\\u0041"}]}')
    expect(scanner.scan(record, 0, record.length, values)).toBe(true)
    expect(values).toEqual([UNREAD, 'kept', 150])
    // Members out of the last record's order, and absent ones.
    const next = Buffer.from('{"b":"only"}')
    expect(scanner.scan(next, 0, next.length, values)).toBe(true)
    expect(values).toEqual([undefined, 'only', undefined])
  })

  it('gives each short string its own text when many share the cache', () => {
    const scanner = new JsonScanner([{ name: 's', plain: true, text: true }])
    const values: unknown[] = []
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2000; i++) {
        // Same lengths, many more values than slots: slots are shared and overwritten.
        const want = `k${String((i * 7919) % 2000).padStart(4, '0')}`
        const record = Buffer.from(`{"s":"${want}"}`)
        expect(scanner.scan(record, 0, record.length, values)).toBe(true)
        expect(values[0]).toBe(want)
      }
    }
  })

  it('serves only streams whose column names it can match', () => {
    expect(JsonScanner.takes(['id', 'player id', 'x.y'])).toBe(true)
    expect(JsonScanner.takes(['constructor'])).toBe(false)
    expect(JsonScanner.takes(['naïve'])).toBe(false)
    expect(JsonScanner.takes(['a"b'])).toBe(false)
    expect(compileByteDecoder([col('toString', Types.text)], null)).toBeNull()
  })
})
