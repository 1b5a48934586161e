import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Two cores: network tests measure timing, so keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
    // Memory-bound tests (flood, soak) call global.gc() before measuring the heap.
    execArgv: ["--expose-gc"],
  },
});
