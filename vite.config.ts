import { defineConfig } from "vitest/config";

// One config for the notebook server (later issues) and for vitest.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/temp.ts"],
    // DuckDB files and corpus imports are heavy: keep workers few on 2-core machines.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
