import { setTimeout as sleep } from "node:timers/promises";

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly replayed: boolean;
}

export interface Outcome {
  /** The definitive answer, or undefined when none came within the budget. */
  readonly answer: Answer | undefined;
  readonly attempts: number;
  readonly lastError: string | undefined;
}

/** No definitive answer: the request may or may not have happened, so a client sends it again. */
export function isDefinitive(status: number): boolean {
  return status < 500 && status !== 408 && status !== 429;
}

/**
 * A well-behaved HTTP client: a request without a definitive answer (network error, timeout, 5xx, the 503 of
 * a database cut) is sent again, byte for byte the same (same Idempotency-Key, same body), with a growing
 * pause, until it gets one or the budget runs out. Counts every attempt, so the report can say how much the
 * faults cost the clients.
 */
export class Client {
  attempts = 0;
  retries = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly budgetMs: number,
    /** Checked between attempts: the run is being torn down, stop retrying. */
    private readonly aborted: () => boolean,
  ) {}

  async send(
    method: string,
    path: string,
    opts: { json?: unknown; token?: string; key?: string } = {},
  ): Promise<Outcome> {
    const headers: Record<string, string> = {};
    if (opts.json !== undefined) headers["content-type"] = "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.key) headers["idempotency-key"] = opts.key;
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    const deadline = Date.now() + this.budgetMs;
    let lastError: string | undefined;
    for (let attempt = 1; ; attempt++) {
      this.attempts++;
      if (attempt > 1) this.retries++;
      try {
        const res = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
        if (isDefinitive(res.status)) {
          const replayed = res.headers.get("idempotent-replayed") === "true";
          return { answer: { status: res.status, body: parsed, replayed }, attempts: attempt, lastError };
        }
        lastError = `${res.status} ${String(parsed.code ?? "")}`;
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        lastError = `${e.name}: ${e.cause?.code ?? e.message}`;
      }
      if (Date.now() > deadline || this.aborted()) return { answer: undefined, attempts: attempt, lastError };
      await sleep(Math.min(2000, 200 * 2 ** Math.min(attempt - 1, 4)));
    }
  }
}
