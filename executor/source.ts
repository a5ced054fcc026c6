/**
 * Where a stream's events come from, as the engine's shared scan sees it: partitions of records addressed
 * by offset. The embedded log is one (executor/log); a Kafka topic is another (executor/connectors).
 * Offsets only grow; they may skip numbers (Kafka transaction markers), so a read says which offset each
 * record has when they are not consecutive.
 */
import type { PackedRecords } from './decode-worker.ts'

export interface SourceBatch {
  readonly records: readonly (Buffer | string)[]
  /** The offset of each record; absent when they are `from, from + 1, ...`. */
  readonly offsets?: readonly number[]
  /** The origin's timestamp of each record in microseconds (Kafka's), where the source has one. */
  readonly timestamps?: readonly number[]
  /** Where the next read continues. */
  readonly nextOffset: number
  /**
   * Watermarks carried by the records (a cluster's repartition topic, cluster/watermark-envelope.ts), in
   * offset order, watermark-only records included (they are in `marks`, not in `records`).
   */
  readonly marks?: readonly CarriedMark[]
}

/**
 * A watermark carried in a record, as its writer had it: the source partition the writer reads, that
 * partition's watermark after the record, and whether the partition was idle then.
 */
export interface CarriedMark {
  readonly offset: number
  readonly partition: number
  readonly watermark: number
  readonly idle: boolean
  /** A watermark-only record's: the writer's position in its source partition (the offset after what it read). */
  readonly position?: number
}

/**
 * Opens records wrapped by their writer (a cluster's repartition topic, cluster/watermark-envelope.ts): the
 * batch with the events' own records, explicit offsets, and the watermarks the records carried as `marks`.
 */
export type RecordEnvelope = (batch: SourceBatch) => SourceBatch

/**
 * A batch of records in one buffer, as a source read them (a file stream's lines, a Kafka fetch's values):
 * what the decode thread takes whole, with no string or view made per record on the loop's thread.
 */
export interface PackedBatch {
  /** Record i is `bytes[starts[i], ends[i])`; `text[i]` 1: read as text (UTF-8), 0: bytes. */
  readonly records: PackedRecords
  readonly offsets: readonly number[]
  /** The origin's timestamp of each record in microseconds (Kafka's), where the source has one. */
  readonly timestamps?: readonly number[]
  readonly nextOffset: number
}

export interface StreamSource {
  readonly partitionCount: number
  /** The offset after the last record available to read now. */
  endOffset(partition: number): number
  read(partition: number, from: number, max: number): Promise<SourceBatch>
  /**
   * The same records packed (PackedBatch), for the decode thread; null when this read cannot be packed (a
   * line longer than the read buffer): the caller reads it with `read`. Absent: the source has no such read.
   */
  readPacked?(partition: number, from: number, max: number): Promise<PackedBatch | null>
  /**
   * Whether a reader at `offset` has seen everything this partition will have for a while, so that the
   * partition may stop holding the watermark back. Absent: caught up means idle.
   */
  idle?(partition: number, offset: number): boolean
  /** Where the partition ends at its origin (a Kafka topic's end offset), for lag; absent: `endOffset`. */
  highWatermark?(partition: number): number
  /** Every reader is past `offset`: records before it may be dropped from memory. */
  release?(partition: number, offset: number): void
  /**
   * The records carry their writers' watermarks (`SourceBatch.marks`): a query's watermark is the least
   * over the writers' source partitions, not taken from its rows' times (executor/carried-watermarks.ts).
   */
  readonly carriesWatermarks?: boolean
  /**
   * With carriesWatermarks: where source partition `partition` of the stream the writers read ends, as the
   * broker last said (undefined: not known yet). An idle mark holds only while its partition ends there.
   */
  carriedSourceEnd?(partition: number): number | undefined
  close(): Promise<void>
}
