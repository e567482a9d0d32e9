import { randomUUID } from "node:crypto";
import type { Tx } from "../../infra/db/pool.js";
import { AppError } from "../../infra/errors.js";
import {
  balanceAfter,
  checkCurrency,
  checkFunds,
  headers,
  type LockedWalletAt,
  type Movement,
  type TransferResult,
  walletNotProvisioned,
  writeMovement,
} from "./ledger.js";

export type Recipient = { readonly walletId: string } | { readonly email: string };

// The sender's wallet and the recipient's, found and locked by one statement, in id order: concurrent A→B and
// B→A take the locks in the same order, so they never deadlock. now() is the transaction's timestamp.
const LOCK_BY_WALLET_ID = `SELECT id, user_id, currency, balance, now() AS now FROM wallets
  WHERE user_id = $1 OR id = $2 ORDER BY id FOR UPDATE`;
const LOCK_BY_EMAIL = `SELECT id, user_id, currency, balance, now() AS now FROM wallets
  WHERE user_id = $1 OR user_id = (SELECT u.id FROM users u WHERE u.email = $2) ORDER BY id FOR UPDATE`;

/** A transfer in two statements after the idempotency key: lock both wallets, then write everything at once. */
export async function transfer(tx: Tx, m: Movement & { to: Recipient }): Promise<TransferResult> {
  const toWalletId = "walletId" in m.to ? m.to.walletId : undefined;
  const { rows } = await tx.query<LockedWalletAt>(toWalletId ? LOCK_BY_WALLET_ID : LOCK_BY_EMAIL, [
    m.userId,
    "walletId" in m.to ? m.to.walletId : m.to.email,
  ]);
  const from = rows.find((r) => r.user_id === m.userId);
  if (!from) throw walletNotProvisioned();
  const to = toWalletId ? rows.find((r) => r.id === toWalletId) : rows.find((r) => r !== from);
  if (to === from) throw selfTransfer();
  if (!to) throw await recipientMissing(tx, m.to, m.userId);
  checkCurrency(from, m.currency);
  if (to.currency !== from.currency) {
    throw new AppError(
      "currency_mismatch",
      `The recipient's wallet holds ${to.currency}, yours ${from.currency}.`,
    );
  }
  checkFunds(from, m.amount, "transfer");

  const id = randomUUID();
  const description = m.reference ?? null;
  const fromAfter = balanceAfter(from, -m.amount);
  const toAfter = balanceAfter(to, m.amount);
  const base = {
    occurredAt: from.now.getTime(),
    transactionId: id,
    amount: m.amount,
    currency: from.currency,
    idempotencyKey: m.idempotencyKey,
    description,
  };
  const result: TransferResult = {
    id,
    fromWalletId: from.id,
    toWalletId: to.id,
    amount: m.amount,
    currency: from.currency,
    status: "completed",
    balanceAfter: fromAfter,
    description,
    createdAt: from.now.toISOString(),
  };
  await writeMovement(tx, {
    transaction: {
      id,
      kind: "transfer",
      userId: m.userId,
      from: from.id,
      to: to.id,
      amount: m.amount,
      currency: from.currency,
      reference: description,
      key: m.idempotencyKey,
    },
    balances: [
      { walletId: from.id, delta: -m.amount },
      { walletId: to.id, delta: m.amount },
    ],
    entries: [
      { walletId: from.id, amount: -m.amount, balanceAfter: fromAfter },
      { walletId: to.id, amount: m.amount, balanceAfter: toAfter },
    ],
    events: [
      {
        type: "transfer_sent",
        key: from.id,
        headers: headers(m),
        payload: {
          ...base,
          eventId: randomUUID(),
          walletId: from.id,
          userId: from.user_id,
          balanceAfter: fromAfter,
          counterpartyWalletId: to.id,
          counterpartyUserId: to.user_id,
        },
      },
      {
        type: "transfer_received",
        key: to.id,
        headers: headers(m),
        payload: {
          ...base,
          eventId: randomUUID(),
          walletId: to.id,
          userId: to.user_id,
          balanceAfter: toAfter,
          counterpartyWalletId: from.id,
          counterpartyUserId: from.user_id,
        },
      },
    ],
    ...(m.slot ? { response: { slot: m.slot, body: result } } : {}),
  });
  return result;
}

function selfTransfer(): AppError {
  return new AppError("self_transfer", "The recipient is your own wallet.");
}

/** Why the lock found no recipient (the rare path, so an extra query is fine). */
async function recipientMissing(tx: Tx, to: Recipient, userId: string): Promise<AppError> {
  if ("walletId" in to) return new AppError("recipient_not_found", "No wallet has this id.");
  const { rows } = await tx.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [to.email]);
  const user = rows[0];
  if (!user) return new AppError("recipient_not_found", "No user has this email.");
  if (user.id === userId) return selfTransfer();
  return walletNotProvisioned("The recipient's wallet is being provisioned; retry in a moment.");
}
