/**
 * What a failed write to the data directory means to a user: a full disk is SQLSTATE 53100 (disk_full)
 * as PostgreSQL reports it, other I/O failures 58030 (io_error); never an internal error, because it is
 * not a bug and the statement can be retried once the cause is gone.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

/** The errno codes of a file system with no room left (space or quota). */
const FULL = new Set(['ENOSPC', 'EDQUOT'])
const IO = new Set(['EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE'])

/** `err` as a SluiceError if it is a file-system failure; other errors pass through unchanged. */
export function storageError(what: string, err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return err
  if (FULL.has(code)) {
    return new SluiceError('execution', SqlState.diskFull, `could not write ${what}: no space left on device`, {
      hint: 'Free space on the data directory\'s file system; nothing of this statement was kept, so it can be retried as it is.',
      cause: err,
    })
  }
  if (IO.has(code)) return new SluiceError('execution', SqlState.ioError, `could not write ${what}: ${(err as Error).message}`, { cause: err })
  return err
}
