import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { LoginThrottle } from '../login-throttle.ts'
import { UserDirectory } from '../users.ts'
import { COOKIE_NAME, ConsoleLogins, IDLE_MS, MAX_AGE_MS } from './logins.ts'

const users = new UserDirectory([
  { name: 'alice', role: 'admin', secret: 'pw-a' },
  { name: 'bob', role: 'readonly', secret: 'pw-b' },
])

const request = (cookie: string): IncomingMessage => ({ headers: { cookie } }) as IncomingMessage
const cookieValue = (setCookie: string): string => setCookie.split(';')[0]!

function setUp(throttle: LoginThrottle | null = null) {
  let now = 1_000_000
  const logins = new ConsoleLogins({ tls: null, auth: 'scram-sha-256', users }, throttle, () => now)
  return { logins, advance: (ms: number) => (now += ms) }
}

describe('ConsoleLogins', () => {
  it('gives a cookie that names the user and role, and nothing for a wrong password', () => {
    const { logins } = setUp()
    const { user, cookie } = logins.login('bob', 'pw-b', '10.0.0.1')
    expect(user).toEqual({ name: 'bob', role: 'readonly' })
    expect(cookie).toMatch(new RegExp(`^${COOKIE_NAME}=[\\w-]+\\.[\\w-]+; HttpOnly; SameSite=Strict; Path=/; Max-Age=`))
    expect(logins.userOf(request(cookieValue(cookie)))).toEqual({ name: 'bob', role: 'readonly' })
    expect(() => logins.login('bob', 'wrong', '10.0.0.1')).toThrow(expect.objectContaining({ sqlstate: '28P01' }))
    expect(() => logins.login('nobody', 'pw-b', '10.0.0.1')).toThrow(expect.objectContaining({ sqlstate: '28P01' }))
  })

  it('refuses a token whose signature was changed, and one the server never gave', () => {
    const { logins } = setUp()
    const value = cookieValue(logins.login('alice', 'pw-a', 'a').cookie)
    const [token, mac] = value.slice(COOKIE_NAME.length + 1).split('.') as [string, string]
    expect(logins.userOf(request(`${COOKIE_NAME}=${token}.${mac.slice(1)}x`))).toBeNull()
    // A cookie of another server (another key) does not verify here.
    const other = setUp().logins
    const foreign = cookieValue(other.login('alice', 'pw-a', 'a').cookie)
    expect(logins.userOf(request(foreign))).toBeNull()
  })

  it('expires a login unused for an hour, and any login after 12 hours', () => {
    const { logins, advance } = setUp()
    const idle = cookieValue(logins.login('alice', 'pw-a', 'a').cookie)
    advance(IDLE_MS + 1)
    expect(logins.userOf(request(idle))).toBeNull()
    const busy = cookieValue(logins.login('alice', 'pw-a', 'a').cookie)
    for (let t = 0; t < MAX_AGE_MS; t += IDLE_MS / 2) {
      expect(logins.userOf(request(busy))).not.toBeNull()
      advance(IDLE_MS / 2)
    }
    advance(1)
    expect(logins.userOf(request(busy))).toBeNull()
  })

  it('forgets a login at logout', () => {
    const { logins } = setUp()
    const value = cookieValue(logins.login('alice', 'pw-a', 'a').cookie)
    expect(logins.logout(request(value))).toMatch(/Max-Age=0/)
    expect(logins.userOf(request(value))).toBeNull()
  })

  it('counts failed logins in the login throttle', () => {
    const { logins } = setUp(new LoginThrottle({ failures: 2, windowMs: 60_000, lockoutMs: 1000, maxLockoutMs: 1000 }))
    expect(() => logins.login('alice', 'x', 'b')).toThrow(expect.objectContaining({ sqlstate: '28P01' }))
    expect(() => logins.login('alice', 'x', 'b')).toThrow(expect.objectContaining({ sqlstate: '28P01' }))
    expect(() => logins.login('alice', 'pw-a', 'b')).toThrow(expect.objectContaining({ sqlstate: '28000' }))
  })

  it('needs no login without users: everyone is an admin', () => {
    const logins = new ConsoleLogins({ tls: null, auth: 'trust', users: null }, null)
    expect(logins.required).toBe(false)
    expect(logins.userOf(request(''))).toEqual({ name: 'sluice', role: 'admin' })
  })
})
