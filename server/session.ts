/**
 * One client session: turns statements into engine calls and results. DDL goes to the engine (deployed
 * into the running loop), INSERT appends to a stream, SELECT runs a pull query; SET/SHOW (server/settings.ts,
 * server/show.ts) and BEGIN/COMMIT (server/transaction-block.ts) keep the session state drivers expect.
 */
import { SluiceError, SqlState, assertNever, unsupported, type SqlStateCode } from '../common/errors.ts'
import { Types, type Column, type Row, type SqlType, type Value, typeFromOid } from '../common/types.ts'
import type * as ast from '../parser/ast.ts'
import { planPull, type PullPlan } from '../planner/pull-plan.ts'
import { planInsert } from '../planner/insert-plan.ts'
import { compileExpr, compileProjection } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { VERSION_STRING } from '../expr/runtime.ts'
import type { Engine } from '../executor/engine.ts'
import { runSelect } from '../executor/pull.ts'
import { systemTableRows } from '../executor/system-table-rows.ts'
import { runRelationalQuery } from '../executor/relational-query.ts'
import { QueryGuard, parseMemorySetting } from '../executor/query-budget.ts'
import { QUERY_MEMORY } from './limit-settings.ts'
import { parseCached } from './parse-cache.ts'
import { PROGRESS_NOTICES, waitForCatchUp } from './progress-notices.ts'
import { MAX_PAYLOAD_BYTES, type ChannelMessage, type Listener } from '../executor/notifications.ts'
import { type Backend, type BoundParam, type Notice, type Notification, type Outcome, type PreparedStatement, type ResultColumn, type StartupInfo, type TransactionStatus, column } from './backend.ts'
import { checkResultFormat, decodeParam } from './wire/values.ts'
import { explainAnalyze, explainStatement } from './explain.ts'
import { runDdl, type DdlHost } from './ddl.ts'
import { arrayCursor, slicedCursor } from './row-cursor.ts'
import { copyFromStdin } from './copy-from.ts'
import { CopyToWriter, copyToChunks, copyToFormat } from './copy-to.ts'
import type { TimeZone } from './wire/timezone.ts'
import { Cursors, type CursorSource } from './cursors.ts'
import { type CancelSignal, type SubscribePlan, liveCursor, planSubscribe, startSubscription } from './subscribe.ts'
import type { LiveFeed } from '../executor/change-feed.ts'
import { checkRolePermits, readOnlyViolation } from './users.ts'
import { SessionRegistry, type SessionActivity } from './sessions.ts'
import { TRANSACTION_SNAPSHOT, TransactionSnapshot } from './transaction-snapshot.ts'
import { Settings } from './settings.ts'
import { showColumns, showRows } from './show.ts'
import { TransactionBlock } from './transaction-block.ts'

interface SluicePrepared extends PreparedStatement {
  readonly statement: ast.Statement | null
  readonly text: string
  /** Parameter types as the client declared them in Parse (`unknown` where it left them open). */
  readonly declared: readonly SqlType[]
}

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


/** Pull plans by query AST, with the catalog version and parameter types they were made for. */
const cachedPlans = new WeakMap<ast.Query, { readonly version: number; readonly plans: Map<string, PullPlan> }>()
const typeKey = (t: SqlType): string => (t.element ? `${typeKey(t.element)}[]` : `${t.name}${t.pgOid ?? ''}`)

