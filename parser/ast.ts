/**
 * The typed AST every Sluice statement parses into: discriminated unions on `kind`, one interface per
 * variant, each node carrying its `span`: 0-based offsets (JavaScript string indexes, i.e. UTF-16 code units)
 * into the whole query string that was parsed, so that a multi-statement string still points at the right
 * place. `span.start` is where PostgreSQL would report an error about the node (for an operator, the
 * operator itself); `span.end` is the end of the node's last token.
 *
 * Standard SQL comes from the real PostgreSQL parser (libpg-query) and is translated into these nodes;
 * streaming statements (CREATE STREAM, ...) are parsed by our own layer into the same nodes. Nothing
 * downstream ever sees libpg-query's JSON.
 */
import type { Span } from '../common/errors.ts'
import type { MatchRecognize } from './match-recognize/ast.ts'

export type { Span }

// ---------------------------------------------------------------------------------------------------------
// Names and types

/** A possibly qualified name: `game_events`, `pg_catalog.pg_class`. Parts are already case-folded. */
export interface QualifiedName {
  readonly parts: readonly string[]
  readonly span: Span
}

/** A type as written: `BIGINT`, `timestamp with time zone`, `numeric(10,2)`, `text[]`. */
export interface TypeRef {
  readonly kind: 'type_ref'
  /** Lower-case canonical spelling without modifiers, e.g. `int8`, `timestamptz`, `varchar`. */
  readonly name: string
  readonly modifiers: readonly number[]
  readonly isArray: boolean
  readonly span: Span
}

// ---------------------------------------------------------------------------------------------------------
// Expressions

export type Expr =
  | ColumnRef
  | Literal
  | Param
  | BinaryOp
  | UnaryOp
  | BoolExpr
  | FuncCall
  | Cast
  | CaseExpr
  | InList
  | Between
  | IsTest
  | Like
  | SubqueryExpr
  | ArrayExpr
  | RowExpr
  | Subscript
  | FieldSelect
  | Star

/** `player_id`, `p.is_payer`, `NEW.type`. */
export interface ColumnRef {
  readonly kind: 'column_ref'
  /** Qualifier parts before the column (`['p']` for `p.is_payer`); empty when unqualified. */
  readonly table: readonly string[]
  readonly name: string
  readonly span: Span
}

/** `t.*` or `*` inside a select list or `count(*)`. */
export interface Star {
  readonly kind: 'star'
  readonly table: readonly string[]
  readonly span: Span
}

/**
 * A constant. `typeName` is set for typed literals (`TIMESTAMPTZ '2027-02-15'`, `INTERVAL '5 seconds'`,
 * `DATE '2026-01-01'`); an untyped string literal has value string and no typeName (Postgres' `unknown`).
 */
export interface Literal {
  readonly kind: 'literal'
  /**
   * The value. Integers are numbers when they are safe JavaScript integers, otherwise their decimal text;
   * numeric literals keep their source text (`'1.50'`, `'1e10'`) so no digit is lost before binding.
   */
  readonly value: null | boolean | number | string
  /** `integer` for whole numbers that fit in int8, `numeric` for decimals, `string`, `boolean`, `null`. */
  readonly literalType: 'integer' | 'numeric' | 'string' | 'boolean' | 'null'
  /** For typed literals: the type written before the string, e.g. `interval`, `timestamptz`. */
  readonly typeName?: TypeRef
  /** For `INTERVAL '30' MINUTE` style literals: the unit qualifier, lower case. */
  readonly intervalUnit?: string
  readonly span: Span
}

/** `$1`: a parameter of the extended protocol, 1-based. */
export interface Param {
  readonly kind: 'param'
  readonly index: number
  readonly span: Span
}

/**
 * Binary operators by their SQL spelling: arithmetic `+ - * / %`, comparison `= <> < <= > >=`,
 * string `||`, regex `~ ~* !~ !~*`, JSON `-> ->>`. `!=` is normalized to `<>`.
 * `quantifier` is set for `x = ANY(array)` / `x <> ALL(...)`.
 */
export interface BinaryOp {
  readonly kind: 'binary_op'
  readonly op: string
  readonly left: Expr
  readonly right: Expr
  readonly quantifier?: 'any' | 'all'
  readonly span: Span
}

