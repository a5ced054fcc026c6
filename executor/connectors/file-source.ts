/**
 * A stream whose events are the lines of a local file (`connector = 'file'`): JSON objects or CSV/TSV
 * lines, one per line, as a producer appends them or as a backfill left them. The file itself is the
 * durable record, as a Kafka topic is: nothing is copied into the embedded log, and a view's position in
 * it is a byte offset, committed with the view's state in its checkpoint, so a restart resumes exactly
 * where the checkpoint left off.
 *
 * One partition. The readable end is the byte after the last complete line; a last line without its
 * newline is read once the stream is closed (ALTER STREAM ... CLOSE: the file is finished). The file is
 * watched by polling its size: appended lines are read within POLL_MS. A file that is truncated or
 * replaced is not followed (a stream reads one file that only grows); empty lines are skipped.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { isAscii } from 'node:buffer'
import { SqlState, executionError, type SluiceError } from '../../common/errors.ts'
import { recordText } from '../record-text.ts'
import type { PackedBatch, SourceBatch, StreamSource } from '../source.ts'

/** How often the file's size is looked at for appended lines. */
const POLL_MS = 200
/** Bytes read per read call; a longer line is read into a buffer of its own. */
const READ_BYTES = 1 << 20
/** A longer line is not read into memory: it becomes a record saying so, which decodes as a dead letter. */
export const MAX_LINE_BYTES = 16 << 20

export class FileSource implements StreamSource {
  readonly partitionCount = 1
  /** The byte after the last complete line known (after the whole file once finished). */
  private end = 0
  /** Bytes of the file seen so far; `end` stops at the last newline within them. */
  private size = 0
  private fh: FileHandle | null = null
  /**
   * The read buffer, reused from one read to the next (records leave it as strings). Reads can overlap (the
   * engine's scan, a SUBSCRIBE's tail, a SELECT of the stream): one that finds it taken uses its own.
   */
  private free: Buffer | null = Buffer.allocUnsafe(READ_BYTES)
  private finished = false
  /** Bytes per line in the last packed read: how much the next one reads. */
  private lineBytes = 256
  private polling: Promise<void> | null = null
  private readonly timer: NodeJS.Timeout
  /** The last failure of the watcher, reported once (it keeps trying); null while it succeeds. */
  private failure: string | null = null

  private constructor(
    readonly path: string,
    /** The path as the stream names it, for messages (the server's directory stays out of them). */
    private readonly label: string,
    private readonly onGrow: () => void,
  ) {
    this.timer = setInterval(() => {
      this.refresh().then(
        () => (this.failure = null),
        (err: unknown) => {
          const message = (err as Error).message
          if (message !== this.failure) console.error(`sluice: file stream over "${label}": ${message}`)
          this.failure = message
        },
      )
    }, POLL_MS)
    this.timer.unref()
  }

  /**
   * Opens the file stream at `path` (which may not exist yet: the stream waits for it). `finished`: the
   * stream was closed, so its last line counts without a newline. A path that is not a regular file, or
   * that cannot be read, fails here with 42809 or 58030.
   */
  static async open(path: string, label: string, onGrow: () => void, finished = false): Promise<FileSource> {
    const source = new FileSource(path, label, onGrow)
    source.finished = finished
    try {
      await source.refresh()
    } catch (err) {
      await source.close()
      throw err
    }
    return source
  }

  private ioFailure(err: unknown): SluiceError {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    return executionError(SqlState.ioError, `could not read file "${this.label}": ${code}`)
  }

  /** What the watcher last failed with, if its last look failed. */
  get watcherFailure(): string | null {
    return this.failure
  }

  endOffset(_partition: number): number {
    return this.end
  }

  /** The file is complete: its last line needs no newline. Resolves once `endOffset` is the file's size. */
  async finish(): Promise<void> {
    this.finished = true
    // A look already under way may have started before the file's last bytes (or the file) were there.
    await this.polling
    await this.refresh()
  }

