import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Three forks on two cores: the longest files wait on real time (a 30 s flood, a 30 s SIGSTOP, the demo,
    // the interop matrix, the mesh), not on the CPU. Quiet suite 134-146 s with three, 183-186 s with two; three
    // runs in a row passed with three forks and two busy loops at load average 7-8.
    maxWorkers: 3,
    fileParallelism: true,
    // Memory-bound tests (flood, soak) call global.gc() before measuring the heap.
    execArgv: ["--expose-gc"],
  },
});
