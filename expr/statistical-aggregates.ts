/**
 * The statistical aggregates: stddev / variance (samp and pop), and over pairs (Y, X) corr, covar_*, regr_*.
 * The state and arithmetic are PostgreSQL's float8_accum / float8_regr_accum (Youngs and Cramer's updates:
 * N, Sx, Sxx and for pairs Sy, Syy, Sxy, where Sxx is the sum of squared deviations), so that float8 results
 * agree with PostgreSQL's to the last digit; partial states combine as float8_combine does (HOP windows).
 * stddev / variance over integers and numeric are numeric, from exact sums (numeric-statistics.ts).
 */
import { Types, isNumeric, type SqlType } from '../common/types.ts'
import type { AggregateSpec } from './aggregates.ts'

type Rule = (args: readonly SqlType[], star: boolean) => AggregateSpec | undefined

/** Slots s..s+2: N, Sx, Sxx. */
const accumOne = (s: number, x: string): string =>
  `{ const n0 = acc[${s}]; const n = n0 + 1; const v = ${x}; const sx = acc[${s + 1}] + v; let sxx = acc[${s + 2}];
    if (n0 > 0) { const t = v * n - sx; sxx += t * t / (n * n0); } else if (!Number.isFinite(v)) sxx = NaN;
    acc[${s}] = n; acc[${s + 1}] = sx; acc[${s + 2}] = sxx; }\n`

const mergeOne = (s: number): string =>
  `{ const n1 = acc[${s}]; const n2 = o[${s}];
    if (n2 > 0) {
      if (n1 === 0) { acc[${s}] = n2; acc[${s + 1}] = o[${s + 1}]; acc[${s + 2}] = o[${s + 2}]; }
      else { const n = n1 + n2; const t = acc[${s + 1}] / n1 - o[${s + 1}] / n2; acc[${s + 2}] += o[${s + 2}] + n1 * n2 * t * t / n; acc[${s + 1}] += o[${s + 1}]; acc[${s}] = n; }
    } }\n`

/**
 * Over float4/float8 a float8 from float8_accum's state; over integers and numeric a numeric from exact sums
 * (expr/numeric-statistics.ts), as PostgreSQL computes them. The numeric slots: N, Σx, Σx² (0 or Numeric).
 */
const oneVariable = (name: string, finalize: (s: number) => string, sample: boolean, root: boolean): Rule => (args) => {
  if (args.length !== 1 || !isNumeric(args[0]!)) return undefined
  if (args[0]!.name === 'float4' || args[0]!.name === 'float8') return { name, type: Types.float8, slots: 3, init: [0, 0, 0], update: (s, [x]) => accumOne(s, x!), finalize, acceptsNull: false, merge: mergeOne }
  return {
    name,
    type: Types.numeric,
    slots: 3,
    init: [0, 0, 0],
    update: (s, [x]) => `acc[${s}]++; acc[${s + 1}] = H.numSum(acc[${s + 1}], ${x}); acc[${s + 2}] = H.numSum(acc[${s + 2}], H.numMul(${x}, ${x}));\n`,
    finalize: (s) => `H.numVariance(acc[${s}], acc[${s + 1}], acc[${s + 2}], ${sample}, ${root})`,
    acceptsNull: false,
    retract: (s, [x]) => `acc[${s}]--; acc[${s + 1}] = H.numSub(acc[${s + 1}], ${x}); acc[${s + 2}] = H.numSub(acc[${s + 2}], H.numMul(${x}, ${x}));\n`,
    merge: (s) => `acc[${s}] += o[${s}]; acc[${s + 1}] = H.numSum(acc[${s + 1}], o[${s + 1}]); acc[${s + 2}] = H.numSum(acc[${s + 2}], o[${s + 2}]);\n`,
  }
}

const varPop = (s: number): string => `(acc[${s}] === 0 ? null : acc[${s + 2}] / acc[${s}])`
const varSamp = (s: number): string => `(acc[${s}] <= 1 ? null : acc[${s + 2}] / (acc[${s}] - 1))`
const sqrtOf = (e: string): string => `(${e} === null ? null : Math.sqrt(${e}))`

