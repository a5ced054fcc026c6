import { describe, expect, test } from 'vitest'
import * as kafkajs from 'kafkajs'
import { KafkaJSConnectionError, KafkaJSError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } from 'kafkajs'
import { FENCE_RECHECK_MS, classifyChangelogError, mayRegister, outageBackoffMs, type GroupConfirmation } from './task-fencing.ts'

/** The protocol errors as kafkajs builds them from a broker's error code (its own table). */
const protocolError = (type: string, code: number, retriable: boolean, message: string) => new KafkaJSProtocolError({ type, code, retriable, message } as never)
const EPOCH = protocolError('INVALID_PRODUCER_EPOCH', 47, false, 'Producer attempted an operation with an old epoch. Either there is a newer producer with the same transactionalId, or the producer\'s transaction has been expired by the broker')
const COORDINATOR = protocolError('COORDINATOR_NOT_AVAILABLE', 15, true, 'The coordinator is not available')
/** Exported by kafkajs at run time, not in its typings. */
const KafkaJSConnectionClosedError = (kafkajs as unknown as { KafkaJSConnectionClosedError: new (m: string, o: object) => Error }).KafkaJSConnectionClosedError
const retriesOf = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 5, retryTime: 3000 })

describe('a failed changelog transaction: a fence or an outage', () => {
  test('another producer registering the id is a fence, however kafkajs wraps it', () => {
    expect(classifyChangelogError(EPOCH)).toBe('fenced')
    expect(classifyChangelogError(protocolError('PRODUCER_FENCED', 90, false, 'There is a newer producer with the same transactionalId which fences the current one.'))).toBe('fenced')
    expect(classifyChangelogError(retriesOf(EPOCH))).toBe('fenced')
    // As the log line showed it, without the protocol fields.
    expect(classifyChangelogError(new Error('Producer attempted an operation with an old epoch'))).toBe('fenced')
    // A fence seen among connection errors is still a fence: retrying would fence the other owner back.
    expect(classifyChangelogError(retriesOf(Object.assign(new KafkaJSConnectionError('Connection error'), { cause: EPOCH })))).toBe('fenced')
  })

  test('a broker away, a request without answer, a coordinator moving are outages', () => {
    expect(classifyChangelogError(new KafkaJSConnectionClosedError('Closed connection', { host: '127.0.0.1', port: 9092 }))).toBe('outage')
    expect(classifyChangelogError(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { code: 'ECONNREFUSED' } as never))).toBe('outage')
    expect(classifyChangelogError(new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out' as never))).toBe('outage')
    expect(classifyChangelogError(retriesOf(COORDINATOR))).toBe('outage')
    expect(classifyChangelogError(retriesOf(protocolError('NOT_COORDINATOR', 16, true, 'This is not the correct coordinator')))).toBe('outage')
    expect(classifyChangelogError(new KafkaJSNonRetriableError(new KafkaJSError('Closed connection')))).toBe('outage')
  })

  test('anything else is neither (the task engine starts over)', () => {
    expect(classifyChangelogError(protocolError('MESSAGE_TOO_LARGE', 10, false, 'The request included a message larger than the max message size the server will accept'))).toBe('other')
    expect(classifyChangelogError(new KafkaJSNonRetriableError('Transaction state exception: Cannot call "send" in state "READY"'))).toBe('other')
    expect(classifyChangelogError('a string')).toBe('other')
  })

  test('retries back off exponentially, capped', () => {
    const delays = Array.from({ length: 12 }, (_, i) => outageBackoffMs(i))
    expect(delays.slice(0, 4)).toEqual([250, 500, 1000, 2000])
    expect(Math.max(...delays)).toBe(8000)
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1]!)).toBe(true)
  })
})

describe('registering a task changelog id only for a confirmed assignment', () => {
  const stable = (owners: [number, string][]): GroupConfirmation => ({ stable: true, owners: new Map(owners) })
  const now = 1_000_000

  test('only when the coordinator reports the group stable and this node the owner', () => {
    expect(mayRegister(stable([[3, 'a']]), 'a', 3, undefined, 2, now)).toEqual({ register: true })
    // The node's own view may be stale (it still thinks it owns the task): the coordinator's word counts.
    expect(mayRegister(stable([[3, 'b']]), 'a', 3, undefined, 2, now)).toEqual({ register: false, why: 'not_owner' })
    expect(mayRegister(stable([]), 'a', 3, undefined, 2, now)).toEqual({ register: false, why: 'not_owner' })
    // A rebalance under way (or the coordinator cannot be asked): nothing is confirmed.
    expect(mayRegister({ stable: false, owners: new Map([[3, 'a']]) }, 'a', 3, undefined, 2, now)).toEqual({ register: false, why: 'unsettled' })
    expect(mayRegister(null, 'a', 3, undefined, 2, now)).toEqual({ register: false, why: 'unsettled' })
  })

  test('the global task goes with task 0', () => {
    expect(mayRegister(stable([[0, 'a']]), 'a', -1, undefined, 2, now).register).toBe(true)
    expect(mayRegister(stable([[0, 'b'], [1, 'a']]), 'a', -1, undefined, 2, now).register).toBe(false)
  })

  test('after a fence, not again until a later join gives the task here, or the group still says so much later', () => {
    const fence = { generation: 5, at: now }
    const group = stable([[3, 'a']])
    // Same join: the group may not have told this node yet that the task moved; registering would fence back.
    expect(mayRegister(group, 'a', 3, fence, 5, now + 1000)).toEqual({ register: false, why: 'fenced' })
    expect(mayRegister(group, 'a', 3, fence, 5, now + FENCE_RECHECK_MS - 1)).toEqual({ register: false, why: 'fenced' })
    // A join completed after the fence and the coordinator confirms: a new assignment.
    expect(mayRegister(group, 'a', 3, fence, 6, now + 1000)).toEqual({ register: true })
    // ... but not if that join gave it to another node.
    expect(mayRegister(stable([[3, 'b']]), 'a', 3, fence, 6, now + 1000).register).toBe(false)
    // No join for long, the group still confirms this node: whoever fenced it was the stale one.
    expect(mayRegister(group, 'a', 3, fence, 5, now + FENCE_RECHECK_MS)).toEqual({ register: true })
    // A fence of another task does not matter (the caller passes the task's own record).
    expect(mayRegister(group, 'a', 3, undefined, 5, now + 1000)).toEqual({ register: true })
  })
})
