import type { EventPayload } from "../schemas/index.js";
import { formatMoney } from "./format-money.js";
import type { ConsumedEvent } from "./types.js";

/** The events that become an in-app notification for the wallet's owner. */
export const NOTIFIED_EVENTS = [
  "wallet_created",
  "funds_deposited",
  "funds_withdrawn",
  "transfer_sent",
  "transfer_received",
] as const;
export type NotifiedEvent = (typeof NOTIFIED_EVENTS)[number];

export type NotificationKind =
  | "wallet_ready"
  | "deposit"
  | "withdrawal"
  | "transfer_sent"
  | "transfer_received";

export interface NotificationContent {
  readonly kind: NotificationKind;
  readonly title: string;
  readonly body: string;
  /** Ids and amounts a client needs to link or render the notification itself. */
  readonly data: Readonly<Record<string, string | number | null>>;
}

type MoneyPayload = EventPayload<
  "funds_deposited" | "funds_withdrawn" | "transfer_sent" | "transfer_received"
>;

/**
 * What the owner of the event's wallet is told. Pure: `counterpartyName` (a transfer's other side, looked up
 * by the caller) is the only outside input; null when unknown.
 */
export function notificationFor(
  event: ConsumedEvent<NotifiedEvent>,
  counterpartyName: string | null,
): NotificationContent {
  if (event.type === "wallet_created") {
    const p = event.payload;
    return {
      kind: "wallet_ready",
      title: "Your wallet is ready",
      body: `Your ${p.currency} wallet is open, with a balance of ${formatMoney(p.balance, p.currency)}.`,
      data: { walletId: p.walletId, currency: p.currency, balance: p.balance },
    };
  }
  const p: MoneyPayload = event.payload;
  const amount = formatMoney(p.amount, p.currency);
  const balance = `Your balance is now ${formatMoney(p.balanceAfter, p.currency)}.`;
  const data = {
    walletId: p.walletId,
    transactionId: p.transactionId,
    amount: p.amount,
    currency: p.currency,
    balanceAfter: p.balanceAfter,
  };
  const who = counterpartyName ?? "another user";
  switch (event.type) {
    case "funds_deposited":
      return {
        kind: "deposit",
        title: `Deposit of ${amount}`,
        body: withNote(`${amount} was added to your wallet. ${balance}`, event.payload.reference),
        data: { ...data, reference: event.payload.reference },
      };
    case "funds_withdrawn":
      return {
        kind: "withdrawal",
        title: `Withdrawal of ${amount}`,
        body: withNote(`${amount} left your wallet. ${balance}`, event.payload.reference),
        data: { ...data, reference: event.payload.reference },
      };
    case "transfer_sent":
      return {
        kind: "transfer_sent",
        title: `You sent ${amount} to ${who}`,
        body: withNote(balance, event.payload.description),
        data: transferData(data, event.payload),
      };
    case "transfer_received":
      return {
        kind: "transfer_received",
        title: `You received ${amount} from ${who}`,
        body: withNote(balance, event.payload.description),
        data: transferData(data, event.payload),
      };
  }
}

function transferData(
  data: Record<string, string | number | null>,
  p: EventPayload<"transfer_sent" | "transfer_received">,
): Record<string, string | number | null> {
  return {
    ...data,
    counterpartyWalletId: p.counterpartyWalletId,
    counterpartyUserId: p.counterpartyUserId,
    description: p.description,
  };
}

function withNote(text: string, note: string | null): string {
  return note ? `${text} Note: "${note}".` : text;
}
