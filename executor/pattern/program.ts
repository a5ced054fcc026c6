/**
 * Compiles a row pattern (parser/match-recognize/ast.ts) into a small backtracking program, in the style of a
 * regex VM, whose instruction order encodes the standard's preference order:
 *
 *   a b        a's code, then b's
 *   a | b      split(a, b); a; jump end; b            the left branch is tried first
 *   a*         S: split(body, end); body; J: split(body, end)     greedy: one more iteration first
 *   a*?        S: split(end, body); body; J: split(end, body)     reluctant: one fewer first
 *   a+         body; J: split(body, end)
 *   a{2,4}     a a split(a', end) a' split(a'', end) a''    counted quantifiers are unrolled
 *   PERMUTE    the alternation of all orders, lexicographic in the listed items
 *   ^, $       zero-width tests of the position
 *   {- a -}    a's row instructions carry `excluded`
 *
 * Empty iterations. A path that comes back to an instruction it has already passed at the same row (without
 * mapping a row in between) dies, as in Trino's matcher, which also lays loops out this way. So an
 * iteration of a loop body that maps no row (`(a?)*`, `()+`, `^*`) can end the loop once, through the
 * loop's closing split, but can never iterate again; and the copies of a bounded quantifier, which are
 * distinct instructions, may each be empty. The matcher keeps the instructions passed since the last row.
 *
 * Unrolling keeps the machine state to (instruction, row), which is what the matcher memoizes; the price is
 * program size, capped by `maxInstructions`.
 */
import { SqlState, internalError, planError } from '../../common/errors.ts'
import {
  patternLabels,
  patternVariables,
  quantifierBounds,
  type MatchRecognize,
  type Quantifier,
  type RowPattern,
} from '../../parser/match-recognize/ast.ts'

export type Instruction =
  /** Map the current row to `variable` if its DEFINE condition holds, and move to the next row. */
  | { readonly op: 'row'; readonly variable: number; readonly excluded: boolean }
  /** Try `prefer` first; if everything after it fails, try `other`. */
  | { readonly op: 'split'; readonly prefer: number; readonly other: number }
  | { readonly op: 'jump'; readonly to: number }
  /** `^`: the current row is the first of the partition. */
  | { readonly op: 'partition_start' }
  /** `$`: no row follows (known only once the input is final). */
  | { readonly op: 'partition_end' }
  | { readonly op: 'accept' }

/** Where matching resumes after a non-empty match; the parser's AfterMatchSkip node fits this type. */
export type SkipTo =
  | { readonly kind: 'past_last_row' }
  | { readonly kind: 'to_next_row' }
  | { readonly kind: 'to_first' | 'to_last'; readonly variable: string }

export interface PatternOptions {
  /** AFTER MATCH SKIP; PAST LAST ROW when absent. */
  readonly skip?: SkipTo
  /** SUBSET: union variable -> its primary variables. */
  readonly subsets?: Readonly<Record<string, readonly string[]>>
  /**
   * The variables that have a DEFINE condition; the others match any row without calling `define`.
   * Absent: every variable is passed to `define`.
   */
  readonly defined?: readonly string[]
  /** WITHIN: a match's rows lie in [time(first row), time(first row) + within), in the units of `time`. */
  readonly within?: number
  readonly maxInstructions?: number
  readonly maxStepsPerStart?: number
  /**
   * Rows after a match's last row its measures read (NEXT): with input not final, a match is given out only
   * once they are known, so that NEXT reads the next rows of the partition rather than NULL.
   */
  readonly lookAhead?: number
}

export const DEFAULT_MAX_INSTRUCTIONS = 100_000
/** Machine steps (instructions and DEFINE calls) one start row may take before the query is stopped. */
export const DEFAULT_MAX_STEPS_PER_START = 2_000_000

export interface CompiledPattern {
  readonly instructions: readonly Instruction[]
  /** Variable id -> name (case-folded as in the AST), in order of first appearance in the pattern. */
  readonly variables: readonly string[]
  /** Variable id -> its name as written in the pattern: what CLASSIFIER() returns. */
  readonly labels: readonly string[]
  /** Variable id -> whether it has a DEFINE condition. */
  readonly defined: readonly boolean[]
  /** Primary and union variable names -> the variable ids they stand for. */
  readonly names: ReadonlyMap<string, ReadonlySet<number>>
  readonly skip: SkipTo
  readonly within: number | undefined
  readonly maxStepsPerStart: number
  readonly lookAhead: number
  /**
   * The variables a match's first row can be mapped to, when every match maps at least one row and no `^`
   * comes before it; null otherwise. A start row none of them accepts starts no match (see matcher.ts).
   */
  readonly firstVariables: readonly number[] | null
}

