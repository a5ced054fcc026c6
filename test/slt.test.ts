/** Runs every golden file in test/sql against one real Sluice server, each file on its own connection. */
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'
import { runSlt } from './helpers/slt.ts'

const DIR = resolve(import.meta.dirname, 'sql')
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.slt')).sort()

describe('golden SQL files', () => {
  let sluice: SluiceProcess
  beforeAll(async () => {
    sluice = await startSluice()
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test.each(FILES)('%s', async (file) => {
    const client = await sluice.client()
    try {
      const failures = await runSlt(client, file, readFileSync(join(DIR, file), 'utf8'))
      expect(failures, failures.join('\n\n')).toEqual([])
    } finally {
      await client.end()
    }
  })
})
