import type { Processor, RetryPolicy } from "./types.js";

export interface WalletProcessorOptions {
  readonly defaultCurrency: string;
  readonly retry: RetryPolicy;
}

/**
 * The wallet service: on user_registered, create the user's wallet and announce it with wallet_created.
 * Idempotent twice over: the runner skips an event id it has applied, and wallets.user_id is unique, so two
 * different events for one user still make one wallet.
 */
export function walletProcessor(opts: WalletProcessorOptions): Processor<"user_registered"> {
  return {
    name: "wallet",
    group: "wallet-service",
    events: ["user_registered"],
    retry: opts.retry,
    async handle(event, ctx) {
      const { userId } = event.payload;
      const walletId = ctx.newId();
      const now = ctx.now();
      const inserted = await ctx.tx.query(
        `INSERT INTO wallets (id, user_id, currency, balance, created_at) VALUES ($1, $2, $3, 0, $4)
         ON CONFLICT (user_id) DO NOTHING`,
        [walletId, userId, opts.defaultCurrency, now],
      );
      if (inserted.rowCount === 0) {
        ctx.log.info({ userId }, "wallet already exists; nothing to do");
        return;
      }
      await ctx.emit([
        {
          type: "wallet_created",
          key: userId,
          payload: {
            eventId: ctx.newId(),
            occurredAt: now.getTime(),
            walletId,
            userId,
            currency: opts.defaultCurrency,
            balance: 0,
            causationId: event.payload.eventId,
          },
        },
      ]);
      ctx.log.info({ userId, walletId }, "wallet created");
    },
  };
}
