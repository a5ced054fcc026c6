/**
 * Row pattern matching over one partition: tries each start row in order, numbers the matches, applies
 * AFTER MATCH SKIP and finds the unmatched rows, incrementally. The caller feeds the rows known so far (and
 * whether the input is final) and gets back the events that are decided, plus a small state to pass to the
 * next call; rows before `state.position` are never looked at again, except by DEFINE conditions that
 * navigate backwards (PREV) from later rows, which the caller keeps rows for. A start row that waits for
 * more rows is searched again from scratch on the next call, so its cost grows with the rows it spans;
 * WITHIN bounds that.
 *
 * Semantics (SQL:2016, as Trino and Oracle implement it):
 * - A match is found at each start row in turn; a start row without one moves the search to the next row.
 * - After a non-empty match the search resumes per AFTER MATCH SKIP: PAST LAST ROW after its last row,
 *   TO NEXT ROW at its second row, TO FIRST / LAST v at the first / last row mapped to v (primary or union
 *   variable). Resuming at the match's own first row is an error (SQLSTATE 2202L), and so is a v with no
 *   row in the match (2202K). After an empty match the search resumes at the next row, whatever the mode.
 * - Match numbers count every match, empty ones included, from 1 per partition.
 * - A row is unmatched (for ALL ROWS PER MATCH WITH UNMATCHED ROWS) when no match starts at it and no
 *   earlier match covered it; rows passed over by SKIP PAST LAST ROW belong to a match.
 *
 * Absence ("a, then no b within 5 minutes"): write the pattern for the presence, e.g. `a x*? b` with
 * WITHIN INTERVAL '5 minutes' and AFTER MATCH SKIP TO NEXT ROW (so every a is a start row). A start row at
 * which every path died on the WITHIN bound (rather than failing on the data) yields a `timeout` event with
 * the rows the most preferred path had matched (the a and the x rows) and its deadline, time(a) + 5
 * minutes. The caller emits the absence row from it, computing measures over those rows (matchView over a
 * timeout works like over a match) with the deadline as the row's event time. With a watermark as
 * `horizon`, the timeout is reported as soon as the watermark passes the deadline, before any later row;
 * at the end of the input, pass horizon = Infinity to flush the absences still pending.
 */
import { SqlState, executionError, internalError } from '../../common/errors.ts'
import { PathView, attemptAt, type Attempt, type ConditionCache, type MappedRows, type MatchView, type PartitionInput, type SuspendedAttempt } from './matcher.ts'
import type { CompiledPattern, SkipTo } from './program.ts'

/** One match: rows start .. end-1 (end exclusive; end === start for an empty match). */
export interface PatternMatch {
  readonly kind: 'match'
  /** MATCH_NUMBER(): 1-based within the partition. */
  readonly number: number
  readonly start: number
  readonly end: number
  /** CLASSIFIER() of each row: classifiers[i] is the variable row start + i is mapped to. */
  readonly classifiers: readonly string[]
  /** excluded[i]: row start + i is matched but left out of ALL ROWS PER MATCH output (`{- -}`). */
  readonly excluded: readonly boolean[]
}

/** A start row where WITHIN ended the most preferred partial match; rows start .. end-1 had been mapped. */
export interface PatternTimeout {
  readonly kind: 'timeout'
  /** The match number the match would have had (the next one); timeouts do not use up numbers. */
  readonly number: number
  readonly start: number
  readonly end: number
  readonly classifiers: readonly string[]
  readonly excluded: readonly boolean[]
  /** time(start) + within: the event time at which the absence became certain. */
  readonly deadline: number
}

export interface UnmatchedRow {
  readonly kind: 'unmatched'
  readonly row: number
}

/** In start-row order; for one start row, its timeout comes before its unmatched event. */
export type PatternEvent = PatternMatch | PatternTimeout | UnmatchedRow

/** Where the search stands in a partition; plain data, to keep in state between calls. */
export interface PartitionState {
  /** The next start row to try. */
  readonly position: number
  /** The number the next match gets. */
  readonly matchNumber: number
  /** The last row covered by a non-empty match so far (-1: none), for unmatched rows. */
  readonly matchedThrough: number
}

export const INITIAL_PARTITION_STATE: PartitionState = { position: 0, matchNumber: 1, matchedThrough: -1 }

