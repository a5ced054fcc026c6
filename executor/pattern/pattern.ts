/**
 * Row pattern recognition (MATCH_RECOGNIZE) as pure logic, for the operator that will run it per partition:
 *
 *   const compiled = compileMatchRecognize(clause, { within })       // program.ts: pattern -> program
 *   let state = INITIAL_PARTITION_STATE
 *   const run = matchPartition(compiled, { rowCount, final, define, time, horizon }, state)   // partition.ts
 *   state = run.state                                                 // keep with the partition
 *   for (const row of outputRows(run.events, clause.rowsPerMatch)) ...    // measures through matchView()
 *
 * matcher.ts holds the search from one start row (preference order, streaming, WITHIN, memoization).
 */
export {
  compileMatchRecognize,
  compilePattern,
  describeProgram,
  DEFAULT_MAX_INSTRUCTIONS,
  DEFAULT_MAX_STEPS_PER_START,
  type CompiledPattern,
  type Instruction,
  type PatternOptions,
  type SkipTo,
} from './program.ts'
export { attemptAt, type Attempt, type DefineFn, type DefineResult, type MatchView, type PartitionInput, type SuspendedAttempt } from './matcher.ts'
export {
  INITIAL_PARTITION_STATE,
  matchPartition,
  matchView,
  outputRows,
  resumeAfter,
  type OutputRow,
  type PartitionRun,
  type PartitionState,
  type PatternEvent,
  type PatternMatch,
  type PatternTimeout,
  type RowsPerMatchMode,
  type UnmatchedRow,
} from './partition.ts'
