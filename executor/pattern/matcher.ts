/**
 * Runs a compiled row pattern from one start row: a depth-first search over the program's choices in
 * preference order, so the first accepting path found is the match the standard chooses. DEFINE conditions
 * may read the partial match (navigation such as FIRST(a.x), aggregates over the rows mapped so far), which
 * rules out a DFA or a Pike VM that merges threads; backtracking evaluates each condition against exactly
 * the path being tried.
 *
 * Streaming. With `final` false, a path that needs a row after the last one given (a greedy quantifier at
 * the end of the data, `$`, a condition that looks ahead) makes the outcome unknown: if it comes before any
 * accepting path in preference order, more rows could change the answer, so the result is `need_more`.
 * A match found before any such path is final whatever follows.
 *
 * WITHIN. When the pattern has a bound, a path dies when it would map a row at or after
 * time(start) + within. For a row not seen yet, the earliest it can come is the later of the last row's
 * time and the caller's `horizon` (the watermark), so a path can die before that row arrives. The first
 * path in preference order that died this way is reported with a `no_match` outcome as its `timeout`.
 *
 * Cost. A failed sub-search is remembered by its machine state (instruction, row) and not
 * repeated, which is sound when no condition evaluated inside it read the partial match (tracked through the
 * context object); `(a | b)* c` over n rows then costs O(n) rather than O(2^n). Conditions that do read
 * the match can still make the search exponential, so each start row has a step budget (SQLSTATE 54001).
 */
import { SqlState, executionError, internalError, planError } from '../../common/errors.ts'
import { type CompiledPattern, type Instruction } from './program.ts'

/** A DEFINE result: whether the row satisfies the condition, or `need_more` when it reads rows not given yet. */
export type DefineResult = boolean | 'need_more'

/**
 * Evaluates `variable`'s DEFINE condition on `row`, the row being considered as the next row of the match.
 * Only called for variables that have a condition. `ctx` is valid during the call only.
 */
export type DefineFn = (variable: string, row: number, ctx: MatchView) => DefineResult

/**
 * The rows of a (partial) match as DEFINE and MEASURES see them, in RUNNING semantics: rows from `start` to
 * `current`. In DEFINE, `current` is the row being tested and is already mapped to the variable under test,
 * so `last('a')` in a's condition is that row (the standard's `a.x`). Variable arguments are the case-folded
 * names of primary or union (SUBSET) variables; no argument means all rows (the universal variable).
 */
export interface MatchView {
  readonly start: number
  /** MATCH_NUMBER() of the match being built. */
  readonly matchNumber: number
  readonly current: number
  /** CLASSIFIER() at `row` (default: current): the variable's name as written, undefined outside start..current. */
  classifier(row?: number): string | undefined
  rowsOf(variable?: string): readonly number[]
  count(variable?: string): number
  /** FIRST(v.x, offset): the row `offset` places after v's first row, if any. */
  first(variable?: string, offset?: number): number | undefined
  /** LAST(v.x, offset): the row `offset` places before v's last row, if any. */
  last(variable?: string, offset?: number): number | undefined
}

/** What the caller knows about the rows of one partition. */
export interface PartitionInput {
  /** Rows 0 .. rowCount-1 of the partition, in ORDER BY order, are known. */
  readonly rowCount: number
  /** No row will follow row rowCount-1 (end of input). Only then can `$` match and can a search end at the last row. */
  readonly final: boolean
  /** Needed when some variable has a condition. */
  readonly define?: DefineFn
  /** Event time of a row, needed with WITHIN; non-decreasing in row order. */
  readonly time?: (row: number) => number
  /** Every row still to come has time >= horizon (the watermark); lets WITHIN end a partial match early. */
  readonly horizon?: number
  /** false: the caller has no use for `unmatched` events (not ALL ROWS ... WITH UNMATCHED ROWS), so none are made. */
  readonly unmatched?: boolean
}

/** Rows start .. end-1 mapped to `variables` (ids into the program's variables). */
export interface MappedRows {
  readonly end: number
  readonly variables: readonly number[]
  readonly excluded: readonly boolean[]
}

