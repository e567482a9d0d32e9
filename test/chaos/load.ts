import { setTimeout as sleep } from "node:timers/promises";
import { Client, type Outcome } from "./client.js";
import type { Prng } from "./prng.js";
import type { Timeline } from "./timeline.js";

const PASSWORD = "chaos monkey battery staple";
/** Far above anything the run can deposit (rate × duration × the largest deposit): always insufficient. */
export const OVER_BALANCE = 500_000_000_000;
const MAX_IN_FLIGHT = 120;

export interface ChaosUser {
  readonly index: number;
  readonly email: string;
  userId?: string;
  walletId?: string;
  token?: string;
  /** Registration answered 201 (or 409 on a retry: the earlier attempt had committed). */
  registered: boolean;
  /** The registration's definitive answer; undefined when none came. */
  answer?: string;
}

export type Intent = "deposit" | "withdrawal" | "over_withdrawal" | "transfer" | "self_transfer";

/** What each intent may be answered: anything else is a wrong answer (a violation). */
export const ALLOWED: Readonly<Record<Intent, readonly string[]>> = {
  deposit: ["201"],
  withdrawal: ["201", "422 insufficient_funds"],
  over_withdrawal: ["422 insufficient_funds"],
  transfer: ["201", "422 insufficient_funds"],
  self_transfer: ["422 self_transfer"],
};

export interface MoneyRequest {
  readonly intent: Intent;
  readonly key: string;
  readonly userId: string;
  readonly amount: number;
  readonly fromWalletId: string | null;
  readonly toWalletId: string | null;
  /** The definitive answer: "201", "422 insufficient_funds", …; undefined when none came. */
  answer?: string;
  transactionId?: string;
  attempts: number;
  replayed?: boolean;
  lastError?: string;
}

/**
 * The clients: register users, then a steady mix of deposits, withdrawals (some far over the balance) and
 * transfers (some to oneself) at `rate` per second, each with an Idempotency-Key and retried as-is until it
 * gets a definitive answer. The seeded PRNG decides every choice; which users are ready at a tick depends on
 * timing, so a seed reproduces the mix and the amounts, not the exact interleaving.
 */
export class LoadGenerator {
  readonly users: ChaosUser[] = [];
  readonly requests: MoneyRequest[] = [];
  readonly client: Client;
  throttled = 0;
  /** Set when the run is being torn down: in-flight requests give up instead of waiting for an answer. */
  hardStop = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private ticker: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(
    baseUrl: string,
    private readonly opts: { runId: string; rate: number; prng: Prng; timeline: Timeline },
  ) {
    this.client = new Client(baseUrl, 120_000, () => this.hardStop);
  }

  /** Registers `n` users and waits until at least two have their wallet (the wallet service is up). */
  async warmUp(n: number, timeoutMs = 90_000): Promise<void> {
    for (let i = 0; i < n; i++) this.track(this.register());
    const deadline = Date.now() + timeoutMs;
    while (this.ready().length < Math.min(2, n)) {
      if (Date.now() > deadline) throw new Error("no wallets were provisioned during warm-up");
      await sleep(200);
    }
  }

  start(): void {
    this.ticker = setInterval(() => this.tick(), 1000 / this.opts.rate);
  }

  /** Stops issuing requests and waits for every one in flight to get its answer (or give up). */
  async stop(): Promise<void> {
    clearInterval(this.ticker);
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
  }

  ready(): ChaosUser[] {
    return this.users.filter((u) => u.walletId && u.token);
  }

  private tick(): void {
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.throttled++;
      return;
    }
    this.track(this.nextOperation());
  }

  /** The mix: 5 % registrations, 30 % deposits, 17 % withdrawals (5 % far over the balance), 48 % transfers. */
  private nextOperation(): Promise<void> {
    const { prng } = this.opts;
    const r = prng.next();
    const ready = this.ready();
    if (r < 0.05 || ready.length < 2) return this.register();
    const user = prng.pick(ready);
    const other = prng.pick(ready.filter((u) => u !== user));
    if (r < 0.35) return this.money("deposit", user, prng.int(100, 20_000));
    if (r < 0.47) return this.money("withdrawal", user, prng.int(100, 5_000));
    if (r < 0.52) return this.money("over_withdrawal", user, OVER_BALANCE);
    if (r < 0.95) return this.money("transfer", user, prng.int(100, 5_000), other);
    return this.money("self_transfer", user, prng.int(100, 1_000), user);
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.opts.timeline.note("load error", String(err)));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private async register(): Promise<void> {
    const index = this.users.length;
    const user: ChaosUser = { index, email: `u${index}.${this.opts.runId}@example.com`, registered: false };
    this.users.push(user);
    const json = { email: user.email, password: PASSWORD, displayName: `Chaos ${index}` };
    const reg = await this.client.send("POST", "/v1/users", { json });
    const status = reg.answer?.status;
    if (reg.answer) user.answer = describe(reg);
    // 409 after a retry: the first attempt committed but its answer was lost (the registration is not idempotent).
    if (status === 201 || (status === 409 && reg.attempts > 1)) user.registered = true;
    else return this.opts.timeline.note("registration failed", `${user.email}: ${describe(reg)}`);
    if (status === 201) user.userId = reg.answer?.body.id as string;
    const login = await this.client.send("POST", "/v1/sessions", {
      json: { email: user.email, password: PASSWORD },
    });
    if (login.answer?.status !== 200) return;
    const token = login.answer.body.accessToken as string;
    // The wallet arrives through Kafka (user_registered → wallet-service): poll, as a client would.
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !this.hardStop) {
      const w = await this.client.send("GET", "/v1/wallets/me", { token });
      if (w.answer?.status === 200) {
        user.userId = w.answer.body.userId as string;
        user.walletId = w.answer.body.id as string;
        user.token = token;
        return;
      }
      await sleep(500);
    }
  }

  private async money(intent: Intent, user: ChaosUser, amount: number, to?: ChaosUser): Promise<void> {
    const key = `${this.opts.runId}-${++this.seq}`;
    const transfer = intent === "transfer" || intent === "self_transfer";
    const req: MoneyRequest = {
      intent,
      key,
      userId: user.userId as string,
      amount,
      fromWalletId: intent === "deposit" ? null : (user.walletId as string),
      toWalletId: transfer
        ? (to?.walletId as string)
        : intent === "deposit"
          ? (user.walletId as string)
          : null,
      attempts: 0,
    };
    this.requests.push(req);
    const [path, json] = transfer
      ? ["/v1/transfers", { toWalletId: req.toWalletId, amount, description: `chaos ${key}` }]
      : intent === "deposit"
        ? ["/v1/wallets/me/deposits", { amount, reference: `chaos ${key}` }]
        : ["/v1/wallets/me/withdrawals", { amount, reference: `chaos ${key}` }];
    const out = await this.client.send("POST", path, { json, token: user.token as string, key });
    req.attempts = out.attempts;
    if (out.lastError) req.lastError = out.lastError;
    const a = out.answer;
    if (!a) return;
    req.answer = a.status === 201 ? "201" : `${a.status} ${String(a.body.code ?? "")}`;
    req.replayed = a.replayed;
    if (a.status === 201) req.transactionId = a.body.id as string;
  }
}

function describe(o: Outcome): string {
  return o.answer ? `${o.answer.status} ${String(o.answer.body.code ?? "")}` : `no answer (${o.lastError})`;
}
