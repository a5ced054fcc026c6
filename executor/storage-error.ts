/**
 * What a failed write to the data directory means to a user: a full disk is SQLSTATE 53100 (disk_full)
 * as PostgreSQL reports it, other I/O failures 58030 (io_error); never an internal error, because it is
 * not a bug and the statement can be retried once the cause is gone.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

/** The errno codes of a file system with no room left (space or quota). */
const FULL = new Set(['ENOSPC', 'EDQUOT'])
const IO = new Set(['EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE'])

/** RocksDB reports a full disk in its status text, not as an errno code. */
const FULL_TEXT = /no space left on device|disk quota exceeded/i

/** The errno code of a failure, or of what caused it (RocksDB's batch error wraps the status). */
function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && code !== '') return code
    const message = (e as { message?: unknown }).message
    if (typeof message === 'string' && FULL_TEXT.test(message)) return 'ENOSPC'
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors)) for (const inner of errors) if (inner !== null && inner !== undefined && errorCode(inner) === 'ENOSPC') return 'ENOSPC'
  }
  return undefined
}

/** `err` as a SluiceError if it is a file-system failure; other errors pass through unchanged. */
export function storageError(what: string, err: unknown): unknown {
  const code = errorCode(err)
  if (code === undefined) return err
  if (FULL.has(code)) {
    return new SluiceError('execution', SqlState.diskFull, `could not write ${what}: no space left on device`, {
      hint: 'Free space on the data directory\'s file system; nothing of this statement was kept, so it can be retried as it is.',
      cause: err,
    })
  }
  if (IO.has(code)) return new SluiceError('execution', SqlState.ioError, `could not write ${what}: ${(err as Error).message}`, { cause: err })
  return err
}