export type Attempt =
  | ({ readonly kind: 'match' } & MappedRows)
  /** No match starts here. `timeout`: the first path (in preference order) that WITHIN ended. */
  | { readonly kind: 'no_match'; readonly timeout?: MappedRows }
  /** The outcome depends on rows not given yet; `suspended` resumes the search where it stopped. */
  | { readonly kind: 'need_more'; readonly suspended: SuspendedAttempt }

/**
 * An attempt stopped for rows not given yet, resumable where it stopped: the search explores paths in
 * preference order and stops at the first one that needs a later row, so every path before it has failed
 * for good (a failure never depends on rows to come: those end the search with `need_more` instead). With
 * more rows (or the input final, or a later horizon) the search goes on from that path, which gives the
 * outcome a search from the start row would give, for the cost of the new rows only.
 */
export interface SuspendedAttempt {
  readonly start: number
  readonly matchNumber: number
  /** The rows known when it stopped: it resumes only over at least these. */
  readonly rowCount: number
  /** The horizon it stopped at: it resumes only at this one or a later one (a watermark reset may go back). */
  readonly horizon: number
  /** The steps it took so far: what searching again from the start row would cost, about. */
  readonly steps: number
  resume(input: PartitionInput, cache: ConditionCache): Attempt
}

/**
 * Results of conditions that read neither the partial match nor the start (keyed by row and variable), shared
 * by the attempts of one run over a partition.
 */
export type ConditionCache = Map<number, boolean>

/** Tries to match the pattern from `start` (< input.rowCount). */
export function attemptAt(pattern: CompiledPattern, start: number, matchNumber: number, input: PartitionInput, cache: ConditionCache = new Map()): Attempt {
  if (start < 0 || start >= input.rowCount) throw internalError(`pattern match attempted at row ${start} of ${input.rowCount}`)
  if (rejectedAtStart(pattern, start, matchNumber, input, cache)) return NO_MATCH
  return new Search(pattern, start, matchNumber, input, cache).run()
}

const NO_MATCH: Attempt = { kind: 'no_match' }

/**
 * Whether no variable that can take a match's first row accepts `start`: then no path maps a row, and no
 * match (nor a WITHIN timeout: the start row is always within the bound) starts there. Every path's first
 * condition sees the same one-row match, so this asks each such condition once, as the search would, and
 * saves the search most rows of a selective pattern would cost.
 */
function rejectedAtStart(pattern: CompiledPattern, start: number, matchNumber: number, input: PartitionInput, cache: ConditionCache): boolean {
  const first = pattern.firstVariables
  if (first === null) return false
  let scratch = FIRST_ROW_VIEWS.get(pattern)
  if (scratch === undefined) {
    const vars: number[] = []
    scratch = { vars, view: new PathView(pattern, vars, 0, 0) }
    FIRST_ROW_VIEWS.set(pattern, scratch)
  }
  for (const variable of first) {
    if (!pattern.defined[variable]) return false
    const key = start * pattern.variables.length + variable
    let holds: DefineResult | undefined = cache.get(key)
    if (holds === undefined) {
      const define = input.define
      if (define === undefined) throw internalError('a pattern with DEFINE conditions was run without a define callback')
      const { vars, view } = scratch
      vars.length = 0
      vars.push(variable)
      view.moveTo(start, matchNumber)
      holds = define(pattern.variables[variable]!, start, view)
      // A start row rejected is never asked about again (the next search starts later), so only a condition
      // that holds is worth keeping, for the search that starts here.
      if (holds === true && !view.readMatch && !view.readAttempt) cache.set(key, holds)
    }
    if (holds !== false) return false
  }
  return true
}

/** Per compiled pattern, the one-row match rejectedAtStart shows conditions (reused: it is read during the call only). */
const FIRST_ROW_VIEWS = new WeakMap<CompiledPattern, { vars: number[]; view: PathView }>()

/** A choice point: the state to resume from when the preferred branch fails. */
interface Choice {
  readonly other: number
  readonly row: number
  /** The instructions passed since the last row was mapped, and how many of them (see program.ts). */
  readonly passed: number[]
  readonly passedCount: number
  readonly depth: number
  /** The taint counter when the choice was made: unchanged at its failure means the failure is memoizable. */
  readonly taint: number
  readonly key: number | string
  retried: boolean
}

type Step = 'next' | 'fail' | 'need_more'

