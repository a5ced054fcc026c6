/**
 * The streaming matcher against the search over the whole input, on the random cases of the Trino
 * differential suite (test/helpers/match-fuzz.ts: the whole row pattern language): each case's rows given
 * one at a time, a few at a time and all at once, with the input not final until the end, every call going
 * on from the search the previous one stopped (executor/pattern/partition.ts), must give exactly the rows,
 * in the same order, that one search over the final input gives (or the same error). The Trino suite checks
 * the answers themselves; this checks that computing them incrementally changes nothing, without Trino or a
 * server, on many more cases.
 */
import { beforeAll, describe, expect, test } from 'vitest'
import type * as ast from '../parser/ast.ts'
import type { Row } from '../common/types.ts'
import { initParser, parseStatement } from '../parser/index.ts'
import { Catalog } from '../planner/catalog.ts'
import { planPull, type RelNode } from '../planner/pull-plan.ts'
import { planStream } from '../planner/stream-plan.ts'
import type { PatternPlan } from '../planner/pattern-plan.ts'
import { BatchPattern } from '../executor/pattern/batch.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { generateCase, type FuzzCase } from './helpers/match-fuzz.ts'

/** Cases per run: a few seconds on the 2-core machine. */
const CASES = 2000
const SEED = 7_000_000
const BASE = Date.UTC(2026, 0, 1) * 1000

let catalog: Catalog

beforeAll(async () => {
  await initParser()
  catalog = new Catalog()
  const sql = `CREATE STREAM s (k INT NOT NULL, ts TIMESTAMPTZ NOT NULL, p INT, q INT, t TEXT, WATERMARK FOR ts AS ts) WITH (key = 'k')`
  catalog.add(planStream(parseStatement(sql) as ast.CreateStream, catalog.allocateId(), sql))
})

function patternOf(c: FuzzCase): PatternPlan {
  const plan = planPull((parseStatement(`SELECT * FROM s MATCH_RECOGNIZE (${c.clause}) AS m`) as ast.QueryStatement).query, catalog, [])
  const find = (n: RelNode): PatternPlan | undefined => (n.kind === 'match_recognize' ? n.pattern : n.kind === 'block' ? find(n.from) : undefined)
  if (plan.source.kind !== 'relational') throw new Error('expected a relational plan')
  const found = find(plan.source.root)
  if (found === undefined) throw new Error('no MATCH_RECOGNIZE node')
  return found
}

const rowsOf = (c: FuzzCase): Row[] => c.rows.map((r) => [r.k, BASE + r.ts * 1_000_000, r.p, r.q, r.t])

/** The rows, or the error's SQLSTATE and message. */
function outcome(f: () => Row[]): string {
  try {
    return JSON.stringify(f())
  } catch (err) {
    const e = err as { sqlstate?: string; message: string }
    return `error ${e.sqlstate ?? ''} ${e.message}`
  }
}

const ctx = {} as EvalContext

describe('the streaming matcher gives what the search over the whole input gives', () => {
  test(`${CASES} random cases from seed ${SEED}, rows given 1, 2 and 5 at a time`, () => {
    const differences: string[] = []
    let planned = 0
    let matched = 0
    for (let seed = SEED; seed < SEED + CASES; seed++) {
      const c = generateCase(seed)
      let plan: PatternPlan
      try {
        plan = patternOf(c)
      } catch {
        continue // rejected at planning, streaming or not
      }
      planned++
      const batch = new BatchPattern(plan)
      const rows = rowsOf(c)
      const whole = outcome(() => batch.run(rows, ctx))
      if (whole !== '[]' && !whole.startsWith('error')) matched++
      for (const step of [1, 2, 5]) {
        const streamed = outcome(() => batch.runStreaming(rows, ctx, step))
        if (streamed !== whole) differences.push(`seed ${seed}, ${step} at a time: ${c.clause}\n  whole:    ${whole.slice(0, 300)}\n  streamed: ${streamed.slice(0, 300)}`)
      }
    }
    expect(differences).toEqual([])
    // The cases are worth something: most plan, and many find matches.
    expect(planned).toBeGreaterThan(CASES * 0.8)
    expect(matched).toBeGreaterThan(CASES * 0.3)
  }, 300_000)
})
