import { describe, expect, it } from "vitest";
import { processorCatalog } from "../../processors/index.js";
import { GroupOperations } from "../../processors/operations.js";
import { eventually, http, testEnv } from "../support/harness.js";
import { money, userWithWallet } from "../support/money.js";

describe("rebuilding a projection from the topics", () => {
  it("drop the notifications and replay from the earliest offset: the rebuilt table equals the original", async () => {
    const env = await testEnv();
    const ingress = await env.start({ api: true, relay: true, processors: ["wallet"] });
    let notifier = await env.start({ processors: ["notifications"] });
    const api = http(ingress.apiUrl as string);
    const m = money(api);
    const a = await userWithWallet(api);
    const b = await userWithWallet(api);
    await m.deposit(a, 500);
    await m.transfer(a, b, 120);
    await m.transfer(b, a, 20);
    await m.withdraw(a, 50);
    // wallet ready ×2, deposit, sent + received ×2, withdrawal
    const expected = 8;
    const snapshot = async () =>
      (
        await env.db.query(
          "SELECT id, event_id, user_id, kind, title, body, data, created_at FROM notifications ORDER BY id",
        )
      ).rows;
    await eventually(async () => (await snapshot()).length === expected, 30_000);
    const original = await snapshot();

    await notifier.stop();
    const p = processorCatalog(env.config).get("notifications");
    if (!p) throw new Error("no notifications processor");
    const ops = new GroupOperations({ bus: ingress.bus, pool: ingress.pool, names: ingress.names });
    const steps = await ops.rebuild(p);
    expect(steps.reduce((n, s) => n + s.records, 0)).toBeGreaterThanOrEqual(expected);
    expect(await snapshot()).toEqual([]);
    // The retry topics were moved to their end under the group that reads them, `<group>.retry`.
    const retryGroup = ingress.names.retryGroup(ingress.names.group(p.group));
    const retryRows = (await ops.lag(p, { includeRetry: true, timestamps: false })).filter((r) =>
      ops.topicsOf(p).retry.includes(r.topic),
    );
    expect(retryRows.length).toBeGreaterThan(0);
    for (const r of retryRows) expect(r).toMatchObject({ group: retryGroup, committed: r.end, lag: 0 });

    notifier = await env.start({ processors: ["notifications"] });
    await eventually(async () => (await snapshot()).length === expected, 30_000);
    expect(await snapshot()).toEqual(original);
    expect(notifier.runners[0]?.stats.duplicates).toBe(0);
  });
});
