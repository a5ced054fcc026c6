import { beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseExpression } from '../parser/index.ts'
import { Types } from '../common/types.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import { equalityKeys } from './index-key.ts'

const scope = new Scope([
  { table: 'new', name: 'type', type: Types.text, nullable: true },
  { table: 'new', name: 'level', type: Types.int4, nullable: true },
  { table: 'p', name: 'lost', type: Types.int8, nullable: true },
])
const keys = (sql: string) => equalityKeys(bindExpr(parseExpression(sql), { scope, params: [], clause: 'WHEN' }), 2)

describe('equalityKeys', () => {
  beforeAll(async () => {
    await initParser()
  })

  test('finds a column = constant conjunct on the event', () => {
    expect(keys("new.type = 'fight' AND p.lost >= 3")).toEqual([{ column: 0, value: 'fight' }])
    expect(keys("p.lost > 1 AND 3 = new.level")).toEqual([{ column: 1, value: 3 }])
  })

  test('finds every such conjunct, however the ANDs nest', () => {
    expect(keys("new.type = 'fight' AND (new.level = 7 AND p.lost >= 3)")).toEqual([
      { column: 0, value: 'fight' },
      { column: 1, value: 7 },
    ])
  })

  test('ignores what it cannot use: OR, other operators, columns of the joined view', () => {
    expect(keys("new.type = 'fight' OR new.level = 3")).toEqual([])
    expect(keys('new.level > 3')).toEqual([])
    expect(keys('p.lost = 3')).toEqual([])
  })
})