export class Session implements Backend {
  private readonly settings: Settings
  private readonly block: TransactionBlock
  /** What DDL (server/ddl.ts) needs of this session. */
  private readonly ddlHost: DdlHost
  private asyncListener: ((m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void) | null = null
  private terminateHandler: ((error: SluiceError) => void) | null = null
  /** What pg_stat_activity shows of this session. */
  private activity: SessionActivity = { state: 'idle', query: '', queryStart: null }
  private readonly snapshot: TransactionSnapshot // what a REPEATABLE READ transaction reads of streams

  constructor(
    private readonly engine: Engine,
    private readonly startup: StartupInfo,
    private readonly sessions: SessionRegistry = new SessionRegistry(),
  ) {
    const notice = (message: string, sqlstate: SqlStateCode): void => this.notice(message, sqlstate)
    this.settings = new Settings(startup, sessions.defaults, { inTransactionBlock: () => this.block.status !== 'I', notice })
    this.snapshot = new TransactionSnapshot(engine, startup.processId, () => ({ inBlock: this.block.status !== 'I', isolation: this.settings.get('transaction_isolation') ?? '' }))
    const publish = (m: ChannelMessage): void => this.engine.notifications.publish(m)
    this.block = new TransactionBlock({ settings: this.settings, snapshot: this.snapshot, cursors: this.cursors, publish, notice })
    this.ddlHost = { engine, notice, progressNotices: () => this.settings.get(PROGRESS_NOTICES) === 'on', waitForCatchUp: (view) => this.waitForCatchUp(view) }
    sessions.add({
      pid: startup.processId,
      user: startup.user,
      database: startup.database,
      applicationName: startup.applicationName,
      clientAddr: startup.remoteAddress,
      backendStart: Date.now() * 1000,
      activity: () => ({ ...this.activity, state: this.activity.state === 'active' ? 'active' : this.block.status === 'T' ? 'idle in transaction' : this.block.status === 'E' ? 'idle in transaction (aborted)' : 'idle' }),
      cancel: () => this.cancel(),
      terminate: () => this.terminate(),
    })
  }

  timeZone(): TimeZone {
    return this.settings.timeZone()
  }

  /** The limits a pull query starting now runs under (executor/query-budget.ts). */
  private queryGuard(): QueryGuard {
    return new QueryGuard({
      memoryBytes: parseMemorySetting(this.settings.get(QUERY_MEMORY) ?? '') ?? this.sessions.defaults.queryMemory,
      timeoutMs: this.settings.statementTimeoutMs(),
      signal: this.cancelController.signal,
      engineBusy: () => this.engine.busy(),
    })
  }

  private evalContext(): EvalContext {
    return {
      now: Date.now() * 1000,
      user: this.startup.user,
      database: this.startup.database,
      pid: this.startup.processId,
      notify: (channel: string, payload: string) => this.notify(channel, payload),
      signalBackend: (pid: number, action: 'cancel' | 'terminate') => this.sessions.signal(this.startup, pid, action),
      activity: () => this.sessions.activityRows(),
      revealSecrets: this.startup.role !== 'readonly',
      settings: this.settings.view,
      exportSnapshot: () => this.snapshot.export(),
      streamEnds: (stream: string) => this.snapshot.ends(stream),
    } as EvalContext
  }

  prepare(sql: string, paramTypeOids: readonly number[]): PreparedStatement[] {
    const given = paramTypeOids.map((oid) => (oid === 0 ? Types.unknown : (typeFromOid(oid) ?? Types.unknown)))
    const parsed = parseCached(sql)
    return parsed.map((p): SluicePrepared => {
      // Several statements come only in a simple query, which is described as each one runs: a later
      // statement may use what an earlier one creates (CREATE STREAM s ...; INSERT INTO s ...).
      if (parsed.length > 1) return { sql, statement: p.statement, text: p.text, paramTypes: [], columns: null, declared: [] }
      const described = this.describe(p.statement, given)
      return { sql, statement: p.statement, text: p.text, paramTypes: described.params, columns: described.columns, declared: given }
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
        return { params: [], columns: showColumns(s.name) }
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
    this.block.checkAccepts(s)
    const values = params.map((p, i) => decodeParam(p, prepared.paramTypes[i] ?? Types.text, prepared.declared[i]))
    checkRolePermits(this.startup.role, this.startup.user, s)
    this.activity = { state: 'active', query: prepared.text, queryStart: Date.now() * 1000 }
    if (s.kind === 'query' || s.kind === 'copy_to') this.snapshot.statement()
    try {
      return await this.run(s, prepared.text, values, prepared.declared)
    } finally {
      this.activity = { ...this.activity, state: 'idle' }
    }
  }

  private async run(s: ast.Statement, text: string, params: readonly Value[], declared: readonly SqlType[] = []): Promise<Outcome> {
    switch (s.kind) {
      case 'create_stream':
      case 'create_view':
      case 'create_sink':
      case 'create_trigger':
      case 'alter_stream':
      case 'alter_trigger':
      case 'alter_view':
      case 'drop':
        return runDdl(s, text, this.ddlHost)
      case 'insert':
        return this.insert(s, params)
      case 'query':
        return this.engine.metrics.timePull(() => this.select(s.query, params, declared))
      case 'show':
        return rowsOutcome(showColumns(s.name), await showRows(this.engine, this.settings, s.name, this.startup.role !== 'readonly'), 'SHOW')
      case 'set':
        if (s.name.toLowerCase() === TRANSACTION_SNAPSHOT) return (this.snapshot.import(s.value ?? ''), { kind: 'command', tag: 'SET' })
        return this.settings.set(s)
      case 'explain':
        if (s.analyze === true) return rowsOutcome([column('QUERY PLAN', Types.text)], (await this.explainAnalyze(s.statement, params)).map((l) => [l]), 'EXPLAIN')
        return rowsOutcome([column('QUERY PLAN', Types.text)], explainStatement(this.engine, s.statement).map((l) => [l]), 'EXPLAIN')
      case 'transaction':
        return this.block.run(s)
      case 'utility':
        // CHECKPOINT, as in PostgreSQL, returns once everything processed so far is durable.
        if (s.tag === 'CHECKPOINT') await this.engine.checkpoint()
        if (s.tag === 'LOCK TABLE' && this.block.status === 'I') throw new SluiceError('execution', SqlState.noActiveSqlTransaction, 'LOCK TABLE can only be used in transaction blocks')
        return { kind: 'command', tag: s.tag }
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
        return this.copyTo(s, params, declared)
      case 'copy_from':
        return copyFromStdin(this.engine, s)
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
  private readonly subscriptions = new Set<LiveFeed>()
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

  private track(sub: LiveFeed): LiveFeed {
    for (const s of this.subscriptions) if (s.ended) this.subscriptions.delete(s)
    this.subscriptions.add(sub)
    return sub
  }

  /** SUBSCRIBE as a query: rows that never end; each batch waits for changes. */
  private async subscribe(plan: SubscribePlan): Promise<Outcome> {
    const sub = this.track(await startSubscription(plan, this.engine))
    // statement_timeout ends a SUBSCRIBE as any statement (57014), even while it waits for changes.
    const timeoutMs = this.settings.statementTimeoutMs()
    if (timeoutMs <= 0) return { kind: 'rows', columns: plan.columns, cursor: liveCursor(sub, plan, this.currentCancel()), tag: (n) => `SUBSCRIBE ${n}` }
    const guard = this.queryGuard()
    const timeout = AbortSignal.timeout(timeoutMs)
    const cancel = this.currentCancel()
    const timed: CancelSignal = {
      get generation() {
        return cancel.generation
      },
      get signal() {
        return AbortSignal.any([cancel.signal, timeout])
      },
    }
    return { kind: 'rows', columns: plan.columns, cursor: liveCursor(sub, plan, timed, guard), tag: (n) => `SUBSCRIBE ${n}` }
  }

  /**
   * COPY {relation | (query) | (SUBSCRIBE ...)} TO STDOUT in text, CSV or binary (server/copy-to.ts): rows go
   * out as CopyData, one row per message, while they come.
   */
  private async copyTo(s: ast.CopyTo, params: readonly Value[], declared: readonly SqlType[]): Promise<Outcome> {
    // The options are checked before anything starts, against the columns the source will have.
    const columns = s.source.kind === 'subscribe' ? planSubscribe(s.source, this.engine).columns : planColumns(this.planQuery(s.source.query, paramTypesOf(params, declared)))
    const format = copyToFormat(s, columns)
    // The query and the sending of its rows are one statement: statement_timeout and a cancel end either
    // with 57014, and the sending gives the event loop back between slices as the query does.
    const guard = s.source.kind === 'subscribe' ? undefined : this.queryGuard()
    const source = s.source.kind === 'subscribe' ? await this.subscribe(planSubscribe(s.source, this.engine)) : await this.select(s.source.query, params, declared, guard)
    if (source.kind !== 'rows') throw new SluiceError('internal', SqlState.internalError, 'COPY source produced no rows')
    const writer = new CopyToWriter(format, source.columns, this.settings.timeZone())
    const { chunks, rowCount } = copyToChunks(source.cursor, writer, guard)
    const live = source.cursor.live === true
    return { kind: 'copy_out', columnCount: source.columns.length, format: format.kind === 'binary' ? 1 : 0, chunks, rowCount, tag: (n) => `COPY ${n}`, cancel: () => source.cursor.close(), live, stopped: source.cursor.stopped }
  }

  private async declareCursor(s: ast.DeclareCursor, params: readonly Value[]): Promise<Outcome> {
    if (this.block.status === 'I' && !s.hold) {
      throw new SluiceError('execution', SqlState.noActiveSqlTransaction, 'DECLARE CURSOR can only be used in transaction blocks')
    }
    if (this.cursors.find(s.name) !== undefined) throw new SluiceError('plan', SqlState.duplicateCursor, `cursor "${s.name}" already exists`)
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
    this.cursors.declare({ name: s.name, columns, binary: s.binary, hold: s.hold, inTransaction: this.block.status !== 'I', source })
    this.block.cursorDeclared(s.name)
    return { kind: 'command', tag: 'DECLARE CURSOR' }
  }

  private async fetchCursor(s: ast.FetchCursor): Promise<Outcome> {
    const cursor = this.cursors.get(s.name)
    // A FETCH from a SUBSCRIBE cursor may wait for changes: statement_timeout ends the wait with 57014.
    const timeoutMs = cursor.source.kind === 'live' ? this.settings.statementTimeoutMs() : 0
    let cancel = this.currentCancel()
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : null
    if (timeout !== null) {
      const plain = cancel
      cancel = {
        get generation() {
          return plain.generation
        },
        get signal() {
          return AbortSignal.any([plain.signal, timeout])
        },
      }
    }
    const rows = await this.cursors.fetch(s.name, s.count, s.timeoutMs, cancel)
    if (timeout?.aborted === true && rows.length === 0) throw new SluiceError('execution', SqlState.queryCanceled, 'canceling statement due to statement timeout')
    if (s.move) return { kind: 'command', tag: `MOVE ${rows.length}` }
    return {
      kind: 'rows',
      columns: cursor.columns,
      cursor: slicedCursor(rows, this.sendGuard()),
      tag: (n) => `FETCH ${n}`,
      ...(cursor.binary ? { formats: cursor.columns.map(() => 1 as const) } : {}),
    }
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

  private async select(q: ast.Query, params: readonly Value[], declared: readonly SqlType[] = [], guard = this.queryGuard()): Promise<Outcome> {
    // Planned with the parameter types the client declared, as at Describe: `$1 + 1` with $1 int8 is int8.
    const plan = this.planQuery(q, paramTypesOf(params, declared))
    const rows = await this.pullRows(plan, params, this.evalContext(), guard)
    return { kind: 'rows', columns: planColumns(plan), cursor: slicedCursor(rows, this.sendGuard()), tag: (n) => `SELECT ${n}` }
  }

  /**
   * The limits of sending a result already computed (a SELECT's rows, a FETCH): a cancel ends it with
   * 57014 and it gives the event loop back between slices. statement_timeout does not run on here: as
   * in PostgreSQL's extended protocol, it is per Execute, and a portal read in parts may be resumed later.
   */
  private sendGuard(): QueryGuard {
    return new QueryGuard({ memoryBytes: 0, timeoutMs: 0, signal: this.cancelController.signal })
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

  /**
   * Runs a pull query under this session's limits: its memory budget (sluice.query_memory, 53200),
   * statement_timeout and cancel (57014), in slices that leave the event loop to the engine and other
   * sessions (executor/query-budget.ts).
   */
  private async pullRows(plan: PullPlan, params: readonly Value[], ctx: EvalContext, guard = this.queryGuard()): Promise<Row[]> {
    const src = plan.source
    switch (src.kind) {
      case 'none':
        return runSelect(plan.select, [[]], params, ctx, guard)
      case 'view': {
        await this.engine.waitCaughtUp(src.name)
        guard.checkInterrupts()
        if (src.key !== undefined) {
          const row = await this.engine.viewPoint(src.name, src.key.map((e) => compileExpr(e)([], params, ctx)))
          if (row !== null) return runSelect(plan.select, row, params, ctx, guard)
        }
        return runSelect(plan.select, this.engine.viewRows(src.name), params, ctx, guard)
      }
      case 'stream':
        return runSelect(plan.select, this.engine.streamRows(src.name, this.snapshot.ends(src.name)), params, ctx, guard)
      case 'system':
        return runSelect(plan.select, await systemTableRows(this.engine, src.name, ctx.revealSecrets === true), params, ctx, guard)
      case 'relational':
        return runRelationalQuery(this.engine, src, params, ctx, guard)
    }
  }

  /** EXPLAIN ANALYZE of a query: runs it under the session's limits and prints its plan with rows and times. */
  private async explainAnalyze(s: ast.Statement, params: readonly Value[]): Promise<string[]> {
    if (s.kind !== 'query') throw unsupported(`EXPLAIN ANALYZE of ${s.kind.replace('_', ' ')} is not supported`, s.span, 'EXPLAIN ANALYZE runs pull queries (SELECT); use EXPLAIN without ANALYZE for other statements.')
    const plan = planPull(s.query, this.engine.catalog, params.map(() => Types.unknown))
    return explainAnalyze(plan, (guard, stats) =>
      plan.source.kind === 'relational' ? runRelationalQuery(this.engine, plan.source, params, this.evalContext(), guard, stats) : this.pullRows(plan, params, this.evalContext(), guard),
      () => this.queryGuard())
  }


  /** Channels this session listens to, with the listener the hub calls. */
  private readonly listening = new Map<string, Listener>()

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
    if (this.block.status === 'T') this.block.queuedNotifications.push(message)
    else this.engine.notifications.publish(message)
  }

  private waitForCatchUp(view: string): Promise<void> {
    const timeoutMs = this.settings.statementTimeoutMs()
    return waitForCatchUp(this.engine, view, { notice: (notice) => this.asyncListener?.({ kind: 'notice', notice }), signal: this.cancelController.signal, timeoutMs })
  }

  private notice(message: string, sqlstate: SqlStateCode): void {
    this.asyncListener?.({ kind: 'notice', notice: { severity: 'NOTICE', sqlstate, message } })
  }

  transactionStatus(): TransactionStatus {
    return this.block.status
  }

  statementFailed(_error: SluiceError): void {
    this.block.statementFailed()
  }

  takeParameterChanges(): ReadonlyMap<string, string> {
    return this.settings.takeParameterChanges()
  }

  onAsync(listener: (m: { kind: 'notice'; notice: Notice } | { kind: 'notification'; notification: Notification }) => void): void {
    this.asyncListener = listener
  }

  onTerminate(handler: (error: SluiceError) => void): void {
    this.terminateHandler = handler
  }

  /** pg_terminate_backend: the statement running now is cancelled and the connection ends with FATAL 57P01. */
  private terminate(): void {
    this.cancel()
    this.terminateHandler?.(new SluiceError('execution', SqlState.adminShutdown, 'terminating connection due to administrator command'))
  }

  cancel(): void {
    // A pull query sees the signal at its next check (executor/query-budget.ts); a live read (SUBSCRIBE,
    // FETCH from one) is woken: both end with 57014.
    this.cancelGeneration++
    const controller = this.cancelController
    this.cancelController = new AbortController()
    controller.abort()
  }

  close(): void {
    this.snapshot.end()
    this.sessions.remove(this.startup.processId)
    this.terminateHandler = null
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

/** The types to plan a statement's parameters with: as declared in Parse, unknown where not. */
const paramTypesOf = (params: readonly Value[], declared: readonly SqlType[]): SqlType[] => params.map((_, i) => declared[i] ?? Types.unknown)


/** Unknown parameter types that nothing constrained are sent as text, as Postgres does. */
const known = (t: SqlType): SqlType => (t.name === 'unknown' ? Types.text : t)
