import { z } from "zod";
import type { Pool } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import { Currency, MinorUnits, type RouteTable, Timestamp, Uuid } from "./routing.js";

interface WalletRow {
  id: string;
  user_id: string;
  currency: string;
  balance: string;
  created_at: Date;
}

/** Money leaves PostgreSQL as a bigint string and is sent as a JSON integer only when exactly representable. */
export function minorUnits(value: string): number {
  const n = BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new AppError("internal", "amount beyond the exact JSON integer range");
  }
  return Number(n);
}

const WalletResponse = z.object({
  id: Uuid,
  userId: Uuid,
  currency: Currency,
  balance: MinorUnits,
  createdAt: Timestamp,
});

export function walletRoutes(routes: RouteTable, deps: { pool: Pool }): void {
  routes.add(
    {
      method: "get",
      path: "/v1/wallets/me",
      tag: "wallets",
      summary: "My wallet and its current balance",
      auth: true,
      success: { status: 200, description: "The wallet", schema: WalletResponse },
      errors: ["unauthorized", "wallet_not_provisioned"],
    },
    async (ctx) => {
      const { rows } = await deps.pool.query<WalletRow>(
        "SELECT id, user_id, currency, balance, created_at FROM wallets WHERE user_id = $1",
        [ctx.state.userId],
      );
      const w = rows[0];
      if (!w) {
        throw new AppError("wallet_not_provisioned", "The wallet is being provisioned; retry in a moment.", {
          headers: { "Retry-After": "1" },
        });
      }
      ctx.body = {
        id: w.id,
        userId: w.user_id,
        currency: w.currency,
        balance: minorUnits(w.balance),
        createdAt: w.created_at,
      };
    },
  );
}
