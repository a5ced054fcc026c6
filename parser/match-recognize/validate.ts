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
  if (node.afterMatchSkip !== undefined) validateSkip(node.afterMatchSkip, primaries, unions)
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
 * AFTER MATCH SKIP TO [FIRST | LAST] v must name a pattern or union variable. Resuming at a match's own
 * first row is the standard's run-time exception (2202L), raised by the executor at the first match that
 * does it, as Trino does: a pattern that could do it may still never match so on the data.
 */
function validateSkip(skip: AfterMatchSkip, primaries: ReadonlySet<string>, unions: ReadonlyMap<string, ReadonlySet<string>>): void {
  if (skip.kind !== 'to_first' && skip.kind !== 'to_last') return
  const targets = unions.get(skip.variable) ?? (primaries.has(skip.variable) ? new Set([skip.variable]) : undefined)
  if (targets === undefined) throw undefinedVariable(skip.variable, skip.variableSpan, 'PATTERN or SUBSET')
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

function findExclusion(p: RowPattern): PatternExclusion | undefined {
  if (p.kind === 'exclusion') return p
  for (const child of rowPatternChildren(p)) {
    const found = findExclusion(child)
    if (found !== undefined) return found
  }
  return undefined
}
