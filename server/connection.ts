/**
 * One client connection speaking the PostgreSQL v3 protocol: startup (TLS negotiation, then trust,
 * cleartext, MD5 or SCRAM-SHA-256 authentication against the configured users, run by startup.ts), the simple
 * and extended query protocols, COPY in and out, and async notices, all translated into calls on a
 * Backend. Messages are handled strictly one at a time in arrival order; output is queued and written in
 * batches (at ReadyForQuery, Flush, whenever the connection waits for input outside an extended-protocol
 * exchange (whose replies wait for Sync or Flush, as in Postgres), and every 64 KiB while
 * streaming rows).
 */
import type { Socket } from 'node:net'
import { type SecureContext, TLSSocket } from 'node:tls'
import { SluiceError, SqlState, assertNever, toSluiceError } from '../common/errors.ts'
import { Types, type SqlType, typeOid, typeSize } from '../common/types.ts'
import type { Backend, BackendFactory, BoundParam, Outcome, PreparedStatement, ResultColumn, RowCursor, StartupInfo, TransactionStatus } from './backend.ts'
import {
  AUTH_MESSAGE_LIMIT,
  type Frame,
  type FrontendMessage,
  FrameReader,
  MAX_AUTH_MESSAGE_LENGTH,
  decodeFrontend,
  decodeStartup,
  protocolViolation,
} from './wire/reader.ts'
import * as W from './wire/writer.ts'
import { checkResultFormat, encodeCell } from './wire/values.ts'
import { UTC_ZONE } from './wire/timezone.ts'
import type { CancelRegistry } from './cancel-registry.ts'
import { parseStartupOptions } from './startup-options.ts'
import { Fatal, OPEN_GATE, OPEN_SECURITY, authenticate, fatal, type ConnectionGate, type ConnectionSecurity } from './startup.ts'

export { OPEN_GATE, OPEN_SECURITY, type ConnectionGate, type ConnectionSecurity } from './startup.ts'

/** Rows asked of a cursor at a time while streaming. */
const ROW_BATCH = 256
/** Queued output beyond which the connection writes and waits for the socket to drain. */
const FLUSH_THRESHOLD = 64 * 1024
/** How long a client disconnected for falling behind a live read may still read what was sent, and why, before its socket is destroyed. */
const SLOW_READER_GRACE_MS = 30_000
/** Buffered input beyond which the socket is paused until the connection catches up. */
const INPUT_HIGH_WATER = 8 * 1024 * 1024
const INPUT_LOW_WATER = 1024 * 1024
/** The same before authentication: an unauthenticated client never makes us hold more than about this. */
const STARTUP_INPUT_HIGH_WATER = 2 * MAX_AUTH_MESSAGE_LENGTH
/** A client that has not finished startup and authentication by then is dropped (PostgreSQL's authentication_timeout). */
const STARTUP_TIMEOUT_MS = 60_000
/** The same for a connection the server is full for: all it can still do is send a CancelRequest. */
const REFUSED_STARTUP_TIMEOUT_MS = 10_000

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

/** Expands Bind format codes (none = all text, one = all alike, else one per item) to one per item. */
export function expandFormats(codes: readonly number[], count: number, what: string): number[] {
  for (const c of codes) {
    if (c !== 0 && c !== 1) throw protocolViolation(`unsupported format code: ${c}`)
  }
  if (codes.length === 0) return new Array<number>(count).fill(0)
  if (codes.length === 1) return new Array<number>(count).fill(codes[0]!)
  if (codes.length !== count) throw protocolViolation(`bind message has ${codes.length} ${what} formats but ${count} ${what}s`)
  return [...codes]
}

/** Types we cannot name on the wire (unresolved literals) go out as text, which is how they are formatted. */
const wireType = (t: SqlType): SqlType => (t.name === 'unknown' && !t.element ? Types.text : t)

