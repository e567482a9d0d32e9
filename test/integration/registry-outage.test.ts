import { describe, expect, inject, it } from "vitest";
import { createLogger } from "../../infra/log.js";
import { LocalStack } from "../../infra/stack/stack.js";
import { eventually, http, testEnv } from "../support/harness.js";

const ownsRegistry = inject("ownedServices").includes("registry");

// Stopping the registry needs the stack runner to own it (the default, and CI).
describe.runIf(ownsRegistry)("schema registry unavailable", () => {
  it("known schemas keep flowing from cache: registrations are published and wallets created", async () => {
    const env = await testEnv();
    const system = await env.start({ api: true, relay: true, processors: ["wallet"] });
    const api = http(system.apiUrl as string);
    const wallets = async () =>
      (await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n as number;
    // Warm-up: the relay knows the writer ids, the processor has fetched the schema by id once.
    await api.register("warm@example.com");
    await eventually(async () => (await wallets()) === 1);

    const stack = new LocalStack(env.config, createLogger({ level: "silent", service: "test" }));
    await stack.down("registry");
    try {
      expect((await api.call("GET", "/readyz")).body.checks).toMatchObject({ registry: false, kafka: true });
      for (let i = 0; i < 3; i++) expect((await api.register(`cold-${i}@example.com`)).status).toBe(201);
      await eventually(async () => (await wallets()) === 4, 30_000);
    } finally {
      await stack.up();
    }
    expect(system.runners[0]?.stats.deadLettered).toBe(0);
  });
});
