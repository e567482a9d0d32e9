import nodemailer from "nodemailer";
import { AppError } from "./errors.js";

/** One plain-text email. `messageId` is set by the caller (deterministic, so a resend is recognisable). */
export interface MailMessage {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  /** `<…@…>`, angle brackets included. */
  readonly messageId: string;
}

/** What the email service needs of a mail transport; tests use the real SMTP server behind it. */
export interface Mailer {
  /**
   * Resolves once the server accepted the message (250). Rejects with AppError `mail_unavailable` (retryable:
   * no connection, timeout, 4xx) or `mail_rejected` (fatal: the server refused this message with a 5xx).
   */
  send(message: MailMessage): Promise<{ readonly messageId: string; readonly response: string }>;
}

export interface SmtpOptions {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465 style); false means plain, upgraded by STARTTLS when offered. */
  readonly secure: boolean;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

// A send runs inside the processor's open database transaction: a stuck server must fail the attempt quickly
// (and be retried) rather than hold the transaction and the partition for nodemailer's minutes-long defaults.
const CONNECTION_TIMEOUT_MS = 5000;
const SOCKET_TIMEOUT_MS = 15_000;

/** The one module that talks SMTP (nodemailer). A connection per message: no pool to close, nothing to leak. */
export function smtpMailer(opts: SmtpOptions): Mailer {
  const transport = nodemailer.createTransport({
    host: opts.host,
    port: opts.port,
    secure: opts.secure,
    ...(opts.user ? { auth: { user: opts.user, pass: opts.password ?? "" } } : {}),
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: CONNECTION_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
  });
  return {
    async send(message) {
      try {
        const info = await transport.sendMail({
          from: message.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          messageId: message.messageId,
        });
        return { messageId: info.messageId, response: info.response };
      } catch (err) {
        throw mailError(err);
      }
    },
  };
}

/**
 * Classifies a transport failure. Only a 5xx reply about the message (or its recipient) is final: retrying
 * cannot change the answer. Everything else (refused or dropped connection, timeouts, DNS, 4xx "try later",
 * authentication trouble that an operator can fix) is worth another attempt.
 */
export function mailError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = (err ?? {}) as { responseCode?: unknown; code?: unknown; message?: unknown };
  const detail = `${typeof e.code === "string" ? `${e.code}: ` : ""}${String(e.message ?? err)}`.slice(
    0,
    500,
  );
  if (typeof e.responseCode === "number" && e.responseCode >= 500 && e.code !== "EAUTH") {
    return new AppError("mail_rejected", `SMTP ${e.responseCode}: ${detail}`, { cause: err });
  }
  // Not "service_unavailable": the runner waits that out without counting attempts; an SMTP failure goes
  // through the email processor's own retry policy (more attempts, longer backoff), then dead-letters.
  return new AppError("mail_unavailable", detail, { retryable: true, cause: err });
}
