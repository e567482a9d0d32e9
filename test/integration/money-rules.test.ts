import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { eventually, http, readTopic, type TestEnv, testEnv } from "../support/harness.js";
import { type Api, money, snapshot, type TestUser, userWithWallet } from "../support/money.js";

describe("money rules: bad input changes nothing; authorization; events", () => {
  let env: TestEnv;
  let system: System;
  let api: Api;
  let m: ReturnType<typeof money>;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    env = await testEnv({ MONEY_MAX_AMOUNT: "1000000" });
    system = await env.start({ api: true, relay: true, processors: ["wallet"] });
    api = http(system.apiUrl as string);
    m = money(api);
    alice = await userWithWallet(api, `alice-${randomUUID().slice(0, 6)}`);
    bob = await userWithWallet(api, `bob-${randomUUID().slice(0, 6)}`);
    await m.deposit(alice, 1000);
  });

  const raw = (path: string, token: string, body: string, key: string | null = randomUUID()) =>
    api.call("POST", path, { raw: body, token, headers: key === null ? {} : { "idempotency-key": key } });

  const invalidAmounts: [string, string][] = [
    ["zero", '{"amount": 0}'],
    ["negative", '{"amount": -5}'],
    ["fractional", '{"amount": 1.5}'],
    ["a string", '{"amount": "100"}'],
    ["exponent form", '{"amount": 1e3}'],
    ["over the maximum", '{"amount": 1000001}'],
    ["beyond 2^53", '{"amount": 9007199254740993}'],
    ["missing", '{"reference": "x"}'],
    ["null", '{"amount": null}'],
  ];
  for (const [name, body] of invalidAmounts) {
    for (const path of ["/v1/wallets/me/deposits", "/v1/wallets/me/withdrawals"]) {
      it(`${path} with an amount ${name} → 400 invalid_amount, nothing changed`, async () => {
        const before = await snapshot(env.db);
        const res = await raw(path, alice.token, body);
        expect(res.status, JSON.stringify(res.body)).toBe(400);
        expect(res.body.code).toBe("invalid_amount");
        expect(await snapshot(env.db)).toEqual(before);
      });
    }
  }

  const cases: [string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string][] =
    [
      ["no Idempotency-Key", () => m.deposit(alice, 10, null), 400, "idempotency_key_required"],
      [
        "an Idempotency-Key with spaces",
        () => m.deposit(alice, 10, "has spaces"),
        400,
        "idempotency_key_required",
      ],
      [
        "another currency",
        () => m.post("/v1/wallets/me/deposits", alice.token, { amount: 10, currency: "EUR" }),
        422,
        "currency_mismatch",
      ],
      [
        "a malformed currency",
        () => m.post("/v1/wallets/me/deposits", alice.token, { amount: 10, currency: "euro" }),
        400,
        "validation_failed",
      ],
      [
        "an unknown field",
        () => m.post("/v1/wallets/me/deposits", alice.token, { amount: 10, note: "x" }),
        400,
        "validation_failed",
      ],
      ["more than the balance", () => m.withdraw(alice, 100_000), 422, "insufficient_funds"],
      ["a transfer beyond the balance", () => m.transfer(alice, bob, 100_000), 422, "insufficient_funds"],
      ["a transfer to self", () => m.transfer(alice, alice, 5), 422, "self_transfer"],
      [
        "a transfer to an unknown wallet",
        () => m.post("/v1/transfers", alice.token, { toWalletId: randomUUID(), amount: 5 }),
        404,
        "recipient_not_found",
      ],
      [
        "a transfer to an unknown email",
        () => m.post("/v1/transfers", alice.token, { toEmail: "nobody@example.com", amount: 5 }),
        404,
        "recipient_not_found",
      ],
      [
        "a transfer to my own email",
        () => m.post("/v1/transfers", alice.token, { toEmail: alice.email, amount: 5 }),
        422,
        "self_transfer",
      ],
      [
        "a transfer naming two recipients",
        () =>
          m.post("/v1/transfers", alice.token, { toWalletId: bob.walletId, toEmail: bob.email, amount: 5 }),
        400,
        "validation_failed",
      ],
      [
        "a transfer naming no recipient",
        () => m.post("/v1/transfers", alice.token, { amount: 5 }),
        400,
        "validation_failed",
      ],
      [
        "a transfer in another currency",
        () => m.post("/v1/transfers", alice.token, { toWalletId: bob.walletId, amount: 5, currency: "GBP" }),
        422,
        "currency_mismatch",
      ],
      [
        "no token",
        () =>
          api.call("POST", "/v1/wallets/me/deposits", {
            json: { amount: 5 },
            headers: { "idempotency-key": randomUUID() },
          }),
        401,
        "unauthorized",
      ],
      ["malformed JSON", () => raw("/v1/transfers", alice.token, '{"amount": 5,'), 400, "malformed_json"],
    ];
  for (const [name, call, status, code] of cases) {
    it(`${name} → ${status} ${code}, nothing changed`, async () => {
      const before = await snapshot(env.db);
      const res = await call();
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.code).toBe(code);
      expect(await snapshot(env.db)).toEqual(before);
    });
  }

  it("the same key with a different body → 422 idempotency_key_reused; the first movement stands alone", async () => {
    const key = randomUUID();
    expect((await m.deposit(alice, 10, key)).status).toBe(201);
    const before = await snapshot(env.db);
    const res = await m.deposit(alice, 11, key);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("idempotency_key_reused");
    // Same key on another endpoint is another request too.
    expect((await m.withdraw(alice, 10, key)).body.code).toBe("idempotency_key_reused");
    expect(await snapshot(env.db)).toEqual(before);
  });

  it("a user whose wallet is not provisioned yet gets 409 wallet_not_provisioned", async () => {
    const email = `late-${randomUUID().slice(0, 6)}@example.com`;
    await api.register(email);
    const token = await api.login(email);
    const userId = (await env.db.query("SELECT id FROM users WHERE email = $1", [email])).rows[0].id;
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [userId])).rowCount === 1,
    );
    await env.db.query("DELETE FROM wallets WHERE user_id = $1", [userId]);
    const before = await snapshot(env.db);
    const res = await m.post("/v1/wallets/me/deposits", token, { amount: 5 });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("wallet_not_provisioned");
    expect(await snapshot(env.db)).toEqual(before);
  });

  it("a transfer by email reaches the recipient's wallet; a recipient without a wallet yet → 409", async () => {
    const carol = await userWithWallet(api);
    await m.deposit(carol, 50);
    const res = await m.post("/v1/transfers", carol.token, { toEmail: bob.email.toUpperCase(), amount: 20 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      fromWalletId: carol.walletId,
      toWalletId: bob.walletId,
      balanceAfter: 30,
    });

    const email = `nowallet-${randomUUID().slice(0, 6)}@example.com`;
    await api.register(email);
    const userId = (await env.db.query("SELECT id FROM users WHERE email = $1", [email])).rows[0].id;
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM wallets WHERE user_id = $1", [userId])).rowCount === 1,
    );
    await env.db.query("DELETE FROM wallets WHERE user_id = $1", [userId]);
    const before = await snapshot(env.db);
    const late = await m.post("/v1/transfers", carol.token, { toEmail: email, amount: 5 });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("wallet_not_provisioned");
    expect(await snapshot(env.db)).toEqual(before);
  });

  it("only the owner moves money: a token acts on its own wallet; others' transactions are 404", async () => {
    const t = await m.transfer(alice, bob, 5);
    expect(t.status).toBe(201);
    const carol = await userWithWallet(api);
    const res = await api.call("GET", `/v1/transactions/${t.body.id}`, { token: carol.token });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("transaction_not_found");
    expect((await api.call("GET", `/v1/transactions/${t.body.id}`, { token: bob.token })).status).toBe(200);
    expect(
      (await api.call("GET", `/v1/transactions/${t.body.id}`, { token: alice.token })).body,
    ).toMatchObject({
      id: t.body.id,
      type: "transfer",
      fromWalletId: alice.walletId,
      toWalletId: bob.walletId,
      amount: 5,
    });
    expect((await api.call("GET", "/v1/transactions/not-a-uuid", { token: alice.token })).status).toBe(404);
    // Carol has no money; "her" transfer can only come from her own wallet.
    const steal = await m.post("/v1/transfers", carol.token, { toWalletId: carol.walletId, amount: 1 });
    expect(steal.body.code).toBe("self_transfer");
  });

  it("history is newest first with a stable cursor, and each item has direction, counterparty and balance after", async () => {
    const u = await userWithWallet(api);
    await m.deposit(u, 100);
    for (let i = 1; i <= 5; i++) await m.transfer(u, bob, i);
    const page1 = await api.call<{ items: Record<string, unknown>[]; nextCursor: string }>(
      "GET",
      "/v1/wallets/me/transactions?limit=4",
      { token: u.token },
    );
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((i) => i.amount)).toEqual([5, 4, 3, 2]);
    expect(page1.body.items[0]).toMatchObject({
      type: "transfer",
      direction: "debit",
      counterparty: { walletId: bob.walletId },
      balanceAfter: 100 - 15,
    });
    // A movement arriving between pages does not shift the next page.
    await m.deposit(u, 1);
    const page2 = await api.call<{ items: Record<string, unknown>[]; nextCursor: string | null }>(
      "GET",
      `/v1/wallets/me/transactions?limit=4&cursor=${page1.body.nextCursor}`,
      { token: u.token },
    );
    expect(page2.body.items.map((i) => [i.type, i.amount])).toEqual([
      ["transfer", 1],
      ["deposit", 100],
    ]);
    expect(page2.body.items[1]).toMatchObject({ direction: "credit", counterparty: null, balanceAfter: 100 });
    expect(page2.body.nextCursor).toBeNull();
    const bad = await api.call("GET", "/v1/wallets/me/transactions?cursor=garbage", { token: u.token });
    expect(bad.body.code).toBe("invalid_cursor");
  });

  it("a transfer's events arrive on Kafka, decode with the registered schema, in order per wallet", async () => {
    const a = await userWithWallet(api);
    const b = await userWithWallet(api);
    await m.deposit(a, 50);
    const t1 = await m.transfer(a, b, 10);
    const t2 = await m.transfer(a, b, 15);
    await m.withdraw(b, 5);
    const topic = system.names.event("transfer_sent");
    const records = await readTopic(system, topic, 1, 15_000).then(async () => {
      // Read until all of a's and b's events are there.
      return eventually(async () => {
        const all = await readTopic(system, topic, 1);
        const mine = all.filter((r) => [a.walletId, b.walletId].includes(r.key?.toString() ?? ""));
        return mine.length >= 6 ? mine : undefined;
      }, 20_000);
    });
    const decoded = await Promise.all(
      records.map(async (r) => ({
        key: r.key?.toString(),
        partition: r.partition,
        offset: Number(r.offset),
        ...(await system.codec.decode(
          ["funds_deposited", "funds_withdrawn", "transfer_sent", "transfer_received"],
          r.value,
        )),
      })),
    );
    const ofWallet = (w: string) => decoded.filter((d) => d.key === w).sort((x, y) => x.offset - y.offset);
    const aEvents = ofWallet(a.walletId);
    expect(new Set(aEvents.map((e) => e.partition)).size).toBe(1);
    expect(aEvents.map((e) => [e.type, e.payload.balanceAfter])).toEqual([
      ["funds_deposited", 50],
      ["transfer_sent", 40],
      ["transfer_sent", 25],
    ]);
    expect(aEvents[1]?.payload).toMatchObject({
      transactionId: t1.body.id,
      amount: 10,
      currency: "USD",
      counterpartyWalletId: b.walletId,
    });
    expect(aEvents[2]?.payload).toMatchObject({ transactionId: t2.body.id });
    const bEvents = ofWallet(b.walletId);
    expect(bEvents.map((e) => [e.type, e.payload.balanceAfter])).toEqual([
      ["transfer_received", 10],
      ["transfer_received", 25],
      ["funds_withdrawn", 20],
    ]);
    expect(typeof bEvents[0]?.payload.idempotencyKey).toBe("string");
  });
});
