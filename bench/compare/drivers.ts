/**
 * The two drivers of the Sluice-vs-Flink benchmark as child processes (bench/compare/README.md): how each
 * is built and started, how its DRIVER_RESULT line is read, and how two answer files are compared. Shared
 * by `npm run bench:compare` (compare.ts) and `npm run bench:stateful -- --vs-flink` (bench/stateful.ts).
 */
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { MultisetDigest, difference, normalizeResult } from './normalize.ts'

export const ROOT = join(import.meta.dirname, '..', '..')
const FLINK_DIR = join(ROOT, 'bench', 'flink')

/** How the Flink driver is built and run: change these two if bench/flink/ changes its build. */
const FLINK_BUILD = ['mvn', '-q', '-f', join(FLINK_DIR, 'pom.xml'), 'package', '-DskipTests']
const FLINK_JAR = join(FLINK_DIR, 'target', 'flink-bench.jar')
/**
 * `state`: Flink's state backend; RocksDB (the default) as the issue asks, the heap for a second opinion.
 * `heap`: the JVM's -Xmx (the driver's sink holds the whole final result on the heap).
 */
export const flinkCommand = (jar: string, state = 'rocksdb', heap = '4g'): string[] => ['java', `-Xmx${heap}`, ...(state === 'rocksdb' ? [] : [`-Dflink.state.backend.type=${state}`]), '-jar', jar]

const SLUICE_SCRIPT = join(import.meta.dirname, 'sluice-run.ts')
/** `cpuProfDir`: run under `node --cpu-prof`, the profile written there when the driver exits. */
export const sluiceCommand = (cpuProfDir: string | null): string[] => [
  process.execPath,
  '--import',
  'tsx',
  '--max-old-space-size=8192',
  ...(cpuProfDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]),
  SLUICE_SCRIPT,
]

/** The Flink jar: FLINK_JAR, else the one jar under bench/flink/target/ (null when there is none). */
function findFlinkJar(): string | null {
  if (existsSync(FLINK_JAR)) return FLINK_JAR
  const target = join(FLINK_DIR, 'target')
  if (!existsSync(target)) return null
  const jars = readdirSync(target).filter((f) => f.endsWith('.jar') && !/-(sources|javadoc|tests)\.jar$/.test(f) && !f.startsWith('original-'))
  return jars.length === 0 ? null : join(target, jars.sort((a, b) => Number(b.includes('flink')) - Number(a.includes('flink')))[0]!)
}

/** The newest modification time of the driver's sources and pom (ms). */
function flinkSourcesMtime(dir = join(FLINK_DIR, 'src')): number {
  let newest = statSync(join(FLINK_DIR, 'pom.xml')).mtimeMs
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? flinkSourcesMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** The Flink jar, built first when there is none or its sources changed since (a new option, a new connector). */
export function ensureFlinkJar(): string {
  const found = findFlinkJar()
  if (found !== null && statSync(found).mtimeMs >= flinkSourcesMtime()) return found
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
export type Outcome =
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

export function runDriver(label: string, command: readonly string[], workload: string, data: string, out: string, timeoutS: number, events: number): Outcome {
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

/** The row count and multiset digest of an answer file, read a line at a time. */
export function answerDigest(path: string): { readonly rows: number; readonly digest: string } {
  const d = new MultisetDigest()
  const fd = openSync(path, 'r')
  const buf = Buffer.allocUnsafe(4 << 20)
  let rest = Buffer.alloc(0)
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) {
      // Decoded up to the last newline only, so that no UTF-8 character is split across reads.
      const bytes = Buffer.concat([rest, buf.subarray(0, n)])
      const end = bytes.lastIndexOf(10)
      if (end !== -1) for (const l of bytes.toString('utf8', 0, end).split('\n')) d.add(l)
      rest = Buffer.from(bytes.subarray(end + 1))
    }
    d.add(rest.toString('utf8'))
  } finally {
    closeSync(fd)
  }
  return { rows: d.rows, digest: d.digest }
}

/** Answer files larger than this are compared by digest alone: sorting them would not fit a string. */
const LISTED_BYTES = 256 << 20

/**
 * Compares the two answer files by row count and an order-independent digest of their normalized rows
 * (read line by line, so a result of millions of rows is compared too); when they differ and both are
 * small enough to sort, prints the first few differing rows.
 */
export function compareAnswers(workload: string, a: string, b: string): 'yes' | 'no' {
  const sluice = answerDigest(a)
  const flink = answerDigest(b)
  if (sluice.rows === flink.rows && sluice.digest === flink.digest) return 'yes'
  console.log(`  ${workload}: answers differ: ${sluice.rows} rows from Sluice, ${flink.rows} from Flink`)
  if (statSync(a).size > LISTED_BYTES || statSync(b).size > LISTED_BYTES) return 'no'
  const d = difference(normalizeResult(readFileSync(a, 'utf8')), normalizeResult(readFileSync(b, 'utf8')))
  console.log(`    ${d.countA} only in Sluice's, ${d.countB} only in Flink's`)
  for (const l of d.onlyA) console.log(`    only Sluice: ${l}`)
  for (const l of d.onlyB) console.log(`    only Flink:  ${l}`)
  return 'no'
}

export const num = (n: number): string => Math.round(n).toLocaleString('en-US')