/** Prefix `-x`, `+x`. */
export interface UnaryOp {
  readonly kind: 'unary_op'
  readonly op: '-' | '+'
  readonly operand: Expr
  readonly span: Span
}

/** `a AND b AND c`, `a OR b`, `NOT a`. */
export interface BoolExpr {
  readonly kind: 'bool_expr'
  readonly op: 'and' | 'or' | 'not'
  readonly args: readonly Expr[]
  readonly span: Span
}

/**
 * A function or aggregate call: `count(*)`, `count(DISTINCT x)`, `sum(amount) FILTER (WHERE ...)`,
 * `last_value(level) IGNORE NULLS OVER (PARTITION BY player_id ORDER BY ts)`, `now()`.
 * `name` is lower case without `pg_catalog.`; `schema` keeps an explicit qualifier if one was written.
 */
export interface FuncCall {
  readonly kind: 'func_call'
  readonly name: string
  readonly schema?: string
  readonly args: readonly Expr[]
  /** `count(*)`. */
  readonly star: boolean
  readonly distinct: boolean
  readonly filter?: Expr
  readonly orderBy?: readonly OrderItem[]
  readonly over?: WindowSpec
  readonly ignoreNulls?: boolean
  readonly span: Span
}

/** `OVER (PARTITION BY ... ORDER BY ... frame)`. */
export interface WindowSpec {
  readonly kind: 'window_spec'
  readonly name?: string
  readonly partitionBy: readonly Expr[]
  readonly orderBy: readonly OrderItem[]
  readonly frame?: WindowFrame
  readonly span: Span
}

export interface WindowFrame {
  readonly mode: 'rows' | 'range' | 'groups'
  readonly start: FrameBound
  readonly end: FrameBound
  /** `EXCLUDE CURRENT ROW | GROUP | TIES`; absent for `EXCLUDE NO OTHERS`. */
  readonly exclude?: 'current_row' | 'group' | 'ties'
}

export type FrameBound =
  | { readonly kind: 'unbounded_preceding' }
  | { readonly kind: 'preceding'; readonly offset: Expr }
  | { readonly kind: 'current_row' }
  | { readonly kind: 'following'; readonly offset: Expr }
  | { readonly kind: 'unbounded_following' }

/** `x::int`, `CAST(x AS bigint)`. */
export interface Cast {
  readonly kind: 'cast'
  readonly expr: Expr
  readonly type: TypeRef
  readonly span: Span
}

/** `CASE [operand] WHEN ... THEN ... [ELSE ...] END`. */
export interface CaseExpr {
  readonly kind: 'case'
  readonly operand?: Expr
  readonly whens: readonly { readonly when: Expr; readonly then: Expr }[]
  readonly else?: Expr
  readonly span: Span
}

/** `x [NOT] IN (a, b, c)`. */
export interface InList {
  readonly kind: 'in_list'
  readonly expr: Expr
  readonly list: readonly Expr[]
  readonly negated: boolean
  readonly span: Span
}

/** `x [NOT] BETWEEN a AND b`. */
export interface Between {
  readonly kind: 'between'
  readonly expr: Expr
  readonly low: Expr
  readonly high: Expr
  readonly negated: boolean
  readonly span: Span
}

/** `x IS [NOT] NULL`, `x IS [NOT] TRUE|FALSE`, `x IS [NOT] DISTINCT FROM y`. */
export interface IsTest {
  readonly kind: 'is_test'
  readonly expr: Expr
  readonly test: 'null' | 'true' | 'false' | 'distinct_from'
  readonly negated: boolean
  readonly other?: Expr
  readonly span: Span
}

/** `x [NOT] LIKE|ILIKE pattern`. */
export interface Like {
  readonly kind: 'like'
  readonly expr: Expr
  readonly pattern: Expr
  readonly caseInsensitive: boolean
  readonly negated: boolean
  readonly span: Span
}

/** `(SELECT ...)`, `EXISTS (SELECT ...)`, `x IN (SELECT ...)`, `ARRAY(SELECT ...)`. */
export interface SubqueryExpr {
  readonly kind: 'subquery'
  readonly mode: 'scalar' | 'exists' | 'in' | 'array'
  readonly expr?: Expr
  readonly negated?: boolean
  readonly query: Query
  readonly span: Span
}

/** `ARRAY['de', 'fr']`. */
export interface ArrayExpr {
  readonly kind: 'array'
  readonly elements: readonly Expr[]
  readonly span: Span
}

