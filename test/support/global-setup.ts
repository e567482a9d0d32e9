import type { TestProject } from "vitest/node";
import { loadConfig } from "../../infra/config.js";
import { createLogger } from "../../infra/log.js";
import { LocalStack } from "../../infra/stack/stack.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Services this test run's stack runner started (and may stop/restart for outage tests). */
    ownedServices: string[];
  }
}

/**
 * Uses the stack named by the environment (DATABASE_URL, KAFKA_BROKERS, SCHEMA_REGISTRY_URL) when given;
 * otherwise starts the local runner once for the whole run and stops, afterwards, only what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const log = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "info", service: "test-stack" });
  const stack = new LocalStack(config, log);
  const before = await stack.status();
  const after = await stack.up();
  const startedNow = after.filter(
    (s) => s.owner === "started" && before.find((b) => b.name === s.name)?.owner === "none",
  );
  project.provide(
    "ownedServices",
    after.filter((s) => s.owner === "started").map((s) => s.name),
  );
  return async () => {
    for (const s of startedNow) await stack.down(s.name);
  };
}