export interface PartitionRun {
  readonly events: readonly PatternEvent[]
  readonly state: PartitionState
  /** The search stopped at `state.position` < rowCount because its outcome depends on rows not given yet. */
  readonly needMore: boolean
  /**
   * With needMore, the search at `state.position` where it stopped (absent when it stopped for a match that
   * waits for the rows NEXT reads): pass it to the next call to go on from there instead of from the start.
   */
  readonly suspended?: SuspendedAttempt
}

/**
 * Matches from `state` on over the rows the input makes known; see the file comment. `suspended`: the
 * search a previous call stopped at `state.position` (PartitionRun.suspended), resumed instead of searching
 * again; any other (stale) one is ignored. `cache`: a map to use as the call's condition cache (emptied
 * first), for a caller that matches many partitions one after the other: one map for all rather than one
 * per call.
 */
export function matchPartition(pattern: CompiledPattern, input: PartitionInput, state: PartitionState = INITIAL_PARTITION_STATE, suspended?: SuspendedAttempt, cache: ConditionCache = new Map()): PartitionRun {
  // Most calls decide nothing: the empty list is shared, and a list made at the first event.
  let events: PatternEvent[] = NO_EVENTS
  if (cache.size > 0) cache.clear()
  let { position, matchNumber, matchedThrough } = state
  let resumable = suspended !== undefined && suspended.start === position && suspended.matchNumber === matchNumber && suspended.rowCount <= input.rowCount && suspended.horizon <= (input.horizon ?? Number.NEGATIVE_INFINITY) ? suspended : undefined
  while (position < input.rowCount) {
    const attempt: Attempt = resumable !== undefined ? resumable.resume(input, cache) : attemptAt(pattern, position, matchNumber, input, cache)
    resumable = undefined
    switch (attempt.kind) {
      case 'need_more':
        return { events, state: { position, matchNumber, matchedThrough }, needMore: true, suspended: attempt.suspended }
      case 'no_match':
        if (attempt.timeout !== undefined) events = withEvent(events, timeoutEvent(pattern, input, position, matchNumber, attempt.timeout))
        if (position > matchedThrough && input.unmatched !== false) events = withEvent(events, { kind: 'unmatched', row: position })
        position++
        break
      case 'match': {
        // Measures that read rows after the match (NEXT) wait for them.
        if (!input.final && attempt.end > position && attempt.end - 1 + pattern.lookAhead >= input.rowCount) {
          return { events, state: { position, matchNumber, matchedThrough }, needMore: true }
        }
        const match = matchEvent(pattern, position, matchNumber, attempt)
        events = withEvent(events, match)
        matchNumber++
        if (match.end === match.start) {
          position++
        } else {
          matchedThrough = Math.max(matchedThrough, match.end - 1)
          position = resumeAfter(pattern, match)
        }
        break
      }
    }
  }
  return { events, state: { position, matchNumber, matchedThrough }, needMore: false }
}

/** The events of a call that decided none (never written to: a call makes a list of its own at its first event). */
const NO_EVENTS: PatternEvent[] = []

/** `events` with `e` added: NO_EVENTS is never written to. */
function withEvent(events: PatternEvent[], e: PatternEvent): PatternEvent[] {
  const out = events === NO_EVENTS ? [] : events
  out.push(e)
  return out
}

function classifiersOf(pattern: CompiledPattern, rows: MappedRows): string[] {
  return rows.variables.map((id) => pattern.variables[id]!)
}

function matchEvent(pattern: CompiledPattern, start: number, number: number, rows: MappedRows): PatternMatch {
  return { kind: 'match', number, start, end: rows.end, classifiers: classifiersOf(pattern, rows), excluded: rows.excluded }
}

function timeoutEvent(pattern: CompiledPattern, input: PartitionInput, start: number, number: number, rows: MappedRows): PatternTimeout {
  if (pattern.within === undefined || input.time === undefined) throw internalError('a WITHIN timeout without a bound or time accessor')
  return {
    kind: 'timeout',
    number,
    start,
    end: rows.end,
    classifiers: classifiersOf(pattern, rows),
    excluded: rows.excluded,
    deadline: input.time(start) + pattern.within,
  }
}

