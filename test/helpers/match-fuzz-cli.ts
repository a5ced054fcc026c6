/**
 * `npm run fuzz:match -- --count N --seed S`: N random MATCH_RECOGNIZE cases from seed S (S, S+1, ...) run
 * on a fresh Sluice server and on Trino; prints each difference and exits non-zero when there is one.
 */
import { parseArgs } from 'node:util'
import { removeDir, startSluice } from './sluice-process.ts'
import { agree, buildTrino, generateCase, runSluice, runTrino, trinoAvailable, trinoQuery, type Difference } from './match-fuzz.ts'

const { values } = parseArgs({ options: { count: { type: 'string', default: '500' }, seed: { type: 'string', default: '1' }, batch: { type: 'string', default: '500' } } })
const count = Number(values.count)
const seed = Number(values.seed)
const batch = Number(values.batch)

if (!trinoAvailable()) buildTrino()
const sluice = await startSluice()
const client = await sluice.client()
const differences: Difference[] = []
const t0 = Date.now()
try {
  for (let from = 0; from < count; from += batch) {
    const cases = Array.from({ length: Math.min(batch, count - from) }, (_, i) => generateCase(seed + from + i))
    const trino = await runTrino(cases.map(trinoQuery))
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!
      const mine = await runSluice(client, c, `fz${c.seed}`)
      if (!agree(mine, trino[i]!)) {
        differences.push({ seed: c.seed, clause: c.clause, sluice: mine, trino: trino[i]! })
        console.log(JSON.stringify({ seed: c.seed, clause: c.clause, rows: c.rows, sluice: mine, trino: trino[i] }))
      }
    }
    console.error(`fuzz:match ${from + cases.length}/${count} cases, ${differences.length} differences, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
} finally {
  await client.end()
  await sluice.stop()
  await removeDir(sluice.dataDir)
}
console.error(`fuzz:match done: ${count} cases from seed ${seed}, ${differences.length} differences`)
process.exit(differences.length === 0 ? 0 : 1)
