import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import type { IncomingRecord, Publisher } from "../../infra/kafka/index.js";
import { H } from "../../processors/failure-headers.js";
import { processorCatalog } from "../../processors/index.js";
import type { EventType } from "../../schemas/index.js";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";
import { type TestUser, userWithWallet } from "../support/money.js";

/**
 * Raw bytes no producer of ours would write, on the topics the processors read: each lands on every reading
 * group's dead-letter topic with the failure headers, and a valid event behind them on the same partition is
 * still applied by every group (no stall).
 */
describe("bad records on the topics: dead-lettered, never a stall", () => {
  let env: TestEnv;
  let system: System;
  let publisher: Publisher;
  let user: TestUser;

  beforeAll(async () => {
    env = await testEnv();
    // Every processor there is, so a new one is held to the same rules.
    system = await env.start({
      api: true,
      relay: true,
      processors: [...processorCatalog(env.config).keys()],
    });
    publisher = await system.bus.publisher();
    user = await userWithWallet(http(system.apiUrl as string));
    return () => publisher.close();
  });

  /** The groups that read each topic, from the processor catalogue: a new reader is checked too. */
  const readers = (topic: string) =>
    [...processorCatalog(env.config).values()]
      .filter((p) => p.events.some((t) => system.names.event(t) === topic))
      .map((p) => system.names.group(p.group));

  const wire = (schemaId: number, body: Buffer) => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(schemaId, 1);
    return Buffer.concat([header, body]);
  };

  /** Records no encoder of ours would write, made from a valid one of the topic and a schema id of another. */
  const badRecords = (valid: Buffer, foreignId: number): [string, Buffer | null][] => {
    const id = valid.readUInt32BE(1);
    const body = valid.subarray(5);
    return [
      ["truncated Avro", valid.subarray(0, 5 + Math.floor(body.length / 2))],
      ["only the wire header", valid.subarray(0, 5)],
      ["an unknown schema id", wire(0x7ffffff0, body)],
      ["the schema id of another topic's event", wire(foreignId, body)],
      ["no magic byte", Buffer.concat([Buffer.from([1]), valid.subarray(1)])],
      ["JSON instead of Avro", Buffer.from(JSON.stringify({ schemaId: id }))],
      ["an empty value", Buffer.alloc(0)],
      ["a null value (tombstone)", null],
    ];
  };
  const OVERSIZED = "a 900 KB body under the topic's schema id";
  const schemaIdOf = async <T extends EventType>(
    type: T,
    payload: Parameters<System["codec"]["encode"]>[1],
  ) => (await system.codec.encode(type, payload as never)).readUInt32BE(1);

  /**
   * Publishes the bad records, then the valid one (event `eventId`), all with one key: each reading group must
   * dead-letter every bad record and still apply the valid one behind them.
   */
  async function sendAndCheck(topic: string, key: string, valid: Buffer, foreignId: number, eventId: string) {
    const cases = badRecords(valid, foreignId);
    await publisher.publish(
      cases.map(([name, value]) => ({ topic, key, value: value as Buffer, headers: { "test-case": name } })),
    );
    // Alone: with the others it would pass the broker's 1 MB request limit.
    const big = wire(valid.readUInt32BE(1), Buffer.alloc(900 * 1024, 0xff));
    await publisher.publish([{ topic, key, value: big, headers: { "test-case": OVERSIZED } }]);
    await publisher.publish([{ topic, key, value: valid, headers: { "test-case": "good" } }]);
    const names = [...cases.map(([n]) => n), OVERSIZED];
    const groups = readers(topic);
    expect(groups.length).toBeGreaterThan(0);
    for (const group of groups) {
      const dlq = system.names.deadLetter(topic, group);
      const dead = await eventually(async () => {
        const records = (await system.bus.readAll(dlq)).filter((r) => r.key?.toString() === key);
        return records.length >= names.length ? records : undefined;
      }, 30_000);
      expect(
        dead.map((r) => r.headers["test-case"]),
        `${dlq}`,
      ).toEqual(names);
      for (const [i, record] of dead.entries()) {
        const oversized = i === cases.length;
        checkDeadLetter(
          record,
          topic,
          group,
          oversized ? "record_too_large" : "event_undecodable",
          cases[i]?.[1],
        );
      }
      await applied(group, eventId);
    }
  }

  function checkDeadLetter(
    record: IncomingRecord,
    topic: string,
    group: string,
    errorClass: string,
    value: Buffer | null | undefined,
  ) {
    const h = record.headers;
    const what = `${group} ${h["test-case"]}: ${h[H.errorMessage]}`;
    expect(h[H.originalTopic], what).toBe(topic);
    expect(h[H.group], what).toBe(group);
    expect(h[H.errorClass], what).toBe(errorClass);
    expect(h[H.attempt], what).toBe("1");
    expect(h[H.originalPartition], what).toMatch(/^\d+$/);
    expect(Number(h[H.originalOffset]), what).toBeGreaterThanOrEqual(0);
    expect(h[H.errorMessage]?.length, what).toBeGreaterThan(0);
    expect(Date.parse(h[H.firstFailureAt] ?? ""), what).not.toBeNaN();
    expect(Date.parse(h[H.deadLetteredAt] ?? ""), what).not.toBeNaN();
    // The bytes as they arrived (a tombstone comes back as an empty value), so a redrive republishes them.
    if (value !== undefined) expect(record.value?.equals(value ?? Buffer.alloc(0)), what).toBe(true);
  }

  const applied = (group: string, eventId: string) =>
    eventually(
      async () =>
        (
          await env.db.query("SELECT 1 FROM processed_events WHERE consumer_group = $1 AND event_id = $2", [
            group,
            eventId,
          ])
        ).rowCount === 1,
      30_000,
    );

  const registered = (userId = randomUUID()) => ({
    eventId: randomUUID(),
    occurredAt: Date.now(),
    userId,
    email: `${userId}@example.com`,
    displayName: "Behind the poison",
  });

  it("user_registered: every reading group dead-letters each bad record; the event behind them is applied", async () => {
    const topic = system.names.event("user_registered");
    const event = registered();
    const valid = await system.codec.encode("user_registered", event);
    const foreignId = await schemaIdOf("wallet_created", {
      eventId: randomUUID(),
      occurredAt: Date.now(),
      walletId: randomUUID(),
      userId: event.userId,
      currency: "USD",
      balance: 0,
      causationId: randomUUID(),
    });
    await sendAndCheck(topic, event.userId, valid, foreignId, event.eventId);
    const wallets = await env.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [event.userId]);
    expect(wallets.rowCount).toBe(1);
  });

  it("wallet_transactions: every reading group dead-letters each bad record; the deposit behind them is applied", async () => {
    const topic = system.names.event("funds_deposited");
    const deposit = {
      eventId: randomUUID(),
      occurredAt: Date.now(),
      transactionId: randomUUID(),
      walletId: user.walletId,
      userId: user.userId,
      amount: 250,
      currency: "USD",
      balanceAfter: 250,
      idempotencyKey: randomUUID(),
      reference: null,
    };
    const valid = await system.codec.encode("funds_deposited", deposit);
    const foreignId = await schemaIdOf("user_registered", registered());
    await sendAndCheck(topic, user.walletId, valid, foreignId, deposit.eventId);
    const n = await env.db.query("SELECT 1 FROM notifications WHERE event_id = $1", [deposit.eventId]);
    expect(n.rowCount).toBe(1);
  });

  it("a 900 KB user_registered that would decode is dead-lettered undecoded (record_too_large); the next one is applied", async () => {
    const topic = system.names.event("user_registered");
    const big = { ...registered(), displayName: "x".repeat(900 * 1024) };
    const after = { ...registered(big.userId), eventId: randomUUID() };
    await publisher.publish([
      {
        topic,
        key: big.userId,
        value: await system.codec.encode("user_registered", big),
        headers: { "test-case": "big" },
      },
    ]);
    await publisher.publish([
      { topic, key: big.userId, value: await system.codec.encode("user_registered", after) },
    ]);
    for (const group of readers(topic)) {
      await applied(group, after.eventId);
      const dead = (await system.bus.readAll(system.names.deadLetter(topic, group))).filter(
        (r) => r.headers["test-case"] === "big",
      );
      expect(
        dead.map((r) => r.headers[H.errorClass]),
        group,
      ).toEqual(["record_too_large"]);
      const done = await env.db.query(
        "SELECT 1 FROM processed_events WHERE consumer_group = $1 AND event_id = $2",
        [group, big.eventId],
      );
      expect(done.rowCount, `${group} applied the oversized event`).toBe(0);
    }
  });
});
