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
 * embedded log (insertJson), which also pays for the log's durable copy of every event. `--source kafka
 * --kafka host:port --topic T` reads the file's records from a Kafka topic instead (produced beforehand by
 * generate.ts, from the beginning: `start = 'earliest'`); a Kafka stream cannot be closed, so the end of
 * input is the end marker: the run ends when every view has counted every record and its watermark has
 * passed the marker's time less an hour (every window of the data ends long before: the marker is a day
 * after the last event), so every window has closed.
 *
 * Inside the clock: reading and decoding the file, closing the stream (end of input: every window
 * finalizes, as Flink finalizes them at the end of a bounded input), and waiting until the result view has
 * processed everything. Outside: counting the file's lines (as Flink's driver does), writing the rows,
 * which are read from the view's state as a pull query reads them. A workload Sluice cannot express prints
 * DRIVER_UNSUPPORTED with the reason.
 */
import { closeSync, createReadStream, fstatSync, openSync, readFileSync, readSync, symlinkSync, writeSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { SluiceError, assertNever } from '../../common/errors.ts'
import type { Column, Value } from '../../common/types.ts'
import { Engine } from '../../executor/engine.ts'
import { decodeThreadByDefault } from '../../executor/decode-worker.ts'
import { initParser, parseStatements } from '../../parser/index.ts'
import { workload as workloadNamed, type Workload } from './workloads.ts'

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
    case 'numeric': {
      // The contract's cells are JSON numbers (Flink's DECIMAL and DOUBLE alike); NaN and infinities null.
      const n = Number(v)
      return Number.isFinite(n) ? n : null
    }
    default:
      if (typeof v === 'number') return Number.isFinite(v) ? v : null
      if (typeof v === 'string' || typeof v === 'boolean') return v
      return JSON.stringify(v)
  }
}

/**
 * CPU seconds of this process's main thread alone (Linux: its /proc task entry; NaN elsewhere). Beside the
 * process's CPU, it shows how much of the work the engine's loop does and how much other threads took.
 */
export function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
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

/** Where the driver reads the input from (bench/compare/README.md). */
export type DriverSource = { readonly kind: 'file' } | { readonly kind: 'log' } | { readonly kind: 'kafka'; readonly brokers: string; readonly topic: string }

/** The workload's CREATE STREAM as a file stream over INPUT_NAME: its WITH options replaced. */
export function asFileStream(sql: string): string {
  return withOptions(sql, `connector = 'file', path = '${INPUT_NAME}', format = 'json'`)
}

/** The workload's CREATE STREAM over a Kafka topic, read from its beginning; the topic's partitions are the stream's. */
export function asKafkaStream(sql: string, topic: string): string {
  return withOptions(sql, `connector = 'kafka', topic = '${topic.replace(/'/g, "''")}', format = 'json', start = 'earliest'`)
}

/** A CREATE STREAM with its WITH options replaced by `options`. */
function withOptions(sql: string, options: string): string {
  const at = sql.search(/\)\s*WITH\s*\(/i)
  const clause = `) WITH (${options})`
  if (at === -1) return sql.replace(/\)\s*;?\s*$/, `${clause};`)
  const close = sql.indexOf(')', sql.indexOf('(', at + 1))
  return `${sql.slice(0, at)}${clause}${sql.slice(close + 1)}`
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

/** The `ts` of the file's last line (the end marker), in epoch ms. */
function markerTsMs(path: string): number {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    const buf = Buffer.alloc(Math.min(size, 1 << 16))
    readSync(fd, buf, 0, buf.length, size - buf.length)
    const last = buf.toString('utf8').trimEnd().split('\n').at(-1)!
    return (JSON.parse(last) as { ts: number }).ts
  } finally {
    closeSync(fd)
  }
}

