import { randomUUID } from "node:crypto";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { AppError } from "../../infra/errors.js";
import { createLogger } from "../../infra/log.js";
import { declaredTopics } from "../../infra/topics.js";
import { ProcessorRunner } from "../../processors/runner.js";
import type { Processor } from "../../processors/types.js";
import type { UserRegistered } from "../../schemas/index.js";
import { eventually, readTopic, testEnv } from "../support/harness.js";
import { exited, startProcessorProcess } from "../support/processes.js";
import { publishEvents } from "../support/scripted.js";

const registered = (userId: string = randomUUID(), displayName = "b"): UserRegistered => ({
  eventId: randomUUID(),
  occurredAt: Date.now(),
  userId,
  email: `${userId}@example.com`,
  displayName,
});

/**
 * A processor that records each application in `applied` (in the runner's transaction) and fails as told;
 * `setBased` adds a handleAll that fails as a whole when any of its events is to fail.
 */
function recording(
  failing: Map<string, { times: number; retryable: boolean }>,
  setBased: boolean,
): Processor<"user_registered"> {
  const failIfTold = (id: string) => {
    const f = failing.get(id);
    if (f && f.times > 0) {
      f.times--;
      throw new AppError("internal", `scripted failure of ${id}`, { retryable: f.retryable });
    }
  };
  return {
    name: "batch-recorder",
    group: "batch-recorder",
    events: ["user_registered"],
    retry: { attempts: 3, backoff: { kind: "fixed", delayMs: 500 } },
    async handle(event, ctx) {
      // Written before failing: the savepoint must take it back.
      await ctx.tx.query("INSERT INTO applied (event_id) VALUES ($1)", [event.payload.eventId]);
      failIfTold(event.payload.eventId);
    },
    ...(setBased && {
      async handleAll(events) {
        const ids = events.map((e) => e.event.payload.eventId);
        await events[0]?.ctx.tx.query("INSERT INTO applied (event_id) SELECT unnest($1::uuid[])", [ids]);
        if (ids.some((id) => (failing.get(id)?.times ?? 0) > 0)) throw new Error("one of them fails");
      },
    }),
  };
}

/** Distinct users with a wallet, dedupe rows, and wallet_created events in the outbox. */
async function effects(db: pg.Pool): Promise<{ wallets: number; applied: number; announced: number }> {
  const { rows } = await db.query(
    `SELECT (SELECT count(DISTINCT user_id) FROM wallets)::int AS wallets,
            (SELECT count(*) FROM processed_events)::int AS applied,
            (SELECT count(*) FROM outbox WHERE event_type = 'wallet_created')::int AS announced`,
  );
  return rows[0];
}

async function startRunner(system: System, processor: Processor<"user_registered">) {
  await system.pool.query(
    "CREATE TABLE IF NOT EXISTS applied (seq bigserial PRIMARY KEY, event_id uuid NOT NULL)",
  );
  const admin = await system.bus.admin();
  await admin.ensureTopics(declaredTopics(system.config, [processor]));
  await admin.close();
  const runner = new ProcessorRunner(processor, {
    bus: system.bus,
    codec: system.codec,
    pool: system.pool,
    names: system.names,
    log: createLogger({ level: system.config.logLevel, service: "batched" }),
    batchMax: 100,
  });
  await runner.start();
  return runner;
}

