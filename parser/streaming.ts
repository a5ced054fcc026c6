/**
 * Our own grammar for the statements PostgreSQL's parser does not know or knows differently:
 *
 *   CREATE STREAM [IF NOT EXISTS] name ( col type [NOT NULL] , ... [, WATERMARK FOR col AS expr] ) [WITH (...)]
 *   CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [WITH (...)] AS query [EMIT ON UPDATE | EMIT ON WINDOW CLOSE]
 *   CREATE SINK [IF NOT EXISTS] name FROM relation INTO {KAFKA TOPIC | POSTGRES TABLE | MYSQL TABLE | FILES} 'name' [WITH (...)]
 *   DROP SINK [IF EXISTS] name [, ...]
 *   ALTER STREAM name CLOSE
 *   ALTER STREAM name RESET WATERMARK [TO [TIMESTAMPTZ] 'text']
 *   DROP STREAM [IF EXISTS] name [, ...] [CASCADE | RESTRICT]
 *   SHOW STREAMS | SHOW MATERIALIZED VIEWS | SHOW QUERIES
 *   EXPLAIN [ANALYZE] [VERBOSE] statement
 *   CREATE TRIGGER [IF NOT EXISTS] name AFTER INSERT ON stream [JOIN view alias USING (...)] FOR EACH ROW
 *     [WHEN (condition)] EXECUTE {NOTIFY channel | WEBHOOK 'url'} [, payload] | INSERT INTO stream VALUES (...) [WITH (...)]
 *   ALTER TRIGGER name {ENABLE | DISABLE | SET (option = value, ...)}
 *   ALTER MATERIALIZED VIEW name SET (option = value, ...)
 *   DROP TRIGGER [IF EXISTS] name [, ...]
 *   SUBSCRIBE, COPY (...) TO STDOUT, DECLARE, FETCH, MOVE, CLOSE: see live.ts
 *
 * The statement frame is parsed here by recursive descent; the standard SQL inside it (column types,
 * the watermark expression, interval options and the view's query) goes to libpg-query, so that types and
 * expressions mean exactly what they mean everywhere else.
 */
import type * as pg from 'libpg-query'
import { syntaxError, unsupported, type Span } from '../common/errors.ts'
import type * as ast from './ast.ts'
import { isPunct, isWord, type Token } from './lexer.ts'
import { parseWithPostgres } from './pg.ts'
import { TokenCursor } from './token-cursor.ts'
import { liveStatementKind, parseLiveStatement } from './live.ts'
import { translateExpr } from './translate/expr.ts'
import { translateQuery } from './translate/select.ts'
import { translateStatement } from './translate/statement.ts'
import { translatePlainType } from './translate/types.ts'

/** What a statement starting with these tokens is, when it is one of ours; undefined hands it to libpg-query. */
export function streamingStatementKind(
  tokens: readonly Token[],
): 'create_stream' | 'create_view' | 'create_sink' | 'alter_stream' | 'drop_stream' | 'drop_sink' | 'create_trigger' | 'alter_trigger' | 'alter_view' | 'drop_trigger' | 'show' | 'explain' | 'live' | undefined {
  const w = (k: number, word: string): boolean => isWord(tokens[k], word)
  if (w(0, 'create') && w(1, 'stream')) return 'create_stream'
  if (w(0, 'create') && w(1, 'materialized') && w(2, 'view')) return 'create_view'
  if (w(0, 'drop') && w(1, 'stream')) return 'drop_stream'
  if (w(0, 'create') && w(1, 'sink')) return 'create_sink'
  if (w(0, 'drop') && w(1, 'sink')) return 'drop_sink'
  if (w(0, 'create') && w(1, 'trigger')) return 'create_trigger'
  if (w(0, 'drop') && w(1, 'trigger')) return 'drop_trigger'
  if (w(0, 'alter') && w(1, 'trigger')) return 'alter_trigger'
  if (w(0, 'alter') && w(1, 'materialized') && w(2, 'view')) return 'alter_view'
  if (w(0, 'alter') && w(1, 'stream')) return 'alter_stream'
  if (w(0, 'show') && (w(1, 'streams') || w(1, 'queries') || (w(1, 'materialized') && w(2, 'views')) || w(1, 'views'))) return 'show'
  if (w(0, 'explain')) return 'explain'
  if (liveStatementKind(tokens) !== undefined) return 'live'
  return undefined
}

