/** Validation of a parsed MATCH_RECOGNIZE clause: the references between its parts. */
import { SluiceError, SqlState, planError, syntaxError, type Span } from '../../common/errors.ts'
import {
  patternVariables,
  quantifierBounds,
  rowPatternChildren,
  type AfterMatchSkip,
  type Define,
  type MatchRecognize,
  type Measure,
  type PatternExclusion,
  type RowPattern,
  type SubsetDef,
} from './ast.ts'

/** Checks the references between PATTERN, SUBSET, DEFINE, MEASURES and AFTER MATCH SKIP. */
export function validateMatchRecognize(node: MatchRecognize): void {
  const primaries = new Set(patternVariables(node.pattern))
  const unions = validateSubsets(node.subsets, primaries)
  validateDefines(node.defines, primaries, unions)
  validateMeasures(node.measures)
  if (node.afterMatchSkip !== undefined) validateSkip(node.afterMatchSkip, node.pattern, primaries, unions)
  if (node.rowsPerMatch?.kind === 'all_rows' && node.rowsPerMatch.mode === 'with_unmatched_rows') {
    const exclusion = findExclusion(node.pattern)
    if (exclusion !== undefined) {
      throw syntaxError('pattern exclusion {- -} cannot be used with ALL ROWS PER MATCH WITH UNMATCHED ROWS', exclusion.span)
    }
  }
}

function validateSubsets(subsets: readonly SubsetDef[], primaries: ReadonlySet<string>): Map<string, ReadonlySet<string>> {
  const unions = new Map<string, ReadonlySet<string>>()
  for (const s of subsets) {
    if (primaries.has(s.name)) throw syntaxError(`union variable "${s.name}" has the name of a pattern variable`, s.nameSpan)
    if (unions.has(s.name)) throw syntaxError(`union variable "${s.name}" is defined twice`, s.nameSpan)
    const members = new Set<string>()
    for (const m of s.members) {
      if (!primaries.has(m.name)) throw undefinedVariable(m.name, m.span, 'PATTERN')
      if (members.has(m.name)) throw syntaxError(`pattern variable "${m.name}" appears twice in SUBSET ${s.name}`, m.span)
      members.add(m.name)
    }
    unions.set(s.name, members)
  }
  return unions
}

function validateDefines(defines: readonly Define[], primaries: ReadonlySet<string>, unions: ReadonlyMap<string, ReadonlySet<string>>): void {
  const seen = new Set<string>()
  for (const d of defines) {
    if (unions.has(d.variable)) {
      throw planError(SqlState.invalidColumnReference, `"${d.variable}" is a union variable (SUBSET); DEFINE defines pattern variables only`, d.variableSpan)
    }
    if (!primaries.has(d.variable)) throw undefinedVariable(d.variable, d.variableSpan, 'PATTERN')
    if (seen.has(d.variable)) throw syntaxError(`pattern variable "${d.variable}" is defined twice`, d.variableSpan)
    seen.add(d.variable)
  }
}

function validateMeasures(measures: readonly Measure[]): void {
  const seen = new Set<string>()
  for (const m of measures) {
    if (seen.has(m.name)) throw planError(SqlState.duplicateColumn, `measure "${m.name}" is specified more than once`, m.nameSpan)
    seen.add(m.name)
  }
}

function undefinedVariable(name: string, span: Span, where: string): SluiceError {
  return planError(SqlState.invalidColumnReference, `pattern variable "${name}" does not appear in ${where}`, span)
}

/**
 * AFTER MATCH SKIP TO [FIRST | LAST] v must name a pattern or union variable. It is also rejected when every
 * non-empty match would restart at its own first row, which the standard makes an exception at run time
 * (an endless loop otherwise): every match starts with a row of v and, for LAST, has no other row of v.
 * We raise it here with the same SQLSTATE 2202L, so a client sees one code for one mistake whether it is
 * caught now or by the executor on data (where the cases this static check cannot see are caught).
 */
