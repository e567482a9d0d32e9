import { createConnection } from "node:net";
import { join } from "node:path";
import type { Config } from "../config.js";
import { PROJECT_ROOT, STACK_SOURCE_DIR, type StackLayout } from "./layout.js";
import { spawnDaemon } from "./proc.js";

export function smtpListener(config: Config): { host: string; port: number } {
  return { host: config.smtp.host, port: config.smtp.port };
}

/**
 * Starts the development SMTP server (infra/stack/smtp-main.ts) in the background. It is TypeScript, so Node
 * runs it through tsx's loader (`node --import tsx`), resolved from the project's node_modules (cwd).
 */
export function startSmtpDaemon(config: Config, layout: StackLayout): number {
  const { host, port } = smtpListener(config);
  return spawnDaemon(
    layout.smtp,
    process.execPath,
    [
      "--import",
      "tsx",
      join(STACK_SOURCE_DIR, "smtp-main.ts"),
      "--host",
      host,
      "--port",
      String(port),
      "--inbox",
      layout.smtpInbox,
    ],
    { cwd: PROJECT_ROOT },
  );
}

/** True when something at host:port greets like an SMTP server (a `220` line), not merely accepts TCP. */
export function smtpReady(config: Config, timeoutMs = 2000): Promise<boolean> {
  const { host, port } = smtpListener(config);
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("data", (chunk) => {
      socket.write("QUIT\r\n");
      done(chunk.toString("latin1").startsWith("220"));
    });
    socket.once("error", () => done(false));
    socket.once("end", () => done(false));
  });
}
