import { hash, verify } from "@node-rs/argon2";
import { jwtVerify, SignJWT } from "jose";
import type { Context, Next } from "koa";
import { AppError } from "../infra/errors.js";
import { Uuid } from "./routing.js";

/** Verified tokens remembered per process (the oldest is forgotten first). */
const VERIFIED_CACHE_SIZE = 10_000;

export interface TokenService {
  issue(userId: string): Promise<{ accessToken: string; tokenType: "Bearer"; expiresIn: number }>;
  verify(token: string): Promise<{ userId: string }>;
}

/** HS256 JWTs with issuer, subject (user id) and expiry. */
export function tokenService(opts: { secret: string; issuer: string; ttlSeconds: number }): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  const verified = new Map<string, { userId: string; expiresAt: number }>();
  return {
    async issue(userId) {
      const accessToken = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(userId)
        .setIssuer(opts.issuer)
        .setIssuedAt()
        .setExpirationTime(`${opts.ttlSeconds}s`)
        .sign(key);
      return { accessToken, tokenType: "Bearer", expiresIn: opts.ttlSeconds };
    },
    async verify(token) {
      const cached = verified.get(token);
      if (cached && cached.expiresAt > Date.now()) return { userId: cached.userId };
      try {
        const { payload } = await jwtVerify(token, key, { issuer: opts.issuer, algorithms: ["HS256"] });
        // The subject is a user id everywhere downstream (uuid columns): anything else is not our token.
        if (!payload.sub || !payload.exp || !Uuid.safeParse(payload.sub).success) {
          throw new Error("no subject, a subject that is not a user id, or no expiry");
        }
        // Tokens already verified are remembered until they expire: verifying costs ~100 µs per request.
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
        verified.set(token, { userId: payload.sub, expiresAt: payload.exp * 1000 });
        return { userId: payload.sub };
      } catch {
        throw new AppError("unauthorized", "The access token is missing, malformed or expired.", {
          headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' },
        });
      }
    },
  };
}

/** Koa middleware: a valid Bearer token or 401; sets ctx.state.userId. */
export function requireAuth(tokens: TokenService) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.get("authorization"));
    if (!m?.[1]) {
      throw new AppError("unauthorized", "A Bearer access token is required.", {
        headers: { "WWW-Authenticate": "Bearer" },
      });
    }
    ctx.state.userId = (await tokens.verify(m[1])).userId;
    await next();
  };
}

export interface PasswordHashCost {
  /** argon2id memory per hash, KiB (`m=`). */
  readonly memoryKib: number;
  /** argon2id passes (`t=`). */
  readonly iterations: number;
}

/** OWASP's recommended minimum for argon2id: 19 MiB, 2 iterations, 1 lane (also the library's defaults). */
export const OWASP_ARGON2ID: PasswordHashCost = { memoryKib: 19_456, iterations: 2 };

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(stored: string, password: string): Promise<boolean>;
}

/**
 * argon2id password hashing. New hashes use `cost`; verification reads the cost from the stored hash (PHC
 * string), so changing the cost never locks existing users out.
 */
export function passwordHasher(cost: PasswordHashCost = OWASP_ARGON2ID): PasswordHasher {
  const options = { memoryCost: cost.memoryKib, timeCost: cost.iterations, parallelism: 1 };
  return {
    hash: (password) => hash(password, options),
    verify: (stored, password) => verify(stored, password).catch(() => false),
  };
}
