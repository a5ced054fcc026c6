/**
 * `array_agg(x ORDER BY y DESC)`, `string_agg(h, ',' ORDER BY h)` where one query orders its aggregates
 * differently (a single ordering sorts the block's input instead: pull-plan.ts hoistAggregateOrder). The
 * aggregate becomes a wrapper that keeps each group's argument values with their ORDER BY values, and at
 * the end sorts them (stably, NULLs placed as ORDER BY places them) and runs the aggregate over them.
 * Its state grows with the group's rows, as PostgreSQL's sort per group does; pull queries only.
 */
import type { AggregateSpec } from '../expr/aggregates.ts'

export interface AggregateOrderKey {
  readonly descending: boolean
  readonly nullsFirst: boolean
}

/** The wrappers made here: the pull executor charges each value they keep to the query's memory budget. */
const wrappers = new WeakSet<AggregateSpec>()

export const isOrderedAggregate = (spec: AggregateSpec): boolean => wrappers.has(spec)

export function orderedAggregate(inner: AggregateSpec, argCount: number, keys: readonly AggregateOrderKey[]): AggregateSpec {
  const spec = wrap(inner, argCount, keys)
  wrappers.add(spec)
  return spec
}

function wrap(inner: AggregateSpec, argCount: number, keys: readonly AggregateOrderKey[]): AggregateSpec {
  const compare = keys
    .map((k, i) => {
      const at = argCount + i
      return `{ const x = a[${at}], y = b[${at}]; if (x === null || y === null) { if (x !== y) return (x === null) === ${k.nullsFirst} ? -1 : 1; } else { const c = H.compareValues(x, y); if (c !== 0) return ${k.descending ? '-c' : 'c'}; } }`
    })
    .join(' ')
  const values = Array.from({ length: argCount }, (_, i) => `t[${i}]`)
  const step = inner.update(0, values)
  const guarded = inner.acceptsNull || argCount === 0 ? step : `if (${values.map((v) => `${v} !== null`).join(' && ')}) {\n${step}}\n`
  const init = JSON.stringify(JSON.stringify(inner.init))
  return {
    name: inner.name,
    type: inner.type,
    slots: 1,
    // The list is made on first use: initial slots are copied shallowly for each group.
    init: [null],
    acceptsNull: true,
    update: (s, x) => `if (acc[${s}] === null) acc[${s}] = [];\nacc[${s}].push([${x.join(', ')}]);\n`,
    finalize: (s) =>
      `((rows) => { const acc = JSON.parse(${init}); if (rows !== null) { const sorted = rows.slice().sort((a, b) => { ${compare} return 0; }); for (const t of sorted) {\n${guarded}} } return ${inner.finalize(0)}; })(acc[${s}])`,
  }
}
