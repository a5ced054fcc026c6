/**
 * The MATCH_RECOGNIZE clause as parsed (parse.ts), checked (validate.ts) and printed (print.ts): its nodes,
 * every one with a span of offsets into the whole SQL text, and the row pattern's small helpers.
 */
import type { Span } from '../../common/errors.ts'

/** `MATCH_RECOGNIZE ( ... ) AS m`: one row pattern recognition over the rows of a FROM item. */
export interface MatchRecognize {
  readonly kind: 'match_recognize'
  readonly partitionBy: readonly SqlText[]
  readonly orderBy: readonly SortItem[]
  readonly measures: readonly Measure[]
  /** Absent: ONE ROW PER MATCH (the standard's default). */
  readonly rowsPerMatch?: RowsPerMatch
  /** Absent: AFTER MATCH SKIP PAST LAST ROW (the standard's default). */
  readonly afterMatchSkip?: AfterMatchSkip
  readonly pattern: RowPattern
  /** `PATTERN ( ... )`, keyword to closing parenthesis. */
  readonly patternSpan: Span
  readonly within?: Within
  readonly subsets: readonly SubsetDef[]
  readonly defines: readonly Define[]
  readonly alias?: TableAlias
  readonly span: Span
}

/** An expression kept as written: `player_id`, `ts`, `INTERVAL '5 minutes'`. */
export interface SqlText {
  readonly kind: 'sql_text'
  readonly text: string
  readonly span: Span
}

/**
 * A MEASURES or DEFINE expression kept as written, e.g. `LAST(up.ts)` from `FINAL LAST(up.ts)`: the
 * leading RUNNING / FINAL is in `semantics` and not in `text` / `span`.
 */
export interface PatternExpr {
  readonly kind: 'pattern_expr'
  readonly text: string
  readonly span: Span
  readonly semantics?: 'running' | 'final'
  /** The RUNNING / FINAL keyword that was taken off. */
  readonly semanticsSpan?: Span
  /** RUNNING / FINAL keywords further inside (`FIRST(a.x) - FINAL LAST(a.x)`), left in `text`. */
  readonly innerSemantics: readonly SemanticsMark[]
}

/** `FINAL` in `... - FINAL LAST(a.x)`: applies to the call that follows the keyword. */
export interface SemanticsMark {
  readonly semantics: 'running' | 'final'
  readonly span: Span
}

/** `ts DESC NULLS LAST` in ORDER BY. */
export interface SortItem {
  readonly kind: 'sort_item'
  readonly expr: SqlText
  readonly direction?: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
  readonly span: Span
}

/** `FINAL LAST(up.ts) AS peak` in MEASURES. */
export interface Measure {
  readonly kind: 'measure'
  readonly expr: PatternExpr
  /** Case-folded like any SQL name. */
  readonly name: string
  readonly nameSpan: Span
  readonly span: Span
}

/** `ONE ROW PER MATCH` | `ALL ROWS PER MATCH [SHOW EMPTY MATCHES | OMIT EMPTY MATCHES | WITH UNMATCHED ROWS]`. */
export type RowsPerMatch =
  | { readonly kind: 'one_row'; readonly span: Span }
  | {
      readonly kind: 'all_rows'
      /** `show_empty_matches` when nothing follows ALL ROWS PER MATCH. */
      readonly mode: 'show_empty_matches' | 'omit_empty_matches' | 'with_unmatched_rows'
      readonly span: Span
    }

/**
 * `AFTER MATCH SKIP ...`. `SKIP TO var` is `to_last`, as the standard defines it. The kinds are those of
 * the executor's `SkipTo` (executor/pattern/), so this node can be passed to it as it is.
 */
export type AfterMatchSkip =
  | { readonly kind: 'past_last_row'; readonly span: Span }
  | { readonly kind: 'to_next_row'; readonly span: Span }
  | { readonly kind: 'to_first' | 'to_last'; readonly variable: string; readonly variableSpan: Span; readonly span: Span }

/** `WITHIN INTERVAL '1 hour'` after PATTERN (...): a match may span at most this much event time. */
export interface Within {
  readonly kind: 'within'
  readonly interval: SqlText
  readonly span: Span
}

/** `SUBSET u = (a, b)`: a union variable standing for the rows of several primary variables. */
export interface SubsetDef {
  readonly kind: 'subset'
  readonly name: string
  readonly nameSpan: Span
  readonly members: readonly Name[]
  readonly span: Span
}

/** `up AS price > PREV(price)` in DEFINE. */
export interface Define {
  readonly kind: 'define'
  readonly variable: string
  readonly variableSpan: Span
  readonly condition: PatternExpr
  readonly span: Span
}

/** `AS m (a, b)` after the clause. */
export interface TableAlias {
  readonly name: string
  readonly columns: readonly string[]
  readonly span: Span
}

export interface Name {
  readonly name: string
  readonly span: Span
}

