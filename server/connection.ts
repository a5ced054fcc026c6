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
import type { Backend, BackendFactory, Outcome, ResultColumn, RowCursor, StartupInfo, TransactionStatus } from './backend.ts'
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
import { encodeCell } from './wire/values.ts'
import { UTC_ZONE } from './wire/timezone.ts'
import type { CancelRegistry } from './cancel-registry.ts'
import { parseStartupOptions } from './startup-options.ts'
import { CopySubprotocol } from './copy-protocol.ts'
import { ExtendedProtocol } from './extended-protocol.ts'
import { fieldsOf } from './result-formats.ts'
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
  private readonly extended = new ExtendedProtocol({
    session: () => this.session,
    send: (m) => this.send(m),
    streamRows: (columns, formats, cursor, limit) => this.streamRows(columns, formats, cursor, limit),
    deliver: (outcome, formats) => this.deliver(outcome, formats),
    sendParameterChanges: () => this.sendParameterChanges(),
  })
  private readonly copy = new CopySubprotocol({
    send: (m) => this.send(m),
    flush: () => this.flush(),
    nextMessage: () => this.nextMessage(),
    endSocket: () => this.endSocket(),
    flushIfLarge: () => this.flushIfLarge(),
    flushAndDrain: (stopped) => this.flushAndDrain(stopped),
    gone: () => this.closed || this.ending,
    hangUpIfBehind: (err) => this.hangUpIfBehind(err),
  })
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
    this.copy.abort('connection closed')
    // Whatever the client sent and we had not read yet goes now, not when this object is collected.
    this.reader.clear()
    this.out = []
    this.outBytes = 0
    this.extended.closeAll()
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
        return this.step(message.sql, () => this.extended.parse(message.name, message.sql, message.paramTypeOids))
      case 'bind':
        return this.step(undefined, () => this.extended.bind(message))
      case 'describe':
        return this.step(undefined, () => this.extended.describe(message.target, message.name))
      case 'execute':
        return this.step(this.extended.portalSql(message.portal), () => this.extended.execute(message.portal, message.maxRows))
      case 'close':
        return this.step(undefined, () => this.extended.close(message.target, message.name))
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
    this.extended.dropUnnamed()
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
   * is null there; the extended protocol goes through `executePortal` (server/extended-protocol.ts) instead for rows.
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
        return this.copy.copyIn(outcome)
      case 'copy_out':
        return this.copy.copyOut(outcome)
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


  // ---- extended query protocol (server/extended-protocol.ts) --------------------------------------

  /** Runs an extended-protocol step; on error reports it and discards messages until Sync. */
  private async step(sql: string | undefined, step: () => void | Promise<void>): Promise<void> {
    try {
      await step()
    } catch (err) {
      this.reportError(err, sql)
      this.skipUntilSync = true
    }
  }

  private sync(): void {
    this.skipUntilSync = false
    const status = this.session.transactionStatus()
    if (status === 'I') this.extended.endImplicitTransaction()
    this.sendReadyForQuery(status)
    this.flush()
  }
}

/** One line per internal error (XX000) on stderr, with the statement, then the stack of its cause. */
function logInternalError(error: SluiceError, sql: string | undefined): void {
  const cause = error.cause instanceof Error ? error.cause : error
  console.error(`sluice: XX000 ${error.message} (statement: ${JSON.stringify(sql ?? '')})\n${cause.stack ?? ''}`)
}
