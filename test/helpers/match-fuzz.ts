/**
 * Differential testing of MATCH_RECOGNIZE against Trino's implementation (an independent engine): random
 * row patterns over the whole grammar (greedy and reluctant quantifiers, alternation, PERMUTE, exclusion,
 * anchors, the empty pattern, SUBSET, every AFTER MATCH SKIP mode, ONE ROW and ALL ROWS PER MATCH with its
 * options, navigation and aggregates in DEFINE and MEASURES) over random rows. Each case runs in Sluice
 * over a stream closed with ALTER STREAM ... CLOSE and in Trino over the same rows as a VALUES list; the
 * answers must agree as multisets of rows (or both engines must reject the case).
 *
 * Trino runs in-process in one JVM (test/oracle/trino: a query runner reading SQL from stdin), started once
 * per batch of cases.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type pg from 'pg'
import { Rng } from '../../bench/compare/generate.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')
export const TRINO_DIR = resolve(ROOT, 'test', 'oracle', 'trino')
export const TRINO_JAR = resolve(TRINO_DIR, 'target', 'trino-oracle-1.jar')
/** Every difference found so far, with Trino's answer: the regression cases of test/match-oracle.test.ts. */
export const REGRESSIONS_FILE = resolve(ROOT, 'test', 'oracle', 'match-regressions.json')
/** Trino 476 needs Java 24 or newer. */
export const TRINO_JAVA = process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64'

export interface FuzzRow {
  readonly k: number
  /** Seconds after the base time; distinct within a partition, so that both engines see one order. */
  readonly ts: number
  readonly p: number | null
  readonly q: number
  readonly t: string
}

export interface FuzzCase {
  readonly seed: number
  readonly rows: readonly FuzzRow[]
  /** The MATCH_RECOGNIZE clause body, the same text for both engines. */
  readonly clause: string
}

/** The benchmark's deterministic generator (mulberry32), with the draws the case generator needs. */
export class Random {
  private readonly rng: Rng
  constructor(seed: number) {
    this.rng = new Rng(seed)
  }
  next(): number {
    return this.rng.next()
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }
}

const VARIABLES = ['A', 'B', 'C', 'D']

/** One random case from `seed`. */
export function generateCase(seed: number): FuzzCase {
  const r = new Random(seed)
  const rows: FuzzRow[] = []
  const partitions = r.int(1, 3)
  for (let k = 1; k <= partitions; k++) {
    const n = r.int(1, 9)
    // Times distinct across partitions too (steps of 3, offset by k), so that a pattern without PARTITION BY
    // sees one order in both engines.
    let step = r.int(0, 3)
    for (let i = 0; i < n; i++) {
      rows.push({ k, ts: step * 3 + k, p: r.chance(0.1) ? null : r.int(0, 5), q: r.int(1, 4), t: r.pick(['x', 'y']) })
      step += r.int(1, 3)
    }
  }
  return { seed, rows, clause: generateClause(r) }
}

function generateClause(r: Random): string {
  const used = new Set<string>()
  const pattern = patternText(r, 0, used, { anchors: r.chance(0.2), exclusion: r.chance(0.2) })
  const vars = [...used].sort()
  if (vars.length === 0) vars.push('A')
  const subset = vars.length >= 2 && r.chance(0.3) ? ['U', [vars[0]!, vars[vars.length - 1]!]] as const : null
  const names = subset === null ? vars : [...vars, 'U']
  const rowsMode = r.pick(['', 'ONE ROW PER MATCH', 'ALL ROWS PER MATCH', 'ALL ROWS PER MATCH SHOW EMPTY MATCHES', 'ALL ROWS PER MATCH OMIT EMPTY MATCHES', 'ALL ROWS PER MATCH WITH UNMATCHED ROWS'])
  const allRows = rowsMode.startsWith('ALL')
  const skip = r.pick(['', 'AFTER MATCH SKIP PAST LAST ROW', 'AFTER MATCH SKIP TO NEXT ROW', `AFTER MATCH SKIP TO FIRST ${r.pick(names)}`, `AFTER MATCH SKIP TO LAST ${r.pick(names)}`, 'AFTER MATCH SKIP TO NEXT ROW'])
  const measures: string[] = []
  const m = r.int(1, 4)
  for (let i = 0; i < m; i++) measures.push(`${measure(r, names, allRows)} AS m${i}`)
  const defines: string[] = []
  for (const v of vars) if (r.chance(0.8)) defines.push(`${v} AS ${condition(r, v, names)}`)
  if (defines.length === 0) defines.push(`${vars[0]} AS true`)
  const order = r.chance(0.2) ? 'ORDER BY ts, q' : 'ORDER BY ts'
  return [
    r.chance(0.9) ? 'PARTITION BY k' : '',
    order,
    `MEASURES ${measures.join(', ')}`,
    rowsMode,
    skip,
    `PATTERN (${pattern})`,
    subset === null ? '' : `SUBSET ${subset[0]} = (${subset[1].join(', ')})`,
    `DEFINE ${defines.join(', ')}`,
  ]
    .filter((s) => s !== '')
    .join(' ')
}

