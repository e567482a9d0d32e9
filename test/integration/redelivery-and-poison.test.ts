import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import type { Publisher } from "../../infra/kafka/index.js";
import { eventually, readTopic, type TestEnv, testEnv } from "../support/harness.js";

describe("wallet processor: redelivery and poison records", () => {
  let env: TestEnv;
  let system: System;
  let publisher: Publisher;

  beforeAll(async () => {
    env = await testEnv();
    system = await env.start({ processors: ["wallet"] });
    publisher = await system.bus.publisher();
    return () => publisher.close();
  });

  const userRegistered = (userId: string) => ({
    eventId: randomUUID(),
    occurredAt: Date.now(),
    userId,
    email: `${userId}@example.com`,
    displayName: "Redelivered",
  });

  it("the same user_registered delivered twice creates one wallet and one wallet_created", async () => {
    const event = userRegistered(randomUUID());
    const value = await system.codec.encode("user_registered", event);
    const topic = system.names.event("user_registered");
    await publisher.publish([{ topic, key: event.userId, value }]);
    await publisher.publish([{ topic, key: event.userId, value }]);

    const runner = system.runners[0];
    await eventually(async () => (runner?.stats.processed ?? 0) + (runner?.stats.duplicates ?? 0) >= 2);
    expect(runner?.stats).toMatchObject({ processed: 1, duplicates: 1 });
    const wallets = await env.db.query("SELECT count(*)::int AS n FROM wallets WHERE user_id = $1", [
      event.userId,
    ]);
    expect(wallets.rows[0].n).toBe(1);
    const outbox = await env.db.query(
      "SELECT count(*)::int AS n FROM outbox WHERE event_type = 'wallet_created' AND payload->>'userId' = $1",
      [event.userId],
    );
    expect(outbox.rows[0].n).toBe(1);
  });

  it("a second, different event for the same user still leaves one wallet", async () => {
    const userId = randomUUID();
    const topic = system.names.event("user_registered");
    const events = [userRegistered(userId), userRegistered(userId)];
    for (const e of events) {
      await publisher.publish([
        { topic, key: userId, value: await system.codec.encode("user_registered", e) },
      ]);
    }
    // Both events were applied (each has its dedupe row), the second one as a no-op.
    await eventually(
      async () =>
        (
          await env.db.query("SELECT 1 FROM processed_events WHERE event_id = ANY($1::uuid[])", [
            events.map((e) => e.eventId),
          ])
        ).rowCount === 2,
    );
    const wallets = await env.db.query("SELECT count(*)::int AS n FROM wallets WHERE user_id = $1", [userId]);
    expect(wallets.rows[0].n).toBe(1);
  });

  it("bytes that do not decode go to the dead-letter topic with failure metadata; the partition keeps flowing", async () => {
    const topic = system.names.event("user_registered");
    const poison = Buffer.from("definitely not avro");
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from("xx")]);
    const key = "poison-key";
    const after = userRegistered(randomUUID());
    // Same key → same partition: the good record behind the poison ones must still be applied.
    await publisher.publish([
      { topic, key, value: poison, headers: { "correlation-id": "poison-1" } },
      { topic, key, value: unknownSchema },
      { topic, key, value: await system.codec.encode("user_registered", { ...after, userId: after.userId }) },
    ]);

    const dlq = await readTopic(
      system,
      system.names.deadLetter(system.names.event("user_registered"), system.names.group("wallet-service")),
      2,
    );
    const [first, second] = dlq;
    expect(first?.value?.equals(poison)).toBe(true);
    expect(first?.key?.toString()).toBe(key);
    expect(first?.headers).toMatchObject({
      "x-original-topic": topic,
      "x-consumer-group": system.runners[0]?.group,
      "x-error-class": "event_undecodable",
      "x-attempt": "1",
      "correlation-id": "poison-1",
    });
    expect(Number(first?.headers["x-original-offset"])).toBeGreaterThanOrEqual(0);
    expect(first?.headers["x-original-partition"]).toMatch(/^\d+$/);
    expect(first?.headers["x-error-message"]?.length).toBeGreaterThan(0);
    expect(Date.parse(first?.headers["x-first-failure-at"] ?? "")).not.toBeNaN();
    expect(second?.value?.equals(unknownSchema)).toBe(true);
    expect(second?.headers["x-error-class"]).toBe("event_undecodable");

    await eventually(
      async () =>
        (await env.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [after.userId])).rowCount === 1,
    );
  });
});
