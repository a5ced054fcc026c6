/**
 * The users a server accepts and what each may do. Users come from a users file (`--users`) and/or from
 * server options; each has a stored secret (plain password, PostgreSQL `md5` hash or SCRAM verifier) and a
 * role: `admin` may run everything, `readonly` may read (SELECT, SHOW, LISTEN, ...) but changes nothing.
 *
 * The role check is an allow-list over statement kinds, decided in one function (`readOnlyPermits`), so a
 * statement kind added later is refused to read-only users until someone decides it is a read.
 */
import { readFileSync } from 'node:fs'
import { SluiceError, SqlState } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import { AUTH_METHODS, type AuthMethod, type Secret, parseSecret } from './auth.ts'

export type Role = 'admin' | 'readonly'

export const ROLES: readonly Role[] = ['admin', 'readonly']

export interface User {
  readonly name: string
  readonly role: Role
  readonly secret: Secret
}

/** A user as written in options: the secret in any form `parseSecret` reads. */
export interface UserSpec {
  readonly name: string
  readonly role: Role
  /** A password, `md5<32 hex>` or `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`. */
  readonly secret: string
}

const configError = (message: string): SluiceError => new SluiceError('auth', SqlState.invalidParameterValue, message)

/**
 * Parses a users file: one `name:role:secret` per line, `#` comments and blank lines ignored. The secret is
 * everything after the second colon (a SCRAM verifier holds colons), taken verbatim.
 */
export function parseUsersFile(text: string, source = 'users file'): UserSpec[] {
  const out: UserSpec[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.trim() === '' || line.trimStart().startsWith('#')) return
    const first = line.indexOf(':')
    const second = first < 0 ? -1 : line.indexOf(':', first + 1)
    if (second < 0) throw configError(`${source} line ${i + 1}: expected name:role:secret`)
    const name = line.slice(0, first).trim()
    const role = line.slice(first + 1, second).trim()
    if (name === '') throw configError(`${source} line ${i + 1}: empty user name`)
    if (!isRole(role)) throw configError(`${source} line ${i + 1}: role must be one of ${ROLES.join(', ')}, not "${role}"`)
    out.push({ name, role, secret: line.slice(second + 1) })
  })
  return out
}

/** Reads and parses a users file; a missing file is an error at server start. */
export function readUsersFile(path: string): UserSpec[] {
  return parseUsersFile(readFileSync(path, 'utf8'), path)
}

const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s)

export const isAuthMethod = (s: string): s is AuthMethod => (AUTH_METHODS as readonly string[]).includes(s)

/** The configured users by name. A later spec of the same name replaces an earlier one. */
export class UserDirectory {
  private readonly byName = new Map<string, User>()

  /**
   * `saltFor`: the salt of the SCRAM verifier made for a plain password (default random). The server derives
   * it from the name as for an unknown user, so that a user's salt neither changes at restart nor differs
   * from what a non-existent user is shown.
   */
  constructor(specs: readonly UserSpec[], saltFor?: (user: string) => Buffer) {
    for (const s of specs) {
      if (s.secret === '') throw configError(`user "${s.name}" has an empty password`)
      this.byName.set(s.name, { name: s.name, role: s.role, secret: parseSecret(s.secret, saltFor?.(s.name)) })
    }
  }


  get(name: string): User | null {
    return this.byName.get(name) ?? null
  }

  get size(): number {
    return this.byName.size
  }
}

/**
 * Whether a read-only user may run `s`. An allow-list by kind: reads (SELECT, SUBSCRIBE, COPY ... TO
 * STDOUT, cursors), session settings, transaction control, LISTEN. Kinds are compared as strings so the
 * list can name read statements by the kind they carry; anything not named, present or future, is refused.
 */
export function readOnlyPermits(s: ast.Statement): boolean {
  const kind: string = s.kind
  switch (kind) {
    case 'query':
    case 'subscribe':
    case 'copy_to':
    case 'declare_cursor':
    case 'fetch':
    case 'close_cursor':
    case 'show':
    case 'set':
    case 'transaction':
    case 'listen':
    case 'unlisten':
      return true
    case 'explain': {
      // EXPLAIN only describes; EXPLAIN ANALYZE would run the statement, so that must be a read as well.
      const e = s as ast.Explain
      return e.analyze !== true || readOnlyPermits(e.statement)
    }
    case 'utility': {
      // Session housekeeping clients send on their own; CHECKPOINT and anything else acts on the server.
      const tag = (s as ast.Utility).tag
      return tag.startsWith('DISCARD') || tag.startsWith('DEALLOCATE')
    }
    default:
      return false
  }
}

export const readOnlyViolation = (user: string): SluiceError =>
  new SluiceError('plan', SqlState.insufficientPrivilege, `permission denied: role "${user}" is read-only`)

/** Throws 42501 when `role` may not run `s`; the one place the session asks. */
export function checkRolePermits(role: Role | undefined, user: string, s: ast.Statement): void {
  if (role === 'readonly' && !readOnlyPermits(s)) throw readOnlyViolation(user)
}
