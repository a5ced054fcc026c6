/**
 * A session's transaction block: BEGIN, COMMIT, ROLLBACK and savepoints, the status ReadyForQuery reports
 * ('I' idle, 'T' in a block, 'E' failed block), and what ends with the block: settings made in it
 * (server/settings.ts), its snapshot (server/transaction-snapshot.ts), its cursors, and its NOTIFYs, which
 * go out only at COMMIT.
 */
import { SluiceError, SqlState, type SqlStateCode } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import type { ChannelMessage } from '../executor/notifications.ts'
import type { Outcome, TransactionStatus } from './backend.ts'
import type { Cursors } from './cursors.ts'
import type { Settings } from './settings.ts'
import type { TransactionSnapshot } from './transaction-snapshot.ts'

/** What a transaction's end reaches besides its own state. */
export interface TransactionParticipants {
  readonly settings: Settings
  readonly snapshot: TransactionSnapshot
  readonly cursors: Cursors
  /** Sends a NOTIFY to its listeners (at COMMIT, for those queued in the block). */
  publish(message: ChannelMessage): void
  notice(message: string, sqlstate: SqlStateCode): void
}

export class TransactionBlock {
  private current: TransactionStatus = 'I'
  /** NOTIFYs inside a transaction block, sent at COMMIT. */
  readonly queuedNotifications: ChannelMessage[] = []

  constructor(private readonly participants: TransactionParticipants) {}

  get status(): TransactionStatus {
    return this.current
  }

  /** In a failed transaction PostgreSQL takes only COMMIT, ROLLBACK and ROLLBACK TO SAVEPOINT. */
  checkAccepts(s: ast.Statement): void {
    if (this.status === 'E' && !(s.kind === 'transaction' && (s.op === 'commit' || s.op === 'rollback' || s.op === 'rollback_to'))) {
      throw new SluiceError('execution', SqlState.inFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block')
    }
  }

  /** A statement failed: an open block is failed until it ends. */
  statementFailed(): void {
    if (this.status === 'T') this.current = 'E'
  }

  /** A cursor declared now is closed by a ROLLBACK TO a savepoint made before it. */
  cursorDeclared(name: string): void {
    this.savepoints.at(-1)?.cursors.push(name)
  }

  /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE and ROLLBACK TO. */
  run(s: ast.Transaction): Outcome {
    if (s.op === 'begin' || s.op === 'commit' || s.op === 'rollback') this.savepoints.length = 0
    switch (s.op) {
      case 'savepoint':
      case 'release':
      case 'rollback_to':
        return this.savepoint(s.op, s.savepoint ?? '')
      case 'begin':
        if (this.status !== 'I') this.participants.notice('there is already a transaction in progress', SqlState.activeSqlTransaction)
        this.current = 'T'
        for (const m of s.modes ?? []) if (m.startsWith('isolation level ')) this.participants.settings.assign('transaction_isolation', m.slice('isolation level '.length), true)
        return { kind: 'command', tag: 'BEGIN' }
      case 'commit': {
        const failed = this.status === 'E'
        if (this.status === 'I') this.participants.notice('there is no transaction in progress', SqlState.noActiveSqlTransaction)
        this.current = 'I'
        this.end(!failed)
        // As in PostgreSQL, a transaction's notifications go out when it commits, and not at all otherwise.
        const queued = this.queuedNotifications.splice(0)
        if (!failed) for (const m of queued) this.participants.publish(m)
        this.participants.cursors.endTransaction(!failed)
        return { kind: 'command', tag: failed ? 'ROLLBACK' : 'COMMIT' }
      }
      case 'rollback':
        if (this.status === 'I') this.participants.notice('there is no transaction in progress', SqlState.noActiveSqlTransaction)
        this.current = 'I'
        this.end(false)
        this.queuedNotifications.length = 0
        this.participants.cursors.endTransaction(false)
        return { kind: 'command', tag: 'ROLLBACK' }
    }
  }

  /**
   * Savepoints of the open transaction block, oldest first, each with what ROLLBACK TO undoes: the
   * NOTIFYs queued and the cursors declared since. (Sluice statements take effect at once; a read-only
   * transaction, as SQLAlchemy's and pgjdbc's autosave use them, is exactly honoured.)
   */
  private readonly savepoints: { readonly name: string; readonly notifications: number; cursors: string[] }[] = []

  private savepoint(op: 'savepoint' | 'release' | 'rollback_to', name: string): Outcome {
    const verb = op === 'savepoint' ? 'SAVEPOINT' : op === 'release' ? 'RELEASE SAVEPOINT' : 'ROLLBACK TO SAVEPOINT'
    if (this.status === 'I') throw new SluiceError('execution', SqlState.noActiveSqlTransaction, `${verb} can only be used in transaction blocks`)
    if (op === 'savepoint') {
      this.savepoints.push({ name, notifications: this.queuedNotifications.length, cursors: [] })
      return { kind: 'command', tag: 'SAVEPOINT' }
    }
    // The newest savepoint of that name, as PostgreSQL looks it up.
    let i = this.savepoints.length - 1
    while (i >= 0 && this.savepoints[i]!.name !== name) i--
    if (i < 0) throw new SluiceError('execution', SqlState.invalidSavepointSpecification, `savepoint "${name}" does not exist`)
    const later = this.savepoints.splice(op === 'release' ? i : i + 1)
    if (op === 'release') {
      // What the released savepoints declared now belongs to the one before them.
      this.savepoints.at(-1)?.cursors.push(...later.flatMap((sp) => sp.cursors))
      return { kind: 'command', tag: 'RELEASE' }
    }
    const target = this.savepoints[i]!
    for (const cursor of [...target.cursors, ...later.flatMap((sp) => sp.cursors)]) if (this.participants.cursors.find(cursor) !== undefined) this.participants.cursors.close(cursor)
    target.cursors = []
    this.queuedNotifications.length = target.notifications
    this.current = 'T'
    return { kind: 'command', tag: 'ROLLBACK' }
  }

  /** At COMMIT local settings end; at ROLLBACK every setting the transaction made goes back, as in PostgreSQL. */
  private end(committed: boolean): void {
    this.participants.settings.endTransaction(committed)
    this.participants.snapshot.end()
  }
}
