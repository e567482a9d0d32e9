// `npx tsx bench/micro.ts`: per-call CPU cost of three things the transfer profile points at, each next to the
// cheaper alternative suggested in docs/benchmarks.md. Single-threaded, in-process, no I/O.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { tokenService } from "../api/auth.js";
import { parseAmount } from "../api/money/amount.js";
import { Currency, MinorUnits, Uuid } from "../api/routing.js";

async function time(label: string, n: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(2000, n); i++) await fn(); // warm-up
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const us = ((performance.now() - t) * 1000) / n;
  console.log(`  ${us.toFixed(1).padStart(7)} µs/call  ${label}`);
  return us;
}

// 1. The body schema: api/money/routes.ts builds `schema.extend({ amount: z.unknown() })` on every request.
const transferBody = z.strictObject({
  toWalletId: Uuid.optional(),
  toEmail: z.string().trim().toLowerCase().pipe(z.email()).optional(),
  amount: MinorUnits.min(1).max(1e12),
  currency: Currency.optional(),
  description: z.string().trim().min(1).max(140).optional(),
});
const body = { toWalletId: randomUUID(), amount: 1 };
const hoisted = transferBody.extend({ amount: z.unknown() });
console.log("request body validation (zod)");
await time("schema.extend(...) then safeParse, per request (as today)", 20_000, () =>
  transferBody.extend({ amount: z.unknown() }).safeParse(body),
);
await time("safeParse on an extended schema built once per route", 200_000, () => hoisted.safeParse(body));
await time("parseAmount on the raw body (for scale)", 200_000, () =>
  parseAmount(JSON.stringify(body), body, 1e12),
);

// 2. The access token: jose jwtVerify (WebCrypto HMAC, an async job) on every request.
const secret = "walletstream-local-development-secret-change-me";
const tokens = tokenService({ secret, issuer: "walletstream", ttlSeconds: 3600 });
const { accessToken } = await tokens.issue(randomUUID());
const key = Buffer.from(secret);
const syncVerify = (token: string) => {
  const [h, p, s] = token.split(".") as [string, string, string];
  const mac = createHmac("sha256", key).update(`${h}.${p}`).digest();
  const sig = Buffer.from(s, "base64url");
  if (sig.length !== mac.length || !timingSafeEqual(sig, mac)) throw new Error("bad signature");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as {
    sub: string;
    exp: number;
    iss: string;
  };
  if (claims.iss !== "walletstream" || claims.exp * 1000 < Date.now()) throw new Error("bad claims");
  return claims.sub;
};
const cache = new Map<string, { sub: string; exp: number }>();
const cachedVerify = async (token: string) => {
  const hit = cache.get(token);
  if (hit && hit.exp > Date.now()) return hit.sub;
  const { userId } = await tokens.verify(token);
  cache.set(token, { sub: userId, exp: Date.now() + 60_000 });
  return userId;
};
console.log("access token verification (HS256)");
await time("jose jwtVerify via tokenService.verify (as today)", 50_000, () => tokens.verify(accessToken));
await time("node:crypto createHmac + timingSafeEqual, synchronous", 50_000, () => syncVerify(accessToken));
await time("a verified-token cache in front of jose (hit)", 200_000, () => cachedVerify(accessToken));
