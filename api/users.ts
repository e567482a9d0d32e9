import { randomUUID } from "node:crypto";
import { z } from "zod";
import { type Pool, withTransaction } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import { enqueue } from "../producers/outbox.js";
import type { PasswordHasher, TokenService } from "./auth.js";
import { type RouteTable, Timestamp, Uuid } from "./routing.js";
import { parseBody } from "./validation.js";

const email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: "must be an email address" }).max(254));

export interface UserRoutesDeps {
  readonly pool: Pool;
  readonly tokens: TokenService;
  readonly passwordMinLength: number;
  readonly passwords: PasswordHasher;
}

interface UserRow {
  id: string;
  email: string;
  display_name: string;
  created_at: Date;
}

const toUser = (r: UserRow) => ({
  id: r.id,
  email: r.email,
  displayName: r.display_name,
  createdAt: r.created_at,
});

const UserResponse = z.object({ id: Uuid, email: z.email(), displayName: z.string(), createdAt: Timestamp });
const SessionResponse = z.object({
  accessToken: z.string().describe("JWT (HS256)"),
  tokenType: z.literal("Bearer"),
  expiresIn: z.int().describe("Seconds until the token expires"),
});

/** The auth service: registration (user row + user_registered in one transaction) and sessions (JWT). */
export function userRoutes(routes: RouteTable, deps: UserRoutesDeps): void {
  const { passwords } = deps;
  const registration = z.strictObject({
    email,
    password: z
      .string()
      .min(deps.passwordMinLength, `must be at least ${deps.passwordMinLength} characters`)
      .max(256, "must be at most 256 characters"),
    displayName: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
  });
  const credentials = z.strictObject({ email, password: z.string().min(1).max(256) });
  // Verifying against this when the email is unknown makes both failures cost the same (no user enumeration).
  const decoy = passwords.hash(randomUUID());

  routes.add(
    {
      method: "post",
      path: "/v1/users",
      tag: "auth",
      summary: "Register a user; the wallet is created asynchronously from user_registered",
      body: registration,
      bodyExample: { email: "ada@example.com", password: "analytical engine", displayName: "Ada" },
      success: { status: 201, description: "The new user (never the password)", schema: UserResponse },
      errors: [
        "validation_failed",
        "malformed_json",
        "unsupported_media_type",
        "payload_too_large",
        "email_taken",
      ],
    },
    async (ctx) => {
      const input = parseBody(ctx, registration);
      const passwordHash = await passwords.hash(input.password);
      const userId = randomUUID();
      const user = await withTransaction(deps.pool, async (tx) => {
        const inserted = await tx.query<UserRow>(
          `INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING RETURNING id, email, display_name, created_at`,
          [userId, input.email, input.displayName, passwordHash],
        );
        const row = inserted.rows[0];
        if (!row) throw new AppError("email_taken", "A user with this email already exists.");
        await enqueue(tx, [
          {
            type: "user_registered",
            key: row.id,
            payload: {
              eventId: randomUUID(),
              occurredAt: row.created_at.getTime(),
              userId: row.id,
              email: row.email,
              displayName: row.display_name,
            },
            headers: { "correlation-id": ctx.state.requestId as string },
          },
        ]);
        return row;
      });
      ctx.status = 201;
      ctx.set("Location", `/v1/users/${user.id}`);
      ctx.body = toUser(user);
    },
  );

  routes.add(
    {
      method: "post",
      path: "/v1/sessions",
      tag: "auth",
      summary: "Log in: exchange email and password for a Bearer access token",
      body: credentials,
      bodyExample: { email: "ada@example.com", password: "analytical engine" },
      success: { status: 200, description: "An access token", schema: SessionResponse },
      errors: [
        "validation_failed",
        "malformed_json",
        "unsupported_media_type",
        "payload_too_large",
        "invalid_credentials",
      ],
    },
    async (ctx) => {
      const input = parseBody(ctx, credentials);
      const { rows } = await deps.pool.query<{ id: string; password_hash: string }>(
        "SELECT id, password_hash FROM users WHERE email = $1",
        [input.email],
      );
      const row = rows[0];
      const ok = await passwords.verify(row?.password_hash ?? (await decoy), input.password);
      if (!row || !ok) throw new AppError("invalid_credentials", "Email or password is wrong.");
      ctx.body = await deps.tokens.issue(row.id);
    },
  );
}
