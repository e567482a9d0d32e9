import type { Pool } from "../../infra/db/pool.js";
import { AppError } from "../../infra/errors.js";
import { minorUnits } from "../wallets.js";

export interface HistoryItem {
  readonly id: string;
  readonly type: "deposit" | "withdrawal" | "transfer";
  readonly direction: "credit" | "debit";
  readonly amount: number;
  readonly currency: string;
  readonly counterparty: { readonly walletId: string; readonly displayName: string | null } | null;
  readonly balanceAfter: number;
  readonly reference: string | null;
  readonly createdAt: string;
}

interface Row {
  entry_id: string;
  id: string;
  kind: "deposit" | "withdrawal" | "transfer";
  amount: string;
  currency: string;
  balance_after: string;
  reference: string | null;
  created_at: Date;
  counterparty_wallet_id: string | null;
  counterparty_name: string | null;
}

const BIGINT_MAX = 2n ** 63n - 1n;
const cursorOf = (entryId: string) => Buffer.from(`e:${entryId}`).toString("base64url");

function entryOf(cursor: string): string {
  const m = /^e:(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString());
  // A forged id beyond bigint would fail in PostgreSQL (a 500): it is just a cursor this API never issued.
  if (!m?.[1] || BigInt(m[1]) > BIGINT_MAX) {
    throw new AppError("invalid_cursor", "The cursor is not one this API returned.");
  }
  return m[1];
}

/**
 * A wallet's movements, newest first. The cursor is the ledger entry id of the last item: entries of one wallet
 * are inserted under its row lock, so their ids follow commit order and a page boundary never moves when new
 * movements arrive.
 */
export async function listTransactions(
  pool: Pool,
  userId: string,
  opts: { limit: number; cursor?: string | undefined },
): Promise<{ items: HistoryItem[]; nextCursor: string | null }> {
  const before = opts.cursor ? entryOf(opts.cursor) : null;
  const { rows } = await pool.query<Row>(
    `SELECT e.id AS entry_id, t.id, t.kind, e.amount, e.currency, e.balance_after, t.reference, t.created_at,
            cw.id AS counterparty_wallet_id, cu.display_name AS counterparty_name
       FROM wallets w
       JOIN ledger_entries e ON e.wallet_id = w.id
       JOIN transactions t ON t.id = e.transaction_id
       LEFT JOIN wallets cw ON t.kind = 'transfer'
                           AND cw.id = CASE WHEN t.from_wallet_id = w.id THEN t.to_wallet_id ELSE t.from_wallet_id END
       LEFT JOIN users cu ON cu.id = cw.user_id
      WHERE w.user_id = $1 AND ($2::bigint IS NULL OR e.id < $2::bigint)
      ORDER BY e.id DESC
      LIMIT $3`,
    [userId, before, opts.limit + 1],
  );
  const page = rows.slice(0, opts.limit);
  return {
    items: page.map(toItem),
    nextCursor:
      rows.length > opts.limit && page.length ? cursorOf((page[page.length - 1] as Row).entry_id) : null,
  };
}

function toItem(r: Row): HistoryItem {
  const signed = minorUnits(r.amount);
  return {
    id: r.id,
    type: r.kind,
    direction: signed > 0 ? "credit" : "debit",
    amount: Math.abs(signed),
    currency: r.currency,
    counterparty: r.counterparty_wallet_id
      ? { walletId: r.counterparty_wallet_id, displayName: r.counterparty_name }
      : null,
    balanceAfter: minorUnits(r.balance_after),
    reference: r.reference,
    createdAt: r.created_at.toISOString(),
  };
}

export interface TransactionView {
  readonly id: string;
  readonly type: "deposit" | "withdrawal" | "transfer";
  readonly fromWalletId: string | null;
  readonly toWalletId: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly reference: string | null;
  readonly status: "completed";
  readonly createdAt: string;
}

/** One transaction the caller took part in (sender or recipient); anything else is 404, not 403. */
export async function getTransaction(pool: Pool, userId: string, id: string): Promise<TransactionView> {
  const { rows } = await pool.query<{
    id: string;
    kind: TransactionView["type"];
    from_wallet_id: string | null;
    to_wallet_id: string | null;
    amount: string;
    currency: string;
    reference: string | null;
    created_at: Date;
  }>(
    `SELECT t.id, t.kind, t.from_wallet_id, t.to_wallet_id, t.amount, t.currency, t.reference, t.created_at
       FROM transactions t
      WHERE t.id = $2 AND EXISTS (
        SELECT 1 FROM wallets w WHERE w.user_id = $1 AND w.id IN (t.from_wallet_id, t.to_wallet_id))`,
    [userId, id],
  );
  const t = rows[0];
  if (!t) throw new AppError("transaction_not_found", "No transaction with this id involves your wallet.");
  return {
    id: t.id,
    type: t.kind,
    fromWalletId: t.from_wallet_id,
    toWalletId: t.to_wallet_id,
    amount: minorUnits(t.amount),
    currency: t.currency,
    reference: t.reference,
    status: "completed",
    createdAt: t.created_at.toISOString(),
  };
}
