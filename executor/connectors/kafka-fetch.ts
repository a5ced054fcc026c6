/**
 * Fetching a topic's partitions from their leaders without the client's per-record parsing: the Fetch
 * request (versions 13 to 17, Kafka 3.1 and later) is sent on the client's connections, and its answer is
 * read only down to each partition's record bytes, which kafka-records.ts decodes into the source's
 * buffers. Sluice keeps its positions itself (kafka-source.ts), so no consumer group is joined.
 *
 * Pipelined: as soon as an answer arrives, the next fetch from each partition's new position (read from
 * the batch headers alone) is sent, and the answer is decoded while the broker prepares the next. One fetch
 * per leader is in flight at most, at most FETCH_MAX_BYTES each; the source pauses the fetcher when its
 * buffers hold too much.
 */
import { ConnectionPool, Reader, Writer, createAPI, type Connection, type Consumer } from '@platformatic/kafka'
import { nextFetchOffset, type AbortedTransaction } from './kafka-records.ts'

const FETCH_API_KEY = 1
/** Versions whose request and answer this file writes and reads (topics by id, flexible encoding). */
const MIN_FETCH_VERSION = 13
const MAX_FETCH_VERSION = 17
/** The first version without a replica id in the request (it moved to a tagged field). */
const NO_REPLICA_ID_VERSION = 15
/** An answer's bytes at most, and per partition (the broker still sends a first batch larger than that). */
export const FETCH_MAX_BYTES = 16 * 1024 * 1024
/** How long the broker may hold a fetch while it has nothing new. */
const FETCH_MAX_WAIT_MS = 100
/** isolation_level 1: read_committed, never the records of an aborted or open transaction. */
const READ_COMMITTED = 1
/** session_id 0 with epoch -1: a full fetch outside any fetch session. */
const NO_SESSION_EPOCH = -1

/** One partition's part of a fetch answer. */
export interface FetchedPartition {
  readonly partition: number
  readonly errorCode: number
  readonly logStartOffset: number
  readonly aborted: AbortedTransaction[] | null
  /** The partition's record batches as the broker sent them (the last one possibly cut short). */
  readonly records: Buffer | null
}

interface FetchAnswer {
  readonly errorCode: number
  readonly partitions: FetchedPartition[]
}

interface FetchPosition {
  readonly partition: number
  offset: number
}

export class KafkaFetchError extends Error {
  constructor(
    message: string,
    readonly errorCode: number,
  ) {
    super(message)
  }
}

/** Error codes of a partition in a fetch answer that this file names. */
export const OFFSET_OUT_OF_RANGE = 1

function fetchApi(version: number) {
  const request = (topicId: string, positions: readonly FetchPosition[]): Writer => {
    const w = Writer.create()
    if (version < NO_REPLICA_ID_VERSION) w.appendInt32(-1)
    return w
      .appendInt32(FETCH_MAX_WAIT_MS)
      .appendInt32(1) // min_bytes: answer as soon as anything is there
      .appendInt32(FETCH_MAX_BYTES)
      .appendInt8(READ_COMMITTED)
      .appendInt32(0)
      .appendInt32(NO_SESSION_EPOCH)
      .appendArray([topicId], (t, id) => {
        t.appendUUID(id).appendArray([...positions], (p, at) => {
          p.appendInt32(at.partition)
            .appendInt32(-1) // current_leader_epoch: not checked
            .appendInt64(BigInt(at.offset))
            .appendInt32(-1) // last_fetched_epoch
            .appendInt64(-1n) // log_start_offset: a consumer's is -1
            .appendInt32(FETCH_MAX_BYTES)
        })
      })
      .appendArray([], () => undefined) // forgotten_topics_data
      .appendString('') // rack_id
      .appendTaggedFields()
  }
  const answer = (_correlationId: number, _apiKey: number, _apiVersion: number, r: Reader): FetchAnswer => {
    r.readInt32() // throttle_time_ms
    const errorCode = r.readInt16()
    r.readInt32() // session_id
    const partitions: FetchedPartition[] = []
    r.readArray((topic) => {
      topic.readUUID()
      topic.readArray((p) => {
        const partition = p.readInt32()
        const code = p.readInt16()
        p.readInt64() // high_watermark
        p.readInt64() // last_stable_offset
        const logStartOffset = Number(p.readInt64())
        const aborted = p.readNullableArray((a) => ({ producerId: Number(a.readInt64()), firstOffset: Number(a.readInt64()) }))
        p.readInt32() // preferred_read_replica
        const size = p.readUnsignedVarInt() - 1 // COMPACT_RECORDS: length + 1, 0 for null
        let records: Buffer | null = null
        if (size > 0) {
          // One contiguous copy of the partition's bytes (the answer arrives in socket-sized pieces): the
          // records' values are views of it.
          records = p.buffer.slice(p.position, p.position + size)
          p.skip(size)
        }
        partitions.push({ partition, errorCode: code, logStartOffset, aborted, records })
      })
    })
    return { errorCode, partitions }
  }
  return createAPI<[string, readonly FetchPosition[]], FetchAnswer>(FETCH_API_KEY, version, request, answer)
}

