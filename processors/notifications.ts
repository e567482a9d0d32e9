import { createHash } from "node:crypto";
import type { Tx } from "../infra/db/pool.js";
import { NOTIFIED_EVENTS, type NotifiedEvent, notificationFor } from "./notification-content.js";
import type { Processor, RetryPolicy } from "./types.js";

export interface NotificationsProcessorOptions {
  readonly retry: RetryPolicy;
}

/**
 * The notifications service: one in-app notification for the wallet's owner per wallet or money event
 * (read through GET /v1/notifications). Exactly once per (event, user): the runner's dedupe row covers
 * redelivery, and the unique (event_id, user_id) covers a replay that no longer has its dedupe row.
 */
export function notificationsProcessor(opts: NotificationsProcessorOptions): Processor<NotifiedEvent> {
  return {
    name: "notifications",
    group: "notification-service",
    events: NOTIFIED_EVENTS,
    retry: opts.retry,
    // A wallet's notifications appear in the order its events happened, also across retries.
    ordering: "key",
    // A projection of the event topics: `npm run ops -- rebuild notifications` drops and replays it. Read
    // marks are user input, not derived from events, and start over as unread.
    rebuild: {
      async reset(tx) {
        await tx.query("DELETE FROM notifications");
      },
    },
    async handle(event, ctx) {
      const p = event.payload;
      const counterparty = "counterpartyUserId" in p ? await displayName(ctx.tx, p.counterpartyUserId) : null;
      const n = notificationFor(event, counterparty);
      // Derived from (event, user), so a rebuild gives every notification the id it had.
      const id = notificationId(p.eventId, p.userId);
      const inserted = await ctx.tx.query(
        `INSERT INTO notifications (id, event_id, user_id, kind, title, body, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
         ON CONFLICT (event_id, user_id) DO NOTHING`,
        [id, p.eventId, p.userId, n.kind, n.title, n.body, JSON.stringify(n.data), new Date(p.occurredAt)],
      );
      if (inserted.rowCount === 0) {
        ctx.log.info({ userId: p.userId }, "notification already exists; nothing to do");
        return;
      }
      ctx.log.info({ userId: p.userId, notificationId: id, kind: n.kind }, "notification created");
    },
  };
}

/** Null for an unknown user: the notification still goes out, naming "another user". */
async function displayName(tx: Tx, userId: string): Promise<string | null> {
  const { rows } = await tx.query<{ display_name: string }>("SELECT display_name FROM users WHERE id = $1", [
    userId,
  ]);
  return rows[0]?.display_name ?? null;
}

/** A UUID-shaped id derived from the event and the recipient (SHA-256, version nibble 5 like RFC 9562 v5). */
export function notificationId(eventId: string, userId: string): string {
  const h = createHash("sha256").update(`notification:${eventId}:${userId}`).digest("hex");
  const variant = ((Number.parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
