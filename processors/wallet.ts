import type { ConsumedEvent, HandlerContext, Processor, RetryPolicy } from "./types.js";

export interface WalletProcessorOptions {
  readonly defaultCurrency: string;
  readonly retry: RetryPolicy;
}

/**
 * The wallet service: on user_registered, create the user's wallet and announce it with wallet_created.
 * Idempotent twice over: the runner skips an event id it has applied, and wallets.user_id is unique, so two
 * different events for one user still make one wallet. In a batched chunk, one statement creates the wallets
 * of all its events (`handleAll`); `handle` is the same for one event.
 */
export function walletProcessor(opts: WalletProcessorOptions): Processor<"user_registered"> {
  const createWallets = async (
    events: readonly { readonly event: ConsumedEvent<"user_registered">; readonly ctx: HandlerContext }[],
  ): Promise<void> => {
    const [first] = events;
    if (!first) return;
    const now = first.ctx.now();
    const wallets = events.map(({ event, ctx }) => ({ id: ctx.newId(), userId: event.payload.userId }));
    // ON CONFLICT also covers two events for one user in the same statement: the first one makes the wallet.
    const { rows } = await first.ctx.tx.query<{ id: string }>(
      `INSERT INTO wallets (id, user_id, currency, balance, created_at)
       SELECT t.id, t.user_id, $3, 0, $4 FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)
       ON CONFLICT (user_id) DO NOTHING RETURNING id`,
      [wallets.map((w) => w.id), wallets.map((w) => w.userId), opts.defaultCurrency, now],
    );
    const created = new Set(rows.map((r) => r.id));
    for (const [i, { event, ctx }] of events.entries()) {
      const { id: walletId, userId } = wallets[i] as { id: string; userId: string };
      if (!created.has(walletId)) {
        ctx.log.info({ userId }, "wallet already exists; nothing to do");
        continue;
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
    }
  };
  return {
    name: "wallet",
    group: "wallet-service",
    events: ["user_registered"],
    retry: opts.retry,
    handle: (event, ctx) => createWallets([{ event, ctx }]),
    handleAll: createWallets,
  };
}
