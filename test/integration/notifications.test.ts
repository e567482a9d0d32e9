import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import type { Publisher } from "../../infra/kafka/index.js";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";
import { type Api, money, type TestUser, userWithWallet } from "../support/money.js";
import { redeliver, redeliverWithoutDedupe } from "../support/replay.js";

interface Item {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  read: boolean;
  createdAt: string;
  readAt: string | null;
}
interface Page {
  items: Item[];
  nextCursor: string | null;
  unreadCount: number;
}

describe("notifications service", () => {
  let env: TestEnv;
  let system: System;
  let api: Api;
  let publisher: Publisher;
  let alice: TestUser;
  let bob: TestUser;
  let aliceName: string;
  let bobName: string;

  const list = (u: TestUser, query = "") =>
    api.call<Page>("GET", `/v1/notifications${query}`, { token: u.token });
  const countFor = async (u: TestUser) =>
    (await env.db.query("SELECT count(*)::int AS n FROM notifications WHERE user_id = $1", [u.userId]))
      .rows[0].n as number;

  beforeAll(async () => {
    env = await testEnv();
    system = await env.start({
      api: true,
      relay: true,
      processors: ["wallet", "notifications", "email", "audit"],
    });
    api = http(system.apiUrl as string);
    publisher = await system.bus.publisher();
    aliceName = `alice-${randomUUID().slice(0, 6)}`;
    bobName = `bob-${randomUUID().slice(0, 6)}`;
    alice = await userWithWallet(api, aliceName);
    bob = await userWithWallet(api, bobName);
    const m = money(api);
    expect((await m.deposit(alice, 5000)).status).toBe(201);
    expect((await m.transfer(alice, bob, 1500)).status).toBe(201);
    await eventually(async () => (await countFor(alice)) === 3 && (await countFor(bob)) === 2);
    return () => publisher.close();
  });

  it("each user gets the notifications of their own wallet's events, newest first, all unread", async () => {
    const a = await list(alice);
    expect(a.status).toBe(200);
    expect(a.body.items.map((i) => [i.kind, i.title])).toEqual([
      ["transfer_sent", `You sent 15.00 USD to ${bobName}`],
      ["deposit", "Deposit of 50.00 USD"],
      ["wallet_ready", "Your wallet is ready"],
    ]);
    expect(a.body.unreadCount).toBe(3);
    expect(a.body.nextCursor).toBeNull();
    expect(a.body.items[0]).toMatchObject({
      body: "Your balance is now 35.00 USD.",
      data: { walletId: alice.walletId, amount: 1500, currency: "USD", counterpartyWalletId: bob.walletId },
      read: false,
      readAt: null,
    });
    const b = await list(bob);
    expect(b.body.items.map((i) => i.title)).toEqual([
      `You received 15.00 USD from ${aliceName}`,
      "Your wallet is ready",
    ]);
    expect(b.body.unreadCount).toBe(2);
    // Newest first by when the event happened.
    const times = a.body.items.map((i) => Date.parse(i.createdAt));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it("pages with a cursor; a bad cursor or limit is refused", async () => {
    const first = await list(alice, "?limit=2");
    expect(first.body.items.map((i) => i.kind)).toEqual(["transfer_sent", "deposit"]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await list(alice, `?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((i) => i.kind)).toEqual(["wallet_ready"]);
    expect(second.body.nextCursor).toBeNull();
    expect((await list(alice, "?cursor=garbage")).body).toMatchObject({ code: "invalid_cursor" });
    expect((await list(alice, "?limit=0")).body).toMatchObject({ code: "validation_failed" });
    expect((await api.call("GET", "/v1/notifications")).status).toBe(401);
  });

  it("marking read answers the notification, is idempotent, and lowers the unread count", async () => {
    const target = (await list(bob)).body.items[0] as Item;
    const read = await api.call<Item>("POST", `/v1/notifications/${target.id}/read`, { token: bob.token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: target.id, read: true, title: target.title });
    expect(Date.parse(read.body.readAt ?? "")).not.toBeNaN();
    const again = await api.call<Item>("POST", `/v1/notifications/${target.id}/read`, { token: bob.token });
    expect(again.status).toBe(200);
    expect(again.body.readAt).toBe(read.body.readAt);
    const after = await list(bob);
    expect(after.body.unreadCount).toBe(1);
    expect(after.body.items.find((i) => i.id === target.id)).toMatchObject({ read: true });
  });

  it("someone else's notification, an unknown id or a malformed one is 404 notification_not_found", async () => {
    const aliceItem = (await list(alice)).body.items[0] as Item;
    for (const id of [aliceItem.id, randomUUID(), "not-a-uuid"]) {
      const res = await api.call("POST", `/v1/notifications/${id}/read`, { token: bob.token });
      expect(res.status, id).toBe(404);
      expect(res.body.code).toBe("notification_not_found");
    }
    // Bob's attempt changed nothing.
    expect((await list(alice)).body.items[0]).toMatchObject({ id: aliceItem.id, read: false });
  });

  it("a redelivered or replayed event creates no second notification", async () => {
    const { rows } = await env.db.query(
      `SELECT event_id, event_type, message_key, payload FROM outbox
        WHERE event_type = 'funds_deposited' AND payload->>'walletId' = $1`,
      [alice.walletId],
    );
    const row = rows[0];
    const runner = system.runners.find((r) => r.group === system.names.group("notification-service"));
    const duplicates = runner?.stats.duplicates ?? 0;
    // Redelivery: the runner's dedupe row answers.
    await redeliver(system, publisher, row);
    await eventually(async () => (runner?.stats.duplicates ?? 0) > duplicates);
    // Replay without the dedupe row (purged, or a reset group): the unique (event_id, user_id) answers.
    await redeliverWithoutDedupe(system, env.db, publisher, system.names.group("notification-service"), row);
    const n = await env.db.query("SELECT count(*)::int AS n FROM notifications WHERE event_id = $1", [
      row.event_id,
    ]);
    expect(n.rows[0].n).toBe(1);
    expect(await countFor(alice)).toBe(3);
  });
});