export type StatementParser = (sql: string, tokens: readonly Token[]) => ast.Statement

export function parseStreamingStatement(sql: string, tokens: readonly Token[], parseAny: StatementParser): ast.Statement {
  const c = new TokenCursor(sql, tokens)
  const span = c.span(0, tokens.length)
  switch (streamingStatementKind(tokens)) {
    case 'create_stream':
      return createStream(c, span)
    case 'create_view':
      return createView(c, span)
    case 'drop_stream':
      return dropStream(c, span)
    case 'alter_stream':
      return alterStream(c, span)
    case 'create_sink':
      return createSink(c, span)
    case 'drop_sink':
      return dropSink(c, span)
    case 'create_trigger':
      return createTrigger(c, span)
    case 'drop_trigger':
      return dropTrigger(c, span)
    case 'alter_trigger':
      return alterTrigger(c, span)
    case 'alter_view':
      return alterView(c, span)
    case 'show':
      return show(c, span)
    case 'explain':
      return explain(c, span, parseAny)
    case 'live':
      return parseLiveStatement(c, span, parseAny)
    case undefined:
      throw syntaxError('not a streaming statement', span)
  }
}

// ---------------------------------------------------------------------------------------------------------
// CREATE STREAM

function createStream(c: TokenCursor, span: Span): ast.CreateStream {
  c.expectWords('create', 'stream')
  const ifNotExists = c.acceptWords('if', 'not', 'exists')
  const name = c.qualifiedName('a stream name')
  c.expectPunct('(')
  const columns: ast.ColumnDef[] = []
  let watermark: ast.WatermarkDef | undefined
  do {
    if (isWord(c.peek(), 'watermark')) {
      if (watermark !== undefined) throw c.error('a stream has at most one WATERMARK clause')
      watermark = watermarkDef(c)
    } else {
      columns.push(columnDef(c))
    }
  } while (c.acceptPunct(','))
  c.expectPunct(')')
  const options = isWord(c.peek(), 'with') ? withOptions(c) : []
  if (!c.atEnd()) throw c.unexpected('end of statement')
  if (columns.length === 0) throw syntaxError('a stream needs at least one column', name.span)
  return { kind: 'create_stream', name, ifNotExists, columns, ...(watermark === undefined ? {} : { watermark }), options, span }
}

const COLUMN_END = [',', ')', 'not', 'null', 'primary', 'default', 'constraint', 'metadata']

function columnDef(c: TokenCursor): ast.ColumnDef {
  const name = c.identifier('a column name')
  const typeRange = c.takeUntil(COLUMN_END)
  if (typeRange.from === typeRange.to) throw c.unexpected('a type')
  const type = parseType(c, typeRange.from, typeRange.to)
  let notNull = false
  let metadata: string | undefined
  for (;;) {
    if (c.acceptWords('not', 'null')) notNull = true
    else if (c.acceptWords('null')) notNull = false
    else if (c.acceptWords('metadata')) {
      metadata = name.value
      if (c.acceptWords('from')) {
        const key = c.peek()
        if (key?.kind !== 'string') throw c.unexpected("a metadata key such as 'partition'")
        metadata = c.next().value
      }
      c.acceptWords('virtual')
    }
    else if (isWord(c.peek(), 'primary') || isWord(c.peek(), 'default') || isWord(c.peek(), 'constraint')) {
      throw unsupported(`${c.peek()!.value.toUpperCase()} is not supported on stream columns`, c.span(c.index, c.index + 1))
    } else break
  }
  const span = { start: name.start, end: c.span(typeRange.from, c.index).end }
  return metadata === undefined ? { name: name.value, type, notNull, span } : { name: name.value, type, notNull, metadata, span }
}