class Search implements SuspendedAttempt {
  private pc = 0
  private row: number
  /** Instructions passed since the last row was mapped: coming back to one of them ends the path. */
  private passed: number[] = []
  private readonly vars: number[] = []
  private readonly excluded: boolean[] = []
  private readonly choices: Choice[] = []
  private readonly failed = new Set<number | string>()
  /** Counts condition evaluations that read the partial match; see Choice.taint. */
  private taint = 0
  steps = 0
  private timeout: MappedRows | undefined
  private readonly view: PathView
  private readonly startTime: number | undefined

  constructor(
    private readonly pattern: CompiledPattern,
    readonly start: number,
    readonly matchNumber: number,
    private input: PartitionInput,
    private cache: ConditionCache,
  ) {
    this.row = start
    this.view = new PathView(pattern, this.vars, start, matchNumber)
    if (pattern.within !== undefined) {
      if (input.time === undefined) throw internalError('a pattern with WITHIN was run without a time accessor')
      this.startTime = input.time(start)
    }
  }

  get rowCount(): number {
    return this.input.rowCount
  }

  get horizon(): number {
    return this.input.horizon ?? Number.NEGATIVE_INFINITY
  }

  resume(input: PartitionInput, cache: ConditionCache): Attempt {
    if (input.rowCount < this.input.rowCount || (input.horizon ?? Number.NEGATIVE_INFINITY) < this.horizon) throw internalError(`a pattern search over ${this.input.rowCount} rows resumed over ${input.rowCount}`)
    this.input = input
    this.cache = cache
    return this.run()
  }

  run(): Attempt {
    const code = this.pattern.instructions
    for (;;) {
      this.tick()
      const ins = code[this.pc]!
      if (ins.op === 'accept') return { kind: 'match', end: this.row, variables: [...this.vars], excluded: [...this.excluded] }
      const step = this.passed.includes(this.pc) ? 'fail' : (this.passed.push(this.pc), this.step(ins))
      if (step === 'need_more') {
        // Stopped before the step took effect: resuming takes the same step again, as a new search would.
        this.passed.pop()
        this.steps--
        return { kind: 'need_more', suspended: this }
      }
      if (step === 'fail' && !this.backtrack()) return this.timeout === undefined ? { kind: 'no_match' } : { kind: 'no_match', timeout: this.timeout }
    }
  }

  private tick(): void {
    if (++this.steps > this.pattern.maxStepsPerStart) {
      throw executionError(
        SqlState.statementTooComplex,
        `row pattern matching from row ${this.start} exceeded its budget of ${this.pattern.maxStepsPerStart} steps`,
        'DEFINE conditions that read earlier rows of the match (FIRST, LAST, aggregates) make every path distinct; simplify the pattern or add WITHIN.',
      )
    }
  }

  private step(ins: Exclude<Instruction, { op: 'accept' }>): Step {
    switch (ins.op) {
      case 'row':
        return this.rowStep(ins.variable, ins.excluded)
      case 'split':
        return this.split(ins.prefer, ins.other)
      case 'jump':
        this.pc = ins.to
        return 'next'
      case 'partition_start':
        this.pc++
        return this.row === 0 ? 'next' : 'fail'
      case 'partition_end':
        if (this.row < this.input.rowCount) return 'fail'
        if (!this.input.final) return 'need_more'
        this.pc++
        return 'next'
    }
  }

  private split(prefer: number, other: number): Step {
    const key = this.stateKey()
    if (this.failed.has(key)) return 'fail'
    this.choices.push({ other, row: this.row, passed: this.passed, passedCount: this.passed.length, depth: this.vars.length, taint: this.taint, key, retried: false })
    this.pc = prefer
    return 'next'
  }

  /**
   * The machine state at a split: everything but the path, which only conditions that taint can read. A
   * later path that reaches a failed state is ended, as Trino's matcher ends a thread that reaches an
   * instruction at a row where an equivalent one has been.
   */
  private stateKey(): number {
    return this.row * this.pattern.instructions.length + this.pc
  }

  /** Resumes at the most recent untried alternative; false when none is left. */
  private backtrack(): boolean {
    for (;;) {
      const top = this.choices[this.choices.length - 1]
      if (top === undefined) return false
      if (!top.retried) {
        top.retried = true
        this.pc = top.other
        this.row = top.row
        this.passed = top.passed
        this.passed.length = top.passedCount
        this.vars.length = top.depth
        this.excluded.length = top.depth
        return true
      }
      this.choices.pop()
      if (this.taint === top.taint) this.failed.add(top.key)
    }
  }