/** The next start row after a non-empty match. */
export function resumeAfter(pattern: CompiledPattern, match: PatternMatch): number {
  const skip: SkipTo = pattern.skip
  switch (skip.kind) {
    case 'past_last_row':
      return match.end
    case 'to_next_row':
      return match.start + 1
    case 'to_first':
    case 'to_last': {
      const ids = pattern.names.get(skip.variable)
      if (ids === undefined) throw internalError(`AFTER MATCH SKIP TO ${skip.variable} was not checked at compile time`)
      const targets = new Set([...ids].map((id) => pattern.variables[id]))
      const rows = match.classifiers.flatMap((name, i) => (targets.has(name) ? [match.start + i] : []))
      const target = skip.kind === 'to_first' ? rows[0] : rows[rows.length - 1]
      const which = skip.kind === 'to_first' ? 'FIRST' : 'LAST'
      if (target === undefined) {
        throw executionError(
          SqlState.skipToNonExistentRow,
          `AFTER MATCH SKIP TO ${which} ${skip.variable} failed: no row of match ${match.number} is mapped to ${skip.variable}`,
        )
      }
      if (target === match.start) {
        throw executionError(
          SqlState.skipToFirstRowOfMatch,
          `AFTER MATCH SKIP TO ${which} ${skip.variable} failed: it would resume at the first row of match ${match.number}`,
        )
      }
      return target
    }
  }
}

/**
 * The view MEASURES read for a match (or a timeout): FINAL semantics by default, RUNNING up to `upTo`
 * (a row of the match) for ALL ROWS PER MATCH rows.
 */
export function matchView(pattern: CompiledPattern, match: PatternMatch | PatternTimeout, upTo: number = match.end - 1): MatchView {
  if (upTo >= match.end || (upTo < match.start && match.end > match.start)) throw internalError(`row ${upTo} is outside match ${match.number}`)
  const ids = match.classifiers.slice(0, upTo - match.start + 1).map((name) => pattern.variables.indexOf(name))
  return new PathView(pattern, ids, match.start, match.number)
}

/** ONE ROW PER MATCH or ALL ROWS PER MATCH with its option; the parser's RowsPerMatch node fits this type. */
export type RowsPerMatchMode =
  | { readonly kind: 'one_row' }
  | { readonly kind: 'all_rows'; readonly mode: 'show_empty_matches' | 'omit_empty_matches' | 'with_unmatched_rows' }

/** One output row of the MATCH_RECOGNIZE operator. */
export type OutputRow =
  /** ONE ROW PER MATCH: one row per match, empty matches included (measures in FINAL semantics). */
  | { readonly kind: 'summary'; readonly match: PatternMatch }
  /** ALL ROWS PER MATCH: a matched, not excluded row (measures RUNNING up to it, FINAL where asked). */
  | { readonly kind: 'match_row'; readonly match: PatternMatch; readonly row: number }
  /** ALL ROWS PER MATCH SHOW EMPTY MATCHES / WITH UNMATCHED ROWS: the start row of an empty match, no classifier. */
  | { readonly kind: 'empty_match'; readonly match: PatternMatch; readonly row: number }
  /** WITH UNMATCHED ROWS: a row no match covers; measures are NULL. */
  | { readonly kind: 'unmatched'; readonly row: number }

/** The output rows of a run's events under a ROWS PER MATCH mode (ONE ROW PER MATCH when absent). */
export function outputRows(events: readonly PatternEvent[], mode: RowsPerMatchMode = { kind: 'one_row' }): OutputRow[] {
  const out: OutputRow[] = []
  for (const e of events) {
    switch (e.kind) {
      case 'timeout':
        break
      case 'unmatched':
        if (mode.kind === 'all_rows' && mode.mode === 'with_unmatched_rows') out.push(e)
        break
      case 'match':
        if (mode.kind === 'one_row') out.push({ kind: 'summary', match: e })
        else if (e.end === e.start) {
          if (mode.mode !== 'omit_empty_matches') out.push({ kind: 'empty_match', match: e, row: e.start })
        } else {
          for (let row = e.start; row < e.end; row++) if (!e.excluded[row - e.start]) out.push({ kind: 'match_row', match: e, row })
        }
        break
    }
  }
  return out
}
