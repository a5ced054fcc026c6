/** Human-readable text of bound expressions, for EXPLAIN and messages. */
import { formatValue } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'

const INFIX = new Set(['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '||', '~', '~*', '!~', '!~*', 'like', 'ilike'])

export function displayExpr(e: BoundExpr, names: readonly string[], aggNames: readonly string[] = []): string {
  const d = (x: BoundExpr) => displayExpr(x, names, aggNames)
  switch (e.kind) {
    case 'column':
      return names[e.index] ?? e.name
    case 'const':
      if (e.value === null) return 'NULL'
      if (typeof e.value === 'string') return `'${e.value.replace(/'/g, "''")}'`
      if (typeof e.value === 'number' || typeof e.value === 'boolean') return String(e.value)
      return `'${formatValue(e.value, e.type)}'::${e.type.name}`
    case 'param':
      return `$${e.index + 1}`
    case 'agg_ref':
      return aggNames[e.index] ?? `agg${e.index}`
    case 'call':
      if (INFIX.has(e.fn) && e.args.length === 2) return `(${d(e.args[0]!)} ${e.fn.toUpperCase() === e.fn ? e.fn : e.fn.toUpperCase()} ${d(e.args[1]!)})`
      if (e.fn === '-' && e.args.length === 1) return `(-${d(e.args[0]!)})`
      return `${e.fn}(${e.args.map(d).join(', ')})`
    case 'logic':
      if (e.op === 'not') return `(NOT ${d(e.args[0]!)})`
      return `(${e.args.map(d).join(` ${e.op.toUpperCase()} `)})`
    case 'case':
      return `CASE ${e.whens.map((w) => `WHEN ${d(w.when)} THEN ${d(w.then)}`).join(' ')}${e.else ? ` ELSE ${d(e.else)}` : ''} END`
    case 'cast':
      return `${d(e.expr)}::${e.type.name}`
    case 'is_null':
      return `(${d(e.expr)} IS ${e.negated ? 'NOT ' : ''}NULL)`
    case 'in_list':
      return `(${d(e.expr)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(d).join(', ')}))`
  }
}
