import { describe, expect, it } from 'vitest'
import { explainTree } from './explain-tree.ts'

describe('explainTree', () => {
  it('nests operators by their arrows and keeps detail lines with their operator', () => {
    const roots = explainTree([
      'MaterializedView v (emit on update)',
      '->  Project a AS a',
      '  ->  KeyedAggregate keys=[a] aggregates=[count(*)]',
      '        rows=3',
      '    ->  LogScan s',
      '  ->  Other x',
    ])
    expect(roots).toHaveLength(1)
    const mv = roots[0]!
    expect(mv.name).toBe('MaterializedView')
    expect(mv.text).toBe('v (emit on update)')
    const project = mv.children[0]!
    expect(project.children.map((c) => c.name)).toEqual(['KeyedAggregate', 'Other'])
    expect(project.children[0]!.details).toEqual(['rows=3'])
    expect(project.children[0]!.children[0]!.name).toBe('LogScan')
  })

  it('gives one root per plan and a name without text for bare operators', () => {
    const roots = explainTree(['Limit', '->  Sort', 'Result'])
    expect(roots.map((r) => r.name)).toEqual(['Limit', 'Result'])
    expect(roots[0]!.children[0]).toEqual({ name: 'Sort', text: '', details: [], children: [] })
  })
})