/** The row pattern: a regular expression over pattern variables. */
export type RowPattern =
  | PatternVariable
  | PatternConcat
  | PatternAlternation
  | PatternGroup
  | PatternEmpty
  | PatternQuantified
  | PatternPermute
  | PatternExclusion
  | PatternAnchor

/** `up`: one row for which up's DEFINE condition holds (any row when up has none). Name case-folded. */
export interface PatternVariable {
  readonly kind: 'variable'
  readonly name: string
  /** The name as written (a quoted one without its quotes): what CLASSIFIER() returns. */
  readonly label: string
  readonly span: Span
}

/** `a b c`: each in turn; at least two items. */
export interface PatternConcat {
  readonly kind: 'concat'
  readonly items: readonly RowPattern[]
  readonly span: Span
}

/** `a | b | c`: the first alternative that leads to a match is preferred; at least two. */
export interface PatternAlternation {
  readonly kind: 'alternation'
  readonly alternatives: readonly RowPattern[]
  readonly span: Span
}

/** `( a b )`: parentheses around a non-empty pattern; the span includes them. */
export interface PatternGroup {
  readonly kind: 'group'
  readonly pattern: RowPattern
  readonly span: Span
}

/** `()`: the empty pattern, which matches no rows. */
export interface PatternEmpty {
  readonly kind: 'empty'
  readonly span: Span
}

/** `a+`, `(a b){2,}?`: a repeated pattern; the span covers the pattern and its quantifier. */
export interface PatternQuantified {
  readonly kind: 'quantified'
  readonly pattern: RowPattern
  readonly quantifier: Quantifier
  readonly span: Span
}

/** `PERMUTE(a, b, c)`: the items in any order, the orders preferred lexicographically (a b c, a c b, b a c, ...). */
export interface PatternPermute {
  readonly kind: 'permute'
  readonly items: readonly RowPattern[]
  readonly span: Span
}

/** `{- a b -}`: rows matched but left out of ALL ROWS PER MATCH output. */
export interface PatternExclusion {
  readonly kind: 'exclusion'
  readonly pattern: RowPattern
  readonly span: Span
}

/** `^` (start of the partition) or `$` (end of the partition): match no row, only a position. */
export interface PatternAnchor {
  readonly kind: 'anchor'
  readonly anchor: 'partition_start' | 'partition_end'
  readonly span: Span
}

/**
 * `*`, `+`, `?`, `{n}`, `{n,}`, `{,m}`, `{n,m}` (and `{,}`), each optionally followed by `?` (reluctant:
 * fewer iterations preferred). The span covers the quantifier only.
 */
export type Quantifier = QuantifierForm & { readonly reluctant: boolean; readonly span: Span }

export type QuantifierForm =
  | { readonly kind: 'zero_or_more' }
  | { readonly kind: 'one_or_more' }
  | { readonly kind: 'zero_or_one' }
  | { readonly kind: 'exactly'; readonly count: number }
  | { readonly kind: 'range'; readonly min?: number; readonly max?: number }

/** The iteration bounds of a quantifier; `max` is Infinity when unbounded. */
export function quantifierBounds(q: QuantifierForm): { readonly min: number; readonly max: number } {
  switch (q.kind) {
    case 'zero_or_more':
      return { min: 0, max: Infinity }
    case 'one_or_more':
      return { min: 1, max: Infinity }
    case 'zero_or_one':
      return { min: 0, max: 1 }
    case 'exactly':
      return { min: q.count, max: q.count }
    case 'range':
      return { min: q.min ?? 0, max: q.max ?? Infinity }
  }
}

/** The direct sub-patterns of a pattern node. */
export function rowPatternChildren(p: RowPattern): readonly RowPattern[] {
  switch (p.kind) {
    case 'variable':
    case 'empty':
    case 'anchor':
      return []
    case 'concat':
    case 'permute':
      return p.items
    case 'alternation':
      return p.alternatives
    case 'group':
    case 'quantified':
    case 'exclusion':
      return [p.pattern]
  }
}

/**
 * The label of each primary variable (by case-folded name): its spelling where it first appears in the
 * pattern, as CLASSIFIER() returns it (`A` for `PATTERN (A B+)`, as Flink, Trino and Oracle return it).
 */
export function patternLabels(p: RowPattern): Map<string, string> {
  const labels = new Map<string, string>()
  const visit = (node: RowPattern): void => {
    if (node.kind === 'variable' && !labels.has(node.name)) labels.set(node.name, node.label)
    for (const child of rowPatternChildren(node)) visit(child)
  }
  visit(p)
  return labels
}

/** The primary pattern variables of a pattern, each once, in order of first appearance. */
export function patternVariables(p: RowPattern): string[] {
  const seen = new Set<string>()
  const visit = (node: RowPattern): void => {
    if (node.kind === 'variable') seen.add(node.name)
    for (const child of rowPatternChildren(node)) visit(child)
  }
  visit(p)
  return [...seen]
}
