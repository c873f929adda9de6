import {defineConfig} from 'vitest/config'

// `npm run test:fault`: the fault-injection lane, run once by CI (not per Node version): ccl SIGKILLed at
// each failpoint of a multi-step move (the failover's seven), with real tmux sessions of the stand-in.
export default defineConfig({
  test: {
    include: ['test/fault/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
})
