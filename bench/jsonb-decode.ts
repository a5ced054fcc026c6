/**
 * The per-event cost of decoding a jsonb column from a stream's record (executor/decode.ts), for records
 * whose numbers a double keeps as written (`"price": 12.25`: the parsed value is used) and for records with
 * a number it would change (`"price": 12.50`: the member's text is cut from the record so that jsonb keeps
 * `12.50`). CPU time per event (process.cpuUsage), the two shapes interleaved, median of the rounds.
 *
 *   node --import tsx bench/jsonb-decode.ts [events] [rounds]
 */
import { Types } from '../common/types.ts'
import { compileDecoder } from '../executor/decode.ts'

const N = Number(process.argv[2] ?? 200_000)
const ROUNDS = Number(process.argv[3] ?? 7)

const decode = compileDecoder([
  { name: 'id', type: Types.int4, nullable: true },
  { name: 'attrs', type: Types.jsonb, nullable: true },
])
const records = (fraction: string): string[] =>
  Array.from({ length: N }, (_, i) => `{"id": ${i}, "attrs": {"device": "d${i % 7}", "price": ${i % 1000}.${fraction}, "tags": ["a", "b"], "n": ${i}}}`)
const shapes = [
  { name: 'jsonb, numbers a double keeps (12.25)', records: records('25') },
  { name: 'jsonb, numbers it would change (12.50)', records: records('50') },
]

const times = shapes.map(() => [] as number[])
for (let round = 0; round < ROUNDS; round++) {
  shapes.forEach((shape, k) => {
    const start = process.cpuUsage()
    for (const r of shape.records) decode(r)
    const used = process.cpuUsage(start)
    times[k]!.push(((used.user + used.system) * 1000) / N)
  })
}
shapes.forEach((shape, k) => {
  const sorted = [...times[k]!].sort((a, b) => a - b)
  console.log(`${shape.name}: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ns/event (median of ${ROUNDS})`)
})
