/**
 * Joins of relational pull plans (planner/join-plan.ts): hash joins on equalities, built on the smaller
 * input, and nested loops only where no equality connects the inputs. Like everything in the relational
 * executor these are generators: they `yield` when the query's slice of time is over, and charge the rows
 * they hold to the query's memory budget (executor/query-budget.ts).
 */
import type { Row, Value } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { CompiledExpr } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import type { JoinCondition, JoinLeaf } from '../planner/join-plan.ts'
import type { RelNode } from '../planner/pull-plan.ts'
import { type QueryGuard, SLOT_BYTES, shallowRowBytes } from './query-budget.ts'

/** Steps of a query: yields whenever the slice of time is over, returns the result. */
export type Steps<T> = Generator<void, T, void>

type Predicate = (row: Row, params: readonly Value[], ctx: EvalContext) => boolean

/** What the joins need of the relational executor (executor/pull.ts). */
export interface RelContext {
  readonly guard: QueryGuard
  readonly params: readonly Value[]
  readonly ctx: EvalContext
  exec(node: RelNode, outer: Row): Steps<Row[]>
  predicate(e: BoundExpr): Predicate
  expr(e: BoundExpr): CompiledExpr
  /** Marks `rows` as held by the query (`bytes` already charged), released by `free`. */
  own(rows: readonly Row[], bytes: number): void
  free(rows: readonly Row[]): void
  /** A line about how a node ran, for EXPLAIN ANALYZE (ignored otherwise). */
  trace(node: RelNode, line: string): void
}

/** Hash table entry overhead: the Map slot, the bucket array and its slot. */
const ENTRY_BYTES = 64

const frame = (r: Row, outer: Row): Row => (outer.length === 0 ? r : r.concat(outer))

/** A key of equal values under `=` for the compared types (join-plan.ts `hashable`); undefined when one is null. */
function keyFunction(exprs: readonly CompiledExpr[], rc: RelContext, outer: Row): (r: Row) => unknown {
  const { params, ctx } = rc
  if (exprs.length === 1) {
    const e = exprs[0]!
    return (r) => {
      const v = e(frame(r, outer), params, ctx)
      return v === null ? undefined : v
    }
  }
  return (r) => {
    const f = frame(r, outer)
    const vs: Value[] = []
    for (const e of exprs) {
      const v = e(f, params, ctx)
      if (v === null) return undefined
      vs.push(v)
    }
    return JSON.stringify(vs)
  }
}

const keyBytes = (k: unknown): number => (typeof k === 'string' ? 16 + k.length : 0)

function* buildTable(rows: readonly Row[], keyOf: (r: Row) => unknown, guard: QueryGuard): Steps<{ table: Map<unknown, Row[]>; bytes: number }> {
  const table = new Map<unknown, Row[]>()
  let bytes = 0
  for (const r of rows) {
    if (guard.tick()) yield
    const k = keyOf(r)
    if (k === undefined) continue
    const bucket = table.get(k)
    if (bucket === undefined) {
      const b = ENTRY_BYTES + keyBytes(k)
      bytes += b
      guard.charge(b)
      table.set(k, [r])
    } else {
      bytes += SLOT_BYTES
      guard.charge(SLOT_BYTES)
      bucket.push(r)
    }
  }
  return { table, bytes }
}

/** The rows of `rows` that pass `pred` (over each row followed by `outer`). */
export function* filterRows(rows: readonly Row[], pred: Predicate, outer: Row, rc: RelContext): Steps<Row[]> {
  const out: Row[] = []
  for (const r of rows) {
    if (rc.guard.tick()) yield
    if (pred(frame(r, outer), rc.params, rc.ctx)) out.push(r)
  }
  rc.guard.charge(SLOT_BYTES * out.length)
  rc.own(out, SLOT_BYTES * out.length)
  return out
}

/**
 * Where a join's rows go instead of an array: the SELECT block above it (filter, grouping, projection), so
 * that they need not all be held at once. Returns true when it wants no more rows (LIMIT reached).
 */
export type Sink = (r: Row) => boolean

/** Collects output rows, charging each to the budget as it comes, or hands them to a sink. */
class Output {
  readonly rows: Row[] = []
  bytes = 0
  count = 0
  /** The sink wants no more rows: loops stop. */
  done = false
  constructor(
    private readonly guard: QueryGuard,
    private readonly rowCost: number,
    private readonly sink?: Sink,
  ) {}

