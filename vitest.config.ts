import {configDefaults, defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    setupFiles: ['test/support/isolate-env.ts'],
    include: ['test/**/*.test.ts'],
    // test/real runs the real Claude Code CLI (a 360 MB install): its own lane, `npm run test:real`;
    // test/fault, the fault-injection lane (SIGKILLs, a flaky platform, concurrency): `npm run test:faults`;
    // test/fleet, two mounts of a GlusterFS volume (root, FUSE): `npm run test:fleet`. CI runs each once.
    exclude: [...configDefaults.exclude, 'test/real/**', 'test/fault/**', 'test/fleet/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn the real binary and a real tmux server, and mostly wait on them (sessions, settle
    // windows, polls): on two cores three files at once took the suite from 432 s to 361 s, no flake.
    maxWorkers: 3,
    reporters: ['default'],
  },
})