/** Builds the workload's stream and views, its stream reading from `source`; false (and the line printed) when Sluice cannot express it. */
async function createWorkload(engine: Engine, w: Workload, source: DriverSource): Promise<boolean> {
  try {
    for (const p of parseStatements(w.sql)) {
      const s = p.statement
      if (s.kind === 'create_stream' && source.kind !== 'log') {
        const text = source.kind === 'file' ? asFileStream(p.text) : asKafkaStream(p.text, source.topic)
        const [parsed] = parseStatements(text)
        if (parsed?.statement.kind !== 'create_stream') throw new Error(`not a stream: ${text}`)
        await engine.createStream(parsed.statement, parsed.text)
      } else if (s.kind === 'create_stream') await engine.createStream(s, p.text)
      else if (s.kind === 'create_view') await engine.createView(s, p.text)
      else throw new Error(`unexpected statement in ${w.name}: ${p.text}`)
    }
    return true
  } catch (err) {
    if (err instanceof SluiceError && err.sqlstate === '0A000') {
      console.log(`DRIVER_UNSUPPORTED workload=${w.name} reason=${err.message.replace(/\s+/g, ' ')} (SQLSTATE ${err.sqlstate})`)
      return false
    }
    throw err
  }
}

/**
 * The end of a Kafka input: every view on the stream has counted all `events` records and every view's
 * watermark has passed the end marker's time less an hour (windows of the data end within 30 minutes of
 * its last event, the marker is a day later), and the views over views have caught up.
 */
async function waitForMarker(engine: Engine, events: number, markerMs: number): Promise<void> {
  const targetUs = (markerMs - 3_600_000) * 1000
  for (;;) {
    const queries = engine.allQueries()
    const failed = queries.find((q) => q.status !== 'running')
    if (failed !== undefined) throw new Error(`${failed.name} failed: ${failed.lastError?.message}`)
    const done = queries.every((q) => (q.view.plan.source.source.kind === 'view' || q.eventsIn >= events) && q.watermark.current >= targetUs)
    if (done) return
    // A view joined "as of each event" to another starts where that view is when created: on Kafka, the
    // records the other view took in before it was created are never its own (see the README).
    const short = queries.find((q) => q.view.plan.source.source.kind !== 'view' && q.eventsIn < events && q.watermark.current >= targetUs)
    if (short !== undefined) throw new Error(`${short.name} counted ${short.eventsIn} of ${events} records: it started where the view it joins was when it was created`)
    // The engine's loop, when idle, sleeps until the next checkpoint (10 s here), and neither records
    // arriving from Kafka nor a partition turning idle wake it yet. Waiting for progress wakes it while
    // records are still to come; once all are counted, only idleness moves the watermark past the other
    // partitions, and a checkpoint (which wakes the loop) is asked for instead.
    const counted = queries.every((q) => q.view.plan.source.source.kind === 'view' || q.eventsIn >= events)
    if (counted) await engine.checkpoint()
    else await engine.waitCaughtUp(queries[0]!.name, 20)
    await new Promise((r) => setTimeout(r, counted ? 200 : 20))
  }
}

/**
 * Writes one line per row to `path` a megabyte at a time (a result of millions of rows would not fit one
 * string); returns the number of rows.
 */
async function writeRows<T>(path: string, rows: AsyncIterable<T>, line: (row: T) => string): Promise<number> {
  const fd = openSync(path, 'w')
  let buf: string[] = []
  let size = 0
  let count = 0
  try {
    for await (const row of rows) {
      const l = line(row)
      buf.push(l)
      size += l.length + 1
      count++
      if (size >= 1 << 20) {
        writeSync(fd, `${buf.join('\n')}\n`)
        buf = []
        size = 0
      }
    }
    if (buf.length > 0) writeSync(fd, `${buf.join('\n')}\n`)
  } finally {
    closeSync(fd)
  }
  return count
}

/**
 * `cacheEntries`: the engine's state cache in entries (its default when undefined); bench:stateful sets it
 * to a fifth of the state to measure state larger than the cache.
 */
