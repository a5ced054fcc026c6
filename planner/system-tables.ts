/** Schemas of Sluice's system tables; the executor fills in their rows. */
import { Types, type Column, type SqlType } from '../common/types.ts'

const col = (name: string, type: SqlType, nullable = true): Column => ({ name, type, nullable })

export const SYSTEM_TABLES: Readonly<Record<string, readonly Column[]>> = {
  sluice_streams: [
    col('name', Types.text, false),
    col('partitions', Types.int4, false),
    col('key_column', Types.text),
    col('watermark', Types.text),
    col('events', Types.int8, false),
    col('sql', Types.text, false),
    col('closed', Types.bool, false),
  ],
  sluice_queries: [
    col('name', Types.text, false),
    col('source', Types.text, false),
    col('status', Types.text, false),
    col('events_in', Types.int8, false),
    col('events_per_second', Types.float8, false),
    col('lag', Types.int8, false),
    col('watermark', Types.timestamptz),
    col('state_keys', Types.int8, false),
    col('late_events', Types.int8, false),
    // Groups, windows or sessions deleted by retention / idle_ttl since the server started.
    col('expired', Types.int8, false),
    // Rows window functions and MATCH_RECOGNIZE hold: waiting for the watermark, or for a match to settle.
    col('buffered_rows', Types.int8, false),
    col('last_error', Types.text),
    col('sql', Types.text, false),
    // Bytes of state (keys and values as stored) as of the last checkpoint: what max_state is held to.
    col('state_bytes', Types.int8, false),
    // Rows put out per second over the last few seconds (row changes, firings): what max_output_rate is held to.
    col('output_per_second', Types.int8, false),
    // WITH (max_state, max_output_rate) as in force (after ALTER ... SET), e.g. `max_state 1GB`; NULL: none.
    col('limits', Types.text),
    // A hidden view (an aggregating subquery planned as a view of its own): the view that owns it; NULL otherwise.
    col('hidden_in', Types.text),
  ],
  /** One row per view and source partition: where the view is, where the partition ends, the lag. */
  sluice_partitions: [
    col('query', Types.text, false),
    col('stream', Types.text, false),
    col('connector', Types.text, false),
    col('partition', Types.int4, false),
    col('position', Types.int8, false),
    col('end_offset', Types.int8, false),
    col('lag', Types.int8, false),
  ],
  sluice_sinks: [
    col('name', Types.text, false),
    col('source', Types.text, false),
    col('topic', Types.text, false),
    col('mode', Types.text, false),
    col('status', Types.text, false),
    col('records_out', Types.int8, false),
    col('batches_delivered', Types.int8, false),
    col('batches_pending', Types.int8, false),
    col('last_error', Types.text),
    col('sql', Types.text, false),
    // kafka, postgres, mysql or files; `topic` holds the topic, table or directory.
    col('target_kind', Types.text, false),
    // How long the oldest checkpointed batch not yet in the target has waited.
    col('lag_ms', Types.int8, false),
    // Rows the target refused, filed in its sluice_sink_dead_letters table.
    col('dead_letters', Types.int8, false),
  ],
  /** One row per trigger: what it saw and did since it was created. */
  sluice_triggers: [
    col('name', Types.text, false),
    col('stream', Types.text, false),
    // The NOTIFY channel, or the webhook's URL.
    col('target', Types.text, false),
    col('status', Types.text, false),
    col('fires', Types.int8, false),
    col('delivered', Types.int8, false),
    col('held_out', Types.int8, false),
    col('suppressed_cooldown', Types.int8, false),
    col('suppressed_cap', Types.int8, false),
    col('suppressed_priority', Types.int8, false),
    col('inactive', Types.int8, false),
    // Webhooks: firings sent and not yet answered 2xx; failed for good (dead letters); attempts retried.
    col('pending', Types.int8, false),
    col('failed', Types.int8, false),
    col('retried', Types.int8, false),
    col('last_fire', Types.timestamptz),
    col('last_error', Types.text),
    col('sql', Types.text, false),
  ],
  /** Every candidate firing of every trigger, with what became of it (the audit stream). */
  sluice_trigger_audit: [
    col('trigger', Types.text, false),
    col('event_time', Types.timestamptz),
    col('key', Types.text),
    col('outcome', Types.text, false),
    col('payload', Types.text),
  ],
  sluice_dead_letters: [
    col('stream', Types.text, false),
    col('partition', Types.int4, false),
    col('offset', Types.int8, false),
    col('reason', Types.text, false),
    col('raw', Types.text, false),
    col('received_at', Types.timestamptz, false),
  ],
  sluice_late_events: [
    col('query', Types.text, false),
    col('stream', Types.text, false),
    col('partition', Types.int4, false),
    col('offset', Types.int8, false),
    col('event_time', Types.timestamptz),
    col('watermark', Types.timestamptz),
    col('reason', Types.text, false),
  ],
  /**
   * One row per view (or trigger) and source partition: the partition's watermark (the largest watermark
   * value read there; NULL before any) and the view's (the least over partitions with unread data;
   * `infinity` once a closed stream is read). ALTER STREAM ... RESET WATERMARK sets them anew.
   */
  sluice_watermarks: [
    col('query', Types.text, false),
    col('stream', Types.text, false),
    col('partition', Types.int4, false),
    col('partition_watermark', Types.timestamptz),
    col('watermark', Types.timestamptz),
  ],
  // Last: the OIDs of system tables follow their order here (planner/pg-catalog.ts), and clients may keep them.
  /**
   * One row per view (or trigger): how far it is through its stream (offsets fully processed, summed over
   * partitions) against where the partitions end now, the rate it moves at and the time left at that rate;
   * what a console draws as a catch-up progress bar (executor/progress.ts).
   */
  sluice_progress: [
    col('query', Types.text, false),
    col('stream', Types.text, false),
    col('status', Types.text, false),
    col('position', Types.int8, false),
    col('end_offset', Types.int8, false),
    col('remaining', Types.int8, false),
    // position / end_offset (1 for an empty stream).
    col('fraction', Types.float8, false),
    // Offsets per second over the last few seconds (between reads of this table); NULL when not known yet.
    col('events_per_second', Types.float8),
    // remaining / events_per_second: 0 when caught up, NULL when the rate is unknown or zero.
    col('seconds_left', Types.float8),
  ],
  /** Cluster mode (docs/cluster.md): one row per node of the cluster, as Kafka's group coordinator knows it. */
  sluice_cluster: [
    col('node', Types.text, false),
    col('address', Types.text),
    col('http_address', Types.text),
    col('status', Types.text, false),
    col('is_self', Types.bool, false),
    col('tasks', Types.int4, false),
    // Commands of the command topic this node has applied (NULL for other nodes).
    col('commands_applied', Types.int8),
    // Events this node's views and triggers have still to read, summed (NULL for other nodes).
    col('lag', Types.int8),
    // Point lookups (WHERE key = ...) this node answered from the key's task alone, and those that asked
    // every task (a key that cannot be routed, or not found on its task) (NULL for other nodes).
    col('lookups_routed', Types.int8),
    col('lookups_all_tasks', Types.int8),
    // Standby copies of other nodes' tasks this node keeps (`--standbys`; NULL for other nodes).
    col('standby_tasks', Types.int4),
  ],
  /** Cluster mode: one row per task (a stream topic's partition number) and the node the group gave it to. */
  sluice_tasks: [
    col('stream', Types.text, false),
    col('topic', Types.text, false),
    col('task', Types.int4, false),
    col('owner', Types.text),
    col('is_self', Types.bool, false),
    // This node's task engine for the task, if it runs one (NULL otherwise): starting, restoring or running.
    col('status', Types.text),
    // Events of the stream's partition that engine took in (exactly once: restored with its checkpoints).
    col('events', Types.int8),
    // Events that engine's views have still to read.
    col('lag', Types.int8),
    // Changelog records that engine's store was restored from when it started (so far, while restoring).
    col('restored', Types.int8),
    // For a standby copy kept on the node asked (status 'standby'): the changelog offset it has applied up
    // to; its lag is then the changelog records still to apply.
    col('changelog_position', Types.int8),
    // Bytes of state that engine's views over the stream hold (as sluice_queries.state_bytes, summed; NULL
    // where this node runs no engine for the task).
    col('state_bytes', Types.int8),
  ],
}

export const isSystemTable = (name: string): boolean => name in SYSTEM_TABLES