  push(r: Row): void {
    this.count++
    if (this.sink !== undefined) {
      if (this.sink(r)) this.done = true
      return
    }
    this.guard.charge(this.rowCost)
    this.bytes += this.rowCost
    this.rows.push(r)
  }
}

/** A two-way join as written (outer joins, and inner joins join-plan.ts left alone). */
export function* joinTwo(node: Extract<RelNode, { kind: 'join' }>, outer: Row, rc: RelContext, sink?: Sink): Steps<Row[]> {
  const { guard, params, ctx } = rc
  let left = yield* rc.exec(node.left, outer)
  let right = yield* rc.exec(node.right, outer)
  if (node.leftFilter != null) {
    const kept = yield* filterRows(left, rc.predicate(node.leftFilter), outer, rc)
    rc.free(left)
    left = kept
  }
  if (node.rightFilter != null) {
    const kept = yield* filterRows(right, rc.predicate(node.rightFilter), outer, rc)
    rc.free(right)
    right = kept
  }
  const on = node.on === null ? null : rc.predicate(node.on)
  const matches = (l: Row, r: Row): boolean => on === null || on([...l, ...r, ...outer], params, ctx)
  const nullsL = new Array<Value>(node.leftWidth).fill(null)
  const nullsR = new Array<Value>(node.rightWidth).fill(null)
  const out = new Output(guard, shallowRowBytes(node.leftWidth + node.rightWidth), sink)
  const type = node.joinType
  if (node.keys !== undefined) {
    const lk = keyFunction(node.keys.left.map((e) => rc.expr(e)), rc, outer)
    const rk = keyFunction(node.keys.right.map((e) => rc.expr(e)), rc, outer)
    if ((type === 'inner' || type === 'cross') && left.length <= right.length) {
      const { table, bytes } = yield* buildTable(left, lk, guard)
      rc.trace(node, `Hash Join (build on the left: ${left.length} rows, probe ${right.length})`)
      for (const r of right) {
        if (out.done) break
        if (guard.tick()) yield
        const bucket = table.get(rk(r))
        if (bucket !== undefined) for (const l of bucket) if (matches(l, r)) out.push([...l, ...r])
      }
      guard.release(bytes)
    } else if (type === 'right') {
      const { table, bytes } = yield* buildTable(left, lk, guard)
      rc.trace(node, `Hash Right Join (build on the left: ${left.length} rows)`)
      for (const r of right) {
        if (out.done) break
        if (guard.tick()) yield
        let hit = false
        const bucket = table.get(rk(r))
        if (bucket !== undefined) for (const l of bucket) if (matches(l, r)) { out.push([...l, ...r]); hit = true }
        if (!hit) out.push([...nullsL, ...r])
      }
      guard.release(bytes)
    } else {
      // inner (right side smaller), left and full: build on the right, probe with the left.
      const { table, bytes } = yield* buildTable(right, rk, guard)
      rc.trace(node, `Hash ${type === 'full' ? 'Full ' : type === 'left' ? 'Left ' : ''}Join (build on the right: ${right.length} rows, probe ${left.length})`)
      const matched = type === 'full' ? new Set<Row>() : null
      for (const l of left) {
        if (out.done) break
        if (guard.tick()) yield
        let hit = false
        const bucket = table.get(lk(l))
        if (bucket !== undefined) {
          for (const r of bucket) {
            if (!matches(l, r)) continue
            out.push([...l, ...r])
            hit = true
            matched?.add(r)
          }
        }
        if (!hit && type !== 'inner' && type !== 'cross') out.push([...l, ...nullsR])
      }
      if (matched !== null) {
        for (const r of right) {
          if (out.done) break
          if (guard.tick()) yield
          if (!matched.has(r)) out.push([...nullsL, ...r])
        }
      }
      guard.release(bytes)
    }
  } else if (type === 'full') {
    rc.trace(node, 'Nested Loop Full Join')
    const matched = new Set<Row>()
    for (const l of left) {
      if (out.done) break
      let hit = false
      for (const r of right) {
        if (out.done) break
        if (guard.tick()) yield
        if (matches(l, r)) { out.push([...l, ...r]); hit = true; matched.add(r) }
      }
      if (!hit) out.push([...l, ...nullsR])
    }
    for (const r of right) if (!matched.has(r)) out.push([...nullsL, ...r])
  } else if (type === 'right') {
    rc.trace(node, 'Nested Loop Right Join')
    for (const r of right) {
      if (out.done) break
      let hit = false
      for (const l of left) {
        if (out.done) break
        if (guard.tick()) yield
        if (matches(l, r)) { out.push([...l, ...r]); hit = true }
      }
      if (!hit) out.push([...nullsL, ...r])
    }
  } else {
    rc.trace(node, `Nested Loop${type === 'left' ? ' Left Join' : ''}`)
    for (const l of left) {
      if (out.done) break
      let hit = false
      for (const r of right) {
        if (out.done) break
        if (guard.tick()) yield
        if (matches(l, r)) { out.push([...l, ...r]); hit = true }
      }
      if (!hit && type === 'left') out.push([...l, ...nullsR])
    }
  }
  rc.free(left)
  rc.free(right)
  if (sink !== undefined) rc.trace(node, `${out.count} rows streamed into the block above`)
  rc.own(out.rows, out.bytes)
  return out.rows
}

