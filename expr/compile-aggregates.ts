/**
 * Compiles all aggregates of a GROUP BY into three functions over one shared accumulator array:
 * `init()` makes a fresh accumulator, `update(acc, row, ...)` folds one row in (each aggregate behind its
 * FILTER and null rule), `finalize(acc)` returns the aggregate values in order. An aggregate over DISTINCT
 * arguments keeps the set of values it has seen in one more slot and folds in only new ones (exact, so its
 * state grows with the number of distinct values per group).
 *
 * Compiled `retractable` (a view over a view whose rows change), there is also `retract(acc, row, ...)`,
 * which takes one earlier row back, and each aggregate keeps in one more slot how many inputs it holds, so
 * that one holding none again finalizes as if it never had any (sum of nothing is NULL, not 0).
 */
import { SqlState, planError } from '../common/errors.ts'
import type { Value } from '../common/types.ts'
import type { BoundAggregate } from './aggregates.ts'
import { Emitter, build } from './compile.ts'
import type { EvalContext } from './runtime.ts'

export interface CompiledAggregates {
  readonly slotCount: number
  init(): Value[]
  update(acc: Value[], r: readonly Value[], p: readonly Value[], ctx: EvalContext): void
  finalize(acc: readonly Value[]): Value[]
  /** Present when compiled retractable: takes back one `update` of the same row. */
  retract?: (acc: Value[], r: readonly Value[], p: readonly Value[], ctx: EvalContext) => void
  /**
   * Present when every aggregate's partial results combine (and none is DISTINCT or retractable): folds
   * accumulator `o` into `acc`, as if `acc` had also seen `o`'s rows.
   */
  merge?: (acc: Value[], o: readonly Value[]) => void
}

/**
 * `base` is the index of the first slot in the accumulator array: keyed operators keep the group key values
 * in front of the slots, so that one array per group holds everything.
 */
export function compileAggregates(aggs: readonly BoundAggregate[], base = 0, retractable = false): CompiledAggregates {
  const initial: Value[] = []
  const offsets: number[] = []
  /** Retractable: the slot counting each aggregate's inputs. */
  const held: number[] = []
  // Where rows are taken back, some aggregates keep more (min and max: a count of each value).
  const specs = aggs.map((a) => (retractable ? (a.spec.undoable ?? a.spec) : a.spec))
  aggs.forEach((a, i) => {
    if (retractable && (specs[i]!.retract === undefined || a.distinct)) throw notRetractable(a)
    offsets.push(base + initial.length)
    initial.push(...specs[i]!.init)
    // DISTINCT: one more slot, the set of argument values seen (created on first use, persisted with the group).
    if (a.distinct) initial.push(null)
    if (retractable) {
      held.push(base + initial.length)
      initial.push(0)
    }
  })

  const fold = (direction: 'update' | 'retract') => {
    const emitter = new Emitter()
    let body = ''
    aggs.forEach((agg, i) => {
      const s = offsets[i]!
      let inner = ''
      const args = agg.args.map((e) => emitter.gen(e))
      inner += args.map((g) => g.code).join('')
      const values = args.map((g) => g.value)
      const spec = specs[i]!
      let step = direction === 'update' ? spec.update(s, values) : spec.retract!(s, values)
      if (retractable) step += `acc[${held[i]!}]${direction === 'update' ? '++' : '--'};\n`
      if (agg.distinct) {
        const d = s + agg.spec.slots
        const key = values.map((v) => `(typeof ${v} === 'string' ? 's' + ${v} : typeof ${v} === 'number' ? 'n' + ${v} : 'j' + JSON.stringify(${v}))`).join(" + '\\u0000' + ")
        step = `{ if (acc[${d}] === null) acc[${d}] = {}; const k = ${key}; if (acc[${d}][k] === undefined) { acc[${d}][k] = 1;\n${step}} }\n`
      }
      if (spec.acceptsNull || values.length === 0) inner += step
      else inner += `if (${values.map((v) => `${v} !== null`).join(' && ')}) {\n${step}}\n`
      if (agg.filter !== null) {
        const f = emitter.gen(agg.filter)
        body += `${f.code}if (${f.value} === true) {\n${inner}}\n`
      } else {
        body += inner
      }
    })
    return build(`${emitter.declarations()}${body}`, emitter.constants, 'acc, r, p, ctx') as unknown as CompiledAggregates['update']
  }
  const finals = specs.map((spec, i) => spec.finalize(offsets[i]!))
  let finalize = build(`return [${finals.join(', ')}];\n`, [], 'acc') as unknown as CompiledAggregates['finalize']
  if (retractable) {
    // An aggregate holding no input again finalizes as it did before its first one.
    const empty = finalize([...new Array<Value>(base).fill(null), ...initial])
    const guarded = finals.map((f, i) => `(acc[${held[i]!}] === 0 ? K[0][${i}] : ${f})`)
    finalize = build(`return [${guarded.join(', ')}];\n`, [empty], 'acc') as unknown as CompiledAggregates['finalize']
  }
  const mergeable = !retractable && aggs.every((a) => a.spec.merge !== undefined && !a.distinct)
  const merge = mergeable ? (build(aggs.map((a, i) => a.spec.merge!(offsets[i]!)).join(''), [], 'acc, o') as unknown as CompiledAggregates['merge']) : undefined
  return {
    slotCount: initial.length,
    init: () => initial.slice(),
    update: fold('update'),
    finalize,
    ...(retractable ? { retract: fold('retract') } : {}),
    ...(merge !== undefined ? { merge } : {}),
  }
}

function notRetractable(a: BoundAggregate) {
  return planError(
    SqlState.featureNotSupported,
    `${a.distinct ? `${a.spec.name}(DISTINCT ...)` : a.spec.name} cannot take back a row, so it cannot aggregate a view whose rows change`,
    undefined,
    'Over such a view use count, sum, avg, min or max (without DISTINCT), or read a view whose rows are final (EMIT ON WINDOW CLOSE).',
  )
}
