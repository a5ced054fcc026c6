/**
 * The per-event cost of exact numeric: sum() over 1,000,000 amounts (scale 2), as a double, as Sluice's
 * numeric (BigInt + scale, common/numeric.ts), and, when installed, as decimal.js and big.js values (not
 * dependencies of Sluice: `npm install --no-save decimal.js big.js` to include them). Two measures:
 *   - sum: the aggregate step alone over values already decoded;
 *   - decode+sum: a stream's compiled JSON decoder (float8 vs numeric(12,2) column) and the step, the
 *     per-event path of `SELECT sum(amount)` in a continuous view minus state and scheduling.
 * CPU time per event (process.cpuUsage), variants interleaved, median of the rounds.
 *
 *   node --import tsx bench/numeric-sum.ts [events] [rounds]
 */
import { Types, numericType } from '../common/types.ts'
import { Numeric, numSumStep, parseNumeric } from '../common/numeric.ts'
import { compileDecoder } from '../executor/decode.ts'

const N = Number(process.argv[2] ?? 1_000_000)
const ROUNDS = Number(process.argv[3] ?? 7)

const texts = Array.from({ length: N }, (_, i) => `${Math.floor(i % 100_000 / 100)}.${String(i % 100).padStart(2, '0')}`)
const records = texts.map((t) => `{"shop":"s${texts.length % 7}","amount":${t}}`)
const doubles = texts.map(Number)
const numerics = texts.map(parseNumeric)

interface Variant {
  readonly name: string
  readonly run: () => string
}

const variants: Variant[] = [
  {
    name: 'sum: double',
    run: () => {
      let acc = 0
      for (let i = 0; i < N; i++) acc += doubles[i]!
      return String(acc)
    },
  },
  {
    name: 'sum: numeric (BigInt + scale)',
    run: () => {
      let acc: Numeric | null = null
      for (let i = 0; i < N; i++) acc = numSumStep(acc, numerics[i]!)
      return String(acc)
    },
  },
]

/** A decimal library's sum, when the package is installed (constructor from text, `plus`). */
async function library(name: string): Promise<void> {
  let Ctor: new (v: string) => { plus(o: unknown): unknown }
  try {
    Ctor = ((await import(name)) as { default: typeof Ctor }).default
  } catch {
    console.log(`(${name} not installed: skipped)`)
    return
  }
  const values = texts.map((t) => new Ctor(t))
  variants.push({
    name: `sum: ${name}`,
    run: () => {
      let acc = new Ctor('0')
      for (let i = 0; i < N; i++) acc = acc.plus(values[i]) as typeof acc
      return String(acc)
    },
  })
}

await library('decimal.js')
await library('big.js')

const decodeFloat = compileDecoder([{ name: 'shop', type: Types.text, nullable: true }, { name: 'amount', type: Types.float8, nullable: true }])
const decodeNumeric = compileDecoder([{ name: 'shop', type: Types.text, nullable: true }, { name: 'amount', type: numericType(12, 2), nullable: true }])
variants.push(
  {
    name: 'decode+sum: float8 column',
    run: () => {
      let acc = 0
      for (let i = 0; i < N; i++) acc += decodeFloat(records[i]!)[1] as number
      return String(acc)
    },
  },
  {
    name: 'decode+sum: numeric(12,2) column',
    run: () => {
      let acc: Numeric | null = null
      for (let i = 0; i < N; i++) acc = numSumStep(acc, decodeNumeric(records[i]!)[1] as Numeric)
      return String(acc)
    },
  },
)

const samples = new Map<string, number[]>()
const results = new Map<string, string>()
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) {
    const before = process.cpuUsage()
    const out = v.run()
    const used = process.cpuUsage(before)
    if (r > 0) samples.set(v.name, [...(samples.get(v.name) ?? []), ((used.user + used.system) * 1000) / N])
    results.set(v.name, out)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`${N} events, ${ROUNDS - 1} measured rounds (first is warm-up), CPU ns per event (median):`)
for (const v of variants) console.log(`  ${v.name.padEnd(36)} ${median(samples.get(v.name)!).toFixed(1).padStart(7)} ns   sum = ${results.get(v.name)}`)
