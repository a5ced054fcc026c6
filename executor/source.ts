/**
 * Where a stream's events come from, as the engine's shared scan sees it: partitions of records addressed
 * by offset. The embedded log is one (executor/log); a Kafka topic is another (executor/connectors).
 * Offsets only grow; they may skip numbers (Kafka transaction markers), so a read says which offset each
 * record has when they are not consecutive.
 */
export interface SourceBatch {
  readonly records: readonly (Buffer | string)[]
  /** The offset of each record; absent when they are `from, from + 1, ...`. */
  readonly offsets?: readonly number[]
  /** The origin's timestamp of each record in microseconds (Kafka's), where the source has one. */
  readonly timestamps?: readonly number[]
  /** Where the next read continues. */
  readonly nextOffset: number
}

export interface StreamSource {
  readonly partitionCount: number
  /** The offset after the last record available to read now. */
  endOffset(partition: number): number
  read(partition: number, from: number, max: number): Promise<SourceBatch>
  /**
   * Whether a reader at `offset` has seen everything this partition will have for a while, so that the
   * partition may stop holding the watermark back. Absent: caught up means idle.
   */
  idle?(partition: number, offset: number): boolean
  /** Where the partition ends at its origin (a Kafka topic's end offset), for lag; absent: `endOffset`. */
  highWatermark?(partition: number): number
  /** Every reader is past `offset`: records before it may be dropped from memory. */
  release?(partition: number, offset: number): void
  close(): Promise<void>
}
