import { randomUUID } from "node:crypto";
import type { Tx } from "../../infra/db/pool.js";
import { AppError } from "../../infra/errors.js";
import { enqueue } from "../../producers/outbox.js";
import {
  checkCurrency,
  headers,
  insertEntries,
  insertTransaction,
  type LockedWallet,
  lockOwnWallet,
  type Movement,
  setBalance,
  type TransferResult,
} from "./ledger.js";

export type Recipient = { readonly walletId: string } | { readonly email: string };

export async function transfer(tx: Tx, m: Movement & { to: Recipient }): Promise<TransferResult> {
  const own = await tx.query<{ id: string }>("SELECT id FROM wallets WHERE user_id = $1", [m.userId]);
  const fromId = own.rows[0]?.id;
  if (!fromId) await lockOwnWallet(tx, m.userId); // throws wallet_not_provisioned
  const toId = await resolveRecipient(tx, m.to);
  if (toId === fromId) throw new AppError("self_transfer", "The recipient is your own wallet.");

  // Lock both rows in id order: concurrent A→B and B→A take the locks in the same order, so never deadlock.
  const { rows } = await tx.query<LockedWallet>(
    "SELECT id, user_id, currency, balance FROM wallets WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
    [[fromId, toId]],
  );
  const from = rows.find((r) => r.id === fromId);
  const to = rows.find((r) => r.id === toId);
  if (!from || from.user_id !== m.userId) throw new AppError("internal", "sender wallet vanished");
  if (!to) throw new AppError("recipient_not_found", "No wallet matches the recipient.");
  checkCurrency(from, m.currency);
  if (to.currency !== from.currency) {
    throw new AppError(
      "currency_mismatch",
      `The recipient's wallet holds ${to.currency}, yours ${from.currency}.`,
    );
  }
  if (BigInt(from.balance) < BigInt(m.amount)) {
    throw new AppError("insufficient_funds", `The balance is ${from.balance}; the transfer is ${m.amount}.`);
  }
  const id = randomUUID();
  const description = m.reference ?? null;
  const createdAt = await insertTransaction(tx, {
    id,
    kind: "transfer",
    userId: m.userId,
    from: from.id,
    to: to.id,
    amount: m.amount,
    currency: from.currency,
    reference: description,
    key: m.idempotencyKey,
  });
  const fromAfter = await setBalance(tx, from.id, -m.amount);
  const toAfter = await setBalance(tx, to.id, m.amount);
  await insertEntries(tx, id, from.currency, [
    { walletId: from.id, amount: -m.amount, balanceAfter: fromAfter },
    { walletId: to.id, amount: m.amount, balanceAfter: toAfter },
  ]);
  const base = {
    occurredAt: createdAt.getTime(),
    transactionId: id,
    amount: m.amount,
    currency: from.currency,
    idempotencyKey: m.idempotencyKey,
    description,
  };
  await enqueue(tx, [
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
  ]);
  return {
    id,
    fromWalletId: from.id,
    toWalletId: to.id,
    amount: m.amount,
    currency: from.currency,
    status: "completed",
    balanceAfter: fromAfter,
    description,
    createdAt: createdAt.toISOString(),
  };
}

async function resolveRecipient(tx: Tx, to: Recipient): Promise<string> {
  if ("walletId" in to) {
    const { rows } = await tx.query<{ id: string }>("SELECT id FROM wallets WHERE id = $1", [to.walletId]);
    if (!rows[0]) throw new AppError("recipient_not_found", "No wallet has this id.");
    return rows[0].id;
  }
  const { rows } = await tx.query<{ wallet_id: string | null }>(
    "SELECT w.id AS wallet_id FROM users u LEFT JOIN wallets w ON w.user_id = u.id WHERE u.email = $1",
    [to.email],
  );
  if (!rows[0]) throw new AppError("recipient_not_found", "No user has this email.");
  if (!rows[0].wallet_id) {
    throw new AppError(
      "wallet_not_provisioned",
      "The recipient's wallet is being provisioned; retry in a moment.",
      {
        status: 409,
      },
    );
  }
  return rows[0].wallet_id;
}
