import { ADVISORY_LOCKS } from "../infra/db/locks.js";
import { EVENT_TYPES, type EventType } from "../schemas/index.js";
import { type AuditContent, auditHash, GENESIS_HASH } from "./audit-hash.js";
import type { ConsumedEvent, Processor, RetryPolicy } from "./types.js";

export interface AuditProcessorOptions {
  readonly retry: RetryPolicy;
}

/**
 * Serialises appends to the chain within one database (every walletstream process uses the same key).
 * A transaction-level lock: released by the runner's commit or rollback, never leaked.
 */
export const AUDIT_CHAIN_LOCK = ADVISORY_LOCKS.auditChain;

/**
 * The audit service: every event, once, in an append-only, hash-chained log (audit_log). Each row's hash
 * covers the previous row's hash and its own content, so altering, removing or reordering a row breaks
 * every link after it; `npm run audit:verify` (processors/audit-verify.ts) finds the first broken one.
 *
 * The chain is linear because appends are serialised: the handler takes a transaction-level advisory lock
 * before reading the last hash, and holds it until the runner commits. The price is one append at a time
 * across all members, which an audit trail can afford; prev_hash is also unique, so a fork cannot commit.
 */
export function auditProcessor(opts: AuditProcessorOptions): Processor<EventType> {
  return {
    name: "audit",
    group: "audit-service",
    events: EVENT_TYPES,
    retry: opts.retry,
    async handle(event, ctx) {
      await ctx.tx.query("SELECT pg_advisory_xact_lock($1)", [AUDIT_CHAIN_LOCK]);
      const eventId = event.payload.eventId;
      // The runner's dedupe row already stops redeliveries; this stops a replay that lost it.
      const seen = await ctx.tx.query("SELECT 1 FROM audit_log WHERE event_id = $1", [eventId]);
      if (seen.rowCount) {
        ctx.log.info("event already audited; nothing to do");
        return;
      }
      const last = await ctx.tx.query<{ hash: string }>(
        "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1",
      );
      const prevHash = last.rows[0]?.hash ?? GENESIS_HASH;
      // Taken under the lock, so seq order is chain order.
      const next = await ctx.tx.query<{ seq: string }>(
        "SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))::text AS seq",
      );
      const content = auditContent(next.rows[0]?.seq as string, event);
      const hash = auditHash(prevHash, content);
      await ctx.tx.query(
        `INSERT INTO audit_log (seq, event_id, event_type, actor, wallet_id, transaction_id, amount, currency,
                                occurred_at, payload, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)`,
        [
          content.seq,
          content.eventId,
          content.eventType,
          content.actor,
          content.walletId,
          content.transactionId,
          content.amount,
          content.currency,
          new Date(content.occurredAt),
          JSON.stringify(content.payload),
          prevHash,
          hash,
        ],
      );
      ctx.log.debug({ seq: content.seq, hash }, "event audited");
    },
  };
}

/**
 * The row for an event: who (the user the event is about), which wallet and transaction, how much. The payload
 * is kept whole, as plain JSON values (what the jsonb column will give back to the verifier).
 */
export function auditContent(seq: string, event: ConsumedEvent<EventType>): AuditContent {
  const payload = JSON.parse(JSON.stringify(event.payload)) as Record<string, unknown>;
  const text = (key: string) => (typeof payload[key] === "string" ? (payload[key] as string) : null);
  const isMoney = typeof payload.amount === "number";
  return {
    seq,
    eventId: event.payload.eventId,
    eventType: event.type,
    actor: text("userId"),
    walletId: text("walletId"),
    transactionId: text("transactionId"),
    amount: isMoney ? String(payload.amount) : null,
    currency: text("currency"),
    occurredAt: new Date(event.payload.occurredAt).getTime(),
    payload,
  };
}
