import { describe, expect, it } from "vitest";
import { messageIdFor, receiptEmail, welcomeEmail } from "../../processors/email-content.js";
import { currencyDigits, formatMoney } from "../../processors/format-money.js";
import { notificationFor } from "../../processors/notification-content.js";

describe("formatMoney", () => {
  it("shows minor units in major units with the currency's decimals and its code", () => {
    expect(formatMoney(1500, "USD")).toBe("15.00 USD");
    expect(formatMoney(5, "EUR")).toBe("0.05 EUR");
    expect(formatMoney(0, "USD")).toBe("0.00 USD");
    expect(formatMoney(123456789, "USD")).toBe("1,234,567.89 USD");
    expect(formatMoney(1500, "JPY")).toBe("1,500 JPY");
    expect(formatMoney(1234, "BHD")).toBe("1.234 BHD");
    expect(formatMoney(-250, "USD")).toBe("-2.50 USD");
  });

  it("is exact up to 2^53 (no float on the way)", () => {
    expect(formatMoney(Number.MAX_SAFE_INTEGER, "USD")).toBe("90,071,992,547,409.91 USD");
    expect(formatMoney(10n ** 20n + 1n, "USD")).toBe("1,000,000,000,000,000,000.01 USD");
  });

  it("falls back to 2 decimals for a code Intl does not know", () => {
    expect(currencyDigits("JPY")).toBe(0);
    expect(currencyDigits("ZZ1")).toBe(2);
    expect(formatMoney(1999, "ZZ1")).toBe("19.99 ZZ1");
  });
});

const money = {
  eventId: "7f1c0c3e-0000-4000-8000-000000000001",
  occurredAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  transactionId: "7f1c0c3e-0000-4000-8000-0000000000aa",
  walletId: "7f1c0c3e-0000-4000-8000-0000000000bb",
  userId: "7f1c0c3e-0000-4000-8000-0000000000cc",
  amount: 1500,
  currency: "USD",
  balanceAfter: 4250,
  idempotencyKey: "k1",
};
const transfer = {
  ...money,
  counterpartyWalletId: "7f1c0c3e-0000-4000-8000-0000000000dd",
  counterpartyUserId: "7f1c0c3e-0000-4000-8000-0000000000ee",
  description: "lunch",
};

describe("notification texts", () => {
  it("says what happened, in the wallet's currency", () => {
    const received = notificationFor({ type: "transfer_received", payload: transfer }, "Ada");
    expect(received).toMatchObject({
      kind: "transfer_received",
      title: "You received 15.00 USD from Ada",
      body: 'Your balance is now 42.50 USD. Note: "lunch".',
      data: {
        transactionId: money.transactionId,
        amount: 1500,
        counterpartyWalletId: transfer.counterpartyWalletId,
      },
    });
    expect(notificationFor({ type: "transfer_sent", payload: transfer }, null).title).toBe(
      "You sent 15.00 USD to another user",
    );
    expect(
      notificationFor({ type: "funds_deposited", payload: { ...money, reference: null } }, null),
    ).toMatchObject({ kind: "deposit", title: "Deposit of 15.00 USD" });
    expect(
      notificationFor({ type: "funds_withdrawn", payload: { ...money, reference: "atm" } }, null).body,
    ).toBe('15.00 USD left your wallet. Your balance is now 42.50 USD. Note: "atm".');
    const ready = notificationFor(
      {
        type: "wallet_created",
        payload: { ...money, balance: 0, causationId: money.eventId },
      },
      null,
    );
    expect(ready).toMatchObject({ kind: "wallet_ready", title: "Your wallet is ready" });
  });
});

describe("email texts", () => {
  it("a receipt names the amount, the balance after, the transaction and the counterparty", () => {
    const mail = receiptEmail(
      { type: "transfer_sent", payload: transfer },
      { owner: "Ada", counterparty: "Grace" },
    );
    expect(mail.subject).toBe("Receipt: you sent 15.00 USD to Grace");
    expect(mail.text).toContain("Hi Ada,");
    expect(mail.text).toContain("Balance after:  42.50 USD");
    expect(mail.text).toContain(`Transaction:    ${money.transactionId}`);
    expect(mail.text).toContain("Date:           2026-01-02T03:04:05.000Z");
    expect(mail.text).toContain("Note:           lunch");
  });

  it("a welcome email greets the user by name", () => {
    const mail = welcomeEmail({ ...money, email: "ada@example.com", displayName: "Ada" });
    expect(mail).toMatchObject({ kind: "welcome", subject: "Welcome to walletstream, Ada" });
  });

  it("the Message-ID is derived from the event and recipient, in the sender's domain", () => {
    const from = "walletstream <no-reply@walletstream.local>";
    const id = messageIdFor(money.eventId, "ada@example.com", from);
    expect(id).toMatch(new RegExp(`^<${money.eventId}\\.[0-9a-f]{16}@walletstream\\.local>$`));
    expect(messageIdFor(money.eventId, "ADA@example.com", from)).toBe(id);
    expect(messageIdFor(money.eventId, "grace@example.com", from)).not.toBe(id);
    expect(messageIdFor(money.eventId, "a@b.c", "not an address")).toMatch(/@walletstream\.local>$/);
  });
});
