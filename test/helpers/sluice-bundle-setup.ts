/**
 * vitest globalSetup: bundles the server once for the run (see sluice-bundle.ts); the test workers,
 * started after this, inherit its path and start servers from it. Removed when the run ends.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUNDLE_ENV, buildSluiceBundle } from './sluice-bundle.ts'

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bundle-'))
  process.env[BUNDLE_ENV] = await buildSluiceBundle(dir)
  return async () => {
    await rm(dir, { recursive: true, force: true })
  }
}
