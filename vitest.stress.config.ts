import { defineConfig } from "vitest/config";

// `vitest run --config vitest.stress.config.ts`: the load suite only (its files are
// *.stress.ts, so the normal run never picks them up). One fork, nothing beside it:
// the latencies and memory it reports are the point.
export default defineConfig({
  test: {
    include: ["test/stress/**/*.stress.ts"],
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    // seeding, two load phases with their settle periods, heap snapshots
    testTimeout: 30 * 60_000,
    hookTimeout: 10 * 60_000,
  },
});