/** `ROW(a, b)` or `(a, b)`. */
export interface RowExpr {
  readonly kind: 'row'
  readonly fields: readonly Expr[]
  readonly span: Span
}

/**
 * An array element or slice: `conkey[1]`, `prattrs[s]`, `levels[2:3]`, `levels[:2]` (psql's and pgjdbc's
 * catalog queries use them). `x[1][2]` nests: the outer subscript's `expr` is `x[1]`.
 */
export interface Subscript {
  readonly kind: 'subscript'
  readonly expr: Expr
  /** The element index, or the slice's upper bound (absent in `x[1:]`). */
  readonly index?: Expr
  /** For slices: the lower bound (absent in `x[:2]`). */
  readonly lower?: Expr
  readonly slice: boolean
  readonly span: Span
}

/** A field of a composite value: `(information_schema._pg_expandarray(i.indkey)).n`. */
export interface FieldSelect {
  readonly kind: 'field_select'
  readonly expr: Expr
  readonly field: string
  readonly span: Span
}

// ---------------------------------------------------------------------------------------------------------
// Queries

export interface OrderItem {
  readonly expr: Expr
  readonly direction: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
  readonly span: Span
}

export interface SelectItem {
  readonly expr: Expr
  readonly alias?: string
  readonly span: Span
}

export type FromItem = TableRef | WindowTvf | SubqueryRef | JoinRef | FunctionRef | MatchRecognizeRef

/** `game_events`, `pg_catalog.pg_class c`. */
export interface TableRef {
  readonly kind: 'table_ref'
  readonly name: QualifiedName
  readonly alias?: string
  readonly span: Span
}

/**
 * A window table function in FROM:
 *   `TUMBLE(stream, ts, INTERVAL '1 minute')`,
 *   `HOP(stream, ts, slide, size)`, `SESSION(stream, ts, gap, key)`.
 * `input` is the first argument (a table name or a parenthesized subquery); `args` are the rest after the
 * time column.
 */
export interface WindowTvf {
  readonly kind: 'window_tvf'
  readonly fn: 'tumble' | 'hop' | 'session'
  readonly input: FromItem
  readonly timeColumn: ColumnRef
  readonly args: readonly Expr[]
  readonly alias?: string
  readonly span: Span
}

/**
 * `stream MATCH_RECOGNIZE (PARTITION BY ... ORDER BY ... MEASURES ... PATTERN (...) DEFINE ...) [AS] alias`:
 * row pattern recognition over a stream; the clause itself is parsed by parser/match-recognize/parse.ts.
 */
export interface MatchRecognizeRef {
  readonly kind: 'match_recognize'
  readonly input: TableRef
  readonly clause: MatchRecognize
  readonly alias?: string
  readonly span: Span
}

/** `(SELECT ...) AS alias [(column, ...)]`. */
export interface SubqueryRef {
  readonly kind: 'subquery_ref'
  readonly query: Query
  readonly alias?: string
  /** Renames the first columns of the subquery, as `AS s(name, tp, tpm)` does. */
  readonly columnAliases?: readonly string[]
  /** `LATERAL (SELECT ...)`: the subquery reads columns of the FROM items before it. */
  readonly lateral?: boolean
  readonly span: Span
}

/** A set-returning function in FROM other than the window TVFs: `generate_series(1, 3) g`, `unnest(...)`. */
export interface FunctionRef {
  readonly kind: 'function_ref'
  readonly call: FuncCall
  readonly alias?: string
  readonly columnAliases?: readonly string[]
  readonly span: Span
}

/** `a [INNER|LEFT|RIGHT|FULL|CROSS] JOIN b ON cond | USING (cols)`. */
export interface JoinRef {
  readonly kind: 'join'
  readonly joinType: 'inner' | 'left' | 'right' | 'full' | 'cross'
  readonly left: FromItem
  readonly right: FromItem
  readonly on?: Expr
  readonly using?: readonly string[]
  readonly span: Span
}

