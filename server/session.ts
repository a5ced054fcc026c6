/**
 * One client session: turns statements into engine calls and results. DDL goes to the engine (deployed
 * into the running loop), INSERT appends to a stream, SELECT runs a pull query, SET/SHOW/BEGIN keep the
 * session state drivers expect.
 */
import { SluiceError, SqlState, assertNever, planError, unsupported } from '../common/errors.ts'
import { Types, type Column, type Row, type SqlType, type Value, typeFromOid } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import { parseStatements } from '../parser/index.ts'
import { planPull, type PullPlan } from '../planner/pull-plan.ts'
import { planInsert } from '../planner/insert-plan.ts'
import { explainView } from '../planner/view-plan.ts'
import { compileExpr, compileProjection } from '../planner/compile.ts'
import type { EvalContext } from '../planner/runtime.ts'
import { VERSION_STRING } from '../planner/runtime.ts'
import type { Engine } from '../executor/engine.ts'
import { runSelect } from '../executor/pull.ts'
import { systemTableRows } from '../executor/system-tables.ts'
import { runRelationalQuery } from '../executor/pg-catalog.ts'
import { MAX_PAYLOAD_BYTES, type ChannelMessage, type Listener } from '../executor/notifications.ts'
import type { Backend, BoundParam, Notice, Notification, Outcome, PreparedStatement, ResultColumn, StartupInfo, TransactionStatus } from './backend.ts'
import { checkResultFormat, decodeParam } from './wire/values.ts'
import { explainPull } from './explain.ts'
import { arrayCursor } from './row-cursor.ts'
import { CopyFromSink, copyFormat } from './copy-from.ts'
import { Cursors, type CursorSource } from './cursors.ts'
import { type CancelSignal, type SubscribePlan, copyChunks, liveCursor, planSubscribe, startSubscription } from './subscribe.ts'
import type { Subscription } from '../executor/change-feed.ts'
import { checkRolePermits, readOnlyViolation } from './users.ts'

/** ParameterStatus values sent at startup and the SHOW defaults. */
export const INITIAL_PARAMETERS: ReadonlyMap<string, string> = new Map([
  ['server_version', '15.0'],
  ['server_encoding', 'UTF8'],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['TimeZone', 'UTC'],
  ['integer_datetimes', 'on'],
  ['standard_conforming_strings', 'on'],
  ['IntervalStyle', 'postgres'],
  ['is_superuser', 'on'],
  ['application_name', ''],
  ['default_transaction_read_only', 'off'],
  ['in_hot_standby', 'off'],
])

/** Settings whose changes are reported to the client with ParameterStatus, as Postgres does. */
const REPORTED = new Set(['client_encoding', 'datestyle', 'timezone', 'application_name', 'intervalstyle', 'standard_conforming_strings', 'is_superuser'])

const EXTRA_SETTINGS: Record<string, string> = {
  transaction_isolation: 'read committed',
  transaction_read_only: 'off',
  default_transaction_isolation: 'read committed',
  extra_float_digits: '1',
  search_path: '"$user", public',
  max_identifier_length: '63',
  lc_collate: 'C',
  lc_ctype: 'C',
  statement_timeout: '0',
  server_version_num: '150000',
}

interface SluicePrepared extends PreparedStatement {
  readonly statement: ast.Statement | null
  readonly text: string
}

const column = (name: string, type: SqlType): ResultColumn => ({ name, type, typeModifier: -1, tableOid: 0, columnNumber: 0 })
const columnsOf = (cols: readonly Column[] | readonly { name: string; type: SqlType }[]): ResultColumn[] => cols.map((c) => column(c.name, c.type))

/**
 * A pull query's result columns, each read unchanged from a stream or view carrying its relation's OID and
 * column number, as PostgreSQL's RowDescription does: JDBC's ResultSetMetaData (getTableName, isNullable)
 * and BI tools look the column up in pg_attribute by them.
 */
const planColumns = (plan: PullPlan): ResultColumn[] =>
  plan.select.outputColumns.map((c, i) => {
    const origin = plan.columnOrigins?.[i] ?? null
    return origin === null ? column(c.name, c.type) : { ...column(c.name, c.type), tableOid: origin.tableOid, columnNumber: origin.columnNumber }
  })


