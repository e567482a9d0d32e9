import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TestEnv } from "../support/harness.js";
import { eventually, testEnv } from "../support/harness.js";
import { publishEvents } from "../support/scripted.js";

/** The wallet processor as its own OS process, like `npm run start:processor -- wallet`. */
function startProcessor(env: TestEnv): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "bin/processor.ts", "wallet"], {
    env: {
      ...process.env,
      DATABASE_URL: env.config.db.url,
      TOPIC_PREFIX: env.config.kafka.topicPrefix,
      GROUP_PREFIX: env.config.kafka.groupPrefix,
      TOPIC_PARTITIONS: String(env.config.kafka.partitions),
      LOG_LEVEL: "warn",
      KAFKA_SESSION_TIMEOUT_MS: "8000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

const exited = (c: ChildProcess) =>
  new Promise((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.once("exit", resolve)));

describe("a processor killed with SIGKILL mid-stream", () => {
  it("loses nothing and applies nothing twice after it restarts", async () => {
    const env = await testEnv();
    const system = await env.start({});
    const count = 400;
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

    const first = startProcessor(env);
    try {
      await eventually(async () => (await wallets()) >= 20, 60_000);
      first.kill("SIGKILL");
      await exited(first);
    } finally {
      first.kill("SIGKILL");
    }
    const atKill = await wallets();
    expect(atKill).toBeLessThan(count);

    const second = startProcessor(env);
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