/** Slots s..s+5: N, Sx, Sxx, Sy, Syy, Sxy; arguments (Y, X) as PostgreSQL orders them. */
const accumTwo = (s: number, y: string, x: string): string =>
  `{ const n0 = acc[${s}]; const n = n0 + 1; const vx = ${x}; const vy = ${y};
    const sx = acc[${s + 1}] + vx; const sy = acc[${s + 3}] + vy; let sxx = acc[${s + 2}]; let syy = acc[${s + 4}]; let sxy = acc[${s + 5}];
    if (n0 > 0) { const tx = vx * n - sx; const ty = vy * n - sy; const k = 1 / (n * n0); sxx += tx * tx * k; syy += ty * ty * k; sxy += tx * ty * k; }
    else { if (!Number.isFinite(vx)) sxx = sxy = NaN; if (!Number.isFinite(vy)) syy = sxy = NaN; }
    acc[${s}] = n; acc[${s + 1}] = sx; acc[${s + 2}] = sxx; acc[${s + 3}] = sy; acc[${s + 4}] = syy; acc[${s + 5}] = sxy; }\n`

const mergeTwo = (s: number): string =>
  `{ const n1 = acc[${s}]; const n2 = o[${s}];
    if (n2 > 0) {
      if (n1 === 0) { for (let i = 0; i < 6; i++) acc[${s} + i] = o[${s} + i]; }
      else {
        const n = n1 + n2; const tx = acc[${s + 1}] / n1 - o[${s + 1}] / n2; const ty = acc[${s + 3}] / n1 - o[${s + 3}] / n2;
        acc[${s + 2}] += o[${s + 2}] + n1 * n2 * tx * tx / n; acc[${s + 4}] += o[${s + 4}] + n1 * n2 * ty * ty / n; acc[${s + 5}] += o[${s + 5}] + n1 * n2 * tx * ty / n;
        acc[${s + 1}] += o[${s + 1}]; acc[${s + 3}] += o[${s + 3}]; acc[${s}] = n;
      }
    } }\n`

const twoVariables = (name: string, type: SqlType, finalize: (s: number) => string): Rule => (args) =>
  args.length === 2 && args.every(isNumeric)
    ? { name, type, slots: 6, init: [0, 0, 0, 0, 0, 0], update: (s, [y, x]) => accumTwo(s, y!, x!), finalize, acceptsNull: false, merge: mergeTwo }
    : undefined

const F = Types.float8
const n = (s: number): string => `acc[${s}]`
const [SX, SXX, SY, SYY, SXY] = [1, 2, 3, 4, 5]
const at = (s: number, k: number): string => `acc[${s + k}]`

export const STATISTICAL_AGGREGATES: Record<string, Rule> = {
  stddev: oneVariable('stddev', (s) => sqrtOf(varSamp(s)), true, true),
  stddev_samp: oneVariable('stddev_samp', (s) => sqrtOf(varSamp(s)), true, true),
  stddev_pop: oneVariable('stddev_pop', (s) => sqrtOf(varPop(s)), false, true),
  variance: oneVariable('variance', varSamp, true, false),
  var_samp: oneVariable('var_samp', varSamp, true, false),
  var_pop: oneVariable('var_pop', varPop, false, false),
  regr_count: twoVariables('regr_count', Types.int8, (s) => n(s)),
  covar_pop: twoVariables('covar_pop', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SXY)} / ${n(s)})`),
  covar_samp: twoVariables('covar_samp', F, (s) => `(${n(s)} < 2 ? null : ${at(s, SXY)} / (${n(s)} - 1))`),
  corr: twoVariables('corr', F, (s) => `(${n(s)} < 1 || ${at(s, SXX)} === 0 || ${at(s, SYY)} === 0 ? null : ${at(s, SXY)} / Math.sqrt(${at(s, SXX)} * ${at(s, SYY)}))`),
  regr_avgx: twoVariables('regr_avgx', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SX)} / ${n(s)})`),
  regr_avgy: twoVariables('regr_avgy', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SY)} / ${n(s)})`),
  regr_sxx: twoVariables('regr_sxx', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SXX)})`),
  regr_syy: twoVariables('regr_syy', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SYY)})`),
  regr_sxy: twoVariables('regr_sxy', F, (s) => `(${n(s)} < 1 ? null : ${at(s, SXY)})`),
  regr_slope: twoVariables('regr_slope', F, (s) => `(${n(s)} < 1 || ${at(s, SXX)} === 0 ? null : ${at(s, SXY)} / ${at(s, SXX)})`),
  regr_intercept: twoVariables('regr_intercept', F, (s) => `(${n(s)} < 1 || ${at(s, SXX)} === 0 ? null : (${at(s, SY)} - ${at(s, SX)} * ${at(s, SXY)} / ${at(s, SXX)}) / ${n(s)})`),
  regr_r2: twoVariables('regr_r2', F, (s) => `(${n(s)} < 1 || ${at(s, SXX)} === 0 ? null : ${at(s, SYY)} === 0 ? 1 : (${at(s, SXY)} * ${at(s, SXY)}) / (${at(s, SXX)} * ${at(s, SYY)}))`),
}