function fieldsOf(columns: readonly ResultColumn[], formats: readonly number[]): W.FieldDescription[] {
  return columns.map((c, i) => {
    const t = wireType(c.type)
    return {
      name: c.name,
      tableOid: c.tableOid,
      columnNumber: c.columnNumber,
      typeOid: typeOid(t),
      typeSize: typeSize(t),
      typeModifier: c.typeModifier,
      format: formats[i] ?? 0,
    }
  })
}

export class Connection {
  /** Before authentication, messages longer than an authentication message are refused from their length word. */
  private readonly reader = new FrameReader(true, AUTH_MESSAGE_LIMIT)
  private inputHighWater = STARTUP_INPUT_HIGH_WATER
  /** The client's address as the plain socket saw it (login throttling goes by it). */
  private readonly remoteAddress: string
  private out: Buffer[] = []
  private outBytes = 0
  private backend: Backend | null = null
  private processId = 0
  private closed = false
  /** We called socket.end(): nothing more may be written. */
  private ending = false
  private paused = false
  /** Resolves the pending `nextFrame` wait when bytes arrive or the socket closes. */
  private wake: (() => void) | null = null
  private skipUntilSync = false
  private readonly statements = new Map<string, Statement>()
  private readonly portals = new Map<string, Portal>()
  /** Copy-in sink in use, aborted if the socket goes away. */
  private copySink: { abort(reason: string): void } | null = null
  private resolveDone!: () => void
  /** Settles once the socket is closed and the backend torn down. */
  readonly done: Promise<void> = new Promise((resolve) => (this.resolveDone = resolve))

  /** The plain socket, replaced by a TLSSocket over it once SSLRequest is accepted. */
  private socket: Socket
  private readonly onDataHandler = (chunk: Buffer): void => this.onData(chunk)

