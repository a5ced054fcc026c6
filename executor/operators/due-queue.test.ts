import { describe, expect, test } from 'vitest'
import { DueQueue } from './due-queue.ts'

describe('DueQueue', () => {
  test('gives the keys due at a time, in no particular order, once', () => {
    const q = new DueQueue()
    q.set('a', 30)
    q.set('b', 10)
    q.set('c', 20)
    expect(q.takeDue(15)).toEqual(['b'])
    expect(q.takeDue(15)).toEqual([])
    expect(q.takeDue(30).sort()).toEqual(['a', 'c'])
    expect(q.size).toBe(0)
  })

  test('a moved key is due at its new time only; a deleted key never', () => {
    const q = new DueQueue()
    q.set('a', 10)
    q.set('a', 50)
    q.set('b', 5)
    q.delete('b')
    expect(q.takeDue(20)).toEqual([])
    expect(q.takeDue(50)).toEqual(['a'])
  })

  test('at +Infinity every key is due, keys without a time included', () => {
    const q = new DueQueue()
    q.set('a', Number.POSITIVE_INFINITY)
    q.set('b', 7)
    expect(q.takeDue(Number.POSITIVE_INFINITY).sort()).toEqual(['a', 'b'])
  })

  test('agrees with a sort on random times', () => {
    const q = new DueQueue()
    const times = new Map<string, number>()
    let seed = 7
    const r = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let i = 0; i < 2000; i++) {
      const k = `k${Math.floor(r() * 500)}`
      const t = Math.floor(r() * 10_000)
      q.set(k, t)
      times.set(k, t)
    }
    for (const at of [1000, 5000, 9999]) {
      const want = [...times].filter(([, t]) => t <= at).map(([k]) => k).sort()
      for (const k of want) times.delete(k)
      expect(q.takeDue(at).sort()).toEqual(want)
    }
  })
})
