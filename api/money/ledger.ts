import { randomUUID } from "node:crypto";
import type { Tx } from "../../infra/db/pool.js";
import { AppError } from "../../infra/errors.js";
import { enqueue, type OutboxEvent } from "../../producers/outbox.js";
import { minorUnits } from "../wallets.js";

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

export async function lockOwnWallet(tx: Tx, userId: string): Promise<LockedWallet> {
  const { rows } = await tx.query<LockedWallet>(
    "SELECT id, user_id, currency, balance FROM wallets WHERE user_id = $1 FOR UPDATE",
    [userId],
  );
  const w = rows[0];
  if (!w) {
    throw new AppError("wallet_not_provisioned", "Your wallet is being provisioned; retry in a moment.", {
      status: 409,
      headers: { "Retry-After": "1" },
    });
  }
  return w;
}

export function checkCurrency(wallet: LockedWallet, currency: string | undefined): void {
  if (currency !== undefined && currency !== wallet.currency) {
    throw new AppError(
      "currency_mismatch",
      `The wallet holds ${wallet.currency}, the request is in ${currency}.`,
    );
  }
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

export async function insertTransaction(
  tx: Tx,
  t: {
    id: string;
    kind: string;
    userId: string;
    from: string | null;
    to: string | null;
    amount: number;
    currency: string;
    reference: string | null;
    key: string;
  },
): Promise<Date> {
  const { rows } = await tx.query<{ created_at: Date }>(
    `INSERT INTO transactions (id, kind, initiated_by, from_wallet_id, to_wallet_id, amount, currency, reference, idempotency_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at`,
    [t.id, t.kind, t.userId, t.from, t.to, t.amount, t.currency, t.reference, t.key],
  );
  return rows[0]?.created_at as Date;
}

export async function insertEntries(
  tx: Tx,
  transactionId: string,
  currency: string,
  entries: readonly {
    walletId?: string;
    systemAccountId?: string;
    amount: number;
    balanceAfter: number | null;
  }[],
): Promise<void> {
  const values: unknown[] = [];
  const rows = entries.map((e, i) => {
    values.push(
      transactionId,
      e.walletId ?? null,
      e.systemAccountId ?? null,
      e.amount,
      currency,
      e.balanceAfter,
    );
    const p = i * 6;
    return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6})`;
  });
  await tx.query(
    `INSERT INTO ledger_entries (transaction_id, wallet_id, system_account_id, amount, currency, balance_after) VALUES ${rows.join(", ")}`,
    values,
  );
}

export async function setBalance(tx: Tx, walletId: string, delta: number): Promise<number> {
  // The CHECK (balance >= 0) is the last line of defence; callers check first to answer insufficient_funds.
  const { rows } = await tx.query<{ balance: string }>(
    "UPDATE wallets SET balance = balance + $2 WHERE id = $1 RETURNING balance",
    [walletId, delta],
  );
  return minorUnits(rows[0]?.balance as string);
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
  const wallet = await lockOwnWallet(tx, m.userId);
  checkCurrency(wallet, m.currency);
  if (kind === "withdrawal" && BigInt(wallet.balance) < BigInt(m.amount)) {
    throw new AppError(
      "insufficient_funds",
      `The balance is ${wallet.balance}; the withdrawal is ${m.amount}.`,
    );
  }
  const sign = kind === "deposit" ? 1 : -1;
  const id = randomUUID();
  const external = await externalAccount(tx, wallet.currency);
  const reference = m.reference ?? null;
  const createdAt = await insertTransaction(tx, {
    id,
    kind,
    userId: m.userId,
    from: kind === "withdrawal" ? wallet.id : null,
    to: kind === "deposit" ? wallet.id : null,
    amount: m.amount,
    currency: wallet.currency,
    reference,
    key: m.idempotencyKey,
  });
  const balanceAfter = await setBalance(tx, wallet.id, sign * m.amount);
  await insertEntries(tx, id, wallet.currency, [
    { walletId: wallet.id, amount: sign * m.amount, balanceAfter },
    { systemAccountId: external, amount: -sign * m.amount, balanceAfter: null },
  ]);
  const payload = {
    eventId: randomUUID(),
    occurredAt: createdAt.getTime(),
    transactionId: id,
    walletId: wallet.id,
    userId: wallet.user_id,
    amount: m.amount,
    currency: wallet.currency,
    balanceAfter,
    idempotencyKey: m.idempotencyKey,
    reference,
  };
  const event: OutboxEvent =
    kind === "deposit"
      ? { type: "funds_deposited", key: wallet.id, payload, headers: headers(m) }
      : { type: "funds_withdrawn", key: wallet.id, payload, headers: headers(m) };
  await enqueue(tx, [event]);
  return {
    id,
    type: kind,
    walletId: wallet.id,
    amount: m.amount,
    currency: wallet.currency,
    balanceAfter,
    reference,
    status: "completed",
    createdAt: createdAt.toISOString(),
  };
}
