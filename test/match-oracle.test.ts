/**
 * MATCH_RECOGNIZE against an independent implementation, Trino's (test/helpers/match-fuzz.ts): a fixed-seed
 * set of random cases over the whole row pattern language, each run on Sluice (a stream closed with
 * ALTER STREAM ... CLOSE, read by a pull query) and on Trino (the same rows as VALUES), whose answers must
 * agree; and every difference found so far (test/oracle/match-regressions.json, with Trino's answer
 * recorded) as a regression case that needs no Trino to run. More cases: `npm run fuzz:match -- --count N
 * --seed S` (`--record` adds the differences it finds to the regression file).
 */
import { readFileSync } from 'node:fs'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { REGRESSIONS_FILE, agree, compareWithTrino, runSluice, trinoAvailable, type Regression } from './helpers/match-fuzz.ts'

/** How many random cases `npm test` runs: about a minute on the 2-core machine. */
const CASES = 150
const SEED = 20261207

let sluice: SluiceProcess
let client: pg.Client

beforeAll(async () => {
  sluice = await startSluice()
  client = await sluice.client()
})

afterAll(async () => {
  await client?.end()
  await sluice?.stop()
  if (sluice) await removeDir(sluice.dataDir)
})

describe('MATCH_RECOGNIZE regressions found against Trino', () => {
  const regressions = JSON.parse(readFileSync(REGRESSIONS_FILE, 'utf8')) as Regression[]
  test('the file holds cases', () => {
    expect(regressions.length).toBeGreaterThan(0)
  })
  test.each(regressions.map((r) => [r.seed, r] as const))('case of seed %i', async (_seed, r) => {
    const mine = await runSluice(client, r, `rg${r.seed}`, { view: true })
    expect(agree(mine, r.trino), `${r.clause}\n${r.note}\nSluice: ${JSON.stringify(mine)}\nTrino: ${JSON.stringify(r.trino)}`).toBe(true)
  })
})

describe('MATCH_RECOGNIZE against Trino on random cases', () => {
  // CI builds the Trino side (.ci/run); elsewhere the test runs where it has been built.
  const run = trinoAvailable() || process.env.CI === 'true' ? test : test.skip
  run(`${CASES} cases from seed ${SEED} agree`, async () => {
    const differences = await compareWithTrino(client, SEED, CASES)
    expect(differences.map((d) => `seed ${d.seed}: ${d.clause}\n  Sluice: ${JSON.stringify(d.sluice).slice(0, 400)}\n  Trino: ${JSON.stringify(d.trino).slice(0, 400)}`)).toEqual([])
  }, 600_000)
})