/** One SELECT block (no set operations). */
export interface Select {
  readonly kind: 'select'
  readonly distinct: boolean
  /** `DISTINCT ON (e, ...)`; `distinct` is false then. */
  readonly distinctOn?: readonly Expr[]
  readonly targets: readonly SelectItem[]
  readonly from: readonly FromItem[]
  readonly where?: Expr
  readonly groupBy: readonly Expr[]
  /**
   * `ROLLUP` / `CUBE` / `GROUPING SETS`, expanded (parser/translate/grouping-sets.ts): each set lists the
   * `groupBy` expressions it groups by; absent for a plain GROUP BY.
   */
  readonly groupingSets?: readonly (readonly number[])[]
  readonly having?: Expr
  readonly orderBy: readonly OrderItem[]
  readonly limit?: Expr
  readonly offset?: Expr
  /** `EMIT ON WINDOW CLOSE` after the query (Sluice streaming extension). */
  readonly emit?: 'on_update' | 'on_window_close'
  readonly span: Span
}

/** `a UNION [ALL] b`, `INTERSECT`, `EXCEPT`, with an outer ORDER BY / LIMIT. */
export interface SetOperation {
  readonly kind: 'set_operation'
  readonly op: 'union' | 'intersect' | 'except'
  readonly all: boolean
  readonly left: Query
  readonly right: Query
  readonly orderBy: readonly OrderItem[]
  readonly limit?: Expr
  readonly offset?: Expr
  /**
   * The query of `WITH RECURSIVE name [(columns)] AS (left UNION [ALL] right)`: `right` reads the rows the
   * step before it added under `name` (its working table) until it adds none.
   */
  readonly recursive?: { readonly name: string; readonly columns?: readonly string[] }
  readonly span: Span
}

/** `VALUES (1, 'a'), (2, 'b')` used as a query. */
export interface ValuesQuery {
  readonly kind: 'values'
  readonly rows: readonly (readonly Expr[])[]
  readonly span: Span
}

export type Query = Select | SetOperation | ValuesQuery

// ---------------------------------------------------------------------------------------------------------
// Statements

export interface ColumnDef {
  readonly name: string
  readonly type: TypeRef
  readonly notNull: boolean
  /** `METADATA [FROM 'key']`: filled from the record's metadata (Kafka partition, offset, timestamp). */
  readonly metadata?: string
  readonly span: Span
}

/** `WATERMARK FOR ts AS ts - INTERVAL '5 seconds'`. */
export interface WatermarkDef {
  readonly column: string
  readonly expr: Expr
  readonly span: Span
}

/** An option value in `WITH (...)`: a string, number, boolean, or an interval/typed literal as an expression. */
export type OptionValue = string | number | boolean | Expr

export interface OptionDef {
  readonly name: string
  readonly value: OptionValue
  readonly span: Span
}

/**
 * CREATE STREAM [IF NOT EXISTS] name (col type [NOT NULL], ..., [WATERMARK FOR col AS expr])
 *   [WITH (topic = 'raw', format = 'json', key = 'player_id', partitions = 4)]
 */