/** Compiles `pattern` with the given clause options. */
export function compilePattern(pattern: RowPattern, options: PatternOptions = {}): CompiledPattern {
  const variables = patternVariables(pattern)
  const written = patternLabels(pattern)
  const labels = variables.map((v) => written.get(v) ?? v)
  const ids = new Map(variables.map((v, i) => [v, i]))
  const names = variableNames(variables, options.subsets ?? {})
  const defined = definedFlags(variables, ids, options.defined)
  const skip = options.skip ?? { kind: 'past_last_row' }
  if ((skip.kind === 'to_first' || skip.kind === 'to_last') && !names.has(skip.variable)) {
    throw planError(SqlState.invalidColumnReference, `AFTER MATCH SKIP TO: pattern variable "${skip.variable}" does not appear in PATTERN or SUBSET`)
  }
  const within = options.within
  if (within !== undefined && !(within > 0)) throw planError(SqlState.invalidParameterValue, 'WITHIN must be a positive interval')
  const builder = new ProgramBuilder(options.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS, ids)
  builder.pattern(pattern, false)
  builder.emit({ op: 'accept' })
  return {
    instructions: builder.code,
    variables,
    labels,
    defined,
    names,
    skip,
    within,
    maxStepsPerStart: options.maxStepsPerStart ?? DEFAULT_MAX_STEPS_PER_START,
    lookAhead: options.lookAhead ?? 0,
    firstVariables: firstVariables(builder.code),
  }
}

/** The variables of the `row` instructions reachable from the start without mapping a row (see CompiledPattern). */
function firstVariables(code: readonly Instruction[]): number[] | null {
  const seen = new Set<number>()
  const variables = new Set<number>()
  const todo = [0]
  while (todo.length > 0) {
    const pc = todo.pop()!
    if (seen.has(pc)) continue
    seen.add(pc)
    const ins = code[pc]!
    switch (ins.op) {
      case 'row':
        variables.add(ins.variable)
        break
      case 'split':
        // The preferred branch first, so that the variables come in the order the search tries them.
        todo.push(ins.other, ins.prefer)
        break
      case 'jump':
        todo.push(ins.to)
        break
      case 'partition_start':
      case 'partition_end':
      case 'accept':
        return null
    }
  }
  return [...variables]
}

/**
 * Compiles a parsed clause: its pattern, SUBSET, DEFINE (which variables have conditions) and AFTER MATCH
 * SKIP. `within` is the WITHIN interval evaluated by the planner in the units of the time accessor.
 */
export function compileMatchRecognize(clause: MatchRecognize, limits: Pick<PatternOptions, 'within' | 'maxInstructions' | 'maxStepsPerStart' | 'lookAhead'> = {}): CompiledPattern {
  if (clause.within !== undefined && limits.within === undefined) throw internalError('MATCH_RECOGNIZE has WITHIN but no bound was given to the compiler')
  return compilePattern(clause.pattern, {
    ...limits,
    skip: clause.afterMatchSkip ?? { kind: 'past_last_row' },
    subsets: Object.fromEntries(clause.subsets.map((s) => [s.name, s.members.map((m) => m.name)])),
    defined: clause.defines.map((d) => d.variable),
  })
}

function variableNames(variables: readonly string[], subsets: Readonly<Record<string, readonly string[]>>): Map<string, ReadonlySet<number>> {
  const names = new Map<string, ReadonlySet<number>>(variables.map((v, i) => [v, new Set([i])]))
  for (const [name, members] of Object.entries(subsets)) {
    if (names.has(name)) throw planError(SqlState.syntaxError, `union variable "${name}" has the name of a pattern variable`)
    const set = new Set<number>()
    for (const m of members) {
      const id = variables.indexOf(m)
      if (id < 0) throw planError(SqlState.invalidColumnReference, `pattern variable "${m}" of SUBSET ${name} does not appear in PATTERN`)
      set.add(id)
    }
    names.set(name, set)
  }
  return names
}

function definedFlags(variables: readonly string[], ids: ReadonlyMap<string, number>, defined: readonly string[] | undefined): boolean[] {
  if (defined === undefined) return variables.map(() => true)
  const flags = variables.map(() => false)
  for (const name of defined) {
    const id = ids.get(name)
    if (id === undefined) throw planError(SqlState.invalidColumnReference, `DEFINE: pattern variable "${name}" does not appear in PATTERN`)
    flags[id] = true
  }
  return flags
}

/** Emits instructions, patching forward targets. */
class ProgramBuilder {
  readonly code: Instruction[] = []

  constructor(
    private readonly limit: number,
    private readonly ids: ReadonlyMap<string, number>,
  ) {}

  get next(): number {
    return this.code.length
  }

  emit(instruction: Instruction): number {
    if (this.code.length >= this.limit) {
      throw planError(
        SqlState.statementTooComplex,
        `row pattern is too large: it expands to more than ${this.limit} instructions`,
        undefined,
        'Counted quantifiers such as {1000} and PERMUTE of many items are expanded; use smaller counts or * and +.',
      )
    }
    this.code.push(instruction)
    return this.code.length - 1
  }

  /** A placeholder for a split or jump whose target is not known yet. */
  private hole(): number {
    return this.emit({ op: 'jump', to: -1 })
  }

  private patch(at: number, instruction: Instruction): void {
    this.code[at] = instruction
  }