  constructor(
    socket: Socket,
    private readonly factory: BackendFactory,
    private readonly registry: CancelRegistry,
    private readonly security: ConnectionSecurity = OPEN_SECURITY,
    private readonly gate: ConnectionGate = OPEN_GATE,
  ) {
    this.socket = socket
    this.remoteAddress = socket.remoteAddress ?? ''
    socket.setNoDelay(true)
    this.attach(socket)
    void this.run()
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onDataHandler)
    socket.on('error', () => {
      // 'close' follows; nothing to report to a peer that is gone.
    })
    socket.on('close', () => this.onClose())
  }

  /** Drops the connection immediately (server shutdown). */
  destroy(): void {
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk)
    if (!this.paused && this.reader.bufferedBytes > this.inputHighWater) {
      this.paused = true
      this.socket.pause()
    }
    this.wakeUp()
  }

  private wakeUp(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  private onClose(): void {
    if (this.closed) return
    this.closed = true
    this.wakeUp()
    this.copySink?.abort('connection closed')
    this.copySink = null
    // Whatever the client sent and we had not read yet goes now, not when this object is collected.
    this.reader.clear()
    this.out = []
    this.outBytes = 0
    for (const p of this.portals.values()) closePortal(p)
    this.portals.clear()
    if (this.processId !== 0) this.registry.unregister(this.processId)
    try {
      this.backend?.close()
    } catch {
      // Teardown failures have no one to be reported to.
    }
    this.resolveDone()
  }

  /** The next complete frame, or null once the socket is closed. Flushes output before waiting. */
  /** Notifications that came while a command ran or a transaction block was open. */
  private heldNotifications: Buffer[] = []

  /** ReadyForQuery, preceded by the notifications held for it when the session is outside a transaction. */
  private sendReadyForQuery(status: TransactionStatus): void {
    if (status === 'I' && this.heldNotifications.length > 0) {
      for (const m of this.heldNotifications) this.send(m)
      this.heldNotifications = []
    }
    this.send(W.readyForQuery(status))
  }

  /** Set after an extended-protocol message: its replies are written at the next Sync or Flush. */
  private holdOutput = false

  private async nextFrame(): Promise<Frame | null> {
    for (;;) {
      if (this.closed || this.ending) return null
      const frame = this.reader.next()
      if (frame !== null) {
        if (this.paused && this.reader.bufferedBytes < INPUT_LOW_WATER) this.resume()
        return frame
      }
      // An incomplete frame needs more bytes whatever the buffer size.
      if (this.paused) this.resume()
      if (!this.holdOutput) this.flush()
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  private resume(): void {
    this.paused = false
    this.socket.resume()
  }

  private async nextMessage(): Promise<FrontendMessage | null> {
    const frame = await this.nextFrame()
    if (frame === null) return null
    if (frame.kind !== 'message') throw fatal(protocolViolation('unexpected startup packet'))
    try {
      return decodeFrontend(frame.type, frame.body)
    } catch (err) {
      throw fatal(toSluiceError(err))
    }
  }

  private send(message: Buffer): void {
    if (this.closed || this.ending) return
    this.out.push(message)
    this.outBytes += message.length
  }

  private flush(): void {
    if (this.out.length === 0) return
    if (!this.closed && !this.ending) this.socket.write(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes))
    this.out = []
    this.outBytes = 0
  }

  /** Writes queued output once it is large, and waits while the client is not reading. */
  private async flushIfLarge(): Promise<void> {
    if (this.outBytes < FLUSH_THRESHOLD) return
    return this.flushAndDrain()
  }

  /**
   * Writes queued output now, and waits while the client is not reading: nothing more is pulled from a
   * source until the socket drains (or `stopped` aborts: a live source ended, so there is nothing to wait for).
   */
  private async flushAndDrain(stopped?: AbortSignal): Promise<void> {
    this.flush()
    if (this.closed || this.ending || !this.socket.writableNeedDrain || stopped?.aborted === true) return
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        stopped?.removeEventListener('abort', done)
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
      stopped?.addEventListener('abort', done)
    })
  }

  private async run(): Promise<void> {
    try {
      if (!(await this.startup())) return
      for (;;) {
        const message = await this.nextMessage()
        if (message === null) return
        if (message.type === 'terminate') {
          this.endSocket()
          return
        }
        if (this.skipUntilSync && message.type !== 'sync') continue
        // Extended-protocol replies wait for Sync or Flush, as Postgres does: a driver that writes Parse,
        // Bind, Describe, Execute and Sync separately then gets one write back instead of five.
        this.holdOutput = message.type === 'parse' || message.type === 'bind' || message.type === 'describe' || message.type === 'execute' || message.type === 'close'
        await this.dispatch(message)
      }
    } catch (err) {
      const error = err instanceof Fatal ? err.error : toSluiceError(err)
      this.hangUp(error)
    }
  }

  /** Sends a FATAL error and closes the socket. */
  private hangUp(error: SluiceError): void {
    if (this.closed) return
    this.send(W.errorResponse(W.errorFieldsOf(error, 'FATAL')))
    this.endSocket()
  }

  /** Flushes what is queued and closes our side; the socket is destroyed if the peer lingers. */
  private endSocket(): void {
    if (this.ending) return
    this.flush()
    this.ending = true
    this.socket.end()
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }

  // ---- startup ------------------------------------------------------------------------------------

  /** Handles SSL/GSS negotiation, cancel requests, the StartupMessage and authentication; true once the session is ready. */
  private async startup(): Promise<boolean> {
    // Unauthenticated clients must not hold connections open for ever.
    const timer = setTimeout(() => this.socket.destroy(), this.gate.refusal === null ? STARTUP_TIMEOUT_MS : REFUSED_STARTUP_TIMEOUT_MS)
    timer.unref()
    try {
      return await this.negotiate()
    } finally {
      clearTimeout(timer)
    }
  }

  private async negotiate(): Promise<boolean> {
    for (;;) {
      const frame = await this.nextFrame()
      if (frame === null) return false
      let packet
      try {
        packet = decodeStartup(frame.body)
      } catch (err) {
        throw fatal(toSluiceError(err))
      }
      switch (packet.kind) {
        case 'ssl_request':
        case 'gssenc_request':
          if (this.socket instanceof TLSSocket) throw fatal(protocolViolation('encryption requested on an encrypted connection'))
          // Bytes sent after the request and before our answer would bypass the encryption (CVE-2021-23214).
          if (this.reader.bufferedBytes > 0) throw fatal(protocolViolation(`received unencrypted data after ${packet.kind === 'ssl_request' ? 'SSL' : 'GSSAPI encryption'} request`))
          if (this.closed || this.ending) return false
          if (packet.kind === 'ssl_request' && this.security.tls !== null) {
            this.startTls(this.security.tls)
            continue
          }
          // No encryption offered; the client goes on in plain text with a new startup packet.
          this.socket.write('N')
          continue
        case 'cancel_request':
          this.registry.cancel(packet.processId, packet.secretKey)
          this.endSocket()
          return false
        case 'startup':
          this.reader.expectStartup = false
          if (packet.major !== 3) {
            throw fatal(
              new SluiceError('protocol', SqlState.featureNotSupported, `unsupported frontend protocol ${packet.major}.${packet.minor}: server supports 3.0 to 3.0`),
            )
          }
          // A full server still reads the startup packet (and answers SSLRequest and CancelRequest) first.
          if (this.gate.refusal !== null) throw fatal(this.gate.refusal)
          return this.openSession(packet.minor, packet.params)
        default:
          return assertNever(packet, 'startup packet')
      }
    }
  }

  /**
   * Answers 'S' and continues the startup inside TLS on the same socket: the frame reader is empty (checked
   * by the caller), so from here on it is fed the decrypted bytes, and every write goes through TLS.
   */
  private startTls(context: SecureContext): void {
    const plain = this.socket
    plain.write('S')
    plain.off('data', this.onDataHandler)
    const secure = new TLSSocket(plain, { isServer: true, secureContext: context })
    this.socket = secure
    this.attach(secure)
  }

  /** Authenticates the user named in the startup packet; true once the session is open. */
  private async openSession(minor: number, params: ReadonlyMap<string, string>): Promise<boolean> {
    const user = params.get('user')
    if (user === undefined || user === '') {
      throw fatal(new SluiceError('auth', SqlState.invalidAuthorization, 'no PostgreSQL user name specified in startup packet'))
    }
    const unrecognized = [...params.keys()].filter((k) => k.startsWith('_pq_.'))
    if (minor > 0 || unrecognized.length > 0) this.send(W.negotiateProtocolVersion(0, unrecognized))
    const channel = { send: (m: Buffer) => this.send(m), nextMessage: () => this.nextMessage() }
    const role = await authenticate(channel, user, this.security, this.gate.throttle, this.remoteAddress)
    if (role === null) return false
    const refused = this.gate.admit(role)
    if (refused !== null) throw fatal(refused)
    this.reader.limit = this.gate.messageLimit
    this.inputHighWater = INPUT_HIGH_WATER
    const options = new Map<string, string>()
    for (const [k, v] of params) {
      if (k !== 'user' && k !== 'database' && k !== 'options' && !k.startsWith('_pq_.')) options.set(k, v)
    }
    for (const [k, v] of parseStartupOptions(params.get('options') ?? '')) options.set(k, v)
    const key = this.registry.register(() => this.backend?.cancel())
    this.processId = key.processId
    const info: StartupInfo = {
      user,
      database: params.get('database') || user,
      applicationName: params.get('application_name') ?? '',
      options,
      processId: key.processId,
      remoteAddress: this.socket.remoteAddress ?? '',
      role,
      ssl: this.socket instanceof TLSSocket,
    }
    let backend: Backend
    let initial: ReadonlyMap<string, string>
    try {
      initial = this.factory.initialParameters(info)
      backend = this.factory.open(info)
    } catch (err) {
      throw fatal(toSluiceError(err))
    }
    this.backend = backend
    if (this.closed) {
      // The socket went away while we were opening: tear down what was just created.
      backend.close()
      return false
    }
    this.send(W.authenticationOk())
    for (const [name, value] of initial) this.send(W.parameterStatus(name, value))
    this.send(W.backendKeyData(key.processId, key.secretKey))
    backend.onAsync((m) => {
      if (m.kind === 'notice') {
        const n = m.notice
        this.send(W.noticeResponse({ severity: n.severity, code: n.sqlstate, message: n.message, detail: n.detail, hint: n.hint }))
      } else {
        const message = W.notificationResponse(m.notification.processId, m.notification.channel, m.notification.payload)
        // As in Postgres, a notification reaches a session between commands and outside a transaction
        // block: one that comes while a command runs, or inside BEGIN ... COMMIT, waits for ReadyForQuery.
        if (this.wake === null || this.holdOutput || this.session.transactionStatus() !== 'I') {
          this.heldNotifications.push(message)
          return
        }
        this.send(message)
      }
      // While idle, nobody else will flush. A notice goes out at once, as PostgreSQL sends it, so that one
      // sent while a statement runs (progress of a CREATE that catches up) arrives while it runs.
      if (this.wake !== null || m.kind === 'notice') this.flush()
    })
    // pg_terminate_backend from another session: FATAL, then the socket is closed.
    backend.onTerminate?.((error) => this.hangUp(error))
    this.send(W.readyForQuery('I'))
    this.flush()
    return true
  }

  // ---- dispatch -----------------------------------------------------------------------------------

  private async dispatch(message: FrontendMessage): Promise<void> {
    switch (message.type) {
      case 'query':
        return this.simpleQuery(message.sql)
      case 'parse':
        return this.extended(message.sql, () => this.parse(message.name, message.sql, message.paramTypeOids))
      case 'bind':
        return this.extended(undefined, () => this.bind(message))
      case 'describe':
        return this.extended(undefined, () => this.describe(message.target, message.name))
      case 'execute':
        return this.extended(this.portals.get(message.portal)?.statement.sql, () => this.execute(message.portal, message.maxRows))
      case 'close':
        return this.extended(undefined, () => this.close(message.target, message.name))
      case 'sync':
        return this.sync()
      case 'flush':
        return this.flush()
      case 'copy_data':
      case 'copy_done':
      case 'copy_fail':
        // Leftovers of a COPY that already failed: Postgres drops them silently.
        return
      case 'password':
        throw fatal(protocolViolation('unexpected password message'))
      case 'terminate':
        return
      default:
        return assertNever(message, 'frontend message')
    }
  }

  private get session(): Backend {
    if (this.backend === null) throw fatal(protocolViolation('no session'))
    return this.backend
  }

  /** Reports an error for the current statement (ERROR severity, position into `sql`). */
  private reportError(err: unknown, sql: string | undefined): void {
    if (err instanceof Fatal) throw err
    const error = toSluiceError(err)
    // An internal error is a bug: the operator's log gets the statement and the stack to report it with.
    if (error.sqlstate === SqlState.internalError) logInternalError(error, sql)
    this.send(W.errorResponse(W.errorFieldsOf(error, 'ERROR', sql)))
    try {
      this.session.statementFailed(error)
    } catch {
      // The backend failing to record a failure must not take the connection down.
    }
  }

  private sendParameterChanges(): void {
    for (const [name, value] of this.session.takeParameterChanges()) this.send(W.parameterStatus(name, value))
  }

  // ---- simple query protocol ----------------------------------------------------------------------

  private async simpleQuery(sql: string): Promise<void> {
    // A simple Query destroys the unnamed statement and portal, as in Postgres.
    this.statements.delete('')
    this.dropPortal('')
    try {
      const statements = this.session.prepare(sql, [])
      if (statements.length === 0) this.send(W.emptyQueryResponse())
      for (const statement of statements) {
        const outcome = await this.session.execute(statement, [])
        try {
          await this.deliver(outcome, null)
        } finally {
          this.sendParameterChanges()
        }
        if (this.closed) return
      }
    } catch (err) {
      this.reportError(err, sql)
      this.sendParameterChanges()
    }
    this.sendReadyForQuery(this.session.transactionStatus())
    this.flush()
  }

  /**
   * Sends a complete outcome as the simple protocol does (RowDescription first, all rows). `formats`
   * is null there; the extended protocol goes through `executePortal` instead for rows.
   */
  private async deliver(outcome: Outcome, formats: readonly number[] | null): Promise<void> {
    switch (outcome.kind) {
      case 'command':
        this.send(W.commandComplete(outcome.tag))
        return
      case 'empty':
        this.send(W.emptyQueryResponse())
        return
      case 'rows': {
        const resolved = formats ?? outcome.formats ?? outcome.columns.map(() => 0)
        if (formats === null) this.send(W.rowDescription(fieldsOf(outcome.columns, resolved)))
        try {
          const { sent } = await this.streamRows(outcome.columns, resolved, outcome.cursor, 0)
          this.send(W.commandComplete(outcome.tag(sent)))
        } finally {
          outcome.cursor.close()
        }
        return
      }
      case 'copy_in':
        return this.copyIn(outcome)
      case 'copy_out':
        return this.copyOut(outcome)
      default:
        return assertNever(outcome, 'outcome')
    }
  }

  /** Sends up to `limit` rows (0 = all); `done` is false when the cursor may have more. */
  private async streamRows(
    columns: readonly ResultColumn[],
    formats: readonly number[],
    cursor: RowCursor,
    limit: number,
  ): Promise<{ sent: number; done: boolean }> {
    let sent = 0
    const types = columns.map((c) => c.type)
    const zone = this.session.timeZone?.() ?? UTC_ZONE
    for (;;) {
      const want = limit > 0 ? Math.min(ROW_BATCH, limit - sent) : ROW_BATCH
      if (cursor.live === true) await this.flushAndDrain(cursor.stopped)
      let batch
      try {
        batch = await cursor.next(want)
      } catch (err) {
        if (cursor.live === true) this.hangUpIfBehind(err)
        throw err
      }
      for (const row of batch.rows) {
        const cells = new Array<string | Buffer | null>(types.length)
        for (let i = 0; i < types.length; i++) cells[i] = encodeCell(row[i] ?? null, types[i]!, formats[i] ?? 0, zone)
        this.send(W.dataRow(cells))
      }
      sent += batch.rows.length
      if (batch.done) return { sent, done: true }
      if (limit > 0 && sent >= limit) return { sent, done: false }
      await this.flushIfLarge()
      if (this.closed || this.ending) return { sent, done: true }
    }
  }

  /**
   * A live read ended because the client fell too far behind (53400): it is told so as FATAL and
   * disconnected, with a grace period in which it may still read what was sent before the error.
   */
  private hangUpIfBehind(err: unknown): void {
    if (!(err instanceof SluiceError) || err.sqlstate !== SqlState.configurationLimitExceeded) return
    if (!this.closed && !this.ending) {
      this.send(W.errorResponse(W.errorFieldsOf(err, 'FATAL')))
      this.flush()
      this.ending = true
      this.socket.end()
      setTimeout(() => this.socket.destroy(), SLOW_READER_GRACE_MS).unref()
    }
    throw fatal(err)
  }

  private async copyIn(outcome: Extract<Outcome, { kind: 'copy_in' }>): Promise<void> {
    const sink = outcome.sink
    this.copySink = sink
    this.send(W.copyInResponse(outcome.format, outcome.columnCount))
    this.flush()
    try {
      for (;;) {
        const message = await this.nextMessage()
        if (message === null) return // onClose aborted the sink
        switch (message.type) {
          case 'copy_data':
            await sink.write(message.data)
            continue
          case 'copy_done': {
            this.copySink = null
            this.send(W.commandComplete(await sink.end()))
            return
          }
          case 'copy_fail':
            throw new SluiceError('execution', SqlState.queryCanceled, `COPY from stdin failed: ${message.message}`)
          case 'flush':
          case 'sync':
            // Ignored during copy-in, as the protocol says.
            continue
          case 'terminate':
            this.endSocket()
            throw new SluiceError('protocol', SqlState.protocolViolation, 'terminated during COPY from stdin')
          default:
            throw protocolViolation(`unexpected message type "${message.type}" during COPY from stdin`)
        }
      }
    } catch (err) {
      if (this.copySink !== null) {
        const reason = err instanceof Error ? err.message : String(err)
        this.copySink = null
        sink.abort(reason)
      }
      throw err
    }
  }

  private async copyOut(outcome: Extract<Outcome, { kind: 'copy_out' }>): Promise<void> {
    this.send(W.copyOutResponse(outcome.format, outcome.columnCount))
    try {
      for await (const chunk of outcome.chunks) {
        this.send(W.copyData(chunk))
        // A live source's chunk is what it had at that moment (rows of a SUBSCRIBE arrive over time): out now,
        // waiting for the client to take it (or for the subscription to end). Otherwise rows (one per chunk) go
        // out when enough have queued.
        if (outcome.live === false) await this.flushIfLarge()
        else await this.flushAndDrain(outcome.stopped)
        if (this.closed || this.ending) {
          outcome.cancel()
          return
        }
      }
    } catch (err) {
      outcome.cancel()
      this.hangUpIfBehind(err)
      throw err
    }
    this.send(W.copyDone())
    this.send(W.commandComplete(outcome.tag(outcome.rowCount())))
  }

  // ---- extended query protocol --------------------------------------------------------------------

  /** Runs an extended-protocol step; on error reports it and discards messages until Sync. */
  private async extended(sql: string | undefined, step: () => void | Promise<void>): Promise<void> {
    try {
      await step()
    } catch (err) {
      this.reportError(err, sql)
      this.skipUntilSync = true
    }
  }

  private parse(name: string, sql: string, paramTypeOids: readonly number[]): void {
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

  private bind(message: Extract<FrontendMessage, { type: 'bind' }>): void {
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

  private describe(target: 'S' | 'P', name: string): void {
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

  private async execute(portalName: string, maxRows: number): Promise<void> {
    const portal = this.portal(portalName)
    try {
      await this.executePortal(portal, maxRows)
    } catch (err) {
      // A failed portal cannot be resumed.
      closePortal(portal)
      portal.state = { kind: 'done', tag: null }
      throw err
    } finally {
      this.sendParameterChanges()
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
      return this.deliver(outcome, [])
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
    const { sent, done } = await this.streamRows(state.columns, state.formats, state.cursor, maxRows)
    state.sent += sent
    if (!done) {
      this.send(W.portalSuspended())
      return
    }
    state.cursor.close()
    this.send(W.commandComplete(state.tag(state.sent)))
    portal.state = { kind: 'done', tag: state.tag(0) }
  }

  private close(target: 'S' | 'P', name: string): void {
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

  private sync(): void {
    this.skipUntilSync = false
    const status = this.session.transactionStatus()
    // Outside a transaction block the implicit transaction ends here, and its portals with it.
    if (status === 'I') for (const name of [...this.portals.keys()]) this.dropPortal(name)
    this.sendReadyForQuery(status)
    this.flush()
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

/** One line per internal error (XX000) on stderr, with the statement, then the stack of its cause. */
function logInternalError(error: SluiceError, sql: string | undefined): void {
  const cause = error.cause instanceof Error ? error.cause : error
  console.error(`sluice: XX000 ${error.message} (statement: ${JSON.stringify(sql ?? '')})\n${cause.stack ?? ''}`)
}