interface KeyPair {
  /** Over the rows joined so far (full width). */
  readonly joined: BoundExpr
  /** Over the leaf's own row. */
  readonly leaf: BoundExpr
}

/**
 * Inner and comma joins with pushed-down filters: the leaves are read and filtered, then joined one at a
 * time, starting from the smallest and taking next the smallest leaf that an equality connects to what is
 * joined so far (a hash join, built on the smaller side), or the smallest of all when none is (a nested
 * loop). Each condition is checked as soon as every leaf it reads has joined. Rows are `node.width` wide
 * with every leaf's columns in its place, so that conditions and the block above read them as written.
 */
export function* multiJoin(node: Extract<RelNode, { kind: 'multi_join' }>, outer: Row, rc: RelContext, sink?: Sink): Steps<Row[]> {
  const { guard, params, ctx } = rc
  const width = node.width
  const leafRows: Row[][] = []
  for (const leaf of node.leaves) {
    const rows = yield* rc.exec(leaf.node, outer)
    if (leaf.filter === null) {
      leafRows.push(rows)
      continue
    }
    const kept = yield* filterRows(rows, rc.predicate(leaf.filter), outer, rc)
    rc.free(rows)
    leafRows.push(kept)
  }
  const applied = new Set<JoinCondition>()
  const remaining = new Set(node.leaves.map((_, i) => i))
  const smallest = (candidates: Iterable<number>): number => {
    let best = -1
    for (const i of candidates) if (best === -1 || leafRows[i]!.length < leafRows[best]!.length) best = i
    return best
  }
  const takeReady = (mask: number): JoinCondition[] => {
    const ready = node.conditions.filter((c) => !applied.has(c) && (c.mask & ~mask) === 0)
    for (const c of ready) applied.add(c)
    return ready
  }
  const rowCost = shallowRowBytes(width)
  const first = smallest(remaining)
  remaining.delete(first)
  let mask = 1 << first
  let joined: Row[]
  {
    const leaf = node.leaves[first]!
    const preds = takeReady(mask).map((c) => rc.predicate(c.expr))
    const out = new Output(guard, rowCost)
    for (const r of leafRows[first]!) {
      if (guard.tick()) yield
      const m = widen(r, leaf, width)
      if (preds.every((p) => p(frame(m, outer), params, ctx))) out.push(m)
    }
    rc.free(leafRows[first]!)
    rc.own(out.rows, out.bytes)
    joined = out.rows
    rc.trace(node, `start with ${describeLeaf(node, first)}: ${joined.length} rows`)
  }
  while (remaining.size > 0) {
    const keysFor = (leafIndex: number): { pairs: KeyPair[]; conds: JoinCondition[] } => {
      const bit = 1 << leafIndex
      const pairs: KeyPair[] = []
      const conds: JoinCondition[] = []
      for (const c of node.conditions) {
        if (applied.has(c) || c.equi === null) continue
        const [a, b] = c.equi
        if ((a.mask & ~mask) === 0 && b.mask === bit && b.local !== null) pairs.push({ joined: a.expr, leaf: b.local })
        else if ((b.mask & ~mask) === 0 && a.mask === bit && a.local !== null) pairs.push({ joined: b.expr, leaf: a.local })
        else continue
        conds.push(c)
      }
      return { pairs, conds }
    }
    const connected = [...remaining].filter((i) => keysFor(i).pairs.length > 0)
    const next = smallest(connected.length > 0 ? connected : remaining)
    const { pairs, conds } = keysFor(next)
    for (const c of conds) applied.add(c)
    remaining.delete(next)
    mask |= 1 << next
    const residual = takeReady(mask).map((c) => rc.predicate(c.expr))
    const before = joined
    // The last join hands its rows to the sink, if there is one.
    const last = remaining.size === 0 ? sink : undefined
    const step = yield* joinLeaf(node, joined, leafRows[next]!, node.leaves[next]!, pairs, residual, outer, rc, last)
    joined = step.rows
    rc.trace(node, `${pairs.length > 0 ? 'hash join' : 'nested loop'} ${describeLeaf(node, next)} (${leafRows[next]!.length} rows): ${step.count} rows${last !== undefined ? ' streamed into the block above' : ''}`)
    rc.free(before)
    rc.free(leafRows[next]!)
  }
  return joined
}

