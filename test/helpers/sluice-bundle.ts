/**
 * The server the integration tests start, as one file: `node --import tsx bin/sluice.ts` sends every
 * TypeScript module of the server through tsx's loader thread on every start, about half of a start's CPU
 * time (docs/benchmarks.md, "Test suite wall time"), and the suite starts hundreds of servers. esbuild (the
 * transform tsx itself uses) bundles the repository's modules once per run into one ES module; packages
 * stay imports, resolved from a node_modules link beside the bundle. Each module's `import.meta.url` and
 * `import.meta.dirname` are written in as its source file's, so that what the code finds next to itself
 * (the console's files, the keyword list, the decode worker, which then starts through tsx as in the
 * product) is the same.
 *
 * Built by the vitest globalSetup test/helpers/sluice-bundle-setup.ts, which names it in SLUICE_TEST_BUNDLE;
 * without it (a helper run outside vitest, or SLUICE_TEST_TSX=1) startSluice runs bin/sluice.ts with tsx.
 */
import { readFile, symlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build, type Plugin } from 'esbuild'

export const BUNDLE_ENV = 'SLUICE_TEST_BUNDLE'
const ROOT = resolve(import.meta.dirname, '..', '..')

/** import.meta.url / import.meta.dirname of every repository module, as its own file's. */
const ownPaths: Plugin = {
  name: 'own-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8')
      const contents = text.replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href)).replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)))
      return { contents, loader: 'ts' }
    })
  },
}

/** Bundles bin/sluice.ts into `dir` (which gets a node_modules link to the repository's); returns the file. */
export async function buildSluiceBundle(dir: string): Promise<string> {
  const out = join(dir, 'sluice.mjs')
  await build({
    entryPoints: [join(ROOT, 'bin', 'sluice.ts')],
    // Split at dynamic imports, as the sources load lazily what a server may not need (cluster mode, the
    // Kafka clients): in one file their packages' imports would be hoisted and loaded by every start.
    outdir: dir,
    splitting: true,
    entryNames: 'sluice',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    tsconfig: join(ROOT, 'tsconfig.json'),
    plugins: [ownPaths],
    // Class and function names as in the sources (a name that two modules share would be renamed in one scope).
    keepNames: true,
    logLevel: 'warning',
  })
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return out
}

/** The node arguments that start the Sluice command line: the run's bundle when there is one, else tsx. */
export function sluiceEntry(): string[] {
  const bundle = process.env[BUNDLE_ENV]
  if (bundle && process.env.SLUICE_TEST_TSX !== '1') return [bundle]
  return ['--import', 'tsx', join(ROOT, 'bin', 'sluice.ts')]
}
