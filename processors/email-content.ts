import { createHash } from "node:crypto";
import type { EventPayload } from "../schemas/index.js";
import { formatMoney } from "./format-money.js";
import type { ConsumedEvent } from "./types.js";

export type MoneyEvent = "funds_deposited" | "funds_withdrawn" | "transfer_sent" | "transfer_received";
export type EmailKind = "welcome" | "receipt";

export interface EmailContent {
  readonly kind: EmailKind;
  readonly subject: string;
  readonly text: string;
}

export function welcomeEmail(p: EventPayload<"user_registered">): EmailContent {
  return {
    kind: "welcome",
    subject: `Welcome to walletstream, ${p.displayName}`,
    text: [
      `Hi ${p.displayName},`,
      "",
      "Your walletstream account is ready. Your wallet is being opened and will be there in a moment.",
      "",
      `You signed up as ${p.email}. If that was not you, reply to this email.`,
      "",
      "— walletstream",
    ].join("\n"),
  };
}

/**
 * A receipt for the owner of the event's wallet. `owner` is their display name; `counterparty` the other
 * side of a transfer (null when unknown).
 */
export function receiptEmail(
  event: ConsumedEvent<MoneyEvent>,
  names: { owner: string; counterparty: string | null },
): EmailContent {
  const p: EventPayload<MoneyEvent> = event.payload;
  const amount = formatMoney(p.amount, p.currency);
  const { subject, line, note } = headline(event, amount, names.counterparty ?? "another user");
  return {
    kind: "receipt",
    subject,
    text: [
      `Hi ${names.owner},`,
      "",
      line,
      "",
      `Amount:         ${amount}`,
      `Balance after:  ${formatMoney(p.balanceAfter, p.currency)}`,
      ...(note ? [`Note:           ${note}`] : []),
      `Transaction:    ${p.transactionId}`,
      `Date:           ${new Date(p.occurredAt).toISOString()}`,
      "",
      "— walletstream",
    ].join("\n"),
  };
}

function headline(
  event: ConsumedEvent<MoneyEvent>,
  amount: string,
  who: string,
): { subject: string; line: string; note: string | null } {
  switch (event.type) {
    case "funds_deposited": {
      const line = `${amount} was deposited into your wallet.`;
      return { subject: `Receipt: deposit of ${amount}`, line, note: event.payload.reference };
    }
    case "funds_withdrawn": {
      const line = `${amount} was withdrawn from your wallet.`;
      return { subject: `Receipt: withdrawal of ${amount}`, line, note: event.payload.reference };
    }
    case "transfer_sent": {
      const line = `You sent ${amount} to ${who}.`;
      return { subject: `Receipt: you sent ${amount} to ${who}`, line, note: event.payload.description };
    }
    case "transfer_received": {
      const line = `You received ${amount} from ${who}.`;
      return {
        subject: `Receipt: you received ${amount} from ${who}`,
        line,
        note: event.payload.description,
      };
    }
  }
}

/**
 * The Message-ID of the one email for (event, recipient): derived, never random, so every attempt of the same
 * email carries the same id and a resend (after a crash between the SMTP accept and the commit) is
 * recognisable downstream as the same message.
 */
export function messageIdFor(eventId: string, recipient: string, from: string): string {
  const tag = createHash("sha256").update(recipient.toLowerCase()).digest("hex").slice(0, 16);
  return `<${eventId}.${tag}@${mailDomain(from)}>`;
}

/** The domain of a From address ("walletstream <no-reply@walletstream.local>" → "walletstream.local"). */
export function mailDomain(from: string): string {
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const domain = address.slice(address.lastIndexOf("@") + 1).trim();
  return /^[A-Za-z0-9.-]+$/.test(domain) && address.includes("@") ? domain : "walletstream.local";
}
