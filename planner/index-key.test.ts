import { beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseExpression } from '../parser/index.ts'
import { Types } from '../common/types.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import { equalityKey } from './index-key.ts'

const scope = new Scope([
  { table: 'new', name: 'type', type: Types.text, nullable: true },
  { table: 'new', name: 'level', type: Types.int4, nullable: true },
  { table: 'p', name: 'lost', type: Types.int8, nullable: true },
])
const key = (sql: string) => equalityKey(bindExpr(parseExpression(sql), { scope, params: [], clause: 'WHEN' }), 2)

describe('equalityKey', () => {
  beforeAll(async () => {
    await initParser()
  })

  test('finds a column = constant conjunct on the event', () => {
    expect(key("new.type = 'fight' AND p.lost >= 3")).toEqual({ column: 0, value: 'fight' })
    expect(key("p.lost > 1 AND 3 = new.level")).toEqual({ column: 1, value: 3 })
  })

  test('ignores what it cannot use: OR, other operators, columns of the joined view', () => {
    expect(key("new.type = 'fight' OR new.level = 3")).toBeNull()
    expect(key('new.level > 3')).toBeNull()
    expect(key('p.lost = 3')).toBeNull()
  })
})
