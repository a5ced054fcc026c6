/**
 * vitest globalSetup: names the directory of the run's shared Kafka broker (see sharedKafka() in kafka.ts).
 * Nothing starts here, so a run without Kafka tests starts no broker; the first file that asks starts it,
 * and it stops when the run ends (or with the runner, by broker.sh's watchdog).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SHARED_DIR_ENV, SHARED_OWNER_ENV, stopBroker } from './kafka.ts'

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-shared-'))
  // The test workers are started after this and inherit the environment.
  process.env[SHARED_DIR_ENV] = dir
  process.env[SHARED_OWNER_ENV] = String(process.pid)
  return async () => {
    await stopBroker(dir).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}
