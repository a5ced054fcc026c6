import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import { initParser, parseStatements } from './index.ts'

beforeAll(async () => {
  await initParser()
})

const one = (sql: string) => parseStatements(sql)[0]!.statement

describe('ALTER STREAM', () => {
  it('parses CLOSE and RESET WATERMARK with and without TO', () => {
    expect(one('ALTER STREAM s CLOSE')).toMatchObject({ kind: 'alter_stream', action: 'close' })
    const plain = one('ALTER STREAM s RESET WATERMARK')
    expect(plain).toMatchObject({ kind: 'alter_stream', action: 'reset_watermark' })
    expect('resetTo' in plain).toBe(false)
    const sql = "ALTER STREAM s RESET WATERMARK TO TIMESTAMPTZ '2026-01-01 00:00:00+00'"
    const to = one(sql)
    expect(to).toMatchObject({ action: 'reset_watermark', resetTo: { text: '2026-01-01 00:00:00+00' } })
    const span = (to as { resetTo: { span: { start: number; end: number } } }).resetTo.span
    expect(sql.slice(span.start, span.end)).toBe("'2026-01-01 00:00:00+00'")
    expect(one("alter stream s reset watermark to '2026-01-01'")).toMatchObject({ resetTo: { text: '2026-01-01' } })
    expect(one("ALTER STREAM s RESET WATERMARK TO TIMESTAMP WITH TIME ZONE '2026-01-01'")).toMatchObject({ resetTo: { text: '2026-01-01' } })
  })

  it('refuses anything else with 42601 and a position', () => {
    for (const sql of ['ALTER STREAM s RESET', 'ALTER STREAM s RESET WATERMARK TO now()', 'ALTER STREAM s OPEN', "ALTER STREAM s RESET WATERMARK TO '2026-01-01' x"]) {
      let err: unknown
      try {
        parseStatements(sql)
      } catch (e) {
        err = e
      }
      expect(err, sql).toBeInstanceOf(SluiceError)
      expect((err as SluiceError).sqlstate).toBe('42601')
      expect((err as SluiceError).span).toBeDefined()
    }
  })
})
