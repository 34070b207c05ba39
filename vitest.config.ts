import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // e2e suites start real servers (s3-overlay, Ceph RGW): keep files in separate forks
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});
