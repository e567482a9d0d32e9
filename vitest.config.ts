import { defineConfig } from "vitest/config";

/**
 * Two tiers, told apart by folder: test/unit (pure logic, no services) and test/integration (the real Kafka
 * broker, schema registry and PostgreSQL; the global setup brings the local stack up when none is configured).
 * Integration files run one at a time: some stop the broker.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
