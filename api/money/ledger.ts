import { randomUUID } from "node:crypto";
import type { Tx } from "../../infra/db/pool.js";
import { Params } from "../../infra/db/sql.js";
import { AppError } from "../../infra/errors.js";
import { type OutboxEvent, outboxInsert } from "../../producers/outbox.js";
import { minorUnits } from "../wallets.js";
import { type ResponseSlot, responseUpdate } from "./idempotency.js";

/**
 * Money movements inside one PostgreSQL transaction (the caller's). Each locks the wallets it touches (in id
 * order, so A→B and B→A never deadlock), checks, writes the transaction, its ledger entries (summing to zero),
 * the new balances and the outbox events — all or nothing. Events are keyed by wallet id and written while
 * the wallet is locked, so a wallet's events are in commit order.
 */

export interface Movement {
  readonly userId: string;
  readonly amount: number;
  readonly currency?: string | undefined;
  readonly reference?: string | undefined;
  readonly idempotencyKey: string;
  readonly correlationId: string;
  /** Where the response is recorded (the idempotency key), written with the movement in one statement. */
  readonly slot?: ResponseSlot;
}

export interface LockedWallet {
  id: string;
  user_id: string;
  currency: string;
  balance: string;
}

export interface MovementResult {
  readonly id: string;
  readonly type: "deposit" | "withdrawal";
  readonly walletId: string;
  readonly amount: number;
  readonly currency: string;
  readonly balanceAfter: number;
  readonly reference: string | null;
  readonly status: "completed";
  readonly createdAt: string;
}

export interface TransferResult {
  readonly id: string;
  readonly fromWalletId: string;
  readonly toWalletId: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: "completed";
  readonly balanceAfter: number;
  readonly description: string | null;
  readonly createdAt: string;
}

const EXTERNAL = "external";

/** A locked wallet with the transaction's timestamp (`now()`, the `created_at` of every row it writes). */
export interface LockedWalletAt extends LockedWallet {
  now: Date;
}

export function walletNotProvisioned(
  message = "Your wallet is being provisioned; retry in a moment.",
): AppError {
  return new AppError("wallet_not_provisioned", message, { status: 409, headers: { "Retry-After": "1" } });
}

export function checkCurrency(wallet: LockedWallet, currency: string | undefined): void {
  if (currency !== undefined && currency !== wallet.currency) {
    throw new AppError(
      "currency_mismatch",
      `The wallet holds ${wallet.currency}, the request is in ${currency}.`,
    );
  }
}

export function checkFunds(wallet: LockedWallet, amount: number, what: string): void {
  if (BigInt(wallet.balance) < BigInt(amount)) {
    throw new AppError("insufficient_funds", `The balance is ${wallet.balance}; the ${what} is ${amount}.`);
  }
}

/** The balance of a locked wallet after `delta`; exact (bigint) and checked to fit a JSON integer. */
export function balanceAfter(wallet: LockedWallet, delta: number): number {
  return minorUnits((BigInt(wallet.balance) + BigInt(delta)).toString());
}

async function externalAccount(tx: Tx, currency: string): Promise<string> {
  const find = async () =>
    (
      await tx.query<{ id: string }>("SELECT id FROM system_accounts WHERE code = $1 AND currency = $2", [
        EXTERNAL,
        currency,
      ])
    ).rows[0]?.id;
  const existing = await find();
  if (existing) return existing;
  // First movement in this currency. A concurrent one makes our INSERT wait for its transaction and then do
  // nothing; only a new statement sees the row it committed, hence the second find().
  await tx.query(
    "INSERT INTO system_accounts (id, code, currency) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [randomUUID(), EXTERNAL, currency],
  );
  const id = await find();
  if (!id) throw new Error(`no ${EXTERNAL} account for ${currency}`);
  return id;
}

/** Everything one movement writes, once its wallets are locked and checked. */
export interface MovementWrite {
  readonly transaction: {
    readonly id: string;
    readonly kind: "deposit" | "withdrawal" | "transfer";
    readonly userId: string;
    readonly from: string | null;
    readonly to: string | null;
    readonly amount: number;
    readonly currency: string;
    readonly reference: string | null;
    readonly key: string;
  };
  /** Balance changes of locked wallets. */
  readonly balances: readonly { readonly walletId: string; readonly delta: number }[];
  /** Summing to zero. */
  readonly entries: readonly {
    readonly walletId?: string;
    readonly systemAccountId?: string;
    readonly amount: number;
    readonly balanceAfter: number | null;
  }[];
  readonly events: readonly OutboxEvent[];
  /** The request's response, recorded on its idempotency key in the same statement. */
  readonly response?: { readonly slot: ResponseSlot; readonly body: unknown };
}