function watermarkDef(c: TokenCursor): ast.WatermarkDef {
  const first = c.next()
  c.expectWords('for')
  const column = c.identifier('the event-time column')
  c.expectWords('as')
  const range = c.takeUntil([',', ')'])
  const expr = parseExpr(c, range.from, range.to, 'a watermark expression')
  return { column: column.value, expr, span: { start: first.start, end: expr.span.end } }
}

// ---------------------------------------------------------------------------------------------------------
// CREATE MATERIALIZED VIEW

function createView(c: TokenCursor, span: Span): ast.CreateView {
  c.expectWords('create', 'materialized', 'view')
  const ifNotExists = c.acceptWords('if', 'not', 'exists')
  const name = c.qualifiedName('a view name')
  const options = isWord(c.peek(), 'with') ? withOptions(c) : []
  c.expectWords('as')
  if (c.atEnd()) throw c.unexpected('a query')
  const from = c.index
  const tokens = c.tokens.slice(from)
  const parsed = parseWithPostgres({ sql: c.sql, tokens, start: tokens[0]!.start, end: tokens[tokens.length - 1]!.end, allowEmit: true })
  const stmt = parsed.statements[0]?.stmt
  if (parsed.statements.length !== 1 || stmt === undefined || !('SelectStmt' in stmt)) {
    throw syntaxError('a materialized view is defined by one query', c.span(from, c.tokens.length))
  }
  let query = withSubqueryEmits(translateQuery(stmt.SelectStmt, parsed.ctx), parsed.innerEmits)
  let queryEnd = c.tokens.length
  if (parsed.emit !== undefined) {
    if (query.kind !== 'select') throw unsupported('EMIT applies to a single SELECT, not to a set operation', query.span)
    query = { ...query, emit: parsed.emit }
    queryEnd -= parsed.emit === 'on_window_close' ? 4 : 3
  }
  const qs = c.span(from, queryEnd)
  return { kind: 'create_view', name, ifNotExists, query, queryText: c.sql.slice(qs.start, qs.end), options, span }
}

/**
 * `(SELECT ... EMIT ON WINDOW CLOSE)` in a view's FROM or WITH: the subquery (a hidden view) emits so. A CTE
 * read twice stays one object, so that it stays one hidden view.
 */
function withSubqueryEmits(query: ast.Query, emits: ReadonlyMap<number, 'on_update' | 'on_window_close'> | undefined): ast.Query {
  if (emits === undefined) return query
  const done = new Map<object, unknown>()
  const visit = (x: unknown): unknown => {
    if (x === null || typeof x !== 'object') return x
    const seen = done.get(x)
    if (seen !== undefined) return seen
    let out: unknown = x
    if (Array.isArray(x)) {
      const items = x.map(visit)
      if (items.some((v, i) => v !== x[i])) out = items
    } else if (Object.getPrototypeOf(x) === Object.prototype) {
      const entries = Object.entries(x).map(([k, v]) => [k, k === 'span' ? v : visit(v)] as const)
      if (entries.some(([k, v]) => v !== (x as Record<string, unknown>)[k])) out = Object.fromEntries(entries)
      const s = x as { kind?: string; span?: Span }
      const emit = s.kind === 'select' && s.span !== undefined ? emits.get(s.span.start) : undefined
      if (emit !== undefined) out = { ...(out as object), emit }
    }
    done.set(x, out)
    return out
  }
  return visit(query) as ast.Query
}

// ---------------------------------------------------------------------------------------------------------
// WITH (name = value, ...)

export function withOptions(c: TokenCursor): ast.OptionDef[] {
  c.expectWords('with')
  c.expectPunct('(')
  const options: ast.OptionDef[] = []
  const seen = new Set<string>()
  do {
    const first = c.peek()
    const name = first?.kind === 'string' ? c.next().value.toLowerCase() : c.qualifiedName('an option name').parts.join('.')
    if (seen.has(name)) throw c.error(`option "${name}" is given twice`, first)
    seen.add(name)
    c.expectPunct('=')
    const value = optionValue(c)
    options.push({ name, value, span: c.span(c.tokens.indexOf(first!), c.index) })
  } while (c.acceptPunct(','))
  c.expectPunct(')')
  return options
}

