/**
 * `npm run fuzz:match -- --count N --seed S [--record]`: N random MATCH_RECOGNIZE cases from seed S (S, S+1,
 * ...) run on a fresh Sluice server and on Trino; prints each difference (one JSON line each) and exits
 * non-zero when there is one. `--record` adds the differences to the regression cases of
 * test/match-oracle.test.ts, with Trino's answer.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { removeDir, startSluice } from './sluice-process.ts'
import { REGRESSIONS_FILE, buildTrino, compareWithTrino, trinoAvailable, type Difference, type Regression } from './match-fuzz.ts'

const { values } = parseArgs({ options: { count: { type: 'string', default: '500' }, seed: { type: 'string', default: '1' }, batch: { type: 'string', default: '500' }, record: { type: 'boolean', default: false } } })
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
    const found = await compareWithTrino(client, seed + from, Math.min(batch, count - from))
    for (const d of found) console.log(JSON.stringify(d))
    differences.push(...found)
    console.error(`fuzz:match ${Math.min(from + batch, count)}/${count} cases, ${differences.length} differences, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
} finally {
  await client.end()
  await sluice.stop()
  await removeDir(sluice.dataDir)
}
if (values.record && differences.length > 0) {
  const kept = JSON.parse(readFileSync(REGRESSIONS_FILE, 'utf8')) as Regression[]
  const known = new Set(kept.map((r) => r.clause))
  for (const d of differences) if (!known.has(d.clause)) kept.push({ seed: d.seed, note: 'found by fuzz:match', clause: d.clause, rows: d.rows, trino: d.trino })
  writeFileSync(REGRESSIONS_FILE, `${JSON.stringify(kept, null, 1)}\n`)
}
console.error(`fuzz:match done: ${count} cases from seed ${seed}, ${differences.length} differences`)
process.exit(differences.length === 0 ? 0 : 1)