async function run(name: string, data: string, out: string, source: DriverSource, cacheEntries?: number, decodeThread?: boolean): Promise<void> {
  await initParser()
  const w = workloadNamed(name)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-compare-'))
  const files = join(dir, 'files')
  await mkdir(files)
  const kafkaBrokers = source.kind === 'kafka' ? source.brokers.split(',') : undefined
  const engine = await Engine.open({ dataDir: join(dir, 'data'), checkpointIntervalMs: CHECKPOINT_MS, batchSize: 4096, fileDir: files, ...(cacheEntries !== undefined ? { cacheEntries } : {}), ...(kafkaBrokers !== undefined ? { kafkaBrokers } : {}), ...(decodeThread !== undefined ? { decodeThread } : {}) })
  try {
    const input = join(data, w.file)
    const lineCount = source.kind !== 'log' ? await countLines(input) : 0
    // A Kafka stream starts fetching as soon as it exists: its clock starts before the stream is created.
    if (source.kind !== 'kafka' && !(await createWorkload(engine, w, source))) return
    const t0 = performance.now()
    const clockStart = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    const main0 = mainThreadCpuSeconds()
    let events = lineCount
    switch (source.kind) {
      case 'file':
        symlinkSync(resolve(input), join(files, INPUT_NAME))
        await engine.closeStream(w.stream)
        break
      case 'log':
        events = await readLines(input, async (lines) => void (await engine.insertJson(w.stream, lines)))
        await engine.closeStream(w.stream)
        break
      case 'kafka':
        if (!(await createWorkload(engine, w, source))) return
        await waitForMarker(engine, events, markerTsMs(input))
        break
      default:
        assertNever(source)
    }
    const views = engine.allQueries().map((q) => q.name)
    for (const v of views) await engine.waitCaughtUp(v, 3_600_000)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    const mainCpuSeconds = mainThreadCpuSeconds() - main0
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
    const rows = await writeRows(out, engine.viewRows(w.result), (row) => JSON.stringify(row.map((v, i) => cell(v, columns[i]!))))
    console.log(
      `DRIVER_RESULT workload=${name} events=${events} seconds=${seconds.toFixed(3)} eps=${Math.round(events / seconds)} rows=${rows} peak_rss_mib=${peakRssMib().toFixed(1)} cpu_seconds=${cpuSeconds.toFixed(3)} main_cpu_seconds=${mainCpuSeconds.toFixed(2)} source=${source.kind}`,
    )
  } finally {
    await engine.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const USAGE = 'usage: sluice-run.ts --workload <name> --data <dir> --out <file> [--source file|log|kafka] [--kafka host:port --topic <topic>] [--cache <entries>] [--decode-thread on|off|auto]'

/** The --source, --kafka and --topic arguments as a DriverSource. */
export function driverSource(kind: string, kafka: string | undefined, topic: string | undefined): DriverSource {
  if (kind === 'file' || kind === 'log') return { kind }
  if (kind !== 'kafka') throw new Error(`--source is file, log or kafka, not ${kind}; ${USAGE}`)
  if (kafka === undefined || topic === undefined) throw new Error(`--source kafka needs --kafka host:port and --topic; ${USAGE}`)
  return { kind, brokers: kafka, topic }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { workload: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, source: { type: 'string', default: 'file' }, kafka: { type: 'string' }, topic: { type: 'string' }, cache: { type: 'string' }, 'decode-thread': { type: 'string' } },
  })
  if (values.workload === undefined || values.data === undefined || values.out === undefined) throw new Error(USAGE)
  const cache = values.cache === undefined ? undefined : Number(values.cache)
  if (cache !== undefined && !(Number.isInteger(cache) && cache > 0)) throw new Error(`--cache is a number of entries, not ${values.cache}`)
  const thread = values['decode-thread']
  if (thread !== undefined && thread !== 'on' && thread !== 'off' && thread !== 'auto') throw new Error(`--decode-thread is on, off or auto, not ${thread}`)
  // auto (the default): as a server would run, on with a second core.
  await run(values.workload, values.data, values.out, driverSource(values.source, values.kafka, values.topic), cache, thread === 'on' || ((thread ?? 'auto') === 'auto' && decodeThreadByDefault()))
}

if (process.argv[1] === import.meta.filename) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
