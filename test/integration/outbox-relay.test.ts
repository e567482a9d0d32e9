import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { enqueue } from "../../producers/outbox.js";
import { eventually, readTopic, type TestEnv, testEnv } from "../support/harness.js";

describe("outbox relay", () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await testEnv({ OUTBOX_BATCH_SIZE: "7" });
  });

  const insertEvents = async (keys: string[], perKey: number) => {
    const client = await env.db.connect();
    try {
      for (let i = 0; i < perKey; i++) {
        for (const key of keys) {
          await enqueue(client, [
            {
              type: "user_registered",
              key,
              payload: {
                eventId: randomUUID(),
                occurredAt: Date.now(),
                userId: key,
                email: `${i}@example.com`,
                displayName: `seq-${i}`,
              },
            },
          ]);
        }
      }
    } finally {
      client.release();
    }
  };

  it("with two relays running, one leads; every row is published once, in order per key; the other takes over", async () => {
    const a = await env.start({ relay: true });
    const b = await env.start({ relay: true });
    const keys = [randomUUID(), randomUUID(), randomUUID()];
    await insertEvents(keys, 10);
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL")).rowCount === 0,
    );
    expect([a.relay?.isLeader, b.relay?.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.relay?.isLeader ? [a, b] : [b, a];

    // The leader stops (its advisory lock is released with its session); the follower takes over.
    await leader.stop();
    await insertEvents(keys, 5);
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL")).rowCount === 0,
      15_000,
    );
    expect(follower.relay?.isLeader).toBe(true);

    const records = await readTopic(follower as System, follower.names.event("user_registered"), 45);
    await new Promise((r) => setTimeout(r, 500));
    expect(records).toHaveLength(45);
    const ids = new Set(records.map((r) => r.headers["event-id"]));
    expect(ids.size).toBe(45);
    // Per key, the Kafka order is the outbox order.
    const { rows } = await env.db.query<{ event_id: string; message_key: string }>(
      "SELECT event_id, message_key FROM outbox ORDER BY id",
    );
    for (const key of keys) {
      const expected = rows.filter((r) => r.message_key === key).map((r) => r.event_id);
      const actual = records.filter((r) => r.key?.toString() === key).map((r) => r.headers["event-id"]);
      expect(actual).toEqual(expected);
    }
  });

  it("parks a row whose payload can never match its schema instead of blocking the rows behind it", async () => {
    // The relay that leads since the previous test publishes (one leader per database).
    const key = randomUUID();
    await env.db.query(
      `INSERT INTO outbox (event_id, event_type, message_key, payload) VALUES ($1, 'user_registered', $2, '{"eventId":"x"}')`,
      [randomUUID(), key],
    );
    await insertEvents([key], 1);
    await eventually(
      async () =>
        (await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL AND failed_at IS NULL"))
          .rowCount === 0,
    );
    const parked = await env.db.query("SELECT last_error FROM outbox WHERE failed_at IS NOT NULL");
    expect(parked.rows).toHaveLength(1);
    expect(parked.rows[0].last_error).toMatch(/does not match its schema/);
    // The good row behind it went out.
    const good = await env.db.query(
      "SELECT published_at FROM outbox WHERE message_key = $1 AND failed_at IS NULL",
      [key],
    );
    expect(good.rows).toHaveLength(1);
    expect(good.rows[0].published_at).not.toBeNull();
  });
});