export interface FetcherOptions {
  /** For the topic's metadata and the broker's API versions; the fetcher keeps its own connections. */
  readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  readonly topic: string
  /** Where to fetch each partition from (only these partitions are fetched). */
  readonly positions: ReadonlyMap<number, number>
  /**
   * Called with each partition's part of an answer, in order per partition, after the next fetch went out.
   * `from` is the offset that part was fetched from.
   */
  readonly deliver: (part: FetchedPartition, from: number) => void
  /** The fetch failed (a lost broker, a partition error): the fetcher has stopped. Called once. */
  readonly failed: (err: Error) => void
}

/** Fetches a set of partitions of one topic, one pipelined loop per leader broker. */
export class PartitionFetcher {
  private closed = false
  private paused = false
  private resumed: (() => void) | null = null
  private readonly pool: ConnectionPool

  private constructor(
    private readonly options: FetcherOptions,
    private readonly api: ReturnType<typeof fetchApi>,
  ) {
    this.pool = new ConnectionPool(options.consumer.clientId)
  }

  /** Learns the leaders and the Fetch version, then starts fetching; rejects when the broker cannot. */
  static async start(options: FetcherOptions): Promise<PartitionFetcher> {
    const apis = await options.consumer.listApis()
    const fetch = apis.find((a) => a.apiKey === FETCH_API_KEY)
    const version = Math.min(MAX_FETCH_VERSION, fetch?.maxVersion ?? 0)
    if (version < MIN_FETCH_VERSION) throw new Error(`the Kafka broker answers Fetch up to version ${fetch?.maxVersion ?? 'none'}; Sluice needs ${MIN_FETCH_VERSION} (Kafka 3.1 or later)`)
    const metadata = await options.consumer.metadata({ topics: [options.topic], forceUpdate: true })
    const topic = metadata.topics.get(options.topic)
    if (topic === undefined) throw new Error(`Kafka topic "${options.topic}" does not exist`)
    const byLeader = new Map<number, FetchPosition[]>()
    for (const [partition, offset] of options.positions) {
      const leader = topic.partitions[partition]?.leader ?? -1
      if (leader < 0 || !metadata.brokers.has(leader)) throw new Error(`Kafka topic "${options.topic}" partition ${partition} has no leader`)
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), { partition, offset }])
    }
    const fetcher = new PartitionFetcher(options, fetchApi(version))
    try {
      const connections = await Promise.all([...byLeader.keys()].map((leader) => fetcher.pool.get(metadata.brokers.get(leader)!)))
      ;[...byLeader.values()].forEach((positions, i) => void fetcher.run(connections[i]!, topic.id, positions))
    } catch (err) {
      await fetcher.close()
      throw err
    }
    return fetcher
  }

  /** Stops sending fetches and holds back answers that arrive meanwhile. */
  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    this.resumed?.()
    this.resumed = null
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.resume()
    await this.pool.close().catch(() => undefined)
  }

  private send(connection: Connection, topicId: string, positions: readonly FetchPosition[]): Promise<FetchAnswer> {
    // A copy: the positions move on while this fetch is in flight.
    return this.api.async(connection, topicId, positions.map((p) => ({ ...p })))
  }

  private async run(connection: Connection, topicId: string, positions: FetchPosition[]): Promise<void> {
    try {
      let from = positions.map((p) => p.offset)
      let inflight = this.send(connection, topicId, positions)
      while (!this.closed) {
        const answer = await inflight
        if (this.closed) return
        if (answer.errorCode !== 0) throw new KafkaFetchError(`Kafka fetch failed with error code ${answer.errorCode}`, answer.errorCode)
        const at = new Map(positions.map((p, i) => [p.partition, i]))
        for (const part of answer.partitions) {
          if (part.errorCode !== 0) {
            throw new KafkaFetchError(`Kafka fetch of "${this.options.topic}" partition ${part.partition} failed with error code ${part.errorCode}`, part.errorCode)
          }
          const i = at.get(part.partition)
          if (i !== undefined && part.records !== null) positions[i]!.offset = nextFetchOffset(part.records, positions[i]!.offset)
        }
        while (this.paused && !this.closed) await new Promise<void>((r) => (this.resumed = r))
        if (this.closed) return
        const fetchedFrom = from
        from = positions.map((p) => p.offset)
        inflight = this.send(connection, topicId, positions)
        for (const part of answer.partitions) {
          const i = at.get(part.partition)
          if (i !== undefined) this.options.deliver(part, fetchedFrom[i]!)
        }
      }
    } catch (err) {
      if (this.closed) return
      await this.close()
      this.options.failed(err as Error)
    }
  }
}

