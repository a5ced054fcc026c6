/**
 * docs/sql-reference.md lists the supported functions as `npm run docs:functions` writes them from the
 * function tables: a function added, removed or compared differently without rewriting the list fails here.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { DOC, renderFunctionList, withFunctionList } from '../scripts/docs-functions.ts'
import { FUNCTION_NAMES } from '../planner/functions.ts'

describe('the function list of docs/sql-reference.md', () => {
  test('is what the generator writes from the function tables', () => {
    const doc = readFileSync(DOC, 'utf8')
    expect(withFunctionList(doc), 'run `npm run docs:functions`').toBe(doc)
  })

  test('names every scalar function with its signatures or the reason it is not compared', () => {
    const list = renderFunctionList()
    for (const f of FUNCTION_NAMES) expect(list).toContain(`| \`${f}\` |`)
    expect(list).toContain('`lpad(text, integer, text)`')
    expect(list).toMatch(/\| `random` \| scalar \| not compared: volatile/)
  })
})
