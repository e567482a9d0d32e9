import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../api/money/verify.js";
import { http, type TestEnv, testEnv } from "../support/harness.js";
import { type Api, money, type TestUser, userWithWallet } from "../support/money.js";

describe("money movements under concurrency", () => {
  let env: TestEnv;
  let api: Api;
  let m: ReturnType<typeof money>;

  beforeAll(async () => {
    env = await testEnv({ DATABASE_POOL_MAX: "10" });
    const system = await env.start({ api: true, relay: true, processors: ["wallet"] });
    api = http(system.apiUrl as string);
    m = money(api);
  });

  it("the very first deposits in a currency, concurrent, all succeed (one external account is created)", async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => userWithWallet(api)));
    const results = await Promise.all(users.map((u) => m.deposit(u, 10)));
    expect(results.map((r) => r.status)).toEqual(users.map(() => 201));
    const accounts = await env.db.query(
      "SELECT count(*)::int AS n FROM system_accounts WHERE currency = 'USD'",
    );
    expect(accounts.rows[0].n).toBe(1);
  });

  it("200 concurrent withdrawals of 1 against a balance of 50: exactly 50 succeed, the rest 422, balance 0", async () => {
    const u = await userWithWallet(api);
    expect((await m.deposit(u, 50)).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 200 }, () => m.withdraw(u, 1)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(50);
    expect(statuses.filter((s) => s === 422)).toHaveLength(150);
    for (const r of results.filter((x) => x.status === 422)) expect(r.body.code).toBe("insufficient_funds");
    expect(await m.balance(u)).toBe(0);
    const report = await verifyLedger(env.db);
    expect(report.ok, JSON.stringify(report)).toBe(true);
  });

  it("100 concurrent transfers each way between two wallets: no error reaches a client, balances consistent", async () => {
    const a = await userWithWallet(api);
    const b = await userWithWallet(api);
    await m.deposit(a, 10_000);
    await m.deposit(b, 10_000);
    const calls: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 100; i++) {
      calls.push(m.transfer(a, b, 7));
      calls.push(m.transfer(b, a, 3));
    }
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    expect(await m.balance(a)).toBe(10_000 - 700 + 300);
    expect(await m.balance(b)).toBe(10_000 + 700 - 300);
    const report = await verifyLedger(env.db);
    expect(report.ok, JSON.stringify(report)).toBe(true);
  });

  it("the same Idempotency-Key sent 20 times concurrently: one movement, 20 identical responses", async () => {
    const u = await userWithWallet(api);
    const key = randomUUID();
    const results = await Promise.all(Array.from({ length: 20 }, () => m.deposit(u, 1234, key)));
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([201]));
    const bodies = new Set(results.map((r) => JSON.stringify(r.body)));
    expect(bodies.size).toBe(1);
    expect(results.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(19);
    expect(await m.balance(u)).toBe(1234);
    const { rows } = await env.db.query(
      "SELECT count(*)::int AS n FROM transactions t JOIN wallets w ON w.id = t.to_wallet_id WHERE w.user_id = $1",
      [u.userId],
    );
    expect(rows[0].n).toBe(1);
  });

  it("a retried transfer with the same key and body moves money once and answers the original response", async () => {
    const a: TestUser = await userWithWallet(api);
    const b: TestUser = await userWithWallet(api);
    await m.deposit(a, 100);
    const key = randomUUID();
    const first = await m.transfer(a, b, 40, key);
    const again = await m.transfer(a, b, 40, key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await m.balance(a)).toBe(60);
    expect(await m.balance(b)).toBe(40);
  });
});
