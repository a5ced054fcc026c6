/**
 * The parser's front door: SQL text in, typed statements out. A query string is tokenized once and split
 * into statements at top-level semicolons; each statement goes either to our own grammar for the streaming
 * statements (parser/streaming.ts) or to libpg-query, PostgreSQL's own parser, and comes back as one AST
 * (parser/ast.ts) with spans into the original text for error positions.
 */
import { syntaxError } from '../common/errors.ts'
import type * as ast from './ast.ts'
import { splitStatements, tokenize, type Token } from './lexer.ts'
import { loadPostgresParser, parseWithPostgres } from './pg.ts'
import { parseStreamingStatement, streamingStatementKind } from './streaming.ts'
import { translateExpr } from './translate/expr.ts'
import { translateStatement } from './translate/statement.ts'

export type * as ast from './ast.ts'
/** The source text span of an expression (libpg-query places an operator at the operator, not its left operand). */
export { textSpan } from './translate/expr.ts'

/** One statement of a query string. */
export interface ParsedStatement {
  readonly statement: ast.Statement
  /** The statement's own text, without the separating semicolon. */
  readonly text: string
  /** Where the statement starts in the query string. */
  readonly start: number
}

/** Loads the PostgreSQL parser (WebAssembly); call once at startup before parsing. */
export function initParser(): Promise<void> {
  return loadPostgresParser()
}

/** Parses every statement of `sql`; an empty or comment-only string gives none. */
export function parseStatements(sql: string): ParsedStatement[] {
  const tokens = tokenize(sql)
  return splitStatements(tokens).map(({ from, to }) => {
    const own = tokens.slice(from, to)
    const start = own[0]!.start
    return { statement: parseStatement(sql, own), text: sql.slice(start, own[own.length - 1]!.end), start }
  })
}

/** Parses exactly one statement; `sql` must not hold more. */
export function parseStatement(sql: string, tokens: readonly Token[] = tokenize(sql)): ast.Statement {
  if (tokens.length === 0) throw syntaxError('syntax error at end of input', { start: sql.length, end: sql.length })
  if (streamingStatementKind(tokens) !== undefined) return parseStreamingStatement(sql, tokens, parseStatement)
  const span = { start: tokens[0]!.start, end: tokens[tokens.length - 1]!.end }
  const parsed = parseWithPostgres({ sql, tokens, start: span.start, end: span.end })
  const raw = parsed.statements[0]?.stmt
  if (parsed.statements.length !== 1 || raw === undefined) throw syntaxError('expected exactly one statement', span)
  return translateStatement(raw, { ...parsed.ctx, fallback: span }, span)
}

/** Parses a lone scalar expression, as in `SELECT <expr>`. */
export function parseExpression(sql: string): ast.Expr {
  const tokens = tokenize(sql)
  if (tokens.length === 0) throw syntaxError('syntax error at end of input', { start: sql.length, end: sql.length })
  const parsed = parseWithPostgres({ sql, tokens, start: tokens[0]!.start, end: tokens[tokens.length - 1]!.end, prefix: 'SELECT ' })
  const stmt = parsed.statements[0]?.stmt
  const targets = stmt !== undefined && 'SelectStmt' in stmt ? stmt.SelectStmt.targetList : undefined
  const target = targets?.length === 1 ? targets[0] : undefined
  if (target === undefined || !('ResTarget' in target) || target.ResTarget.val === undefined) {
    throw syntaxError('expected one expression', { start: 0, end: sql.length })
  }
  return translateExpr(target.ResTarget.val, parsed.ctx)
}
