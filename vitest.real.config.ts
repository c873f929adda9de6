import {defineConfig} from 'vitest/config'

// `npm run test:real`: the real Claude Code CLI (scripts/install-claude-code.sh) against the Messages API
// stand-in, in private tmux servers. docs/real-claude-code.md.
export default defineConfig({
  test: {
    setupFiles: ['test/support/isolate-env.ts'],
    include: ['test/real/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 30_000,
    // Each test runs one or two CLIs of about 300 MB resident each; two cores take one file at a time.
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
})