describe("batched processing: one transaction per chunk, a savepoint per record", () => {
  it.each([
    ["per-record handlers", false],
    ["a set-based handler (handleAll) that fails as a whole", true],
  ])(
    "failing records in the middle of a chunk (%s): the others apply once, in order; the failed ones retry or dead-letter",
    async (_, setBased) => {
      const env = await testEnv();
      const system = await env.start({});
      const key = randomUUID(); // one key: one partition, one fetched batch
      const events = Array.from({ length: 8 }, () => registered(key));
      const [, retried, , fatal] = events as [UserRegistered, UserRegistered, UserRegistered, UserRegistered];
      const failing = new Map([
        [retried.eventId, { times: 1, retryable: true }],
        [fatal.eventId, { times: 1, retryable: false }],
      ]);
      // Published before the runner starts, in one call: they arrive as one batch.
      const publisher = await system.bus.publisher();
      const topic = system.names.event("user_registered");
      await publisher.publish(
        await Promise.all(
          events.map(async (e) => ({ topic, key, value: await system.codec.encode("user_registered", e) })),
        ),
      );
      await publisher.close();
      const runner = await startRunner(system, recording(failing, setBased));

      const applied = async () =>
        (await env.db.query<{ event_id: string }>("SELECT event_id FROM applied ORDER BY seq")).rows.map(
          (r) => r.event_id,
        );
      await eventually(async () => (await applied()).length === 7, 30_000);
      const healthy = events.filter((e) => e !== retried && e !== fatal).map((e) => e.eventId);
      // The healthy ones in their order, each once, then the retried one after its delay; the fatal one never.
      expect(await applied()).toEqual([...healthy, retried.eventId]);
      const group = system.names.group("batch-recorder");
      const dlq = await readTopic(system, system.names.deadLetter(topic, group), 1);
      expect(dlq[0]?.headers).toMatchObject({
        "x-error-class": "internal",
        "x-attempt": "1",
      });
      expect(dlq[0]?.value?.equals(await system.codec.encode("user_registered", fatal))).toBe(true);
      const [retry] = await system.bus.readAll(system.names.retry(topic, group, 1));
      expect(retry?.headers["x-original-offset"]).toBeDefined();
      const dedupe = await env.db.query(
        "SELECT count(*)::int AS n FROM processed_events WHERE consumer_group = $1",
        [group],
      );
      expect(dedupe.rows[0].n).toBe(7);
      expect(runner.stats).toMatchObject({ processed: 7, retried: 1, deadLettered: 1, duplicates: 0 });
      // The 8 main-topic records shared one transaction; the retry record had its own.
      expect(runner.stats.transactions).toBe(2);
    },
  );

  it("a backlog is drained in chunks: fewer transactions than records, every effect exactly once", async () => {
    const env = await testEnv({ RUNNER_BATCH_MAX: "50" });
    const count = 600;
    const events = Array.from({ length: count }, () => registered());
    const producer = await env.start({});
    await publishEvents(producer, events);
    const system = await env.start({ processors: ["wallet"] });
    const runner = system.runners[0];
    await eventually(async () => runner?.stats.processed === count, 60_000);
    expect(await effects(env.db)).toEqual({ wallets: count, applied: count, announced: count });
    const transactions = runner?.stats.transactions ?? 0;
    expect(transactions).toBeGreaterThanOrEqual(count / 50);
    expect(transactions).toBeLessThan(count / 5);
    const metric = await system.metrics.processorTransactions.get();
    expect(metric.values.reduce((n, v) => n + v.value, 0)).toBe(transactions);
    // Every wallet_created carries its cause, in the order of the user_registered of its partition.
    const causes = await env.db.query(
      "SELECT count(DISTINCT payload->>'causationId')::int AS n FROM outbox WHERE event_type = 'wallet_created'",
    );
    expect(causes.rows[0].n).toBe(count);
  });

  it("a record over RUNNER_MAX_RECORD_BYTES and an empty one are dead-lettered undecoded; the next record applies", async () => {
    const env = await testEnv({ RUNNER_MAX_RECORD_BYTES: "2048" });
    const system = await env.start({ processors: ["wallet"] });
    const topic = system.names.event("user_registered");
    const key = "oversized-key";
    const big = await system.codec.encode("user_registered", registered(randomUUID(), "x".repeat(4000)));
    const after = registered();
    const publisher = await system.bus.publisher();
    await publisher.publish([
      { topic, key, value: big },
      { topic, key, value: Buffer.alloc(0) },
      { topic, key, value: await system.codec.encode("user_registered", after) },
    ]);
    await publisher.close();

    const dlq = await readTopic(
      system,
      system.names.deadLetter(topic, system.names.group("wallet-service")),
      2,
    );
    expect(dlq[0]?.headers["x-error-class"]).toBe("record_too_large");
    expect(dlq[0]?.headers["x-error-message"]).toContain("2048");
    expect(dlq[0]?.value?.equals(big)).toBe(true);
    expect(dlq[1]?.headers["x-error-class"]).toBe("event_undecodable");
    await eventually(
      async () =>
        (await env.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [after.userId])).rowCount === 1,
    );
    expect(system.runners[0]?.stats).toMatchObject({ deadLettered: 2, processed: 1 });
  });

  it("a processor killed twice mid-backlog: redelivered chunks apply nothing twice", async () => {
    const env = await testEnv();
    const count = 6000;
    const producer = await env.start({});
    await publishEvents(
      producer,
      Array.from({ length: count }, () => registered()),
    );
    const wallets = async () =>
      (await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n as number;
    const extra = { KAFKA_SESSION_TIMEOUT_MS: "8000", RUNNER_BATCH_MAX: "40" };

    let seen = 0;
    for (const atLeast of [1, 2000]) {
      const p = startProcessorProcess(env, "wallet", extra);
      try {
        seen = await eventually(async () => {
          const n = await wallets();
          return n >= Math.max(atLeast, seen + 1) ? n : undefined;
        }, 60_000);
        p.kill("SIGKILL");
        await exited(p);
      } finally {
        p.kill("SIGKILL");
      }
    }
    expect(await wallets()).toBeLessThan(count);

    const last = startProcessorProcess(env, "wallet", extra);
    try {
      await eventually(async () => (await wallets()) === count, 90_000);
    } finally {
      last.kill("SIGTERM");
      await exited(last);
    }
    expect(await effects(env.db)).toEqual({ wallets: count, applied: count, announced: count });
  });
});
