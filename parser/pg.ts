/**
 * The one place that calls libpg-query: loads its WASM module once, parses a slice of the input, and turns
 * its errors into SluiceErrors (SQLSTATE 42601) positioned in the whole input.
 */
import { loadModule, parseSync, type SqlError } from 'libpg-query'
import type * as pg from 'libpg-query'
import { internalError, isStackOverflow, syntaxError, type Span } from '../common/errors.ts'
import { tokenIndexAt, tooDeep, type TranslateContext } from './translate/context.ts'
import { tokenSpan, type Token } from './lexer.ts'
import { Positions } from './positions.ts'
import { rewriteForPostgres } from './rewrite.ts'

let loading: Promise<void> | undefined
let loaded = false

/** Loads libpg-query's WASM module; safe to call any number of times. */
export function loadPostgresParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    loaded = true
  })
  return loading
}

/** A slice of the input to hand to libpg-query. */
export interface PgSlice {
  readonly sql: string
  /** Tokens of the slice, offsets into `sql`. */
  readonly tokens: readonly Token[]
  readonly start: number
  readonly end: number
  /** ASCII text to put in front, e.g. `SELECT ` to parse a lone expression. */
  readonly prefix?: string
  /** Whether a trailing EMIT clause may be taken out (a materialized view's query). */
  readonly allowEmit?: boolean
}

export interface PgParsed {
  readonly statements: readonly pg.RawStmt[]
  readonly ctx: TranslateContext
  readonly emit?: 'on_update' | 'on_window_close'
  /** EMIT clauses ending a view's subqueries, by where each subquery's SELECT starts (parser/rewrite.ts). */
  readonly innerEmits?: ReadonlyMap<number, 'on_update' | 'on_window_close'>
}

/** Parses a slice with libpg-query; the context maps node locations back into `slice.sql`. */
export function parseWithPostgres(slice: PgSlice): PgParsed {
  if (!loaded) throw internalError('the SQL parser is not initialized: call initParser() once at startup')
  const rewritten = rewriteForPostgres(slice.sql, slice.tokens, slice.start, slice.end, slice.allowEmit === true)
  const prefix = slice.prefix ?? ''
  const positions = new Positions(rewritten.text, slice.start, prefix.length)
  const ctx: TranslateContext = {
    tokens: slice.tokens,
    positions,
    ignoreNulls: rewritten.ignoreNulls,
    matchRecognize: rewritten.matchRecognize,
    fallback: { start: slice.start, end: slice.end },
  }
  let result: pg.ParseResult
  try {
    result = parseSync(prefix + rewritten.text)
  } catch (err) {
    throw postgresError(err, positions, slice)
  }
  const statements = result.stmts ?? []
  const inner = rewritten.innerEmits === undefined ? {} : { innerEmits: rewritten.innerEmits }
  return rewritten.emit === undefined ? { statements, ctx, ...inner } : { statements, ctx, emit: rewritten.emit, ...inner }
}

function postgresError(err: unknown, positions: Positions, slice: PgSlice): Error {
  // libpg-query's own recursion (in WebAssembly or over its JSON) can run out of stack on deeply nested
  // input before our limit on nesting (translate/context.ts) sees the tree.
  if (isStackOverflow(err)) return tooDeep({ start: slice.start, end: slice.end })
  const details = (err as SqlError).sqlDetails
  if (details === undefined) return internalError(`libpg-query failed: ${err instanceof Error ? err.message : String(err)}`, err)
  const start = details.cursorPosition >= 0 ? positions.fromCodePoint(details.cursorPosition) : slice.start
  return syntaxError(details.message, errorSpan(slice, start))
}

/** The span of the token an error points at, or an empty span at the end of the input. */
function errorSpan(slice: PgSlice, start: number): Span {
  const token = slice.tokens[tokenIndexAt(slice.tokens, start)]
  return token !== undefined && token.start === start ? tokenSpan(token) : { start, end: start }
}