/**
 * Writes a movement in ONE statement (one round trip): the transaction row, the balance updates, the ledger
 * entries and the outbox events as data-modifying CTEs, and the idempotency key's response as the main
 * statement. The foreign keys between them are checked at the end of the statement; the CHECK
 * (balance >= 0) on wallets stays the last line of defence behind the callers' checks.
 */
export async function writeMovement(tx: Tx, w: MovementWrite): Promise<void> {
  const p = new Params();
  const t = w.transaction;
  const tuple = [t.id, t.kind, t.userId, t.from, t.to, t.amount, t.currency, t.reference, t.key].map((v) =>
    p.add(v),
  );
  const balances = p.rows(w.balances, (b) => [p.add(b.walletId, "uuid"), p.add(b.delta, "bigint")]);
  const entries = p.rows(w.entries, (e) => [
    p.add(t.id),
    p.add(e.walletId ?? null),
    p.add(e.systemAccountId ?? null),
    p.add(e.amount),
    p.add(t.currency),
    p.add(e.balanceAfter),
  ]);
  const ctes = [
    `t AS (INSERT INTO transactions (id, kind, initiated_by, from_wallet_id, to_wallet_id, amount, currency, reference, idempotency_key)
       VALUES (${tuple.join(", ")}))`,
    `b AS (UPDATE wallets w SET balance = w.balance + d.delta FROM (VALUES ${balances}) AS d (id, delta)
       WHERE w.id = d.id)`,
    `e AS (INSERT INTO ledger_entries (transaction_id, wallet_id, system_account_id, amount, currency, balance_after)
       VALUES ${entries})`,
  ];
  if (w.events.length > 0) ctes.push(`o AS (${outboxInsert(w.events, p)})`);
  const main = w.response ? responseUpdate(w.response.slot, w.response.body, p) : "SELECT 1";
  await tx.query(`WITH ${ctes.join(",\n  ")}\n${main}`, p.values);
  if (w.response) w.response.slot.stored = true;
}

export function headers(m: Movement): Record<string, string> {
  return { "correlation-id": m.correlationId };
}

export async function deposit(tx: Tx, m: Movement): Promise<MovementResult> {
  return depositOrWithdraw(tx, m, "deposit");
}

export async function withdraw(tx: Tx, m: Movement): Promise<MovementResult> {
  return depositOrWithdraw(tx, m, "withdrawal");
}

async function depositOrWithdraw(
  tx: Tx,
  m: Movement,
  kind: "deposit" | "withdrawal",
): Promise<MovementResult> {
  // The wallet, locked, with the external account of its currency (null before the first movement in it).
  const { rows } = await tx.query<LockedWalletAt & { external_id: string | null }>(
    `SELECT w.id, w.user_id, w.currency, w.balance, now() AS now,
            (SELECT s.id FROM system_accounts s WHERE s.code = '${EXTERNAL}' AND s.currency = w.currency) AS external_id
       FROM wallets w WHERE w.user_id = $1 FOR UPDATE OF w`,
    [m.userId],
  );
  const wallet = rows[0];
  if (!wallet) throw walletNotProvisioned();
  checkCurrency(wallet, m.currency);
  if (kind === "withdrawal") checkFunds(wallet, m.amount, "withdrawal");
  const delta = kind === "deposit" ? m.amount : -m.amount;
  const after = balanceAfter(wallet, delta);
  const external = wallet.external_id ?? (await externalAccount(tx, wallet.currency));
  const id = randomUUID();
  const reference = m.reference ?? null;
  const payload = {
    eventId: randomUUID(),
    occurredAt: wallet.now.getTime(),
    transactionId: id,
    walletId: wallet.id,
    userId: wallet.user_id,
    amount: m.amount,
    currency: wallet.currency,
    balanceAfter: after,
    idempotencyKey: m.idempotencyKey,
    reference,
  };
  const event: OutboxEvent =
    kind === "deposit"
      ? { type: "funds_deposited", key: wallet.id, payload, headers: headers(m) }
      : { type: "funds_withdrawn", key: wallet.id, payload, headers: headers(m) };
  const result: MovementResult = {
    id,
    type: kind,
    walletId: wallet.id,
    amount: m.amount,
    currency: wallet.currency,
    balanceAfter: after,
    reference,
    status: "completed",
    createdAt: wallet.now.toISOString(),
  };
  await writeMovement(tx, {
    transaction: {
      id,
      kind,
      userId: m.userId,
      from: kind === "withdrawal" ? wallet.id : null,
      to: kind === "deposit" ? wallet.id : null,
      amount: m.amount,
      currency: wallet.currency,
      reference,
      key: m.idempotencyKey,
    },
    balances: [{ walletId: wallet.id, delta }],
    entries: [
      { walletId: wallet.id, amount: delta, balanceAfter: after },
      { systemAccountId: external, amount: -delta, balanceAfter: null },
    ],
    events: [event],
    ...(m.slot ? { response: { slot: m.slot, body: result } } : {}),
  });
  return result;
}
