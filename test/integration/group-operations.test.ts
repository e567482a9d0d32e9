import { describe, expect, it } from "vitest";
import { processorCatalog } from "../../processors/index.js";
import { GroupOperations } from "../../processors/operations.js";
import { eventually, testEnv } from "../support/harness.js";
import { event, publishEvents } from "../support/scripted.js";

describe("consumer-group operations: lag and replay", () => {
  it("lag matches a known backlog; replay from earliest re-reads everything with no second effect", async () => {
    const env = await testEnv();
    const tools = await env.start({});
    const wallet = processorCatalog(env.config).get("wallet");
    if (!wallet) throw new Error("no wallet processor");
    const ops = new GroupOperations({ bus: tools.bus, pool: tools.pool, names: tools.names });

    const before = Date.now();
    await publishEvents(
      tools,
      Array.from({ length: 25 }, () => event()),
    );
    const lag = await ops.lag(wallet);
    expect(lag.reduce((n, r) => n + r.lag, 0)).toBe(25);
    for (const r of lag.filter((x) => x.lag > 0)) {
      expect(Date.parse(r.oldestUnprocessedAt ?? "")).toBeGreaterThanOrEqual(before - 1000);
    }

    const processor = await env.start({ processors: ["wallet"] });
    await eventually(async () => (await ops.lag(wallet)).every((r) => r.lag === 0), 30_000);
    expect((await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n).toBe(25);
    await expect(ops.planReplay(wallet, ops.topicsOf(wallet).main, { earliest: true })).rejects.toThrow(
      /live member/,
    );
    await processor.stop();

    await publishEvents(
      tools,
      Array.from({ length: 3 }, () => event()),
    );
    expect((await ops.lag(wallet)).reduce((n, r) => n + r.lag, 0)).toBe(3);

    const plan = await ops.planReplay(wallet, ops.topicsOf(wallet).main, { earliest: true });
    expect(plan.reduce((n, s) => n + s.records, 0)).toBe(28);
    await ops.replay(wallet, plan);
    expect((await ops.lag(wallet)).reduce((n, r) => n + r.lag, 0)).toBe(28);

    const again = await env.start({ processors: ["wallet"] });
    await eventually(async () => (await ops.lag(wallet)).every((r) => r.lag === 0), 30_000);
    expect(again.runners[0]?.stats).toMatchObject({ processed: 3, duplicates: 25 });
    const { rows } = await env.db.query(
      "SELECT count(*)::int AS wallets, (SELECT count(*) FROM outbox WHERE event_type = 'wallet_created')::int AS events FROM wallets",
    );
    expect(rows[0]).toEqual({ wallets: 28, events: 28 });
  });
});
