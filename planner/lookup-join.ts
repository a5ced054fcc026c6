/**
 * A stream joined to a keyed view (the profile-then-campaign order of real-time CRM):
 *
 *   SELECT ... FROM game_events e JOIN player_profile p USING (player_id)
 *   SELECT ... FROM TUMBLE(game_events, ts, INTERVAL '30 minutes') e LEFT JOIN player_level p ON p.player_id = e.player_id
 *
 * The view must be a GROUP BY over plain columns without a window (one row per key), and the join must
 * equate every one of its group keys with a column of the stream. Each event then looks up one row of the
 * view. When the view reads the same stream and is keyed by the same columns, the event sees the view as
 * of itself: after the view took in this event and every earlier one, and none after it.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { Column } from '../common/types.ts'
import type { Catalog, StreamDef, ViewDef } from './catalog.ts'
import type { Scope, ScopeColumn } from './scope.ts'

export interface LookupJoinSpec {
  /** The keyed view looked up. */
  readonly view: string
  readonly type: 'inner' | 'left'
  /** Stream columns giving the view's group key values, in the order of the view's GROUP BY. */
  readonly keyIndexes: readonly number[]
  /** The view's columns, appended to each event's row (after window_start / window_end when windowed). */
  readonly columns: readonly Column[]
  /** The view reads the same stream by the same key: the lookup sees it as of each event. */
  readonly asOfEvent: boolean
}

/** The right side of the join, resolved and checked: a keyed view. */
export function lookupView(ref: ast.FromItem, catalog: Catalog): { view: ViewDef; alias: string } {
  if (ref.kind !== 'table_ref') throw unsupported('a stream joins a keyed materialized view by name', ref.span)
  const name = ref.name.parts[ref.name.parts.length - 1]!
  const entry = catalog.relation(name, ref.name.span)
  if (entry.kind !== 'view') {
    throw unsupported(`joining two streams ("${name}") is not supported yet`, ref.name.span, 'Join the stream to a materialized view keyed by the join column (GROUP BY player_id).')
  }
  if (!isKeyedView(entry)) {
    throw unsupported(`"${name}" is not a keyed view: a lookup join needs a GROUP BY over plain columns without a window`, ref.name.span)
  }
  return { view: entry, alias: ref.alias ?? name }
}

function isKeyedView(v: ViewDef): boolean {
  const body = v.plan.body
  return body.kind === 'aggregate' && v.plan.window === null && body.aggregation.keys.every((k) => k.kind === 'column')
}

/**
 * Finds, for each group key of the view, the stream column the join equates it with. `scope` holds the
 * stream's columns first (`streamWidth` of them, then any window columns) and the view's columns after
 * `viewStart`.
 */
export function planLookupJoin(join: ast.JoinRef, stream: StreamDef, view: ViewDef, scope: Scope, viewStart: number): LookupJoinSpec {
  if (join.joinType !== 'inner' && join.joinType !== 'left') {
    throw unsupported(`${join.joinType.toUpperCase()} JOIN of a stream to a view is not supported; use JOIN or LEFT JOIN`, join.span)
  }
  const width = stream.columns.length
  const pairs: [number, number][] = [] // [stream column, view column]
  if (join.using !== undefined) {
    for (const name of join.using) {
      const s = stream.columns.findIndex((c) => c.name === name)
      const v = view.columns.findIndex((c) => c.name === name)
      if (s === -1 || v === -1) throw planError(SqlState.undefinedColumn, `column "${name}" specified in USING clause does not exist in ${s === -1 ? 'left' : 'right'} table`, join.span)
      pairs.push([s, v])
    }
  } else if (join.on !== undefined) {
    for (const eq of conjuncts(join.on)) {
      if (eq.kind !== 'binary_op' || eq.op !== '=' || eq.left.kind !== 'column_ref' || eq.right.kind !== 'column_ref') {
        throw unsupported('the ON clause of a lookup join equates columns (e.player_id = p.player_id, joined by AND)', spanOf(eq))
      }
      const a = scope.resolve(eq.left.table, eq.left.name, eq.left.span)
      const b = scope.resolve(eq.right.table, eq.right.name, eq.right.span)
      const [s, v] = a < viewStart ? [a, b] : [b, a]
      if (s >= width || v < viewStart) throw unsupported('the ON clause must equate a column of the stream with a column of the view', spanOf(eq))
      pairs.push([s, v - viewStart])
    }
  } else {
    throw unsupported('a lookup join needs ON or USING', join.span)
  }
  const body = view.plan.body
  if (body.kind !== 'aggregate') throw unsupported(`"${view.name}" is not a keyed view`, join.span)
  const keys = body.aggregation.keys
  // Output column i of the view is group key j when it is the post-aggregation column j.
  const keyOfOutput = (v: number): number => {
    const o = body.output[v]
    return o !== undefined && o.kind === 'column' ? o.index : -1
  }
  const keyIndexes = keys.map((_, j) => {
    const pair = pairs.find(([, v]) => keyOfOutput(v) === j)
    if (pair === undefined) {
      throw unsupported(`the join must give every group key of ${view.name}; key ${j + 1} (${keys[j]!.kind === 'column' ? keys[j]!.name : '?'}) is missing`, join.span, 'Select the key columns in the view and join on all of them.')
    }
    const [s, v] = pair
    if (stream.columns[s]!.type.name !== view.columns[v]!.type.name) {
      throw planError(SqlState.datatypeMismatch, `join column types differ: ${stream.columns[s]!.name} is ${stream.columns[s]!.type.name}, ${view.name}.${view.columns[v]!.name} is ${view.columns[v]!.type.name}`, join.span)
    }
    return s
  })
  const asOfEvent = view.plan.source.name === stream.name && keys.every((k, j) => k.kind === 'column' && k.index === keyIndexes[j])
  return { view: view.name, type: join.joinType, keyIndexes, columns: view.columns, asOfEvent }
}

/** Scope columns of the view's side: USING columns answer only to their qualified name. */
export function viewScopeColumns(view: ViewDef, alias: string, using: readonly string[] | undefined, nullable: boolean): ScopeColumn[] {
  return view.columns.map((c) => ({ table: alias, name: c.name, type: c.type, nullable: nullable || c.nullable, ...(using?.includes(c.name) ? { qualifiedOnly: true } : {}) }))
}

function conjuncts(e: ast.Expr): ast.Expr[] {
  return e.kind === 'bool_expr' && e.op === 'and' ? e.args.flatMap(conjuncts) : [e]
}

function spanOf(e: ast.Expr): ast.Span {
  return (e as { span: ast.Span }).span
}
