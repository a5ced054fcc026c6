/**
 * Join planning for relational pull queries (pull-plan.ts): predicate pushdown and equi-join keys.
 *
 * A region of inner and comma joins (`FROM a, b, c WHERE a.x = b.y AND ...`, `a JOIN b ON ...`) becomes
 * one `multi_join` node: its leaves (each filtered by the conjuncts of WHERE and ON that read only it), and
 * its other conjuncts, each knowing which leaves it reads, with the equalities between two disjoint sets of
 * leaves marked as hash keys. The executor (executor/pull-join.ts) orders the leaves when it knows their
 * sizes: it starts from the smallest and adds the smallest leaf connected by an equality, as a hash join
 * built on the smaller side; a nested loop only where no equality connects.
 *
 * An outer join (LEFT, RIGHT, FULL) keeps its place: its ON equalities between the two sides become hash
 * keys, and conjuncts over the side that is not preserved filter that side before the join.
 *
 * Expressions are over a frame of the region's own columns followed by the enclosing query's row (`outer`);
 * a leaf's filter and a key over one leaf are remapped to that leaf's own row followed by `outer`.
 */
import type { BoundExpr } from '../expr/bound.ts'
import { columnsUsed } from '../expr/bound.ts'
import { conjunctsOf } from './index-key.ts'
import type { RelNode } from './pull-plan.ts'
import { Types } from '../common/types.ts'

/** One input of a multi-way join: its rows occupy columns [offset, offset + width) of the output. */
export interface JoinLeaf {
  readonly node: RelNode
  readonly offset: number
  readonly width: number
  /** Conjuncts that read only this leaf, over the leaf's row followed by `outer`. */
  readonly filter: BoundExpr | null
}

/** A side of an equality between two sets of leaves. */
export interface EquiSide {
  /** Over the join's frame (its full-width row followed by `outer`). */
  readonly expr: BoundExpr
  /** Bit i set when it reads leaf i. */
  readonly mask: number
  /** The same over the one leaf it reads (leaf row followed by `outer`), when it reads exactly one. */
  readonly local: BoundExpr | null
}

export interface JoinCondition {
  /** Over the join's frame. */
  readonly expr: BoundExpr
  /** The leaves it reads (0: none, only constants or the enclosing row: checked on the first leaf). */
  readonly mask: number
  /** Set when it is `a = b` with `a` and `b` over disjoint leaves and hashable types. */
  readonly equi: readonly [EquiSide, EquiSide] | null
}

/** The executor's bitmask of leaves is a 32-bit integer. */
const MAX_LEAVES = 30

export function mapColumns(e: BoundExpr, f: (index: number) => number): BoundExpr {
  switch (e.kind) {
    case 'column':
      return { ...e, index: f(e.index) }
    case 'const':
    case 'param':
    case 'agg_ref':
      return e
    case 'call':
      return { ...e, args: e.args.map((a) => mapColumns(a, f)) }
    case 'logic':
      return { ...e, args: e.args.map((a) => mapColumns(a, f)) }
    case 'case':
      return { ...e, whens: e.whens.map((w) => ({ when: mapColumns(w.when, f), then: mapColumns(w.then, f) })), else: e.else === null ? null : mapColumns(e.else, f) }
    case 'cast':
      return { ...e, expr: mapColumns(e.expr, f) }
    case 'is_null':
      return { ...e, expr: mapColumns(e.expr, f) }
    case 'in_list':
      return { ...e, expr: mapColumns(e.expr, f), list: e.list.map((x) => mapColumns(x, f)) }
  }
}

const and = (xs: readonly BoundExpr[]): BoundExpr | null => (xs.length === 0 ? null : xs.length === 1 ? xs[0]! : { kind: 'logic', op: 'and', args: xs, type: Types.bool })

/** Types whose values are JavaScript primitives compared with `===` by `=`, so that a Map finds equal keys. */
function hashable(e: BoundExpr): boolean {
  const t = e.type
  return t.element === undefined && t.name !== 'interval' && t.name !== 'bytea' && t.name !== 'unknown'
}

/** `l = r` as its two operands, or null. */
function equality(e: BoundExpr): readonly [BoundExpr, BoundExpr] | null {
  if (e.kind !== 'call' || e.fn !== '=' || e.args.length !== 2) return null
  return [e.args[0]!, e.args[1]!]
}

/**
 * Rewrites the joins of a FROM whose rows have `width` columns, with `filter` (the block's WHERE, over the
 * same frame) pushed into them; returns the new FROM and what is left of the filter for the block.
 */
