/**
 * The one error type every user-facing failure travels in. The server maps its fields straight onto an
 * ErrorResponse: `sqlstate` -> C, `message` -> M, `span.start` (1-based on the wire) -> P, `detail` -> D,
 * `hint` -> H. An `internal` error means a bug in Sluice and says so.
 */
export type ErrorCategory = 'syntax' | 'plan' | 'execution' | 'internal' | 'unsupported' | 'protocol' | 'auth'

/** Half-open character range [start, end) into the statement text, 0-based. */
export interface Span {
  readonly start: number
  readonly end: number
}

export const SqlState = {
  successfulCompletion: '00000',
  warning: '01000',
  syntaxError: '42601',
  undefinedColumn: '42703',
  undefinedTable: '42P01',
  undefinedFunction: '42883',
  undefinedObject: '42704',
  wrongObjectType: '42809',
  objectNotInPrerequisiteState: '55000',
  invalidColumnReference: '42P10',
  duplicateTable: '42P07',
  duplicateColumn: '42701',
  duplicateObject: '42710',
  duplicateAlias: '42712',
  ambiguousColumn: '42702',
  datatypeMismatch: '42804',
  cannotCoerce: '42846',
  groupingError: '42803',
  windowingError: '42P20',
  invalidRecursion: '42P19',
  invalidParameterValue: '22023',
  invalidArgumentForLog: '2201E',
  invalidArgumentForPowerFunction: '2201F',
  substringError: '22011',
  invalidArgumentForWidthBucket: '2201G',
  nullValueNotAllowed: '22004',
  invalidPrecedingOrFollowingSize: '22013',
  noActiveSqlTransaction: '25P01',
  invalidSchemaName: '3F000',
  invalidTextRepresentation: '22P02',
  invalidBinaryRepresentation: '22P03',
  badCopyFileFormat: '22P04',
  numericValueOutOfRange: '22003',
  invalidDatetimeFormat: '22007',
  datetimeFieldOverflow: '22008',
  invalidTimeZoneDisplacementValue: '22009',
  characterNotInRepertoire: '22021',
  divisionByZero: '22012',
  notNullViolation: '23502',
  featureNotSupported: '0A000',
  protocolViolation: '08P01',
  invalidSqlStatementName: '26000',
  invalidCursorName: '34000',
  insufficientPrivilege: '42501',
  objectInUse: '55006',
  internalError: 'XX000',
  queryCanceled: '57014',
  configurationLimitExceeded: '53400',
  outOfMemory: '53200',
  adminShutdown: '57P01',
  /** Retry: what the statement relied on changed under it (a cluster subscription's tasks moved). */
  serializationFailure: '40001',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  dependentObjectsStillExist: '2BP01',
  inFailedTransaction: '25P02',
  invalidSavepointSpecification: '3B001',
  ioError: '58030',
  diskFull: '53100',
  tooManyConnections: '53300',
  invalidRegularExpression: '2201B',
  invalidEscapeSequence: '22025',
  invalidEscapeCharacter: '22019',
  statementTooComplex: '54001',
  tooManyColumns: '54011',
  programLimitExceeded: '54000',
  cardinalityViolation: '21000',
  invalidRowCountInLimitClause: '2201W',
  skipToNonExistentRow: '2202K',
  skipToFirstRowOfMatch: '2202L',
  duplicateCursor: '42P03',
  duplicatePreparedStatement: '42P05',
  activeSqlTransaction: '25001',
  invalidCatalogName: '3D000',
  /** A sink's target database could not be reached, or its connection broke. */
  connectionFailure: '08006',
} as const

/**
 * A code of the table above, and only those: `SluiceError.sqlstate` and notices are typed with it, so a code
 * written anywhere else does not compile.
 */
export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState]

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(SqlState))

/**
 * A code another system gave (a sink's target database): itself when the table has it, else `fallback`;
 * callers keep the foreign code in the message, so nothing is lost.
 */
export function knownSqlState(code: string | undefined, fallback: SqlStateCode): SqlStateCode {
  return code !== undefined && KNOWN_CODES.has(code) ? (code as SqlStateCode) : fallback
}

export interface SluiceErrorOptions {
  readonly span?: Span
  readonly detail?: string
  readonly hint?: string
  readonly cause?: unknown
}

export class SluiceError extends Error {
  readonly sqlstate: SqlStateCode
  readonly category: ErrorCategory
  readonly span: Span | undefined
  readonly detail: string | undefined
  readonly hint: string | undefined

  constructor(category: ErrorCategory, sqlstate: SqlStateCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SluiceError'
    this.category = category
    this.sqlstate = sqlstate
    this.span = options.span
    this.detail = options.detail
    this.hint = options.hint
  }

  /** The same error with its span moved by `offset`: used when a clause was parsed out of a larger text. */
  shifted(offset: number): SluiceError {
    if (this.span === undefined || offset === 0) return this
    return new SluiceError(this.category, this.sqlstate, this.message, {
      span: { start: this.span.start + offset, end: this.span.end + offset },
      detail: this.detail,
      hint: this.hint,
      cause: this.cause,
    })
  }
}

export const syntaxError = (message: string, span?: Span, hint?: string): SluiceError =>
  new SluiceError('syntax', SqlState.syntaxError, message, { span, hint })

export const planError = (sqlstate: SqlStateCode, message: string, span?: Span, hint?: string): SluiceError =>
  new SluiceError('plan', sqlstate, message, { span, hint })

export const executionError = (sqlstate: SqlStateCode, message: string, detail?: string): SluiceError =>
  new SluiceError('execution', sqlstate, message, { detail })

export const unsupported = (message: string, span?: Span, hint?: string): SluiceError =>
  new SluiceError('unsupported', SqlState.featureNotSupported, message, { span, hint })

/** A bug in Sluice, never the user's fault. */
export const internalError = (message: string, cause?: unknown): SluiceError =>
  new SluiceError('internal', SqlState.internalError, `internal error (a bug in Sluice): ${message}`, { cause })

/** Wraps anything thrown into a SluiceError; unknown exceptions are internal errors. */
export function toSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err
  // The parser caps nesting, so this is a missed case of that limit; still the user's statement, not a crash.
  if (isStackOverflow(err)) return new SluiceError('plan', SqlState.statementTooComplex, 'stack depth limit exceeded', { cause: err })
  const message = err instanceof Error ? err.message : String(err)
  return internalError(message, err)
}

/** Whether `err` is V8's "Maximum call stack size exceeded". */
export const isStackOverflow = (err: unknown): boolean => err instanceof RangeError && /call stack size/i.test(err.message)

/** Exhaustiveness guard for `switch` over discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw internalError(`unexpected ${what}: ${JSON.stringify(value)}`)
}
