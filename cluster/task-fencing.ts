/**
 * Who may register a task's changelog transactional id, and what a failed changelog transaction means
 * (docs/cluster.md, "State and exactly-once failover"). Pure decisions; cluster/tasks.ts and changelog.ts
 * act on them.
 *
 * Registering the id (InitProducerId) fences whichever node held it before. Two nodes that both believe
 * they own a task (the old owner has not heard of the rebalance yet) would fence each other in turn if
 * each registered again after being fenced. So:
 * - a node registers only for a task the group has *confirmed*: the coordinator reports the group stable
 *   and this node's member holding the task (not the node's own, possibly stale or revoking, view);
 * - a task fenced here is not registered again until the group assigns it to this node anew (a join that
 *   completed after the fence) or, failing that, the group still confirms this node as its owner a while
 *   later (the node that fenced it was the stale one: without this the task would stay down until the
 *   next rebalance, which may never come).
 * A failed transaction is a fence (another registration took the id: stop, never retry), or a broker
 * outage (connections, timeouts, a coordinator moving or loading: retry the same batch with a new
 * producer), or anything else (the task engine starts over, through the same gate).
 */

/** What the coordinator says about the group now (describeGroups). */
export interface GroupConfirmation {
  /** Every member has its assignment of the current generation (state Stable). */
  readonly stable: boolean
  /** Task -> the node id whose member the group assigned it to. */
  readonly owners: ReadonlyMap<number, string>
  /** Every member's node id, tasks or not (the standby placement's candidates, standby.ts). */
  readonly nodes?: readonly string[]
}

/** Where a task stands with respect to a fence on this node. */
export interface FenceRecord {
  /** The node's group join count when the fence happened. */
  readonly generation: number
  readonly at: number
}

/**
 * After a fence, a task still confirmed to this node in the same generation is registered again only after
 * this long: longer than a session timeout and a rebalance, so that a rebalance under way has had its chance
 * to give the task to whoever fenced it.
 */
export const FENCE_RECHECK_MS = 60_000

export type RegisterDecision =
  | { readonly register: true }
  | { readonly register: false; readonly why: 'unsettled' | 'not_owner' | 'fenced' }

/**
 * May this node register task `task`'s changelog id now? `owner` is the confirmed owner of the task's
 * partition (the global task goes with task 0); `generation` the node's join count now.
 */
export function mayRegister(group: GroupConfirmation | null, me: string, task: number, fence: FenceRecord | undefined, generation: number, now: number): RegisterDecision {
  if (group === null || !group.stable) return { register: false, why: 'unsettled' }
  if (group.owners.get(task < 0 ? 0 : task) !== me) return { register: false, why: 'not_owner' }
  if (fence !== undefined && generation <= fence.generation && now - fence.at < FENCE_RECHECK_MS) return { register: false, why: 'fenced' }
  return { register: true }
}

export type ChangelogFailure = 'fenced' | 'outage' | 'other'

/** Protocol errors that mean another producer registered the id (47: INVALID_PRODUCER_EPOCH, 90: PRODUCER_FENCED). */
const FENCE_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED'])
const FENCE_CODES = new Set([47, 90])
/** Protocol errors of a broker or coordinator that is away, moving or loading: the same request later may pass. */
const OUTAGE_TYPES = new Set([
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'BROKER_NOT_AVAILABLE',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'CONCURRENT_TRANSACTIONS',
  'TRANSACTION_COORDINATOR_FENCED',
  'UNKNOWN_TOPIC_OR_PARTITION',
])
/** kafkajs's own errors for a connection that failed or a request without an answer. */
const OUTAGE_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSNoBrokerAvailableError', 'KafkaJSBrokerNotFound', 'KafkaJSMetadataNotLoaded', 'KafkaJSTopicMetadataNotLoaded', 'KafkaJSLockTimeout', 'KafkaJSGroupCoordinatorNotFound'])
const OUTAGE_MESSAGE = /closed connection|connection (error|timeout|refused)|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|request timed out|socket hang up|coordinator (is )?not (available|found)|no broker/i
const FENCE_MESSAGE = /old epoch|producer(\s+has\s+been|\s+is)?\s+fenced|PRODUCER_FENCED/i

/**
 * What a failed changelog transaction means. The error and its causes are looked at (kafkajs wraps the
 * last attempt's error in KafkaJSNumberOfRetriesExceeded, and several in KafkaJSAggregateError); a fence
 * anywhere in the chain wins over an outage.
 */
export function classifyChangelogError(err: unknown): ChangelogFailure {
  let outage = false
  const seen = new Set<unknown>()
  const visit = (e: unknown, depth: number): boolean => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > 8) return false
    seen.add(e)
    const x = e as { name?: unknown; type?: unknown; code?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown }
    const message = typeof x.message === 'string' ? x.message : ''
    if ((typeof x.type === 'string' && FENCE_TYPES.has(x.type)) || (typeof x.code === 'number' && FENCE_CODES.has(x.code) && typeof x.type === 'string') || FENCE_MESSAGE.test(message)) return true
    if ((typeof x.type === 'string' && OUTAGE_TYPES.has(x.type)) || (typeof x.name === 'string' && OUTAGE_NAMES.has(x.name)) || OUTAGE_MESSAGE.test(message) || (typeof x.code === 'string' && /^E[A-Z]+$/.test(x.code))) outage = true
    const inner = [x.cause, x.originalError, ...(Array.isArray(x.errors) ? x.errors : [])]
    return inner.some((i) => visit(i, depth + 1))
  }
  if (visit(err, 0)) return 'fenced'
  return outage ? 'outage' : 'other'
}

/** Retry delays of a changelog outage: 250 ms doubling to 8 s. */
export function outageBackoffMs(attempt: number): number {
  return Math.min(8000, 250 * 2 ** Math.min(attempt, 10))
}
