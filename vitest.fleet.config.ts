import {defineConfig} from 'vitest/config'

// `npm run test:fleet`: the filesystem promises of the queue raced through two FUSE mounts of one GlusterFS
// volume (scripts/gluster-up.sh, or CCL_GLUSTER_A / CCL_GLUSTER_B). Needs root and /dev/fuse. docs/fleet.md.
export default defineConfig({
  test: {
    setupFiles: ['test/support/isolate-env.ts'],
    include: ['test/fleet/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 240_000,
    // The tests race two mounts against each other; two files at once would race each other too.
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
})
