/**
 * The extended query protocol of one connection: prepared statements (Parse), portals (Bind) with their
 * result formats, Describe, Execute with a row limit (a portal suspends and resumes), Close, and what Sync
 * ends. The connection dispatches the messages and reports errors; rows and outcomes go out through it.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, typeOid } from '../common/types.ts'
import type { Backend, BoundParam, Outcome, PreparedStatement, ResultColumn, RowCursor } from './backend.ts'
import { type FrontendMessage, protocolViolation } from './wire/reader.ts'
import * as W from './wire/writer.ts'
import { checkResultFormat } from './wire/values.ts'
import { expandFormats, fieldsOf, wireType } from './result-formats.ts'

/** A statement created by Parse; `prepared` is null for an empty query string. */
interface Statement {
  readonly name: string
  readonly sql: string
  readonly prepared: PreparedStatement | null
  readonly paramTypeOids: readonly number[]
}

type PortalState =
  | { readonly kind: 'ready' }
  | {
      readonly kind: 'rows'
      readonly columns: readonly ResultColumn[]
      readonly formats: readonly number[]
      readonly cursor: RowCursor
      readonly tag: (n: number) => string
      sent: number
    }
  | { readonly kind: 'done'; readonly tag: string | null }

/** A portal created by Bind. */
interface Portal {
  readonly name: string
  readonly statement: Statement
  readonly params: readonly BoundParam[]
  readonly resultFormats: readonly number[]
  state: PortalState
}

/** What the extended protocol needs of its connection. */
export interface ExtendedHost {
  session(): Backend
  send(message: Buffer): void
  /** Sends up to `limit` rows (0 = all); `done` is false when the cursor may have more. */
  streamRows(columns: readonly ResultColumn[], formats: readonly number[], cursor: RowCursor, limit: number): Promise<{ sent: number; done: boolean }>
  /** Sends a complete outcome other than rows. */
  deliver(outcome: Outcome, formats: readonly number[]): Promise<void>
  sendParameterChanges(): void
}

export class ExtendedProtocol {
  private readonly statements = new Map<string, Statement>()
  private readonly portals = new Map<string, Portal>()

  constructor(private readonly host: ExtendedHost) {}

  private get session(): Backend {
    return this.host.session()
  }

  private send(message: Buffer): void {
    this.host.send(message)
  }

  /** The SQL of a portal's statement, to report an error of its Execute against. */
  portalSql(name: string): string | undefined {
    return this.portals.get(name)?.statement.sql
  }

  /** A simple Query destroys the unnamed statement and portal, as in Postgres. */
  dropUnnamed(): void {
    this.statements.delete('')
    this.dropPortal('')
  }

  /** Outside a transaction block the implicit transaction ends at Sync, and its portals with it. */
  endImplicitTransaction(): void {
    for (const name of [...this.portals.keys()]) this.dropPortal(name)
  }

  /** The connection is gone: every portal's cursor is closed. */
  closeAll(): void {
    for (const p of this.portals.values()) closePortal(p)
    this.portals.clear()
  }

  parse(name: string, sql: string, paramTypeOids: readonly number[]): void {
    if (name !== '' && this.statements.has(name)) {
      throw new SluiceError('plan', SqlState.duplicatePreparedStatement, `prepared statement "${name}" already exists`)
    }
    const prepared = this.session.prepare(sql, paramTypeOids)
    if (prepared.length > 1) throw new SluiceError('syntax', SqlState.syntaxError, 'cannot insert multiple commands into a prepared statement')
    this.statements.set(name, { name, sql, prepared: prepared[0] ?? null, paramTypeOids })
    this.send(W.parseComplete())
  }

  private statement(name: string): Statement {
    const s = this.statements.get(name)
    if (s === undefined) throw new SluiceError('plan', SqlState.invalidSqlStatementName, `prepared statement "${name}" does not exist`)
    return s
  }

  private portal(name: string): Portal {
    const p = this.portals.get(name)
    if (p === undefined) throw new SluiceError('plan', SqlState.invalidCursorName, `portal "${name}" does not exist`)
    return p
  }

  bind(message: Extract<FrontendMessage, { type: 'bind' }>): void {
    const statement = this.statement(message.statement)
    const paramTypes = statement.prepared?.paramTypes ?? []
    if (message.params.length !== paramTypes.length) {
      throw protocolViolation(
        `bind message supplies ${message.params.length} parameters, but prepared statement "${statement.name}" requires ${paramTypes.length}`,
      )
    }
    const paramFormats = expandFormats(message.paramFormats, message.params.length, 'parameter')
    const columns = statement.prepared?.columns ?? null
    if (columns !== null) {
      const formats = expandFormats(message.resultFormats, columns.length, 'result')
      columns.forEach((c, i) => checkResultFormat(wireType(c.type), formats[i]!, c.name))
    } else if (message.resultFormats.some((f) => f !== 0 && f !== 1)) {
      throw protocolViolation(`unsupported format code: ${message.resultFormats.find((f) => f !== 0 && f !== 1)}`)
    }
    if (message.portal !== '' && this.portals.has(message.portal)) {
      throw new SluiceError('plan', SqlState.duplicateCursor, `cursor "${message.portal}" already exists`)
    }
    this.dropPortal(message.portal)
    const params: BoundParam[] = message.params.map((data, i) => ({ format: paramFormats[i] === 1 ? 1 : 0, data }))
    this.portals.set(message.portal, { name: message.portal, statement, params, resultFormats: message.resultFormats, state: { kind: 'ready' } })
    this.send(W.bindComplete())
  }

