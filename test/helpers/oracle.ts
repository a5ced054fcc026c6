/**
 * The two servers a differential test compares: a fresh Sluice server and the real PostgreSQL at
 * 127.0.0.1:5432 (the oracle), each with a node-postgres client.
 */
import pg from 'pg'
import { removeDir, startSluice, type SluiceProcess } from './sluice-process.ts'

export interface OraclePair {
  readonly sluice: SluiceProcess
  readonly ours: pg.Client
  readonly oracle: pg.Client
}

/** Every value as the text the server sent, so that the two servers' answers compare as text. */
export const AS_TEXT = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig

/** Starts Sluice and connects to both; `timeZone` is set on the oracle's session when given. */
export async function openOraclePair(timeZone?: string): Promise<OraclePair> {
  const sluice = await startSluice()
  const ours = await sluice.client()
  const oracle = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
  await oracle.connect()
  if (timeZone !== undefined) await oracle.query(`SET TimeZone = '${timeZone}'`)
  return { sluice, ours, oracle }
}

/** Closes what `openOraclePair` opened (any part may be missing after a failed start). */
export async function closeOraclePair(pair: Partial<OraclePair>): Promise<void> {
  await pair.ours?.end()
  await pair.oracle?.end()
  await pair.sluice?.stop()
  if (pair.sluice) await removeDir(pair.sluice.dataDir)
}
