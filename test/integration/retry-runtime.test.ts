import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DeadLetters } from "../../processors/dead-letters.js";
import { GroupOperations, type LagRow } from "../../processors/operations.js";
import { eventually, testEnv } from "../support/harness.js";
import { event, publishEvents, scripted, startScripted } from "../support/scripted.js";

const applied = async (db: import("pg").Pool) =>
  (
    await db.query<{ event_id: string; record_key: string; seq: string; applied_at: Date }>(
      "SELECT * FROM applied ORDER BY seq",
    )
  ).rows;

describe("processor runtime: retry topics, dead letters, per-key order", () => {
  it("a handler failing twice then succeeding: applied once, after the delays, with attempt headers on the retry records", async () => {
    const env = await testEnv();
    const system = await env.start({});
    const s = scripted({
      group: "retry-twice",
      attempts: 4,
      backoff: { kind: "exponential", initialMs: 300, multiplier: 2, maxMs: 5000, jitter: false },
    });
    await startScripted(system, s);
    const e = event();
    s.failures.set(e.eventId, 2);
    await publishEvents(system, [e]);

    await eventually(async () => (await applied(env.db)).length === 1, 30_000);
    const times = s.attempts.get(e.eventId) ?? [];
    expect(times).toHaveLength(3);
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(300);
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual(600);

    const topic = system.names.event("user_registered");
    const group = system.names.group("retry-twice");
    const [r1] = await system.bus.readAll(system.names.retry(topic, group, 1));
    const [r2] = await system.bus.readAll(system.names.retry(topic, group, 2));
    expect(r1?.headers).toMatchObject({
      "x-attempt": "1",
      "x-original-topic": topic,
      "x-consumer-group": group,
      "x-error-class": "internal",
    });
    expect(r2?.headers["x-attempt"]).toBe("2");
    expect(Number(r2?.headers["x-due-at"])).toBeGreaterThan(Number(r1?.headers["x-due-at"]));
    expect(r2?.headers["x-first-failure-at"]).toBe(r1?.headers["x-first-failure-at"]);
    expect(r1?.key?.toString()).toBe(e.userId);
    expect(r1?.value?.equals(await system.codec.encode("user_registered", e))).toBe(true);
    expect(await system.bus.readAll(system.names.deadLetter(topic, group))).toHaveLength(0);

    // The retry topics are read by their own consumer group, `<group>.retry`: it commits their offsets, the
    // processor's group commits the main topic's only.
    const retryGroup = system.names.retryGroup(group);
    const ops = new GroupOperations({ bus: system.bus, pool: system.pool, names: system.names });
    const rows = await eventually(async () => {
      const r = await ops.lag(s.processor, { includeRetry: true, timestamps: false });
      return r.every((x) => x.lag === 0) ? r : undefined;
    }, 20_000);
    const retryTopics = [1, 2, 3].map((n) => system.names.retry(topic, group, n));
    expect(new Set(rows.filter((r) => r.topic === topic).map((r) => r.group))).toEqual(new Set([group]));
    expect(new Set(rows.filter((r) => retryTopics.includes(r.topic)).map((r) => r.group))).toEqual(
      new Set([retryGroup]),
    );
    const committed = (rs: LagRow[], t: string) =>
      rs.filter((r) => r.topic === t).reduce((n, r) => n + Math.max(0, Number(r.committed)), 0);
    expect(committed(rows, retryTopics[0] as string)).toBe(1);
    expect(committed(rows, retryTopics[1] as string)).toBe(1);
    const admin = await system.bus.admin();
    try {
      for (const t of retryTopics)
        expect(
          (await admin.groupOffsets(group, t)).every((o) => BigInt(o.offset) < 0n),
          t,
        ).toBe(true);
      expect((await admin.groupOffsets(retryGroup, topic)).every((o) => BigInt(o.offset) < 0n)).toBe(true);
    } finally {
      await admin.close();
    }
  });

  it("a handler that always fails: dead-lettered after the attempts with full metadata; redriven after the fix, applied once", async () => {
    const env = await testEnv();
    const system = await env.start({});
    const s = scripted({ group: "always-fails", attempts: 3, backoff: { kind: "fixed", delayMs: 200 } });
    await startScripted(system, s);
    const e = event();
    s.failures.set(e.eventId, "always");
    await publishEvents(system, [e]);

    const topic = system.names.event("user_registered");
    const group = system.names.group("always-fails");
    const dlqTopic = system.names.deadLetter(topic, group);
    const [dead] = await eventually(async () => {
      const rs = await system.bus.readAll(dlqTopic);
      return rs.length ? rs : undefined;
    }, 30_000);
    expect(s.attempts.get(e.eventId)).toHaveLength(3);
    expect(dead?.headers).toMatchObject({
      "x-original-topic": topic,
      "x-consumer-group": group,
      "x-attempt": "3",
      "x-error-class": "internal",
      "x-error-message": `scripted failure of ${e.eventId}`,
    });
    for (const h of [
      "x-original-partition",
      "x-original-offset",
      "x-original-timestamp",
      "x-first-failure-at",
      "x-dead-lettered-at",
    ]) {
      expect(dead?.headers[h], h).toBeTruthy();
    }
    expect(await applied(env.db)).toHaveLength(0);

    s.fix();
    const letters = new DeadLetters({
      bus: system.bus,
      codec: system.codec,
      names: system.names,
      pool: system.pool,
      topicPrefix: env.config.kafka.topicPrefix,
    });
    const listed = await letters.list(dlqTopic);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: "pending", event: { type: "user_registered" } });
    const plan = await letters.redrive(dlqTopic, () => true, { to: "retry", dryRun: true });
    expect(plan.map((p) => p.target)).toEqual([system.names.retry(topic, group, 1)]);
    expect((await letters.list(dlqTopic))[0]?.status).toBe("pending"); // a dry run changes nothing
    await letters.redrive(dlqTopic, () => true, { to: "retry", dryRun: false });
    await eventually(async () => (await applied(env.db)).length === 1, 20_000);
    expect((await letters.list(dlqTopic))[0]?.status).toBe("redriven");
    // Redriving it again (already redriven) does nothing; forcing it through the main topic has no second effect.
    expect(await letters.redrive(dlqTopic, () => true, { to: "retry", dryRun: false })).toHaveLength(0);
    await publishEvents(system, [e]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await applied(env.db)).toHaveLength(1);
  });

  it('ordering "key": K1 fails once, its next events wait and apply in order after it; K2 is not delayed', async () => {
    const env = await testEnv();
    const system = await env.start({});
    const s = scripted({
      group: "ordered",
      attempts: 3,
      backoff: { kind: "fixed", delayMs: 1500 },
      ordering: "key",
    });
    const runner = await startScripted(system, s);
    const k1 = randomUUID();
    const k2 = randomUUID();
    const [a1, a2, a3, b1, b2] = [event(k1), event(k1), event(k1), event(k2), event(k2)];
    s.failures.set(a1.eventId, 1);
    await publishEvents(system, [a1, a2, b1, a3, b2]);

    await eventually(async () => (await applied(env.db)).length === 5, 30_000);
    const rows = await applied(env.db);
    const seqOf = (id: string) => rows.findIndex((r) => r.event_id === id);
    expect(seqOf(a1.eventId)).toBeLessThan(seqOf(a2.eventId));
    expect(seqOf(a2.eventId)).toBeLessThan(seqOf(a3.eventId));
    // K2 went straight through while K1 waited out its 1.5 s retry delay.
    expect(seqOf(b2.eventId)).toBeLessThan(seqOf(a1.eventId));
    expect(runner.stats.parked).toBe(2);
    const holds = await env.db.query("SELECT count(*)::int AS n FROM key_holds");
    expect(holds.rows[0].n).toBe(0);
  });

  it("healthy events keep flowing while 10 % of events fail", async () => {
    const env = await testEnv();
    const system = await env.start({});
    const s = scripted({ group: "ten-percent", attempts: 3, backoff: { kind: "fixed", delayMs: 2000 } });
    await startScripted(system, s);
    const events = Array.from({ length: 40 }, () => event());
    const failing = new Set(events.filter((_, i) => i % 10 === 0).map((e) => e.eventId));
    for (const id of failing) s.failures.set(id, 1);
    await publishEvents(system, events);

    await eventually(async () => (await applied(env.db)).length === 40, 30_000);
    const rows = await applied(env.db);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(40);
    const firstRetried = Math.min(
      ...rows.filter((r) => failing.has(r.event_id)).map((r) => r.applied_at.getTime()),
    );
    const lastHealthy = Math.max(
      ...rows.filter((r) => !failing.has(r.event_id)).map((r) => r.applied_at.getTime()),
    );
    // Every healthy event was applied before the first failing one came back from its 2 s retry delay.
    expect(lastHealthy).toBeLessThan(firstRetried);
  });
});