function optionValue(c: TokenCursor): ast.OptionValue {
  const range = c.takeUntil([',', ')'])
  const tokens = c.tokens.slice(range.from, range.to)
  const [t, u] = tokens
  if (t === undefined) throw c.unexpected('an option value')
  if (tokens.length === 1) {
    if (t.kind === 'string') return t.value
    if (t.kind === 'number') return optionNumber(t)
    if (isWord(t, 'true') || isWord(t, 'on')) return true
    if (isWord(t, 'false') || isWord(t, 'off')) return false
    if (t.kind === 'word' || t.kind === 'quoted_ident') return t.value
  }
  if (tokens.length === 2 && u?.kind === 'number' && (t.value === '-' || t.value === '+')) {
    const n = optionNumber(u)
    return t.value === '-' ? -n : n
  }
  return parseExpr(c, range.from, range.to, 'an option value')
}

function optionNumber(t: Token): number {
  const n = Number(t.value.replace(/_/g, ''))
  if (!Number.isFinite(n)) throw syntaxError(`invalid number "${t.value}"`, { start: t.start, end: t.end })
  return n
}

// ---------------------------------------------------------------------------------------------------------
// DROP STREAM, SHOW, EXPLAIN

function dropStream(c: TokenCursor, span: Span): ast.Drop {
  c.expectWords('drop', 'stream')
  const ifExists = c.acceptWords('if', 'exists')
  const names: ast.QualifiedName[] = []
  do names.push(c.qualifiedName('a stream name'))
  while (c.acceptPunct(','))
  const cascade = c.acceptWords('cascade')
  if (!cascade) c.acceptWords('restrict')
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'drop', objectKind: 'stream', names, ifExists, cascade, span }
}

function createSink(c: TokenCursor, span: Span): ast.CreateSink {
  c.expectWords('create', 'sink')
  const ifNotExists = c.acceptWords('if', 'not', 'exists')
  const name = c.qualifiedName('a sink name')
  c.expectWords('from')
  const from = c.qualifiedName('a stream or view name')
  c.expectWords('into')
  const into = sinkTargetKind(c)
  const topic = c.peek()
  if (topic === undefined || (topic.kind !== 'string' && topic.kind !== 'word' && topic.kind !== 'quoted_ident')) throw c.unexpected(SINK_TARGET_NAME[into])
  c.next()
  const options = isWord(c.peek(), 'with') ? withOptions(c) : []
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'create_sink', name, ifNotExists, from, into, topic: topic.value, topicSpan: { start: topic.start, end: topic.end }, options, span }
}

const SINK_TARGET_NAME: Record<ast.SinkTargetKind, string> = {
  kafka: "a topic name such as 'crm_trigger'",
  postgres: "a table name such as 'public.player_profile'",
  mysql: "a table name such as 'player_profile'",
  files: "a directory such as 'minutes'",
}

/** KAFKA TOPIC | POSTGRES TABLE | MYSQL TABLE | FILES. */
function sinkTargetKind(c: TokenCursor): ast.SinkTargetKind {
  if (c.acceptWords('kafka', 'topic')) return 'kafka'
  if (c.acceptWords('postgres', 'table') || c.acceptWords('postgresql', 'table')) return 'postgres'
  if (c.acceptWords('mysql', 'table') || c.acceptWords('mariadb', 'table')) return 'mysql'
  if (c.acceptWords('files')) return 'files'
  throw c.unexpected("KAFKA TOPIC, POSTGRES TABLE, MYSQL TABLE or FILES")
}

function dropSink(c: TokenCursor, span: Span): ast.Drop {
  c.expectWords('drop', 'sink')
  const ifExists = c.acceptWords('if', 'exists')
  const names: ast.QualifiedName[] = []
  do names.push(c.qualifiedName('a sink name'))
  while (c.acceptPunct(','))
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'drop', objectKind: 'sink', names, ifExists, cascade: false, span }
}

