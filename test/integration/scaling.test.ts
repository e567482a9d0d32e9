import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eventually, testEnv } from "../support/harness.js";
import { exited, startProcessorProcess } from "../support/processes.js";
import { publishEvents } from "../support/scripted.js";

const registrations = (n: number) =>
  Array.from({ length: n }, () => {
    const userId = randomUUID();
    return {
      eventId: randomUUID(),
      occurredAt: Date.now(),
      userId,
      email: `${userId}@example.com`,
      displayName: "s",
    };
  });

describe("consumer-group scaling", () => {
  it("3 members share the work; one killed with SIGKILL, two stopped with SIGTERM: nothing lost, nothing twice", async () => {
    // A long session timeout: only a clean leave (SIGTERM) lets the survivors take over before it expires.
    const env = await testEnv({ TOPIC_PARTITIONS: "6" });
    const tools = await env.start({});
    const wallets = async () =>
      (await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n as number;
    // The member to be killed has a short session (the group notices its death after 10 s); the others a long
    // one, so only a clean leave (SIGTERM) can hand their partitions over before the test's deadline.
    const members = ["10000", "60000", "60000"].map((t) =>
      startProcessorProcess(env, "wallet", { KAFKA_SESSION_TIMEOUT_MS: t }),
    );
    try {
      await publishEvents(tools, registrations(300));
      await eventually(async () => (await wallets()) >= 60, 60_000);
      members[0]?.kill("SIGKILL");
      await exited(members[0] as never);
      await eventually(async () => (await wallets()) === 300, 90_000);

      // Scale back to one: SIGTERM leaves the group at once, so the last member takes every partition well
      // before member 1's 60 s session could have expired.
      members[1]?.kill("SIGTERM");
      await exited(members[1] as never);
      expect(members[1]?.exitCode).toBe(0);
      await publishEvents(tools, registrations(100));
      await eventually(async () => (await wallets()) === 400, 40_000);
      members[2]?.kill("SIGTERM");
      await exited(members[2] as never);
      expect(members[2]?.exitCode).toBe(0);
    } finally {
      for (const m of members) m.kill("SIGKILL");
    }
    const { rows } = await env.db.query(
      `SELECT (SELECT count(DISTINCT user_id) FROM wallets)::int AS users,
              (SELECT count(*) FROM processed_events)::int AS applied,
              (SELECT count(*) FROM outbox WHERE event_type = 'wallet_created')::int AS announced,
              (SELECT count(DISTINCT kafka_partition) FROM processed_events)::int AS partitions`,
    );
    expect(rows[0]).toEqual({ users: 400, applied: 400, announced: 400, partitions: 6 });
  });
});
