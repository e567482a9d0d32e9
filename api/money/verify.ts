import type { Pool } from "../../infra/db/pool.js";

export interface LedgerReport {
  readonly ok: boolean;
  readonly wallets: number;
  readonly transactions: number;
  readonly entries: number;
  /** Sum of every entry; must be 0 (double entry). */
  readonly total: string;
  /** Wallets whose stored balance differs from the sum of their entries, or from their last balance_after. */
  readonly balanceMismatches: readonly {
    walletId: string;
    balance: string;
    entries: string;
    lastBalanceAfter: string | null;
  }[];
  /** Transactions whose entries do not sum to zero, or that have fewer than two entries. */
  readonly unbalancedTransactions: readonly { transactionId: string; sum: string; entries: number }[];
}

/** Proves the ledger: every wallet's balance equals the sum of its entries, each transaction sums to zero. */
export async function verifyLedger(pool: Pool): Promise<LedgerReport> {
  const counts = await pool.query<{ wallets: number; transactions: number; entries: number; total: string }>(
    `SELECT (SELECT count(*) FROM wallets)::int AS wallets, (SELECT count(*) FROM transactions)::int AS transactions,
            (SELECT count(*) FROM ledger_entries)::int AS entries,
            (SELECT coalesce(sum(amount), 0) FROM ledger_entries)::text AS total`,
  );
  const balances = await pool.query<{
    wallet_id: string;
    balance: string;
    entries: string;
    last_balance_after: string | null;
  }>(
    `SELECT w.id AS wallet_id, w.balance::text, coalesce(s.sum, 0)::text AS entries, l.balance_after::text AS last_balance_after
       FROM wallets w
       LEFT JOIN (SELECT wallet_id, sum(amount) AS sum FROM ledger_entries WHERE wallet_id IS NOT NULL GROUP BY wallet_id) s
              ON s.wallet_id = w.id
       LEFT JOIN LATERAL (SELECT balance_after FROM ledger_entries e WHERE e.wallet_id = w.id ORDER BY e.id DESC LIMIT 1) l
              ON true
      WHERE w.balance <> coalesce(s.sum, 0) OR (l.balance_after IS NOT NULL AND l.balance_after <> w.balance)
      LIMIT 100`,
  );
  const unbalanced = await pool.query<{ transaction_id: string; sum: string; entries: number }>(
    `SELECT t.id AS transaction_id, coalesce(sum(e.amount), 0)::text AS sum, count(e.id)::int AS entries
       FROM transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
      GROUP BY t.id HAVING coalesce(sum(e.amount), 0) <> 0 OR count(e.id) < 2
      LIMIT 100`,
  );
  const c = counts.rows[0] as { wallets: number; transactions: number; entries: number; total: string };
  const balanceMismatches = balances.rows.map((r) => ({
    walletId: r.wallet_id,
    balance: r.balance,
    entries: r.entries,
    lastBalanceAfter: r.last_balance_after,
  }));
  const unbalancedTransactions = unbalanced.rows.map((r) => ({
    transactionId: r.transaction_id,
    sum: r.sum,
    entries: r.entries,
  }));
  return {
    ok: c.total === "0" && balanceMismatches.length === 0 && unbalancedTransactions.length === 0,
    wallets: c.wallets,
    transactions: c.transactions,
    entries: c.entries,
    total: c.total,
    balanceMismatches,
    unbalancedTransactions,
  };
}
