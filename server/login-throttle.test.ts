/** Failed-login throttling, driven by a hand-moved clock. */
import { describe, expect, it } from 'vitest'
import { LoginThrottle } from './login-throttle.ts'

function throttleAt(start = 1_000_000) {
  const clock = { now: start }
  const t = new LoginThrottle({ failures: 3, windowMs: 10_000, lockoutMs: 1_000, maxLockoutMs: 4_000 }, () => clock.now)
  return { t, clock }
}

describe('LoginThrottle', () => {
  it('locks an address out after N failures, for a lockout that doubles with each later failure up to the maximum', () => {
    const { t, clock } = throttleAt()
    t.failed('10.0.0.1')
    t.failed('10.0.0.1')
    expect(t.check('10.0.0.1')).toBeNull()
    t.failed('10.0.0.1')
    const refused = t.check('10.0.0.1')
    expect(refused?.sqlstate).toBe('28000')
    expect(refused?.message).toBe('too many failed login attempts from this address')
    expect(refused?.detail).toBe('3 failed logins; the next attempt is accepted in 1 s.')
    clock.now += 999
    expect(t.check('10.0.0.1')).not.toBeNull()
    clock.now += 1
    expect(t.check('10.0.0.1')).toBeNull()
    const lockouts: number[] = []
    for (let i = 0; i < 4; i++) {
      t.failed('10.0.0.1')
      const start = clock.now
      while (t.check('10.0.0.1') !== null) clock.now += 100
      lockouts.push(clock.now - start)
    }
    expect(lockouts).toEqual([2_000, 4_000, 4_000, 4_000])
  })

  it('leaves other addresses alone', () => {
    const { t } = throttleAt()
    for (let i = 0; i < 3; i++) t.failed('10.0.0.1')
    expect(t.check('10.0.0.1')).not.toBeNull()
    expect(t.check('10.0.0.2')).toBeNull()
    t.failed('10.0.0.2')
    expect(t.check('10.0.0.2')).toBeNull()
    expect(t.tracked).toBe(2)
  })

  it('forgets failures a window apart, counting from the end of a lockout', () => {
    const { t, clock } = throttleAt()
    t.failed('a')
    t.failed('a')
    clock.now += 10_001
    t.failed('a')
    expect(t.check('a')).toBeNull()
    t.failed('a')
    t.failed('a')
    expect(t.check('a')).not.toBeNull()
    // Locked for 1 s; the count survives until a window after that.
    clock.now += 1_000 + 9_000
    t.failed('a')
    expect(t.check('a')).not.toBeNull()
    clock.now += 2_000 + 10_001
    expect(t.check('a')).toBeNull()
    expect(t.tracked).toBe(0)
  })

  it('is off with failures = 0, and refuses nonsense settings', () => {
    const t = new LoginThrottle({ failures: 0, windowMs: 1, lockoutMs: 1, maxLockoutMs: 1 })
    for (let i = 0; i < 100; i++) t.failed('a')
    expect(t.check('a')).toBeNull()
    expect(t.tracked).toBe(0)
    expect(() => new LoginThrottle({ failures: 3, windowMs: 1, lockoutMs: 10, maxLockoutMs: 5 })).toThrow(/lockout/)
  })
})
