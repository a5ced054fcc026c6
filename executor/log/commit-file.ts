/**
 * The commit point of a stream's embedded log: the end offset of every partition as of the last batch
 * appended whole. A batch of records spread over several partitions is written to the partitions first,
 * then one small record here makes it part of the log; on open, any partition bytes past the committed
 * ends are a batch that was cut short (a crash, a full disk) and are cut off. That is what makes an
 * INSERT, a COPY or an HTTP batch all-or-nothing across partitions.
 *
 *   <dir>/commits    record = u32 length | u32 crc32(payload) | payload
 *                    payload = f64 sequence | u32 partitions | f64 end per partition
 *
 * The last whole record wins; a torn tail is ignored. The file is rewritten (to a temporary name, then
 * renamed over) once it grows past REWRITE_BYTES, so it stays a few kilobytes.
 */
import { constants } from 'node:fs'
import { open, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from './crc32.ts'

const HEADER = 8
const REWRITE_BYTES = 1 << 20
const FILE = 'commits'

export class CommitFile {
  private constructor(
    private readonly dir: string,
    private fh: FileHandle,
    private size: number,
    private sequence: number,
    /** The ends of the last record read or written; null when the file has none. */
    private lastEnds: readonly number[] | null,
  ) {}

  static async open(dir: string): Promise<CommitFile> {
    const fh = await open(join(dir, FILE), constants.O_RDWR | constants.O_CREAT)
    const { size: fileSize } = await fh.stat()
    const buf = Buffer.allocUnsafe(fileSize)
    if (fileSize > 0) await fh.read(buf, 0, fileSize, 0)
    let position = 0
    let last: { sequence: number; ends: number[] } | null = null
    while (position + HEADER <= fileSize) {
      const len = buf.readUInt32LE(position)
      const at = position + HEADER
      if (at + len > fileSize || crc32(buf, at, at + len) !== buf.readUInt32LE(position + 4)) break
      last = decode(buf.subarray(at, at + len))
      position = at + len
    }
    return new CommitFile(dir, fh, position, last?.sequence ?? 0, last?.ends ?? null)
  }

  /** Partition ends as of the last committed batch; null for a log that never committed one. */
  get committedEnds(): readonly number[] | null {
    return this.lastEnds
  }

  /** Records `ends` as committed; resolves once the record is written (the batch is then durable). */
  async commit(ends: readonly number[]): Promise<void> {
    const record = encode(++this.sequence, ends)
    if (this.size + record.length > REWRITE_BYTES) {
      await this.rewrite(record)
    } else {
      await writeAll(this.fh, record, this.size)
      this.size += record.length
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

function encode(sequence: number, ends: readonly number[]): Buffer {
  const len = 8 + 4 + 8 * ends.length
  const buf = Buffer.allocUnsafe(HEADER + len)
  buf.writeUInt32LE(len, 0)
  buf.writeDoubleLE(sequence, HEADER)
  buf.writeUInt32LE(ends.length, HEADER + 8)
  ends.forEach((e, i) => buf.writeDoubleLE(e, HEADER + 12 + 8 * i))
  buf.writeUInt32LE(crc32(buf, HEADER, HEADER + len), 4)
  return buf
}

function decode(payload: Buffer): { sequence: number; ends: number[] } {
  const n = payload.readUInt32LE(8)
  return { sequence: payload.readDoubleLE(0), ends: Array.from({ length: n }, (_, i) => payload.readDoubleLE(12 + 8 * i)) }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let written = 0
  while (written < buf.length) {
    const { bytesWritten } = await fh.write(buf, written, buf.length - written, position + written)
    written += bytesWritten
  }
}
