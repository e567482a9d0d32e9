import { randomUUID } from "node:crypto";
import type pg from "pg";
import { eventually, type http } from "./harness.js";

export type Api = ReturnType<typeof http>;

export interface TestUser {
  readonly email: string;
  readonly token: string;
  readonly userId: string;
  readonly walletId: string;
}

/** Registers a user, logs in, waits for the wallet (made by the wallet processor through Kafka). */
export async function userWithWallet(api: Api, name = `u-${randomUUID().slice(0, 8)}`): Promise<TestUser> {
  const email = `${name}@example.com`;
  const reg = await api.register(email, "correct horse battery", name);
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  const token = await api.login(email);
  const wallet = await eventually(async () => {
    const res = await api.call("GET", "/v1/wallets/me", { token });
    return res.status === 200 ? res.body : undefined;
  }, 20_000);
  return { email, token, userId: reg.body.id as string, walletId: wallet.id as string };
}

export function money(api: Api) {
  const post = (path: string, token: string, json: unknown, key: string | null = randomUUID()) =>
    api.call("POST", path, { json, token, headers: key === null ? {} : { "idempotency-key": key } });
  return {
    deposit: (u: TestUser, amount: number, key?: string | null) =>
      post("/v1/wallets/me/deposits", u.token, { amount }, key),
    withdraw: (u: TestUser, amount: number, key?: string | null) =>
      post("/v1/wallets/me/withdrawals", u.token, { amount }, key),
    transfer: (from: TestUser, to: TestUser, amount: number, key?: string | null) =>
      post("/v1/transfers", from.token, { toWalletId: to.walletId, amount }, key),
    post,
    balance: async (u: TestUser) =>
      (await api.call("GET", "/v1/wallets/me", { token: u.token })).body.balance as number,
  };
}

/** Everything a rejected request must leave untouched. */
export async function snapshot(db: pg.Pool) {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM users)::int AS users,
            (SELECT coalesce(json_object_agg(id, balance), '{}') FROM wallets) AS balances,
            (SELECT count(*) FROM ledger_entries)::int AS entries,
            (SELECT coalesce(sum(abs(amount)), 0)::text FROM ledger_entries) AS volume,
            (SELECT count(*) FROM transactions)::int AS transactions,
            (SELECT count(*) FROM outbox)::int AS events,
            (SELECT count(*) FROM idempotency_keys)::int AS keys,
            (SELECT count(*) FILTER (WHERE read_at IS NOT NULL) FROM notifications)::int AS read`,
  );
  return rows[0];
}