export interface CreateStream {
  readonly kind: 'create_stream'
  readonly name: QualifiedName
  readonly ifNotExists: boolean
  readonly columns: readonly ColumnDef[]
  readonly watermark?: WatermarkDef
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** CREATE MATERIALIZED VIEW [IF NOT EXISTS] name AS query [WITH (...)]. `queryText` is the query's own SQL. */
export interface CreateView {
  readonly kind: 'create_view'
  readonly name: QualifiedName
  readonly ifNotExists: boolean
  readonly query: Query
  readonly queryText: string
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** Where a sink writes: INTO KAFKA TOPIC, INTO POSTGRES TABLE, INTO MYSQL TABLE, INTO FILES. */
export type SinkTargetKind = 'kafka' | 'postgres' | 'mysql' | 'files'

/**
 * CREATE SINK [IF NOT EXISTS] name FROM relation INTO KAFKA TOPIC 'topic' [WITH (...)];
 * likewise INTO POSTGRES TABLE 'schema.table', INTO MYSQL TABLE 'db.table', INTO FILES 'dir'.
 */
export interface CreateSink {
  readonly kind: 'create_sink'
  readonly name: QualifiedName
  readonly ifNotExists: boolean
  readonly from: QualifiedName
  readonly into: SinkTargetKind
  /** The topic, the table or the directory, as written. */
  readonly topic: string
  readonly topicSpan: Span
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/**
 * ALTER STREAM name CLOSE: the stream's input is finished; its windows finalize, inserts are refused.
 * ALTER STREAM name RESET WATERMARK [TO [TIMESTAMPTZ] 'text']: every view's watermark over the stream is
 * set anew, from the events in the stream or to the given time (`resetTo`, the literal's text).
 */
export interface AlterStream {
  readonly kind: 'alter_stream'
  readonly name: QualifiedName
  readonly action: 'close' | 'reset_watermark'
  readonly resetTo?: { readonly text: string; readonly span: Span }
  readonly span: Span
}

/** DROP STREAM|MATERIALIZED VIEW|VIEW [IF EXISTS] name [, ...] [CASCADE]. */
export interface Drop {
  readonly kind: 'drop'
  readonly objectKind: 'stream' | 'view' | 'trigger' | 'sink'
  readonly names: readonly QualifiedName[]
  readonly ifExists: boolean
  readonly cascade: boolean
  readonly span: Span
}

/** INSERT INTO stream [(cols)] VALUES (...), (...) | INSERT INTO stream [(cols)] SELECT ... */
export interface Insert {
  readonly kind: 'insert'
  readonly table: QualifiedName
  readonly columns?: readonly string[]
  readonly source: Query
  readonly span: Span
}

/** A query statement. */
export interface QueryStatement {
  readonly kind: 'query'
  readonly query: Query
  readonly span: Span
}

/** SHOW name | SHOW ALL | SHOW STREAMS | SHOW MATERIALIZED VIEWS | SHOW QUERIES ... (name lower case, words joined by space). */
export interface Show {
  readonly kind: 'show'
  readonly name: string
  readonly span: Span
}

/** SET [SESSION|LOCAL] name = value | TO value; RESET name | ALL. */
export interface SetVariable {
  readonly kind: 'set'
  readonly name: string
  /** null for RESET / SET name TO DEFAULT. */
  readonly value: string | null
  readonly local: boolean
  /** Further settings of the same statement (`SET TRANSACTION ISOLATION LEVEL ..., READ ONLY`). */
  readonly more?: readonly { readonly name: string; readonly value: string }[]
  readonly span: Span
}

/** EXPLAIN [ANALYZE] [VERBOSE] statement, or EXPLAIN (ANALYZE, VERBOSE) statement. */
export interface Explain {
  readonly kind: 'explain'
  readonly statement: Statement
  /** Set (true) only when ANALYZE was asked for. */
  readonly analyze?: boolean
  /** Set (true) only when VERBOSE was asked for. */
  readonly verbose?: boolean
  readonly span: Span
}

/** BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT. */
export interface Transaction {
  readonly kind: 'transaction'
  /** `savepoint`, `release` (RELEASE [SAVEPOINT] name), `rollback_to` (ROLLBACK TO [SAVEPOINT] name) carry `savepoint`. */
  readonly op: 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback_to'
  readonly savepoint?: string
  /** Modes given to BEGIN, lower case: `isolation level serializable`, `read only`, `not deferrable`. */
  readonly modes?: readonly string[]
  readonly span: Span
}

/** A statement Sluice recognizes but does not act on beyond acknowledging (e.g. `DISCARD ALL`): tag given. */
export interface Utility {
  readonly kind: 'utility'
  readonly tag: string
  /** The object the command names, e.g. the prepared statement of `DEALLOCATE name`. */
  readonly target?: string
  readonly span: Span
}

/**
 * CREATE TRIGGER [IF NOT EXISTS] name AFTER INSERT ON stream [AS alias] [[LEFT] JOIN keyed_view alias USING (...)]
 *   FOR EACH ROW [WHEN (condition)] EXECUTE {NOTIFY channel | WEBHOOK 'url'} [, payload] [WITH (cooldown = ..., ...)]
 * `from` is the stream (aliased NEW unless named otherwise), joined to the keyed view when there is one.
 */
export interface CreateTrigger {
  readonly kind: 'create_trigger'
  readonly name: QualifiedName
  readonly ifNotExists: boolean
  readonly from: FromItem
  readonly when?: Expr
  readonly action: TriggerAction
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** ALTER TRIGGER name {ENABLE | DISABLE | SET (option = value, ...)}: changes a running trigger. */
export interface AlterTrigger {
  readonly kind: 'alter_trigger'
  readonly name: QualifiedName
  readonly action: { readonly kind: 'enable' } | { readonly kind: 'disable' } | { readonly kind: 'set'; readonly options: readonly OptionDef[] }
  readonly span: Span
}

/** ALTER MATERIALIZED VIEW name SET (max_state = ..., max_output_rate = ...): changes a view's limits. */
export interface AlterView {
  readonly kind: 'alter_view'
  readonly name: QualifiedName
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** What a firing does: `NOTIFY channel [, payload]` (the payload an expression over the event and profile). */
export type TriggerAction =
  | { readonly kind: 'notify'; readonly channel: string; readonly payload?: Expr; readonly span: Span }
  /** `EXECUTE WEBHOOK 'https://...' [, payload]`: POST JSON. */
  | { readonly kind: 'webhook'; readonly url: string; readonly payload?: Expr; readonly span: Span; /** The URL literal. */ readonly urlSpan?: Span }
  /** `EXECUTE INSERT INTO stream [(cols)] VALUES (...)`: one row per firing, into another stream. */
  | { readonly kind: 'insert'; readonly insert: Insert; readonly span: Span }

/** `LISTEN channel`: this session receives the channel's notifications from now on. */
export interface Listen {
  readonly kind: 'listen'
  readonly channel: string
  readonly span: Span
}

/** `UNLISTEN channel` | `UNLISTEN *` (channel null). */
export interface Unlisten {
  readonly kind: 'unlisten'
  readonly channel: string | null
  readonly span: Span
}

/** `NOTIFY channel [, 'payload']`. */
export interface Notify {
  readonly kind: 'notify'
  readonly channel: string
  readonly payload: string
  readonly span: Span
}

/**
 * `SUBSCRIBE [TO] relation [WITH (snapshot = true, progress = false)]`: the changes of a materialized view
 * (or the events of a stream) as they happen, as rows `(sluice_timestamp, [sluice_progressed,] sluice_diff, columns...)`.
 */
export interface Subscribe {
  readonly kind: 'subscribe'
  readonly relation: QualifiedName
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** `COPY (query | SUBSCRIBE ...) TO STDOUT [[WITH] (FORMAT text)]`: rows as COPY text, streamed. */
export interface CopyTo {
  readonly kind: 'copy_to'
  readonly source: QueryStatement | Subscribe
  readonly options: readonly OptionDef[]
  /** FORCE_QUOTE's columns, or `*` for all (its entry in `options` marks where it was given). */
  readonly forceQuote?: '*' | readonly string[]
  readonly span: Span
}

/** `COPY stream [(columns)] FROM STDIN [WITH (options)]`: bulk ingest in text or CSV format. */
export interface CopyFrom {
  readonly kind: 'copy_from'
  readonly stream: QualifiedName
  /** The columns the fields fill, in order; null: every column of the stream. */
  readonly columns: readonly string[] | null
  readonly options: readonly OptionDef[]
  readonly span: Span
}

/** `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH HOLD | WITHOUT HOLD] FOR query | SUBSCRIBE ...`. */
export interface DeclareCursor {
  readonly kind: 'declare_cursor'
  readonly name: string
  readonly binary: boolean
  readonly hold: boolean
  readonly source: QueryStatement | Subscribe
  readonly span: Span
}

/**
 * `FETCH [FORWARD] [n | ALL | NEXT] [FROM | IN] name [WITH (timeout = '1s')]`, or MOVE with the same
 * directions (`move` set: rows are skipped, not returned). `count` null means ALL.
 */
export interface FetchCursor {
  readonly kind: 'fetch'
  readonly name: string
  readonly count: number | null
  readonly move: boolean
  /** `WITH (timeout = ...)` in milliseconds; null to wait as long as it takes for a live cursor. */
  readonly timeoutMs: number | null
  readonly span: Span
}

/** `CLOSE name | CLOSE ALL` (name null). */
export interface CloseCursor {
  readonly kind: 'close_cursor'
  readonly name: string | null
  readonly span: Span
}

export type Statement =
  | CreateStream
  | CreateSink
  | AlterStream
  | CreateView
  | Drop
  | Insert
  | QueryStatement
  | Show
  | SetVariable
  | Explain
  | Transaction
  | Utility
  | Listen
  | Unlisten
  | Notify
  | CreateTrigger
  | AlterTrigger
  | AlterView
  | Subscribe
  | CopyTo
  | CopyFrom
  | DeclareCursor
  | FetchCursor
  | CloseCursor

export type StatementKind = Statement['kind']