function validateSkip(skip: AfterMatchSkip, pattern: RowPattern, primaries: ReadonlySet<string>, unions: ReadonlyMap<string, ReadonlySet<string>>): void {
  if (skip.kind !== 'to_first' && skip.kind !== 'to_last') return
  const targets = unions.get(skip.variable) ?? (primaries.has(skip.variable) ? new Set([skip.variable]) : undefined)
  if (targets === undefined) throw undefinedVariable(skip.variable, skip.variableSpan, 'PATTERN or SUBSET')
  const first = firstRowVariables(pattern)
  const alwaysStartsWithTarget = first.size > 0 && [...first].every((v) => targets.has(v))
  if (!alwaysStartsWithTarget) return
  if (skip.kind === 'to_last' && maxRowsOf(pattern, targets) > 1) return
  const which = skip.kind === 'to_first' ? 'FIRST' : 'LAST'
  throw planError(
    SqlState.skipToFirstRowOfMatch,
    `AFTER MATCH SKIP TO ${which} ${skip.variable} would restart every match at its own first row`,
    skip.span,
    'Use AFTER MATCH SKIP TO NEXT ROW to look for overlapping matches.',
  )
}

/** The variables the first row of a non-empty match can be mapped to (an over-approximation: anchors are ignored). */
function firstRowVariables(p: RowPattern): Set<string> {
  switch (p.kind) {
    case 'variable':
      return new Set([p.name])
    case 'empty':
    case 'anchor':
      return new Set()
    case 'group':
    case 'exclusion':
      return firstRowVariables(p.pattern)
    case 'quantified':
      return quantifierBounds(p.quantifier).max > 0 ? firstRowVariables(p.pattern) : new Set()
    case 'alternation':
    case 'permute':
      return union(rowPatternChildren(p).map(firstRowVariables))
    case 'concat': {
      const sets: Set<string>[] = []
      for (const item of p.items) {
        sets.push(firstRowVariables(item))
        if (!canMatchEmpty(item)) break
      }
      return union(sets)
    }
  }
}

function union(sets: readonly Set<string>[]): Set<string> {
  const out = new Set<string>()
  for (const s of sets) for (const v of s) out.add(v)
  return out
}

/** Whether a pattern can match no rows at all. */
export function canMatchEmpty(p: RowPattern): boolean {
  switch (p.kind) {
    case 'variable':
      return false
    case 'empty':
    case 'anchor':
      return true
    case 'group':
    case 'exclusion':
      return canMatchEmpty(p.pattern)
    case 'quantified':
      return quantifierBounds(p.quantifier).min === 0 || canMatchEmpty(p.pattern)
    case 'alternation':
      return p.alternatives.some(canMatchEmpty)
    case 'concat':
    case 'permute':
      return p.items.every(canMatchEmpty)
  }
}

/** The most rows one match can map to the `targets` variables (Infinity when unbounded). */
function maxRowsOf(p: RowPattern, targets: ReadonlySet<string>): number {
  switch (p.kind) {
    case 'variable':
      return targets.has(p.name) ? 1 : 0
    case 'empty':
    case 'anchor':
      return 0
    case 'group':
    case 'exclusion':
      return maxRowsOf(p.pattern, targets)
    case 'quantified': {
      const inner = maxRowsOf(p.pattern, targets)
      const { max } = quantifierBounds(p.quantifier)
      return inner === 0 || max === 0 ? 0 : inner * max
    }
    case 'alternation':
      return Math.max(0, ...p.alternatives.map((a) => maxRowsOf(a, targets)))
    case 'concat':
    case 'permute':
      return p.items.reduce((sum, item) => sum + maxRowsOf(item, targets), 0)
  }
}

function findExclusion(p: RowPattern): PatternExclusion | undefined {
  if (p.kind === 'exclusion') return p
  for (const child of rowPatternChildren(p)) {
    const found = findExclusion(child)
    if (found !== undefined) return found
  }
  return undefined
}
