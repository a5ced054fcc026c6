/**
 * Sluice vs Flink on the same input files (bench/compare/README.md): for each workload, the Sluice driver
 * (bench/compare/sluice-run.ts) and the Flink driver (the jar built from bench/flink/) run one after the
 * other, never at once, each in a child process of its own; their answers are normalized and compared.
 *
 *   npm run bench:compare [-- --events N] [--game-events N] [--nexmark-events N] [--seed S] [--only w1,w2]
 *                         [--timeout SECONDS] [--skip-flink] [--flink-state rocksdb|hashmap]
 *
 * Builds the Flink jar with Maven when it is missing and generates the data when it is not cached. Prints
 * a table and ends with one line per workload:
 *   RESULT <workload> sluice_eps=<n> flink_eps=<n> ratio=<sluice/flink> same_answer=<yes|no>
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_SPEC, dataDirFor, ensureData, type DataSpec } from './generate.ts'
import { checksum, difference, normalizeResult } from './normalize.ts'
import { WORKLOAD_NAMES } from './workloads.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const FLINK_DIR = join(ROOT, 'bench', 'flink')

/** How the Flink driver is built and run: change these two if bench/flink/ changes its build. */
const FLINK_BUILD = ['mvn', '-q', '-f', join(FLINK_DIR, 'pom.xml'), 'package', '-DskipTests']
const FLINK_JAR = join(FLINK_DIR, 'target', 'flink-bench.jar')
/** `state`: Flink's state backend; RocksDB (the default) as the issue asks, the heap for a second opinion. */
const flinkCommand = (jar: string, state = 'rocksdb'): string[] => ['java', '-Xmx4g', ...(state === 'rocksdb' ? [] : [`-Dflink.state.backend.type=${state}`]), '-jar', jar]

const SLUICE_COMMAND = [process.execPath, '--import', 'tsx', '--max-old-space-size=8192', join(import.meta.dirname, 'sluice-run.ts')]
/**
 * A driver that runs longer than this (seconds, wall clock, JVM or Node start included) is stopped and
 * reported as `timeout`, its rate as below events / limit: one pathological workload must not eat the
 * whole run (`--timeout` changes it).
 */
const DEFAULT_TIMEOUT_S = 120

/** The Flink jar: FLINK_JAR, else the one jar under bench/flink/target/ (null when there is none). */
function findFlinkJar(): string | null {
  if (existsSync(FLINK_JAR)) return FLINK_JAR
  const target = join(FLINK_DIR, 'target')
  if (!existsSync(target)) return null
  const jars = readdirSync(target).filter((f) => f.endsWith('.jar') && !/-(sources|javadoc|tests)\.jar$/.test(f) && !f.startsWith('original-'))
  return jars.length === 0 ? null : join(target, jars.sort((a, b) => Number(b.includes('flink')) - Number(a.includes('flink')))[0]!)
}