// ---------------------------------------------------------------------------------------------------------
// CREATE TRIGGER, DROP TRIGGER

function createTrigger(c: TokenCursor, span: Span): ast.CreateTrigger {
  c.expectWords('create', 'trigger')
  const ifNotExists = c.acceptWords('if', 'not', 'exists')
  const name = c.qualifiedName('a trigger name')
  c.expectWords('after', 'insert', 'on')
  const fromRange = c.takeUntil(['for'])
  if (fromRange.from >= fromRange.to) throw c.unexpected('a stream name')
  const from = triggerSource(c, fromRange.from, fromRange.to)
  c.expectWords('for', 'each', 'row')
  let when: ast.Expr | undefined
  if (c.acceptWords('when')) {
    c.expectPunct('(')
    const range = c.takeUntil([')'])
    when = parseExpr(c, range.from, range.to, 'a condition')
    c.expectPunct(')')
  }
  const actionStart = c.peek()
  c.expectWords('execute')
  if (isWord(c.peek(), 'insert')) {
    const range = c.takeUntil(['with'])
    const parsed = parseFragment(c, range.from, range.to, '')
    const stmt = parsed.statements[0]?.stmt
    if (parsed.statements.length !== 1 || stmt === undefined || !('InsertStmt' in stmt)) throw syntaxError('expected INSERT INTO stream VALUES (...)', c.span(range.from, range.to))
    const insert = translateStatement(stmt, parsed.ctx, c.span(range.from, range.to))
    if (insert.kind !== 'insert' || insert.source.kind !== 'values' || insert.source.rows.length !== 1) throw syntaxError('a trigger inserts one row: INSERT INTO stream VALUES (...)', c.span(range.from, range.to))
    const options = isWord(c.peek(), 'with') ? withOptions(c) : []
    if (!c.atEnd()) throw c.unexpected('end of statement')
    return { kind: 'create_trigger', name, ifNotExists, from, ...(when === undefined ? {} : { when }), action: { kind: 'insert', insert, span: insert.span }, options, span }
  }
  let target: { kind: 'notify'; channel: string } | { kind: 'webhook'; url: string; urlSpan: Span }
  if (c.acceptWords('webhook')) {
    const url = c.next()
    if (url.kind !== 'string' || !/^https?:\/\//.test(url.value)) throw c.error("expected the webhook's URL as a string, such as 'https://crm.example/offers'", url)
    target = { kind: 'webhook', url: url.value, urlSpan: { start: url.start, end: url.end } }
  } else {
    c.expectWords('notify')
    target = { kind: 'notify', channel: c.identifier('a channel name').value }
  }
  let payload: ast.Expr | undefined
  if (c.acceptPunct(',')) {
    const range = c.takeUntil(['with'])
    payload = parseExpr(c, range.from, range.to, 'a payload expression')
  }
  const action: ast.TriggerAction = { ...target, ...(payload === undefined ? {} : { payload }), span: { start: actionStart!.start, end: payload?.span.end ?? c.tokens[c.index - 1]!.end } }
  const options = isWord(c.peek(), 'with') ? withOptions(c) : []
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'create_trigger', name, ifNotExists, from, ...(when === undefined ? {} : { when }), action, options, span }
}

/** `stream [AS alias] [JOIN view alias ...]` through PostgreSQL's FROM grammar; the stream is NEW unless aliased. */
function triggerSource(c: TokenCursor, from: number, to: number): ast.FromItem {
  const parsed = parseFragment(c, from, to, 'SELECT * FROM ')
  const stmt = parsed.statements[0]?.stmt
  if (parsed.statements.length !== 1 || stmt === undefined || !('SelectStmt' in stmt)) throw syntaxError('expected a stream, optionally joined to a view', c.span(from, to))
  const query = translateQuery(stmt.SelectStmt, parsed.ctx)
  const item = query.kind === 'select' && query.from.length === 1 ? query.from[0]! : undefined
  if (item === undefined) throw syntaxError('expected a stream, optionally joined to a view', c.span(from, to))
  const withNew = (t: ast.FromItem): ast.FromItem => (t.kind === 'table_ref' && t.alias === undefined ? { ...t, alias: 'new' } : t)
  return item.kind === 'join' ? { ...item, left: withNew(item.left) } : withNew(item)
}

