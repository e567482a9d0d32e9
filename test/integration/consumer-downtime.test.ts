import { beforeAll, describe, expect, it } from "vitest";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";

describe("consumer downtime", () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await testEnv();
  });

  it("a wallet processor started after 100 registrations resumes from the topic and creates each wallet once", async () => {
    const ingress = await env.start({ api: true, relay: true });
    const api = http(ingress.apiUrl as string);
    const emails = Array.from({ length: 100 }, (_, i) => `down-${i}@example.com`);
    for (let i = 0; i < emails.length; i += 10) {
      const batch = await Promise.all(emails.slice(i, i + 10).map((e) => api.register(e)));
      for (const r of batch) expect(r.status).toBe(201);
    }
    // Every event reached Kafka while no consumer ran; no wallet exists yet.
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL")).rowCount === 0,
    );
    expect((await env.db.query("SELECT 1 FROM wallets")).rowCount).toBe(0);

    const processor = await env.start({ processors: ["wallet"] });
    await eventually(
      async () => Number((await env.db.query("SELECT count(*) FROM wallets")).rows[0].count) >= 100,
      30_000,
    );
    const { rows } = await env.db.query(
      "SELECT count(*)::int AS wallets, count(DISTINCT user_id)::int AS users FROM wallets",
    );
    expect(rows[0]).toEqual({ wallets: 100, users: 100 });
    const users = await env.db.query(
      "SELECT count(*)::int AS n FROM users u JOIN wallets w ON w.user_id = u.id",
    );
    expect(users.rows[0].n).toBe(100);
    expect(processor.runners[0]?.stats.processed).toBe(100);
  });
});
