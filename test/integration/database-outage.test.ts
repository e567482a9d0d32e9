import { afterAll, describe, expect, it } from "vitest";
import { eventually, http, testEnv } from "../support/harness.js";
import { event, publishEvents } from "../support/scripted.js";
import { TcpProxy } from "../support/tcp-proxy.js";

describe("PostgreSQL unreachable for a while", () => {
  const proxies: TcpProxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.stop();
  });

  it("the API answers 503 problem+json, processors wait without losing events, and both recover without a restart", async () => {
    const base = await testEnv();
    const url = new URL(base.config.db.url);
    const proxy = await new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) }).start();
    proxies.push(proxy);
    url.port = String(proxy.port);
    // The services reach PostgreSQL through the proxy; the test's own pool (env.db) goes direct.
    const system = await base.start(
      { api: true, relay: true, processors: ["wallet"] },
      { ...base.config, db: { ...base.config.db, url: url.toString() } },
    );
    const api = http(system.apiUrl as string);
    expect((await api.register("before@example.com")).status).toBe(201);

    proxy.block();
    const res = await api.register("during@example.com");
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("service_unavailable");
    const ready = await api.call("GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toMatchObject({ postgres: false });
    // An event reaches the wallet processor while it cannot reach the database: it must wait, not skip it.
    const inFlight = event();
    await publishEvents(system, [inFlight]);
    await new Promise((r) => setTimeout(r, 1500));

    proxy.unblock();
    await eventually(async () => (await api.register("after@example.com")).status === 201, 30_000);
    expect((await api.call("GET", "/readyz")).status).toBe(200);
    // Nothing registered during the outage; both other users, and the in-flight event, got their wallet.
    await eventually(
      async () => (await base.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n === 3,
      30_000,
    );
    const late = await base.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [inFlight.userId]);
    expect(late.rowCount).toBe(1);
    expect(system.runners[0]?.stats.deadLettered).toBe(0);
    const users = await base.db.query("SELECT email FROM users ORDER BY email");
    expect(users.rows.map((r) => r.email)).toEqual(["after@example.com", "before@example.com"]);
  });
});