function quantifier(r: Random): string {
  const q = r.pick(['*', '+', '?', '{2}', '{1,}', '{,2}', '{1,3}', '{0,2}'])
  return q + (r.chance(0.35) ? '?' : '')
}

function patternText(r: Random, depth: number, used: Set<string>, o: { anchors: boolean; exclusion: boolean }): string {
  const leaf = (): string => {
    if (o.anchors && r.chance(0.1)) return r.pick(['^', '$'])
    if (r.chance(0.04)) return '()'
    const v = r.pick(VARIABLES.slice(0, 3 + (r.chance(0.2) ? 1 : 0)))
    used.add(v)
    return v
  }
  const roll = depth >= 2 ? 0 : r.next()
  let text: string
  if (roll < 0.45) text = leaf()
  else if (roll < 0.7) {
    const n = r.int(2, 3)
    text = Array.from({ length: n }, () => patternText(r, depth + 1, used, o)).join(' ')
    if (depth > 0) text = `(${text})`
  } else if (roll < 0.85) {
    text = `(${Array.from({ length: r.int(2, 3) }, () => patternText(r, depth + 1, used, o)).join(' | ')})`
  } else if (roll < 0.93) {
    text = `PERMUTE(${Array.from({ length: r.int(2, 3) }, () => patternText(r, depth + 1, used, o)).join(', ')})`
  } else if (o.exclusion) {
    text = `{- ${patternText(r, depth + 1, used, o)} -}`
  } else text = leaf()
  if (r.chance(0.4) && text !== '^' && text !== '$') text = `${/^[A-D]$|^\(.*\)$|^PERMUTE/.test(text) ? text : `(${text})`}${quantifier(r)}`
  return text
}

/** A DEFINE condition of variable `v`. */
function condition(r: Random, v: string, names: readonly string[]): string {
  const other = r.pick(names)
  switch (r.int(0, 13)) {
    case 12:
      return `MATCH_NUMBER() <= ${r.int(1, 3)}`
    case 13:
      return `PREV(CLASSIFIER(), 2) IS NULL OR p IS NULL`
    case 10:
      return `p < NEXT(p)`
    case 11:
      return `max(${other}.q) < ${r.int(2, 4)} OR CLASSIFIER(${other}) IS NULL`
    case 0:
      return `p > PREV(p)`
    case 1:
      return `p <= PREV(p, ${r.int(1, 2)})`
    case 2:
      return `t = '${r.pick(['x', 'y'])}'`
    case 3:
      return `p > FIRST(${other}.p)`
    case 4:
      return `count(${other}.*) < ${r.int(1, 3)}`
    case 5:
      return `sum(${v}.q) <= ${r.int(2, 8)}`
    case 6:
      return `${v}.q + p > ${r.int(2, 6)}`
    case 7:
      return `LAST(${other}.p, 1) IS NULL`
    case 8:
      return `PREV(CLASSIFIER()) IS DISTINCT FROM '${r.pick(names.filter((n) => n !== 'U'))}'`
    default:
      return `q >= ${r.int(1, 3)} OR p IS NULL`
  }
}

function measure(r: Random, names: readonly string[], allRows: boolean): string {
  const v = r.pick(names)
  const sem = allRows && r.chance(0.4) ? r.pick(['RUNNING ', 'FINAL ']) : ''
  switch (r.int(0, 23)) {
    case 21:
      return `FIRST(CLASSIFIER(), 1)`
    case 22:
      return `NEXT(CLASSIFIER())`
    case 23:
      return `${sem}LAST(${v}.t, 1)`
    case 16:
      return `${sem}max(MATCH_NUMBER())`
    case 17:
      return `${sem}avg(${v}.p)`
    case 18:
      return `${sem}bool_and(${v}.p > 2)`
    case 19:
      // Trino rejects DISTINCT in pattern aggregates; Sluice takes it.
      return `${sem}count(${v}.p)`
    case 20:
      return `${sem}LAST(CLASSIFIER(), ${r.int(0, 2)})`
    case 0:
      return 'MATCH_NUMBER()'
    case 1:
      return 'CLASSIFIER()'
    case 2:
      return `${sem}FIRST(${v}.p${r.chance(0.3) ? `, ${r.int(1, 2)}` : ''})`
    case 3:
      return `${sem}LAST(${v}.p${r.chance(0.3) ? `, ${r.int(1, 2)}` : ''})`
    case 4:
      return `${sem}count(${v}.*)`
    case 5:
      return `${sem}count(*)`
    case 6:
      return `${sem}sum(${v}.q)`
    case 7:
      return `${sem}max(${v}.p)`
    case 8:
      return `PREV(${v}.p${r.chance(0.5) ? `, ${r.int(1, 3)}` : ''})`
    case 9:
      return `NEXT(${v}.p)`
    case 10:
      return `${sem}LAST(${v}.p * ${v}.q)`
    case 11:
      return `${sem}array_agg(CLASSIFIER())`
    case 12:
      return `PREV(${sem}LAST(${v}.q, 1), ${r.int(1, 2)})`
    case 13:
      return `${sem}max_by(${v}.q, ${v}.p)`
    case 14:
      return `CLASSIFIER(${v})`
    default:
      return `${sem}min(${v}.p + ${v}.q)`
  }
}