const rowsOutcome = (columns: readonly ResultColumn[], rows: readonly Row[], verb = 'SELECT'): Outcome => ({
  kind: 'rows',
  columns,
  cursor: arrayCursor(rows),
  tag: (n) => `${verb} ${n}`,
})

/**
 * Parsed statements by SQL text: drivers send the same statement text over and over (node-postgres parses
 * an unnamed statement for every query). ASTs are never changed after parsing, so they are shared. Small.
 */
const PARSE_CACHE_ENTRIES = 512
const PARSE_CACHE_MAX_SQL = 8192
const parsedBySql = new Map<string, ReturnType<typeof parseStatements>>()
function parseCached(sql: string): ReturnType<typeof parseStatements> {
  if (sql.length > PARSE_CACHE_MAX_SQL) return parseStatements(sql)
  const hit = parsedBySql.get(sql)
  if (hit !== undefined) {
    // Most recently used last, so the oldest is dropped first.
    parsedBySql.delete(sql)
    parsedBySql.set(sql, hit)
    return hit
  }
  const parsed = parseStatements(sql)
  parsedBySql.set(sql, parsed)
  if (parsedBySql.size > PARSE_CACHE_ENTRIES) parsedBySql.delete(parsedBySql.keys().next().value!)
  return parsed
}

/** Pull plans by query AST, with the catalog version and parameter types they were made for. */
const cachedPlans = new WeakMap<ast.Query, { readonly version: number; readonly plans: Map<string, PullPlan> }>()
const typeKey = (t: SqlType): string => (t.element ? `${typeKey(t.element)}[]` : `${t.name}${t.pgOid ?? ''}`)

