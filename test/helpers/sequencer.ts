/**
 * The order in which vitest hands test files to its workers: longest first, so that two long files do not
 * end up running one after the other at the tail of the run while the other worker idles.
 *
 * vitest's own order is by the durations of the previous run when its cache has them, else by file size,
 * largest first; a fresh clone (CI) has no cache, and the slowest files (cluster tests: a broker and three
 * node processes) are short ones, so they came last. Here a file's expected duration is, in this order:
 * the cached duration of the previous run, the measured figure below, or a guess from what the file starts.
 */
import { readFileSync, statSync } from 'node:fs'
import { relative } from 'node:path'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/**
 * Seconds of the files whose guess below would be too far off, from CI runs (2 workers, 2 cores). Only the
 * order matters: add a file here when a run shows it long and late (docs/benchmarks.md, "Test suite wall time").
 */
const MEASURED_S: Readonly<Record<string, number>> = {
  'test/kafka.test.ts': 150,
}

/** A file never measured: what it starts tells roughly how long it takes. */
function guessMs(file: string): number {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return 0
  }
  // A broker of its own and three node processes: 44-82 s each on CI.
  if (text.includes('startCluster(')) return 60_000
  if (text.includes('startKafka(') || text.includes('sharedKafka(')) return 30_000
  // Otherwise larger files first, as vitest does: a byte counts as a microsecond.
  return statSync(file).size / 1000
}

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root
    const expected = new Map<TestSpecification, { failed: boolean; ms: number }>()
    for (const f of files) {
      const path = relative(root, f.moduleId)
      const cached = this.ctx.cache.getFileTestResults(`${f.project.name}:${path}`)
      const measured = MEASURED_S[path]
      expected.set(f, { failed: cached?.failed ?? false, ms: cached?.duration ?? (measured === undefined ? guessMs(f.moduleId) : measured * 1000) })
    }
    // A file that failed last time first (as vitest does), then the longest.
    return [...files].sort((a, b) => {
      const [x, y] = [expected.get(a)!, expected.get(b)!]
      if (x.failed !== y.failed) return x.failed ? -1 : 1
      return y.ms - x.ms
    })
  }
}
