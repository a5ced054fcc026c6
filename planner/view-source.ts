/**
 * A view read by another view (or a trigger) as a stream of its rows: views over views.
 *
 * A view whose rows are final once they appear (a windowed aggregation with EMIT ON WINDOW CLOSE, SESSION
 * windows included; a view without aggregation, window functions, MATCH_RECOGNIZE) is read like a stream:
 * each row once, as an event. A GROUP BY that changes its rows as events arrive is read as changes: each
 * time a group's row changes, the old row is withdrawn and the new one added, which only an aggregation that
 * can take rows back (count, sum, avg, min, max; no window) can follow; planView checks that
 * (checkChangingSource).
 *
 * The view's rows get an event time when one of its columns carries it (window_end or window_start of a
 * windowed aggregation, the stream's event-time column passed through otherwise), and a watermark that
 * follows the read view's: `lag` behind it, which is where the read view's output has got to (a window is
 * written once the watermark passed its end plus the allowed lateness).
 */
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { BoundAggregate } from '../expr/aggregates.ts'
import type { StreamDef, ViewDef, WatermarkSpec } from './catalog.ts'

/** What a reading view needs to know about the read view's rows: its time column and how far behind they are. */
interface RowTime {
  readonly timeIndex: number | null
  /** The read view's output has reached its watermark minus this (microseconds). */
  readonly lag: number
  /** How far behind the output frontier a row may still arrive (rows of a view without aggregation). */
  readonly lateness: number
  /** The view changes its rows: readers get each change as a withdrawal and an addition. */
  readonly changes: boolean
}

/** The stream at the root of a chain of views. */
export function baseStreamName(source: StreamDef): string {
  return source.source.kind === 'view' ? source.source.stream : source.name
}

/** `view` as the source of another view or trigger; throws (0A000) for a view whose rows are not final. */
export function viewAsStream(view: ViewDef, span: Span | undefined): StreamDef {
  const time = rowTime(view, span)
  const source = view.plan.source
  let watermark: WatermarkSpec | null = null
  if (time.timeIndex !== null) {
    const c = view.columns[time.timeIndex]!
    const expr: BoundExpr = { kind: 'column', index: time.timeIndex, name: c.name, type: c.type }
    watermark = { columnIndex: time.timeIndex, expr, sql: c.name }
  }
  return {
    kind: 'stream',
    id: view.id,
    name: view.name,
    columns: view.columns,
    watermark,
    options: {},
    partitions: source.partitions,
    keyColumn: keyColumn(view),
    allowedLateness: time.lateness,
    source: { kind: 'view', view: view.name, stream: baseStreamName(source), lag: time.lag, changes: time.changes },
    format: { kind: 'json' },
    metadata: [],
    sql: view.sql,
  }
}

/**
 * A view reading a view whose rows change follows it by withdrawals and additions: only a GROUP BY without a
 * window, lookup join or window functions, whose aggregates can take a row back (count, sum, avg, min, max). A
 * trigger on such a view fires on the new rows (each changed row's new version).
 */
export function checkChangingSource(
  source: StreamDef,
  shape: { readonly window: boolean; readonly join: boolean; readonly aggregates: readonly BoundAggregate[] | null; readonly windowFunctions: boolean; readonly trigger: boolean },
  span: Span | undefined,
): void {
  if (source.source.kind !== 'view' || !source.source.changes) return
  const refuse = (what: string, hint: string) =>
    planError(SqlState.featureNotSupported, `materialized view "${source.name}" changes its rows as events arrive, so ${what}`, span, hint)
  const finalHint = `Or give "${source.name}" a window with EMIT ON WINDOW CLOSE: then its rows are final when they appear.`
  if (shape.window) throw refuse('a view cannot put its rows in windows', `Read the stream "${source.source.stream}" with the window instead. ${finalHint}`)
  if (shape.join) throw refuse('a view reading it cannot join another view yet', finalHint)
  if (shape.windowFunctions) throw refuse('window functions cannot read it', finalHint)
  if (shape.trigger) return
  if (shape.aggregates === null) throw refuse('a view reading it must aggregate it (GROUP BY with count, sum, avg, min or max)', `Query "${source.name}" with WHERE instead. ${finalHint}`)
  for (const a of shape.aggregates) {
    if ((a.spec.undoable ?? a.spec).retract === undefined || a.distinct) {
      throw refuse(`${a.distinct ? `${a.spec.name}(DISTINCT ...)` : a.spec.name} cannot follow it (it cannot take back a withdrawn row)`, `Use count, sum, avg, min or max without DISTINCT. ${finalHint}`)
    }
  }
}

/** Index of the output column that is the input column `index` passed through unchanged, or null. */
function passedThrough(output: readonly BoundExpr[], index: number): number | null {
  const i = output.findIndex((e) => e.kind === 'column' && e.index === index)
  return i === -1 ? null : i
}

/** The view's column that shows the stream's key column (triggers key their cooldowns and caps by it), or null. */
function keyColumn(view: ViewDef): number | null {
  const key = view.plan.source.keyColumn
  const body = view.plan.body
  if (key === null) return null
  switch (body.kind) {
    case 'project':
    case 'over':
      return passedThrough(body.output, key)
    case 'aggregate': {
      const k = body.aggregation.keys.findIndex((e) => e.kind === 'column' && e.index === key)
      return k === -1 ? null : passedThrough(body.output, k)
    }
    case 'pattern': {
      // A match's row starts with the partition columns (ONE ROW PER MATCH) or all of the stream's.
      const pp = body.pattern
      const at = pp.rowsPerMatch === 'one_row' ? pp.partitionBy.indexOf(key) : key
      return at === -1 ? null : passedThrough(body.output, at)
    }
  }
}

function rowTime(view: ViewDef, span: Span | undefined): RowTime {
  const plan = view.plan
  const lateness = plan.source.allowedLateness
  const streamTime = plan.source.watermark?.columnIndex ?? null
  const body = plan.body
  switch (body.kind) {
    case 'project':
      return { timeIndex: streamTime === null ? null : passedThrough(body.output, streamTime), lag: 0, lateness, changes: false }
    case 'over':
      return { timeIndex: passedThrough(body.output, body.timeIndex), lag: lateness, lateness: 0, changes: false }
    case 'pattern':
      return { timeIndex: null, lag: lateness, lateness: 0, changes: false }
    case 'aggregate': {
      const window = plan.window
      if (window?.kind === 'session' && plan.emit !== 'on_window_close') {
        throw unsupported(`reading the SESSION windows of "${view.name}" from another view needs EMIT ON WINDOW CLOSE`, span, `Add EMIT ON WINDOW CLOSE to "${view.name}": then each session's rows are final when they appear.`)
      }
      if (window === null || plan.emit !== 'on_window_close') return { timeIndex: null, lag: 0, lateness: 0, changes: true }
      // Output columns over the group keys: the one that is window_end (or window_start) carries the time.
      const keys = body.aggregation.keys
      const keyNamed = (name: string) => body.output.findIndex((e) => e.kind === 'column' && keys[e.index]?.kind === 'column' && (keys[e.index] as { name: string }).name === name)
      const end = keyNamed('window_end')
      if (end !== -1) return { timeIndex: end, lag: lateness, lateness: 0, changes: false }
      const start = keyNamed('window_start')
      // A window's (or session's) start is at least its size (or the session gap) before its end.
      const width = window.kind === 'session' ? window.gap : window.size
      return { timeIndex: start === -1 ? null : start, lag: lateness + width, lateness: 0, changes: false }
    }
  }
}
