import { type Logger, pino } from "pino";

export type { Logger };

/**
 * Structured JSON logs on stdout (one object a line). For humans: `npm start | npx pino-pretty`.
 * Secrets never reach a log line: the redact list covers the fields that could carry them.
 */
export function createLogger(opts: { level: string; service: string }): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ["password", "*.password", "req.headers.authorization", "accessToken", "*.accessToken"],
      censor: "[redacted]",
    },
  });
}
