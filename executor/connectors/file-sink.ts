/**
 * A sink into rolling files (JSON lines, CSV or Parquet), exactly once, with no partial file ever visible.
 *
 * The file being written has a hidden temporary name (`.name.tmp`; Parquet: its rows in `.name.jsonl.tmp`).
 * Each delivered batch is appended to it and fsynced, then the sink's progress file (`.sluice-<sink>.json`,
 * replaced atomically by rename) records the temporary file's length and the last batch in it. After a crash
 * the temporary file is cut back to the recorded length, so a batch appended but not recorded is appended
 * again, once; a recorded batch is skipped. When the file is due (`roll` elapsed since it was opened, or
 * `size` reached) it is fsynced (Parquet: written from its rows) and renamed to its final name
 * `<sink>-<opened, UTC>-<sequence>.<ext>`; a crash between the rename and the progress update is recognised
 * by the final file being there.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs'
import { appendFile, mkdir, readFile, readdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Column } from '../../common/types.ts'
import type { SinkDef } from '../../planner/sink-plan.ts'
import type { SinkFileFormat } from '../../planner/sink-target-plan.ts'
import { writeParquet } from './parquet-writer.ts'
import { recordRow, valueText, type SinkBatch, type SinkRecord, type SinkTarget } from './sink-target.ts'

interface OpenFile {
  readonly name: string
  readonly openedAt: number
  /** Bytes of the temporary file that hold recorded batches. */
  readonly bytes: number
  /** Rows in those bytes (a file without any is not published). */
  readonly rows: number
}

interface FileProgress {
  /** The last batch written to a file (open or complete). */
  readonly last: number
  readonly sequence: number
  readonly open: OpenFile | null
}

const EXTENSIONS: Record<SinkFileFormat, string> = { jsonl: 'jsonl', csv: 'csv', parquet: 'parquet' }
const DELETED = 'sluice_deleted'

export class FileSinkTarget implements SinkTarget {
  readonly deadLetters = 0
  private progress: FileProgress = { last: -1, sequence: 0, open: null }
  /** Deliveries and rolls, one at a time. */
  private work: Promise<void> = Promise.resolve()
  private readonly timer: NodeJS.Timeout | null
  private readonly format: SinkFileFormat
  private readonly rollMs: number
  private readonly rollBytes: number
  private readonly columns: readonly Column[]
  private readonly extra: readonly string[]

  private constructor(
    private readonly def: SinkDef,
    private readonly dir: string,
  ) {
    const t = def.target.kind === 'files' ? def.target : { format: 'jsonl' as const, rollMs: 3_600_000, rollBytes: 0 }
    this.format = t.format
    this.rollMs = t.rollMs
    this.rollBytes = t.rollBytes
    this.columns = def.columns
    this.extra = def.mode === 'upsert' ? [DELETED] : []
    // A file whose time is up is completed even when nothing new arrives.
    this.timer = this.rollMs > 0 ? setInterval(() => void this.serial(() => this.rollIfDue()).catch(() => undefined), Math.max(100, Math.min(1000, this.rollMs / 10))) : null
    this.timer?.unref()
  }

  static async open(def: SinkDef, dir: string, _prepare: boolean): Promise<FileSinkTarget> {
    const target = new FileSinkTarget(def, dir)
    await mkdir(dir, { recursive: true })
    await target.recover()
    return target
  }

  private get progressPath(): string {
    return join(this.dir, `.sluice-${this.def.name}.json`)
  }

  private tempPath(name: string): string {
    return join(this.dir, this.format === 'parquet' ? `.${name}.jsonl.tmp` : `.${name}.tmp`)
  }

  /** Cuts the open file back to what the progress file recorded, or finishes a rename a crash interrupted. */
  private async recover(): Promise<void> {
    const raw = await readFile(this.progressPath, 'utf8').catch(() => null)
    if (raw === null) return
    this.progress = JSON.parse(raw) as FileProgress
    const open = this.progress.open
    if (open === null) return
    const temp = this.tempPath(open.name)
    const size = (await stat(temp).catch(() => null))?.size
    if (size === undefined) {
      if (await exists(join(this.dir, open.name))) {
        // Renamed before the crash: the file is complete.
        await this.record({ ...this.progress, open: null })
      } else if (open.bytes > 0) {
        throw new Error(`file sink "${this.def.name}": ${temp} is missing; it held rows up to batch ${this.progress.last}`)
      }
      return
    }
    if (size > open.bytes) await truncate(temp, open.bytes)
    if (this.format === 'parquet') await rm(join(this.dir, `.${open.name}.tmp`), { force: true })
  }

  deliver(batches: readonly SinkBatch[]): Promise<void> {
    return this.serial(async () => {
      const todo = batches.filter((b) => b.batch > this.progress.last)
      if (todo.length === 0) return
      let open = this.progress.open
      if (open === null) {
        open = { name: this.fileName(this.progress.sequence, Date.now()), openedAt: Date.now(), bytes: 0, rows: 0 }
        // Recorded before the first byte: a crash leaves a temporary file that recovery empties.
        await this.record({ last: this.progress.last, sequence: this.progress.sequence + 1, open })
      }
      if (this.format === 'csv' && open.bytes === 0) {
        // Every CSV file starts with its header (also one a crash emptied again).
        const header = `${[...this.columns.map((c) => csvField(c.name)), ...this.extra].join(',')}\n`
        await appendDurably(this.tempPath(open.name), header)
        open = { ...open, bytes: Buffer.byteLength(header) }
        await this.record({ ...this.progress, open })
      }
      let rows = 0
      const text = todo.map((b) => this.encode(b.records, (n) => (rows += n))).join('')
      await appendDurably(this.tempPath(open.name), text)
      await this.record({ ...this.progress, last: todo[todo.length - 1]!.batch, open: { ...open, bytes: open.bytes + Buffer.byteLength(text), rows: open.rows + rows } })
      await this.rollIfDue()
    })
  }

