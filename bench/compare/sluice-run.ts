/**
 * The Sluice driver of the Sluice-vs-Flink benchmark (bench/compare/README.md): runs one workload in an
 * embedded engine (RocksDB state in a temporary directory) over one input file, writes the final rows of
 * the result view and prints one DRIVER_RESULT line.
 *
 *   node --import tsx bench/compare/sluice-run.ts --workload player_profile --data DIR --out FILE
 *
 * The input, as Flink's driver reads it with its filesystem source, is a file stream over the input file
 * (`--source file`, the default: `connector = 'file'`, the file put in the engine's file directory when the
 * clock starts). `--source log` instead inserts the file's lines (as bytes) in chunks into the stream's
 * embedded log (insertJson), which also pays for the log's durable copy of every event.
 *
 * Inside the clock: reading and decoding the file, closing the stream (end of input: every window
 * finalizes, as Flink finalizes them at the end of a bounded input), and waiting until the result view has
 * processed everything. Outside: counting the file's lines (as Flink's driver does), writing the rows,
 * which are read from the view's state as a pull query reads them. A workload Sluice cannot express prints
 * DRIVER_UNSUPPORTED with the reason.
 */
import { createReadStream, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { SluiceError } from '../../common/errors.ts'
import type { Column, Value } from '../../common/types.ts'
import { Engine } from '../../executor/engine.ts'
import { initParser, parseStatements } from '../../parser/index.ts'
import { workload as workloadNamed } from './workloads.ts'

/** Lines per insertJson call: large enough that the per-call cost vanishes, small enough to keep memory flat. */
const CHUNK_LINES = 10_000
/** Bytes per read of the input file. */
const READ_BYTES = 4 << 20
/** The contract allows checkpoints every 10 s (Flink runs without); Sluice's default is 500 ms. */
const CHECKPOINT_MS = 10_000

/** The cell of the contract for one value of a column: timestamps as epoch ms, non-finite numbers as null. */
export function cell(v: Value, column: Column): unknown {
  if (v === null) return null
  switch (column.type.name) {
    case 'timestamptz':
    case 'timestamp':
    case 'date':
      return Math.round((v as number) / 1000)
    default:
      if (typeof v === 'number') return Number.isFinite(v) ? v : null
      if (typeof v === 'string' || typeof v === 'boolean') return v
      return JSON.stringify(v)
  }
}

/** Peak resident set size of this process (VmHWM), in MiB. */
export function peakRssMib(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return m === null ? process.resourceUsage().maxRSS / 1024 : Number(m[1]) / 1024
}

/**
 * Calls `onChunk` with the file's lines as bytes (views into the reads, no newline), CHUNK_LINES at a time
 * (the last line may lack its newline). The engine stores records as given, so the file is never decoded
 * to text and encoded back: the decoder reads each record's bytes once. A line that spans two reads is
 * joined from its two parts alone.
 */
export async function readLines(path: string, onChunk: (lines: Buffer[]) => Promise<void>, chunkLines = CHUNK_LINES, readBytes = READ_BYTES): Promise<number> {
  let rest: Buffer | null = null
  let chunk: Buffer[] = []
  let count = 0
  const flush = async (): Promise<void> => {
    count += chunk.length
    await onChunk(chunk)
    chunk = []
  }
  for await (const data of createReadStream(path, { highWaterMark: readBytes })) {
    const bytes = data as Buffer
    let start = 0
    for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
      const line: Buffer = rest !== null ? Buffer.concat([rest, bytes.subarray(start, nl)]) : bytes.subarray(start, nl)
      rest = null
      start = nl + 1
      if (line.length === 0) continue
      chunk.push(line)
      if (chunk.length === chunkLines) await flush()
    }
    if (start < bytes.length) rest = rest === null ? bytes.subarray(start) : Buffer.concat([rest, bytes.subarray(start)])
  }
  if (rest !== null) chunk.push(rest)
  if (chunk.length > 0) await flush()
  return count
}

/** The file stream's name for the input in the engine's file directory. */
const INPUT_NAME = 'input.jsonl'

/** The workload's CREATE STREAM as a file stream over INPUT_NAME: its WITH options replaced. */
export function asFileStream(sql: string): string {
  const at = sql.search(/\)\s*WITH\s*\(/i)
  const withOptions = `) WITH (connector = 'file', path = '${INPUT_NAME}', format = 'json')`
  if (at === -1) return sql.replace(/\)\s*;?\s*$/, `${withOptions};`)
  const close = sql.indexOf(')', sql.indexOf('(', at + 1))
  return `${sql.slice(0, at)}${withOptions}${sql.slice(close + 1)}`
}

