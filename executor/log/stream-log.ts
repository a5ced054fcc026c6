/**
 * The embedded durable log: per stream partition, append-only segment files of framed records, addressed
 * by offset (the record's index in the partition).
 *
 *   <dir>/p<partition>/<base offset, 20 digits>.log     records [base, next base)
 *   record = u32 length | u32 crc32(payload) | payload
 *
 * A batch (`appendBatch`: records for any of the partitions) is all-or-nothing: its records are written to
 * their partitions, then the new ends go into the log's commit file (commit-file.ts), and only then do
 * readers see them. A batch that fails half-way (a full disk) is cut back off the partitions it reached;
 * one cut short by a crash is cut off on the next open, where the partitions' ends are clamped to the
 * committed ones. A batch may carry a tag (a small opaque byte string) that goes into the same commit
 * record, so it is durable exactly when the batch is: `committedTags` gives them back after a restart
 * (HTTP ingest's Idempotency-Keys; the newest MAX_TAGS are kept). Batches are committed one group at a
 * time: those that arrive while a group is being written wait and go together in the next (group
 * commit), so many small concurrent INSERTs share one commit record. There is no fsync per append: an acknowledged append survives the process being killed
 * (the OS has it), not a power loss. On open every segment is scanned: offsets and a sparse index are
 * rebuilt, and a torn or corrupt tail is truncated away.
 */