const BASE_SECONDS = Date.UTC(2026, 0, 1) / 1000

function trinoTime(ts: number): string {
  return `TIMESTAMP '${new Date((BASE_SECONDS + ts) * 1000).toISOString().replace('T', ' ').replace('Z', '')}'`
}

const lit = (v: number | string | null, type: string): string => (v === null ? `CAST(NULL AS ${type})` : typeof v === 'string' ? `'${v}'` : String(v))

export function trinoQuery(c: FuzzCase): string {
  const values = c.rows.map((row) => `(${row.k}, ${trinoTime(row.ts)}, ${lit(row.p, 'integer')}, ${row.q}, ${lit(row.t, 'varchar')})`).join(', ')
  return `SELECT * FROM (VALUES ${values}) AS s(k, ts, p, q, t) MATCH_RECOGNIZE (${c.clause}) AS m`
}

export function sluiceStatements(c: FuzzCase, stream: string): { setup: string[]; query: string; teardown: string } {
  // In event-time order, so that a continuous view over the stream sees no row behind its watermark.
  const values = [...c.rows].sort((a, b) => a.ts - b.ts).map((row) => `(${row.k}, to_timestamp(${BASE_SECONDS + row.ts}), ${row.p ?? 'NULL'}, ${row.q}, '${row.t}')`).join(', ')
  return {
    setup: [
      `CREATE STREAM ${stream} (k INT NOT NULL, ts TIMESTAMPTZ NOT NULL, p INT, q INT, t TEXT, WATERMARK FOR ts AS ts) WITH (key = 'k')`,
      `INSERT INTO ${stream} VALUES ${values}`,
      `ALTER STREAM ${stream} CLOSE`,
    ],
    query: `SELECT * FROM ${stream} MATCH_RECOGNIZE (${c.clause}) AS m`,
    teardown: `DROP STREAM ${stream}`,
  }
}

export type Answer = { readonly kind: 'rows'; readonly rows: string[] } | { readonly kind: 'error'; readonly message: string }

/** A value as comparable text: times as seconds after the base, numbers at 6 significant digits, arrays element-wise. */
function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (v instanceof Date) return v.getTime() / 1000 - BASE_SECONDS
  if (Array.isArray(v)) return v.map(normalize)
  if (typeof v === 'number') return Number(v.toPrecision(6))
  if (typeof v === 'string') {
    if (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v)) return Number(Number(v).toPrecision(6))
    if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(v)) return Date.parse(`${v.replace(' ', 'T')}Z`) / 1000 - BASE_SECONDS
    if (/^\{.*\}$/.test(v)) return v.slice(1, -1) === '' ? [] : v.slice(1, -1).split(',').map((x) => normalize(x === 'NULL' ? null : x.replace(/^"|"$/g, '')))
    return v
  }
  return v
}

export const normalizeRow = (row: readonly unknown[]): string => JSON.stringify(row.map(normalize))

