import { randomUUID } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/** One received message, as stored in the inbox folder (one JSON file per message). */
export interface StoredMail {
  readonly from: string;
  /** The envelope recipients (RCPT TO), lower-cased. */
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly messageId: string | null;
  readonly receivedAt: string;
}

export interface SmtpServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly inbox: string;
  /** Test hook: a reply code and text to refuse a recipient with (4xx: try later, 5xx: never). */
  readonly refuse?: (recipient: string) => { code: number; message: string } | undefined;
  readonly onStored?: (mail: StoredMail, file: string) => void;
}

export interface RunningSmtpServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The development mail server: speaks real SMTP, accepts every message and stores it as JSON in `inbox`,
 * so tests and developers read what walletstream sent. Plain text only (no STARTTLS, no AUTH required),
 * on loopback; it is not a relay and delivers nothing further.
 *
 * File names start with the reception time in ms, so a reader can skip everything older than it cares for;
 * each file is written under a temporary name and renamed, so a reader never sees half a message.
 */
export async function startSmtpServer(opts: SmtpServerOptions): Promise<RunningSmtpServer> {
  mkdirSync(opts.inbox, { recursive: true });
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    size: 10 * 1024 * 1024,
    closeTimeout: 1000,
    logger: false,
    onRcptTo(address, _session, callback) {
      const refusal = opts.refuse?.(address.address.toLowerCase());
      if (!refusal) return callback();
      callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const mail: StoredMail = {
            from: parsed.from?.text ?? (session.envelope.mailFrom ? session.envelope.mailFrom.address : ""),
            to: session.envelope.rcptTo.map((a) => a.address.toLowerCase()),
            subject: parsed.subject ?? "",
            text: parsed.text ?? "",
            messageId: parsed.messageId ?? null,
            receivedAt: new Date().toISOString(),
          };
          const name = `${Date.now()}-${randomUUID()}.json`;
          const tmp = join(opts.inbox, `.${name}.tmp`);
          writeFileSync(tmp, `${JSON.stringify(mail, null, 2)}\n`);
          renameSync(tmp, join(opts.inbox, name));
          opts.onStored?.(mail, name);
          callback(null, `stored as ${name}`);
        })
        .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // After start-up, errors concern single client connections (a reset, a timeout): keep serving.
  server.on("error", () => undefined);
  return {
    port: (server.server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