export class Session implements Backend {
  private readonly settings = new Map<string, string>()
  private status: TransactionStatus = 'I'
  private readonly parameterChanges = new Map<string, string>()
  private asyncListener: ((m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void) | null = null

  constructor(
    private readonly engine: Engine,
    private readonly startup: StartupInfo,
  ) {
    for (const [k, v] of INITIAL_PARAMETERS) this.settings.set(k.toLowerCase(), v)
    for (const [k, v] of Object.entries(EXTRA_SETTINGS)) this.settings.set(k, v)
    this.settings.set('application_name', startup.applicationName)
    this.settings.set('session_authorization', startup.user)
    // Roles (server/users.ts): a read-only user is no superuser; `ssl` tells whether this session is encrypted.
    this.settings.set('is_superuser', startup.role === 'readonly' ? 'off' : 'on')
    this.settings.set('ssl', startup.ssl === true ? 'on' : 'off')
  }

  private evalContext(): EvalContext {
    return { now: Date.now() * 1000, user: this.startup.user, database: this.startup.database, pid: this.startup.processId, notify: (channel: string, payload: string) => this.notify(channel, payload) } as EvalContext
  }

  prepare(sql: string, paramTypeOids: readonly number[]): PreparedStatement[] {
    const given = paramTypeOids.map((oid) => (oid === 0 ? Types.unknown : (typeFromOid(oid) ?? Types.unknown)))
    const parsed = parseCached(sql)
    return parsed.map((p): SluicePrepared => {
      // Several statements come only in a simple query, which is described as each one runs: a later
      // statement may use what an earlier one creates (CREATE STREAM s ...; INSERT INTO s ...).
      if (parsed.length > 1) return { sql, statement: p.statement, text: p.text, paramTypes: [], columns: null }
      const described = this.describe(p.statement, given)
      return { sql, statement: p.statement, text: p.text, paramTypes: described.params, columns: described.columns }
    })
  }

  /** Parameter and result types of a statement, as Describe reports them. */
  private describe(s: ast.Statement, given: readonly SqlType[]): { params: SqlType[]; columns: ResultColumn[] | null } {
    switch (s.kind) {
      case 'query': {
        const plan = this.planQuery(s.query, given)
        return { params: plan.paramTypes.map(known), columns: planColumns(plan) }
      }
      case 'insert':
        return { params: planInsert(s, this.engine.catalog, given).paramTypes.map(known), columns: null }
      case 'show':
        return { params: [], columns: this.showColumns(s.name) }
      case 'explain':
        return { params: [], columns: [column('QUERY PLAN', Types.text)] }
      case 'subscribe':
        return { params: [], columns: [...planSubscribe(s, this.engine).columns] }
      case 'fetch': {
        // A cursor declared later in the same pipeline is not known yet: NoData, as PostgreSQL says then.
        const cursor = s.move ? undefined : this.cursors.find(s.name)
        return { params: [], columns: cursor === undefined ? null : [...cursor.columns] }
      }
      default:
        return { params: given.map(known), columns: null }
    }
  }

  async execute(statement: PreparedStatement, params: readonly BoundParam[]): Promise<Outcome> {
    const prepared = statement as SluicePrepared
    const s = prepared.statement
    if (s === null) return { kind: 'empty' }
    if (this.status === 'E' && !(s.kind === 'transaction' && s.op !== 'begin')) {
      throw new SluiceError('execution', SqlState.inFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block')
    }
    const values = params.map((p, i) => decodeParam(p, prepared.paramTypes[i] ?? Types.text))
    checkRolePermits(this.startup.role, this.startup.user, s)
    return this.run(s, prepared.text, values)
  }

  private async run(s: ast.Statement, text: string, params: readonly Value[]): Promise<Outcome> {
    switch (s.kind) {
      case 'create_stream': {
        const r = await this.engine.createStream(s, text)
        if (r === 'exists') this.notice(`relation "${s.name.parts.at(-1)}" already exists, skipping`, '42P07')
        return { kind: 'command', tag: 'CREATE STREAM' }
      }
      case 'create_view': {
        const r = await this.engine.createView(s, text)
        if (r === 'exists') this.notice(`relation "${s.name.parts.at(-1)}" already exists, skipping`, '42P07')
        return { kind: 'command', tag: 'CREATE MATERIALIZED VIEW' }
      }
      case 'drop':
        return this.drop(s)
      case 'create_sink': {
        const r = await this.engine.createSink(s, text)
        if (r === 'exists') this.notice(`sink "${s.name.parts.at(-1)}" already exists, skipping`, '42710')
        return { kind: 'command', tag: 'CREATE SINK' }
      }
      case 'alter_stream':
        if (s.action === 'reset_watermark') await this.engine.resetWatermark(s.name.parts.at(-1) ?? '', s.resetTo, s.name.span)
        else await this.engine.closeStream(s.name.parts.at(-1) ?? '', s.name.span)
        return { kind: 'command', tag: 'ALTER STREAM' }
      case 'insert':
        return this.insert(s, params)
      case 'query':
        return this.select(s.query, params)
      case 'show':
        return rowsOutcome(this.showColumns(s.name), await this.show(s.name), 'SHOW')
      case 'set':
        return this.set(s)
      case 'explain':
        return rowsOutcome([column('QUERY PLAN', Types.text)], this.explain(s.statement).map((l) => [l]), 'EXPLAIN')
      case 'transaction':
        return this.transaction(s)
      case 'utility':
        // CHECKPOINT, as in PostgreSQL, returns once everything processed so far is durable.
        if (s.tag === 'CHECKPOINT') await this.engine.checkpoint()
        return { kind: 'command', tag: s.tag }
      case 'create_trigger': {
        const r = await this.engine.createTrigger(s, text)
        if (r === 'exists') this.notice(`trigger "${s.name.parts.at(-1)}" already exists, skipping`, '42710')
        return { kind: 'command', tag: 'CREATE TRIGGER' }
      }
      case 'alter_trigger':
        await this.engine.alterTrigger(s, text)
        return { kind: 'command', tag: 'ALTER TRIGGER' }
      case 'listen':
        this.listen(s.channel)
        return { kind: 'command', tag: 'LISTEN' }
      case 'unlisten':
        for (const channel of s.channel === null ? [...this.listening.keys()] : [s.channel]) this.unlisten(channel)
        return { kind: 'command', tag: 'UNLISTEN' }
      case 'notify':
        this.notify(s.channel, s.payload)
        return { kind: 'command', tag: 'NOTIFY' }
      case 'subscribe':
        return this.subscribe(planSubscribe(s, this.engine))
      case 'copy_to':
        return this.copyTo(s, params)
      case 'copy_from':
        return this.copyFrom(s)
      case 'declare_cursor':
        return this.declareCursor(s, params)
      case 'fetch':
        return this.fetchCursor(s)
      case 'close_cursor':
        this.cursors.close(s.name)
        return { kind: 'command', tag: s.name === null ? 'CLOSE CURSOR ALL' : 'CLOSE CURSOR' }
      default:
        return assertNever(s, 'statement')
    }
  }

  // ---- live results and cursors (server/subscribe.ts, server/cursors.ts) ----

  cursorColumns(name: string): { readonly columns: readonly ResultColumn[]; readonly binary: boolean } | undefined {
    const c = this.cursors.find(name)
    return c === undefined ? undefined : { columns: c.columns, binary: c.binary }
  }

  private readonly cursors = new Cursors()
  /** Subscriptions read by this session outside cursors, closed with it. */
  private readonly subscriptions = new Set<Subscription>()
  private cancelGeneration = 0
  private cancelController = new AbortController()

  /** The signal a read started now watches: a later cancel() aborts it. */
  private currentCancel(): CancelSignal {
    const self = this
    return {
      get generation() {
        return self.cancelGeneration
      },
      get signal() {
        return self.cancelController.signal
      },
    }
  }

  private track(sub: Subscription): Subscription {
    for (const s of this.subscriptions) if (s.ended) this.subscriptions.delete(s)
    this.subscriptions.add(sub)
    return sub
  }

  /** SUBSCRIBE as a query: rows that never end; each batch waits for changes. */
  private async subscribe(plan: SubscribePlan): Promise<Outcome> {
    const sub = this.track(await startSubscription(plan, this.engine))
    return { kind: 'rows', columns: plan.columns, cursor: liveCursor(sub, plan, this.currentCancel()), tag: (n) => `SUBSCRIBE ${n}` }
  }

  /** COPY (query | SUBSCRIBE ...) TO STDOUT, text format: rows go out as CopyData while they come. */
  private async copyTo(s: ast.CopyTo, params: readonly Value[]): Promise<Outcome> {
    for (const o of s.options) {
      const value = typeof o.value === 'string' ? o.value.toLowerCase() : o.value
      if (o.name === 'format' && value === 'text') continue
      throw new SluiceError('unsupported', SqlState.featureNotSupported, `COPY option ${o.name} ${String(o.value)} is not supported`, { span: o.span, hint: 'COPY TO STDOUT writes the text format.' })
    }
    const source = s.source.kind === 'subscribe' ? await this.subscribe(planSubscribe(s.source, this.engine)) : await this.select(s.source.query, params)
    if (source.kind !== 'rows') throw new SluiceError('internal', SqlState.internalError, 'COPY source produced no rows')
    const { chunks, rowCount } = copyChunks(source.cursor, source.columns.map((c) => c.type))
    return { kind: 'copy_out', columnCount: source.columns.length, format: 0, chunks, rowCount, tag: (n) => `COPY ${n}`, cancel: () => source.cursor.close() }
  }

  private async declareCursor(s: ast.DeclareCursor, params: readonly Value[]): Promise<Outcome> {
    if (this.status === 'I' && !s.hold) {
      throw new SluiceError('execution', '25P01', 'DECLARE CURSOR can only be used in transaction blocks')
    }
    if (this.cursors.find(s.name) !== undefined) throw new SluiceError('plan', '42P03', `cursor "${s.name}" already exists`)
    let columns: readonly ResultColumn[]
    let source: CursorSource
    if (s.source.kind === 'subscribe') {
      const plan = planSubscribe(s.source, this.engine)
      columns = plan.columns
      source = { kind: 'live', subscription: await startSubscription(plan, this.engine), plan }
    } else {
      const plan = planPull(s.source.query, this.engine.catalog, params.map(() => Types.unknown))
      columns = columnsOf(plan.select.outputColumns)
      source = { kind: 'rows', rows: await this.pullRows(plan, params, this.evalContext()), position: 0 }
    }
    if (s.binary) {
      try {
        columns.forEach((c) => checkResultFormat(c.type, 1, c.name))
      } catch (err) {
        if (source.kind === 'live') source.subscription.close()
        throw err
      }
    }
    this.cursors.declare({ name: s.name, columns, binary: s.binary, hold: s.hold, inTransaction: this.status !== 'I', source })
    return { kind: 'command', tag: 'DECLARE CURSOR' }
  }

  private async fetchCursor(s: ast.FetchCursor): Promise<Outcome> {
    const cursor = this.cursors.get(s.name)
    const rows = await this.cursors.fetch(s.name, s.count, s.timeoutMs, this.currentCancel())
    if (s.move) return { kind: 'command', tag: `MOVE ${rows.length}` }
    return {
      kind: 'rows',
      columns: cursor.columns,
      cursor: arrayCursor(rows),
      tag: (n) => `FETCH ${n}`,
      ...(cursor.binary ? { formats: cursor.columns.map(() => 1 as const) } : {}),
    }
  }

  private async drop(s: ast.Drop): Promise<Outcome> {
    if (s.objectKind === 'trigger') {
      for (const n of s.names) {
        const name = n.parts[n.parts.length - 1]!
        if (!(await this.engine.dropTrigger(name, s.ifExists, n.span))) this.notice(`trigger "${name}" does not exist, skipping`, '00000')
      }
      return { kind: 'command', tag: 'DROP TRIGGER' }
    }
    if (s.objectKind === 'sink') {
      for (const n of s.names) {
        const name = n.parts[n.parts.length - 1]!
        if (!(await this.engine.dropSink(name, s.ifExists, n.span))) this.notice(`sink "${name}" does not exist, skipping`, '00000')
      }
      return { kind: 'command', tag: 'DROP SINK' }
    }
    for (const n of s.names) {
      const name = n.parts[n.parts.length - 1]!
      const dropped = await this.engine.drop(s.objectKind, name, s.ifExists, s.cascade, n.span)
      if (!dropped) this.notice(`${s.objectKind === 'stream' ? 'stream' : 'materialized view'} "${name}" does not exist, skipping`, '00000')
    }
    return { kind: 'command', tag: s.objectKind === 'stream' ? 'DROP STREAM' : 'DROP MATERIALIZED VIEW' }
  }

  /** COPY stream FROM STDIN: the connection feeds the data to a sink that appends the rows at the end. */
  private copyFrom(s: ast.CopyFrom): Outcome {
    const name = s.stream.parts.at(-1) ?? ''
    const entry = this.engine.catalog.get(name)
    if (entry === undefined) throw planError(SqlState.undefinedTable, `relation "${s.stream.parts.join('.')}" does not exist`, s.stream.span)
    if (entry.kind !== 'stream') throw new SluiceError('plan', SqlState.wrongObjectType, `cannot copy to materialized view "${name}"`, { span: s.stream.span, hint: 'COPY FROM STDIN appends events to a stream.' })
    const columns = entry.columns
    const targets = (s.columns ?? columns.map((c) => c.name)).map((c) => {
      const i = columns.findIndex((col) => col.name === c)
      if (i < 0) throw planError(SqlState.undefinedColumn, `column "${c}" of relation "${name}" does not exist`, s.span)
      return i
    })
    if (new Set(targets).size !== targets.length) throw planError(SqlState.duplicateColumn, 'column specified more than once', s.span)
    const format = copyFormat(s.options)
    const sink = new CopyFromSink(name, columns, targets, format, (rows) => this.engine.insert(name, rows))
    return { kind: 'copy_in', columnCount: targets.length, format: 0, sink }
  }

  private async insert(s: ast.Insert, params: readonly Value[]): Promise<Outcome> {
    const plan = planInsert(s, this.engine.catalog, [])
    const ctx = this.evalContext()
    let values: Row[]
    if (plan.source.kind === 'values') {
      values = plan.source.rows.map((exprs) => compileProjection(exprs)([], params, ctx))
    } else {
      values = await this.pullRows(plan.source.plan, params, ctx)
    }
    const rows = values.map((v) => plan.mapping.map((i) => (i === -1 ? null : (v[i] ?? null))))
    const n = await this.engine.insert(plan.stream.name, rows)
    return { kind: 'command', tag: `INSERT 0 ${n}` }
  }

  private async select(q: ast.Query, params: readonly Value[]): Promise<Outcome> {
    const plan = this.planQuery(q, params.map(() => Types.unknown))
    const rows = await this.pullRows(plan, params, this.evalContext())
    return rowsOutcome(planColumns(plan), rows)
  }

  /** A pull plan, reused while the catalog is unchanged (a prepared statement runs many times). */
  private planQuery(q: ast.Query, paramTypes: readonly SqlType[]): PullPlan {
    const catalog = this.engine.catalog
    const typesKey = paramTypes.map((t) => typeKey(t)).join(',')
    let byTypes = cachedPlans.get(q)
    if (byTypes === undefined || byTypes.version !== catalog.version) {
      byTypes = { version: catalog.version, plans: new Map() }
      cachedPlans.set(q, byTypes)
    }
    let plan = byTypes.plans.get(typesKey)
    if (plan === undefined) {
      plan = planPull(q, catalog, paramTypes)
      // Describe and execution may plan with different parameter types; a few variants per query at most.
      if (byTypes.plans.size < 8) byTypes.plans.set(typesKey, plan)
    }
    return plan
  }

  private async pullRows(plan: PullPlan, params: readonly Value[], ctx: EvalContext): Promise<Row[]> {
    const src = plan.source
    switch (src.kind) {
      case 'none':
        return runSelect(plan.select, [[]], params, ctx)
      case 'view': {
        await this.engine.waitCaughtUp(src.name)
        if (src.key !== undefined) {
          const row = await this.engine.viewPoint(src.name, src.key.map((e) => compileExpr(e)([], params, ctx)))
          if (row !== null) return runSelect(plan.select, row, params, ctx)
        }
        return runSelect(plan.select, this.engine.viewRows(src.name), params, ctx)
      }
      case 'stream':
        return runSelect(plan.select, this.engine.streamRows(src.name), params, ctx)
      case 'system':
        return runSelect(plan.select, await systemTableRows(this.engine, src.name), params, ctx)
      case 'relational':
        return runRelationalQuery(this.engine, src, params, ctx)
    }
  }

  private showColumns(name: string): ResultColumn[] {
    switch (name) {
      case 'streams':
        return [column('name', Types.text), column('partitions', Types.int4), column('columns', Types.text)]
      case 'materialized views':
      case 'views':
        return [column('name', Types.text), column('source', Types.text), column('status', Types.text)]
      case 'queries':
        return [column('name', Types.text), column('status', Types.text), column('events_in', Types.int8), column('lag', Types.int8), column('last_error', Types.text)]
      case 'all':
        return [column('name', Types.text), column('setting', Types.text), column('description', Types.text)]
      default:
        return [column(name, Types.text)]
    }
  }

  private async show(name: string): Promise<Row[]> {
    switch (name) {
      case 'streams':
        return this.engine.catalog.streams().map((s) => [s.name, s.partitions, s.columns.map((c) => c.name).join(', ')])
      case 'materialized views':
      case 'views':
        return this.engine.catalog.views().map((v) => [v.name, v.plan.source.name, this.engine.query(v.name)?.status ?? 'unknown'])
      case 'queries':
        return (await systemTableRows(this.engine, 'sluice_queries')).map((r) => [r[0]!, r[2]!, r[3]!, r[5]!, r[9] ?? null])
      case 'all':
        return [...this.settings.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v, ''])
      default: {
        const v = this.settings.get(name.toLowerCase())
        if (v === undefined) {
          if (name === 'server_version') return [['15.0']]
          throw planError(SqlState.undefinedObject, `unrecognized configuration parameter "${name}"`)
        }
        return [[v]]
      }
    }
  }

  private set(s: ast.SetVariable): Outcome {
    const key = s.name.toLowerCase()
    const value = s.value ?? INITIAL_PARAMETERS.get(canonicalName(key)) ?? EXTRA_SETTINGS[key] ?? ''
    if (key === 'all' && s.value === null) {
      for (const [k, v] of INITIAL_PARAMETERS) this.settings.set(k.toLowerCase(), v)
      return { kind: 'command', tag: 'RESET' }
    }
    this.settings.set(key, value)
    if (REPORTED.has(key)) this.parameterChanges.set(canonicalName(key), value)
    return { kind: 'command', tag: s.value === null ? 'RESET' : 'SET' }
  }

  private transaction(s: ast.Transaction): Outcome {
    switch (s.op) {
      case 'begin':
        if (this.status !== 'I') this.notice('there is already a transaction in progress', '25001')
        this.status = 'T'
        return { kind: 'command', tag: 'BEGIN' }
      case 'commit': {
        const failed = this.status === 'E'
        if (this.status === 'I') this.notice('there is no transaction in progress', '25P01')
        this.status = 'I'
        // As in PostgreSQL, a transaction's notifications go out when it commits, and not at all otherwise.
        const queued = this.queuedNotifications.splice(0)
        if (!failed) for (const m of queued) this.engine.notifications.publish(m)
        this.cursors.endTransaction(!failed)
        return { kind: 'command', tag: failed ? 'ROLLBACK' : 'COMMIT' }
      }
      case 'rollback':
        if (this.status === 'I') this.notice('there is no transaction in progress', '25P01')
        this.status = 'I'
        this.queuedNotifications.length = 0
        this.cursors.endTransaction(false)
        return { kind: 'command', tag: 'ROLLBACK' }
    }
  }

  /** Channels this session listens to, with the listener the hub calls. */
  private readonly listening = new Map<string, Listener>()
  /** NOTIFYs inside a transaction block, sent at COMMIT. */
  private readonly queuedNotifications: ChannelMessage[] = []

  private listen(channel: string): void {
    if (this.listening.has(channel)) return
    const listener: Listener = (m) => this.asyncListener?.({ kind: 'notification', notification: { processId: m.senderPid, channel: m.channel, payload: m.payload } })
    this.listening.set(channel, listener)
    this.engine.notifications.listen(channel, listener)
  }

  private unlisten(channel: string): void {
    const listener = this.listening.get(channel)
    if (listener === undefined) return
    this.listening.delete(channel)
    this.engine.notifications.unlisten(channel, listener)
  }

  private notify(channel: string, payload: string): void {
    // NOTIFY also comes from pg_notify() inside a SELECT, which the statement check lets through.
    if (this.startup.role === 'readonly') throw readOnlyViolation(this.startup.user)
    if (Buffer.byteLength(payload) >= MAX_PAYLOAD_BYTES) throw new SluiceError('execution', SqlState.invalidParameterValue, 'payload string too long')
    const message: ChannelMessage = { channel, payload, senderPid: this.startup.processId }
    if (this.status === 'T') this.queuedNotifications.push(message)
    else this.engine.notifications.publish(message)
  }

  private explain(s: ast.Statement): string[] {
    switch (s.kind) {
      case 'create_view': {
        const def = this.engine.viewDef(s, 0, '')
        return explainView(def.name, def.plan)
      }
      case 'query':
        return explainPull(planPull(s.query, this.engine.catalog, []))
      case 'create_stream':
        return [`CreateStream ${s.name.parts.at(-1)} (${s.columns.length} columns)`, '  ->  EmbeddedLog (append-only segments per partition)']
      default: {
        const name = this.engine.catalog.get(s.kind === 'drop' ? (s.names[0]?.parts.at(-1) ?? '') : '')
        if (name?.kind === 'view') return explainView(name.name, name.plan)
        throw unsupported(`EXPLAIN of ${s.kind.replace('_', ' ')} is not supported`, s.span)
      }
    }
  }

  private notice(message: string, sqlstate: string): void {
    this.asyncListener?.({ kind: 'notice', notice: { severity: 'NOTICE', sqlstate, message } })
  }

  transactionStatus(): TransactionStatus {
    return this.status
  }

  statementFailed(_error: SluiceError): void {
    if (this.status === 'T') this.status = 'E'
  }

  takeParameterChanges(): ReadonlyMap<string, string> {
    const out = new Map(this.parameterChanges)
    this.parameterChanges.clear()
    return out
  }

  onAsync(listener: (m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void): void {
    this.asyncListener = listener
  }

  cancel(): void {
    // Pull queries finish quickly; what waits is a live read (SUBSCRIBE, FETCH from one): end it with 57014.
    this.cancelGeneration++
    const controller = this.cancelController
    this.cancelController = new AbortController()
    controller.abort()
  }

  close(): void {
    this.cursors.closeAll()
    for (const sub of this.subscriptions) sub.close()
    this.subscriptions.clear()
    for (const channel of [...this.listening.keys()]) this.unlisten(channel)
    this.asyncListener = null
  }

  static versionString(): string {
    return VERSION_STRING
  }
}

/** Unknown parameter types that nothing constrained are sent as text, as Postgres does. */
const known = (t: SqlType): SqlType => (t.name === 'unknown' ? Types.text : t)

function canonicalName(key: string): string {
  for (const k of INITIAL_PARAMETERS.keys()) if (k.toLowerCase() === key) return k
  return key
}