  describe(target: 'S' | 'P', name: string): void {
    if (target === 'S') {
      const s = this.statement(name)
      const types = s.prepared?.paramTypes ?? []
      // A type the client declared is echoed as declared (varchar stays 1043 though Sluice reads it as text):
      // drivers such as pgjdbc refuse a statement whose parameter types changed under them.
      this.send(W.parameterDescription(types.map((t, i) => s.paramTypeOids[i] || (t.name === 'unknown' && !t.element ? typeOid(Types.text) : typeOid(t)))))
      const columns = s.prepared?.columns ?? null
      this.send(columns === null ? W.noData() : W.rowDescription(fieldsOf(columns, columns.map(() => 0))))
      return
    }
    const cursor = this.portals.has(name) ? undefined : this.session.cursorColumns?.(name)
    if (cursor !== undefined) {
      // A cursor DECLAREd in SQL is a portal too (psycopg's named cursors Describe it before FETCHing).
      this.send(W.rowDescription(fieldsOf(cursor.columns, cursor.columns.map(() => (cursor.binary ? 1 : 0)))))
      return
    }
    const p = this.portal(name)
    const columns = p.state.kind === 'rows' ? p.state.columns : (p.statement.prepared?.columns ?? null)
    if (columns === null) this.send(W.noData())
    else this.send(W.rowDescription(fieldsOf(columns, expandFormats(p.resultFormats, columns.length, 'result'))))
  }

  async execute(portalName: string, maxRows: number): Promise<void> {
    const portal = this.portal(portalName)
    try {
      await this.executePortal(portal, maxRows)
    } catch (err) {
      // A failed portal cannot be resumed.
      closePortal(portal)
      portal.state = { kind: 'done', tag: null }
      throw err
    } finally {
      this.host.sendParameterChanges()
    }
  }

  private async executePortal(portal: Portal, maxRows: number): Promise<void> {
    const state = portal.state
    if (state.kind === 'done') {
      if (state.tag === null) this.send(W.emptyQueryResponse())
      else this.send(W.commandComplete(state.tag))
      return
    }
    if (state.kind === 'rows') return this.resumeRows(portal, state, maxRows)
    const prepared = portal.statement.prepared
    if (prepared === null) {
      portal.state = { kind: 'done', tag: null }
      this.send(W.emptyQueryResponse())
      return
    }
    const outcome = await this.session.execute(prepared, portal.params)
    if (outcome.kind !== 'rows') {
      portal.state = { kind: 'done', tag: outcome.kind === 'command' ? outcome.tag : null }
      return this.host.deliver(outcome, [])
    }
    let formats: number[]
    try {
      formats = expandFormats(portal.resultFormats, outcome.columns.length, 'result')
      outcome.columns.forEach((c, i) => checkResultFormat(wireType(c.type), formats[i]!, c.name))
    } catch (err) {
      outcome.cursor.close()
      throw err
    }
    const rows = { kind: 'rows' as const, columns: outcome.columns, formats, cursor: outcome.cursor, tag: outcome.tag, sent: 0 }
    portal.state = rows
    return this.resumeRows(portal, rows, maxRows)
  }

  private async resumeRows(portal: Portal, state: Extract<PortalState, { kind: 'rows' }>, maxRows: number): Promise<void> {
    const { sent, done } = await this.host.streamRows(state.columns, state.formats, state.cursor, maxRows)
    state.sent += sent
    if (!done) {
      this.send(W.portalSuspended())
      return
    }
    state.cursor.close()
    this.send(W.commandComplete(state.tag(state.sent)))
    portal.state = { kind: 'done', tag: state.tag(0) }
  }

  close(target: 'S' | 'P', name: string): void {
    if (target === 'S') {
      const s = this.statements.get(name)
      if (s !== undefined) {
        this.statements.delete(name)
        // Closing a statement closes the portals made from it.
        for (const p of [...this.portals.values()]) if (p.statement === s) this.dropPortal(p.name)
      }
    } else {
      this.dropPortal(name)
    }
    this.send(W.closeComplete())
  }

  private dropPortal(name: string): void {
    const p = this.portals.get(name)
    if (p === undefined) return
    closePortal(p)
    this.portals.delete(name)
  }
}

function closePortal(p: Portal): void {
  if (p.state.kind === 'rows') {
    try {
      p.state.cursor.close()
    } catch {
      // A cursor failing to close leaves nothing for us to do.
    }
  }
}
