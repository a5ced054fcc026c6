/**
 * The commit point of a stream's embedded log: the end offset of every partition as of the last batch
 * appended whole. A batch of records spread over several partitions is written to the partitions first,
 * then one small record here makes it part of the log; on open, any partition bytes past the committed
 * ends are a batch that was cut short (a crash, a full disk) and are cut off. That is what makes an
 * INSERT, a COPY or an HTTP batch all-or-nothing across partitions.
 *
 *   <dir>/commits    record = u32 length | u32 crc32(payload) | payload
 *                    payload = f64 sequence | u32 partitions | f64 end per partition
 *                              [ | u32 tags | (u32 length | bytes) per tag ]
 *
 * The last whole record wins; a torn tail is ignored. A record may carry tags: small opaque byte strings
 * committed with its batch, so that they exist exactly when the batch does (HTTP ingest's Idempotency-Key
 * and answer: executor/ingest-keys.ts). The newest MAX_TAGS tags of all whole records are kept, oldest
 * dropped first. The file is rewritten (to a temporary name, then renamed over) once it grows past
 * REWRITE_BYTES (or four times the kept tags' bytes, if more); the new file's one record carries the
 * kept tags, so a rewrite forgets none of them.
 */
import { constants } from 'node:fs'
import { open, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from './crc32.ts'

const HEADER = 8
const REWRITE_BYTES = 1 << 20
const FILE = 'commits'
/** How many tags are kept (the newest); as many as HTTP ingest remembers Idempotency-Keys. */
export const MAX_TAGS = 10_000

export class CommitFile {
  private constructor(
    private readonly dir: string,
    private fh: FileHandle,
    private size: number,
    private sequence: number,
    /** The ends of the last record read or written; null when the file has none. */
    private lastEnds: readonly number[] | null,
    /** The kept tags, oldest first. */
    private tags: Buffer[],
    private tagBytes: number,
  ) {}

  static async open(dir: string): Promise<CommitFile> {
    const fh = await open(join(dir, FILE), constants.O_RDWR | constants.O_CREAT)
    const { size: fileSize } = await fh.stat()
    const buf = Buffer.allocUnsafe(fileSize)
    if (fileSize > 0) await fh.read(buf, 0, fileSize, 0)
    let position = 0
    let last: { sequence: number; ends: number[] } | null = null
    let tags: Buffer[] = []
    while (position + HEADER <= fileSize) {
      const len = buf.readUInt32LE(position)
      const at = position + HEADER
      if (at + len > fileSize || crc32(buf, at, at + len) !== buf.readUInt32LE(position + 4)) break
      const record = decode(buf.subarray(at, at + len))
      last = record
      for (const t of record.tags) tags.push(t)
      if (tags.length > 2 * MAX_TAGS) tags = tags.slice(-MAX_TAGS)
      position = at + len
    }
    tags = tags.slice(-MAX_TAGS)
    return new CommitFile(dir, fh, position, last?.sequence ?? 0, last?.ends ?? null, tags, tagBytesOf(tags))
  }

  /** The kept tags of committed batches, oldest first. */
  get committedTags(): readonly Buffer[] {
    return this.tags
  }

  /** Partition ends as of the last committed batch; null for a log that never committed one. */
  get committedEnds(): readonly number[] | null {
    return this.lastEnds
  }

  /**
   * Records `ends` as committed, with `tags` (kept as given: they must not be modified after); resolves
   * once the record is written (the batch and its tags are then durable, together).
   */
  async commit(ends: readonly number[], tags: readonly Buffer[] = []): Promise<void> {
    const sequence = ++this.sequence
    // The newest MAX_TAGS once these are added: the oldest `drop` go.
    const drop = Math.max(0, this.tags.length + tags.length - MAX_TAGS)
    let keptBytes = this.tagBytes + tagBytesOf(tags)
    if (drop > 0) keptBytes -= tagBytesOf(this.tags.slice(0, drop))
    if (this.size + HEADER + payloadLength(ends, tags) > Math.max(REWRITE_BYTES, 4 * keptBytes)) {
      // The new file's one record carries every kept tag, those of this batch included.
      const kept = [...this.tags, ...tags].slice(-MAX_TAGS)
      await this.rewrite(encode(sequence, ends, kept))
      this.tags = kept
      this.tagBytes = tagBytesOf(kept)
    } else {
      const record = encode(sequence, ends, tags)
      await writeAll(this.fh, record, this.size)
      this.size += record.length
      for (const t of tags) this.tags.push(t)
      if (drop > 0) this.tags.splice(0, drop)
      this.tagBytes = keptBytes
    }
    this.lastEnds = [...ends]
  }

  async close(): Promise<void> {
    await this.fh.close()
  }

  /** Starts a new file holding only `record`; the rename is the switch, so a crash keeps one whole file. */
  private async rewrite(record: Buffer): Promise<void> {
    const tmp = join(this.dir, `${FILE}.tmp`)
    const fh = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC)
    try {
      await writeAll(fh, record, 0)
      await fh.sync()
    } catch (err) {
      await fh.close()
      throw err
    }
    await rename(tmp, join(this.dir, FILE))
    await this.fh.close()
    this.fh = fh
    this.size = record.length
  }
}

/** The bytes tags take in a record: each one's length and bytes. */
function tagBytesOf(tags: readonly Buffer[]): number {
  let n = 0
  for (const t of tags) n += 4 + t.length
  return n
}

function payloadLength(ends: readonly number[], tags: readonly Buffer[]): number {
  let len = 8 + 4 + 8 * ends.length
  if (tags.length > 0) len += 4 + tagBytesOf(tags)
  return len
}

function encode(sequence: number, ends: readonly number[], tags: readonly Buffer[]): Buffer {
  const len = payloadLength(ends, tags)
  const buf = Buffer.allocUnsafe(HEADER + len)
  buf.writeUInt32LE(len, 0)
  buf.writeDoubleLE(sequence, HEADER)
  buf.writeUInt32LE(ends.length, HEADER + 8)
  ends.forEach((e, i) => buf.writeDoubleLE(e, HEADER + 12 + 8 * i))
  if (tags.length > 0) {
    let at = HEADER + 12 + 8 * ends.length
    buf.writeUInt32LE(tags.length, at)
    at += 4
    for (const t of tags) {
      buf.writeUInt32LE(t.length, at)
      buf.set(t, at + 4)
      at += 4 + t.length
    }
  }
  buf.writeUInt32LE(crc32(buf, HEADER, HEADER + len), 4)
  return buf
}

function decode(payload: Buffer): { sequence: number; ends: number[]; tags: Buffer[] } {
  const n = payload.readUInt32LE(8)
  const ends = Array.from({ length: n }, (_, i) => payload.readDoubleLE(12 + 8 * i))
  const tags: Buffer[] = []
  let at = 12 + 8 * n
  // Records written before tags existed end here.
  if (at + 4 <= payload.length) {
    const count = payload.readUInt32LE(at)
    at += 4
    for (let i = 0; i < count; i++) {
      const len = payload.readUInt32LE(at)
      tags.push(Buffer.from(payload.subarray(at + 4, at + 4 + len)))
      at += 4 + len
    }
  }
  return { sequence: payload.readDoubleLE(0), ends, tags }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let written = 0
  while (written < buf.length) {
    const { bytesWritten } = await fh.write(buf, written, buf.length - written, position + written)
    written += bytesWritten
  }
}