  private fileName(sequence: number, openedAt: number): string {
    const stamp = new Date(openedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
    return `${this.def.name}-${stamp}-${String(sequence).padStart(6, '0')}.${EXTENSIONS[this.format]}`
  }

  private encode(records: readonly SinkRecord[], count: (rows: number) => void): string {
    let out = ''
    let n = 0
    for (const r of records) {
      if (this.def.mode === 'append' && r.value === null) continue
      n++
      switch (this.format) {
        case 'jsonl':
          out += r.value !== null ? (this.extra.length === 0 ? r.value : `${r.value.slice(0, -1)}${r.value.length > 2 ? ',' : ''}"${DELETED}":false}`) : this.tombstoneJson(r)
          break
        case 'csv': {
          const row = recordRow(r, this.columns, this.def.keyColumns)
          const fields = row.map((v, i) => {
            const t = valueText(v, this.columns[i]!, 'json')
            return t === null ? '' : csvField(t)
          })
          if (this.extra.length > 0) fields.push(r.value === null ? 'true' : 'false')
          out += fields.join(',')
          break
        }
        case 'parquet': {
          const row = recordRow(r, this.columns, this.def.keyColumns)
          if (this.extra.length > 0) row.push(r.value === null)
          out += JSON.stringify(row)
          break
        }
      }
      out += '\n'
    }
    count(n)
    return out
  }

  private tombstoneJson(r: SinkRecord): string {
    const row = recordRow(r, this.columns, this.def.keyColumns)
    const o: Record<string, unknown> = {}
    for (const k of this.def.keyColumns) o[this.columns[k]!.name] = row[k]
    o[DELETED] = true
    return JSON.stringify(o)
  }

  private async rollIfDue(): Promise<void> {
    const open = this.progress.open
    if (open === null) return
    const bySize = this.rollBytes > 0 && open.bytes >= this.rollBytes
    const byTime = this.rollMs > 0 && Date.now() - open.openedAt >= this.rollMs
    if (!bySize && !byTime) return
    await this.complete(open)
  }

  /** Publishes the open file under its final name (a file without rows is removed instead). */
  private async complete(open: OpenFile): Promise<void> {
    const temp = this.tempPath(open.name)
    const final = join(this.dir, open.name)
    if (open.rows === 0) {
      // Nothing in it (a crash emptied it again): not published.
      await this.record({ ...this.progress, open: null })
      await rm(temp, { force: true })
      return
    }
    if (this.format === 'parquet') {
      const written = join(this.dir, `.${open.name}.tmp`)
      await writeParquet(temp, written, this.columns, this.extra)
      fsyncPath(written)
      await rename(written, final)
      fsyncPath(this.dir)
      await this.record({ ...this.progress, open: null })
      await rm(temp, { force: true })
      return
    }
    fsyncPath(temp)
    await rename(temp, final)
    fsyncPath(this.dir)
    await this.record({ ...this.progress, open: null })
  }

  /** Replaces the progress file atomically (write, fsync, rename). */
  private async record(progress: FileProgress): Promise<void> {
    const tmp = `${this.progressPath}.tmp`
    await writeFile(tmp, JSON.stringify(progress))
    fsyncPath(tmp)
    await rename(tmp, this.progressPath)
    fsyncPath(this.dir)
    this.progress = progress
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const run = this.work.then(f)
    this.work = run.catch(() => undefined)
    return run
  }

  send(): Promise<void> {
    return Promise.reject(new Error('file sinks are exactly once: batches go through deliver'))
  }

  lastDelivered(): Promise<number> {
    return Promise.resolve(this.progress.last)
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    await this.work
  }

  /**
   * DROP SINK, after close: the open file's rows were delivered, so it is completed as at a roll (nothing
   * delivered disappears); then what the sink kept for itself goes: its progress file and any hidden
   * temporary file of its own (a crash's leftovers included). The published files stay.
   */
  async drop(): Promise<void> {
    await this.serial(async () => {
      const open = this.progress.open
      if (open !== null) await this.complete(open)
      const own = new RegExp(`^\\.${escapeRegExp(this.def.name)}-\\d{8}T\\d{6}Z-\\d{6,}\\.${EXTENSIONS[this.format]}(\\.jsonl)?\\.tmp$`)
      for (const f of await readdir(this.dir).catch(() => [] as string[])) {
        if (own.test(f)) await rm(join(this.dir, f), { force: true })
      }
      await rm(`${this.progressPath}.tmp`, { force: true })
      await rm(this.progressPath, { force: true })
      fsyncPath(this.dir)
    })
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

async function appendDurably(path: string, text: string): Promise<void> {
  if (text.length === 0) return
  await appendFile(path, text)
  fsyncPath(path)
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s
}