/** Lines in the file (a last line without a newline counts), as the contract counts events. */
async function countLines(path: string): Promise<number> {
  let lines = 0
  let last = 10
  for await (const data of createReadStream(path, { highWaterMark: READ_BYTES })) {
    const bytes = data as Buffer
    for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, nl + 1)) lines++
    if (bytes.length > 0) last = bytes[bytes.length - 1]!
  }
  return last === 10 ? lines : lines + 1
}

async function run(name: string, data: string, out: string, source: 'file' | 'log'): Promise<void> {
  await initParser()
  const w = workloadNamed(name)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-compare-'))
  const files = join(dir, 'files')
  await mkdir(files)
  const engine = await Engine.open({ dataDir: join(dir, 'data'), checkpointIntervalMs: CHECKPOINT_MS, batchSize: 4096, fileDir: files })
  try {
    try {
      for (const p of parseStatements(w.sql)) {
        const s = p.statement
        if (s.kind === 'create_stream' && source === 'file') {
          const text = asFileStream(p.text)
          const [parsed] = parseStatements(text)
          if (parsed?.statement.kind !== 'create_stream') throw new Error(`not a stream: ${text}`)
          await engine.createStream(parsed.statement, parsed.text)
        } else if (s.kind === 'create_stream') await engine.createStream(s, p.text)
        else if (s.kind === 'create_view') await engine.createView(s, p.text)
        else throw new Error(`unexpected statement in ${name}: ${p.text}`)
      }
    } catch (err) {
      if (err instanceof SluiceError && err.sqlstate === '0A000') {
        console.log(`DRIVER_UNSUPPORTED workload=${name} reason=${err.message.replace(/\s+/g, ' ')} (SQLSTATE ${err.sqlstate})`)
        return
      }
      throw err
    }

    const input = join(data, w.file)
    const lineCount = source === 'file' ? await countLines(input) : 0
    const t0 = performance.now()
    const clockStart = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    let events = lineCount
    if (source === 'file') symlinkSync(resolve(input), join(files, INPUT_NAME))
    else events = await readLines(input, async (lines) => void (await engine.insertJson(w.stream, lines)))
    await engine.closeStream(w.stream)
    const views = engine.allQueries().map((q) => q.name)
    for (const v of views) await engine.waitCaughtUp(v, 3_600_000)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    // For profiles (node --cpu-prof): the clocked interval on the clock the profile's timestamps use.
    console.error(`DRIVER_CLOCK start_us=${clockStart / 1000n} end_us=${process.hrtime.bigint() / 1000n}`)

    for (const q of engine.allQueries()) {
      if (q.status !== 'running') throw new Error(`${q.name} failed: ${q.lastError?.message}`)
      // A view over a view counts the rows it read, not the stream's events.
      if (q.view.plan.source.source.kind !== 'view' && q.eventsIn !== events) throw new Error(`${q.name} processed ${q.eventsIn} of ${events} events`)
    }
    if (engine.deadLetterCount > 0) throw new Error(`${engine.deadLetterCount} records did not decode: ${JSON.stringify((await engine.deadLetters())[0])}`)
    const late = await engine.lateEvents()
    if (late.length > 0) throw new Error(`${late.length} late events, e.g. ${JSON.stringify(late[0])}`)

    const columns = engine.query(w.result)!.view.columns
    const lines: string[] = []
    for await (const row of engine.viewRows(w.result)) lines.push(JSON.stringify(row.map((v, i) => cell(v, columns[i]!))))
    writeFileSync(out, lines.length > 0 ? `${lines.join('\n')}\n` : '')
    console.log(
      `DRIVER_RESULT workload=${name} events=${events} seconds=${seconds.toFixed(3)} eps=${Math.round(events / seconds)} rows=${lines.length} peak_rss_mib=${peakRssMib().toFixed(1)} cpu_seconds=${cpuSeconds.toFixed(3)}`,
    )
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { workload: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, source: { type: 'string', default: 'file' } } })
  if (values.workload === undefined || values.data === undefined || values.out === undefined || (values.source !== 'file' && values.source !== 'log')) {
    throw new Error('usage: sluice-run.ts --workload <name> --data <dir> --out <file> [--source file|log]')
  }
  await run(values.workload, values.data, values.out, values.source)
}

if (process.argv[1] === import.meta.filename) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
