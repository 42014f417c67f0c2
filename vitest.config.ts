import { randomUUID } from 'node:crypto';
import { defineConfig } from 'vitest/config';

// The run's id, inherited by every worker and every process a test starts: the global
// teardown (test/support/leak-check.ts) fails the run naming any that outlive the suite.
process.env.GANTRY_TEST_RUN ??= randomUUID();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/leak-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers (nats-server, docker-registry, the API emulator);
    // two cores cannot run many of those at once without starving timers.
    maxWorkers: 2,
    pool: 'forks',
    // Many tests provoke failures on purpose (bad credentials, crashing providers); their
    // error logs would bury the report. `GANTRY_LOG_LEVEL=debug npm test` brings them back.
    env: { GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL || 'fatal' },
  },
});
