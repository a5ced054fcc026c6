/**
 * Compiles all aggregates of a GROUP BY into three functions over one shared accumulator array:
 * `init()` makes a fresh accumulator, `update(acc, row, ...)` folds one row in (each aggregate behind its
 * FILTER and null rule), `finalize(acc)` returns the aggregate values in order. An aggregate over DISTINCT
 * arguments keeps the set of values it has seen in one more slot and folds in only new ones (exact, so its
 * state grows with the number of distinct values per group).
 */
import type { Value } from '../common/types.ts'
import type { BoundAggregate } from './aggregates.ts'
import { Emitter, build } from './compile.ts'
import type { EvalContext } from './runtime.ts'

export interface CompiledAggregates {
  readonly slotCount: number
  init(): Value[]
  update(acc: Value[], r: readonly Value[], p: readonly Value[], ctx: EvalContext): void
  finalize(acc: readonly Value[]): Value[]
}

/**
 * `base` is the index of the first slot in the accumulator array: keyed operators keep the group key values
 * in front of the slots, so that one array per group holds everything.
 */
export function compileAggregates(aggs: readonly BoundAggregate[], base = 0): CompiledAggregates {
  const initial: Value[] = []
  const offsets: number[] = []
  for (const a of aggs) {
    offsets.push(base + initial.length)
    initial.push(...a.spec.init)
    // DISTINCT: one more slot, the set of argument values seen (created on first use, persisted with the group).
    if (a.distinct) initial.push(null)
  }

  const emitter = new Emitter()
  let body = ''
  aggs.forEach((agg, i) => {
    const s = offsets[i]!
    let inner = ''
    const args = agg.args.map((e) => emitter.gen(e))
    inner += args.map((g) => g.code).join('')
    const values = args.map((g) => g.value)
    let update = agg.spec.update(s, values)
    if (agg.distinct) {
      const d = s + agg.spec.slots
      const key = values.map((v) => `(typeof ${v} === 'string' ? 's' + ${v} : typeof ${v} === 'number' ? 'n' + ${v} : 'j' + JSON.stringify(${v}))`).join(" + '\\u0000' + ")
      update = `{ if (acc[${d}] === null) acc[${d}] = {}; const k = ${key}; if (acc[${d}][k] === undefined) { acc[${d}][k] = 1;\n${update}} }\n`
    }
    if (agg.spec.acceptsNull || values.length === 0) inner += update
    else inner += `if (${values.map((v) => `${v} !== null`).join(' && ')}) {\n${update}}\n`
    if (agg.filter !== null) {
      const f = emitter.gen(agg.filter)
      body += `${f.code}if (${f.value} === true) {\n${inner}}\n`
    } else {
      body += inner
    }
  })
  const update = build(`${emitter.declarations()}${body}`, emitter.constants, 'acc, r, p, ctx')
  const finalize = build(`return [${aggs.map((a, i) => a.spec.finalize(offsets[i]!)).join(', ')}];\n`, [], 'acc')
  return {
    slotCount: initial.length,
    init: () => initial.slice(),
    update: update as unknown as CompiledAggregates['update'],
    finalize: finalize as unknown as CompiledAggregates['finalize'],
  }
}
