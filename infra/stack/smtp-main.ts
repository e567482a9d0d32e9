// The development SMTP server as a process: `node --import tsx infra/stack/smtp-main.ts [--host H] [--port P]
// [--inbox DIR]`. LocalStack starts it as a daemon (`npm run infra:up`); defaults come from the configuration
// (SMTP_HOST, SMTP_PORT, <STACK_DIR>/smtp/inbox).
import { parseArgs } from "node:util";
import { loadConfig } from "../config.js";
import { createLogger } from "../log.js";
import { stackLayout } from "./layout.js";
import { startSmtpServer } from "./smtp.js";

const config = loadConfig();
const log = createLogger({ level: config.logLevel, service: "smtp" });
const { values } = parseArgs({
  options: { host: { type: "string" }, port: { type: "string" }, inbox: { type: "string" } },
});
const host = values.host ?? config.smtp.host;
const inbox = values.inbox ?? stackLayout(config).smtpInbox;

try {
  const server = await startSmtpServer({
    host,
    port: Number(values.port ?? config.smtp.port),
    inbox,
    onStored: (mail, file) =>
      log.info({ messageId: mail.messageId, to: mail.to, subject: mail.subject, file }, "message stored"),
  });
  log.info({ address: `${host}:${server.port}`, inbox }, "development SMTP server listening");
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, "stopping");
    server.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} catch (err) {
  log.fatal({ err }, "could not start the SMTP server");
  process.exit(1);
}
