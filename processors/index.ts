import type { Config } from "../infra/config.js";
import { smtpMailer } from "../infra/mail.js";
import type { EventType } from "../schemas/index.js";
import { auditProcessor } from "./audit.js";
import { emailProcessor, emailRetryPolicy } from "./email.js";
import { notificationsProcessor } from "./notifications.js";
import type { Processor, RetryPolicy } from "./types.js";
import { walletProcessor } from "./wallet.js";

export { ProcessorRunner } from "./runner.js";
export type { Processor } from "./types.js";

/** The retry policy processors use unless they declare their own (PROCESSOR_* variables; 1 s, 10 s, 60 s). */
export function defaultRetryPolicy(config: Config): RetryPolicy {
  const p = config.processor;
  return {
    attempts: p.maxAttempts,
    backoff: {
      kind: "exponential",
      initialMs: p.retryInitialMs,
      multiplier: p.retryMultiplier,
      maxMs: p.retryMaxMs,
      jitter: true,
    },
  };
}

/** Every processor walletstream runs, by name (`npm run start:processor -- <name>`). */
export function processorCatalog(config: Config): ReadonlyMap<string, Processor<EventType>> {
  const list: Processor<EventType>[] = [
    walletProcessor({
      defaultCurrency: config.wallet.defaultCurrency,
      retry: defaultRetryPolicy(config),
    }) as Processor<EventType>,
    notificationsProcessor({ retry: defaultRetryPolicy(config) }) as Processor<EventType>,
    // A transport is only configuration until a message is sent: building it here opens no connection.
    emailProcessor({
      mailer: smtpMailer(config.smtp),
      from: config.smtp.from,
      retry: emailRetryPolicy(config.email),
    }) as Processor<EventType>,
    auditProcessor({ retry: defaultRetryPolicy(config) }),
  ];
  return new Map(list.map((p) => [p.name, p]));
}
