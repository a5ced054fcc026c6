import { defineConfig } from 'vitest/config'
import SlowestFirst from './test/helpers/sequencer.ts'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'parser/**/*.test.ts', 'planner/**/*.test.ts', 'expr/**/*.test.ts', 'executor/**/*.test.ts', 'cluster/**/*.test.ts', 'server/**/*.test.ts', 'common/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on free ports; two cores run two files at once comfortably.
    maxWorkers: 2,
    // One Kafka broker for the files that neither restart nor reconfigure it (sharedKafka() in test/helpers/kafka.ts),
    // and the server bundled once for the run's server starts (test/helpers/sluice-bundle.ts).
    globalSetup: ['test/helpers/kafka-shared.ts', 'test/helpers/sluice-bundle-setup.ts'],
    // Longest files first, so that no two long ones are left for the end.
    sequence: { sequencer: SlowestFirst },
  },
})
