import { describe, expect, inject, it } from "vitest";
import { createLogger } from "../../infra/log.js";
import { LocalStack } from "../../infra/stack/stack.js";
import { eventually, http, testEnv } from "../support/harness.js";

const ownsKafka = inject("ownedServices").includes("kafka");

describe.runIf(ownsKafka)("Kafka restarted mid-stream under load", () => {
  it("clients reconnect by themselves; no event lost, no effect doubled", async () => {
    const env = await testEnv();
    const system = await env.start({ api: true, relay: true, processors: ["wallet"] });
    const api = http(system.apiUrl as string);
    const stack = new LocalStack(env.config, createLogger({ level: "silent", service: "test" }));

    let running = true;
    let accepted = 0;
    const load = (async () => {
      for (let i = 0; running; i++) {
        const res = await api.register(`load-${i}@example.com`);
        if (res.status === 201) accepted++;
        else throw new Error(`registration ${i} answered ${res.status}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await eventually(async () => accepted >= 30);
    await stack.restartKafka();
    const afterRestart = accepted;
    await eventually(async () => accepted >= afterRestart + 30, 30_000);
    running = false;
    await load;

    await eventually(
      async () => (await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n === accepted,
      90_000,
    );
    const { rows } = await env.db.query(
      `SELECT (SELECT count(*) FROM users)::int AS users,
              (SELECT count(DISTINCT user_id) FROM wallets)::int AS wallets,
              (SELECT count(*) FROM processed_events)::int AS applied,
              (SELECT count(*) FROM outbox WHERE event_type = 'wallet_created')::int AS announced,
              (SELECT count(*) FROM outbox WHERE published_at IS NULL AND event_type = 'user_registered')::int AS pending`,
    );
    expect(rows[0]).toEqual({
      users: accepted,
      wallets: accepted,
      applied: accepted,
      announced: accepted,
      pending: 0,
    });
    expect((await api.call("GET", "/readyz")).status).toBe(200);
  });
});
