import { z } from "zod";
import type { Pool } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import { type RouteTable, Timestamp, Uuid } from "./routing.js";
import { parseQuery } from "./validation.js";

export interface NotificationView {
  readonly id: string;
  readonly kind: string;
  readonly title: string;
  readonly body: string;
  readonly data: Record<string, unknown>;
  readonly read: boolean;
  readonly createdAt: string;
  readonly readAt: string | null;
}

interface Row {
  seq: string;
  id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  created_at: Date;
  read_at: Date | null;
}

const COLUMNS = "seq, id, kind, title, body, data, created_at, read_at";

const NotificationResponse = z.object({
  id: Uuid,
  kind: z.enum(["wallet_ready", "deposit", "withdrawal", "transfer_sent", "transfer_received"]),
  title: z.string(),
  body: z.string(),
  data: z.record(z.string(), z.unknown()).describe("Ids and amounts (minor units) the notification is about"),
  read: z.boolean(),
  createdAt: Timestamp.describe("When the event happened"),
  readAt: Timestamp.nullable(),
});

/** 9999-12-31T23:59:59.999Z: later times print with a signed six-digit year, which PostgreSQL does not parse. */
const MAX_TIME_MS = 253_402_300_799_999;

// The position of the last item: its time (ms) and its seq, which breaks ties between equal times.
const cursorOf = (r: Row) => Buffer.from(`n:${r.created_at.getTime()}:${r.seq}`).toString("base64url");

function positionOf(cursor: string): { at: string; seq: string } {
  const m = /^n:(\d{1,15}):(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString());
  // Forged numbers PostgreSQL cannot take (a time past year 9999, a seq beyond bigint) would be a 500.
  if (!m?.[1] || !m[2] || Number(m[1]) > MAX_TIME_MS || BigInt(m[2]) > 2n ** 63n - 1n) {
    throw new AppError("invalid_cursor", "The cursor is not one this API returned.");
  }
  return { at: new Date(Number(m[1])).toISOString(), seq: m[2] };
}

const toView = (r: Row): NotificationView => ({
  id: r.id,
  kind: r.kind,
  title: r.title,
  body: r.body,
  data: r.data,
  read: r.read_at !== null,
  createdAt: r.created_at.toISOString(),
  readAt: r.read_at?.toISOString() ?? null,
});

/**
 * A user's notifications, newest first (by when the event happened), with the unread count. Keyset pagination
 * on (created_at, seq): a page boundary does not move when new notifications arrive.
 */
export async function listNotifications(
  pool: Pool,
  userId: string,
  opts: { limit: number; cursor?: string | undefined },
): Promise<{ items: NotificationView[]; nextCursor: string | null; unreadCount: number }> {
  const after = opts.cursor ? positionOf(opts.cursor) : null;
  const [page, unread] = await Promise.all([
    pool.query<Row>(
      `SELECT ${COLUMNS} FROM notifications
        WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, seq) < ($2::timestamptz, $3::bigint))
        ORDER BY created_at DESC, seq DESC
        LIMIT $4`,
      [userId, after?.at ?? null, after?.seq ?? null, opts.limit + 1],
    ),
    pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
      [userId],
    ),
  ]);
  const rows = page.rows.slice(0, opts.limit);
  const last = rows[rows.length - 1];
  return {
    items: rows.map(toView),
    nextCursor: page.rows.length > opts.limit && last ? cursorOf(last) : null,
    unreadCount: unread.rows[0]?.n ?? 0,
  };
}

/**
 * Marks one of the user's notifications read and returns it. Idempotent: reading it again keeps the first
 * readAt. Someone else's notification is indistinguishable from an unknown id (404).
 */
export async function markRead(pool: Pool, userId: string, id: string): Promise<NotificationView> {
  if (!Uuid.safeParse(id).success) throw notFound();
  // One statement: the UPDATE answers for an unread row; the SELECT (same snapshot) for an already read one.
  const { rows } = await pool.query<Row>(
    `WITH marked AS (
       UPDATE notifications SET read_at = now() WHERE id = $1 AND user_id = $2 AND read_at IS NULL
       RETURNING ${COLUMNS})
     SELECT * FROM marked
     UNION ALL
     SELECT ${COLUMNS} FROM notifications WHERE id = $1 AND user_id = $2 AND read_at IS NOT NULL`,
    [id, userId],
  );
  const row = rows[0];
  if (!row) throw notFound();
  return toView(row);
}

const notFound = () => new AppError("notification_not_found", "No notification with this id is yours.");

export function notificationRoutes(routes: RouteTable, deps: { pool: Pool }): void {
  const listQuery = z.strictObject({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(64).optional(),
  });
  routes.add(
    {
      method: "get",
      path: "/v1/notifications",
      tag: "notifications",
      summary: "My notifications, newest first, with cursor pagination and the unread count",
      auth: true,
      query: listQuery,
      success: {
        status: 200,
        description: "A page of notifications; pass nextCursor as cursor for the next one",
        schema: z.object({
          items: z.array(NotificationResponse),
          nextCursor: z.string().nullable(),
          unreadCount: z.int().min(0),
        }),
      },
      errors: ["unauthorized", "validation_failed", "invalid_cursor"],
    },
    async (ctx) => {
      ctx.body = await listNotifications(deps.pool, ctx.state.userId as string, parseQuery(ctx, listQuery));
    },
  );

  routes.add(
    {
      method: "post",
      path: "/v1/notifications/:id/read",
      tag: "notifications",
      summary: "Mark one of my notifications read (idempotent)",
      auth: true,
      params: z.object({ id: Uuid }),
      success: { status: 200, description: "The notification, read", schema: NotificationResponse },
      errors: ["unauthorized", "notification_not_found"],
    },
    async (ctx) => {
      ctx.body = await markRead(deps.pool, ctx.state.userId as string, ctx.params.id ?? "");
    },
  );
}
