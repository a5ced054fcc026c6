import { beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import { initParser, parseStatements } from './index.ts'

beforeAll(async () => {
  await initParser()
})

const one = (sql: string) => parseStatements(sql)[0]!.statement

describe('ALTER MATERIALIZED VIEW', () => {
  it('parses SET (...) with the options and their spans', () => {
    const sql = "ALTER MATERIALIZED VIEW v SET (max_state = '1 GB', max_output_rate = 10000)"
    const s = one(sql)
    expect(s).toMatchObject({ kind: 'alter_view', name: { parts: ['v'] }, options: [{ name: 'max_state', value: '1 GB' }, { name: 'max_output_rate', value: 10000 }] })
    if (s.kind !== 'alter_view') throw new Error(s.kind)
    const rate = s.options[1]!
    expect(rate.span.start).toBe(sql.indexOf('max_output_rate'))
  })

  it('refuses anything but SET (...) with a syntax error at the place', () => {
    for (const sql of ['ALTER MATERIALIZED VIEW v RENAME TO w', 'ALTER MATERIALIZED VIEW v SET', "ALTER MATERIALIZED VIEW v SET (max_state = '1MB') extra"]) {
      let err: unknown
      try {
        one(sql)
      } catch (e) {
        err = e
      }
      expect(err, sql).toBeInstanceOf(SluiceError)
      expect((err as SluiceError).sqlstate, sql).toBe('42601')
    }
  })
})