  /** Looks for appended bytes and moves `end` to the last complete line; wakes the engine when it moved. */
  refresh(): Promise<void> {
    this.polling ??= this.grow().finally(() => {
      this.polling = null
    })
    return this.polling
  }

  private async grow(): Promise<void> {
    if (this.fh === null) {
      let fh: FileHandle
      try {
        fh = await open(this.path, 'r')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
        throw this.ioFailure(err)
      }
      if (!(await fh.stat()).isFile()) {
        await fh.close()
        throw executionError(SqlState.wrongObjectType, `"${this.label}" is not a regular file`)
      }
      this.fh = fh
    }
    const { size } = await this.fh.stat().catch((err: unknown) => {
      throw this.ioFailure(err)
    })
    if (size <= this.size && !(this.finished && this.end < this.size)) return
    const before = this.end
    if (size > this.size) {
      const lineEnd = await this.lastLineEnd(this.size, size)
      if (lineEnd !== null) this.end = lineEnd
      this.size = size
    }
    if (this.finished) this.end = this.size
    if (this.end > before) this.onGrow()
  }

  /** The byte after the last newline in [from, to), or null when there is none (a line still being written). */
  private async lastLineEnd(from: number, to: number): Promise<number | null> {
    const probe = Buffer.allocUnsafe(64 << 10)
    for (let hi = to; hi > from; ) {
      const lo = Math.max(from, hi - probe.length)
      const { bytesRead } = await this.fh!.read(probe, 0, hi - lo, lo)
      const nl = probe.subarray(0, bytesRead).lastIndexOf(10)
      if (nl !== -1) return lo + nl + 1
      hi = lo
    }
    return null
  }

  async read(_partition: number, from: number, max: number): Promise<SourceBatch> {
    const end = this.end
    const fh = this.fh
    if (from >= end || fh === null) return { records: [], nextOffset: from }
    const buf = this.free ?? Buffer.allocUnsafe(READ_BYTES)
    this.free = null
    try {
      return await this.readInto(fh, buf, from, end, max)
    } finally {
      this.free = buf
    }
  }

  /**
   * Up to `max` lines from `from` within one read of READ_BYTES, in a buffer of their own (the decode thread
   * takes them whole). Null when no whole line fits that read (a long line: `read` handles it).
   */
  async readPacked(_partition: number, from: number, max: number): Promise<PackedBatch | null> {
    const end = this.end
    const fh = this.fh
    if (from >= end || fh === null) return { records: { bytes: new Uint8Array(0), starts: new Int32Array(0), ends: new Int32Array(0), text: new Uint8Array(0) }, offsets: [], nextOffset: from }
    // Enough for `max` lines of the length seen so far, and a quarter more.
    const bytes = Buffer.allocUnsafeSlow(Math.min(end - from, READ_BYTES, Math.max(64 << 10, Math.ceil(this.lineBytes * max * 1.25))))
    const { bytesRead } = await fh.read(bytes, 0, bytes.length, from)
    const starts = new Int32Array(Math.min(max, bytesRead))
    const ends = new Int32Array(starts.length)
    const offsets: number[] = []
    let n = 0
    const start = eachLine(bytes.subarray(0, bytesRead), from + bytesRead === end && this.finished, max, (first, stop) => {
      starts[n] = first
      ends[n++] = stop
      offsets.push(from + first)
    })
    if (start === 0) {
      // No whole line in what was read: read more next time (a line longer than READ_BYTES is `read`'s).
      this.lineBytes = Math.min(this.lineBytes * 4, READ_BYTES)
      return null
    }
    if (n > 0) this.lineBytes = start / n
    return {
      records: { bytes: bytes.subarray(0, Math.min(start, bytesRead)), starts: starts.subarray(0, n), ends: ends.subarray(0, n), text: new Uint8Array(n).fill(1) },
      offsets,
      nextOffset: from + Math.min(start, bytesRead),
    }
  }