function widen(r: Row, leaf: JoinLeaf, width: number): Row {
  const m = new Array<Value>(width).fill(null)
  for (let j = 0; j < leaf.width; j++) m[leaf.offset + j] = r[j] ?? null
  return m
}

function merge(joined: Row, r: Row, leaf: JoinLeaf): Row {
  const m = joined.slice()
  for (let j = 0; j < leaf.width; j++) m[leaf.offset + j] = r[j] ?? null
  return m
}

function* joinLeaf(
  node: Extract<RelNode, { kind: 'multi_join' }>,
  joined: readonly Row[],
  rows: readonly Row[],
  leaf: JoinLeaf,
  pairs: readonly KeyPair[],
  residual: readonly Predicate[],
  outer: Row,
  rc: RelContext,
  sink: Sink | undefined,
): Steps<{ rows: Row[]; count: number }> {
  const { guard, params, ctx } = rc
  const out = new Output(guard, shallowRowBytes(node.width), sink)
  const accept = (m: Row): void => {
    if (residual.length === 0) return out.push(m)
    const f = frame(m, outer)
    for (const p of residual) if (!p(f, params, ctx)) return
    out.push(m)
  }
  if (pairs.length === 0) {
    for (const j of joined) {
      if (out.done) break
      for (const r of rows) {
        if (guard.tick()) yield
        accept(merge(j, r, leaf))
        if (out.done) break
      }
    }
  } else {
    const joinedKey = keyFunction(pairs.map((p) => rc.expr(p.joined)), rc, outer)
    const leafKey = keyFunction(pairs.map((p) => rc.expr(p.leaf)), rc, outer)
    // The hash table is built on the smaller side and probed with the other; `merge` keeps its order.
    const buildJoined = joined.length <= rows.length
    const [build, buildKey, probe, probeKey] = buildJoined ? [joined, joinedKey, rows, leafKey] : [rows, leafKey, joined, joinedKey]
    const { table, bytes } = yield* buildTable(build, buildKey, guard)
    for (const p of probe) {
      if (out.done) break
      if (guard.tick()) yield
      const bucket = table.get(probeKey(p))
      if (bucket !== undefined) for (const b of bucket) accept(buildJoined ? merge(b, p, leaf) : merge(p, b, leaf))
    }
    guard.release(bytes)
  }
  rc.own(out.rows, out.bytes)
  return { rows: out.rows, count: out.count }
}

function describeLeaf(node: Extract<RelNode, { kind: 'multi_join' }>, i: number): string {
  const leaf = node.leaves[i]!.node
  return leaf.kind === 'scan' ? leaf.relation.name : leaf.kind === 'function' ? leaf.fn : `input ${i + 1}`
}

/**
 * A LATERAL join: the right side runs once per left row with that row in front of `outer`, so its
 * expressions read the left row's columns; LEFT keeps a left row no right row matched, NULLs on the right.
 * Right rows are released as soon as they are joined; output rows are charged as they come.
 */
export function* lateralJoin(node: Extract<RelNode, { kind: 'lateral' }>, outer: Row, rc: RelContext, sink?: Sink): Steps<Row[]> {
  const { guard, params, ctx } = rc
  const left = yield* rc.exec(node.left, outer)
  const on = node.on === null ? null : rc.predicate(node.on)
  const out = new Output(guard, shallowRowBytes(node.leftWidth + node.rightWidth), sink)
  const nulls: Value[] = new Array<Value>(node.rightWidth).fill(null)
  for (const l of left) {
    if (out.done) break
    if (guard.tick()) yield
    const right = yield* rc.exec(node.right, outer.length === 0 ? l : [...l, ...outer])
    let matched = false
    for (const r of right) {
      if (guard.tick()) yield
      const row = [...l, ...r]
      if (on !== null && !on(outer.length === 0 ? row : [...row, ...outer], params, ctx)) continue
      matched = true
      out.push(row)
      if (out.done) break
    }
    rc.free(right)
    if (!matched && node.joinType === 'left') out.push([...l, ...nulls])
  }
  rc.free(left)
  rc.own(out.rows, out.bytes)
  return out.rows
}