function alterTrigger(c: TokenCursor, span: Span): ast.AlterTrigger {
  c.expectWords('alter', 'trigger')
  const name = c.qualifiedName('a trigger name')
  let action: ast.AlterTrigger['action']
  if (c.acceptWords('enable')) action = { kind: 'enable' }
  else if (c.acceptWords('disable')) action = { kind: 'disable' }
  else if (c.acceptWords('set')) {
    // SET (...) reads like WITH (...).
    const inner = new TokenCursor(c.sql, [{ ...c.peek()!, kind: 'word', value: 'with' }, ...c.tokens.slice(c.index)])
    const options = withOptions(inner)
    if (!inner.atEnd()) throw inner.unexpected('end of statement')
    while (!c.atEnd()) c.next()
    action = { kind: 'set', options }
  } else throw c.unexpected('ENABLE, DISABLE or SET (...)')
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'alter_trigger', name, action, span }
}

function alterView(c: TokenCursor, span: Span): ast.AlterView {
  c.expectWords('alter', 'materialized', 'view')
  const name = c.qualifiedName('a view name')
  c.expectWords('set')
  if (c.atEnd()) throw c.unexpected('(')
  // SET (...) reads like WITH (...).
  const inner = new TokenCursor(c.sql, [{ ...c.peek()!, kind: 'word', value: 'with' }, ...c.tokens.slice(c.index)])
  const options = withOptions(inner)
  if (!inner.atEnd()) throw inner.unexpected('end of statement')
  return { kind: 'alter_view', name, options, span }
}

function dropTrigger(c: TokenCursor, span: Span): ast.Drop {
  c.expectWords('drop', 'trigger')
  const ifExists = c.acceptWords('if', 'exists')
  const names: ast.QualifiedName[] = []
  do names.push(c.qualifiedName('a trigger name'))
  while (c.acceptPunct(','))
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'drop', objectKind: 'trigger', names, ifExists, cascade: false, span }
}

function alterStream(c: TokenCursor, span: Span): ast.AlterStream {
  c.expectWords('alter', 'stream')
  const name = c.qualifiedName('a stream name')
  if (c.acceptWords('reset', 'watermark')) {
    let resetTo: ast.AlterStream['resetTo']
    if (c.acceptWords('to')) {
      // A timestamp literal: 'text', TIMESTAMPTZ 'text' or TIMESTAMP [WITH TIME ZONE] 'text'.
      if (!c.acceptWords('timestamptz') && c.acceptWords('timestamp')) c.acceptWords('with', 'time', 'zone')
      const literal = c.next()
      if (literal.kind !== 'string') throw c.error('expected a timestamp literal, e.g. TIMESTAMPTZ \'2026-01-01 00:00:00+00\'', literal)
      resetTo = { text: literal.value, span: { start: literal.start, end: literal.end } }
    }
    if (!c.atEnd()) throw c.unexpected('end of statement')
    return { kind: 'alter_stream', name, action: 'reset_watermark', ...(resetTo === undefined ? {} : { resetTo }), span }
  }
  if (!c.acceptWords('close')) throw c.unexpected('CLOSE or RESET WATERMARK')
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'alter_stream', name, action: 'close', span }
}

function show(c: TokenCursor, span: Span): ast.Show {
  c.expectWords('show')
  let name: string
  if (c.acceptWords('materialized', 'views') || c.acceptWords('views')) name = 'materialized views'
  else name = c.next().value
  if (!c.atEnd()) throw c.unexpected('end of statement')
  return { kind: 'show', name, span }
}

const EXPLAIN_FLAGS = new Set(['analyze', 'analyse', 'verbose'])

