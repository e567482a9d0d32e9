import type { Pool } from "../infra/db/pool.js";
import { auditHash, GENESIS_HASH } from "./audit-hash.js";

export interface BrokenLink {
  readonly seq: string;
  readonly eventId: string;
  /** "content": the row's hash does not match its content; "link": its prev_hash is not the previous row's hash. */
  readonly problem: "content" | "link";
  readonly detail: string;
}

export interface AuditReport {
  readonly ok: boolean;
  /** Rows checked (up to and including the first broken one). */
  readonly rows: number;
  readonly lastSeq: string | null;
  readonly firstBroken: BrokenLink | null;
}

interface Row {
  seq: string;
  event_id: string;
  event_type: string;
  actor: string | null;
  wallet_id: string | null;
  transaction_id: string | null;
  amount: string | null;
  currency: string | null;
  occurred_at: Date;
  payload: unknown;
  prev_hash: string;
  hash: string;
}

/**
 * Recomputes the audit chain in seq order, in pages, and names the first row that breaks it: a row whose
 * content no longer matches its hash (it was altered), or whose prev_hash is not its predecessor's hash (a row
 * before it was removed or inserted). Rows after the first break are not judged: every one of them follows
 * a broken link. Removing the newest rows cannot be seen from the chain alone.
 */
export async function verifyAuditChain(pool: Pool, opts: { pageSize?: number } = {}): Promise<AuditReport> {
  const pageSize = opts.pageSize ?? 1000;
  let prev = { seq: null as string | null, hash: GENESIS_HASH };
  let rows = 0;
  for (;;) {
    // audit_log.seq in ORDER BY, not seq: that name would be the text output column ("10" before "9").
    const page = await pool.query<Row>(
      `SELECT seq::text, event_id, event_type, actor, wallet_id, transaction_id, amount::text, currency,
              occurred_at, payload, prev_hash, hash
         FROM audit_log WHERE ($1::bigint IS NULL OR audit_log.seq > $1::bigint)
        ORDER BY audit_log.seq LIMIT $2`,
      [prev.seq, pageSize],
    );
    for (const r of page.rows) {
      rows++;
      const broken = check(r, prev.hash, prev.seq);
      if (broken) return { ok: false, rows, lastSeq: r.seq, firstBroken: broken };
      prev = { seq: r.seq, hash: r.hash };
    }
    if (page.rows.length < pageSize) return { ok: true, rows, lastSeq: prev.seq, firstBroken: null };
  }
}

function check(r: Row, expectedPrev: string, prevSeq: string | null): BrokenLink | null {
  if (r.prev_hash !== expectedPrev) {
    return {
      seq: r.seq,
      eventId: r.event_id,
      problem: "link",
      detail: prevSeq
        ? `prev_hash is not the hash of row ${prevSeq}: a row between them was removed or altered`
        : "the first row does not start from the genesis hash: earlier rows were removed",
    };
  }
  const recomputed = auditHash(r.prev_hash, {
    seq: r.seq,
    eventId: r.event_id,
    eventType: r.event_type,
    actor: r.actor,
    walletId: r.wallet_id,
    transactionId: r.transaction_id,
    amount: r.amount,
    currency: r.currency,
    occurredAt: r.occurred_at.getTime(),
    payload: r.payload,
  });
  if (recomputed !== r.hash) {
    return {
      seq: r.seq,
      eventId: r.event_id,
      problem: "content",
      detail: "the row's content does not match its hash",
    };
  }
  return null;
}
