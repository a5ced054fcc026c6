/**
 * The WINDOW clause: `SELECT sum(x) OVER w, avg(x) OVER (w ORDER BY ts) FROM t WINDOW w AS (PARTITION BY k)`.
 * Named windows are resolved here, on libpg-query's nodes, into the window each OVER stands for, with
 * PostgreSQL's rules (transformWindowDefinitions): `OVER w` takes w as it is; `OVER (w ...)` and
 * `WINDOW w2 AS (w ...)` copy w's PARTITION BY and ORDER BY and may add an ORDER BY only where w has none and
 * a frame only where w has none. The planner then sees inline windows only.
 */
import type * as pg from 'libpg-query'
import { planError, SqlState, type Span } from '../../common/errors.ts'
import { at, spanOf, type TranslateContext } from './context.ts'

/** FRAMEOPTION_NONDEFAULT: the window has a frame clause of its own. */
const FRAME_WRITTEN = 0x1

/** The SELECT block's named windows, each resolved against the ones before it. */
export function windowDefinitions(clause: readonly pg.Node[] | undefined, ctx: TranslateContext): ReadonlyMap<string, pg.WindowDef> {
  const defs = new Map<string, pg.WindowDef>()
  for (const node of clause ?? []) {
    if (!('WindowDef' in node)) continue
    const w = node.WindowDef
    const span = spanOf(ctx, at(ctx, w.location))
    const name = w.name ?? ''
    if (defs.has(name)) throw planError(SqlState.windowingError, `window "${name}" is already defined`, span)
    defs.set(name, { ...copied(w, defs, span), name })
  }
  return defs
}

/** The window an OVER clause stands for. */
export function resolveWindow(w: pg.WindowDef, defs: ReadonlyMap<string, pg.WindowDef> | undefined, span: Span): pg.WindowDef {
  if (w.name !== undefined && w.refname === undefined) {
    const named = defs?.get(w.name)
    if (named === undefined) throw planError(SqlState.undefinedObject, `window "${w.name}" does not exist`, span)
    return { ...named, location: w.location }
  }
  return copied(w, defs ?? new Map(), span)
}

/** `(w ORDER BY ... frame)`: w's partitioning and order with what this window adds. */
function copied(w: pg.WindowDef, defs: ReadonlyMap<string, pg.WindowDef>, span: Span): pg.WindowDef {
  if (w.refname === undefined) return w
  const base = defs.get(w.refname)
  if (base === undefined) throw planError(SqlState.undefinedObject, `window "${w.refname}" does not exist`, span)
  if (w.partitionClause !== undefined) throw planError(SqlState.windowingError, `cannot override PARTITION BY clause of window "${w.refname}"`, span)
  if (w.orderClause !== undefined && base.orderClause !== undefined) throw planError(SqlState.windowingError, `cannot override ORDER BY clause of window "${w.refname}"`, span)
  if (((base.frameOptions ?? 0) & FRAME_WRITTEN) !== 0) {
    throw planError(SqlState.windowingError, `cannot copy window "${w.refname}" because it has a frame clause`, span, 'Omit the parentheses in this OVER clause.')
  }
  return {
    ...(base.partitionClause === undefined ? {} : { partitionClause: base.partitionClause }),
    ...(w.orderClause ?? base.orderClause ? { orderClause: w.orderClause ?? base.orderClause } : {}),
    frameOptions: w.frameOptions,
    ...(w.startOffset === undefined ? {} : { startOffset: w.startOffset }),
    ...(w.endOffset === undefined ? {} : { endOffset: w.endOffset }),
    ...(w.location === undefined ? {} : { location: w.location }),
  }
}
