/**
 * Who an HTTP request comes from: with users and a password method configured, HTTP Basic credentials
 * checked like a cleartext password, with failed attempts counted against the client's address as failed
 * Postgres logins are (login-throttle.ts). Without users (or with `trust`) every request is let in.
 */
import type { IncomingMessage } from 'node:http'
import { SluiceError, SqlState } from '../common/errors.ts'
import { checkPassword, passwordFailed } from './auth.ts'
import type { ConnectionSecurity } from './connection.ts'
import type { LoginThrottle } from './login-throttle.ts'
import type { Role } from './users.ts'

export type HttpIdentity =
  /** No authentication configured: anyone may. */
  | { readonly kind: 'open' }
  | { readonly kind: 'user'; readonly name: string; readonly role: Role }
  /** 401 (no or wrong credentials) or 429 (the address is locked out after failed attempts). */
  | { readonly kind: 'denied'; readonly status: 401 | 429; readonly error: SluiceError }

/** Whether requests must carry credentials. */
export const httpAuthRequired = (security: ConnectionSecurity): boolean => security.users !== null && security.auth !== 'trust'

export function httpIdentity(security: ConnectionSecurity, throttle: LoginThrottle | null, req: IncomingMessage): HttpIdentity {
  if (!httpAuthRequired(security)) return { kind: 'open' }
  const address = req.socket.remoteAddress ?? ''
  const locked = throttle?.check(address) ?? null
  if (locked !== null) return { kind: 'denied', status: 429, error: locked }
  const authorization = req.headers.authorization
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '')
  const decoded = m === null ? '' : Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const name = colon < 0 ? '' : decoded.slice(0, colon)
  const user = security.users!.get(name)
  if (user === null || !checkPassword(user.secret, name, decoded.slice(colon + 1))) {
    if (authorization !== undefined) throttle?.failed(address)
    return { kind: 'denied', status: 401, error: name === '' ? new SluiceError('auth', SqlState.invalidPassword, 'HTTP Basic authentication required') : passwordFailed(name) }
  }
  return { kind: 'user', name, role: user.role }
}

/** The headers of a refusal: a 401 asks for Basic credentials. */
export const denialHeaders = (status: 401 | 429): Record<string, string> => (status === 401 ? { 'www-authenticate': 'Basic realm="sluice"' } : {})
