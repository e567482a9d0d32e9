import type pg from "pg";
import { verifyLedger } from "../../api/money/verify.js";
import { ALLOWED, type ChaosUser, type MoneyRequest } from "./load.js";

/** One invariant: its verdict and, either way, the numbers behind it. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Effects missing (lost) and effects present more than once (duplicated), for the totals. */
  readonly lost?: number;
  readonly duplicated?: number;
}

const KIND_OF = {
  deposit: "deposit",
  withdrawal: "withdrawal",
  over_withdrawal: "withdrawal",
  transfer: "transfer",
  self_transfer: "transfer",
} as const;

interface TxRow {
  id: string;
  kind: string;
  initiated_by: string;
  from_wallet_id: string | null;
  to_wallet_id: string | null;
  amount: string;
  idempotency_key: string;
}

/** Users, wallets, the money requests the clients made and the ledger they left. */
export async function moneyChecks(
  db: pg.Pool,
  users: readonly ChaosUser[],
  requests: readonly MoneyRequest[],
): Promise<Check[]> {
  const checks: Check[] = [];
  const unanswered = requests.filter((r) => r.answer === undefined);
  const unregistered = users.filter((u) => u.answer === undefined);
  checks.push({
    name: "every request got a definitive answer",
    ok: unanswered.length === 0 && unregistered.length === 0,
    detail: `${requests.length} money requests, ${users.length} registrations; unanswered: ${unanswered.length + unregistered.length}${first(unanswered.map((r) => `${r.key}: ${r.lastError}`))}`,
  });

  const wrong = requests.filter((r) => r.answer !== undefined && !ALLOWED[r.intent].includes(r.answer));
  checks.push({
    name: "every answer fits its request (over-balance → 422, self-transfer → 422)",
    ok: wrong.length === 0,
    detail: `${wrong.length} wrong answers${first(wrong.map((r) => `${r.intent} ${r.key} → ${r.answer}`))}`,
  });

  checks.push(await walletCheck(db, users));

  const { rows: txs } = await db.query<TxRow>(
    `SELECT id, kind, initiated_by, from_wallet_id, to_wallet_id, amount::text, idempotency_key FROM transactions`,
  );
  const byId = new Map(txs.map((t) => [t.id, t]));
  const accepted = requests.filter((r) => r.transactionId !== undefined);
  const acceptedIds = new Set(accepted.map((r) => r.transactionId));
  const missing = accepted.filter((r) => !byId.has(r.transactionId as string));
  const mismatched = accepted.filter((r) => {
    const t = byId.get(r.transactionId as string);
    return (
      t !== undefined &&
      (t.kind !== KIND_OF[r.intent] ||
        t.amount !== String(r.amount) ||
        t.initiated_by !== r.userId ||
        t.idempotency_key !== r.key ||
        t.from_wallet_id !== r.fromWalletId ||
        t.to_wallet_id !== r.toWalletId)
    );
  });
  const extra = txs.filter((t) => !acceptedIds.has(t.id));
  checks.push({
    name: "every accepted request applied exactly once (transactions = accepted)",
    ok: missing.length === 0 && mismatched.length === 0 && extra.length === 0,
    detail: `accepted ${accepted.length}, transactions ${txs.length}; missing ${missing.length}, not as requested ${mismatched.length}, extra ${extra.length}${first(extra.map((t) => `${t.kind} ${t.id} key ${t.idempotency_key}`))}`,
    lost: missing.length,
    duplicated: extra.length,
  });

  const rejected = requests.filter((r) => r.answer !== undefined && r.answer !== "201");
  const rejectedKeys = new Set(rejected.map((r) => `${r.userId} ${r.key}`));
  const { rows: keys } = await db.query<{ user_id: string; key: string }>(
    "SELECT user_id, key FROM idempotency_keys",
  );
  const keptKeys = keys.filter((k) => rejectedKeys.has(`${k.user_id} ${k.key}`));
  const applied = txs.filter((t) => rejectedKeys.has(`${t.initiated_by} ${t.idempotency_key}`));
  checks.push({
    name: "every rejected request left nothing (no transaction, no stored key)",
    ok: keptKeys.length === 0 && applied.length === 0,
    detail: `rejected ${rejected.length}; with a transaction ${applied.length}, with a stored key ${keptKeys.length}`,
    duplicated: applied.length,
  });

  const ledger = await verifyLedger(db);
  checks.push({
    name: "ledger verifies (balances = entries, every transaction and the total sum to 0)",
    ok: ledger.ok,
    detail: `${ledger.wallets} wallets, ${ledger.transactions} transactions, ${ledger.entries} entries, total ${ledger.total}; balance mismatches ${ledger.balanceMismatches.length}, unbalanced ${ledger.unbalancedTransactions.length}`,
  });
  return checks;
}

async function walletCheck(db: pg.Pool, users: readonly ChaosUser[]): Promise<Check> {
  const { rows } = await db.query<{ email: string; wallets: number }>(
    `SELECT u.email, count(w.id)::int AS wallets FROM users u LEFT JOIN wallets w ON w.user_id = u.id GROUP BY u.email`,
  );
  const walletsOf = new Map(rows.map((r) => [r.email, r.wallets]));
  const registered = users.filter((u) => u.registered);
  const noUser = registered.filter((u) => !walletsOf.has(u.email));
  const noWallet = registered.filter((u) => walletsOf.get(u.email) === 0);
  const several = rows.filter((r) => r.wallets > 1);
  // Users nobody was told about: only a registration without an answer may have left one.
  const known = new Set(users.map((u) => u.email));
  const strangers = rows.filter((r) => !known.has(r.email));
  const { rows: orphans } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM wallets w WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = w.user_id)",
  );
  const orphanWallets = orphans[0]?.n ?? 0;
  return {
    name: "every registered user has exactly one wallet",
    ok:
      noUser.length === 0 &&
      noWallet.length === 0 &&
      several.length === 0 &&
      strangers.length === 0 &&
      orphanWallets === 0,
    detail: `registered ${registered.length}, users ${rows.length}; without a user row ${noUser.length}, without a wallet ${noWallet.length}, with several ${several.length}, unknown users ${strangers.length}, wallets without a user ${orphanWallets}`,
    lost: noUser.length + noWallet.length,
    duplicated: several.length,
  };
}

/** ": a, b, c" — the first few offenders, for the detail column. */
export function first(items: readonly string[], n = 3): string {
  return items.length ? `: ${items.slice(0, n).join("; ")}${items.length > n ? "; …" : ""}` : "";
}
