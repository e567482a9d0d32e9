import type { Tx } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import type { Mailer } from "../infra/mail.js";
import {
  type EmailContent,
  type MoneyEvent,
  messageIdFor,
  receiptEmail,
  welcomeEmail,
} from "./email-content.js";
import type { ConsumedEvent, HandlerContext, Processor, RetryPolicy } from "./types.js";

export type EmailedEvent = "user_registered" | MoneyEvent;

export interface EmailProcessorOptions {
  readonly mailer: Mailer;
  /** The From header, e.g. "walletstream <no-reply@walletstream.local>". */
  readonly from: string;
  readonly retry: RetryPolicy;
}

/**
 * SMTP outages last minutes, not the seconds of a database failover: more attempts and a backoff that grows
 * by 3 so it reaches its cap (EMAIL_* variables; by default 1 s, 3 s, 9 s, 27 s, 60 s: 100 s of outage).
 */
export function emailRetryPolicy(c: {
  maxAttempts: number;
  retryInitialMs: number;
  retryMaxMs: number;
}): RetryPolicy {
  return {
    attempts: c.maxAttempts,
    backoff: {
      kind: "exponential",
      initialMs: c.retryInitialMs,
      multiplier: 3,
      maxMs: c.retryMaxMs,
      jitter: true,
    },
  };
}

/**
 * The email service: a welcome email on user_registered, a receipt to the wallet's owner on every money event.
 *
 * Exactly one email per (event, recipient), even across retries and redeliveries: inside the runner's
 * transaction the sent_emails row is inserted FIRST (a concurrent delivery of the same event waits on its
 * unique key, then finds it and sends nothing), then the message goes out over SMTP, then the runner commits
 * the row together with its dedupe record. A failed send throws, the transaction rolls back, and the retry
 * starts from nothing sent. The one remaining window, a crash after the server accepted the message and before
 * the commit, resends it with the same Message-ID (derived from the event id).
 */
export function emailProcessor(opts: EmailProcessorOptions): Processor<EmailedEvent> {
  return {
    name: "email",
    group: "email-service",
    events: ["user_registered", "funds_deposited", "funds_withdrawn", "transfer_sent", "transfer_received"],
    retry: opts.retry,
    // SMTP is outside the transaction: a chunk whose commit failed would send all of its emails again.
    batched: false,
    async handle(event, ctx) {
      const { to, content } = await compose(event, ctx.tx);
      const eventId = event.payload.eventId;
      const messageId = messageIdFor(eventId, to, opts.from);
      const claimed = await ctx.tx.query(
        `INSERT INTO sent_emails (event_id, recipient, kind, message_id, sent_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (event_id, recipient) DO NOTHING`,
        [eventId, to, content.kind, messageId, ctx.now()],
      );
      if (claimed.rowCount === 0) {
        ctx.log.info({ messageId }, "email already sent; nothing to do");
        return;
      }
      await send(opts, ctx, { to, content, messageId });
    },
  };
}

async function send(
  opts: EmailProcessorOptions,
  ctx: HandlerContext,
  mail: { to: string; content: EmailContent; messageId: string },
): Promise<void> {
  const started = Date.now();
  const res = await opts.mailer.send({
    from: opts.from,
    to: mail.to,
    subject: mail.content.subject,
    text: mail.content.text,
    messageId: mail.messageId,
  });
  ctx.log.info(
    {
      messageId: mail.messageId,
      kind: mail.content.kind,
      durationMs: Date.now() - started,
      smtp: res.response,
    },
    "email sent",
  );
}

/** The recipient and the email. Money events name a user id; the address is the users row's. */
async function compose(
  event: ConsumedEvent<EmailedEvent>,
  tx: Tx,
): Promise<{ to: string; content: EmailContent }> {
  if (event.type === "user_registered") {
    return { to: event.payload.email.toLowerCase(), content: welcomeEmail(event.payload) };
  }
  const p = event.payload;
  const owner = await user(tx, p.userId);
  if (!owner) {
    // Users are never deleted and a money event is written after its user: this is a bug, not a delay.
    throw new AppError("event_invalid", `no user ${p.userId} for ${event.type} ${p.eventId}`);
  }
  const counterparty = "counterpartyUserId" in p ? await user(tx, p.counterpartyUserId) : undefined;
  return {
    to: owner.email,
    content: receiptEmail(event, {
      owner: owner.display_name,
      counterparty: counterparty?.display_name ?? null,
    }),
  };
}

async function user(tx: Tx, id: string): Promise<{ email: string; display_name: string } | undefined> {
  const { rows } = await tx.query<{ email: string; display_name: string }>(
    "SELECT email, display_name FROM users WHERE id = $1",
    [id],
  );
  return rows[0];
}
