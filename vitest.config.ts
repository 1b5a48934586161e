import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Three forks on two cores: the longest files wait on real time (a 30 s flood, a 30 s SIGSTOP, the demo,
    // the interop matrix, the mesh), not on the CPU; a third fork cut the quiet suite from 186 s to 146 s, and
    // the timing-sensitive tests hold with two more cores' worth of busy loops (test reliability runs).
    maxWorkers: 3,
    fileParallelism: true,
    // Memory-bound tests (flood, soak) call global.gc() before measuring the heap.
    execArgv: ["--expose-gc"],
  },
});