  private async readInto(fh: FileHandle, buf: Buffer, from: number, end: number, max: number): Promise<SourceBatch> {
    const records: string[] = []
    const offsets: number[] = []
    let pos = from
    while (records.length < max && pos < end) {
      const want = Math.min(end - pos, buf.length)
      const { bytesRead } = await fh.read(buf, 0, want, pos)
      if (bytesRead === 0) break
      const bytes = buf.subarray(0, bytesRead)
      const ascii = isAscii(bytes)
      const start = eachLine(bytes, pos + bytesRead === end && this.finished, max - records.length, (first, stop) => {
        records.push(ascii ? bytes.toString('latin1', first, stop) : bytes.toString('utf8', first, stop))
        offsets.push(pos + first)
      })
      if (start === 0) {
        // Not one whole line in the buffer: a line longer than it.
        const skipped = await this.longLine(fh, pos, end)
        if (skipped !== null) {
          records.push(skipped.record)
          offsets.push(pos)
          pos = skipped.next
          continue
        }
        break
      }
      pos += Math.min(start, bytesRead)
    }
    return { records, offsets, nextOffset: pos }
  }

  /**
   * A line starting at `pos` that does not fit the read buffer: read whole into a buffer of its own when it
   * is at most MAX_LINE_BYTES, else replaced by a record that says where it was and how long, which fails
   * to decode and lands in the dead-letter table. Null when its end is not readable yet.
   */
  private async longLine(fh: FileHandle, pos: number, end: number): Promise<{ record: string; next: number } | null> {
    const probe = Buffer.allocUnsafe(1 << 20)
    let at = pos
    while (at < end) {
      const { bytesRead } = await fh.read(probe, 0, Math.min(probe.length, end - at), at)
      if (bytesRead === 0) break
      const nl = probe.subarray(0, bytesRead).indexOf(10)
      if (nl !== -1) {
        const length = at + nl - pos
        if (length > MAX_LINE_BYTES) return { record: `line at byte ${pos} is ${length} bytes long, beyond the ${MAX_LINE_BYTES}-byte limit`, next: at + nl + 1 }
        return { record: await lineAt(fh, pos, length), next: at + nl + 1 }
      }
      at += bytesRead
    }
    if (!this.finished || at < end) return null
    const length = end - pos
    if (length > MAX_LINE_BYTES) return { record: `line at byte ${pos} is ${length} bytes long, beyond the ${MAX_LINE_BYTES}-byte limit`, next: end }
    return { record: await lineAt(fh, pos, length), next: end }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.polling
    await this.fh?.close()
    this.fh = null
  }
}

/**
 * Calls `line(start, stop)` for up to `max` non-empty lines of `bytes` (a CR before the newline left out);
 * `atEnd`: the bytes end the finished file, so a last line without its newline counts. Returns where the
 * lines taken end (after the last newline taken): 0 when not one whole line is there.
 */
function eachLine(bytes: Buffer, atEnd: boolean, max: number, line: (start: number, stop: number) => void): number {
  let start = 0
  let n = 0
  while (n < max) {
    let nl = bytes.indexOf(10, start)
    if (nl === -1 && atEnd && start < bytes.length) nl = bytes.length
    if (nl === -1) break
    const stop = nl > start && bytes[nl - 1] === 13 ? nl - 1 : nl
    if (stop > start) {
      line(start, stop)
      n++
    }
    start = nl + 1
  }
  return start
}

/** The `length` bytes of one line at `pos`, as text (a CR before its newline left out). */
async function lineAt(fh: FileHandle, pos: number, length: number): Promise<string> {
  const bytes = Buffer.allocUnsafe(length)
  const { bytesRead } = await fh.read(bytes, 0, length, pos)
  const stop = bytesRead > 0 && bytes[bytesRead - 1] === 13 ? bytesRead - 1 : bytesRead
  return recordText(bytes.subarray(0, stop))
}