import { constants, readSync } from 'node:fs'
import { mkdir, open, readdir, rm, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { CommitFile } from './commit-file.ts'
import { crc32 } from './crc32.ts'

const HEADER = 8
/** Every INDEX_EVERY-th record's file position is remembered, so a read seeks in at most that many steps. */
const INDEX_EVERY = 256
const DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024
const READ_CHUNK = 1024 * 1024
const MAX_RECORD = 64 * 1024 * 1024

export interface StreamLogOptions {
  /** Roll to a new segment once one reaches this size. */
  readonly segmentBytes?: number
}

interface Segment {
  readonly base: number
  readonly path: string
  readonly fh: FileHandle
  /** Bytes of whole records. */
  size: number
  /** Records in the segment. */
  count: number
  /** positions[i] = file position of record base + i * INDEX_EVERY. */
  readonly positions: number[]
}

interface Partition {
  readonly dir: string
  readonly segments: Segment[]
  /** Records written, including those of a batch not yet committed. */
  end: number
  /** Records committed: what readers see. */
  visible: number
  /** Where the last read stopped, to continue sequential consumption without a lookup. */
  cursor: { offset: number; segment: Segment; position: number } | null
  /**
   * The most recent committed records as they were appended, so that a reader keeping up with the writer
   * gets them from memory: `recent[i]` is record `recentStart + i`. Bounded by RECENT_RECORDS.
   */
  recent: (Buffer | string)[]
  recentStart: number
  /**
   * Where appends frame their records, kept from one append to the next (appends are serialized): a new
   * buffer of megabytes for every append costs a page fault per 4 KiB on first touch, more than the copy.
   */
  scratch: Buffer
}

/** The largest frame buffer an append keeps for the next one; a larger append's buffer is its own. */
const MAX_SCRATCH = 16 << 20

/** How many recently appended records a partition keeps in memory for readers that keep up. */
const RECENT_RECORDS = 65_536

/** A batch waiting for its group's commit. */
interface PendingBatch {
  readonly byPartition: readonly (readonly (Buffer | string)[])[]
  readonly tag: Buffer | undefined
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/** Where a partition stood before a group was written to it, to cut the group off again. */
interface PartitionMark {
  readonly segments: number
  readonly size: number
  readonly count: number
  readonly positions: number
  readonly end: number
}

export class StreamLog {
  private queue: PendingBatch[] = []
  private writing = false
  private closing: Promise<void> | null = null

  private constructor(
    private readonly partitions: Partition[],
    private readonly segmentBytes: number,
    private readonly commits: CommitFile,
  ) {}

  static async open(dir: string, partitions: number, options: StreamLogOptions = {}): Promise<StreamLog> {
    const parts: Partition[] = []
    for (let p = 0; p < partitions; p++) parts.push(await openPartition(join(dir, `p${p}`)))
    const commits = await CommitFile.open(dir)
    const committed = commits.committedEnds
    if (committed !== null && committed.length === partitions) {
      // Records past a committed end belong to a batch that was cut short: it never happened.
      for (let p = 0; p < partitions; p++) {
        const part = parts[p]!
        const end = committed[p]!
        if (part.end > end) await truncatePartition(part, end)
      }
    }
    for (const part of parts) {
      part.visible = part.end
      part.recentStart = part.end
    }
    // A log from before commit files, or one that lost committed bytes with the OS: its ends as they are.
    const ends = parts.map((p) => p.end)
    if (committed === null || committed.length !== partitions || ends.some((e, p) => e !== committed[p])) await commits.commit(ends)
    return new StreamLog(parts, options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, commits)
  }

  static async destroy(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true })
  }

  get partitionCount(): number {
    return this.partitions.length
  }

  /** The committed end of a partition: readers see the records before it. */
  endOffset(partition: number): number {
    return this.part(partition).visible
  }

  /** Tags of committed batches (appendBatch's `tag`), oldest first: the newest MAX_TAGS of them. */
  get committedTags(): readonly Buffer[] {
    return this.commits.committedTags
  }

  /** Appends records to one partition (a batch of one partition). */
  append(partition: number, records: readonly (Buffer | string)[]): Promise<void> {
    this.part(partition)
    const byPartition: (readonly (Buffer | string)[])[] = this.partitions.map(() => [])
    byPartition[partition] = records
    return this.appendBatch(byPartition)
  }

  /**
   * Appends a batch, `byPartition[p]` to partition p, all or nothing; resolves once it is committed and
   * readable. Recent records are served to readers from memory as given, so a Buffer must not be
   * modified after it was appended. `tag` is committed with the batch, in the same record: after a crash
   * either both are there or neither (a batch of no records commits nothing, its tag neither).
   */
  appendBatch(byPartition: readonly (readonly (Buffer | string)[])[], tag?: Buffer): Promise<void> {
    if (byPartition.length > this.partitions.length) return Promise.reject(new Error(`the log has ${this.partitions.length} partitions, not ${byPartition.length}`))
    for (const records of byPartition) {
      for (const r of records) {
        const n = payloadLength(r)
        if (n > MAX_RECORD) return Promise.reject(new Error(`record of ${n} bytes is larger than the ${MAX_RECORD}-byte limit`))
      }
    }
    if (byPartition.every((r) => r.length === 0)) return Promise.resolve()
    if (this.closing !== null) return Promise.reject(new Error('the log is closed'))
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ byPartition, tag, resolve, reject })
      if (!this.writing) void this.drain()
    })
  }

  /** Writes queued batches a group at a time until none is left. */
  private async drain(): Promise<void> {
    this.writing = true
    while (this.queue.length > 0) {
      const group = this.queue
      this.queue = []
      const merged: (Buffer | string)[][] = this.partitions.map(() => [])
      // One by one: spreading a large COPY's records into push() overflows the stack.
      for (const b of group) b.byPartition.forEach((records, p) => {
        const into = merged[p]!
        for (const r of records) into.push(r)
      })
      const marks = this.partitions.map(mark)
      try {
        await Promise.all(merged.map((records, p) => (records.length > 0 ? this.write(this.partitions[p]!, records) : undefined)))
        const tags: Buffer[] = []
        for (const b of group) if (b.tag !== undefined) tags.push(b.tag)
        await this.commits.commit(this.partitions.map((p) => p.end), tags)
      } catch (err) {
        await Promise.all(this.partitions.map((p, i) => rollBack(p, marks[i]!)))
        for (const b of group) b.reject(err)
        continue
      }
      merged.forEach((records, p) => publish(this.partitions[p]!, records))
      for (const b of group) b.resolve()
    }
    this.writing = false
  }

  /** Writes records after the partition's last one; they stay invisible until the group commits. */
  private async write(part: Partition, records: readonly (Buffer | string)[]): Promise<void> {
    let seg = part.segments[part.segments.length - 1]!
    if (seg.size >= this.segmentBytes) seg = await roll(part)
    const lengths = new Array<number>(records.length)
    let bytes = 0
    for (let i = 0; i < records.length; i++) {
      const n = payloadLength(records[i]!)
      lengths[i] = n
      bytes += HEADER + n
    }
    if (part.scratch.length < bytes && bytes <= MAX_SCRATCH) part.scratch = Buffer.allocUnsafe(Math.min(Math.max(bytes, 2 * part.scratch.length), MAX_SCRATCH))
    const buf = bytes <= part.scratch.length ? part.scratch : Buffer.allocUnsafe(bytes)
    let pos = 0
    const positions: number[] = []
    let count = seg.count
    for (let i = 0; i < records.length; i++) {
      if (count % INDEX_EVERY === 0) positions.push(seg.size + pos)
      pos = writeFrame(buf, pos, records[i]!, lengths[i]!)
      count++
    }
    let written = 0
    while (written < bytes) {
      const { bytesWritten } = await seg.fh.write(buf, written, bytes - written, seg.size + written)
      written += bytesWritten
    }
    seg.positions.push(...positions)
    seg.size += bytes
    seg.count = count
    part.end += records.length
  }

  /**
   * Every reader of the partition is past `offset`: the recent records before it leave memory (a reader
   * that comes back for them reads them from the segment). Without this, a reader that keeps up still left
   * RECENT_RECORDS to 2 x RECENT_RECORDS records per partition alive, each a view pinning its append's
   * buffer: hundreds of thousands of old-generation objects that every garbage collection had to walk.
   */
  release(partition: number, offset: number): void {
    const part = this.part(partition)
    const drop = Math.min(offset - part.recentStart, part.recent.length)
    if (drop <= 0) return
    // Cut from the front in place: a copy of what remains per call would cost more than it frees.
    part.recent.splice(0, drop)
    part.recentStart += drop
  }

  /**
   * Up to `max` records from `from` (clamped to the end); `nextOffset` is where to continue. Records are
   * Buffers, or the strings they were appended as when they still come from memory.
   */
  async read(partition: number, from: number, max: number): Promise<{ records: (Buffer | string)[]; nextOffset: number }> {
    const part = this.part(partition)
    if (from < 0) from = 0
    if (from >= part.visible || max <= 0) return { records: [], nextOffset: from }
    if (from >= part.recentStart && part.recent.length > 0) {
      const i = from - part.recentStart
      const records = part.recent.slice(i, Math.min(part.recent.length, i + max))
      return { records, nextOffset: from + records.length }
    }
    let { segment, position } = this.locate(part, from)
    let offset = from
    const records: Buffer[] = []
    while (records.length < max && offset < part.visible) {
      const segEnd = Math.min(segment.base + segment.count, part.visible)
      if (offset >= segEnd) {
        const next = offset >= segment.base + segment.count ? part.segments[part.segments.indexOf(segment) + 1] : undefined
        if (next === undefined) break
        segment = next
        position = 0
        continue
      }
      const want = Math.min(READ_CHUNK, segment.size - position)
      let chunk = Buffer.allocUnsafe(want)
      const { bytesRead } = await segment.fh.read(chunk, 0, want, position)
      chunk = chunk.subarray(0, bytesRead)
      let at = 0
      while (records.length < max && offset < segEnd && at + HEADER <= chunk.length) {
        const len = chunk.readUInt32LE(at)
        if (at + HEADER + len > chunk.length) break
        records.push(chunk.subarray(at + HEADER, at + HEADER + len))
        at += HEADER + len
        offset++
      }
      if (at === 0) {
        // One record larger than the chunk: read it alone.
        const len = chunk.readUInt32LE(0)
        const big = Buffer.allocUnsafe(len)
        await segment.fh.read(big, 0, len, position + HEADER)
        records.push(big)
        at = HEADER + len
        offset++
      }
      position += at
    }
    part.cursor = { offset, segment, position }
    return { records, nextOffset: offset }
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.writing) await new Promise((r) => setImmediate(r))
      for (const part of this.partitions) for (const s of part.segments) await s.fh.close()
      await this.commits.close()
    })()
    return this.closing
  }

  private part(partition: number): Partition {
    const part = this.partitions[partition]
    if (part === undefined) throw new Error(`partition ${partition} does not exist (the log has ${this.partitions.length})`)
    return part
  }

  /** The segment holding `offset` and the record's file position. */
  private locate(part: Partition, offset: number): { segment: Segment; position: number } {
    const c = part.cursor
    if (c !== null && c.offset === offset && part.segments.includes(c.segment)) return { segment: c.segment, position: c.position }
    let lo = 0
    let hi = part.segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (part.segments[mid]!.base <= offset) lo = mid
      else hi = mid - 1
    }
    const segment = part.segments[lo]!
    const rel = offset - segment.base
    const slot = Math.floor(rel / INDEX_EVERY)
    let position = segment.positions[slot] ?? 0
    // Walk forward over at most INDEX_EVERY - 1 record headers.
    const header = Buffer.allocUnsafe(4)
    for (let i = slot * INDEX_EVERY; i < rel; i++) {
      readHeaderSync(segment, position, header)
      position += HEADER + header.readUInt32LE(0)
    }
    return { segment, position }
  }
}

