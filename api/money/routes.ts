import type { RouterContext } from "@koa/router";
import { z } from "zod";
import { type Pool, type Tx, withTransaction } from "../../infra/db/pool.js";
import { AppError } from "../../infra/errors.js";
import { Currency, MinorUnits, type RouteSpec, type RouteTable, Timestamp, Uuid } from "../routing.js";
import { parseBody, parseQuery } from "../validation.js";
import { parseAmount } from "./amount.js";
import { getTransaction, listTransactions } from "./history.js";
import { idempotencyKey, once, requestHash } from "./idempotency.js";
import { deposit, type Movement, withdraw } from "./ledger.js";
import { transfer } from "./transfer.js";

export interface MoneyRoutesDeps {
  readonly pool: Pool;
  readonly maxAmount: number;
}

const Reference = z.string().trim().min(1).max(140);
const MONEY_ERRORS = [
  "unauthorized",
  "validation_failed",
  "malformed_json",
  "unsupported_media_type",
  "payload_too_large",
  "invalid_amount",
  "idempotency_key_required",
  "idempotency_key_reused",
  "currency_mismatch",
  "wallet_not_provisioned",
] as const;

const MovementResponse = z.object({
  id: Uuid,
  type: z.enum(["deposit", "withdrawal"]),
  walletId: Uuid,
  amount: MinorUnits,
  currency: Currency,
  balanceAfter: MinorUnits,
  reference: z.string().nullable(),
  status: z.literal("completed"),
  createdAt: Timestamp,
});
const TransferResponse = z.object({
  id: Uuid,
  fromWalletId: Uuid,
  toWalletId: Uuid,
  amount: MinorUnits,
  currency: Currency,
  status: z.literal("completed"),
  balanceAfter: MinorUnits.describe("The sender's balance after the transfer"),
  description: z.string().nullable(),
  createdAt: Timestamp,
});
const HistoryItem = z.object({
  id: Uuid,
  type: z.enum(["deposit", "withdrawal", "transfer"]),
  direction: z.enum(["credit", "debit"]),
  amount: MinorUnits,
  currency: Currency,
  counterparty: z.object({ walletId: Uuid, displayName: z.string().nullable() }).nullable(),
  balanceAfter: MinorUnits,
  reference: z.string().nullable(),
  createdAt: Timestamp,
});
const TransactionResponse = z.object({
  id: Uuid,
  type: z.enum(["deposit", "withdrawal", "transfer"]),
  fromWalletId: Uuid.nullable(),
  toWalletId: Uuid.nullable(),
  amount: MinorUnits,
  currency: Currency,
  reference: z.string().nullable(),
  status: z.literal("completed"),
  createdAt: Timestamp,
});

