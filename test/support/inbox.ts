import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../infra/config.js";
import { stackLayout } from "../../infra/stack/layout.js";
import type { StoredMail } from "../../infra/stack/smtp.js";

/**
 * The development SMTP server's inbox folder (<STACK_DIR>/smtp/inbox), read as a test sees it: only messages
 * received since the reader was made (file names start with the reception time in ms), so earlier runs and
 * other files' mail do not count.
 */
export function inbox(config: Config) {
  const dir = stackLayout(config).smtpInbox;
  const since = Date.now() - 1000;
  const messages = (): StoredMail[] => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith(".json") && Number.parseInt(n, 10) >= since)
      .sort()
      .map((n) => JSON.parse(readFileSync(join(dir, n), "utf8")) as StoredMail);
  };
  return {
    dir,
    messages,
    to: (address: string) => messages().filter((m) => m.to.includes(address.toLowerCase())),
  };
}
