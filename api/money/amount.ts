import { AppError } from "../../infra/errors.js";

const AMOUNT_TOKEN = /"amount"\s*:\s*([^\s,}\]]+)/g;

/**
 * The amount of a money request, in integer minor units. JSON.parse has already turned `1e3` into 1000 and
 * `9007199254740993` into a neighbour, so the check also reads the raw text: only plain integer literals pass.
 * Anything else — 0, negative, fractional, string, exponent form, over `max`, beyond 2^53 — is `invalid_amount`.
 */
export function parseAmount(raw: string | undefined, body: unknown, max: number): number {
  const fail = (detail: string): never => {
    throw new AppError("invalid_amount", detail, { fields: [{ field: "amount", message: detail }] });
  };
  const value = body && typeof body === "object" ? (body as Record<string, unknown>).amount : undefined;
  if (value === undefined) fail("amount is required");
  if (typeof value !== "number" || !Number.isInteger(value))
    fail("amount must be an integer number of minor units");
  const tokens = [...(raw ?? "").matchAll(AMOUNT_TOKEN)].map((m) => m[1] ?? "");
  // No token found means the key was written with escapes: refuse rather than trust the parsed number.
  if (tokens.length === 0 || tokens.some((t) => !/^-?\d+$/.test(t))) {
    fail("amount must be written as a plain JSON integer (no exponent, no fraction, no quotes)");
  }
  for (const t of tokens) {
    const n = BigInt(t);
    if (n < 1n) fail("amount must be at least 1");
    if (n > BigInt(max)) fail(`amount must be at most ${max}`);
  }
  return value as number;
}