  private rowStep(variable: number, excluded: boolean): Step {
    if (!this.inWindow(this.row)) {
      this.timeout ??= { end: this.row, variables: [...this.vars], excluded: [...this.excluded] }
      return 'fail'
    }
    if (this.row >= this.input.rowCount) return this.input.final ? 'fail' : 'need_more'
    const holds = this.condition(variable)
    if (holds === 'need_more') return 'need_more'
    if (!holds) return 'fail'
    this.vars.push(variable)
    this.excluded.push(excluded)
    this.row++
    this.pc++
    this.passed = []
    return 'next'
  }

  /** Whether `row` may still belong to a match that started at `start`, under WITHIN. */
  private inWindow(row: number): boolean {
    const within = this.pattern.within
    if (within === undefined || this.startTime === undefined) return true
    const time = this.input.time!
    const limit = this.startTime + within
    if (row < this.input.rowCount) return time(row) < limit
    const earliest = Math.max(time(this.input.rowCount - 1), this.input.horizon ?? Number.NEGATIVE_INFINITY)
    return earliest < limit
  }

  private condition(variable: number): DefineResult {
    if (!this.pattern.defined[variable]) return true
    const key = this.row * this.pattern.variables.length + variable
    const cached = this.cache.get(key)
    if (cached !== undefined) return cached
    const define = this.input.define
    if (define === undefined) throw internalError('a pattern with DEFINE conditions was run without a define callback')
    this.tick()
    this.vars.push(variable)
    this.view.reset()
    let result: DefineResult
    try {
      result = define(this.pattern.variables[variable]!, this.row, this.view)
    } finally {
      this.vars.pop()
    }
    if (result === 'need_more') {
      if (this.input.final) throw internalError(`DEFINE ${this.pattern.variables[variable]} asked for later rows at the end of the input`)
      return result
    }
    if (this.view.readMatch) this.taint++
    else if (!this.view.readAttempt) this.cache.set(key, result)
    return result
  }
}

/**
 * MatchView over variable ids of consecutive rows from `start`. Records whether the reader looked at the
 * match (its rows, classifiers) or at the attempt (start, match number), for the matcher's caches.
 */
export class PathView implements MatchView {
  readMatch = false
  readAttempt = false

  constructor(
    private readonly pattern: CompiledPattern,
    /** vars[i] is the variable id of row start + i; the view covers all of it. */
    private readonly vars: readonly number[],
    private startRow: number,
    private number: number,
  ) {}

  /** The view of another attempt over the same `vars` (a reused view), with the flags reset. */
  moveTo(start: number, matchNumber: number): void {
    this.startRow = start
    this.number = matchNumber
    this.reset()
  }

  reset(): void {
    this.readMatch = false
    this.readAttempt = false
  }

  get start(): number {
    this.readAttempt = true
    return this.startRow
  }

  get matchNumber(): number {
    this.readAttempt = true
    return this.number
  }

  get current(): number {
    return this.startRow + this.vars.length - 1
  }

  classifier(row: number = this.current): string | undefined {
    this.readMatch = true
    const id = this.vars[row - this.startRow]
    return id === undefined ? undefined : this.pattern.labels[id]
  }

  rowsOf(variable?: string): readonly number[] {
    this.readMatch = true
    const ids = this.idsOf(variable)
    const rows: number[] = []
    this.vars.forEach((id, i) => {
      if (ids === undefined || ids.has(id)) rows.push(this.startRow + i)
    })
    return rows
  }

  count(variable?: string): number {
    return this.rowsOf(variable).length
  }

  first(variable?: string, offset = 0): number | undefined {
    return this.rowsOf(variable)[offset]
  }

  last(variable?: string, offset = 0): number | undefined {
    const rows = this.rowsOf(variable)
    return rows[rows.length - 1 - offset]
  }

  private idsOf(variable: string | undefined): ReadonlySet<number> | undefined {
    if (variable === undefined) return undefined
    const ids = this.pattern.names.get(variable)
    if (ids === undefined) throw planError(SqlState.invalidColumnReference, `"${variable}" is not a pattern variable or union variable of this pattern`)
    return ids
  }
}
