import { createHash } from "node:crypto";

/** prev_hash of the first row. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * What one audit row commits to: every column but the hashes and recorded_at. Values in the form PostgreSQL
 * returns them (bigints as decimal strings, timestamps as epoch ms), so the writer and the verifier, which
 * reads them back, hash the same text.
 */
export interface AuditContent {
  readonly seq: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly actor: string | null;
  readonly walletId: string | null;
  readonly transactionId: string | null;
  readonly amount: string | null;
  readonly currency: string | null;
  readonly occurredAt: number;
  /** The event payload as JSON values (what a jsonb column gives back). */
  readonly payload: unknown;
}

/** sha256 over the previous row's hash (64 hex chars, fixed width: the concatenation is unambiguous) and the row. */
export function auditHash(prevHash: string, content: AuditContent): string {
  return createHash("sha256").update(prevHash).update(canonicalJson(content)).digest("hex");
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth and no whitespace. jsonb reorders keys and
 * drops formatting, so only a canonical form hashes the same before storage and after. Values JSON cannot
 * represent faithfully (undefined in arrays, NaN, Infinity, bigint, functions, dates) are refused, not
 * silently turned into something else.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`cannot hash the number ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`cannot hash a value of type ${typeof value}`);
}