function explain(c: TokenCursor, span: Span, parseAny: StatementParser): ast.Explain {
  c.expectWords('explain')
  const flags = new Set<string>()
  if (isPunct(c.peek(), '(')) {
    c.next()
    do {
      const option = c.identifier('an EXPLAIN option')
      const value = c.peek()
      let on = true
      if (value !== undefined && !isPunct(value, ',') && !isPunct(value, ')')) {
        c.next()
        on = !(isWord(value, 'false') || isWord(value, 'off') || value.value === '0')
      }
      if (!EXPLAIN_FLAGS.has(option.value) && option.value !== 'costs' && option.value !== 'format') {
        throw unsupported(`EXPLAIN option "${option.value}" is not supported`, { start: option.start, end: option.end })
      }
      if (on) flags.add(option.value)
    } while (c.acceptPunct(','))
    c.expectPunct(')')
  } else {
    while (EXPLAIN_FLAGS.has(c.peek()?.value ?? '') && c.peek()?.kind === 'word') flags.add(c.next().value)
  }
  if (c.atEnd()) throw c.unexpected('a statement to explain')
  const statement = parseAny(c.sql, c.tokens.slice(c.index))
  if (statement.kind === 'explain') throw syntaxError('EXPLAIN cannot explain EXPLAIN', statement.span)
  const analyze = flags.has('analyze') || flags.has('analyse')
  return { kind: 'explain', statement, ...(analyze ? { analyze } : {}), ...(flags.has('verbose') ? { verbose: true } : {}), span }
}

// ---------------------------------------------------------------------------------------------------------
// Standard SQL fragments, through libpg-query

/** Parses tokens [from, to) as a type name by handing `SELECT NULL::<type>` to libpg-query. */
function parseType(c: TokenCursor, from: number, to: number): ast.TypeRef {
  const target = fragment(c, from, to, 'SELECT NULL::', 'a type')
  if (!('TypeCast' in target) || target.TypeCast.typeName === undefined) throw syntaxError('expected a type', c.span(from, to))
  return translatePlainType(target.TypeCast.typeName, fragmentContext(c, from, to, 'SELECT NULL::'))
}

/** Parses tokens [from, to) as one scalar expression (`SELECT <expr>`). */
function parseExpr(c: TokenCursor, from: number, to: number, what: string): ast.Expr {
  const target = fragment(c, from, to, 'SELECT ', what)
  return translateExpr(target, fragmentContext(c, from, to, 'SELECT '))
}

function fragment(c: TokenCursor, from: number, to: number, prefix: string, what: string): pg.Node {
  if (from >= to) throw c.unexpected(what)
  const parsed = parseFragment(c, from, to, prefix)
  const stmt = parsed.statements[0]?.stmt
  const targets = stmt !== undefined && 'SelectStmt' in stmt ? stmt.SelectStmt.targetList : undefined
  const only = targets?.length === 1 && stmt !== undefined && 'SelectStmt' in stmt && stmt.SelectStmt.fromClause === undefined ? targets[0] : undefined
  const val = only !== undefined && 'ResTarget' in only ? only.ResTarget.val : undefined
  if (parsed.statements.length !== 1 || val === undefined) throw syntaxError(`expected ${what}`, c.span(from, to))
  return val
}

const fragments = new WeakMap<TokenCursor, Map<string, ReturnType<typeof parseWithPostgres>>>()

function parseFragment(c: TokenCursor, from: number, to: number, prefix: string): ReturnType<typeof parseWithPostgres> {
  let cache = fragments.get(c)
  if (cache === undefined) fragments.set(c, (cache = new Map()))
  const key = `${from}:${to}:${prefix}`
  let parsed = cache.get(key)
  if (parsed === undefined) {
    const tokens = c.tokens.slice(from, to)
    parsed = parseWithPostgres({ sql: c.sql, tokens, start: tokens[0]!.start, end: tokens[tokens.length - 1]!.end, prefix })
    cache.set(key, parsed)
  }
  return parsed
}

const fragmentContext = (c: TokenCursor, from: number, to: number, prefix: string) => parseFragment(c, from, to, prefix).ctx
