import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eventually, testEnv } from "../support/harness.js";
import { exited, startProcessorProcess } from "../support/processes.js";
import { publishEvents } from "../support/scripted.js";

describe("a processor killed with SIGKILL mid-stream", () => {
  it("loses nothing and applies nothing twice after it restarts", async () => {
    const env = await testEnv();
    const system = await env.start({});
    const count = 1000;
    const users = Array.from({ length: count }, () => randomUUID());
    await publishEvents(
      system,
      users.map((userId) => ({
        eventId: randomUUID(),
        occurredAt: Date.now(),
        userId,
        email: `${userId}@example.com`,
        displayName: "k",
      })),
    );
    const wallets = async () =>
      (await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n as number;

    // Small chunks, so the kill lands mid-backlog (a chunk of 64 drains 1 000 events in well under a second).
    const first = startProcessorProcess(env, "wallet", {
      KAFKA_SESSION_TIMEOUT_MS: "8000",
      RUNNER_BATCH_MAX: "4",
    });
    try {
      await eventually(async () => (await wallets()) >= 20, 60_000);
      first.kill("SIGKILL");
      await exited(first);
    } finally {
      first.kill("SIGKILL");
    }
    const atKill = await wallets();
    expect(atKill).toBeLessThan(count);

    const second = startProcessorProcess(env, "wallet", { KAFKA_SESSION_TIMEOUT_MS: "8000" });
    try {
      await eventually(async () => (await wallets()) === count, 90_000);
    } finally {
      second.kill("SIGTERM");
      await exited(second);
    }
    const { rows } = await env.db.query(
      `SELECT (SELECT count(DISTINCT user_id) FROM wallets)::int AS users,
              (SELECT count(*) FROM processed_events)::int AS applied,
              (SELECT count(*) FROM outbox WHERE event_type = 'wallet_created')::int AS announced`,
    );
    expect(rows[0]).toEqual({ users: count, applied: count, announced: count });
  });
});
