/** Who may signal which session: a user its own sessions, an admin any; unknown pids answer false. */
import { describe, expect, it } from 'vitest'
import { SessionRegistry, type SessionHandle } from './sessions.ts'

function handle(pid: number, user: string, log: string[]): SessionHandle {
  return {
    pid,
    user,
    database: 'd',
    applicationName: '',
    clientAddr: '127.0.0.1',
    backendStart: 0,
    activity: () => ({ state: 'idle', query: '', queryStart: null }),
    cancel: () => log.push(`cancel ${pid}`),
    terminate: () => log.push(`terminate ${pid}`),
  }
}

describe('session registry', () => {
  it('lets a read-only user signal only its own sessions, an admin any, and answers false for unknown pids', () => {
    const log: string[] = []
    const r = new SessionRegistry()
    r.add(handle(1, 'ann', log))
    r.add(handle(2, 'bob', log))
    expect(r.signal({ user: 'ann', role: 'readonly' }, 1, 'cancel')).toBe(true)
    expect(() => r.signal({ user: 'ann', role: 'readonly' }, 2, 'terminate')).toThrow(expect.objectContaining({ sqlstate: '42501', message: 'permission denied to terminate process' }))
    expect(r.signal({ user: 'root', role: 'admin' }, 2, 'terminate')).toBe(true)
    expect(r.signal({ user: 'root' }, 3, 'cancel')).toBe(false)
    expect(log).toEqual(['cancel 1', 'terminate 2'])
    r.remove(1)
    expect(r.activityRows().map((a) => [a.pid, a.usename, a.state])).toEqual([[2, 'bob', 'idle']])
  })
})
