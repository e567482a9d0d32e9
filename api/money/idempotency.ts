import { createHash } from "node:crypto";
import type { Context } from "koa";
import type { Pool, Tx } from "../../infra/db/pool.js";
import { Params } from "../../infra/db/sql.js";
import { AppError } from "../../infra/errors.js";

const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

export interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
}

export function idempotencyKey(ctx: Context): string {
  const key = ctx.get("idempotency-key");
  if (!key) throw new AppError("idempotency_key_required", "Send an Idempotency-Key header (e.g. a UUID).");
  if (!KEY_FORMAT.test(key)) {
    throw new AppError(
      "idempotency_key_required",
      "The Idempotency-Key must be 1–255 visible ASCII characters.",
    );
  }
  return key;
}

/** Same route + same validated body → same hash, whatever the key order or whitespace of the JSON. */
export function requestHash(route: string, body: unknown): string {
  return createHash("sha256")
    .update(`${route}\n${canonicalJson(body)}`)
    .digest("hex");
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * Where the response of a first request is recorded: the key row. The movement writes it in the same statement
 * as its own rows (see `responseUpdate`) and sets `stored`; otherwise `once` stores it itself.
 */
export interface ResponseSlot {
  readonly userId: string;
  readonly key: string;
  readonly status: number;
  stored: boolean;
}

/**
 * Runs `run` at most once per (user, key), inside the caller's transaction. The key row is inserted first: a
 * concurrent duplicate blocks on it until this transaction ends, then reads the stored response (or, if this
 * one rolled back, runs itself). The same key with another request → 422 idempotency_key_reused.
 */
export async function once(
  tx: Tx,
  scope: { userId: string; key: string; hash: string; status: number },
  run: (slot: ResponseSlot) => Promise<unknown>,
): Promise<StoredResponse & { replayed: boolean }> {
  const inserted = await tx.query(
    "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [scope.userId, scope.key, scope.hash],
  );
  if (inserted.rowCount === 0) {
    const { rows } = await tx.query<{ request_hash: string; status: number | null; response: unknown }>(
      "SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
      [scope.userId, scope.key],
    );
    const row = rows[0];
    if (!row || row.status === null) {
      // Purged or not finished between our two statements: ask PostgreSQL-style for a rerun.
      throw Object.assign(new Error("idempotency key in flux"), { code: "40001" });
    }
    if (row.request_hash !== scope.hash) {
      throw new AppError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request.",
      );
    }
    return { status: row.status, body: row.response, replayed: true };
  }
  const slot: ResponseSlot = { userId: scope.userId, key: scope.key, status: scope.status, stored: false };
  const body = await run(slot);
  if (!slot.stored) {
    const params = new Params();
    await tx.query(responseUpdate(slot, body, params), params.values);
  }
  return { status: scope.status, body, replayed: false };
}

/** The UPDATE recording `body` as the response of the slot's request, for a statement composed with `params`. */
export function responseUpdate(slot: ResponseSlot, body: unknown, params: Params): string {
  return `UPDATE idempotency_keys SET status = ${params.add(slot.status)}, response = ${params.add(JSON.stringify(body))}
     WHERE user_id = ${params.add(slot.userId)} AND key = ${params.add(slot.key)}`;
}

/** Deletes keys older than `ttlHours` (at least 24). Returns how many went. */
export async function purgeExpiredKeys(pool: Pool, ttlHours: number): Promise<number> {
  const res = await pool.query(
    "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    [ttlHours],
  );
  return res.rowCount ?? 0;
}
