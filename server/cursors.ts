/**
 * SQL cursors of one session: DECLARE, FETCH, MOVE, CLOSE, with PostgreSQL's rules where clients rely on
 * them: a cursor without WITH HOLD exists only inside a transaction block (25P01 outside one) and closes
 * at COMMIT or ROLLBACK; a WITH HOLD cursor survives COMMIT, but a ROLLBACK of the transaction that
 * declared it closes it too; an unknown name is 34000. Cursors scan forward only (NO SCROLL).
 *
 * A cursor over a query holds its rows, computed at DECLARE (Sluice's pull queries read a view's state at
 * one moment, which is what WITH HOLD must keep anyway). A cursor over SUBSCRIBE holds the subscription:
 * FETCH waits up to its timeout (forever without one) for at least one change and returns those queued,
 * at most `n`; a timeout returns no rows. A cursor not FETCHed holds no more than the subscription's bounded
 * queue; one that fell past the lag limit fails its next FETCH with 53400.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Row } from '../common/types.ts'
import type { LiveFeed } from '../executor/change-feed.ts'
import type { ResultColumn } from './backend.ts'
import { type CancelSignal, type SubscribePlan, takeLive } from './subscribe.ts'

export type CursorSource =
  | { readonly kind: 'rows'; readonly rows: readonly Row[]; position: number }
  | { readonly kind: 'live'; readonly subscription: LiveFeed; readonly plan: SubscribePlan }

export interface Cursor {
  readonly name: string
  readonly columns: readonly ResultColumn[]
  /** DECLARE ... BINARY: FETCH results go out in binary format (simple query protocol). */
  readonly binary: boolean
  readonly hold: boolean
  /** Declared in the transaction block still open. */
  inTransaction: boolean
  readonly source: CursorSource
}

export const noSuchCursor = (name: string): SluiceError => new SluiceError('plan', SqlState.invalidCursorName, `cursor "${name}" does not exist`)

export class Cursors {
  private readonly open = new Map<string, Cursor>()

  /** Registers a new cursor; 42P03 if the name is taken. */
  declare(cursor: Cursor): void {
    if (this.open.has(cursor.name)) {
      closeSource(cursor.source)
      throw new SluiceError('plan', SqlState.duplicateCursor, `cursor "${cursor.name}" already exists`)
    }
    this.open.set(cursor.name, cursor)
  }

  /** The cursor, or undefined (Describe of a FETCH before its DECLARE ran). */
  find(name: string): Cursor | undefined {
    return this.open.get(name)
  }

  get(name: string): Cursor {
    const c = this.open.get(name)
    if (c === undefined) throw noSuchCursor(name)
    return c
  }

  /**
   * The next rows: at most `count` (null = all). A live cursor waits up to `timeoutMs` (null = as long as
   * it takes) for at least one row.
   */
  async fetch(name: string, count: number | null, timeoutMs: number | null, cancel: CancelSignal): Promise<Row[]> {
    const c = this.get(name)
    const s = c.source
    if (count === 0) return []
    if (s.kind === 'rows') {
      const end = count === null ? s.rows.length : Math.min(s.rows.length, s.position + count)
      const out = s.rows.slice(s.position, end)
      s.position = end
      return out
    }
    return takeLive(s.subscription, s.plan, count ?? 0, timeoutMs, cancel, cancel.generation)
  }

  /** CLOSE name (34000 if unknown) or CLOSE ALL (name null). */
  close(name: string | null): void {
    if (name === null) return this.closeWhere(() => true)
    const c = this.get(name)
    this.open.delete(name)
    closeSource(c.source)
  }

  /** End of a transaction block: COMMIT keeps WITH HOLD cursors, ROLLBACK keeps only those declared before it. */
  endTransaction(committed: boolean): void {
    this.closeWhere((c) => !c.hold || (!committed && c.inTransaction))
    for (const c of this.open.values()) c.inTransaction = false
  }

  /** The session is gone. */
  closeAll(): void {
    this.closeWhere(() => true)
  }

  private closeWhere(test: (c: Cursor) => boolean): void {
    for (const [name, c] of [...this.open]) {
      if (!test(c)) continue
      this.open.delete(name)
      closeSource(c.source)
    }
  }
}

function closeSource(s: CursorSource): void {
  if (s.kind === 'live') s.subscription.close()
}
