import {defineConfig} from 'vitest/config'

// `npm run test:faults` (`test:fault` is an alias): the fault-injection lane, run once by CI (not per Node
// version), with real tmux sessions of the stand-in: ccl SIGKILLed at each failpoint of the failover,
// random SIGKILLs of every command that changes the queue (CCL_FAULT_TRIALS, default 300), and dispatchers,
// reaps and reconciles at once. docs/faults.md.
export default defineConfig({
  test: {
    setupFiles: ['test/support/isolate-env.ts'],
    include: ['test/fault/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
})