/** Deposits, withdrawals, transfers and their history: synchronous, double-entry, idempotent. */
export function moneyRoutes(routes: RouteTable, deps: MoneyRoutesDeps): void {
  const Amount = MinorUnits.min(1).max(deps.maxAmount);
  const movementBody = z.strictObject({
    amount: Amount,
    currency: Currency.optional(),
    reference: Reference.optional(),
  });
  const transferBody = z.strictObject({
    toWalletId: Uuid.optional(),
    toEmail: z.string().trim().toLowerCase().pipe(z.email()).optional(),
    amount: Amount,
    currency: Currency.optional(),
    description: Reference.optional(),
  });

  // The body schemas with `amount` left to parseAmount, built once per schema: zod compiles a validator per
  // schema object, and building it per request cost about a tenth of the API's CPU (bench/micro.ts).
  const lenient = new WeakMap<z.ZodObject, z.ZodType>();
  const lenientAmount = (schema: z.ZodObject): z.ZodType => {
    let s = lenient.get(schema);
    if (!s) {
      s = schema.extend({ amount: z.unknown().optional() });
      lenient.set(schema, s);
    }
    return s;
  };

  /**
   * The shared path of every money POST: Idempotency-Key, amount (checked on the raw text), body, then one
   * transaction holding the key row, the movement and its events. A replay answers the stored response.
   */
  const moneyPost = async <S extends z.ZodObject>(
    ctx: RouterContext,
    spec: RouteSpec,
    schema: S,
    move: (tx: Tx, m: Movement, body: z.infer<S>) => Promise<unknown>,
  ) => {
    const key = idempotencyKey(ctx);
    // amount is validated by parseAmount (its own error code); the rest of the body by the schema.
    const body = parseBody(ctx, lenientAmount(schema)) as Record<string, unknown>;
    const amount = parseAmount((ctx.request as { rawBody?: string }).rawBody, body, deps.maxAmount);
    const input = { ...body, amount } as z.infer<S>;
    const userId = ctx.state.userId as string;
    const hash = requestHash(`${spec.method} ${spec.path}`, input);
    const movement: Movement = {
      userId,
      amount,
      currency: input.currency as string | undefined,
      reference: (input.reference ?? input.description) as string | undefined,
      idempotencyKey: key,
      correlationId: ctx.state.requestId as string,
    };
    const res = await withTransaction(deps.pool, (tx) =>
      once(tx, { userId, key, hash, status: spec.success.status }, (slot) =>
        move(tx, { ...movement, slot }, input),
      ),
    );
    ctx.status = res.status;
    ctx.body = res.body;
    if (res.replayed) ctx.set("Idempotent-Replayed", "true");
  };

  const depositSpec: RouteSpec = {
    method: "post",
    path: "/v1/wallets/me/deposits",
    tag: "money",
    summary: "Deposit money into my wallet (a top-up from outside)",
    auth: true,
    idempotent: true,
    body: movementBody,
    bodyExample: { amount: 2500, currency: "USD", reference: "top-up" },
    success: { status: 201, description: "The completed deposit", schema: MovementResponse },
    errors: MONEY_ERRORS,
  };
  routes.add(depositSpec, (ctx) => moneyPost(ctx, depositSpec, movementBody, (tx, m) => deposit(tx, m)));

  const withdrawalSpec: RouteSpec = {
    ...depositSpec,
    path: "/v1/wallets/me/withdrawals",
    summary: "Withdraw money from my wallet",
    bodyExample: { amount: 1000, reference: "cash out" },
    success: { status: 201, description: "The completed withdrawal", schema: MovementResponse },
    errors: [...MONEY_ERRORS, "insufficient_funds"],
  };
  routes.add(withdrawalSpec, (ctx) =>
    moneyPost(ctx, withdrawalSpec, movementBody, (tx, m) => withdraw(tx, m)),
  );

  const transferSpec: RouteSpec = {
    method: "post",
    path: "/v1/transfers",
    tag: "money",
    summary: "Transfer money from my wallet to another user's",
    description: "Give exactly one of toWalletId and toEmail.",
    auth: true,
    idempotent: true,
    body: transferBody,
    bodyExample: { toEmail: "grace@example.com", amount: 1500, description: "lunch" },
    success: { status: 201, description: "The completed transfer", schema: TransferResponse },
    errors: [...MONEY_ERRORS, "insufficient_funds", "recipient_not_found", "self_transfer"],
  };
  routes.add(transferSpec, (ctx) =>
    moneyPost(ctx, transferSpec, transferBody, (tx, m, body) => {
      if ((body.toWalletId === undefined) === (body.toEmail === undefined)) {
        throw new AppError("validation_failed", "Give exactly one of toWalletId and toEmail.", {
          fields: [{ field: "toWalletId", message: "exactly one of toWalletId, toEmail is required" }],
        });
      }
      const to =
        body.toWalletId !== undefined ? { walletId: body.toWalletId } : { email: body.toEmail as string };
      return transfer(tx, { ...m, to });
    }),
  );

  const historyQuery = z.strictObject({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(64).optional(),
  });
  routes.add(
    {
      method: "get",
      path: "/v1/wallets/me/transactions",
      tag: "money",
      summary: "My wallet's movements, newest first, with cursor pagination",
      auth: true,
      query: historyQuery,
      success: {
        status: 200,
        description: "A page of movements; pass nextCursor as cursor for the next one",
        schema: z.object({ items: z.array(HistoryItem), nextCursor: z.string().nullable() }),
      },
      errors: ["unauthorized", "validation_failed", "invalid_cursor"],
    },
    async (ctx) => {
      ctx.body = await listTransactions(deps.pool, ctx.state.userId as string, parseQuery(ctx, historyQuery));
    },
  );

  routes.add(
    {
      method: "get",
      path: "/v1/transactions/:id",
      tag: "money",
      summary: "One transaction I took part in",
      auth: true,
      params: z.object({ id: Uuid }),
      success: { status: 200, description: "The transaction", schema: TransactionResponse },
      errors: ["unauthorized", "transaction_not_found"],
    },
    async (ctx) => {
      const id = ctx.params.id ?? "";
      if (!Uuid.safeParse(id).success) throw new AppError("transaction_not_found");
      ctx.body = await getTransaction(deps.pool, ctx.state.userId as string, id);
    },
  );
}
