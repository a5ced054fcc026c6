/** MATCH_RECOGNIZE as SQL text again, for round trips, EXPLAIN and error messages. */
import { RESERVED_KEYWORDS } from '../keywords.ts'
import type { AfterMatchSkip, MatchRecognize, PatternExpr, Quantifier, RowPattern, RowsPerMatch } from './ast.ts'

const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/

/** A name as SQL text, quoted when it would not read back as itself. */
function printName(name: string): string {
  return PLAIN_NAME.test(name) && !RESERVED_KEYWORDS.has(name) ? name : `"${name.replace(/"/g, '""')}"`
}

/** Pattern variables are quoted also when they would read as PERMUTE. */
function printVariable(name: string): string {
  return name === 'permute' ? '"permute"' : printName(name)
}

function printQuantifier(q: Quantifier): string {
  const suffix = q.reluctant ? '?' : ''
  switch (q.kind) {
    case 'zero_or_more':
      return `*${suffix}`
    case 'one_or_more':
      return `+${suffix}`
    case 'zero_or_one':
      return `?${suffix}`
    case 'exactly':
      return `{${q.count}}${suffix}`
    case 'range':
      return `{${q.min ?? ''},${q.max ?? ''}}${suffix}`
  }
}

/** A row pattern as PATTERN text; parentheses are added where a constructed tree needs them. */
export function printRowPattern(p: RowPattern): string {
  switch (p.kind) {
    case 'variable':
      // Unquoted as written when that reads back as the same name, so that CLASSIFIER() keeps its spelling.
      return p.label !== p.name && p.label.toLowerCase() === p.name && PLAIN_NAME.test(p.name) && !RESERVED_KEYWORDS.has(p.name) && p.name !== 'permute' ? p.label : printVariable(p.name)
    case 'empty':
      return '()'
    case 'anchor':
      return p.anchor === 'partition_start' ? '^' : '$'
    case 'group':
      return `(${printRowPattern(p.pattern)})`
    case 'exclusion':
      return `{- ${printRowPattern(p.pattern)} -}`
    case 'permute':
      return `PERMUTE(${p.items.map(printRowPattern).join(', ')})`
    case 'alternation':
      return p.alternatives.map(printRowPattern).join(' | ')
    case 'concat':
      return p.items.map((item) => (item.kind === 'alternation' ? `(${printRowPattern(item)})` : printRowPattern(item))).join(' ')
    case 'quantified': {
      const inner = p.pattern
      const atomic = inner.kind !== 'concat' && inner.kind !== 'alternation' && inner.kind !== 'quantified'
      return `${atomic ? printRowPattern(inner) : `(${printRowPattern(inner)})`}${printQuantifier(p.quantifier)}`
    }
  }
}

function printPatternExpr(e: PatternExpr): string {
  return e.semantics === undefined ? e.text : `${e.semantics.toUpperCase()} ${e.text}`
}

function printRowsPerMatch(r: RowsPerMatch): string {
  switch (r.kind) {
    case 'one_row':
      return 'ONE ROW PER MATCH'
    case 'all_rows':
      return `ALL ROWS PER MATCH ${r.mode.toUpperCase().replace(/_/g, ' ')}`
  }
}

function printSkip(s: AfterMatchSkip): string {
  switch (s.kind) {
    case 'past_last_row':
      return 'AFTER MATCH SKIP PAST LAST ROW'
    case 'to_next_row':
      return 'AFTER MATCH SKIP TO NEXT ROW'
    case 'to_first':
      return `AFTER MATCH SKIP TO FIRST ${printName(s.variable)}`
    case 'to_last':
      return `AFTER MATCH SKIP TO LAST ${printName(s.variable)}`
  }
}

/** The clause as SQL text (`MATCH_RECOGNIZE ( ... ) AS alias`), one clause per line. */
export function printMatchRecognize(m: MatchRecognize): string {
  const lines: string[] = []
  if (m.partitionBy.length > 0) lines.push(`PARTITION BY ${m.partitionBy.map((e) => e.text).join(', ')}`)
  if (m.orderBy.length > 0) {
    const items = m.orderBy.map((o) => [o.expr.text, o.direction?.toUpperCase(), o.nulls === undefined ? undefined : `NULLS ${o.nulls.toUpperCase()}`].filter((x) => x !== undefined).join(' '))
    lines.push(`ORDER BY ${items.join(', ')}`)
  }
  if (m.measures.length > 0) lines.push(`MEASURES ${m.measures.map((x) => `${printPatternExpr(x.expr)} AS ${printName(x.name)}`).join(', ')}`)
  if (m.rowsPerMatch !== undefined) lines.push(printRowsPerMatch(m.rowsPerMatch))
  if (m.afterMatchSkip !== undefined) lines.push(printSkip(m.afterMatchSkip))
  lines.push(`PATTERN (${m.pattern.kind === 'empty' ? '' : printRowPattern(m.pattern)})${m.within === undefined ? '' : ` WITHIN ${m.within.interval.text}`}`)
  if (m.subsets.length > 0) lines.push(`SUBSET ${m.subsets.map((s) => `${printName(s.name)} = (${s.members.map((x) => printName(x.name)).join(', ')})`).join(', ')}`)
  if (m.defines.length > 0) lines.push(`DEFINE ${m.defines.map((d) => `${printName(d.variable)} AS ${printPatternExpr(d.condition)}`).join(', ')}`)
  const alias = m.alias === undefined ? '' : ` AS ${printName(m.alias.name)}${m.alias.columns.length > 0 ? ` (${m.alias.columns.map(printName).join(', ')})` : ''}`
  return `MATCH_RECOGNIZE (\n  ${lines.join('\n  ')}\n)${alias}`
}
