import {configDefaults, defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/real runs the real Claude Code CLI (a 360 MB install): its own lane, `npm run test:real`;
    // test/fault, the fault-injection lane (SIGKILLs, a flaky platform, concurrency): `npm run test:faults`. CI runs both once.
    exclude: [...configDefaults.exclude, 'test/real/**', 'test/fault/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn the real binary and a real tmux server; two cores do not take more at once.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
