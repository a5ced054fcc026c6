/**
 * Console logins: the same users, passwords and roles as the Postgres endpoint (server/users.ts). A login
 * gives a cookie holding a random token and its HMAC under a per-server key; the token is only valid while
 * the server holds it (logout and expiry forget it), so a cookie can neither be forged nor outlive its
 * session. Without users (trust), everyone is an admin and no login is asked for, as on the Postgres port.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { SluiceError, SqlState } from '../../common/errors.ts'
import { checkPassword, passwordFailed } from '../auth.ts'
import type { ConnectionSecurity } from '../connection.ts'
import type { LoginThrottle } from '../login-throttle.ts'
import type { Role } from '../users.ts'
import { cookies } from './http.ts'

export const COOKIE_NAME = 'sluice_console'
/** A login lasts this long since it was last used, and never longer than the absolute limit. */
export const IDLE_MS = 60 * 60 * 1000
export const MAX_AGE_MS = 12 * 60 * 60 * 1000
/** Logins held at most; past it the oldest is forgotten (a flood of logins cannot grow the server). */
const MAX_LOGINS = 10_000

export interface ConsoleUser {
  readonly name: string
  readonly role: Role
}

interface Held extends ConsoleUser {
  readonly createdAt: number
  usedAt: number
}

/** The user trust mode runs statements as: an admin, as any name is on the Postgres port then. */
const TRUST_USER: ConsoleUser = { name: 'sluice', role: 'admin' }

export class ConsoleLogins {
  private readonly key = randomBytes(32)
  private readonly held = new Map<string, Held>()

  constructor(
    private readonly security: ConnectionSecurity,
    private readonly throttle: LoginThrottle | null,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether users must log in: users are configured with a password method. */
  get required(): boolean {
    return this.security.users !== null && this.security.auth !== 'trust'
  }

  /** Checks a password; on success returns the cookie to set. Throws 28P01 (wrong) or 28000 (throttled). */
  login(name: string, password: string, address: string): { user: ConsoleUser; cookie: string } {
    if (!this.required) return { user: TRUST_USER, cookie: '' }
    const locked = this.throttle?.check(address) ?? null
    if (locked !== null) throw locked
    const user = this.security.users!.get(name)
    if (user === null || !checkPassword(user.secret, name, password)) {
      this.throttle?.failed(address)
      throw passwordFailed(name)
    }
    const token = randomBytes(32).toString('base64url')
    const now = this.now()
    if (this.held.size >= MAX_LOGINS) this.held.delete(this.held.keys().next().value!)
    this.held.set(token, { name: user.name, role: user.role, createdAt: now, usedAt: now })
    const value = `${token}.${this.sign(token)}`
    return { user: { name: user.name, role: user.role }, cookie: `${COOKIE_NAME}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${MAX_AGE_MS / 1000}` }
  }

  /** The logged-in user of a request, or null (no cookie, forged, expired, logged out). */
  userOf(req: IncomingMessage): ConsoleUser | null {
    if (!this.required) return TRUST_USER
    const token = this.tokenOf(req)
    if (token === null) return null
    const h = this.held.get(token)
    if (h === undefined) return null
    const now = this.now()
    if (now - h.usedAt > IDLE_MS || now - h.createdAt > MAX_AGE_MS) {
      this.held.delete(token)
      return null
    }
    h.usedAt = now
    return { name: h.name, role: h.role }
  }

  /** Forgets the request's login; returns the cookie that clears it in the browser. */
  logout(req: IncomingMessage): string {
    const token = this.tokenOf(req)
    if (token !== null) this.held.delete(token)
    return `${COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`
  }

  private tokenOf(req: IncomingMessage): string | null {
    const value = cookies(req).get(COOKIE_NAME) ?? ''
    const dot = value.indexOf('.')
    if (dot < 0) return null
    const token = value.slice(0, dot)
    const mac = Buffer.from(value.slice(dot + 1))
    const want = Buffer.from(this.sign(token))
    return mac.length === want.length && timingSafeEqual(mac, want) ? token : null
  }

  private sign(token: string): string {
    return createHmac('sha256', this.key).update(token).digest('base64url')
  }
}

export const loginRequired = (): SluiceError => new SluiceError('auth', SqlState.invalidAuthorization, 'log in to use the console')