/** The payload's size in the log: a string's UTF-8 length. */
function payloadLength(record: Buffer | string): number {
  return typeof record === 'string' ? Buffer.byteLength(record, 'utf8') : record.length
}

/**
 * Writes one framed record (header, then `n` payload bytes) at `pos`; returns the position after it. A
 * string whose UTF-8 length is its length is ASCII, so its Latin-1 bytes are its UTF-8 bytes: copying them
 * costs far less than encoding (JSON events are mostly ASCII).
 */
function writeFrame(buf: Buffer, pos: number, record: Buffer | string, n: number): number {
  const at = pos + HEADER
  if (typeof record !== 'string') buf.set(record, at)
  else buf.write(record, at, n, n === record.length ? 'latin1' : 'utf8')
  buf.writeUInt32LE(n, pos)
  buf.writeUInt32LE(crc32(buf, at, at + n), pos + 4)
  return at + n
}

/** Header walk within a segment; the sparse index bounds it to a few hundred small reads. */
function readHeaderSync(segment: Segment, position: number, into: Buffer): void {
  const fs = segmentFds.get(segment)
  if (fs === undefined) throw new Error('segment not open')
  readSync(fs, into, 0, 4, position)
}

const segmentFds = new WeakMap<Segment, number>()

function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}.log`
}

async function openPartition(dir: string): Promise<Partition> {
  await mkdir(dir, { recursive: true })
  const names = (await readdir(dir)).filter((n) => /^\d{20}\.log$/.test(n)).sort()
  const segments: Segment[] = []
  for (let i = 0; i < names.length; i++) {
    const seg = await openSegment(join(dir, names[i]!), Number(names[i]!.slice(0, 20)), i === names.length - 1)
    if (segments.length > 0) {
      const prev = segments[segments.length - 1]!
      if (prev.base + prev.count !== seg.base) throw new Error(`log ${dir}: segment ${names[i]} does not follow the previous one`)
    }
    segments.push(seg)
  }
  if (segments.length === 0) segments.push(await openSegment(join(dir, segmentName(0)), 0, true))
  const last = segments[segments.length - 1]!
  const end = last.base + last.count
  return { dir, segments, end, visible: end, cursor: null, recent: [], recentStart: end, scratch: Buffer.alloc(0) }
}

/** Opens a segment, indexes its records and truncates a torn tail (only the last segment may have one). */
async function openSegment(path: string, base: number, isLast: boolean): Promise<Segment> {
  // Not O_APPEND: writes go to the position of the last whole record, so a write that failed half-way is
  // overwritten by the next one instead of leaving garbage in the middle of the segment.
  const fh = await open(path, constants.O_RDWR | constants.O_CREAT)
  const { size: fileSize } = await fh.stat()
  const positions: number[] = []
  let position = 0
  let count = 0
  let chunk: Buffer = Buffer.alloc(0)
  let chunkStart = 0
  let torn = false
  while (position < fileSize) {
    if (position + HEADER > chunkStart + chunk.length) {
      chunk = await readAt(fh, position, Math.max(READ_CHUNK, HEADER))
      chunkStart = position
      if (chunk.length < HEADER) {
        torn = true
        break
      }
    }
    const at = position - chunkStart
    const len = chunk.readUInt32LE(at)
    if (len > MAX_RECORD || position + HEADER + len > fileSize) {
      torn = true
      break
    }
    if (at + HEADER + len > chunk.length) {
      chunk = await readAt(fh, position, Math.max(READ_CHUNK, HEADER + len))
      chunkStart = position
      continue
    }
    if (crc32(chunk, at + HEADER, at + HEADER + len) !== chunk.readUInt32LE(at + 4)) {
      torn = true
      break
    }
    if (count % INDEX_EVERY === 0) positions.push(position)
    position += HEADER + len
    count++
  }
  if (torn) {
    if (!isLast) throw new Error(`log segment ${path} is corrupt at byte ${position}`)
    await fh.truncate(position)
  }
  const seg: Segment = { base, path, fh, size: position, count, positions }
  segmentFds.set(seg, fh.fd)
  return seg
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  const { bytesRead } = await fh.read(buf, 0, length, position)
  return buf.subarray(0, bytesRead)
}

async function roll(part: Partition): Promise<Segment> {
  const seg = await openSegment(join(part.dir, segmentName(part.end)), part.end, true)
  part.segments.push(seg)
  return seg
}

/**
 * A stable partition for a key: FNV-1a over its UTF-8 bytes. An ASCII key's characters are its bytes, so
 * it is hashed without encoding it first (one Buffer per inserted record otherwise).
 */
export function partitionFor(key: string, partitions: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0x80) return partitionOfBytes(Buffer.from(key, 'utf8'), partitions)
    h ^= c
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % partitions
}

function partitionOfBytes(bytes: Buffer, partitions: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % partitions
}

function mark(part: Partition): PartitionMark {
  const last = part.segments[part.segments.length - 1]!
  return { segments: part.segments.length, size: last.size, count: last.count, positions: last.positions.length, end: part.end }
}

/** Cuts a group that failed off a partition: segments it rolled to go, the last one shrinks back. */
async function rollBack(part: Partition, m: PartitionMark): Promise<void> {
  for (const seg of part.segments.splice(m.segments)) {
    await seg.fh.close().catch(() => undefined)
    await unlink(seg.path).catch(() => undefined)
  }
  const last = part.segments[part.segments.length - 1]!
  last.size = m.size
  last.count = m.count
  last.positions.length = m.positions
  part.end = m.end
  part.cursor = null
  // Frames of the failed group past `size` would be overwritten by the next write anyway; cutting them off
  // frees their space now (it is what a full disk needs) and keeps the file's tail clean for the next open.
  await last.fh.truncate(m.size).catch(() => undefined)
}

/** Makes a committed group's records readable, and keeps them in memory for readers that keep up. */
function publish(part: Partition, records: readonly (Buffer | string)[]): void {
  if (records.length === 0) return
  if (part.recentStart + part.recent.length !== part.visible) {
    part.recent = []
    part.recentStart = part.visible
  }
  for (const r of records) part.recent.push(r)
  part.visible += records.length
  if (part.recent.length > RECENT_RECORDS * 2) {
    const drop = part.recent.length - RECENT_RECORDS
    part.recent.splice(0, drop)
    part.recentStart += drop
  }
}

/** Cuts a partition back to `end` records (on open, past the committed end). */
async function truncatePartition(part: Partition, end: number): Promise<void> {
  while (part.segments.length > 1 && part.segments[part.segments.length - 1]!.base >= end) {
    const seg = part.segments.pop()!
    await seg.fh.close()
    await unlink(seg.path)
  }
  const seg = part.segments[part.segments.length - 1]!
  const keep = Math.max(0, end - seg.base)
  let position = seg.positions[Math.floor(keep / INDEX_EVERY)] ?? 0
  const header = Buffer.allocUnsafe(4)
  for (let i = Math.floor(keep / INDEX_EVERY) * INDEX_EVERY; i < keep; i++) {
    readHeaderSync(seg, position, header)
    position += HEADER + header.readUInt32LE(0)
  }
  await seg.fh.truncate(position)
  seg.size = position
  seg.count = keep
  seg.positions.length = Math.ceil(keep / INDEX_EVERY)
  part.end = seg.base + keep
}