  pattern(p: RowPattern, excluded: boolean): void {
    switch (p.kind) {
      case 'variable': {
        const variable = this.ids.get(p.name)
        if (variable === undefined) throw internalError(`pattern variable ${p.name} has no id`)
        this.emit({ op: 'row', variable, excluded })
        return
      }
      case 'empty':
        return
      case 'anchor':
        this.emit({ op: p.anchor })
        return
      case 'group':
        this.pattern(p.pattern, excluded)
        return
      case 'exclusion':
        this.pattern(p.pattern, true)
        return
      case 'concat':
        for (const item of p.items) this.pattern(item, excluded)
        return
      case 'alternation':
        this.alternatives(p.alternatives.map((a) => () => this.pattern(a, excluded)))
        return
      case 'permute':
        this.permute(p.items, excluded)
        return
      case 'quantified':
        this.quantified(p.pattern, p.quantifier, excluded)
        return
    }
  }

  /** Branches in preference order: split(first, rest...), each branch jumping to the common end. */
  private alternatives(branches: Iterable<() => void>): void {
    const jumps: number[] = []
    const it = branches[Symbol.iterator]()
    let current = it.next()
    while (!current.done) {
      const following = it.next()
      if (following.done) {
        current.value()
        break
      }
      const split = this.hole()
      current.value()
      jumps.push(this.hole())
      this.patch(split, { op: 'split', prefer: split + 1, other: this.next })
      current = following
    }
    for (const j of jumps) this.patch(j, { op: 'jump', to: this.next })
  }

  private permute(items: readonly RowPattern[], excluded: boolean): void {
    if (factorialExceeds(items.length, this.limit)) {
      throw planError(SqlState.statementTooComplex, `PERMUTE of ${items.length} items has too many orders to expand (more than ${this.limit})`)
    }
    this.alternatives(mapped(permutations(items.length), (order) => () => order.forEach((i) => this.pattern(items[i]!, excluded))))
  }

  private quantified(body: RowPattern, q: Quantifier, excluded: boolean): void {
    const { min, max } = quantifierBounds(q)
    const choose = (iterate: number, leave: number): Instruction =>
      q.reluctant ? { op: 'split', prefer: leave, other: iterate } : { op: 'split', prefer: iterate, other: leave }
    if (max === Infinity) {
      // Trino's layout (see the file comment): the loop closes with a split back to the last iteration.
      let loop = this.next
      let entry: number | null = null
      if (min === 0) {
        entry = this.hole()
        loop = this.next
        this.pattern(body, excluded)
      } else {
        for (let i = 0; i < min; i++) {
          loop = this.next
          this.pattern(body, excluded)
        }
      }
      const close = this.hole()
      this.patch(close, choose(loop, this.next))
      if (entry !== null) this.patch(entry, choose(entry + 1, this.next))
      return
    }
    for (let i = 0; i < min; i++) this.pattern(body, excluded)
    // Every optional copy may leave for the end: greedy tries the next copy first, reluctant the end.
    const splits: number[] = []
    for (let i = min; i < max; i++) {
      splits.push(this.hole())
      this.pattern(body, excluded)
    }
    for (const s of splits) this.patch(s, choose(s + 1, this.next))
  }
}

/** Lazily, so that PERMUTE's orders are generated one at a time while the program grows. */
function* mapped<T, U>(items: Iterable<T>, f: (item: T) => U): Generator<U> {
  for (const item of items) yield f(item)
}

function factorialExceeds(n: number, limit: number): boolean {
  let f = 1
  for (let i = 2; i <= n; i++) {
    f *= i
    if (f > limit) return true
  }
  return false
}

/** The permutations of 0..n-1 in lexicographic order (the standard's preference order for PERMUTE). */
export function* permutations(n: number): Generator<readonly number[]> {
  const a = Array.from({ length: n }, (_, i) => i)
  for (;;) {
    yield [...a]
    // Next permutation: the rightmost ascent, swapped with the smallest larger element to its right.
    let i = n - 2
    while (i >= 0 && a[i]! > a[i + 1]!) i--
    if (i < 0) return
    let j = n - 1
    while (a[j]! < a[i]!) j--
    ;[a[i], a[j]] = [a[j]!, a[i]!]
    a.splice(i + 1, n - i - 1, ...a.slice(i + 1).reverse())
  }
}

/** The program as text, one instruction per line, for EXPLAIN and tests. */
export function describeProgram(p: CompiledPattern): string {
  return p.instructions
    .map((ins, pc) => {
      switch (ins.op) {
        case 'row':
          return `${pc}: row ${p.variables[ins.variable]}${ins.excluded ? ' (excluded)' : ''}`
        case 'split':
          return `${pc}: split ${ins.prefer}, ${ins.other}`
        case 'jump':
          return `${pc}: jump ${ins.to}`
        case 'partition_start':
        case 'partition_end':
        case 'accept':
          return `${pc}: ${ins.op}`
      }
    })
    .join('\n')
}