export function planJoins(from: RelNode, width: number, filter: BoundExpr | null): { node: RelNode; filter: BoundExpr | null } {
  if (from.kind !== 'join') return { node: from, filter }
  if (from.joinType !== 'inner' && from.joinType !== 'cross') return { node: planOuterJoin(from), filter }
  const leaves: { node: RelNode; offset: number; width: number }[] = []
  const conjuncts: BoundExpr[] = []
  collectRegion(from, 0, width, leaves, conjuncts)
  if (leaves.length > MAX_LEAVES) return { node: from, filter }
  conjuncts.push(...conjunctsOf(filter))
  const leafOf = (i: number): number => leaves.findIndex((l) => i >= l.offset && i < l.offset + l.width)
  const maskOf = (e: BoundExpr): number => {
    let m = 0
    for (const i of columnsUsed(e)) if (i < width) m |= 1 << leafOf(i)
    return m
  }
  const single = (m: number): number => (m !== 0 && (m & (m - 1)) === 0 ? Math.log2(m) : -1)
  const local = (e: BoundExpr, leaf: number): BoundExpr => {
    const l = leaves[leaf]!
    return mapColumns(e, (i) => (i < width ? i - l.offset : i - width + l.width))
  }
  const leafFilters: BoundExpr[][] = leaves.map(() => [])
  const conditions: JoinCondition[] = []
  for (const c of conjuncts) {
    const mask = maskOf(c)
    const one = single(mask)
    if (one >= 0) {
      leafFilters[one]!.push(local(c, one))
      continue
    }
    let equi: readonly [EquiSide, EquiSide] | null = null
    const eq = equality(c)
    if (eq !== null && hashable(eq[0]) && hashable(eq[1])) {
      const [a, b] = eq
      const ma = maskOf(a)
      const mb = maskOf(b)
      if (ma !== 0 && mb !== 0 && (ma & mb) === 0) {
        const side = (e: BoundExpr, m: number): EquiSide => ({ expr: e, mask: m, local: single(m) >= 0 ? local(e, single(m)) : null })
        equi = [side(a, ma), side(b, mb)]
      }
    }
    conditions.push({ expr: c, mask, equi })
  }
  const node: RelNode = {
    kind: 'multi_join',
    leaves: leaves.map((l, i) => ({ ...l, filter: and(leafFilters[i]!) })),
    conditions,
    width,
  }
  return { node, filter: null }
}

/** The leaves and ON conjuncts of a tree of inner and cross joins, the conjuncts moved into the region's frame. */
function collectRegion(node: RelNode, offset: number, regionWidth: number, leaves: { node: RelNode; offset: number; width: number }[], conjuncts: BoundExpr[]): number {
  if (node.kind !== 'join' || (node.joinType !== 'inner' && node.joinType !== 'cross')) throw new Error('collectRegion expects an inner join')
  const own = node.leftWidth + node.rightWidth
  const add = (child: RelNode, at: number, w: number): void => {
    if (child.kind === 'join' && (child.joinType === 'inner' || child.joinType === 'cross')) collectRegion(child, at, regionWidth, leaves, conjuncts)
    else leaves.push({ node: planJoins(child, w, null).node, offset: at, width: w })
  }
  add(node.left, offset, node.leftWidth)
  add(node.right, offset + node.leftWidth, node.rightWidth)
  for (const c of conjunctsOf(node.on)) conjuncts.push(mapColumns(c, (i) => (i < own ? offset + i : regionWidth + (i - own))))
  return own
}

/** LEFT / RIGHT / FULL JOIN: hash keys from the ON equalities, the non-preserved side filtered first. */
function planOuterJoin(node: Extract<RelNode, { kind: 'join' }>): RelNode {
  const lw = node.leftWidth
  const own = lw + node.rightWidth
  const left = planJoins(node.left, lw, null).node
  const right = planJoins(node.right, node.rightWidth, null).node
  const sideOf = (e: BoundExpr): number => {
    let m = 0
    for (const i of columnsUsed(e)) if (i < own) m |= i < lw ? 1 : 2
    return m
  }
  const toLeft = (e: BoundExpr): BoundExpr => mapColumns(e, (i) => (i < own ? i : i - own + lw))
  const toRight = (e: BoundExpr): BoundExpr => mapColumns(e, (i) => (i < own ? i - lw : i - own + node.rightWidth))
  const leftKeys: BoundExpr[] = []
  const rightKeys: BoundExpr[] = []
  const leftFilter: BoundExpr[] = []
  const rightFilter: BoundExpr[] = []
  const residual: BoundExpr[] = []
  for (const c of conjunctsOf(node.on)) {
    const m = sideOf(c)
    const eq = equality(c)
    if (eq !== null && hashable(eq[0]) && hashable(eq[1])) {
      const [ma, mb] = [sideOf(eq[0]), sideOf(eq[1])]
      if (ma === 1 && mb === 2) {
        leftKeys.push(toLeft(eq[0]))
        rightKeys.push(toRight(eq[1]))
        continue
      }
      if (ma === 2 && mb === 1) {
        leftKeys.push(toLeft(eq[1]))
        rightKeys.push(toRight(eq[0]))
        continue
      }
    }
    // ON conditions over the side whose rows are not preserved only decide which of them can match.
    if ((m & 1) === 0 && node.joinType === 'left') rightFilter.push(toRight(c))
    else if ((m & 2) === 0 && node.joinType === 'right') leftFilter.push(toLeft(c))
    else residual.push(c)
  }
  return {
    ...node,
    left,
    right,
    on: and(residual),
    ...(leftKeys.length > 0 ? { keys: { left: leftKeys, right: rightKeys } } : {}),
    ...(leftFilter.length > 0 ? { leftFilter: and(leftFilter) } : {}),
    ...(rightFilter.length > 0 ? { rightFilter: and(rightFilter) } : {}),
  }
}