function ensureFlinkJar(): string {
  const found = findFlinkJar()
  if (found !== null) return found
  console.log(`building the Flink driver: ${FLINK_BUILD.join(' ')}`)
  const t0 = performance.now()
  const r = spawnSync(FLINK_BUILD[0]!, FLINK_BUILD.slice(1), { stdio: 'inherit', cwd: ROOT })
  if (r.status !== 0) throw new Error(`the Flink build failed (exit ${r.status})`)
  const jar = findFlinkJar()
  if (jar === null) throw new Error(`the Flink build made no jar under ${join(FLINK_DIR, 'target')}`)
  console.log(`built ${jar} in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  return jar
}

/** What a driver reported: DRIVER_RESULT's fields, an unsupported reason, or a failure. */
type Outcome =
  | { readonly kind: 'ok'; readonly eps: number; readonly seconds: number; readonly rows: number; readonly rssMib: number; readonly events: number; readonly out: string; readonly cpuSeconds: number }
  | { readonly kind: 'unsupported'; readonly reason: string }
  | { readonly kind: 'timeout'; readonly reason: string; readonly maxEps: number }
  | { readonly kind: 'failed'; readonly reason: string }

/** The key=value fields of a DRIVER_RESULT line. */
export function parseDriverResult(line: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const kv of line.trim().split(/\s+/).slice(1)) {
    const eq = kv.indexOf('=')
    if (eq > 0) fields[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  return fields
}

function runDriver(label: string, command: readonly string[], workload: string, data: string, out: string, timeoutS: number, events: number): Outcome {
  const t0 = performance.now()
  const r = spawnSync(command[0]!, [...command.slice(1), '--workload', workload, '--data', data, '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
  })
  const wall = (performance.now() - t0) / 1000
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    const maxEps = events / timeoutS
    console.log(`  ${label.padEnd(6)} ${workload}: no result within ${timeoutS} s (below ${num(maxEps)} events/s); stopped`)
    return { kind: 'timeout', reason: `no result within ${timeoutS} s: below ${Math.round(maxEps)} events/s`, maxEps }
  }
  const lines = (r.stdout ?? '').split('\n')
  const unsupported = lines.find((l) => l.startsWith('DRIVER_UNSUPPORTED '))
  if (unsupported !== undefined) return { kind: 'unsupported', reason: unsupported.replace(/^DRIVER_UNSUPPORTED workload=\S+ reason=/, '') }
  const result = lines.find((l) => l.startsWith('DRIVER_RESULT '))
  if (r.status !== 0 || result === undefined) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-8).join('\n')
    console.log(`  ${label} ${workload}: failed after ${wall.toFixed(0)} s (exit ${r.status ?? r.signal})\n${tail.replace(/^/gm, '    ')}`)
    return { kind: 'failed', reason: r.error?.message ?? `exit ${r.status ?? r.signal}` }
  }
  const f = parseDriverResult(result)
  console.log(`  ${label.padEnd(6)} ${result}  (wall ${wall.toFixed(1)} s)`)
  return { kind: 'ok', eps: Number(f.eps), seconds: Number(f.seconds), rows: Number(f.rows), rssMib: Number(f.peak_rss_mib), events: Number(f.events), out, cpuSeconds: Number(f.cpu_seconds ?? Number.NaN) }
}

interface Row {
  readonly workload: string
  readonly sluice: Outcome
  readonly flink: Outcome
  /** When Flink on RocksDB timed out: the same workload on Flink's heap backend, whose answer is compared. */
  readonly flinkHeap?: Outcome
  readonly same: 'yes' | 'no' | 'n/a'
}

/** Compares the two answer files; prints the first few differing rows when they differ. */
function compareAnswers(workload: string, a: string, b: string): 'yes' | 'no' {
  const sluice = normalizeResult(readFileSync(a, 'utf8'))
  const flink = normalizeResult(readFileSync(b, 'utf8'))
  if (sluice.length === flink.length && checksum(sluice) === checksum(flink)) return 'yes'
  const d = difference(sluice, flink)
  console.log(`  ${workload}: answers differ: ${sluice.length} rows from Sluice, ${flink.length} from Flink; ${d.countA} only in Sluice's, ${d.countB} only in Flink's`)
  for (const l of d.onlyA) console.log(`    only Sluice: ${l}`)
  for (const l of d.onlyB) console.log(`    only Flink:  ${l}`)
  return 'no'
}

const num = (n: number): string => Math.round(n).toLocaleString('en-US')
const epsCell = (o: Outcome): string => (o.kind === 'ok' ? num(o.eps) : o.kind === 'timeout' ? `timeout (< ${num(o.maxEps)})` : o.kind)
/** Sluice's rate over Flink's; when Flink timed out, a lower bound written `>x`. */
function ratioOf(r: Row): string {
  if (r.sluice.kind === 'ok' && r.flink.kind === 'ok') return (r.sluice.eps / r.flink.eps).toFixed(2)
  if (r.sluice.kind === 'ok' && r.flink.kind === 'timeout') return `>${(r.sluice.eps / r.flink.maxEps).toFixed(2)}`
  return 'n/a'
}

/** CPU time (all threads) per event over the clocked interval, in microseconds. */
const cpuPerEvent = (o: Outcome): number => (o.kind === 'ok' ? (o.cpuSeconds * 1e6) / o.events : Number.NaN)
/** Flink's CPU time per event over Sluice's: the ratio per core. */
function cpuRatioOf(r: Row): string {
  const x = cpuPerEvent(r.flink) / cpuPerEvent(r.sluice)
  return Number.isFinite(x) ? x.toFixed(2) : 'n/a'
}
const cpuCell = (o: Outcome): string => {
  const us = cpuPerEvent(o)
  return Number.isFinite(us) && o.kind === 'ok' ? `${us.toFixed(2)} (${(o.cpuSeconds / o.seconds).toFixed(2)})` : ''
}

function printTable(rows: readonly Row[]): void {
  const header = ['workload', 'Sluice ev/s', 'Flink ev/s', 'Sluice/Flink', 'Flink* (heap) ev/s', 'Sluice CPU us/ev (cores)', 'Flink CPU us/ev (cores)', 'per-core ratio', 'Sluice peak RSS MiB', 'Flink peak RSS MiB', 'Sluice rows', 'Flink rows', 'same answer']
  const body = rows.map((r) => [
    r.workload,
    epsCell(r.sluice),
    epsCell(r.flink),
    ratioOf(r),
    r.flinkHeap === undefined ? '' : epsCell(r.flinkHeap),
    cpuCell(r.sluice),
    cpuCell(r.flink),
    cpuRatioOf(r),
    r.sluice.kind === 'ok' ? num(r.sluice.rssMib) : '',
    r.flink.kind === 'ok' ? num(r.flink.rssMib) : '',
    r.sluice.kind === 'ok' ? num(r.sluice.rows) : '',
    r.flink.kind === 'ok' ? num(r.flink.rows) : r.flinkHeap?.kind === 'ok' ? `${num(r.flinkHeap.rows)}*` : '',
    r.same,
  ])
  console.log(`\n| ${header.join(' | ')} |\n|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`)
  for (const b of body) console.log(`| ${b.join(' | ')} |`)
  console.log('')
}

/** The RESULT line of one workload. */
export function resultLine(r: Row): string {
  const eps = (o: Outcome): string => (o.kind === 'ok' ? String(Math.round(o.eps)) : o.kind)
  const reason = r.sluice.kind !== 'ok' ? ` reason=${JSON.stringify(r.sluice.reason)}` : r.flink.kind !== 'ok' ? ` flink_reason=${JSON.stringify(r.flink.reason)}` : ''
  const heap =
    r.flinkHeap === undefined
      ? ''
      : ` flink_heap_eps=${eps(r.flinkHeap)} heap_ratio=${r.sluice.kind === 'ok' && r.flinkHeap.kind === 'ok' ? (r.sluice.eps / r.flinkHeap.eps).toFixed(2) : 'n/a'} answer_compared_with=flink_heap`
  return `RESULT ${r.workload} sluice_eps=${eps(r.sluice)} flink_eps=${eps(r.flink)} ratio=${ratioOf(r)} same_answer=${r.same} cpu_ratio=${cpuRatioOf(r)}${heap}${reason}`
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      'game-events': { type: 'string' },
      'nexmark-events': { type: 'string' },
      seed: { type: 'string' },
      only: { type: 'string' },
      'skip-flink': { type: 'boolean' },
      timeout: { type: 'string' },
      'flink-state': { type: 'string' },
      'sluice-source': { type: 'string' },
    },
  })
  const spec: DataSpec = {
    seed: Number(values.seed ?? DEFAULT_SPEC.seed),
    gameEvents: Number(values['game-events'] ?? values.events ?? DEFAULT_SPEC.gameEvents),
    nexmarkEvents: Number(values['nexmark-events'] ?? values.events ?? DEFAULT_SPEC.nexmarkEvents),
  }
  const only = values.only?.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  for (const w of only ?? []) if (!WORKLOAD_NAMES.includes(w)) throw new Error(`unknown workload ${w}; one of ${WORKLOAD_NAMES.join(', ')}`)
  const timeoutS = Number(values.timeout ?? DEFAULT_TIMEOUT_S)
  const flinkState = values['flink-state'] ?? 'rocksdb'
  if (flinkState !== 'rocksdb' && flinkState !== 'hashmap') throw new Error(`--flink-state is rocksdb or hashmap, not ${flinkState}`)
  const workloads = WORKLOAD_NAMES.filter((w) => only === undefined || only.includes(w))
  // How the Sluice driver reads the input: a file stream (as Flink's filesystem source), or inserts into the embedded log.
  const sluiceSource = values['sluice-source'] ?? 'file'
  if (sluiceSource !== 'file' && sluiceSource !== 'log') throw new Error(`--sluice-source is file or log, not ${sluiceSource}`)
  const sluiceCommand = [...SLUICE_COMMAND, '--source', sluiceSource]

  const t0 = performance.now()
  const jar = values['skip-flink'] === true ? null : ensureFlinkJar()
  const data = ensureData(spec, dataDirFor(spec), console.log)
  const outDir = join(data, 'out')
  mkdirSync(outDir, { recursive: true })
  console.log(`data: ${data}\nSluice: ${SLUICE_COMMAND.slice(0, -1).join(' ')} bench/compare/sluice-run.ts --source ${sluiceSource}\nFlink:  ${jar === null ? 'skipped' : flinkCommand(jar, flinkState).join(' ')}`)

  const rows: Row[] = []
  for (const workload of workloads) {
    console.log(`${workload}:`)
    const events = (workload.startsWith('nexmark') ? spec.nexmarkEvents : spec.gameEvents) + 1
    const sluice = runDriver('Sluice', sluiceCommand, workload, data, join(outDir, `${workload}.sluice.jsonl`), timeoutS, events)
    const flink: Outcome = jar === null ? { kind: 'failed', reason: 'skipped (--skip-flink)' } : runDriver('Flink', flinkCommand(jar, flinkState), workload, data, join(outDir, `${workload}.flink.jsonl`), timeoutS, events)
    if (sluice.kind === 'unsupported') console.log(`  Sluice: unsupported: ${sluice.reason}`)
    // Flink on RocksDB can be pathologically slow on a workload (MATCH_RECOGNIZE, temporal joins); so that
    // every answer is still compared, such a workload runs again on Flink's heap state backend.
    const flinkHeap =
      jar !== null && flink.kind === 'timeout' && flinkState === 'rocksdb' && sluice.kind === 'ok'
        ? runDriver('Flink*', flinkCommand(jar, 'hashmap'), workload, data, join(outDir, `${workload}.flink-heap.jsonl`), timeoutS, events)
        : undefined
    const answered = flinkHeap?.kind === 'ok' ? flinkHeap : flink
    const same = sluice.kind === 'ok' && answered.kind === 'ok' ? compareAnswers(workload, sluice.out, answered.out) : 'n/a'
    rows.push({ workload, sluice, flink, ...(flinkHeap !== undefined ? { flinkHeap } : {}), same })
  }
  printTable(rows)
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s; ${spec.gameEvents.toLocaleString('en-US')} game events, ${spec.nexmarkEvents.toLocaleString('en-US')} Nexmark events (seed ${spec.seed}), each file plus its end marker`)
  for (const r of rows) console.log(resultLine(r))
}

if (process.argv[1] === import.meta.filename) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
