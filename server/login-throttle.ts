/**
 * Failed-login throttling per client address. After `failures` failed logins from one address (each within
 * `windowMs` of the one before), that address is locked out for `lockoutMs`; every further failure once a
 * lockout has passed doubles it, up to `maxLockoutMs`. While locked out, a login from the address is
 * refused before any password is looked at, whatever the user, so guessing costs the guesser time and
 * tells nothing about users. Other addresses are never affected. A successful login does not clear the
 * count: otherwise whoever has one account could wipe the record between guesses at another.
 *
 * A client that disconnects in the middle of an exchange is no failure: psql does that when it has to ask
 * for a password.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

export interface LoginThrottleOptions {
  /** Failures from one address before it is locked out; 0 turns throttling off. */
  readonly failures: number
  /** Failures further apart than this (or this long after a lockout ended) start the count again. */
  readonly windowMs: number
  /** The first lockout; each later failure doubles it. */
  readonly lockoutMs: number
  readonly maxLockoutMs: number
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = { failures: 5, windowMs: 60_000, lockoutMs: 1_000, maxLockoutMs: 60_000 }

/** Addresses remembered at most; beyond it the least recently failed are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000

interface Record {
  failures: number
  /** Until when logins from the address are refused (the time of the last failure when not locked). */
  lockedUntil: number
}

export class LoginThrottle {
  private readonly byAddress = new Map<string, Record>()

  constructor(
    readonly options: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {
    const o = options
    if (!(Number.isInteger(o.failures) && o.failures >= 0 && o.windowMs >= 0 && o.lockoutMs >= 0 && o.maxLockoutMs >= o.lockoutMs)) {
      throw new SluiceError('auth', SqlState.invalidParameterValue, 'login throttling needs failures >= 0, window >= 0 and 0 <= lockout <= maximum lockout')
    }
  }

  get enabled(): boolean {
    return this.options.failures > 0
  }

  /** The error refusing a login from `address` now, or null when it may try. */
  check(address: string): SluiceError | null {
    const r = this.current(address)
    if (r === null) return null
    const wait = r.lockedUntil - this.now()
    if (r.failures < this.options.failures || wait <= 0) return null
    return new SluiceError('auth', SqlState.invalidAuthorization, 'too many failed login attempts from this address', {
      detail: `${r.failures} failed logins; the next attempt is accepted in ${Math.ceil(wait / 1000)} s.`,
    })
  }

  failed(address: string): void {
    if (!this.enabled) return
    const now = this.now()
    const r = this.current(address) ?? { failures: 0, lockedUntil: now }
    r.failures++
    const over = r.failures - this.options.failures
    r.lockedUntil = over < 0 ? now : now + Math.min(this.options.maxLockoutMs, this.options.lockoutMs * 2 ** Math.min(over, 30))
    // Most recently failed last, so that the oldest is the one forgotten.
    this.byAddress.delete(address)
    this.byAddress.set(address, r)
    if (this.byAddress.size > MAX_TRACKED_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!)
  }

  /** Addresses with a live record (for tests and monitoring). */
  get tracked(): number {
    return this.byAddress.size
  }

  /** The address's record, or null once it has expired (which forgets it). */
  private current(address: string): Record | null {
    const r = this.byAddress.get(address)
    if (r === undefined) return null
    if (this.now() > r.lockedUntil + this.options.windowMs) {
      this.byAddress.delete(address)
      return null
    }
    return r
  }
}