const errorAnswer = (err: unknown): Answer => ({ kind: 'error', message: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}` })

/**
 * Runs one case on Sluice: the pull query over the closed stream, and with `view` also a continuous view
 * made before the rows arrive, whose rows must be the pull query's (else the answer is an error naming the
 * difference). The stream and view are dropped afterwards.
 */
export async function runSluice(client: pg.Client, c: FuzzCase, stream: string, options: { view?: boolean } = {}): Promise<Answer> {
  const s = sluiceStatements(c, stream)
  const view = `${stream}_v`
  await client.query(s.setup[0]!)
  let viewMade = false
  try {
    if (options.view === true) {
      try {
        await client.query(`CREATE MATERIALIZED VIEW ${view} AS ${s.query}`)
        viewMade = true
      } catch {
        // The pull query reports the same plan error.
      }
    }
    for (const sql of s.setup.slice(1)) await client.query(sql)
    let pull: Answer
    try {
      const result = await client.query({ text: s.query, rowMode: 'array' })
      pull = { kind: 'rows', rows: (result.rows as unknown[][]).map(normalizeRow).sort() }
    } catch (err) {
      return errorAnswer(err)
    }
    if (viewMade && pull.kind === 'rows') {
      const result = await client.query({ text: `SELECT * FROM ${view}`, rowMode: 'array' })
      const rows = (result.rows as unknown[][]).map(normalizeRow).sort()
      if (JSON.stringify(rows) !== JSON.stringify(pull.rows)) return { kind: 'error', message: `the continuous view gives ${JSON.stringify(rows)}, the pull query ${JSON.stringify(pull.rows)}` }
    }
    return pull
  } finally {
    if (viewMade) await client.query(`DROP MATERIALIZED VIEW ${view}`)
    await client.query(s.teardown)
  }
}

/** Whether the Trino side can run here: its jar built and a Java new enough. */
export function trinoAvailable(): boolean {
  return existsSync(TRINO_JAR) && existsSync(resolve(TRINO_JAVA, 'bin', 'java'))
}

/** Builds the Trino oracle (downloads its dependencies from Maven Central on first use). */
export function buildTrino(): void {
  const r = spawnSync('mvn', ['-q', '-B', '-f', resolve(TRINO_DIR, 'pom.xml'), 'package'], { env: { ...process.env, JAVA_HOME: TRINO_JAVA }, stdio: 'inherit' })
  if (r.status !== 0) throw new Error('building the Trino oracle failed')
}

/** Runs queries in one Trino process; answers in order. */
export async function runTrino(queries: readonly string[]): Promise<Answer[]> {
  const child = spawn(resolve(TRINO_JAVA, 'bin', 'java'), ['-Xmx1g', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', `${TRINO_JAR}:${resolve(TRINO_DIR, 'target', 'lib')}/*`, 'dev.sluice.oracle.TrinoOracle'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000)
  })
  const answers: Answer[] = []
  let rows: string[] = []
  const lines = createInterface({ input: child.stdout })
  const done = new Promise<void>((resolveDone, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('@row ')) rows.push(normalizeRow(JSON.parse(line.slice(5)) as unknown[]))
      else if (line.startsWith('@done ')) {
        answers.push({ kind: 'rows', rows: rows.sort() })
        rows = []
      } else if (line.startsWith('@error ')) {
        answers.push({ kind: 'error', message: JSON.parse(line.slice(7)) as string })
        rows = []
      }
      if (answers.length === queries.length) resolveDone()
    })
    child.on('exit', (code) => (answers.length === queries.length ? resolveDone() : reject(new Error(`Trino exited (${code}) after ${answers.length} of ${queries.length} queries: ${stderr.slice(-2000)}`))))
  })
  for (const q of queries) child.stdin.write(`${q.replace(/\n/g, ' ')}\n`)
  child.stdin.end()
  await done
  return answers
}

export interface Difference {
  readonly seed: number
  readonly clause: string
  readonly rows: readonly FuzzRow[]
  readonly sluice: Answer
  readonly trino: Answer
}

/** A difference kept as a regression case: the case, Trino's answer, and what it was about. */
export interface Regression extends FuzzCase {
  readonly note: string
  readonly trino: Answer
}

/**
 * Runs cases seed .. seed+count-1 on Sluice (through `client`) and on Trino, the two at once, and returns
 * the cases whose answers differ.
 */
export async function compareWithTrino(client: pg.Client, seed: number, count: number): Promise<Difference[]> {
  const cases = Array.from({ length: count }, (_, i) => generateCase(seed + i))
  const trinoAnswers = runTrino(cases.map(trinoQuery))
  const mine: Answer[] = []
  // Every third case also runs as a continuous view, checking the streaming operator against the same answer.
  for (const c of cases) mine.push(await runSluice(client, c, `fz${c.seed}`, { view: c.seed % 3 === 0 }))
  const theirs = await trinoAnswers
  const out: Difference[] = []
  cases.forEach((c, i) => {
    if (!agree(mine[i]!, theirs[i]!)) out.push({ seed: c.seed, clause: c.clause, rows: c.rows, sluice: mine[i]!, trino: theirs[i]! })
  })
  return out
}

/** Whether two answers agree: the same rows, or both an error. */
export function agree(a: Answer, b: Answer): boolean {
  if (a.kind === 'error' || b.kind === 'error') return a.kind === b.kind
  return JSON.stringify(a.rows) === JSON.stringify(b.rows)
}
