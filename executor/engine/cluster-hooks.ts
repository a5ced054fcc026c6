/**
 * The places where cluster mode (cluster/) reaches into the engine, kept as interfaces here so that the
 * engine does not depend on the cluster code:
 * - DDL: in cluster mode the engine's DDL methods hand a command to the router, which validates it, writes
 *   it to the cluster's command topic, and resolves once this node has applied it (by `Engine.applyLocal`);
 *   every node applies every command in the topic's order.
 * - Ingest: INSERT, COPY and HTTP ingest into a stream backed by the cluster's Kafka topic produce to it.
 * - Task sinks: a task engine's sinks write under a tag per sink and task, and a fenced Kafka sink stops
 *   (cluster/sinks.ts); a node's front engine only checks a sink's target at CREATE.
 * - Task outputs: a task engine's triggers NOTIFY through the node (which relays to every node's LISTEN
 *   sessions) and INSERT into cluster streams by producing to their topics (cluster/outputs.ts).
 * - Pull queries and SUBSCRIBE: a node's front engine computes no view (its task engines do,
 *   cluster/tasks.ts), so a view's rows and changes are gathered from the tasks of every node
 *   (cluster/pull.ts, cluster/subscribe.ts).
 */
import type { Row, Value } from '../../common/types.ts'
import type { StreamDef } from '../../planner/catalog.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import type { LiveFeed, SubscriptionOptions } from '../change-feed.ts'
import type { ChannelMessage } from '../notifications.ts'
import type { TriggerCounters } from '../operators/trigger-fire.ts'

/** A DDL statement as it travels through the command topic: what every node needs to apply it again. */
export type DdlCommand =
  | { readonly op: 'create_stream' | 'create_view' | 'create_sink' | 'alter_trigger' | 'alter_view'; readonly sql: string }
  /** `start`: a trigger on a stream fires for the events at or past these offsets of its topic (one per partition). */
  | { readonly op: 'create_trigger'; readonly sql: string; readonly start?: readonly number[] }
  | { readonly op: 'drop'; readonly kind: 'stream' | 'view'; readonly name: string; readonly ifExists: boolean; readonly cascade: boolean }
  | { readonly op: 'drop_trigger' | 'drop_sink'; readonly name: string; readonly ifExists: boolean }
  | { readonly op: 'close_stream'; readonly name: string }
  | { readonly op: 'reset_watermark'; readonly name: string; readonly to: string | null }

export interface DdlRouter {
  /** Validates `cmd` here, writes it to the command topic, and resolves with this node's result of applying it. */
  submit(cmd: DdlCommand): Promise<unknown>
}

/** One record to produce to a stream's topic: the key's text (undefined: no key) and the encoded event. */
export interface IngestRecord {
  readonly key: string | undefined
  readonly value: string | Buffer
}

/**
 * Produces records to the Kafka topic of a cluster stream; resolves once the broker has them all. `tag`: an
 * HTTP ingest batch's idempotency key and answer (executor/ingest-keys.ts), committed with the records.
 */
export type ClusterIngest = (def: StreamDef, records: readonly IngestRecord[], tag?: Buffer) => Promise<void>

/** A view's rows as the whole cluster has them: every task's, or the global task's. */
export interface ClusterReads {
  viewRows(name: string): AsyncGenerator<Row>
  /** The rows of one group by key (as Engine.viewPoint), or null when the view must be read whole. */
  viewPoint(name: string, keyValues: readonly Value[]): Promise<Row[] | null>
  /** SUBSCRIBE to a view: every task's snapshot, then every task's changes (cluster/subscribe.ts). */
  subscribe(name: string, options: SubscriptionOptions): Promise<LiveFeed>
  /** A trigger as the tasks that run it have it, on every node (sluice_triggers): counters summed. */
  triggerStats(name: string): Promise<ClusterTriggerStats>
  /** A sink as the tasks that run it have it, on every node (sluice_sinks): counters summed. */
  sinkStats(name: string): Promise<ClusterSinkStats>
}

/** What sluice_sinks shows of a sink on a cluster: summed over the tasks that run it (lag: the largest). */
export interface ClusterSinkStats {
  /** 'running' when every task's part runs; otherwise the first other status seen. */
  readonly status: string
  readonly lastError: string | null
  readonly recordsOut: number
  readonly batchesDelivered: number
  readonly pendingBatches: number
  readonly lagMs: number
  readonly deadLetters: number
}

/** What sluice_triggers shows of a trigger on a cluster. */
export interface ClusterTriggerStats {
  /** Summed over the tasks that run the trigger (last_fire: the latest). */
  readonly counters: TriggerCounters
  /** 'running' when every task runs it; otherwise the first other status seen. */
  readonly status: string
  readonly lastError: string | null
}

/**
 * What a task engine's triggers do outside it (EngineOptions.taskOutputs): NOTIFY goes to `notify` (the
 * node publishes it to every node of the cluster), INSERT into a cluster stream to `ingest` (its topic).
 */
export interface TaskOutputs {
  readonly notify: (message: ChannelMessage) => void
  readonly ingest: ClusterIngest
}

/**
 * How a task engine's sinks meet their targets in cluster mode (EngineOptions.taskSinks, cluster/sinks.ts):
 * the tag a sink is known by there (its Kafka transactional id and batch group are made from it), one per
 * sink and task and the same on whichever node runs the task; and whether a failed Kafka transaction may
 * be tried again under that id (false: another node owns the task now).
 */
export interface TaskSinks {
  tag(def: SinkDef): string
  retry(err: Error): Promise<boolean>
}
